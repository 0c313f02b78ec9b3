//! Schemas that are not one record: bare values, lists of records and lists
//! of values in JSON lines and JSON arrays, value columns in CSV, and how
//! record numbers count.

use serde_json::json;

use super::{read, rows};
use crate::Chunk;

fn rejects(chunks: &[Chunk]) -> Vec<(u64, Option<u64>, Option<&str>, &str)> {
    chunks
        .iter()
        .flat_map(|c| c.rejected.iter())
        .map(|r| (r.record, r.line, r.field.as_deref(), r.reason.as_str()))
        .collect()
}

fn read_all(name: &str, content: &str, schema: &str) -> (Vec<Chunk>, tempfile::TempDir) {
    read(name, content.as_bytes(), Some(schema), 100).unwrap()
}

#[test]
fn bare_values_fill_the_value_column() {
    let (chunks, _dir) = read_all(
        "scores.jsonl",
        "0.73\n\"x\"\n{\"score\": 0.5}\nnull\n[1]\n2\n",
        r#"{"type": "double", "name": "score"}"#,
    );
    assert_eq!(chunks[0].records_read, 6);
    assert_eq!(
        rows(&chunks),
        [
            json!({"score": 0.73}),
            json!({"score": 0.5}),
            json!({"score": 2.0})
        ]
    );
    assert_eq!(
        rejects(&chunks),
        [
            (
                2,
                Some(2),
                Some("score"),
                "field 'score': expected double, found \"x\""
            ),
            (
                4,
                Some(4),
                Some("score"),
                "field 'score' is required but missing"
            ),
            (
                5,
                Some(5),
                Some("score"),
                "field 'score': expected double, found [1]"
            ),
        ]
    );
    assert_eq!(chunks[0].rejected[0].data, Some(json!("x")));
}

#[test]
fn objects_are_values_when_the_value_can_be_an_object() {
    let (chunks, _dir) = read_all(
        "maps.jsonl",
        "{\"a\": 1}\n{\"a\": \"x\"}\n",
        r#"{"type": "map", "values": "long"}"#,
    );
    assert_eq!(rows(&chunks), [json!({"prediction": "{\"a\":1}"})]);
    assert_eq!(
        rejects(&chunks),
        [(
            2,
            Some(2),
            Some("prediction"),
            "field 'prediction': expected map of long, found {\"a\":\"x\"}: key 'a': expected \
             long, found \"x\""
        )]
    );
}

const SCORES: &str = r#"{"type": "array", "items": {"type": "record", "name": "score",
    "fields": [{"name": "label", "type": "string"}, {"name": "probability", "type": "double"}]}}"#;

#[test]
fn lists_of_records_are_one_row_per_item() {
    let jsonl = "[{\"label\": \"a\", \"probability\": 0.2}, {\"label\": \"b\", \"probability\": 0.8}]\n\
                 []\n\
                 {\"label\": \"c\", \"probability\": 0.5}\n\
                 [{\"label\": \"d\"}, 3]\n\
                 \"x\"\n\
                 [{\"label\": \"e\", \"probability\": 1}]\n";
    let (chunks, _dir) = read_all("lists.jsonl", jsonl, SCORES);
    let labels: Vec<_> = rows(&chunks).iter().map(|r| r["label"].clone()).collect();
    assert_eq!(labels, ["a", "b", "c", "e"]);
    assert_eq!((chunks[0].first_record, chunks[0].records_read), (1, 7));
    assert_eq!(
        rejects(&chunks),
        [
            (
                4,
                Some(4),
                Some("probability"),
                "field 'probability' is required but missing"
            ),
            (
                5,
                Some(4),
                None,
                "item 2 of line 4 is a number, not a record; write records as objects, one per \
                 line or as an array of them such as [{\"a\": 1}, {\"a\": 2}]"
            ),
            (
                6,
                Some(5),
                None,
                "line 5 is a string, not a record; write records as objects, one per line or as \
                 an array of them such as [{\"a\": 1}, {\"a\": 2}]"
            ),
        ]
    );
    assert_eq!(chunks[0].rejected[0].data, Some(json!({"label": "d"})));
    assert_eq!(chunks[0].rejected[1].data, Some(json!(3)));
}

#[test]
fn lists_of_values_and_json_arrays() {
    let (chunks, _dir) = read_all(
        "counts.jsonl",
        "[1, 2, 3]\n4\n[5, \"x\"]\n",
        r#"{"type": "array", "items": "long"}"#,
    );
    let got: Vec<_> = rows(&chunks)
        .iter()
        .map(|r| r["prediction"].clone())
        .collect();
    assert_eq!(got, [1, 2, 3, 4, 5]);
    assert_eq!(
        rejects(&chunks),
        [(
            6,
            Some(3),
            Some("prediction"),
            "field 'prediction': expected long, found \"x\""
        )]
    );

    // A JSON array file holds one value per item.
    let (chunks, _dir) = read_all("p.json", "[0.1, 0.2, \"x\"]", r#"["null", "double"]"#);
    assert_eq!(
        rows(&chunks),
        [json!({"prediction": 0.1}), json!({"prediction": 0.2})]
    );
    assert_eq!(
        rejects(&chunks),
        [(
            3,
            None,
            Some("prediction"),
            "field 'prediction': expected double, found \"x\""
        )]
    );
}

#[test]
fn csv_and_renamed_value_columns() {
    let (chunks, _dir) = read_all("p.csv", "prediction\n0.5\nabc\n", r#""double""#);
    assert_eq!(rows(&chunks), [json!({"prediction": 0.5})]);
    assert_eq!(rejects(&chunks)[0].2, Some("prediction"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("churn.jsonl");
    std::fs::write(&path, "0.5\n").unwrap();
    let schema = crate::AvroSchema::parse(r#""double""#, "out.avsc")
        .unwrap()
        .with_value_column("churn");
    let opts = crate::ReadOptions {
        schema: Some(schema),
        ..crate::ReadOptions::default()
    };
    let chunks: Vec<Chunk> = crate::open(&path, &opts)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    assert_eq!(rows(&chunks), [json!({"churn": 0.5})]);
}
