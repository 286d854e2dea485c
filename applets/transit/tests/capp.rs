//! The composite (CAPP) purchase end to end on a real kernel: balance, offline ATC, the `18`
//! record, the cached composite record(s) and the `1E` trip-log record commit together; every
//! refusal answers its status word and leaves the NVM image unchanged; a power cut at any page
//! program leaves everything old or everything new.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use cos_core::nvm::TearMode;

#[test]
fn capp_purchase_commits_record_balance_counter_and_both_logs() {
    let mut c = card();
    load(&mut c, 1_000);
    let entry = metro_entry(7);
    let i = capp(&mut c, 250, 1, std::slice::from_ref(&entry));
    assert_eq!(i.balance, 1_000);
    assert_eq!(i.atc, 0);
    assert_eq!(c.balance(), 750);
    assert_eq!(c.composite(1), entry);
    assert_eq!(
        c.composite(2),
        blank_record(0x02, 64, 0),
        "other records untouched"
    );
    // EF 18: ATC 0000, limit 000000, amount, type 09, terminal, date, time.
    assert_eq!(
        c.purse_log(1).unwrap(),
        cat(&[
            &[0, 0],
            &[0, 0, 0],
            &250u32.to_be_bytes(),
            &[0x09],
            &TERMINAL,
            &DATE,
            &TIME
        ])
    );
    // EF 1E: the card's own trip record.
    let t = c.trip(1).unwrap();
    assert_eq!(t.len(), 48);
    assert_eq!(t[0], 0x03, "entry");
    assert_eq!(&t[1..9], &cat(&[&[0, 0], &TERMINAL])[..]);
    assert_eq!(t[9], 0x01, "metro");
    assert_eq!(&t[10..17], &entry[4..11]);
    assert_eq!(&t[17..21], &250u32.to_be_bytes());
    assert_eq!(&t[21..25], &750u32.to_be_bytes());
    assert_eq!(&t[25..32], &cat(&[&DATE, &TIME])[..]);
    assert_eq!(&t[32..34], &[0x33, 0x04]);
    assert_eq!(&t[34..42], b"METRO-01");
    assert_eq!(&t[42..44], &[0, 0], "ATC used");
    assert_eq!(c.trip(2), None);
    // GET TRANSACTION PROVE recovers MAC2 ‖ TAC of the CAPP purchase (type 09, ATC + 1).
    let p = c.ok("805A0009 02 0001 08");
    assert_eq!(p.len(), 8);
    // A second purchase: zero amount (a tap in), by record number.
    let i2 = init_capp(&mut c, 0x01, 0, 2).unwrap();
    let bus = bus_ride(5);
    c.ok(&format!("80DC 02D4 40 {}", hex::encode(&bus)));
    let (rsp, sw) = c.raw(&debit_apdu(&i2));
    assert_eq!(sw, 0x9000);
    check_debit(&i2, &rsp);
    assert_eq!(c.composite(2), bus);
    assert_eq!(c.trip(1).unwrap()[0], 0x06);
    assert_eq!(c.trip(2).unwrap(), t);
    assert_eq!(c.balance(), 750);
}

#[test]
fn two_records_in_one_purchase_and_a_recache_replaces() {
    let mut c = card();
    load(&mut c, 500);
    let i = init_capp(&mut c, 0x01, 100, 9).unwrap();
    c.ok(&cache_apdu(&metro_entry(1)));
    let mut taxi = blank_record(0x04, 48, 0);
    taxi[3] = 0x06;
    c.ok(&cache_apdu(&taxi));
    // The metro record again: replaces the first cached copy (no third slot needed).
    let m = metro_entry(2);
    c.ok(&cache_apdu(&m));
    let (rsp, sw) = c.raw(&debit_apdu(&i));
    assert_eq!(sw, 0x9000);
    check_debit(&i, &rsp);
    assert_eq!(c.composite(1), m);
    assert_eq!(c.composite(4), taxi);
    // The trip log follows the first cached record (metro, station 2).
    let t = c.trip(1).unwrap();
    assert_eq!((t[0], t[9], t[13]), (0x03, 0x01, 2));
    assert_eq!(c.balance(), 400);
    // A third record in one purchase: 6A84, and the session is over.
    let i = init_capp(&mut c, 0x01, 100, 10).unwrap();
    c.ok(&cache_apdu(&metro_entry(3)));
    c.ok(&cache_apdu(&bus_ride(4)));
    c.refuse(&cache_apdu(&taxi), 0x6A84);
    c.refuse_raw(&debit_apdu(&i), 0x9406);
    assert_eq!(c.balance(), 400);
}

