//! Every refusal of the purse with its status word, and "refused ⇒ NVM image unchanged" (the
//! whole image, journal included). The only writes a refusal may cause are the ones JR/T 0025
//! asks for: a wrong MAC under a try-limited key costs a try (and, at the last one, locks).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;
use common::*;

const ED: u8 = 0x01;
const EP: u8 = 0x02;
const BAD: Tamper = Tamper { bad_mac: true };

fn funded() -> (Card, Terminal) {
    let mut c = standard();
    let mut t = Terminal::standard();
    assert_eq!(c.verify_pin(PIN), 0x9000);
    for index in 1..=4 {
        t.load(&mut c, index, ED, 1_000).unwrap();
        t.load(&mut c, index, EP, 1_000).unwrap();
    }
    (c, t)
}

#[test]
fn malformed_commands() {
    let (mut c, _) = funded();
    // Wrong Lc: 6700.
    c.refuse("805C0002 01 00 04", 0x6700);
    c.refuse("805000020A 01 000010 001122334455", 0x6700);
    c.refuse("805001020C 01 00000010 001122334455 00", 0x6700);
    c.refuse("8050040108 01 001122334455 00", 0x6700);
    c.refuse("805200000A 20111221 214822 3A845B", 0x6700);
    c.refuse("805401000E 00000001 20120229 135100 F15CAB", 0x6700);
    c.refuse("805403000C 20111221 214822 3A845BF0 00", 0x6700);
    c.refuse("805800000F 001000 20111221 214822 3A845BF0 00", 0x6700);
    c.refuse("805A000603 000100", 0x6700);
    // Wrong P1-P2: 6A86.
    c.refuse("805C000304", 0x6A86);
    c.refuse("805C010204", 0x6A86);
    c.refuse("805000030B 01 00000010 001122334455", 0x6A86);
    c.refuse("805006010B 01 00000010 001122334455", 0x6A86);
    c.refuse("805002020B 01 00000010 001122334455", 0x6A86); // cash withdrawal from the EP
    c.refuse("805005020B 01 00000010 001122334455", 0x6A86); // unload from the EP
    c.refuse("8050040207 01 001122334455", 0x6A86); // overdraw limit of the EP
    c.refuse("805201000B 20111221 214822 3A845BF0", 0x6A86);
    c.refuse("805402000F 00000001 20120229 135100 F15CAB75", 0x6A86);
    c.refuse("805801000E 001000 20111221 214822 3A845BF0", 0x6A86);
    c.refuse("805A000802 0001", 0x6A86);
    c.refuse("805A010602 0001", 0x6A86);
    // CAPP purchase belongs to the transit front-end: the plain purse refuses it.
    c.refuse("805003020B 01 00000010 001122334455", 0x6A86);
    // Unknown INS, other classes.
    c.refuse("8051000104", 0x6D00);
    c.refuse("80CA000000", 0x6D00);
    c.refuse("005C000204", 0x6E00);
    c.refuse("845C000204", 0x6882);
}

#[test]
fn key_index_not_supported() {
    let (mut c, _) = funded();
    for p1p2 in ["0001", "0002", "0101", "0102", "0201", "0501"] {
        c.refuse(&format!("8050{p1p2}0B 09 00000010 001122334455"), 0x9403);
    }
    c.refuse("8050040107 09 001122334455", 0x9403);
    c.refuse("8050000207 00 001122334455", 0x6700);
}

#[test]
fn insufficient_funds_and_maximum_balance() {
    let mut c = standard_with(with_limits(5_000, 0xFFFF));
    let mut t = Terminal::standard();
    c.verify_pin(PIN);
    t.load(&mut c, 4, EP, 4_000).unwrap();
    // Purchase above the balance: refused at INITIALIZE.
    c.refuse("805001020B 04 00000FA1 001122334455", 0x9401);
    // Load above the maximum balance (own funds 4 000 + 1 001 > 5 000).
    c.refuse("805000020B 04 000003E9 001122334455", 0x9401);
    // Up to the maximum is fine.
    t.load(&mut c, 4, EP, 1_000).unwrap();
    assert_eq!(c.balance(EP), Ok(5_000));
    c.refuse("805000020B 04 00000001 001122334455", 0x9401);
    // u32 overflow of the balance: 9401, not a wrap.
    c.refuse("805000020B 04 FFFFFFFF 001122334455", 0x9401);
    // Unload above the own funds (ED empty).
    c.refuse("805005010B 04 00000001 001122334455", 0x9401);
    assert_eq!(c.balance(EP), Ok(5_000));
}

