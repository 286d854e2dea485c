//! End-to-end transactions between the reference terminal (RustCrypto) and a real kernel with the
//! e-purse applet, on a card personalised with keys diversified from issuer master keys.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;
use common::terminal::Alg;
use common::*;

const ED: u8 = 0x01;
const EP: u8 = 0x02;

#[test]
fn load_and_purchase_in_every_algorithm_on_both_purses() {
    for (index, alg) in [
        (1u8, Alg::Tdes),
        (2, Alg::Sm4),
        (3, Alg::Aes),
        (4, Alg::Tdes),
    ] {
        let mut c = standard();
        let mut t = Terminal::standard();
        assert_eq!(t.set(index).alg, alg);
        assert_eq!(c.verify_pin(PIN), 0x9000);
        for p2 in [ED, EP] {
            let l = t.load(&mut c, index, p2, 10_000).unwrap();
            assert_eq!((l.atc, l.balance_before, l.balance_after), (0, 0, 10_000));
            let l = t.load(&mut c, index, p2, 2_345).unwrap();
            assert_eq!((l.atc, l.balance_after), (1, 12_345));
            let p = t.purchase(&mut c, index, p2, 345).unwrap();
            assert_eq!((p.atc, p.balance_after), (0, 12_000));
            let p = t.purchase(&mut c, index, p2, 12_000).unwrap();
            assert_eq!((p.atc, p.balance_after), (1, 0));
            assert_eq!(c.balance(p2), Ok(0));
        }
        // Log: 8 records, newest first: the last EP purchase.
        assert_eq!(c.log_count(), 8);
        assert_eq!(
            c.last_log().unwrap(),
            log_record(1, 0, 12_000, 0x06, &PURCHASE_DT)
        );
    }
}

#[test]
fn cash_withdrawal_from_the_deposit() {
    let mut c = standard();
    let mut t = Terminal::standard();
    c.verify_pin(PIN);
    t.load(&mut c, 2, ED, 5_000).unwrap();
    let w = t
        .debit(&mut c, 2, 0x02, ED, 1_500, Tamper::default())
        .unwrap();
    assert_eq!(w.balance_after, 3_500);
    assert_eq!(
        c.last_log().unwrap(),
        log_record(0, 0, 1_500, 0x04, &PURCHASE_DT)
    );
    assert_eq!(t.prove(&mut c, 0x04, 1), Ok((w.mac, w.tac)));
}

#[test]
fn unload_from_the_deposit_in_every_algorithm() {
    for index in 1..=3u8 {
        let mut c = standard();
        let mut t = Terminal::standard();
        c.verify_pin(PIN);
        t.load(&mut c, index, ED, 9_000).unwrap();
        let u = t.unload(&mut c, index, 4_000, Tamper::default()).unwrap();
        assert_eq!((u.atc, u.balance_after), (1, 5_000));
        assert_eq!(c.balance(ED), Ok(5_000));
        assert_eq!(
            c.last_log().unwrap(),
            log_record(1, 0, 4_000, 0x03, &LOAD_DT)
        );
        // GET TRANSACTION PROVE of the unload: MAC3 ‖ TAC.
        assert_eq!(t.prove(&mut c, 0x03, 2), Ok((u.mac, u.tac)));
        // More than the own funds: 9401.
        assert_eq!(
            t.unload(&mut c, index, 5_001, Tamper::default())
                .unwrap_err(),
            0x9401
        );
    }
}

