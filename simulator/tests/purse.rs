//! The PBOC load and POS reference terminals against the simulated card.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_sim::card::SimCard;
use cos_sim::demo::blank_card;
use cos_sim::perso;
use cos_sim::profile::Profile;
use cos_sim::terminals::purse::{Purse, PurseTerminal, TerminalError, When};

const PROFILE: &str = include_str!("../../profiles/citizen-card.toml");

fn card_from(text: &str) -> (Profile, SimCard) {
    let p = Profile::parse("p.toml", text).unwrap();
    let mut c = blank_card(&p).unwrap();
    perso::script(&p).unwrap().run(&mut c).unwrap();
    (p, c)
}

fn at(t: &str) -> When {
    When::parse("20260316", t).unwrap()
}

#[test]
fn load_then_purchases_verify_and_conserve() {
    let (p, mut c) = card_from(PROFILE);
    let mut t = PurseTerminal::new(&p, "e-purse", 1, *b"TEST01").unwrap();
    t.select(&mut c).unwrap();
    assert_eq!(t.balance(&mut c, Purse::Wallet).unwrap(), 0);
    let l = t.load(&mut c, Purse::Wallet, 5000, at("090000")).unwrap();
    assert_eq!((l.balance, l.atc), (5000, 0));
    let a = t
        .purchase(&mut c, Purse::Wallet, 1200, at("091000"))
        .unwrap();
    let b = t
        .purchase(&mut c, Purse::Wallet, 300, at("092000"))
        .unwrap();
    assert_eq!((a.balance, a.atc, b.balance, b.atc), (3800, 0, 3500, 1));
    assert_eq!(t.balance(&mut c, Purse::Wallet).unwrap(), 3500);
    let recs = t.records(&mut c).unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0][9], 0x06, "newest first: the last purchase");
    assert_eq!(recs[2][9], 0x02, "oldest: the load");
    // Too much: refused with 9401, nothing changes.
    let e = t
        .purchase(&mut c, Purse::Wallet, 999_999, at("093000"))
        .unwrap_err();
    assert_eq!(
        e,
        TerminalError::Refused {
            step: "INITIALIZE FOR PURCHASE",
            sw: 0x9401
        }
    );
    assert_eq!(t.balance(&mut c, Purse::Wallet).unwrap(), 3500);
}

#[test]
fn the_deposit_needs_the_pin() {
    let (p, mut c) = card_from(PROFILE);
    let mut t = PurseTerminal::new(&p, "e-purse", 1, *b"TEST01").unwrap();
    t.select(&mut c).unwrap();
    let e = t
        .load(&mut c, Purse::Deposit, 100, at("090000"))
        .unwrap_err();
    assert_eq!(
        e,
        TerminalError::Refused {
            step: "INITIALIZE FOR LOAD",
            sw: 0x6982
        }
    );
    assert_eq!(
        c.exchange(&hex::decode("0020000003123456").unwrap())
            .unwrap()
            .1,
        0x9000
    );
    assert_eq!(
        t.load(&mut c, Purse::Deposit, 100, at("090100"))
            .unwrap()
            .balance,
        100
    );
}

#[test]
fn a_card_with_other_keys_is_detected() {
    // The card carries keys from other master keys than the terminal's: MAC1 of the load fails
    // at the terminal, and a purchase is refused by the card (9302) before anything changes.
    let forged = PROFILE.replace(
        "value = \"0123456789ABCDEFFEDCBA9876543210\"",
        "value = \"00000000000000000000000000000000\"",
    );
    let (_, mut c) = card_from(&forged);
    let honest = Profile::parse("p.toml", PROFILE).unwrap();
    let mut t = PurseTerminal::new(&honest, "e-purse", 1, *b"TEST01").unwrap();
    t.select(&mut c).unwrap();
    assert_eq!(
        t.load(&mut c, Purse::Wallet, 100, at("090000"))
            .unwrap_err(),
        TerminalError::Mismatch("MAC1")
    );
    let purchase_forged = PROFILE.replace(
        "value = \"1032547698BADCFEEFCDAB8967452301\"",
        "value = \"11111111111111111111111111111111\"",
    );
    let (p2, mut c2) = card_from(&purchase_forged);
    let mut own = PurseTerminal::new(&p2, "e-purse", 1, *b"TEST01").unwrap();
    own.select(&mut c2).unwrap();
    own.load(&mut c2, Purse::Wallet, 1000, at("090000"))
        .unwrap();
    let mut t = PurseTerminal::new(&honest, "e-purse", 1, *b"TEST01").unwrap();
    t.select(&mut c2).unwrap();
    let e = t
        .purchase(&mut c2, Purse::Wallet, 100, at("090500"))
        .unwrap_err();
    assert_eq!(
        e,
        TerminalError::Refused {
            step: "DEBIT FOR PURCHASE",
            sw: 0x9302
        }
    );
    assert_eq!(t.balance(&mut c2, Purse::Wallet).unwrap(), 1000);
}

/// The chip budget (issue 11, `docs/performance.md`): every purchase costs at most 4 EEPROM page
/// programs — journal record, purse state, log record (which may straddle two pages) — whatever
/// the amount, terminal data, log position or journal position. Amounts and times vary so that
/// consecutive log records differ in every field (identical records would hide a straddling
/// write), for the EP, the ED and the transit purse, over several turns of each log and of the
/// journal.
#[test]
fn every_purchase_costs_at_most_four_page_programs() {
    let (p, mut c) = card_from(PROFILE);
    let mut seen = std::collections::BTreeMap::new();
    for (app, purse) in [
        ("e-purse", Purse::Wallet),
        ("e-purse", Purse::Deposit),
        ("transit", Purse::Wallet),
    ] {
        let mut t = PurseTerminal::new(&p, app, 1, *b"TEST01").unwrap();
        t.select(&mut c).unwrap();
        if purse == Purse::Deposit {
            let pin = hex::decode("0020000003123456").unwrap();
            assert_eq!(c.exchange(&pin).unwrap().1, 0x9000);
        }
        t.load(&mut c, purse, 500_000, at("080000")).unwrap();
        for i in 0..45u32 {
            let when = at(&format!("09{:02}{:02}", i / 60, i % 60));
            let before = c.programs();
            t.purchase(&mut c, purse, 100 + i * 37, when).unwrap();
            let n = c.programs() - before;
            assert!(n <= 4, "{app} {purse:?} purchase {i}: {n} page programs");
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    // Some purchases share a page between purse state and log record (fewer programs), some
    // straddle (the full 4): the loop saw both.
    assert!(
        seen.contains_key(&4) && seen.keys().any(|&n| n < 4),
        "{seen:?}"
    );
}
