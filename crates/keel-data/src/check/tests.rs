//! Tests of the batch check and of rendering rows as JSON.

use super::*;
use arrow_array::{
    Float32Array, Float64Array, Int32Array, ListArray, NullArray, StringArray, UInt64Array,
};

fn schema() -> AvroSchema {
    AvroSchema::parse(
        r#"{"type":"record","name":"out","fields":[
            {"name":"id","type":"int"},
            {"name":"score","type":"double"},
            {"name":"label","type":["null",{"type":"enum","name":"L","symbols":["yes","no"]}]},
            {"name":"model","type":"string","default":"v1"}]}"#,
        "output_schema.avsc",
    )
    .unwrap()
}

#[test]
fn keeps_conforming_rows_casts_and_rejects_the_rest() {
    let batch = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int32Array::from(vec![Some(1), Some(2), None, Some(4)])) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Float32Array::from(vec![0.5, 0.25, 1.0, 2.0])) as ArrayRef,
        ),
        (
            "label",
            Arc::new(StringArray::from(vec![
                Some("yes"),
                Some("maybe"),
                None,
                None,
            ])) as ArrayRef,
        ),
        (
            "extra",
            Arc::new(StringArray::from(vec!["a", "b", "c", "d"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let (out, rejected) = check_batch(&batch, &schema(), 11);
    assert_eq!(out.num_rows(), 2);
    let out_schema = out.schema();
    let names: Vec<&str> = out_schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["id", "score", "label", "extra", "model"]);
    assert_eq!(out.column(0).data_type(), &DataType::Int64);
    assert_eq!(out.column(1).data_type(), &DataType::Float64);
    assert_eq!(
        out.column(3).data_type(),
        &DataType::Utf8,
        "extra passes through"
    );
    assert_eq!(
        row_to_json(&out, 1),
        serde_json::json!({"id": 4, "score": 2.0, "label": null, "extra": "d", "model": "v1"})
    );
    assert_eq!(
        row_to_json(&out, 0).to_string(),
        r#"{"id":1,"score":0.5,"label":"yes","extra":"a","model":"v1"}"#,
        "keys follow column order"
    );
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].record, 12);
    assert_eq!(rejected[0].field.as_deref(), Some("label"));
    assert_eq!(
        rejected[0].reason,
        "field 'label': expected one of yes, no, found \"maybe\""
    );
    assert_eq!(rejected[0].value, Some(Value::from("maybe")));
    let wire = serde_json::to_value(&rejected[0]).unwrap();
    assert_eq!(wire["record"], 12);
    assert_eq!(wire["line"], Value::Null);
    assert_eq!(
        serde_json::from_value::<Rejection>(wire).unwrap(),
        rejected[0]
    );
    assert_eq!(rejected[0].data.as_ref().unwrap()["extra"], "b");
    assert_eq!(rejected[1].record, 13);
    assert_eq!(rejected[1].reason, "field 'id' is required but missing");
    assert_eq!(rejected[1].value, None);
}

#[test]
fn rejects_wrong_types_and_out_of_range_values() {
    let batch = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Float64Array::from(vec![1.0, 2.5, 3e10])) as ArrayRef,
        ),
        (
            "score",
            Arc::new(StringArray::from(vec!["0.5", "0.5", "0.5"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let (out, rejected) = check_batch(&batch, &schema(), 1);
    assert_eq!(out.num_rows(), 0);
    let reasons: Vec<&str> = rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons[0], "field 'score': expected double, found \"0.5\"");
    assert_eq!(reasons[1], "field 'id': expected int, found 2.5");
    assert!(
        reasons[2].starts_with("field 'id': expected int, found 30000000000.0: an int must lie"),
        "{}",
        reasons[2]
    );

    let big = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(UInt64Array::from(vec![u64::MAX])) as ArrayRef,
    )])
    .unwrap();
    let (_, rejected) = check_batch(&big, &schema(), 1);
    assert!(
        rejected[0].reason.contains("does not fit in a long"),
        "{}",
        rejected[0].reason
    );
}

#[test]
fn missing_required_column_rejects_every_row() {
    let batch = RecordBatch::try_from_iter(vec![(
        "score",
        Arc::new(Float64Array::from(vec![0.1, 0.2])) as ArrayRef,
    )])
    .unwrap();
    let (out, rejected) = check_batch(&batch, &schema(), 1);
    assert_eq!(out.num_rows(), 0);
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[1].reason, "field 'id' is required but missing");
}

#[test]
fn renders_rows_and_nested_cells_as_json() {
    let list =
        ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), None]);
    let batch = RecordBatch::try_from_iter(vec![
        ("l", Arc::new(list) as ArrayRef),
        ("n", Arc::new(NullArray::new(2)) as ArrayRef),
        (
            "f",
            Arc::new(Float64Array::from(vec![f64::NAN, 1.5])) as ArrayRef,
        ),
    ])
    .unwrap();
    assert_eq!(
        row_to_json(&batch, 0),
        serde_json::json!({"l": [1, 2], "n": null, "f": "NaN"})
    );
    assert_eq!(
        row_to_json(&batch, 1),
        serde_json::json!({"l": null, "n": null, "f": 1.5})
    );
    let nested = AvroSchema::parse(
        r#"{"type":"record","name":"r","fields":[{"name":"l","type":{"type":"array","items":"long"}}]}"#,
        "s.avsc",
    )
    .unwrap();
    let (out, rejected) = check_batch(&batch, &nested, 1);
    assert_eq!(
        rejected.len(),
        1,
        "the null list is rejected: the field is required"
    );
    assert_eq!(out.column(0).as_string::<i32>().value(0), "[1,2]");
}

