//! The library application end to end: a personalised citizen card in the simulator and the
//! library reference terminal (host crypto, its own calendar). Borrow / renew / return, every
//! refusal with its status word, reading rights, power cuts at every page program of a borrow and
//! of a return, and random terminal sessions checked against a model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_core::nvm::TearMode;
use cos_core::SeededRng;
use cos_sim::card::{CardRng, SimCard, SimNvm};
use cos_sim::demo::blank_card;
use cos_sim::perso;
use cos_sim::profile::Profile;
use cos_sim::terminals::library::{
    stored, Day, EventType, LibraryError, LibraryTerminal, Refusal, Role, StoredLibrary,
    DEFAULT_AID, INS_BORROW, INS_RENEW, INS_RETURN,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const PROFILE: &str = include_str!("../../profiles/citizen-card.toml");
const TERMINAL_ID: [u8; 6] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
const BRANCH: u16 = 0x0007;

fn profile() -> &'static Profile {
    static P: OnceLock<Profile> = OnceLock::new();
    P.get_or_init(|| Profile::parse("citizen-card.toml", PROFILE).unwrap())
}

/// A freshly personalised card's chip content (personalised once per test binary).
fn issued_image() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let p = profile();
        let mut card = blank_card(p).unwrap();
        perso::script(p).unwrap().run(&mut card).unwrap();
        card.image().bytes
    })
}

fn card_from(image: &[u8]) -> SimCard {
    let mut c = SimCard::from_nvm(
        SimNvm::from_bytes(image),
        CardRng::Seeded(SeededRng::new(7)),
    )
    .unwrap();
    c.set_tracing(false);
    c
}

fn card() -> SimCard {
    card_from(issued_image())
}

fn terminal() -> LibraryTerminal {
    LibraryTerminal::new(profile(), TERMINAL_ID, BRANCH).unwrap()
}

fn day(s: &str) -> Day {
    Day::parse(s).unwrap()
}

/// An open circulation session on a fresh card.
fn session() -> (SimCard, LibraryTerminal) {
    let mut c = card();
    let mut t = terminal();
    t.open(&mut c, Role::Circulation).unwrap();
    (c, t)
}

fn refusal<T: std::fmt::Debug>(r: Result<T, LibraryError>) -> Refusal {
    match r {
        Err(e) => e
            .refusal()
            .unwrap_or_else(|| panic!("not a card refusal: {e}")),
        Ok(v) => panic!("accepted: {v:?}"),
    }
}

fn files(c: &SimCard) -> StoredLibrary {
    c.with_storage(|s| stored(s, &DEFAULT_AID)).unwrap()
}

