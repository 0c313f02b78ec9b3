//! Avro logical types reach model code as fastavro gives them to Python:
//! a CSV read by `keel-data` with a schema of dates, times, timestamps,
//! decimals and UUIDs becomes Arrow batches that a real worker hands to the
//! score function as `datetime.date`, `datetime.time`, UTC `datetime`s and
//! `decimal.Decimal`s (per record) or the matching pandas dtypes (per
//! batch), and what the model returns of those types passes the output check.

use keel_data::{AvroSchema, ReadOptions, check_batch, open, row_to_json};
use keel_runner::{Control, Functions, run_scoring};
use serde_json::json;

use crate::{Logs, model, python, spec};

const INPUT_SCHEMA: &str = r#"{"type": "record", "name": "input", "fields": [
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "clock", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}}]}"#;

const OUTPUT_SCHEMA: &str = r#"{"type": "record", "name": "output", "fields": [
    {"name": "seen", "type": "string"},
    {"name": "next_day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "later", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "double_price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}]}"#;

const MODEL: &str = r#"
import datetime

def show(v):
    if isinstance(v, datetime.datetime):
        utc = v.tzinfo is not None and v.utcoffset() == datetime.timedelta(0)
        return f"datetime {v.isoformat()} utc={utc}"
    return f"{type(v).__name__} {v}"

def score(r):
    return {
        "seen": "; ".join(f"{k}: {show(v)}" for k, v in r.items()),
        "next_day": r["day"] + datetime.timedelta(days=1),
        "later": r["at"] + datetime.timedelta(microseconds=5),
        "double_price": r["price"] * 2,
    }

def score_batch(df):
    import pandas as pd
    dtypes = ", ".join(f"{c}={t}" for c, t in df.dtypes.items())
    first = ", ".join(f"{c}={type(df[c].iloc[0]).__name__}" for c in df.columns)
    return pd.DataFrame({"seen": [dtypes + " | " + first] * len(df)})
"#;

#[test]
fn logical_types_reach_python_as_fastavro_gives_them() {
    let Some(py) = python() else { return };
    let dir = model(MODEL);
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "day,at,clock,price,id\n\
         2024-01-31,2024-01-31T13:45:00.5Z,13:45:00.25,12.5,123e4567-e89b-12d3-a456-426614174000\n",
    )
    .unwrap();
    let opts = ReadOptions {
        schema: Some(AvroSchema::parse(INPUT_SCHEMA, "input_schema.avsc").unwrap()),
        ..ReadOptions::default()
    };
    let batches: Vec<_> = open(&csv, &opts)
        .unwrap()
        .map(|c| c.unwrap().batch)
        .collect();
    let output = AvroSchema::parse(OUTPUT_SCHEMA, "output_schema.avsc").unwrap();

    let run = |functions: Functions| {
        let mut outputs = Vec::new();
        let logs = Logs::default();
        run_scoring(
            &spec(&py, dir.path(), functions),
            1,
            &mut batches.clone().into_iter(),
            &mut |_, b| {
                outputs.extend(b);
                Ok(())
            },
            &logs,
            &Control::new(),
        )
        .unwrap_or_else(|f| panic!("{f:?}\n{}", logs.text()));
        outputs
    };

    let per_record = run(Functions {
        score: Some("score".into()),
        ..Functions::default()
    });
    let (checked, rejected) = check_batch(&per_record[0], &output, 1);
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(
        row_to_json(&checked, 0),
        json!({
            "seen": "day: date 2024-01-31; at: datetime 2024-01-31T13:45:00.500000+00:00 utc=True; \
                     clock: time 13:45:00.250000; price: Decimal 12.50; \
                     id: str 123e4567-e89b-12d3-a456-426614174000",
            "next_day": "2024-02-01",
            "later": "2024-01-31T13:45:00.500005Z",
            "double_price": 25.0,
        })
    );

    let per_batch = run(Functions {
        score: Some("score_batch".into()),
        score_batch: true,
        ..Functions::default()
    });
    let seen = row_to_json(&per_batch[0], 0)["seen"].clone();
    let seen = seen.as_str().unwrap_or_default();
    for want in [
        "day=object",
        "at=datetime64[ms, UTC]",
        "price=object",
        "| day=date, at=Timestamp, clock=time, price=Decimal, id=str",
    ] {
        assert!(seen.contains(want), "{want} not in {seen}");
    }
}
