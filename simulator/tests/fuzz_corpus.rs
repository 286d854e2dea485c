//! The fuzz targets on the stable toolchain: every committed corpus and regression input of
//! `simulator/fuzz` goes through the same `cos_sim::fuzzing` function libFuzzer calls, with the
//! same oracle (no panic, no unauthorised state change), plus a fixed set of pseudo-random
//! inputs per target. So the targets build and run in every `cargo test`, and a crash found by a
//! campaign stays fixed once its input is committed under `simulator/fuzz/regressions/<target>/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use cos_sim::fuzzing::TARGETS;
use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file of `dir` (sorted, dot-files skipped).
fn inputs(dir: PathBuf) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Vec<u8>)> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn corpus_and_regressions_replay_through_every_target() {
    let mut total = 0;
    for (name, run) in TARGETS {
        let mut n = 0;
        for sub in ["corpus", "regressions"] {
            for (path, data) in inputs(fuzz_dir().join(sub).join(name)) {
                let r = std::panic::catch_unwind(|| run(&data));
                assert!(r.is_ok(), "{path} fails (target {name})");
                n += 1;
            }
        }
        assert!(n > 0, "target {name} has no committed corpus");
        total += n;
    }
    eprintln!("{total} committed fuzz inputs replayed");
}

/// SplitMix64, for reproducible pseudo-random inputs.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn pseudo_random_inputs_keep_the_oracle() {
    let mut state = 0xC05_F022;
    for (name, run) in TARGETS {
        for i in 0..40 {
            let len = (next(&mut state) % 300) as usize;
            let data: Vec<u8> = (0..len).map(|_| next(&mut state) as u8).collect();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(
                r.is_ok(),
                "target {name}, input {i}: {}",
                hex::encode(&data)
            );
        }
    }
}
