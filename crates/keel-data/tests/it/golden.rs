//! fastavro decides conformance: every case of `test_data/avro_values.json`
//! (written by `golden/avro_values.py`) is one schema and one JSON-lines
//! line, read through Keel's JSON reader with that schema, and Keel must
//! make the case's decision: the reference's, or Keel's documented own where
//! the case says why.

use std::path::Path;

use keel_data::{AvroSchema, ReadOptions, open};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Golden {
    fastavro: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    schema: Value,
    value: Value,
    fastavro: String,
    keel: String,
    why: Option<String>,
}

/// Keel's decision on one case: "accept", "reject" or "invalid schema", and
/// what it said.
fn decide(case: &Case, dir: &Path, n: usize) -> (String, String) {
    let schema = match AvroSchema::parse(&case.schema.to_string(), "case.avsc") {
        Ok(s) => s,
        Err(e) => return ("invalid schema".into(), e.to_string()),
    };
    let path = dir.join(format!("case{n}.jsonl"));
    if let Err(e) = std::fs::write(&path, format!("{}\n", case.value)) {
        return ("error".into(), e.to_string());
    }
    let opts = ReadOptions {
        schema: Some(schema),
        ..ReadOptions::default()
    };
    // A required field that no line has fails the whole file: for a file of
    // one line, that is the line's rejection.
    let chunks = match open(&path, &opts).and_then(|c| c.collect::<Result<Vec<_>, _>>()) {
        Ok(c) => c,
        Err(e) => return ("reject".into(), e.to_string()),
    };
    let reasons: Vec<String> = chunks
        .iter()
        .flat_map(|c| c.rejected.iter().map(|r| r.reason.clone()))
        .collect();
    if reasons.is_empty() {
        let rows: usize = chunks.iter().map(|c| c.batch.num_rows()).sum();
        ("accept".into(), format!("{rows} row(s)"))
    } else {
        ("reject".into(), reasons.join("; "))
    }
}

#[test]
fn keel_decides_as_fastavro_does() {
    let text = include_str!("../../test_data/avro_values.json");
    let golden: Golden = serde_json::from_str(text).unwrap();
    assert!(golden.cases.len() > 80, "the golden file lost its cases");
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    let mut differ = 0;
    for (n, case) in golden.cases.iter().enumerate() {
        assert_eq!(
            case.why.is_some(),
            case.keel != case.fastavro,
            "{}: a case says why exactly when Keel decides differently",
            case.name
        );
        differ += usize::from(case.why.is_some());
        let (got, said) = decide(case, dir.path(), n);
        if got != case.keel {
            wrong.push(format!(
                "{}: Keel decided {got} ({said}), want {} (fastavro {} {}: {})",
                case.name,
                case.keel,
                golden.fastavro,
                case.fastavro,
                case.why.as_deref().unwrap_or("Keel agrees")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        differ < golden.cases.len() / 4,
        "most cases follow fastavro"
    );
}