#[test]
fn counter_limit() {
    // The profile's ATC limit is 2: counters 0 and 1 transact, 2 refuses (9402).
    let mut c = standard_with(with_limits(1_000_000, 2));
    let mut t = Terminal::standard();
    t.load(&mut c, 4, EP, 100).unwrap();
    t.load(&mut c, 4, EP, 100).unwrap();
    c.refuse("805000020B 04 00000064 001122334455", 0x9402);
    t.purchase(&mut c, 4, EP, 10).unwrap();
    t.purchase(&mut c, 4, EP, 10).unwrap();
    c.refuse("805001020B 04 0000000A 001122334455", 0x9402);
    assert_eq!(c.balance(EP), Ok(180));
    // The ED has its own counters.
    c.verify_pin(PIN);
    t.load(&mut c, 4, ED, 100).unwrap();
}

#[test]
fn wrong_mac_with_an_unlimited_key_changes_nothing() {
    let (mut c, mut t) = funded();
    // CREDIT FOR LOAD with a wrong MAC2.
    let init = t.init_online(&mut c, 0x00, EP, 4, 500).unwrap();
    let apdu = t.credit_apdu(4, EP, 500, &init, BAD);
    c.refuse_raw(&apdu, 0x9302);
    // The pair is spent: the right MAC2 now finds no INITIALIZE.
    let apdu = t.credit_apdu(4, EP, 500, &init, Tamper::default());
    c.refuse_raw(&apdu, 0x9406);
    // DEBIT FOR PURCHASE with a wrong MAC1.
    let init = t.init_purchase(&mut c, 0x01, EP, 4, 300).unwrap();
    let apdu = t.debit_apdu(4, 0x06, 300, &init, BAD);
    c.refuse_raw(&apdu, 0x9302);
    // UNLOAD and UPDATE with wrong MAC2s.
    let before = c.image();
    assert_eq!(t.unload(&mut c, 4, 100, BAD).unwrap_err(), 0x9302);
    assert_eq!(t.update_limit(&mut c, 4, 100, BAD).unwrap_err(), 0x9302);
    assert_same_image(&before, &c.image(), "unload / update with wrong MAC2");
    assert_eq!((c.balance(EP), c.balance(ED)), (Ok(4_000), Ok(4_000)));
    // Unlimited keys never lock.
    for _ in 0..20 {
        assert_eq!(t.load_with(&mut c, 4, EP, 1, BAD).unwrap_err(), 0x9302);
    }
    t.load(&mut c, 4, EP, 1).unwrap();
}

#[test]
fn wrong_macs_count_down_and_lock_the_application() {
    let (mut c, mut t) = funded();
    let log = c.log_count();
    // Two wrong MACs, then a right one: the counter is back to 3.
    assert_eq!(t.load_with(&mut c, 1, EP, 10, BAD).unwrap_err(), 0x9302);
    assert_eq!(t.debit(&mut c, 1, 0x01, EP, 10, BAD).unwrap_err(), 0x9302); // other key (DPK)
    assert_eq!(t.load_with(&mut c, 1, EP, 10, BAD).unwrap_err(), 0x9302);
    t.load(&mut c, 1, EP, 10).unwrap();
    assert_eq!(t.load_with(&mut c, 1, EP, 10, BAD).unwrap_err(), 0x9302);
    assert_eq!(t.load_with(&mut c, 1, EP, 10, BAD).unwrap_err(), 0x9302);
    // The third wrong MAC in a row locks the application.
    assert_eq!(t.load_with(&mut c, 1, EP, 10, BAD).unwrap_err(), 0x9303);
    assert_eq!(c.log_count(), log + 1);
    // Every purse command now answers 9303, whatever the key or purse; nothing changes.
    c.refuse("805C000204", 0x9303);
    c.refuse("805000020B 02 00000010 001122334455", 0x9303);
    c.refuse("805001010B 03 00000010 001122334455", 0x9303);
    c.refuse("805A000202 0005", 0x9303);
    // It stays locked across power cycles; SELECT reports it (6283), reads still work.
    c.power_cycle();
    c.expect(&format!("00A4 0400 09 {AID}"), 0x6283);
    c.refuse("805C000204", 0x9303);
    assert!(c.last_log().is_some());
    // The issuer: APPLICATION UNBLOCK, then rewrite the blocked key, and the purse works again.
    assert_eq!(c.secured([0x84, 0x18, 0x00, 0x00], &[]), 0x9000);
    write_keyset(&mut c, &t.set(1).clone());
    assert_eq!(c.balance(EP), Ok(4_010));
    t.load(&mut c, 1, EP, 10).unwrap();
    assert_eq!(c.balance(EP), Ok(4_020));
}