fn sw(r: &[u8]) -> u16 {
    assert!(r.len() >= 2, "no answer");
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

/// A MAC'd loan command with a fresh challenge, for tampering.
fn secured(c: &mut SimCard, t: &LibraryTerminal, ins: u8, code: &str, today: Day) -> Vec<u8> {
    let data = t.request(code, today).unwrap();
    let ch = t.challenge(c).unwrap();
    t.secured_apdu([0x84, ins, 0, 0], &data, &ch, Some(0))
        .unwrap()
}

const A: &str = "31234001234567";
const B: &str = "B-0002";

#[test]
fn borrow_renew_return_end_to_end() {
    let mut c = card();
    let mut t = terminal();
    let patron = t.open(&mut c, Role::Circulation).unwrap();
    assert_eq!(patron.asn, hex::decode("31000000000000000001").unwrap()[..]);
    assert_eq!(patron.number, "31000000000000000001");
    assert_eq!(
        (patron.max_loans, patron.loan_period, patron.max_renewals),
        (5, 30, 2)
    );
    assert!(!patron.blocked && patron.deposit_free);
    assert_eq!(patron.expiry, day("20351231"));

    let r = t.borrow(&mut c, A, day("20260301")).unwrap();
    assert_eq!((r.slot, r.due, r.loans_in_use), (1, day("20260331"), 1));
    let r = t.borrow(&mut c, B, day("20260302")).unwrap();
    assert_eq!((r.slot, r.due, r.loans_in_use), (2, day("20260401"), 2));

    // The listing on 5 April: both overdue.
    let loans = t.loans(&mut c, day("20260405")).unwrap();
    assert_eq!(loans.len(), 2);
    assert_eq!((loans[0].barcode.as_str(), loans[0].overdue_days), (A, 5));
    assert_eq!((loans[1].barcode.as_str(), loans[1].overdue_days), (B, 4));
    assert_eq!(loans[0].branch, BRANCH);
    assert_eq!(loans[0].loan_date, day("20260301"));

    // Renew A on 20 March: due 19 April.
    let r = t.renew(&mut c, A, day("20260320")).unwrap();
    assert_eq!(
        (r.slot, r.due, r.renewals, r.overdue_days),
        (1, day("20260419"), 1, 0)
    );
    // Return B four days late.
    let r = t.return_item(&mut c, B, day("20260405")).unwrap();
    assert_eq!(
        (r.slot, r.due, r.overdue_days, r.loans_in_use),
        (2, day("20260401"), 4, 1)
    );

    let loans = t.loans(&mut c, day("20260405")).unwrap();
    assert_eq!(loans.len(), 1);
    assert_eq!(
        (
            loans[0].barcode.as_str(),
            loans[0].due,
            loans[0].renewals,
            loans[0].overdue_days
        ),
        (A, day("20260419"), 1, 0)
    );
    let h = t.history(&mut c).unwrap();
    let kinds: Vec<_> = h
        .iter()
        .map(|e| (e.seq, e.kind, e.barcode.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (4, EventType::Return, B),
            (3, EventType::Renew, A),
            (2, EventType::Borrow, B),
            (1, EventType::Borrow, A),
        ]
    );
    assert_eq!(loans[0].seq, 3, "the slot points at its renewal");
    assert_eq!(h[0].due, day("20260401"));
    assert_eq!(h[0].terminal, TERMINAL_ID);
    assert_eq!(h[0].date, day("20260405"));

    // The slot freed by B is reused; the loan survives a power cycle.
    let r = t.borrow(&mut c, "C-3", day("20260406")).unwrap();
    assert_eq!(r.slot, 2);
    c.power_off();
    c.power_on().unwrap();
    t.open(&mut c, Role::Circulation).unwrap();
    assert_eq!(t.loans(&mut c, day("20260406")).unwrap().len(), 2);
    let info = cos_sim::info::describe(&c);
    assert!(
        info.contains("library: 2 of 5 loans in use (8 slots), 5 history records"),
        "{info}"
    );
}

#[test]
fn reading_loans_needs_the_terminal_or_the_pin() {
    let (mut c, t) = session();
    t.borrow(&mut c, A, day("20260301")).unwrap();
    // After a reset (re-selecting the current ADF keeps its level): the patron file is free, the
    // loans and the history are not.
    c.reset().unwrap();
    let mut anon = terminal();
    let patron = anon.select(&mut c).unwrap();
    assert_eq!(patron.max_loans, 5);
    assert_eq!(
        refusal(anon.loans(&mut c, day("20260301"))),
        Refusal::SecurityStatus
    );
    assert_eq!(refusal(anon.history(&mut c)), Refusal::SecurityStatus);
    // The holder's PIN opens them.
    assert_eq!(
        sw(&c.transmit(&hex::decode("0020000003123456").unwrap())),
        0x9000
    );
    let loans = anon.loans(&mut c, day("20260410")).unwrap();
    assert_eq!((loans.len(), loans[0].overdue_days), (1, 10));
    assert_eq!(anon.history(&mut c).unwrap().len(), 1);
}

#[test]
fn too_many_loans_9501() {
    let (mut c, t) = session();
    for i in 0..5 {
        t.borrow(&mut c, &format!("ITEM-{i}"), day("20260301"))
            .unwrap();
    }
    let r = t.borrow(&mut c, "ITEM-5", day("20260301"));
    assert_eq!(refusal(r), Refusal::LoanLimit);
    assert_eq!(Refusal::LoanLimit.sw(), 0x9501);
    assert_eq!(files(&c).history.len(), 5, "a refusal writes nothing");
    t.return_item(&mut c, "ITEM-2", day("20260302")).unwrap();
    assert_eq!(t.borrow(&mut c, "ITEM-5", day("20260302")).unwrap().slot, 3);
}

#[test]
fn duplicate_barcode_9506() {
    let (mut c, t) = session();
    t.borrow(&mut c, A, day("20260301")).unwrap();
    assert_eq!(
        refusal(t.borrow(&mut c, A, day("20260302"))),
        Refusal::AlreadyOnLoan
    );
    assert_eq!(Refusal::AlreadyOnLoan.sw(), 0x9506);
}

#[test]
fn not_on_loan_9505() {
    let (mut c, t) = session();
    assert_eq!(
        refusal(t.return_item(&mut c, A, day("20260301"))),
        Refusal::NotOnLoan
    );
    assert_eq!(
        refusal(t.renew(&mut c, A, day("20260301"))),
        Refusal::NotOnLoan
    );
    t.borrow(&mut c, A, day("20260301")).unwrap();
    t.return_item(&mut c, A, day("20260301")).unwrap();
    assert_eq!(
        refusal(t.return_item(&mut c, A, day("20260301"))),
        Refusal::NotOnLoan,
        "returned twice"
    );
    assert_eq!(Refusal::NotOnLoan.sw(), 0x9505);
}

#[test]
fn renewal_limit_9504() {
    let (mut c, t) = session();
    t.borrow(&mut c, A, day("20260301")).unwrap();
    assert_eq!(t.renew(&mut c, A, day("20260325")).unwrap().renewals, 1);
    let r = t.renew(&mut c, A, day("20260420")).unwrap();
    assert_eq!((r.renewals, r.due), (2, day("20260520")));
    assert_eq!(
        refusal(t.renew(&mut c, A, day("20260515"))),
        Refusal::RenewalLimit
    );
    assert_eq!(Refusal::RenewalLimit.sw(), 0x9504);
    // Still returnable.
    assert_eq!(
        t.return_item(&mut c, A, day("20260515")).unwrap().renewals,
        2
    );
}

#[test]
fn expired_card_9503() {
    let (mut c, t) = session();
    // The last day: the due date is cut at the expiry date.
    let r = t.borrow(&mut c, A, day("20351220")).unwrap();
    assert_eq!(r.due, day("20351231"));
    assert_eq!(
        refusal(t.borrow(&mut c, B, day("20360101"))),
        Refusal::PatronExpired
    );
    assert_eq!(
        refusal(t.renew(&mut c, A, day("20360101"))),
        Refusal::PatronExpired
    );
    assert_eq!(Refusal::PatronExpired.sw(), 0x9503);
    // Returning always works, and counts the days overdue.
    assert_eq!(
        t.return_item(&mut c, A, day("20360105"))
            .unwrap()
            .overdue_days,
        5
    );
}

#[test]
fn blocked_patron_9502() {
    let mut c = card();
    let mut desk = terminal();
    let mut admin = terminal();
    desk.open(&mut c, Role::Circulation).unwrap();
    desk.borrow(&mut c, A, day("20260301")).unwrap();
    // The circulation key cannot write the patron file (right F3).
    assert_eq!(
        refusal(desk.set_blocked(&mut c, true)),
        Refusal::SecurityStatus
    );
    admin.open(&mut c, Role::Admin).unwrap();
    admin.set_blocked(&mut c, true).unwrap();
    let p = desk.open(&mut c, Role::Circulation).unwrap();
    assert!(p.blocked);
    assert_eq!(
        refusal(desk.borrow(&mut c, B, day("20260302"))),
        Refusal::PatronBlocked
    );
    assert_eq!(
        refusal(desk.renew(&mut c, A, day("20260302"))),
        Refusal::PatronBlocked
    );
    assert_eq!(Refusal::PatronBlocked.sw(), 0x9502);
    desk.return_item(&mut c, A, day("20260302")).unwrap();
    admin.open(&mut c, Role::Admin).unwrap();
    admin.set_blocked(&mut c, false).unwrap();
    desk.open(&mut c, Role::Circulation).unwrap();
    desk.borrow(&mut c, B, day("20260303")).unwrap();
}

#[test]
fn date_before_the_loan_9507() {
    let (mut c, t) = session();
    t.borrow(&mut c, A, day("20260310")).unwrap();
    assert_eq!(
        refusal(t.return_item(&mut c, A, day("20260309"))),
        Refusal::DateBeforeLoan
    );
    assert_eq!(
        refusal(t.renew(&mut c, A, day("20260309"))),
        Refusal::DateBeforeLoan
    );
    assert_eq!(Refusal::DateBeforeLoan.sw(), 0x9507);
}

#[test]
fn no_terminal_authentication_6982() {
    let (mut c, t) = session();
    // A reset clears the security status; the MAC is still right, the level is not.
    c.reset().unwrap();
    assert_eq!(
        sw(&c.transmit(&hex::decode("00A4040C09F043434F534C494201").unwrap())),
        0x9000
    );
    let apdu = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
    assert_eq!(sw(&c.transmit(&apdu)), 0x6982);
    // The holder's PIN (level 1) is not enough to borrow.
    assert_eq!(
        sw(&c.transmit(&hex::decode("0020000003123456").unwrap())),
        0x9000
    );
    let apdu = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
    assert_eq!(sw(&c.transmit(&apdu)), 0x6982);
    assert!(files(&c).history.is_empty());
}

/// The desk key is not try-limited in the default profile (a keyless reader must not be able to
/// shut every circulation desk out, docs/reliability.md): a wrong cryptogram answers 6300.
#[test]
fn wrong_authentication_cryptogram_6300() {
    let mut c = card();
    let mut t = terminal();
    t.select(&mut c).unwrap();
    let _ = t.challenge(&mut c).unwrap();
    let r = c.transmit(&hex::decode("008200001000112233445566778899AABBCCDDEEFF").unwrap());
    assert_eq!(sw(&r), 0x6300);
}

#[test]
fn bad_mac_6988_changes_nothing() {
    let (mut c, t) = session();
    t.borrow(&mut c, A, day("20260301")).unwrap();
    let before = files(&c);
    for ins in [INS_BORROW, INS_RETURN, INS_RENEW] {
        let mut apdu = secured(&mut c, &t, ins, B, day("20260302"));
        let n = apdu.len();
        apdu[n - 2] ^= 0x01; // last MAC byte (before Le)
        assert_eq!(sw(&c.transmit(&apdu)), 0x6988, "INS {ins:02X}");
        // A good MAC restores the line key's counter.
        t.borrow(&mut c, &format!("OK-{ins}"), day("20260302"))
            .unwrap();
        t.return_item(&mut c, &format!("OK-{ins}"), day("20260302"))
            .unwrap();
    }
    // Tampered data under the original MAC.
    let mut apdu = secured(&mut c, &t, INS_RETURN, A, day("20260302"));
    apdu[5] ^= 0x01; // the date
    assert_eq!(sw(&c.transmit(&apdu)), 0x6988);
    // A MAC computed for another INS.
    let mut apdu = secured(&mut c, &t, INS_RETURN, A, day("20260302"));
    apdu[1] = INS_RENEW;
    assert_eq!(sw(&c.transmit(&apdu)), 0x6988);
    let after = files(&c);
    assert_eq!(after.loans, before.loans);
    assert_eq!(after.history.len(), before.history.len() + 6);
}

#[test]
fn three_bad_macs_block_the_line_key_6983() {
    let (mut c, t) = session();
    for _ in 0..3 {
        let mut apdu = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
        let n = apdu.len();
        apdu[n - 3] ^= 0x80;
        assert_eq!(sw(&c.transmit(&apdu)), 0x6988);
    }
    assert_eq!(
        refusal(t.borrow(&mut c, A, day("20260301"))),
        Refusal::KeyBlocked
    );
    assert!(files(&c).history.is_empty());
}

#[test]
fn plain_cla_without_mac_6982() {
    let (mut c, t) = session();
    let data = t.request(A, day("20260301")).unwrap();
    let mut apdu = vec![0x80, INS_BORROW, 0, 0, data.len() as u8];
    apdu.extend_from_slice(&data);
    let _ = t.challenge(&mut c).unwrap();
    assert_eq!(sw(&c.transmit(&apdu)), 0x6982);
    // Even with a valid MAC appended: CLA 80 announces no MAC, so none is checked.
    let mut apdu = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
    apdu[0] = 0x80;
    assert_eq!(sw(&c.transmit(&apdu)), 0x6982);
    assert!(files(&c).history.is_empty());
}

#[test]
fn no_challenge_and_malformed_commands() {
    let (mut c, t) = session();
    let apdu = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
    // Another command between GET CHALLENGE and the command spends the challenge.
    let _ = t.challenge(&mut c).unwrap();
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0x91, 0x00, 0x01])), 0x9000);
    assert_eq!(sw(&c.transmit(&apdu)), 0x6984);
    let mut p1 = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
    p1[2] = 1;
    assert_eq!(sw(&c.transmit(&p1)), 0x6A86);
    let mut cla = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
    cla[0] = 0x04;
    assert_eq!(sw(&c.transmit(&cla)), 0x6E00);
    let mut ins = secured(&mut c, &t, INS_BORROW, A, day("20260301"));
    ins[1] = 0x38;
    assert_eq!(sw(&c.transmit(&ins)), 0x6D00);
    // A date that is no day, a barcode with a space: refused before the MAC is looked at.
    let mut data = t.request(A, day("20260301")).unwrap();
    data[3] = 0x32;
    let ch = t.challenge(&mut c).unwrap();
    let a = t
        .secured_apdu([0x84, INS_BORROW, 0, 0], &data, &ch, Some(0))
        .unwrap();
    assert_eq!(sw(&c.transmit(&a)), 0x6A80);
    let mut data = t.request("AB", day("20260301")).unwrap();
    data[5] = b' ';
    let ch = t.challenge(&mut c).unwrap();
    let a = t
        .secured_apdu([0x84, INS_BORROW, 0, 0], &data, &ch, Some(0))
        .unwrap();
    assert_eq!(sw(&c.transmit(&a)), 0x6A80);
    // Short data.
    let ch = t.challenge(&mut c).unwrap();
    let a = t
        .secured_apdu([0x84, INS_BORROW, 0, 0], &data[..20], &ch, Some(0))
        .unwrap();
    assert_eq!(sw(&c.transmit(&a)), 0x6700);
    assert!(files(&c).history.is_empty());
    // The terminal itself refuses barcodes the card cannot store.
    assert!(matches!(
        t.borrow(&mut c, "has space", day("20260301")),
        Err(LibraryError::BadBarcode(_))
    ));
}

