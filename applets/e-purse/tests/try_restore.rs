//! The try counter of a MAC key across power cuts, now that its restore rides in the purse's own
//! commit (`Cx::verify_with_key`, docs/performance.md).
//!
//! For a load with a try-limited key: cut the power at every program operation of CREDIT FOR LOAD,
//! in every tear mode, power up and check that
//! * the decrement is committed before the MAC comparison: the counter is never above its maximum
//!   and, while the purse is old, it is either untouched (the cut came before the decrement was
//!   durable) or one try down (the cut came after it);
//! * the purse state is all old or all new, and a **new** state always comes with the counter
//!   restored (they are one transaction);
//! * after every cut the card transacts again, and a good load puts the counter back to full.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;
use common::*;
use cos_core::fs;
use cos_core::keys::KeyType;
use cos_core::keystore;
use cos_core::nvm::TearMode;
use e_purse::EPurse;

const EP: u8 = 0x02;
/// Key index 02: SM4, with a try counter (common::standard_sets).
const INDEX: u8 = 0x02;

/// `(maximum, remaining)` of the load key of `INDEX`.
fn load_key_tries(c: &mut Card) -> (u8, u8) {
    let s = c.kernel().store();
    let h = fs::read_header(s).unwrap();
    let aid = e_purse::DEFAULT_AID;
    let (adf, _) = fs::find(s, h.slots, 1, |_, e| {
        e.kind.is_df() && e.name.get(..usize::from(e.name_len)) == Some(aid.as_bytes())
    })
    .unwrap()
    .unwrap();
    let (_, kf) = fs::key_file(s, h.slots, adf).unwrap().unwrap();
    let (_, k) = keystore::find(s, &kf, &[KeyType::Load], INDEX)
        .unwrap()
        .unwrap();
    (k.tries.max(), k.tries.remaining())
}

fn balance_and_atc(c: &mut Card) -> (u32, u16) {
    let (d, sw) = c.raw(&[
        0x80, 0x50, 0x00, EP, 0x0B, 0x04, 0, 0, 0, 1, 0, 0x11, 0x22, 0x33, 0x44, 0x55,
    ]);
    assert_eq!(sw, 0x9000);
    (
        u32::from_be_bytes(d[0..4].try_into().unwrap()),
        u16::from_be_bytes([d[4], d[5]]),
    )
}

fn fresh(image: &[u8]) -> Card {
    let mut c = Card::from_image(image, seeded(), EPurse::default());
    c.select_adf();
    c
}

#[test]
fn the_restore_joins_the_commit_and_a_cut_never_refunds_a_try() {
    let mut c = standard();
    let mut t = Terminal::standard();
    t.load(&mut c, INDEX, EP, 5_000).unwrap();
    c.power_cycle();
    let base = c.image();

    let mut c = fresh(&base);
    let (max, full) = load_key_tries(&mut c);
    assert!(
        max > 0 && full == max,
        "a try-limited key, full: {max} {full}"
    );
    let old = balance_and_atc(&mut c);

    // Dry run: programs of CREDIT FOR LOAD, and the new state.
    let mut c = fresh(&base);
    let td = t.clone();
    let init = td.init_online(&mut c, 0x00, EP, INDEX, 777).unwrap();
    let credit = td.credit_apdu(INDEX, EP, 777, &init, Tamper::default());
    let p0 = c.programs();
    assert_eq!(c.raw(&credit).1, 0x9000);
    let programs = c.programs() - p0;
    let new = balance_and_atc(&mut c);
    assert_eq!(load_key_tries(&mut c).1, max, "restored after a good MAC");
    // The decrement is a commit of its own (before the comparison); the restore is not.
    assert!(programs >= 3, "{programs} programs");

    let (mut saw_old_consumed, mut saw_new) = (false, false);
    for k in 0..programs {
        for mode in [
            TearMode::Skip,
            TearMode::Complete,
            TearMode::Partial { seed: k },
            TearMode::Partial { seed: k + 500 },
        ] {
            let mut c = fresh(&base);
            let mut tk = t.clone();
            let init = tk.init_online(&mut c, 0x00, EP, INDEX, 777).unwrap();
            let apdu = tk.credit_apdu(INDEX, EP, 777, &init, Tamper::default());
            assert_eq!(apdu, credit, "deterministic replay");
            c.arm_tear(k, mode);
            let (_, sw) = c.raw(&apdu);
            assert!(c.power_lost() && sw != 0x9000, "k={k} {mode:?}");
            c.power_cycle();
            c.select_adf();
            let (m, left) = load_key_tries(&mut c);
            assert_eq!(m, max);
            assert!(left <= max, "k={k} {mode:?}: counter above its maximum");
            let state = balance_and_atc(&mut c);
            if state == old {
                assert!(
                    left == max || left == max - 1,
                    "k={k} {mode:?}: old purse, counter {left}/{max}"
                );
                saw_old_consumed |= left == max - 1;
            } else if state == new {
                assert_eq!(left, max, "k={k} {mode:?}: new purse without the restore");
                saw_new = true;
            } else {
                panic!("k={k} {mode:?}: torn purse {state:?} (old {old:?}, new {new:?})");
            }
            // The card transacts again, and a good MAC fills the counter.
            tk.load(&mut c, INDEX, EP, 1).unwrap();
            assert_eq!(load_key_tries(&mut c).1, max, "k={k} {mode:?}");
        }
    }
    assert!(
        saw_old_consumed,
        "a cut after the decrement leaves the try consumed"
    );
    assert!(
        saw_new,
        "a cut after the commit record leaves the load done"
    );
}
