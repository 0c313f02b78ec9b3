//! The `smart_tags` fuzz target: feeds libFuzzer's input to `keel_fuzz::smart_tags`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::smart_tags(data));
