//! The `avro_check` fuzz target: feeds libFuzzer's input to `keel_fuzz::avro_check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::avro_check(data));