#[test]
fn loans_and_history_are_not_writable_by_kernel_commands() {
    let mut c = card();
    let mut admin = terminal();
    admin.open(&mut c, Role::Admin).unwrap();
    let ch = admin.challenge(&mut c).unwrap();
    let record = [0x01u8; 30];
    let a = admin
        .secured_apdu([0x04, 0xDC, 0x01, (0x12 << 3) | 0x04], &record, &ch, None)
        .unwrap();
    assert_eq!(sw(&c.transmit(&a)), 0x6982, "UPDATE RECORD loans");
    let ch = admin.challenge(&mut c).unwrap();
    let a = admin
        .secured_apdu([0x04, 0xE2, 0x00, 0x13 << 3], &[0x01; 36], &ch, None)
        .unwrap();
    assert_eq!(sw(&c.transmit(&a)), 0x6982, "APPEND RECORD history");
    let f = files(&c);
    assert!(f.history.is_empty());
    assert!(f.loans.iter().all(|r| r.iter().all(|&b| b == 0)));
}

// ---- tearing -----------------------------------------------------------------------------------

const MODES: usize = 4;

fn mode(i: usize, k: u64) -> TearMode {
    match i {
        0 => TearMode::Skip,
        1 => TearMode::Complete,
        2 => TearMode::Partial { seed: k },
        _ => TearMode::Partial {
            seed: 0x5EED_0000 + k,
        },
    }
}