#[test]
fn the_operator_may_lock_its_record_and_then_nobody_updates_it() {
    let mut c = card();
    load(&mut c, 500);
    let mut m = metro_entry(3);
    m[2] = 0x01;
    capp(&mut c, 0, 1, std::slice::from_ref(&m));
    assert_eq!(c.composite(1)[2], 0x01);
    init_capp(&mut c, 0x01, 0, 2).unwrap();
    c.refuse(&cache_apdu(&metro_entry(4)), 0x6985);
}

/// Every refusal of the CAPP commands, with "image unchanged".
#[test]
fn every_capp_refusal_changes_nothing() {
    let mut c = card();
    load(&mut c, 300);
    let m = metro_entry(1);
    // UPDATE CAPP DATA CACHE without INITIALIZE, or after a plain purchase's INITIALIZE.
    c.refuse(&cache_apdu(&m), 0x9406);
    c.ok(&format!(
        "80500102 0B 01 00000001 {} 0F",
        hex::encode(TERMINAL)
    ));
    c.refuse(&cache_apdu(&m), 0x9406);
    // INITIALIZE FOR CAPP PURCHASE refusals.
    assert_eq!(init_capp(&mut c, 0x01, 301, 1).unwrap_err(), 0x9401);
    assert_eq!(init_capp(&mut c, 0x07, 1, 1).unwrap_err(), 0x9403);
    c.refuse(
        &format!("80500302 0A 01 00000001 {}", hex::encode(&TERMINAL[..5])),
        0x6700,
    );
    c.refuse(
        &format!("80500301 0B 01 00000001 {}", hex::encode(TERMINAL)),
        0x6A86,
    );
    // The cache checks.
    let cases: Vec<(String, u16)> = {
        let mut v = Vec::new();
        // No record with tag 09; record number 5 does not exist.
        let mut r9 = m.clone();
        r9[0] = 0x09;
        v.push((cache_apdu(&r9), 0x6A83));
        v.push((format!("80DC 05D4 40 {}", hex::encode(&m)), 0x6A83));
        // Wrong length (48 bytes for a 64-byte record).
        let mut short = m[..48].to_vec();
        short[1] = 48;
        v.push((cache_apdu(&short), 0x6700));
        // Locked record 03.
        let mut r3 = blank_record(0x03, 48, 0);
        r3[3] = 0x06;
        v.push((cache_apdu(&r3), 0x6985));
        // Content that changes the tag (record 2 addressed by number with tag 01).
        v.push((format!("80DC 02D4 40 {}", hex::encode(&m)), 0x6A80));
        // Length byte, lock flag, event.
        for (at, val) in [(1usize, 0x41u8), (2, 0x02), (3, 0x00), (3, 0x05)] {
            let mut bad = m.clone();
            bad[at] = val;
            v.push((cache_apdu(&bad), 0x6A80));
        }
        // Another SFI, a mode other than tag / number, secure messaging, another class.
        v.push((format!("80DC 01C0 40 {}", hex::encode(&m)), 0x6A86));
        v.push((format!("80DC 01D1 40 {}", hex::encode(&m)), 0x6A86));
        v.push((format!("84DC 01D0 40 {}", hex::encode(&m)), 0x6882));
        v
    };
    for (apdu, want) in &cases {
        init_capp(&mut c, 0x01, 10, 1).unwrap();
        c.refuse(apdu, *want);
        // A refused cache update ends the transaction: the DEBIT that follows is refused too.
        let i = CappInit {
            amount: 10,
            balance: 300,
            atc: 0,
            random: [0; 4],
            ttc: [0, 0, 0, 1],
        };
        c.refuse_raw(&debit_apdu(&i), 0x9406);
    }
    // DEBIT without any cached record: no CAPP purchase.
    let i = init_capp(&mut c, 0x01, 10, 1).unwrap();
    c.refuse_raw(&debit_apdu(&i), 0x6985);
    // A broken pair: INITIALIZE, another command, UPDATE CAPP DATA CACHE.
    init_capp(&mut c, 0x01, 10, 1).unwrap();
    c.ok("805C000204");
    c.refuse(&cache_apdu(&m), 0x9406);
    // INITIALIZE, cache, another command, DEBIT.
    let i = init_capp(&mut c, 0x01, 10, 1).unwrap();
    c.ok(&cache_apdu(&m));
    c.ok("00B2 01D4 00");
    c.refuse_raw(&debit_apdu(&i), 0x9406);
    // Wrong MAC1 (key without try counter): 9302 and nothing changed.
    let mut i = init_capp(&mut c, 0x01, 10, 1).unwrap();
    c.ok(&cache_apdu(&m));
    i.amount = 11; // the terminal MACs another amount than INITIALIZE announced
    c.refuse_raw(&debit_apdu(&i), 0x9302);
    // Nothing of all this moved money or records.
    assert_eq!(c.balance(), 300);
    assert_eq!(c.composite(1), blank_record(0x01, 64, 0));
    assert_eq!(c.trip(1), None);
    // And the card still works.
    capp(&mut c, 10, 2, std::slice::from_ref(&m));
    assert_eq!(c.balance(), 290);
}