#[test]
fn overdraw_limit_update_and_credit_use() {
    let mut c = standard();
    let mut t = Terminal::standard();
    c.verify_pin(PIN);
    t.load(&mut c, 1, ED, 1_000).unwrap();
    // Grant 500 of credit: the available balance becomes 1 500.
    let u = t.update_limit(&mut c, 1, 500, Tamper::default()).unwrap();
    assert_eq!(
        (u.atc, u.balance_before, u.balance_after),
        (1, 1_000, 1_500)
    );
    assert_eq!(c.last_log().unwrap(), log_record(1, 500, 0, 0x07, &LOAD_DT));
    assert_eq!(t.prove(&mut c, 0x07, 2), Ok((u.mac, u.tac)));
    // INITIALIZE FOR PURCHASE reports the limit; spending into the credit works…
    let init = t.init_purchase(&mut c, 0x01, ED, 1, 1_400).unwrap();
    assert_eq!((init.balance, init.limit), (1_500, 500));
    c.ok("805C000104");
    let p = t.purchase(&mut c, 1, ED, 1_400).unwrap();
    assert_eq!(p.balance_after, 100);
    // …down to −limit and no further.
    assert_eq!(t.purchase(&mut c, 1, ED, 101).unwrap_err(), 0x9401);
    // Own funds are −400: nothing to unload.
    assert_eq!(
        t.unload(&mut c, 1, 1, Tamper::default()).unwrap_err(),
        0x9401
    );
    // Lowering the limit below what is in use is refused after the MAC (9401): no money moves.
    assert_eq!(
        t.update_limit(&mut c, 1, 399, Tamper::default())
            .unwrap_err(),
        0x9401
    );
    assert_eq!(c.balance(ED), Ok(100));
    // Exactly what is in use: balance 0.
    let u = t.update_limit(&mut c, 1, 400, Tamper::default()).unwrap();
    assert_eq!(u.balance_after, 0);
    // A load repays the credit first; the max-balance rule counts own funds only.
    t.load(&mut c, 1, ED, 1_000).unwrap();
    assert_eq!(c.balance(ED), Ok(1_000));
    // Limit back to zero: balance = own funds.
    let u = t.update_limit(&mut c, 1, 0, Tamper::default()).unwrap();
    assert_eq!(u.balance_after, 600);
}

#[test]
fn deposit_needs_the_pin_wallet_does_not() {
    let mut c = standard();
    let mut t = Terminal::standard();
    // Without VERIFY: every ED command is refused with 6982, the EP works.
    c.refuse("805C000104", 0x6982);
    c.refuse("805000010B 01 00000100 001122334455", 0x6982);
    c.refuse("805001010B 01 00000100 001122334455", 0x6982);
    c.refuse("805002010B 01 00000100 001122334455", 0x6982);
    c.refuse("805005010B 01 00000100 001122334455", 0x6982);
    c.refuse("8050040107 01 001122334455", 0x6982);
    t.load(&mut c, 1, EP, 100).unwrap();
    // A wrong PIN does not help.
    assert_eq!(c.verify_pin("654321"), 0x63C2);
    c.refuse("805C000104", 0x6982);
    assert_eq!(c.verify_pin(PIN), 0x9000);
    assert_eq!(c.balance(ED), Ok(0));
    t.load(&mut c, 1, ED, 100).unwrap();
    t.purchase(&mut c, 1, ED, 40).unwrap();
    // The level is gone after a power cycle and after leaving the ADF.
    c.power_cycle();
    c.select_adf();
    assert_eq!(c.balance(ED), Err(0x6982));
    c.verify_pin(PIN);
    c.ok("00A4 0000 02 3F00");
    c.select_adf();
    assert_eq!(c.balance(ED), Err(0x6982));
}

#[test]
fn change_pin_and_reload_pin_work_with_the_deposit() {
    let mut c = standard();
    let mut t = Terminal::standard();
    // CHANGE PIN (kernel): old ‖ FF ‖ new.
    c.ok(&format!("805E 0100 06 {PIN} FF 2468"));
    assert_eq!(c.verify_pin(PIN), 0x63C2);
    assert_eq!(c.verify_pin("2468"), 0x9000);
    t.load(&mut c, 2, ED, 700).unwrap();
    // Block the PIN, then RELOAD PIN with a MAC under the PIN-reload key.
    c.power_cycle();
    c.select_adf();
    for _ in 0..3 {
        c.verify_pin("0000");
    }
    assert_eq!(c.verify_pin("2468"), 0x6983);
    assert_eq!(c.balance(ED), Err(0x6982));
    let new = h("135790");
    let m = common::terminal::mac(Alg::Tdes, &PIN_RELOAD_KEY, &new);
    c.ok(&format!(
        "805E 0000 07 {} {}",
        hex::encode(&new),
        hex::encode(m)
    ));
    assert_eq!(c.verify_pin("135790"), 0x9000);
    assert_eq!(c.balance(ED), Ok(700));
    t.purchase(&mut c, 2, ED, 700).unwrap();
}

