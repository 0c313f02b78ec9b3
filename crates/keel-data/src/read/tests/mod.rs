//! Tests of the readers: inference, checking against schemas of every
//! shape, logical types, and the file errors of each format.

use super::*;

#[test]
fn format_comes_from_extension_or_option() {
    let p = Path::new("dir/data.JSONL");
    assert_eq!(format_of(p, None).unwrap(), DataFormat::Json);
    assert_eq!(
        format_of(Path::new("x.parquet"), None).unwrap(),
        DataFormat::Parquet
    );
    let err = format_of(Path::new("data.txt"), None).unwrap_err();
    assert_eq!(err.code(), keel_types::Code::InvalidData);
    assert!(err.to_string().contains("data.txt"), "{err}");
    assert!(err.to_string().contains("--format"), "{err}");
    assert_eq!(
        format_of(Path::new("data.txt"), Some(DataFormat::Csv)).unwrap(),
        DataFormat::Csv
    );
}

#[test]
fn missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = open(&dir.path().join("nope.csv"), &ReadOptions::default()) else {
        panic!("opening a missing file should fail");
    };
    assert_eq!(err.code(), keel_types::Code::NotFound);
}

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_schema::DataType;
use serde_json::json;

/// Writes `content` to `name` in a temp dir and reads it all back.
fn read(
    name: &str,
    content: &[u8],
    schema: Option<&str>,
    batch_size: usize,
) -> Result<(Vec<Chunk>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("create", Path::new("tmp"), e))?;
    let path = dir.path().join(name);
    std::fs::write(&path, content).map_err(|e| Error::io("write", &path, e))?;
    let opts = ReadOptions {
        schema: schema
            .map(|s| AvroSchema::parse(s, "input_schema.avsc"))
            .transpose()?,
        batch_size,
        ..ReadOptions::default()
    };
    let chunks = open(&path, &opts)?.collect::<Result<Vec<_>>>()?;
    Ok((chunks, dir))
}

fn types(chunk: &Chunk) -> Vec<(String, DataType)> {
    chunk
        .batch
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect()
}

fn rows(chunks: &[Chunk]) -> Vec<serde_json::Value> {
    chunks
        .iter()
        .flat_map(|c| (0..c.batch.num_rows()).map(|r| crate::row_to_json(&c.batch, r)))
        .collect()
}

const SCHEMA: &str = r#"{"type":"record","name":"input","fields":[
    {"name":"id","type":"int"},
    {"name":"amount","type":"double"},
    {"name":"grade","type":["null",{"type":"enum","name":"G","symbols":["A","B"]}]},
    {"name":"region","type":"string","default":"EU"}]}"#;

#[test]
fn csv_infers_types_over_the_whole_file_in_chunks() {
    let mut csv = String::from("i,f,b,s,e\n");
    for n in 0..25 {
        csv.push_str(&format!("{n},{n}.5,{},name {n},\n", n % 2 == 0));
    }
    // The last row turns i into a float column and b into text.
    csv.push_str("1e3,,maybe,\"quoted, with comma\",\n");
    let (chunks, _dir) = read("data.csv", csv.as_bytes(), None, 10).unwrap();
    assert_eq!(
        chunks
            .iter()
            .map(|c| (c.first_record, c.records_read))
            .collect::<Vec<_>>(),
        [(1, 10), (11, 10), (21, 6)]
    );
    assert_eq!(
        types(&chunks[0]),
        [
            ("i".to_string(), DataType::Float64),
            ("f".to_string(), DataType::Float64),
            ("b".to_string(), DataType::Utf8),
            ("s".to_string(), DataType::Utf8),
            ("e".to_string(), DataType::Utf8),
        ]
    );
    let all = rows(&chunks);
    assert_eq!(all.len(), 26);
    assert_eq!(
        all[3],
        json!({"i": 3.0, "f": 3.5, "b": "false", "s": "name 3", "e": null})
    );
    assert_eq!(all[25]["i"], json!(1000.0));
    assert_eq!(all[25]["f"], json!(null));
    assert_eq!(all[25]["s"], json!("quoted, with comma"));
}