#[test]
fn value_schemas_check_their_one_column() {
    let schema = AvroSchema::parse(r#"{"type": "float"}"#, "output_schema.avsc").unwrap();
    let batch = RecordBatch::try_from_iter(vec![(
        "prediction",
        Arc::new(StringArray::from(vec!["0.5"])) as ArrayRef,
    )])
    .unwrap();
    let (out, rejected) = check_batch(&batch, &schema, 7);
    assert_eq!(out.num_rows(), 0);
    assert_eq!(rejected[0].record, 7);
    assert_eq!(rejected[0].field.as_deref(), Some("prediction"));
    assert_eq!(
        rejected[0].reason,
        "field 'prediction': expected float, found \"0.5\""
    );
    let batch = RecordBatch::try_from_iter(vec![(
        "prediction",
        Arc::new(Float32Array::from(vec![0.5])) as ArrayRef,
    )])
    .unwrap();
    let (out, rejected) = check_batch(&batch, &schema, 1);
    assert!(rejected.is_empty());
    assert_eq!(out.column(0).data_type(), &DataType::Float64);
}

#[test]
fn model_outputs_of_logical_types_are_converted() {
    use arrow_array::{Date32Array, Decimal128Array, TimestampMicrosecondArray};
    let schema = AvroSchema::parse(
        r#"{"type":"record","name":"out","fields":[
            {"name":"day","type":{"type":"int","logicalType":"date"}},
            {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}},
            {"name":"tag","type":["null","int","string"]}]}"#,
        "output_schema.avsc",
    )
    .unwrap();
    // What pyarrow makes of datetime.date, a naive datetime, decimal.Decimal and mixed values.
    let batch = RecordBatch::try_from_iter(vec![
        (
            "day",
            Arc::new(Date32Array::from(vec![19_753, 19_754, 19_755])) as ArrayRef,
        ),
        (
            "at",
            Arc::new(TimestampMicrosecondArray::from(vec![
                1_706_708_700_123_999,
                0,
                -1,
            ])) as ArrayRef,
        ),
        (
            "price",
            Arc::new(
                Decimal128Array::from(vec![12_340_000, 10_000, 1_000_000_000])
                    .with_precision_and_scale(20, 6)
                    .unwrap(),
            ) as ArrayRef,
        ),
        (
            "tag",
            Arc::new(StringArray::from(vec![Some("x"), Some("7"), None])) as ArrayRef,
        ),
    ])
    .unwrap();
    let (out, rejected) = check_batch(&batch, &schema, 1);
    assert_eq!(out.num_rows(), 2);
    let types: Vec<String> = out
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "Date32",
            "Timestamp(ms, \"+00:00\")",
            "Decimal128(5, 2)",
            "Utf8"
        ]
    );
    assert_eq!(
        row_to_json(&out, 0),
        serde_json::json!({"day": "2024-01-31", "at": "2024-01-31T13:45:00.123Z",
                           "price": 12.34, "tag": "\"x\""})
    );
    assert_eq!(row_to_json(&out, 1)["tag"], "7");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].record, 3);
    assert_eq!(rejected[0].field.as_deref(), Some("price"));
    assert!(
        rejected[0]
            .reason
            .starts_with("field 'price': expected decimal(5, 2), found 1000.0: it has more digits than the precision (5)"),
        "{}",
        rejected[0].reason
    );
}

#[test]
fn a_column_of_mixed_json_text_is_read_cell_by_cell() {
    // What the worker sends when a model's `score` field held numbers and a
    // string: text marked `keel.json`, numbers as JSON, strings as they are.
    let field =
        Field::new("score", DataType::Utf8, true).with_metadata(std::collections::HashMap::from([
            (JSON_TEXT_KEY.to_string(), "1".to_string()),
        ]));
    let ids = Field::new("id", DataType::Int32, false);
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![ids, field])),
        vec![
            Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef,
            Arc::new(StringArray::from(vec![
                Some("0.5"),
                Some("high"),
                Some("2"),
            ])),
        ],
    )
    .unwrap();
    let (good, bad) = check_batch(&batch, &schema(), 1);
    assert_eq!(good.num_rows(), 2);
    let scores = good.column_by_name("score").unwrap();
    assert_eq!(scores.as_primitive::<Float64Type>().values(), &[0.5, 2.0]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].record, 2);
    assert_eq!(bad[0].field.as_deref(), Some("score"));
    assert_eq!(bad[0].value, Some(Value::from("high")));
    // Unmarked, the same text is a string where a double is expected.
    let plain = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
        (
            "score",
            Arc::new(StringArray::from(vec!["0.5"])) as ArrayRef,
        ),
    ])
    .unwrap();
    assert_eq!(check_batch(&plain, &schema(), 1).1.len(), 1);
}
