//! The `json_reader` fuzz target: feeds libFuzzer's input to `keel_fuzz::json_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::json_reader(data));
