//! Exhaustive tear tests: every program operation of a scenario is cut in every mode, then recovery must give
//! exactly the state before or after the interrupted step, never a mix; and a second cut during that
//! recovery must not change the outcome.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use cos_nvm::{MemNvm, MountError, NvmError, Store, TearMode};

const MODES: [TearMode; 5] = [
    TearMode::Skip,
    TearMode::Complete,
    TearMode::Partial { seed: 1 },
    TearMode::Partial { seed: 0xDEAD_BEEF },
    TearMode::Partial { seed: 42 },
];

fn bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(salt) | 1)
        .collect()
}

/// Statistics of one exhaustive run, to check the scenario exercises what it claims.
#[derive(Debug, Default)]
struct Stats {
    cuts: usize,
    recovered_old: usize,
    recovered_new: usize,
    second_cuts: usize,
}

fn exhaustive<const C: usize>(ps: usize, journal_pages: u16, steps: &[Step]) -> Stats {
    let golden = Store::format(MemNvm::<C>::new(ps), journal_pages, KEY)
        .unwrap()
        .into_nvm()
        .as_bytes()
        .to_vec();
    let r = reference::<C>(&golden, ps, steps);
    let mut stats = Stats::default();
    for k in 0..r.programs {
        for mode in MODES {
            stats.cuts += 1;
            let what = format!("cut at program {k} ({mode:?})");
            let (i, torn) = run_torn::<C>(&golden, ps, steps, k, mode);
            let torn_image = torn.as_bytes().to_vec();
            let programs_before = torn.programs();

            let store = mount(torn);
            let got = data(&store);
            assert_old_or_new(&got, &r, steps, i, &what);
            let resume = resume_index(&got, &r, steps, i);
            if resume == i {
                stats.recovered_old += 1;
            } else {
                stats.recovered_new += 1;
            }

            // Recovery is idempotent: a second mount programs nothing and sees the same data.
            let nvm = store.into_nvm();
            let programs = nvm.programs();
            let mut store = mount(nvm);
            assert_eq!(
                store.nvm().programs(),
                programs,
                "{what}: second recovery programmed"
            );
            assert_eq!(data(&store), got);

            // The store keeps working from where recovery left it: finish the scenario, remount, compare.
            for step in &steps[resume..] {
                run_step(&mut store, step).unwrap();
            }
            assert_eq!(
                &data(&store),
                r.states.last().unwrap(),
                "{what}: finishing the scenario after recovery"
            );
            let store = mount(store.into_nvm());
            assert_eq!(
                &data(&store),
                r.states.last().unwrap(),
                "{what}: remount after finishing"
            );

            // A second cut during recovery, at every program recovery issues, in every mode.
            let recovery_programs = programs - programs_before;
            for j in 0..recovery_programs {
                for mode2 in MODES {
                    stats.second_cuts += 1;
                    let mut nvm = MemNvm::<C>::from_bytes(ps, &torn_image);
                    nvm.arm_tear(j, mode2);
                    let mut nvm = match Store::mount(nvm) {
                        Err((MountError::Nvm(NvmError::PowerLost), nvm)) => nvm,
                        Err((e, _)) => panic!("{what}, then cut {j} in recovery: {e:?}"),
                        Ok(_) => panic!("{what}, then cut {j} in recovery: the cut never fired"),
                    };
                    nvm.power_cycle();
                    let again = data(&mount(nvm));
                    assert_eq!(
                        again, got,
                        "{what}, then cut {j} ({mode2:?}) during recovery"
                    );
                }
            }
        }
    }
    eprintln!(
        "{} bytes, {ps}-byte pages, {journal_pages} journal pages: {} programs, {stats:?}",
        C, r.programs
    );
    stats
}

