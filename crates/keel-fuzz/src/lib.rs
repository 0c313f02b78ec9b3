//! Fuzz targets for the Keel code that reads hostile input: one function per
//! target, taking the fuzzer's bytes and calling the real Keel entry point.
//!
//! Every target ignores `Err` results: rejecting bad input is the code's job.
//! What must never happen is a panic, a hang, or an allocation beyond the caps
//! the fuzzer runs with (see `docs/fuzzing.md`). The `fuzz/` directory at the
//! repository root wraps each function in a libFuzzer target, and this
//! crate's `it` test replays the saved corpus through the same functions on
//! stable Rust, so CI runs every saved input as a regression test.
//!
//! Where the code under test takes a size limit, the targets pass a small one
//! ([`FRAME_LIMIT`], [`archive_limits`]), so that the limit, not the fuzzer's
//! memory cap, is what stops a large input.

mod data;
mod model;
mod runner;

pub use data::{avro_check, avro_schema, csv_reader, json_reader, parquet_reader};
pub use model::{archive, archive_limits, model_ref, smart_tags};
pub use runner::{FRAME_LIMIT, worker_frame};

/// A fuzz target: takes any bytes, returns nothing, must not panic.
pub type Target = fn(&[u8]);

/// Every target by name; the name is also its `fuzz/fuzz_targets/` file and
/// its `fuzz/corpus/` directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("csv_reader", csv_reader),
    ("json_reader", json_reader),
    ("parquet_reader", parquet_reader),
    ("avro_schema", avro_schema),
    ("avro_check", avro_check),
    ("archive", archive),
    ("smart_tags", smart_tags),
    ("model_ref", model_ref),
    ("worker_frame", worker_frame),
];

/// How many records each chunk of a read covers: small, so that one input of
/// a few kilobytes spans several chunks and the chunk boundaries get fuzzed too.
const BATCH_SIZE: usize = 16;

/// Writes `data` to a new temporary file whose name ends in `suffix`, in a new
/// temporary directory (removed when the returned guard drops).
fn temp_file(data: &[u8], suffix: &str) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join(format!("input{suffix}"));
    std::fs::write(&path, data).ok()?;
    Some((dir, path))
}
