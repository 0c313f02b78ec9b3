//! Integration tests of keel-data: writing files with `OutputFile` and reading
//! them back with `open`, exchanging files with pandas in a real Python, and
//! the conformance decisions fastavro makes (`golden`).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use keel_data::{Chunk, OutputFile, ReadOptions, open, row_to_json, unify};
use keel_types::DataFormat;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn sample(offset: i64) -> Result<RecordBatch, arrow_schema::ArrowError> {
    RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int64Array::from(vec![offset + 1, offset + 2, offset + 3])) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![Some(0.25), None, Some(-1.5)])) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("a, \"b\""), None, Some("ü")])) as ArrayRef,
        ),
        (
            "ok",
            Arc::new(BooleanArray::from(vec![true, false, true])) as ArrayRef,
        ),
    ])
}

fn read_all(path: &Path) -> Result<Vec<Chunk>, keel_data::Error> {
    open(path, &ReadOptions::default())?.collect()
}

fn types(chunk: &Chunk) -> Vec<DataType> {
    chunk
        .batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

fn rows(chunks: &[Chunk]) -> Vec<Value> {
    chunks
        .iter()
        .flat_map(|c| (0..c.batch.num_rows()).map(|r| row_to_json(&c.batch, r)))
        .collect()
}

fn expected_rows() -> Vec<Value> {
    let mut out = Vec::new();
    for offset in [0, 3] {
        out.push(json!({"id": offset + 1, "score": 0.25, "name": "a, \"b\"", "ok": true}));
        out.push(json!({"id": offset + 2, "score": null, "name": null, "ok": false}));
        out.push(json!({"id": offset + 3, "score": -1.5, "name": "ü", "ok": true}));
    }
    out
}

#[test]
fn written_files_read_back_the_same() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (name, format) in [
        ("out.parquet", DataFormat::Parquet),
        ("out.csv", DataFormat::Csv),
        ("out.jsonl", DataFormat::Json),
    ] {
        let path = dir.path().join(name);
        let batches = unify(vec![sample(0)?, sample(3)?])?;
        let mut out = OutputFile::create(&path, format)?;
        for b in &batches {
            out.write(b)?;
        }
        assert_eq!(out.commit()?, 6, "{name}");
        let chunks = read_all(&path)?;
        assert_eq!(
            types(&chunks[0]),
            [
                DataType::Int64,
                DataType::Float64,
                DataType::Utf8,
                DataType::Boolean
            ],
            "{name}"
        );
        assert_eq!(rows(&chunks), expected_rows(), "{name}");
        assert!(chunks.iter().all(|c| c.rejected.is_empty()), "{name}");
    }
    Ok(())
}

