//! The `model_ref` fuzz target: feeds libFuzzer's input to `keel_fuzz::model_ref`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::model_ref(data));