#[test]
fn csv_infers_int_and_bool() {
    let (chunks, _dir) = read("d.csv", b"n,ok\n1,TRUE\n-2,false\n,\n", None, 100).unwrap();
    assert_eq!(
        types(&chunks[0]),
        [
            ("n".to_string(), DataType::Int64),
            ("ok".to_string(), DataType::Boolean)
        ]
    );
    let n = chunks[0].batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(n.iter().collect::<Vec<_>>(), [Some(1), Some(-2), None]);
}

#[test]
fn csv_with_schema_rejects_records_with_lines() {
    let csv = "id,amount,grade,extra\n\
               1,10.5,A,x\n\
               2,abc,B,y\n\
               3,1.0,C,z\n\
               4,2,,w,surplus\n\
               3000000000,1,A,v\n\
               ,5,A,u\n\
               7,7,B,\"two\nlines\"\n\
               8,8,B,t\n";
    let (chunks, _dir) = read("input.csv", csv.as_bytes(), Some(SCHEMA), 1000).unwrap();
    assert_eq!(chunks.len(), 1);
    let c = &chunks[0];
    assert_eq!(c.records_read, 8);
    assert_eq!(
        types(c),
        [
            ("id".to_string(), DataType::Int64),
            ("amount".to_string(), DataType::Float64),
            ("grade".to_string(), DataType::Utf8),
            ("extra".to_string(), DataType::Utf8),
            ("region".to_string(), DataType::Utf8),
        ]
    );
    assert_eq!(
        rows(&chunks),
        [
            json!({"id": 1, "amount": 10.5, "grade": "A", "extra": "x", "region": "EU"}),
            json!({"id": 7, "amount": 7.0, "grade": "B", "extra": "two\nlines", "region": "EU"}),
            json!({"id": 8, "amount": 8.0, "grade": "B", "extra": "t", "region": "EU"}),
        ]
    );
    let r: Vec<(u64, Option<u64>, Option<&str>, &str)> = c
        .rejected
        .iter()
        .map(|r| (r.record, r.line, r.field.as_deref(), r.reason.as_str()))
        .collect();
    assert_eq!(
        r[0],
        (
            2,
            Some(3),
            Some("amount"),
            "field 'amount': expected double, found \"abc\""
        )
    );
    assert_eq!(
        r[1],
        (
            3,
            Some(4),
            Some("grade"),
            "field 'grade': expected one of A, B, found \"C\""
        )
    );
    assert_eq!(
        r[2],
        (4, Some(5), None, "line 5 has 5 fields but the header has 4")
    );
    assert_eq!((r[3].0, r[3].1, r[3].2), (5, Some(6), Some("id")));
    assert!(
        r[3].3
            .starts_with("field 'id': expected int, found \"3000000000\": an int must lie"),
        "{}",
        r[3].3
    );
    assert_eq!(
        r[4],
        (6, Some(7), Some("id"), "field 'id' is required but missing")
    );
    assert_eq!(c.rejected[0].value, Some(json!("abc")));
    assert_eq!(
        c.rejected[0].data,
        Some(json!({"id": "2", "amount": "abc", "grade": "B", "extra": "y"}))
    );
    assert_eq!(c.rejected[2].data, Some(json!("4,2,,w,surplus")));
    assert_eq!(c.rejected[4].value, None);
}

#[test]
fn csv_missing_required_column_is_a_file_error() {
    let Err(err) = read("input.csv", b"id,grade\n1,A\n", Some(SCHEMA), 10) else {
        panic!("a missing required column should fail the file");
    };
    assert_eq!(err.code(), keel_types::Code::InvalidData);
    assert_eq!(
        err.to_string(),
        "input.csv has no column 'amount', which input_schema.avsc requires; add the column \
         or make the field nullable"
    );
}

