//! Model-based property tests: random transactions with a random power cut (and a random second cut during
//! recovery) against a trivially correct model; and mounting arbitrary images never panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use cos_nvm::{MemNvm, MountError, NvmError, Storage, Store, TearMode};
use proptest::prelude::*;

const PS: usize = 32;
const JP: u16 = 8; // 256-byte journal: transactions of up to 114 payload bytes
const CAP: usize = 2048;
type Chip = MemNvm<CAP>;
const DATA_LEN: u32 = (CAP - 9 * PS) as u32;

fn golden() -> Vec<u8> {
    Store::format(Chip::new(PS), JP, KEY)
        .unwrap()
        .into_nvm()
        .as_bytes()
        .to_vec()
}

fn write() -> impl Strategy<Value = (u32, Vec<u8>)> {
    // Half the writes land in the first few pages, so transactions often share pages.
    (
        prop_oneof![0u32..160, 0u32..DATA_LEN],
        prop::collection::vec(any::<u8>(), 1..40),
    )
        .prop_map(|(a, d)| (a.min(DATA_LEN - d.len() as u32), d))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (prop::collection::vec(write(), 0..5), prop::bool::weighted(0.15))
            .prop_map(|(writes, abort)| Step::Tx { writes, abort }),
        1 => (0u32..DATA_LEN, 1u32..80, any::<u8>())
            .prop_map(|(addr, len, byte)| Step::Scrub { addr, len: len.min(DATA_LEN - addr), byte }),
    ]
}

fn mode() -> impl Strategy<Value = TearMode> {
    prop_oneof![
        Just(TearMode::Skip),
        Just(TearMode::Complete),
        any::<u64>().prop_map(|seed| TearMode::Partial { seed }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_random_cut_gives_the_state_before_or_after_the_interrupted_step(
        steps in prop::collection::vec(step(), 1..10),
        cut in any::<u64>(),
        mode in mode(),
        second in proptest::option::of((any::<u64>(), mode())),
    ) {
        let golden = golden();
        let r = reference::<CAP>(&golden, PS, &steps);
        prop_assume!(r.programs > 0);
        let (i, torn) = run_torn::<CAP>(&golden, PS, &steps, cut % r.programs, mode);
        let torn_image = torn.as_bytes().to_vec();
        let before = torn.programs();
        let store = mount(torn);
        let got = data(&store);
        // Everything committed before step i is there, and step i is all or nothing.
        assert_old_or_new(&got, &r, &steps, i, "random cut");
        let recovery_programs = store.nvm().programs() - before;

        if let (Some((j, mode2)), true) = (second, recovery_programs > 0) {
            // Cut again inside recovery; the next recovery must reach the same state.
            let mut nvm = Chip::from_bytes(PS, &torn_image);
            nvm.arm_tear(j % recovery_programs, mode2);
            let mut nvm = match Store::mount(nvm) {
                Err((MountError::Nvm(NvmError::PowerLost), nvm)) => nvm,
                Err((e, _)) => panic!("cut during recovery: {e:?}"),
                Ok(_) => panic!("the cut during recovery never fired"),
            };
            nvm.power_cycle();
            prop_assert_eq!(data(&mount(nvm)), got);
        }
    }

    #[test]
    fn mount_never_panics_on_arbitrary_bytes(
        image in prop::collection::vec(any::<u8>(), 0..CAP),
        ps in prop_oneof![Just(32usize), Just(64), Just(256)],
    ) {
        let _ = Store::mount(Chip::from_bytes(ps, &image));
    }

    /// A valid header over an arbitrary journal (with random, sometimes CRC-correct, records planted in it)
    /// and arbitrary data: mount succeeds or says Corrupt, and a mounted store works correctly.
    #[test]
    fn mount_of_a_valid_header_over_garbage_is_safe(
        noise in prop::collection::vec(any::<u8>(), CAP - PS),
        planted in prop::collection::vec(
            (0usize..64, any::<u32>(), any::<bool>(), prop::collection::vec((0u32..DATA_LEN + 40, prop::collection::vec(any::<u8>(), 0..40)), 0..4), any::<u16>(), any::<bool>()),
            0..6,
        ),
        value in any::<[u8; 8]>(),
    ) {
        let mut image = golden();
        image[PS..].copy_from_slice(&noise);
        for (slot, seq, small_seq, entries, len, honest_len) in &planted {
            let seq = if *small_seq { seq % 8 } else { *seq };
            let rec = if *honest_len {
                let e: Vec<(u32, &[u8])> = entries.iter().map(|(a, d)| (*a, &d[..])).collect();
                record(seq, &e)
            } else {
                raw_record(seq, *len, &entries.iter().flat_map(|(_, d)| d.clone()).collect::<Vec<u8>>())
            };
            put_journal(&mut image, PS, JP as usize, slot * 4, &rec);
        }
        match Store::mount(Chip::from_bytes(PS, &image)) {
            Err((e, _)) => prop_assert_eq!(e, MountError::Corrupt),
            Ok(mut store) => {
                let before = data(&store);
                store.begin().unwrap();
                store.write(100, &value).unwrap();
                store.commit().unwrap();
                let store = mount(store.into_nvm());
                let mut expect = before;
                expect[100..108].copy_from_slice(&value);
                prop_assert_eq!(data(&store), expect);
            }
        }
    }
}
