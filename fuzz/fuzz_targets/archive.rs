//! The `archive` fuzz target: feeds libFuzzer's input to `keel_fuzz::archive`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::archive(data));