#[test]
fn transaction_prove_after_a_lost_response() {
    let mut c = standard();
    let mut t = Terminal::standard();
    c.verify_pin(PIN);
    t.load(&mut c, 3, EP, 3_000).unwrap();
    // The terminal sends DEBIT, and the answer is lost (card removed): the purchase happened.
    let init = t.init_purchase(&mut c, 0x01, EP, 3, 1_200).unwrap();
    let apdu = t.debit_apdu(3, 0x06, 1_200, &init, Tamper::default());
    let _lost = c.raw(&apdu);
    c.power_cycle();
    c.select_adf();
    // Recovery: the card's balance shows the debit; GET TRANSACTION PROVE with the counter
    // after the transaction (INITIALIZE's 0 + 1) returns MAC2 ‖ TAC, which verify.
    assert_eq!(c.balance(EP), Ok(1_800));
    let (mac2, tac) = t.prove(&mut c, 0x06, init.atc + 1).unwrap();
    let want = t.check_debit(3, 0x06, 1_200, &init, t.ttc, &[tac, mac2].concat());
    assert_eq!((want.mac, want.tac), (mac2, tac));
    // Wrong counter or type: 9406.
    assert_eq!(t.prove(&mut c, 0x06, init.atc), Err(0x9406));
    assert_eq!(t.prove(&mut c, 0x06, init.atc + 2), Err(0x9406));
    assert_eq!(t.prove(&mut c, 0x02, init.atc + 1), Err(0x9406));
    // The load's prove is still there (its own type and counter).
    c.refuse("805A000202 0001", 0x9406);
    // The ED has had no transaction at all.
    c.refuse("805A000102 0001", 0x9406);
    // Same for a lost CREDIT FOR LOAD.
    let init = t.init_online(&mut c, 0x00, EP, 3, 500).unwrap();
    let apdu = t.credit_apdu(3, EP, 500, &init, Tamper::default());
    let _lost = c.raw(&apdu);
    c.power_cycle();
    c.select_adf();
    let (mac2, tac) = t.prove(&mut c, 0x02, init.atc + 1).unwrap();
    assert_eq!(mac2, <[u8; 4]>::try_from(&apdu[12..16]).unwrap());
    let set = t.set(3).clone();
    let want_tac = common::terminal::tac(
        set.alg,
        &set.keys.dtk,
        &common::terminal::cat(&[
            &2_300u32.to_be_bytes(),
            &init.atc.to_be_bytes(),
            &500u32.to_be_bytes(),
            &[0x02],
            &TERMINAL,
            &LOAD_DT,
        ]),
    );
    assert_eq!(tac, want_tac);
}

#[test]
fn select_returns_the_issuer_data_with_the_asn() {
    let mut c = Card::from_image(standard_image(), seeded(), e_purse::EPurse::default());
    let fci = c.select_adf();
    // 6F { 84 name, A5 { 9F0C 1E <EF15> } }
    let pos = fci
        .windows(3)
        .position(|w| w == [0x9F, 0x0C, 0x1E])
        .unwrap();
    let ef15 = &fci[pos + 3..pos + 3 + 30];
    assert_eq!(&ef15[10..20], &ASN);
    assert_eq!(&ef15[12..20], &asn8());
}

#[test]
fn t0_style_get_response_keeps_the_pair() {
    // INITIALIZE sent as case 3 (no Le): the card answers 6110, the terminal fetches with GET
    // RESPONSE, and CREDIT FOR LOAD still counts as "straight after" INITIALIZE.
    let mut c = standard();
    let t = Terminal::standard();
    let (d, sw) = c.once(&h("805000020B 01 00000064 001122334455"));
    // (no Le: case 3, T=0 style)
    assert_eq!((d.len(), sw), (0, 0x6110));
    let (d, sw) = c.once(&h("00C0000010"));
    assert_eq!((d.len(), sw), (16, 0x9000));
    let init = OnlineInit {
        balance: u32::from_be_bytes(d[0..4].try_into().unwrap()),
        atc: u16::from_be_bytes([d[4], d[5]]),
        limit: 0,
        version: d[6],
        alg: d[7],
        random: d[8..12].try_into().unwrap(),
        mac1: d[12..16].try_into().unwrap(),
    };
    let credit = t.credit_apdu(1, EP, 100, &init, Tamper::default());
    let (tac, sw) = c.once(&credit[..credit.len() - 1]);
    assert_eq!((tac.len(), sw), (0, 0x6104));
    let (tac, sw) = c.once(&h("00C0000004"));
    assert_eq!((tac.len(), sw), (4, 0x9000));
    assert_eq!(c.balance(EP), Ok(100));
}