/// Runs a Python script with the given arguments and returns its stdout.
fn python(py: &Path, script: &str, args: &[&Path]) -> Result<String, Box<dyn std::error::Error>> {
    let out = Command::new(py).arg("-c").arg(script).args(args).output()?;
    if !out.status.success() {
        return Err(format!("python failed:\n{}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

const PANDAS_WRITE: &str = r#"
import sys
import numpy as np
import pandas as pd
df = pd.DataFrame({
    "i": [1, 2, 3],
    "f": [0.5, np.nan, 2.0],
    "s": ["a", None, "c,d"],
    "b": [True, False, True],
})
df.to_parquet(sys.argv[1], index=False)
df.to_csv(sys.argv[2], index=False)
"#;

const PANDAS_READ: &str = r#"
import json
import sys
import pandas as pd
out = {}
for path in sys.argv[1:]:
    if path.endswith(".parquet"):
        df = pd.read_parquet(path)
    elif path.endswith(".csv"):
        df = pd.read_csv(path)
    else:
        df = pd.read_json(path, lines=True)
    out[path.rsplit(".", 1)[1]] = {
        "dtypes": {c: str(t) for c, t in df.dtypes.items()},
        "rows": json.loads(df.to_json(orient="records")),
    }
print(json.dumps(out))
"#;

#[test]
fn pandas_files_read_and_our_files_read_in_pandas() -> TestResult {
    let Some(py) = keel_testkit::python() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let pq = dir.path().join("pandas.parquet");
    let csv = dir.path().join("pandas.csv");
    python(&py, PANDAS_WRITE, &[&pq, &csv])?;

    let want = vec![
        json!({"i": 1, "f": 0.5, "s": "a", "b": true}),
        json!({"i": 2, "f": null, "s": null, "b": false}),
        json!({"i": 3, "f": 2.0, "s": "c,d", "b": true}),
    ];
    let want_types = [
        DataType::Int64,
        DataType::Float64,
        DataType::Utf8,
        DataType::Boolean,
    ];
    for path in [&pq, &csv] {
        let chunks = read_all(path)?;
        assert_eq!(types(&chunks[0]), want_types, "{}", path.display());
        assert_eq!(rows(&chunks), want, "{}", path.display());
    }

    // Now the other way: our writer's files, read by pandas.
    let batches = unify(vec![sample(0)?, sample(3)?])?;
    let mut paths = Vec::new();
    for (name, format) in [
        ("ours.parquet", DataFormat::Parquet),
        ("ours.csv", DataFormat::Csv),
        ("ours.jsonl", DataFormat::Json),
    ] {
        let path = dir.path().join(name);
        let mut out = OutputFile::create(&path, format)?;
        for b in &batches {
            out.write(b)?;
        }
        out.commit()?;
        paths.push(path);
    }
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let seen: Value = serde_json::from_str(&python(&py, PANDAS_READ, &refs)?)?;
    for ext in ["parquet", "csv", "jsonl"] {
        let got = &seen[ext];
        assert_eq!(got["dtypes"]["id"], "int64", "{ext}: {got}");
        assert_eq!(got["dtypes"]["score"], "float64", "{ext}: {got}");
        assert_eq!(got["dtypes"]["ok"], "bool", "{ext}: {got}");
        assert_eq!(got["rows"], Value::Array(expected_rows()), "{ext}");
    }
    Ok(())
}

mod golden;

const LOGICAL: &str = r#"{"type": "record", "name": "r", "fields": [
    {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
    {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    {"name": "clock", "type": ["null", {"type": "int", "logicalType": "time-millis"}]},
    {"name": "price", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 4}]},
    {"name": "id", "type": ["null", {"type": "string", "logicalType": "uuid"}]},
    {"name": "mixed", "type": ["null", "int", "string", {"type": "array", "items": "long"}]}]}"#;

#[test]
fn logical_types_survive_every_output_format() -> TestResult {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"day\": \"2024-01-31\", \"at\": \"1969-12-31T23:59:59.999999Z\", \"clock\": 0, \
          \"price\": \"1234567890123456.7891\", \"id\": \"123E4567-E89B-12D3-A456-426614174000\", \
          \"mixed\": \"a, \\\"b\\\"\"}\n\
         {\"day\": null, \"at\": 1706708700123456, \"clock\": \"23:59:59.999\", \"price\": -0.5, \
          \"mixed\": [1, 2]}\n\
         {\"mixed\": 3}\n",
    )?;
    let schema = keel_data::AvroSchema::parse(LOGICAL, "s.avsc")?;
    let opts = ReadOptions {
        schema: Some(schema),
        ..ReadOptions::default()
    };
    let chunks = open(&input, &opts)?.collect::<Result<Vec<_>, _>>()?;
    assert!(chunks[0].rejected.is_empty(), "{:?}", chunks[0].rejected);
    let want = rows(&chunks);
    assert_eq!(want.len(), 3);
    for (name, format) in [
        ("out.parquet", DataFormat::Parquet),
        ("out.csv", DataFormat::Csv),
        ("out.jsonl", DataFormat::Json),
    ] {
        let path = dir.path().join(name);
        let json = opts
            .schema
            .as_ref()
            .map(|s| s.json_columns())
            .unwrap_or_default();
        assert_eq!(json, ["mixed"]);
        let mut out = OutputFile::create(&path, format)?.json_text(json);
        out.write(&chunks[0].batch)?;
        out.commit()?;
        let back = open(&path, &opts)?.collect::<Result<Vec<_>, _>>()?;
        assert!(
            back[0].rejected.is_empty(),
            "{name}: {:?}",
            back[0].rejected
        );
        assert_eq!(back[0].batch.schema(), chunks[0].batch.schema(), "{name}");
        assert_eq!(rows(&back), want, "{name}");
    }
    Ok(())
}