#[test]
fn csv_invalid_utf8_rejects_the_record_and_unclosed_quote_fails_the_file() {
    let (chunks, _dir) = read("d.csv", b"a,b\n1,ok\n2,bad\xff\n3,fine\n", None, 10).unwrap();
    let c = &chunks[0];
    assert_eq!(c.batch.num_rows(), 2);
    assert_eq!(c.rejected.len(), 1);
    assert_eq!(c.rejected[0].line, Some(3));
    assert_eq!(c.rejected[0].field.as_deref(), Some("b"));
    assert!(c.rejected[0].reason.contains("not valid UTF-8"));

    let Err(err) = read(
        "broken.csv",
        b"a,b\n1,\"ok\"\n2,\"never closed\n3,x\n4,y\n",
        None,
        10,
    ) else {
        panic!("an unclosed quote should fail the file");
    };
    assert_eq!(err.code(), keel_types::Code::InvalidData);
    let msg = err.to_string();
    assert!(
        msg.starts_with("broken.csv line 3: a quoted field starts here"),
        "{msg}"
    );

    // Doubled quotes inside quotes, and a quote inside an unquoted field, are fine.
    let (chunks, _dir) = read("ok.csv", b"a,b\n1,\"say \"\"hi\"\"\"\n2,it\"s\n", None, 10).unwrap();
    assert_eq!(rows(&chunks)[0]["b"], json!("say \"hi\""));
    assert_eq!(rows(&chunks)[1]["b"], json!("it\"s"));
}

#[test]
fn csv_header_problems_are_file_errors() {
    let Err(err) = read("e.csv", b"", None, 10) else {
        panic!("an empty file has no header");
    };
    assert!(err.to_string().contains("e.csv is empty"), "{err}");
    let Err(err) = read("d.csv", b"a,b,a\n1,2,3\n", None, 10) else {
        panic!("duplicate header names should fail");
    };
    assert!(err.to_string().contains("column 'a' twice"), "{err}");
    let (chunks, _dir) = read("h.csv", b"a,b\n", None, 10).unwrap();
    assert!(chunks.is_empty(), "a header-only file has no records");
}

#[test]
fn json_lines_infer_types_and_reject_bad_lines() {
    let jsonl = b"{\"a\": 1, \"b\": \"x\", \"c\": true}\n\
                  \n\
                  {\"a\": 2.5, \"b\": 3, \"d\": {\"k\": [1]}}\n\
                  [1, 2]\n\
                  {not json\n\
                  {\"a\": null, \"c\": false}\n";
    let (chunks, _dir) = read("d.jsonl", jsonl, None, 100).unwrap();
    let c = &chunks[0];
    assert_eq!(c.records_read, 5);
    assert_eq!(
        types(c),
        [
            ("a".to_string(), DataType::Float64),
            ("b".to_string(), DataType::Utf8),
            ("c".to_string(), DataType::Boolean),
            ("d".to_string(), DataType::Utf8),
        ]
    );
    assert_eq!(
        rows(&chunks),
        [
            json!({"a": 1.0, "b": "x", "c": true, "d": null}),
            json!({"a": 2.5, "b": "3", "c": null, "d": "{\"k\":[1]}"}),
            json!({"a": null, "b": null, "c": false, "d": null}),
        ]
    );
    assert_eq!(c.rejected.len(), 2);
    assert_eq!((c.rejected[0].record, c.rejected[0].line), (3, Some(4)));
    assert!(
        c.rejected[0]
            .reason
            .starts_with("line 4 is an array, not a JSON object")
    );
    assert_eq!(c.rejected[0].data, Some(json!("[1, 2]")));
    assert_eq!((c.rejected[1].record, c.rejected[1].line), (4, Some(5)));
    assert!(c.rejected[1].reason.starts_with("line 5 is not valid JSON"));
}