/// For every page program of `op` (run on a card holding `setup`'s loans), cut the power there
/// in every mode, recover, and require the loans and the history to be both old or both new; then
/// the card must still lend. Returns (programs, runs, old, new).
fn tear_every_program(
    setup: &[&str],
    op: impl Fn(&LibraryTerminal, &mut SimCard) -> Vec<u8>,
) -> (u64, usize, usize, usize) {
    let mut c = card();
    let mut t = terminal();
    t.open(&mut c, Role::Circulation).unwrap();
    for code in setup {
        t.borrow(&mut c, code, day("20260301")).unwrap();
    }
    let image = c.image().bytes;
    let old = files(&c);
    // Reference run: the programs the command performs, and the new state.
    let mut r = card_from(&image);
    t.open(&mut r, Role::Circulation).unwrap();
    let apdu = op(&t, &mut r);
    let p0 = r.programs();
    assert_eq!(sw(&r.transmit(&apdu)), 0x9000);
    let programs = r.programs() - p0;
    let new = files(&r);
    assert_ne!(old.loans, new.loans);
    let (mut runs, mut olds, mut news) = (0, 0, 0);
    for k in 0..programs {
        for m in 0..MODES {
            let mut c = card_from(&image);
            t.open(&mut c, Role::Circulation).unwrap();
            let apdu = op(&t, &mut c);
            c.arm_tear(k, mode(m, k));
            let answer = c.transmit(&apdu);
            assert!(answer.is_empty(), "program {k} mode {m}: the cut must hit");
            c.power_on().unwrap();
            let now = files(&c);
            let state = (now.loans.clone(), now.history.clone());
            if state == (old.loans.clone(), old.history.clone()) {
                olds += 1;
            } else if state == (new.loans.clone(), new.history.clone()) {
                news += 1;
            } else {
                panic!("program {k} mode {m}: loan slot and history disagree: {now:?}");
            }
            runs += 1;
            // The card still lends after recovery.
            t.open(&mut c, Role::Circulation).unwrap();
            t.borrow(&mut c, "AFTER-CUT", day("20260310")).unwrap();
        }
    }
    (programs, runs, olds, news)
}

