//! The `avro_schema` fuzz target: feeds libFuzzer's input to `keel_fuzz::avro_schema`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::avro_schema(data));
