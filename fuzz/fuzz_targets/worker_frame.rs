//! The `worker_frame` fuzz target: feeds libFuzzer's input to `keel_fuzz::worker_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::worker_frame(data));