#[test]
fn power_cut_at_every_program_of_a_borrow_and_a_return() {
    let (p, runs, old, new) = tear_every_program(&["FIRST"], |t, c| {
        secured(c, t, INS_BORROW, "SECOND", day("20260305"))
    });
    eprintln!("borrow: {p} page programs, {runs} cuts: {old} old, {new} new");
    assert!(old > 0 && new > 0, "both outcomes occur");
    let (p, runs, old, new) = tear_every_program(&["FIRST", "SECOND"], |t, c| {
        secured(c, t, INS_RETURN, "FIRST", day("20260305"))
    });
    eprintln!("return: {p} page programs, {runs} cuts: {old} old, {new} new");
    assert!(old > 0 && new > 0, "both outcomes occur");
}

// ---- random sessions against a model ---------------------------------------------------------

const MAX_LOANS: usize = 5;
const SLOTS: usize = 8;
const PERIOD: u32 = 30;
const MAX_RENEWALS: u8 = 2;

#[derive(Clone, Debug)]
enum Act {
    Borrow,
    Return,
    Renew,
}

#[derive(Clone, Debug)]
enum Op {
    /// A loan command for item `n` after `days` more days.
    Loan(Act, u8, u8),
    /// The same with a corrupted MAC.
    BadMac(Act, u8),
    /// The same, with the power cut at the `k`-th program of the command.
    Torn(Act, u8, u8, u8, usize),
    /// The administration blocks or unblocks the patron.
    Block(bool),
    /// Power off and on.
    PowerCycle,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![Just(Act::Borrow), Just(Act::Return), Just(Act::Renew)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (act(), 0u8..7, 0u8..12).prop_map(|(a, n, d)| Op::Loan(a, n, d)),
        1 => (act(), 0u8..7).prop_map(|(a, n)| Op::BadMac(a, n)),
        2 => (act(), 0u8..7, 0u8..12, 0u8..24, 0usize..MODES)
            .prop_map(|(a, n, d, k, m)| Op::Torn(a, n, d, k, m)),
        1 => any::<bool>().prop_map(Op::Block),
        1 => Just(Op::PowerCycle),
    ]
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct MLoan {
    code: String,
    loan_date: Day,
    due: Day,
    renewals: u8,
    seq: u16,
}

#[derive(Clone, Debug)]
struct Model {
    slots: Vec<Option<MLoan>>,
    seq: u16,
    blocked: bool,
    today: Day,
    expiry: Day,
    /// Tries left on the line key.
    line_tries: u8,
}

impl Model {
    fn find(&self, code: &str) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|l| l.code == code))
    }

    fn in_use(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// The status word the card must answer, and the model after a success.
    fn apply(&self, a: &Act, code: &str) -> (u16, Model) {
        let mut next = self.clone();
        let today = self.today;
        let due_for = |d: Day| d.plus(PERIOD).min(self.expiry);
        let sw = match a {
            Act::Borrow => {
                if self.blocked {
                    0x9502
                } else if today > self.expiry {
                    0x9503
                } else if self.find(code).is_some() {
                    0x9506
                } else if self.in_use() >= MAX_LOANS {
                    0x9501
                } else {
                    let i = self.slots.iter().position(Option::is_none).unwrap();
                    next.seq += 1;
                    next.slots[i] = Some(MLoan {
                        code: code.into(),
                        loan_date: today,
                        due: due_for(today),
                        renewals: 0,
                        seq: next.seq,
                    });
                    0x9000
                }
            }
            Act::Return => match self.find(code) {
                None => 0x9505,
                Some(i) => {
                    next.seq += 1;
                    next.slots[i] = None;
                    0x9000
                }
            },
            Act::Renew => {
                if self.blocked {
                    0x9502
                } else if today > self.expiry {
                    0x9503
                } else {
                    match self.find(code) {
                        None => 0x9505,
                        Some(i) => {
                            let l = self.slots[i].clone().unwrap();
                            if l.renewals >= MAX_RENEWALS {
                                0x9504
                            } else {
                                next.seq += 1;
                                next.slots[i] = Some(MLoan {
                                    due: due_for(today).max(l.due),
                                    renewals: l.renewals + 1,
                                    seq: next.seq,
                                    ..l
                                });
                                0x9000
                            }
                        }
                    }
                }
            }
        };
        if sw == 0x9000 {
            next.line_tries = 3;
        }
        (sw, next)
    }

    /// The loans file the model predicts, record by record (written from `docs/library.md`).
    fn records(&self) -> Vec<Vec<u8>> {
        self.slots
            .iter()
            .map(|s| match s {
                None => vec![0; 30],
                Some(l) => {
                    let mut r = vec![1];
                    let mut code = l.code.as_bytes().to_vec();
                    code.resize(16, 0);
                    r.extend_from_slice(&code);
                    r.extend_from_slice(&BRANCH.to_be_bytes());
                    r.extend_from_slice(&l.loan_date.to_bcd());
                    r.extend_from_slice(&l.due.to_bcd());
                    r.push(l.renewals);
                    r.extend_from_slice(&l.seq.to_be_bytes());
                    r
                }
            })
            .collect()
    }

    fn matches(&self, f: &StoredLibrary) -> bool {
        self.records() == f.loans && (f.patron[27] != 0) == self.blocked
    }

    /// The card's stored loans and patron status agree with the model.
    fn check(&self, f: &StoredLibrary, ctx: &str) {
        assert_eq!(f.loans, self.records(), "{ctx}");
        assert_eq!(f.patron[27] != 0, self.blocked, "{ctx}");
        let newest = f.history.first().map(|h| u16::from_be_bytes([h[0], h[1]]));
        assert_eq!(newest.unwrap_or(0), self.seq, "{ctx}: history counter");
    }
}

