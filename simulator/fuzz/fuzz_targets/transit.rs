//! libFuzzer target `transit`: see `cos_sim::fuzzing::transit` (the harness and its oracle).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cos_sim::fuzzing::transit(data));