/// A purse-like scenario on 64-byte pages with a 512-byte journal: small and large transactions, same and
/// different pages, page-crossing writes, aborted, empty and no-op transactions, a scrub, and enough
/// journal traffic to wrap around it several times.
fn purse_scenario() -> Vec<Step> {
    let mut steps = vec![
        // Balance, counter and a log record in three different pages.
        tx(&[
            (0, &[0, 0, 0x27, 0x10]),
            (64, &[0, 1]),
            (200, &bytes(23, 1)),
        ]),
        // Same pages again, plus a write crossing a page boundary and overlapping writes in one page.
        tx(&[
            (0, &[0, 0, 0x26, 0xAC]),
            (64, &[0, 2]),
            (120, &bytes(20, 2)),
            (2, &[9]),
            (1, &[8, 7]),
        ]),
        // A large transaction: 200 bytes over four pages (record 238 bytes, close to the 242 maximum).
        tx(&[(1000, &bytes(200, 3))]),
        aborted(&[(0, &[1, 1, 1, 1]), (3000, &[5; 30])]),
        tx(&[]),
        tx(&[(64, &[0, 2])]), // changes nothing: zero programs
        // Two writes at both ends of one page: the entry spans the page, gap included.
        tx(&[(1216, &[1]), (1279, &[2])]),
        // A purse state and a log record sharing a page with unchanged bytes between them, plus a
        // record elsewhere: logged as separate entries when that saves journal pages.
        tx(&[(0, &[7, 7, 7, 7]), (40, &bytes(24, 4)), (150, &bytes(8, 5))]),
        tx(&[(0, &[6, 6, 6, 6]), (40, &bytes(24, 6)), (150, &bytes(8, 7))]),
        // Scrubbing what the newest record wrote: the record must be retired first, or a replay after the
        // next cut would write it back.
        Step::Scrub {
            addr: 1216,
            len: 64,
            byte: 0,
        },
        Step::Scrub {
            addr: 1000,
            len: 100,
            byte: 0,
        },
    ];
    for n in 0..8u8 {
        let base = u32::from(n) * 150;
        steps.push(tx(&[
            (base, &bytes(10 + usize::from(n) * 9, n)),
            (3000 + u32::from(n), &[n; 4]),
            (64, &[0, 3 + n]),
        ]));
    }
    // The scrubbed range is reused by a later transaction (CREATE FILE pattern).
    steps.push(Step::Scrub {
        addr: 1216,
        len: 64,
        byte: 0,
    });
    steps.push(tx(&[(1216, &bytes(64, 9))]));
    steps.push(Step::Scrub {
        addr: 1240,
        len: 10,
        byte: 0xEE,
    });
    steps.push(tx(&[(0, &[0, 0, 0, 1])]));
    steps
}

#[test]
fn every_cut_in_a_purse_scenario_gives_old_or_new() {
    let stats = exhaustive::<4096>(64, 8, &purse_scenario());
    assert!(stats.cuts > 300, "{stats:?}");
    assert!(
        stats.recovered_old > 0 && stats.recovered_new > 0 && stats.second_cuts > 0,
        "{stats:?}"
    );
}

/// Many small transactions through the smallest journal (2 pages of 32 bytes: records of at most 18 bytes
/// of payload), so records wrap across the journal end all the time.
#[test]
fn every_cut_with_a_tiny_wrapping_journal_gives_old_or_new() {
    let mut steps = Vec::new();
    for n in 0..12u8 {
        let a = u32::from(n) * 13 % 200;
        steps.push(tx(&[(a, &[n, n.wrapping_mul(3), 0xA5])]));
        steps.push(tx(&[(31, &[n | 0x80, n])])); // crosses a page boundary: 14 bytes of payload
        steps.push(tx(&[(300, &[n; 4]), (302, &[n, 1])]));
    }
    // Refused for capacity (25 bytes of payload), so aborted: costs nothing, changes nothing.
    steps.push(tx(&[(31, &[1, 2]), (300, &[3; 5])]));
    let stats = exhaustive::<1024>(32, 2, &steps);
    assert!(stats.cuts > 300 && stats.recovered_new > 0, "{stats:?}");
}

/// 256-byte pages: one home program can cover a large span.
#[test]
fn every_cut_with_large_pages_gives_old_or_new() {
    let steps = vec![
        tx(&[(0, &bytes(250, 1)), (300, &[1; 8])]),
        tx(&[(5, &[7]), (250, &[3; 12])]),
        tx(&[(0, &bytes(256, 2)), (256, &bytes(256, 3))]),
        tx(&[(100, &[0; 100])]),
    ];
    let stats = exhaustive::<8192>(256, 4, &steps);
    assert!(stats.cuts > 30, "{stats:?}");
}
