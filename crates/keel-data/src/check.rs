//! Rejected records, the schema check of Arrow batches (used on Parquet input
//! and on what models output), and rendering rows as JSON.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, RecordBatch,
    RecordBatchOptions, StringArray,
};
use arrow_schema::{DataType, Field, FieldRef, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::cells::{
    Builder, Cell, Col, INT_RANGE, Kind, Mismatch, mismatch_reason, null_cell, parse_text,
    schema_col,
};
use crate::schema::{AvroSchema, check_json};

/// A record that failed a check. Record numbers are 1-based positions of the
/// record in its input file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Rejection {
    /// The record's 1-based position in its input.
    pub record: u64,
    /// The line the record starts on, for line-based formats (CSV, JSON lines).
    pub line: Option<u64>,
    /// The field that failed, when one did.
    pub field: Option<String>,
    /// What is wrong, as a sentence.
    pub reason: String,
    /// The offending value, when there is one.
    pub value: Option<Value>,
    /// The whole record as a JSON object, or the raw line as a string when it could not be parsed.
    pub data: Option<Value>,
}

/// Checks a batch against a schema: rows whose schema fields all conform are
/// kept, with those fields cast to the schema's Arrow types; the other rows
/// become rejections naming the field, the expected type and the value found.
/// Columns the schema does not name pass through unchecked; schema fields the
/// batch lacks are added, filled with their default or null (or, when
/// required, every row is rejected). `first_record` is the record number of row 0.
pub fn check_batch(
    batch: &RecordBatch,
    schema: &AvroSchema,
    first_record: u64,
) -> (RecordBatch, Vec<Rejection>) {
    let n = batch.num_rows();
    let mut failures: Vec<Option<(String, String, Option<Value>)>> = vec![None; n];
    let mut fields: Vec<FieldRef> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let input = batch.schema();
    for (i, f) in input.fields().iter().enumerate() {
        match schema.field(f.name()) {
            None => {
                fields.push(f.clone());
                columns.push(batch.column(i).clone());
            }
            Some(af) => {
                let col = schema_col(af, Some(i));
                fields.push(Arc::new(af.arrow_field()));
                columns.push(convert(batch.column(i), &col, &mut failures));
            }
        }
    }
    for af in &schema.fields {
        if input.field_with_name(&af.name).is_ok() {
            continue;
        }
        let col = schema_col(af, None);
        let mut b = Builder::new(&col.kind, n);
        for failure in failures.iter_mut() {
            match null_cell(&col, true) {
                Ok(c) => b.push(&c),
                Err(reason) => {
                    b.push(&Cell::Null);
                    failure.get_or_insert((col.name.clone(), reason, None));
                }
            }
        }
        fields.push(Arc::new(af.arrow_field()));
        columns.push(b.finish());
    }

    let keep = BooleanArray::from(failures.iter().map(Option::is_none).collect::<Vec<_>>());
    let mut rejected = Vec::new();
    for (row, failure) in failures.into_iter().enumerate() {
        if let Some((field, reason, value)) = failure {
            rejected.push(Rejection {
                record: first_record + row as u64,
                line: None,
                field: Some(field),
                reason,
                value,
                data: Some(row_to_json(batch, row)),
            });
        }
    }
    let kept_rows = n - rejected.len();
    let out_schema = Arc::new(Schema::new(fields));
    let filtered: Result<Vec<ArrayRef>, _> = columns
        .iter()
        .map(|c| arrow_select::filter::filter(c.as_ref(), &keep))
        .collect();
    let out = filtered.and_then(|cols| {
        RecordBatch::try_new_with_options(
            out_schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(kept_rows)),
        )
    });
    match out {
        Ok(b) => (b, rejected),
        Err(e) => {
            // Cannot happen: every kept cell was built to fit its field. If it
            // does, reject every row rather than pass on unchecked data.
            let all = (0..n)
                .map(|row| Rejection {
                    record: first_record + row as u64,
                    line: None,
                    field: None,
                    reason: format!("Keel could not assemble the checked batch (a bug): {e}"),
                    value: None,
                    data: Some(row_to_json(batch, row)),
                })
                .collect();
            (RecordBatch::new_empty(out_schema), all)
        }
    }
}

/// A source column normalized to the Arrow type a schema field is read from.
enum Norm {
    Bool(BooleanArray),
    Int(Int64Array),
    Float(Float64Array),
    Str(StringArray),
    Bin(BinaryArray),
    /// A nested Arrow type (list, struct, map): each cell is rendered as JSON.
    Json,
    /// The column's type cannot hold the field's values at all.
    Mismatch,
}

fn is_string_type(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string_type(v),
        _ => false,
    }
}

fn normalize(src: &ArrayRef, kind: &Kind) -> Norm {
    let dt = src.data_type();
    let is_int = dt.is_integer();
    let is_float = dt.is_floating()
        || matches!(
            dt,
            DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
        );
    let is_str = is_string_type(dt);
    let is_bin = matches!(
        dt,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    );
    let is_nested = dt.is_nested();
    let cast = |to: &DataType| arrow_cast::cast(src, to).ok();
    let norm = match kind {
        Kind::Bool if dt == &DataType::Boolean => Some(Norm::Bool(src.as_boolean().clone())),
        Kind::Int32 | Kind::Int64 if is_int => {
            cast(&DataType::Int64).map(|a| Norm::Int(a.as_primitive::<Int64Type>().clone()))
        }
        Kind::Int32 | Kind::Int64 | Kind::Float64 if is_int || is_float => {
            cast(&DataType::Float64).map(|a| Norm::Float(a.as_primitive::<Float64Type>().clone()))
        }
        Kind::Str | Kind::Enum(_) | Kind::Nested(_) | Kind::Text if is_str => {
            cast(&DataType::Utf8).map(|a| Norm::Str(a.as_string::<i32>().clone()))
        }
        Kind::Bytes if is_bin || is_str => {
            cast(&DataType::Binary).map(|a| Norm::Bin(a.as_binary::<i32>().clone()))
        }
        Kind::Nested(_) if is_nested => Some(Norm::Json),
        _ => None,
    };
    norm.unwrap_or(Norm::Mismatch)
}