#[test]
fn missing_files_are_refused_at_initialize() {
    for omit in [
        Omit {
            trip_log: true,
            composite: false,
        },
        Omit {
            trip_log: false,
            composite: true,
        },
    ] {
        let mut c = Card::blank();
        personalise(&mut c, omit);
        c.select();
        load(&mut c, 100);
        c.refuse(
            &format!("80500302 0B 01 00000001 {} 0F", hex::encode(TERMINAL)),
            0x6A82,
        );
        // A plain purchase of the same purse still works without them.
        c.ok(&format!(
            "80500102 0B 01 00000001 {} 0F",
            hex::encode(TERMINAL)
        ));
    }
}

#[test]
fn try_limited_key_locks_the_application_and_capp_answers_9303() {
    let mut c = card();
    load(&mut c, 100);
    let m = metro_entry(1);
    for left in [2, 1, 0] {
        let mut i = init_capp(&mut c, 0x02, 5, 1).unwrap();
        c.ok(&cache_apdu(&m));
        i.amount = 6;
        let (_, sw) = c.raw(&debit_apdu(&i));
        assert_eq!(sw, if left == 0 { 0x9303 } else { 0x9302 });
    }
    // Locked: SELECT warns, the CAPP commands answer 9303, reads still work.
    assert_eq!(c.sw(&format!("00A4 0400 08 {AID} 00")), 0x6283);
    c.refuse(
        &format!("80500302 0B 01 00000001 {} 0F", hex::encode(TERMINAL)),
        0x9303,
    );
    c.refuse(&cache_apdu(&m), 0x9303);
    c.refuse("805C010204", 0x9303);
    assert_eq!(c.composite(1), blank_record(0x01, 64, 0));
    assert_eq!(c.balance_sw(), 0x9303);
}

trait BalanceSw {
    fn balance_sw(&mut self) -> u16;
}

impl BalanceSw for Card {
    fn balance_sw(&mut self) -> u16 {
        self.sw("805C000204")
    }
}

