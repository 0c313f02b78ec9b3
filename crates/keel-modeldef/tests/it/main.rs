//! End-to-end tests of `inspect` and `materialize` on real model directories
//! built in temp dirs.
//!
//! `table` holds the directories that are a fixture and an expected
//! definition or error; `realistic` a full model directory, its content hash
//! and its materialization; `documented` the example of docs/model-authoring.md;
//! `mlflow` the MLflow models saved by a real MLflow.

mod documented;
mod mlflow;
mod realistic;
mod table;

use std::fs;
use std::io::Write;
use std::path::Path;

/// Writes `contents` to `dir/rel`, creating the directories on the way.
fn write(dir: &Path, rel: &str, contents: &[u8]) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// Writes a zip archive at `path` holding one small CSV file named `entry`.
fn small_zip(path: &Path, entry: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = zip::ZipWriter::new(fs::File::create(path).unwrap());
    w.start_file(entry, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"lookup,table\n").unwrap();
    w.finish().unwrap();
}
