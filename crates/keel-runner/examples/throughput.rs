//! Measures the per-record scoring path: 1M rows of 10 f64 columns through
//! `def score(r): return {"y": r["c0"]*2 + r["c1"]}` on 2 workers, printing
//! records per second. Run with
//! `cargo run --release -p keel-runner --example throughput`.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use keel_runner::{Control, Functions, WorkerSpec, run_scoring};

const ROWS: usize = 1_000_000;
const BATCH: usize = 20_000;
const WORKERS: usize = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(python) = keel_testkit::python() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("model.py"),
        "def score(r):\n    return {\"y\": r[\"c0\"] * 2 + r[\"c1\"]}\n",
    )?;
    let schema = Arc::new(Schema::new(
        (0..10)
            .map(|i| Field::new(format!("c{i}"), DataType::Float64, false))
            .collect::<Vec<_>>(),
    ));
    let batches = (0..ROWS / BATCH)
        .map(|b| {
            let cols = (0..10)
                .map(|c| {
                    let start = (b * BATCH) as f64;
                    Arc::new(Float64Array::from_iter_values(
                        (0..BATCH).map(|i| start + i as f64 + c as f64 / 10.0),
                    )) as ArrayRef
                })
                .collect();
            RecordBatch::try_new(schema.clone(), cols)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spec = WorkerSpec {
        python,
        workdir: dir.path().to_path_buf(),
        module: "model".into(),
        functions: Functions {
            score: Some("score".into()),
            ..Functions::default()
        },
        env: Vec::new(),
        job: serde_json::Value::Null,
        output_column: None,
        isolation: keel_runner::Isolation::default(),
        warm: None,
    };
    let sink = |w: usize, line: &str| eprintln!("[worker {w}] {line}");
    let mut checksum = 0.0;
    let mut first_output: Option<(Instant, u64)> = None;
    let started = Instant::now();
    let stats = run_scoring(
        &spec,
        WORKERS,
        &mut batches.into_iter(),
        &mut |_, out| {
            if first_output.is_none() {
                let rows = out.iter().map(|b| b.num_rows() as u64).sum();
                first_output = Some((Instant::now(), rows));
            }
            for b in &out {
                if let Some(y) = b.column(0).as_any().downcast_ref::<Float64Array>() {
                    checksum += y.values().iter().sum::<f64>();
                }
            }
            Ok(())
        },
        &sink,
        &Control::new(),
    )?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} records in, {} out, {} batches, {WORKERS} workers: {secs:.2} s, {:.0} records/s (checksum {checksum:e})",
        stats.records_in,
        stats.records_out,
        stats.batches,
        stats.records_in as f64 / secs
    );
    // Without the workers' start-up (Python, pyarrow and the model's import).
    if let Some((at, rows)) = first_output {
        let steady = at.elapsed().as_secs_f64();
        println!(
            "after the first output: {:.0} records/s",
            (stats.records_out - rows) as f64 / steady
        );
    }
    Ok(())
}