#[test]
fn balance_variants() {
    let mut c = card();
    load(&mut c, 1_234);
    assert_eq!(c.ok("805C000204"), 1_234u32.to_be_bytes());
    assert_eq!(c.ok("805C010204"), [0, 0, 0, 0], "overdraw limit");
    assert_eq!(c.ok("805C020204"), [0, 0, 0, 0], "credit in use");
    assert_eq!(c.ok("805C030204"), 1_234u32.to_be_bytes(), "own funds");
    // Le 00 too; the ED does not exist in the transit ADF; unknown P1.
    assert_eq!(c.ok("805C030200"), 1_234u32.to_be_bytes());
    c.refuse("805C000104", 0x6A82);
    c.refuse("805C010104", 0x6A86);
    c.refuse("805C040204", 0x6A86);
    // Bit 31 of a non-negative balance is 0.
    assert_eq!(c.ok("805C000204")[0] & 0x80, 0);
}

#[test]
fn select_answers_the_interoperable_fci_directly() {
    let mut c = Card::from_image(standard_image());
    // Case 4 with Le 00: the FCI comes at once with 9000 (no 61xx).
    let (d, sw) = c.once(&h(&format!("00A4 0400 08 {AID} 00")));
    assert_eq!(sw, 0x9000);
    let ef15 = h(&format!(
        "3304000000000000 02 01 {ASN} 20260101 20351231 0000"
    ));
    let want = cat(&[
        &[0x6F, 0x31, 0x84, 0x08],
        &h(AID),
        &[0xA5, 0x25, 0x9F, 0x08, 0x01, 0x01, 0x9F, 0x0C, 0x1E],
        &ef15,
    ]);
    assert_eq!(d, want);
    // Without Le: a T=0 reader gets 61xx (the command arrived as case 3), a T=1 / T=CL reader —
    // gates and phones — the FCI at once with 9000.
    let (_, sw) = c.once(&h(&format!("00A4 0400 08 {AID}")));
    assert_eq!(sw, 0x6133);
    c.set_protocol(cos_core::apdu::Protocol::T1);
    assert_eq!(
        c.once(&h(&format!("00A4 0400 08 {AID}"))),
        (want.clone(), 0x9000)
    );
    assert_eq!(c.once(&h("805C 0002")).1, 0x9000);
    c.set_protocol(cos_core::apdu::Protocol::T0);
    // READ BINARY / READ RECORD with Le 00 return whole files and records.
    assert_eq!(c.ok("00B0 9500 00"), ef15);
    assert_eq!(c.ok("00B0 9700 00").len(), 60);
    assert_eq!(c.ok("00B0 9700 00")[10], 0x03, "card type senior");
    assert_eq!(c.ok("00B0 9600 00").len(), 55);
    assert_eq!(c.ok("00B2 01D4 00").len(), 64);
    assert_eq!(c.sw("00B2 01F4 00"), 0x6A83, "no trip yet");
    assert_eq!(c.sw("00B2 05D4 00"), 0x6A83);
    assert_eq!(c.sw("00B2 01C4 00"), 0x6A83);
}

#[test]
fn ppse_lists_the_transit_application() {
    let mut c = Card::from_image(standard_image());
    let (d, sw) = c.once(&h(&format!(
        "00A4 0400 0E {} 00",
        hex::encode(b"2PAY.SYS.DDF01")
    )));
    assert_eq!(sw, 0x9000);
    let entry = h(&format!(
        "6117 4F08{AID} 5008{} 870101",
        hex::encode(b"MOT_T_EP")
    ));
    let want = cat(&[
        &[0x6F, 0x2E, 0x84, 0x0E],
        b"2PAY.SYS.DDF01",
        &[0xA5, 0x1C, 0xBF, 0x0C, 0x19],
        &entry,
    ]);
    assert_eq!(d, want);
    // Then the reader selects the AID it found.
    c.select();
    assert_eq!(c.balance(), 0);
    // The MF keeps its contact PSE name.
    let (d, sw) = c.once(&h(&format!(
        "00A4 0400 0E {} 00",
        hex::encode(b"1PAY.SYS.DDF01")
    )));
    assert_eq!(sw, 0x9000);
    assert_eq!(&d[4..18], b"1PAY.SYS.DDF01");
}