#[test]
fn unblocking_without_rewriting_the_key_locks_again() {
    let (mut c, mut t) = funded();
    for _ in 0..2 {
        assert_eq!(t.debit(&mut c, 2, 0x01, EP, 10, BAD).unwrap_err(), 0x9302);
    }
    assert_eq!(t.debit(&mut c, 2, 0x01, EP, 10, BAD).unwrap_err(), 0x9303);
    assert_eq!(c.secured([0x84, 0x18, 0x00, 0x00], &[]), 0x9000);
    // Other key sets work…
    t.purchase(&mut c, 3, EP, 10).unwrap();
    // …but the blocked purchase key locks the application again at INITIALIZE.
    assert_eq!(t.purchase(&mut c, 2, EP, 10).unwrap_err(), 0x9303);
    c.refuse("805C000204", 0x9303);
}

#[test]
fn completion_without_its_initialize() {
    let (mut c, t) = funded();
    let credit = "805200000B 20111221 214822 3A845BF0 04";
    let debit = "805401000F 00000001 20120229 135100 F15CAB75 08";
    let unload = "805403000B 20111221 214822 3A845BF0 04";
    let update = "805800000E 000100 20111221 214822 3A845BF0 04";
    // Nothing initialised: 9406.
    for cmd in [credit, debit, unload, update] {
        c.refuse(cmd, 0x9406);
    }
    // Initialised, but another command in between (purse or kernel): 9406.
    c.ok("805000020B 04 00000010 001122334455");
    c.ok("805C000204");
    c.refuse(credit, 0x9406);
    c.ok("805000020B 04 00000010 001122334455");
    c.ok("00B0 9500 04");
    c.refuse(credit, 0x9406);
    c.ok("805001020B 04 00000010 001122334455");
    c.expect("0020 0000 03 999999", 0x63C2);
    c.refuse(debit, 0x9406);
    c.verify_pin(PIN);
    // Initialised, then power cycle or re-selection: 9406.
    c.ok("805000020B 04 00000010 001122334455");
    c.power_cycle();
    c.select_adf();
    c.refuse(credit, 0x9406);
    c.ok("805000020B 04 00000010 001122334455");
    c.select_adf();
    c.refuse(credit, 0x9406);
    // Another transaction's INITIALIZE straight before: 6985.
    let pairs = [
        ("805001020B 04 00000010 001122334455", credit),
        ("805001020B 04 00000010 001122334455", unload),
        ("805000020B 04 00000010 001122334455", debit),
        ("805000020B 04 00000010 001122334455", update),
        ("805005010B 04 00000010 001122334455", debit),
        ("8050040107 04 001122334455", credit),
    ];
    c.verify_pin(PIN);
    for (init, done) in pairs {
        c.ok(init);
        c.refuse(done, 0x6985);
    }
    // A refused INITIALIZE leaves nothing pending.
    c.refuse("805001020B 04 7FFFFFFF 001122334455", 0x9401);
    c.refuse(debit, 0x9406);
    // A completed transaction cannot be replayed.
    let init = t.init_online(&mut c, 0x00, EP, 4, 5).unwrap();
    let apdu = t.credit_apdu(4, EP, 5, &init, Tamper::default());
    assert_eq!(c.raw(&apdu).1, 0x9000);
    c.refuse_raw(&apdu, 0x9406);
}

#[test]
fn missing_purse_file() {
    let mut c = Card::from_image(wallet_only_image(), seeded(), e_purse::EPurse::default());
    c.select_adf();
    c.verify_pin(PIN);
    c.refuse("805C000104", 0x6A82);
    c.refuse("805000010B 01 00000010 001122334455", 0x6A82);
    c.refuse("805001010B 01 00000010 001122334455", 0x6A82);
    c.refuse("805A000102 0001", 0x6A82);
    let mut t = Terminal::standard();
    t.load(&mut c, 1, EP, 10).unwrap();
}

#[test]
fn purse_commands_outside_the_purse_adf() {
    let mut c = standard();
    c.ok("00A4 0000 02 3F00");
    // No applet bound to the MF: the kernel answers 6D00.
    c.refuse("805C000204", 0x6D00);
}
