//! libFuzzer target `e_purse`: see `cos_sim::fuzzing::e_purse` (the harness and its oracle).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cos_sim::fuzzing::e_purse(data));