/// The largest magnitude an f64 can have and still convert to i64 exactly.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Converts one non-null cell of a normalized column.
fn norm_cell<'a>(
    norm: &'a Norm,
    kind: &Kind,
    src: &ArrayRef,
    row: usize,
) -> Result<Cell<'a>, Mismatch> {
    let int = |v: i64| -> Result<Cell<'a>, Mismatch> {
        if *kind == Kind::Int32 && i32::try_from(v).is_err() {
            Err(Some(INT_RANGE.to_string()))
        } else {
            Ok(Cell::Int(v))
        }
    };
    match (kind, norm) {
        (Kind::Bool, Norm::Bool(a)) => Ok(Cell::Bool(a.value(row))),
        (Kind::Int32 | Kind::Int64, Norm::Int(a)) => {
            if a.is_null(row) {
                Err(Some("the number does not fit in a long".to_string()))
            } else {
                int(a.value(row))
            }
        }
        (Kind::Int32 | Kind::Int64, Norm::Float(a)) => {
            let v = a.value(row);
            if v.fract() == 0.0 && (-I64_LIMIT..I64_LIMIT).contains(&v) {
                int(v as i64)
            } else {
                Err(None)
            }
        }
        (Kind::Float64, Norm::Float(a)) => Ok(Cell::Float(a.value(row))),
        (_, Norm::Str(a)) => parse_text(kind, a.value(row)),
        (Kind::Bytes, Norm::Bin(a)) => Ok(Cell::Bytes(Cow::Borrowed(a.value(row)))),
        (Kind::Nested(ty), Norm::Json) => {
            let v = cell_json(src, row);
            check_json(&v, ty).map_err(Some)?;
            Ok(Cell::Text(Cow::Owned(v.to_string())))
        }
        _ => Err(None),
    }
}

/// Converts a column to its schema field's type, recording the first failure of each row.
fn convert(
    src: &ArrayRef,
    col: &Col,
    failures: &mut [Option<(String, String, Option<Value>)>],
) -> ArrayRef {
    let norm = normalize(src, &col.kind);
    let nulls = src.logical_nulls();
    let mut b = Builder::new(&col.kind, src.len());
    for (row, failure) in failures.iter_mut().enumerate().take(src.len()) {
        let outcome = if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            null_cell(col, false).map_err(|reason| (reason, None))
        } else {
            norm_cell(&norm, &col.kind, src, row).map_err(|detail| {
                let found = cell_json(src, row);
                (mismatch_reason(col, &found, detail), Some(found))
            })
        };
        match outcome {
            Ok(c) => b.push(&c),
            Err((reason, value)) => {
                b.push(&Cell::Null);
                failure.get_or_insert((col.name.clone(), reason, value));
            }
        }
    }
    b.finish()
}

/// One row as a JSON object, keys in column order. Numbers stay numbers,
/// NaN and infinities become null, binary becomes (lossy) text, and dates,
/// timestamps and nested values take Arrow's JSON spelling.
pub fn row_to_json(batch: &RecordBatch, row: usize) -> Value {
    let mut obj = Map::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let v = if row < c.len() {
            cell_json(c, row)
        } else {
            Value::Null
        };
        obj.insert(f.name().clone(), v);
    }
    Value::Object(obj)
}

fn float(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// One cell as JSON.
pub(crate) fn cell_json(a: &ArrayRef, row: usize) -> Value {
    if a.data_type() == &DataType::Null || a.is_null(row) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Boolean => Value::Bool(a.as_boolean().value(row)),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float32 => float(f64::from(a.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => a.as_string::<i32>().value(row).into(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(row).into(),
        DataType::Utf8View => a.as_string_view().value(row).into(),
        DataType::Binary => String::from_utf8_lossy(a.as_binary::<i32>().value(row)).into(),
        DataType::LargeBinary => String::from_utf8_lossy(a.as_binary::<i64>().value(row)).into(),
        DataType::Dictionary(_, values) => match arrow_cast::cast(&a.slice(row, 1), values) {
            Ok(plain) => cell_json(&plain, 0),
            Err(_) => via_arrow_json(a, row),
        },
        _ => via_arrow_json(a, row),
    }
}

/// Renders any other cell with arrow-json, falling back to Arrow's display text.
fn via_arrow_json(a: &ArrayRef, row: usize) -> Value {
    let slice = a.slice(row, 1);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "v",
        slice.data_type().clone(),
        true,
    )]));
    let json = RecordBatch::try_new(schema, vec![slice.clone()])
        .ok()
        .and_then(|batch| {
            let mut buf = Vec::new();
            let mut w = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::LineDelimited>(&mut buf);
            w.write(&batch).ok()?;
            w.finish().ok()?;
            drop(w);
            let mut v: Value = serde_json::from_slice(&buf).ok()?;
            v.get_mut("v").map(Value::take)
        });
    json.unwrap_or_else(|| {
        arrow_cast::display::ArrayFormatter::try_new(&slice, &Default::default())
            .map(|f| Value::String(f.value(0).to_string()))
            .unwrap_or(Value::Null)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float32Array, Int32Array, ListArray, NullArray, UInt64Array};

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
            reasons[2]
                .starts_with("field 'id': expected int, found 30000000000.0: an int must lie"),
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
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
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
            serde_json::json!({"l": [1, 2], "n": null, "f": null})
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
}