/// Invariants that hold whatever the model says: never more loans than the maximum, no barcode
/// twice, and every loan backed by its history entry (the newest record describes the last change).
fn invariants(f: &StoredLibrary) {
    let on_loan: Vec<&Vec<u8>> = f.loans.iter().filter(|r| r[0] == 1).collect();
    assert!(on_loan.len() <= MAX_LOANS, "{} loans", on_loan.len());
    let mut codes: Vec<&[u8]> = on_loan.iter().map(|r| &r[1..17]).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), on_loan.len(), "a barcode twice");
    let newest = f.history.first().map(|h| u16::from_be_bytes([h[0], h[1]]));
    for (i, r) in f.loans.iter().enumerate() {
        if r[0] != 1 {
            continue;
        }
        let seq = u16::from_be_bytes([r[28], r[29]]);
        assert!(Some(seq) <= newest, "slot {} ahead of the history", i + 1);
        // Its event, if not yet overwritten in the cyclic file, describes exactly this loan.
        if let Some(h) = f
            .history
            .iter()
            .find(|h| u16::from_be_bytes([h[0], h[1]]) == seq)
        {
            assert!(
                h[2] == 1 || h[2] == 3,
                "event {seq} is not a borrow or renewal"
            );
            assert_eq!(usize::from(h[3]), i + 1);
            assert_eq!(&h[4..20], &r[1..17]);
            assert_eq!(&h[26..30], &r[23..27], "due date");
        } else {
            assert!(
                f.history.len() == 16,
                "event {seq} missing from a history that is not full"
            );
        }
    }
    if let Some(h) = f.history.first() {
        let slot = &f.loans[usize::from(h[3]) - 1];
        match h[2] {
            2 => assert!(slot.iter().all(|&b| b == 0), "returned slot not free"),
            _ => {
                assert_eq!(&slot[1..17], &h[4..20]);
                assert_eq!(&slot[28..30], &h[0..2]);
            }
        }
    }
    let seqs: Vec<u16> = f
        .history
        .iter()
        .map(|h| u16::from_be_bytes([h[0], h[1]]))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] == w[1] + 1),
        "history counters not consecutive: {seqs:?}"
    );
}