#[test]
fn foreign_probes_get_clean_errors_and_the_card_goes_on() {
    let mut c = card();
    load(&mut c, 100);
    let before = c.image();
    for (apdu, want) in [
        ("9060000000", 0x6D00),                 // DESFire GetVersion
        ("80CA9F7F00", 0x6D00),                 // EMV GET DATA (CPLC)
        ("00A4040007A000000003101000", 0x6A82), // a Visa AID
        ("00A4040007D276000085010100", 0x6A82), // NDEF
        ("80CA006600", 0x6D00),
        ("00C0000000", 0x6985), // GET RESPONSE with nothing pending
    ] {
        let (_, sw) = c.tx(apdu);
        assert_eq!(sw, want, "{apdu}");
    }
    assert_eq!(before, c.image());
    // Still selected and working after failed SELECTs.
    assert_eq!(c.balance(), 100);
    capp(&mut c, 10, 1, &[metro_entry(1)]);
    // `00 A4 00 00 00` selects the MF (a clean answer); the reader re-selects the AID.
    let (_, sw) = c.tx("00A4000000");
    assert_eq!(sw, 0x9000);
    c.select();
    assert_eq!(c.balance(), 90);
}

/// A power cut at every page program of a CAPP DEBIT, in every tear mode: balance, ATC,
/// composite record, purse log and trip log are all old or all new.
#[test]
fn capp_debit_is_atomic_under_power_cuts() {
    for (index, label) in [
        (0x01u8, "key without try counter"),
        (0x02, "try-limited key"),
    ] {
        let mut c = card();
        load(&mut c, 1_000);
        capp(&mut c, 100, 1, &[metro_entry(1)]);
        c.power_cycle();
        let base = c.image();
        let old = Card::from_image(&base).snapshot();
        let m = metro_entry(9);
        let run = |c: &mut Card| {
            c.select();
            let i = init_capp(c, index, 250, 2).unwrap();
            c.ok(&cache_apdu(&m));
            i
        };
        let mut dry = Card::from_image(&base);
        let i = run(&mut dry);
        let p0 = dry.programs();
        let (rsp, sw) = dry.raw(&debit_apdu(&i));
        assert_eq!(sw, 0x9000);
        check_debit(&i, &rsp);
        let n = dry.programs() - p0;
        let new = dry.snapshot();
        assert_ne!(old, new);
        let (mut olds, mut news) = (0, 0);
        for k in 0..n {
            for mode in [
                TearMode::Skip,
                TearMode::Complete,
                TearMode::Partial { seed: k },
                TearMode::Partial { seed: k + 1000 },
            ] {
                let mut c = Card::from_image(&base);
                let i = run(&mut c);
                c.arm_tear(k, mode);
                let (_, sw) = c.raw(&debit_apdu(&i));
                assert_ne!(sw, 0x9000, "{label} k={k} {mode:?}");
                c.power_cycle();
                let s = c.snapshot();
                if s == old {
                    olds += 1;
                    assert_eq!(c.sw("805A0009 02 0002"), 0x9406);
                } else if s == new {
                    news += 1;
                    assert_eq!(c.ok("805A0009 02 0002"), [&rsp[4..8], &rsp[0..4]].concat());
                } else {
                    panic!("{label} k={k} {mode:?}: torn CAPP purchase\nold {old:?}\nnew {new:?}\ngot {s:?}");
                }
                // The card goes on: another CAPP purchase succeeds.
                capp(&mut c, 1, 3, &[metro_entry(2)]);
            }
        }
        eprintln!(
            "CAPP DEBIT ({label}): {n} page programs, {} cuts: {olds} all old, {news} all new, 0 torn",
            4 * n
        );
        assert!(olds > 0 && news > 0);
    }
}
