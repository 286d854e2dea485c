//! Power cuts at every program operation of a purchase and of a load.
//!
//! For each scenario: run the completing command once to learn its `N` program operations and the
//! "new" state; then, for every `k` in `0..N` and every tear mode (nothing written, program
//! completed, bytes left old/new/garbage), start again from the same image, cut the power at
//! program `k`, power the kernel off and on (recovery runs), and check that balance, counters,
//! log and prove data are **all old or all new**, never between, and that the card transacts
//! again.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;
use common::*;
use cos_core::nvm::TearMode;
use e_purse::EPurse;

const ED: u8 = 0x01;
const EP: u8 = 0x02;

/// Everything a transaction may change, as the terminal sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Snapshot {
    balance: u32,
    online_atc: u16,
    offline_atc: u16,
    log_count: usize,
    last_log: Option<Vec<u8>>,
}

fn snapshot(c: &mut Card, p2: u8) -> Snapshot {
    // INITIALIZE answers balance and counters without writing anything.
    let (d, sw) = c.raw(&[
        0x80, 0x50, 0x00, p2, 0x0B, 0x04, 0, 0, 0, 1, 0, 0x11, 0x22, 0x33, 0x44, 0x55,
    ]);
    assert_eq!(sw, 0x9000, "INITIALIZE FOR LOAD after recovery");
    let (e, sw) = c.raw(&[
        0x80, 0x50, 0x01, p2, 0x0B, 0x04, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55,
    ]);
    assert_eq!(sw, 0x9000, "INITIALIZE FOR PURCHASE after recovery");
    assert_eq!(d[0..4], e[0..4]);
    Snapshot {
        balance: u32::from_be_bytes(d[0..4].try_into().unwrap()),
        online_atc: u16::from_be_bytes([d[4], d[5]]),
        offline_atc: u16::from_be_bytes([e[4], e[5]]),
        log_count: c.log_count(),
        last_log: c.last_log(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Load,
    Purchase,
}

struct Report {
    programs: u64,
    runs: usize,
    old: usize,
    new: usize,
}

fn fresh(image: &[u8]) -> Card {
    let mut c = Card::from_image(image, seeded(), EPurse::default());
    c.select_adf();
    assert_eq!(c.verify_pin(PIN), 0x9000);
    c
}

/// Send the INITIALIZE and build the completing command.
fn prepare(c: &mut Card, t: &mut Terminal, kind: Kind, index: u8, p2: u8) -> Vec<u8> {
    match kind {
        Kind::Load => {
            let init = t.init_online(c, 0x00, p2, index, 777).unwrap();
            t.credit_apdu(index, p2, 777, &init, Tamper::default())
        }
        Kind::Purchase => {
            let init = t.init_purchase(c, 0x01, p2, index, 777).unwrap();
            let ty = if p2 == ED { 0x05 } else { 0x06 };
            t.debit_apdu(index, ty, 777, &init, Tamper::default())
        }
    }
}

fn scenario(kind: Kind, index: u8, p2: u8) -> Report {
    // A card with history: funds, a purchase, a load.
    let mut c = standard();
    let mut t = Terminal::standard();
    c.verify_pin(PIN);
    t.load(&mut c, index, p2, 5_000).unwrap();
    t.purchase(&mut c, index, p2, 1_000).unwrap();
    c.power_cycle();
    let base = c.image();

    // Dry run: the new state and the number of program operations.
    let mut c = fresh(&base);
    let old = snapshot(&mut c, p2);
    let mut c = fresh(&base);
    let mut t_dry = t.clone();
    let apdu = prepare(&mut c, &mut t_dry, kind, index, p2);
    let p0 = c.programs();
    let (rsp, sw) = c.raw(&apdu);
    assert_eq!(sw, 0x9000);
    let programs = c.programs() - p0;
    let new = snapshot(&mut c, p2);
    assert_ne!(old, new);
    let (ty, atc_after) = match kind {
        Kind::Load => (p2, new.online_atc),
        Kind::Purchase => (if p2 == ED { 0x05 } else { 0x06 }, new.offline_atc),
    };
    let prove_new = t.prove(&mut c, ty, atc_after).unwrap();
    match kind {
        Kind::Load => assert_eq!(rsp, prove_new.1),
        Kind::Purchase => assert_eq!(rsp, [prove_new.1, prove_new.0].concat()),
    }

    let mut report = Report {
        programs,
        runs: 0,
        old: 0,
        new: 0,
    };
    for k in 0..programs {
        for mode in [
            TearMode::Skip,
            TearMode::Complete,
            TearMode::Partial { seed: k },
            TearMode::Partial { seed: k + 1000 },
        ] {
            let mut c = fresh(&base);
            let mut tk = t.clone();
            let apdu_k = prepare(&mut c, &mut tk, kind, index, p2);
            assert_eq!(apdu_k, apdu, "deterministic replay");
            c.arm_tear(k, mode);
            let (_, sw) = c.raw(&apdu_k);
            assert!(
                c.power_lost(),
                "{kind:?} k={k} {mode:?}: the cut did not happen"
            );
            assert_ne!(
                sw, 0x9000,
                "{kind:?} k={k} {mode:?}: success answered after a cut"
            );
            c.power_cycle();
            c.select_adf();
            assert_eq!(c.verify_pin(PIN), 0x9000);
            let s = snapshot(&mut c, p2);
            report.runs += 1;
            if s == old {
                report.old += 1;
                assert_eq!(t.prove(&mut c, ty, atc_after), Err(0x9406));
            } else if s == new {
                report.new += 1;
                // The answer was lost, the transaction happened: the prove recovers it.
                assert_eq!(t.prove(&mut c, ty, atc_after), Ok(prove_new));
            } else {
                panic!("{kind:?} idx {index} k={k} {mode:?}: torn state\nold {old:?}\nnew {new:?}\ngot {s:?}");
            }
            // The card transacts again.
            tk.load(&mut c, index, p2, 1).unwrap();
            tk.purchase(&mut c, index, p2, 1).unwrap();
        }
    }
    assert!(report.old > 0 && report.new > 0, "both outcomes reached");
    report
}

fn print(name: &str, r: &Report) {
    eprintln!(
        "{name}: {} program operations, {} cuts: {} old, {} new, 0 torn",
        r.programs, r.runs, r.old, r.new
    );
}

#[test]
fn tearing_a_purchase_without_try_counter() {
    let r = scenario(Kind::Purchase, 4, EP);
    print("purchase EP, key 04 (no try counter)", &r);
}

#[test]
fn tearing_a_purchase_with_try_counter() {
    let r = scenario(Kind::Purchase, 1, ED);
    print("purchase ED, key 01 (try counter)", &r);
}

#[test]
fn tearing_a_load_without_try_counter() {
    let r = scenario(Kind::Load, 4, ED);
    print("load ED, key 04 (no try counter)", &r);
}

#[test]
fn tearing_a_load_with_try_counter() {
    let r = scenario(Kind::Load, 2, EP);
    print("load EP, key 02 SM4 (try counter)", &r);
}

/// Page programs per command (the figures `docs/e-purse.md` quotes).
#[test]
fn program_operations_per_transaction() {
    let mut c = standard();
    let mut t = Terminal::standard();
    c.verify_pin(PIN);
    t.load(&mut c, 4, EP, 5_000).unwrap();
    t.load(&mut c, 1, EP, 5_000).unwrap();
    let measure = |c: &mut Card, f: &mut dyn FnMut(&mut Card)| {
        let p0 = c.programs();
        f(c);
        c.programs() - p0
    };
    let purchase_plain = measure(&mut c, &mut |c| {
        t.purchase(c, 4, EP, 10).unwrap();
    });
    let load_plain = measure(&mut c, &mut |c| {
        t.load(c, 4, EP, 10).unwrap();
    });
    let purchase_tries = measure(&mut c, &mut |c| {
        t.purchase(c, 1, EP, 10).unwrap();
    });
    let load_tries = measure(&mut c, &mut |c| {
        t.load(c, 1, EP, 10).unwrap();
    });
    let balance = measure(&mut c, &mut |c| {
        c.balance(EP).unwrap();
    });
    eprintln!(
        "programs: purchase {purchase_plain} (key without try counter) / {purchase_tries} (with); \
         load {load_plain} / {load_tries}; GET BALANCE {balance}"
    );
    assert_eq!(balance, 0);
    assert!(
        purchase_plain <= 6,
        "purchase costs {purchase_plain} programs"
    );
    assert!(load_plain <= 6, "load costs {load_plain} programs");
}