fn line_tries(c: &SimCard) -> u8 {
    use cos_core::fs::{self, FileKind};
    use cos_core::keys::KeyType;
    c.with_storage(|s| {
        let h = fs::read_header(s).unwrap();
        let (adf, _) = fs::find(s, h.slots, 1, |_, e| {
            e.kind == FileKind::Dedicated && e.df_name() == DEFAULT_AID
        })
        .unwrap()
        .unwrap();
        let (_, kf) = fs::key_file(s, h.slots, adf).unwrap().unwrap();
        let (_, k) = cos_core::keystore::find(s, &kf, &[KeyType::LineProtection], 0)
            .unwrap()
            .unwrap();
        k.tries.remaining()
    })
}

fn ins_of(a: &Act) -> u8 {
    match a {
        Act::Borrow => INS_BORROW,
        Act::Return => INS_RETURN,
        Act::Renew => INS_RENEW,
    }
}

fn run_session(ops: &[Op]) {
    let mut c = card();
    let mut t = terminal();
    let mut admin = terminal();
    let patron = t.open(&mut c, Role::Circulation).unwrap();
    let mut open = true;
    let mut m = Model {
        slots: vec![None; SLOTS],
        seq: 0,
        blocked: false,
        today: day("20260101"),
        expiry: patron.expiry,
        line_tries: 3,
    };
    for (step, o) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {o:?}");
        if !open && !matches!(o, Op::PowerCycle) {
            t.open(&mut c, Role::Circulation).unwrap();
            open = true;
        }
        match o {
            Op::Loan(a, n, d) | Op::Torn(a, n, d, _, _) => {
                m.today = m.today.plus(u32::from(*d));
                let code = format!("ITEM-{n}");
                let (want, next) = if m.line_tries == 0 {
                    (0x6983, m.clone())
                } else {
                    m.apply(a, &code)
                };
                let apdu = secured(&mut c, &t, ins_of(a), &code, m.today);
                if let Op::Torn(_, _, _, k, mode_i) = o {
                    c.arm_tear(u64::from(*k), mode(*mode_i, u64::from(*k)));
                }
                let r = c.transmit(&apdu);
                if r.is_empty() {
                    // Cut: old or new, nothing else.
                    c.power_on().unwrap();
                    open = false;
                    let f = files(&c);
                    if want == 0x9000 && next.matches(&f) {
                        m = next;
                    }
                    m.check(&f, &ctx);
                    m.line_tries = line_tries(&c);
                } else {
                    c.disarm_tear();
                    assert_eq!(sw(&r), want, "{ctx}");
                    if want == 0x9000 {
                        m = next;
                    } else if want != 0x6983 {
                        m.line_tries = 3;
                    }
                }
            }
            Op::BadMac(a, n) => {
                let mut apdu = secured(&mut c, &t, ins_of(a), &format!("ITEM-{n}"), m.today);
                let len = apdu.len();
                apdu[len - 2] ^= 0x55;
                let want = if m.line_tries == 0 { 0x6983 } else { 0x6988 };
                assert_eq!(sw(&c.transmit(&apdu)), want, "{ctx}");
                m.line_tries = m.line_tries.saturating_sub(1);
            }
            Op::Block(b) => {
                admin.open(&mut c, Role::Admin).unwrap();
                let r = admin.set_blocked(&mut c, *b);
                if m.line_tries == 0 {
                    assert_eq!(refusal(r), Refusal::KeyBlocked, "{ctx}");
                } else {
                    r.unwrap();
                    m.blocked = *b;
                    // The kernel's own secure messaging (UPDATE BINARY of the patron file) neither
                    // spends nor restores line-key tries: only the applet's commands count them.
                }
                open = false;
            }
            Op::PowerCycle => {
                c.power_off();
                c.power_on().unwrap();
                open = false;
            }
        }
        let f = files(&c);
        invariants(&f);
        m.check(&f, &ctx);
        assert_eq!(line_tries(&c), m.line_tries, "{ctx}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random terminal sessions never leave more loans than the maximum nor a loan without its
    /// history entry, and the card answers exactly what the rules say.
    #[test]
    fn random_sessions_keep_the_loan_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        run_session(&ops);
    }
}