#[test]
fn json_with_schema_is_typed_strictly() {
    let jsonl = br#"{"id": 1, "amount": 3, "grade": "A"}
{"id": 2, "amount": "3"}
{"id": 3.5, "amount": 1.0}
{"amount": 1.0}
{"id": 5, "amount": 2.0, "grade": null, "region": "US", "other": [1]}
"#;
    let (chunks, _dir) = read("d.jsonl", jsonl, Some(SCHEMA), 100).unwrap();
    assert_eq!(
        rows(&chunks),
        [
            json!({"id": 1, "amount": 3.0, "grade": "A", "region": "EU", "other": null}),
            json!({"id": 5, "amount": 2.0, "grade": null, "region": "US", "other": "[1]"}),
        ]
    );
    let reasons: Vec<(Option<u64>, &str)> = chunks[0]
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (Some(2), "field 'amount': expected double, found \"3\""),
            (Some(3), "field 'id': expected int, found 3.5"),
            (Some(4), "field 'id' is required but missing"),
        ]
    );
    assert_eq!(
        chunks[0].rejected[0].data,
        Some(json!({"id": 2, "amount": "3"}))
    );
    let Err(err) = read("d.jsonl", b"{\"id\": 1}\n", Some(SCHEMA), 10) else {
        panic!("a key no record has should fail the file when required");
    };
    assert!(
        err.to_string()
            .starts_with("d.jsonl has no column 'amount'"),
        "{err}"
    );
}

#[test]
fn json_array_form() {
    let (chunks, _dir) = read(
        "d.json",
        b"  [{\"a\": 1}, {\"a\": 2, \"b\": \"x\"}, 7]",
        None,
        2,
    )
    .unwrap();
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        rows(&chunks),
        [json!({"a": 1, "b": null}), json!({"a": 2, "b": "x"})]
    );
    assert_eq!(chunks[1].rejected[0].record, 3);
    assert_eq!(chunks[1].rejected[0].line, None);
    assert!(
        chunks[1].rejected[0]
            .reason
            .starts_with("item 3 of the array is a number")
    );
    let Err(err) = read("d.json", b"[{\"a\": 1},", None, 2) else {
        panic!("a truncated array should fail the file");
    };
    assert!(
        err.to_string()
            .starts_with("d.json starts with '[' but is not a valid JSON array")
    );
    // A .json file of JSON lines is read as lines.
    let (chunks, _dir) = read("l.json", b"{\"a\": 1}\n{\"a\": 2}\n", None, 10).unwrap();
    assert_eq!(chunks[0].batch.num_rows(), 2);
}

#[test]
fn parquet_with_schema_checks_rows() {
    use arrow_array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.parquet");
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef),
        (
            "amount",
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(3.0)])) as ArrayRef,
        ),
        (
            "grade",
            Arc::new(StringArray::from(vec!["A", "B", "Z"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut out = crate::OutputFile::create(&path, DataFormat::Parquet).unwrap();
    out.write(&batch).unwrap();
    out.commit().unwrap();
    let opts = ReadOptions {
        schema: Some(AvroSchema::parse(SCHEMA, "input_schema.avsc").unwrap()),
        batch_size: 2,
        ..ReadOptions::default()
    };
    let chunks: Vec<Chunk> = open(&path, &opts).unwrap().map(|c| c.unwrap()).collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        rows(&chunks),
        [json!({"id": 1, "amount": 1.5, "grade": "A", "region": "EU"})]
    );
    let rejected: Vec<(u64, Option<u64>, &str)> = chunks
        .iter()
        .flat_map(|c| c.rejected.iter())
        .map(|r| (r.record, r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            (2, None, "field 'amount' is required but missing"),
            (3, None, "field 'grade': expected one of A, B, found \"Z\""),
        ]
    );
    assert_eq!(
        chunks[0]
            .batch
            .column(1)
            .as_primitive::<Float64Type>()
            .value(0),
        1.5
    );

    std::fs::write(dir.path().join("bad.parquet"), b"PAR1 nope").unwrap();
    let Err(err) = open(&dir.path().join("bad.parquet"), &ReadOptions::default()) else {
        panic!("a broken Parquet file should fail");
    };
    assert!(
        err.to_string()
            .starts_with("bad.parquet is not a readable Parquet file"),
        "{err}"
    );
}

mod logical;
mod shapes;
