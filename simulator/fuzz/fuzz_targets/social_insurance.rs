//! libFuzzer target `social_insurance`: see `cos_sim::fuzzing::social_insurance` (the harness and its oracle).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cos_sim::fuzzing::social_insurance(data));
