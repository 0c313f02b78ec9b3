//! Rejected records, the schema check of Arrow batches (used on Parquet input
//! and on what models output), and rendering rows as JSON.

mod convert;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, FieldRef, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::cells::{Builder, Cell, null_cell, schema_col};
use crate::schema::AvroSchema;
use convert::convert;

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

/// The field metadata key marking a text column whose cells are JSON values
/// of mixed types (Keel's Python worker writes one when a model's output
/// field holds, say, numbers and a string): the check reads each cell as the
/// JSON value it holds, and a cell that is not JSON as a string.
pub const JSON_TEXT_KEY: &str = "keel.json";

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
                let json_text = f.metadata().get(JSON_TEXT_KEY).map(String::as_str) == Some("1");
                columns.push(convert(batch.column(i), &col, json_text, &mut failures));
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

/// One row as a JSON object, keys in column order. Numbers stay numbers,
/// NaN and infinities become the strings "NaN", "Infinity" and "-Infinity", binary becomes (lossy) text, and dates,
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
    Number::from_f64(v).map_or_else(
        || {
            Value::String(
                crate::write::non_finite_text(v)
                    .unwrap_or("NaN")
                    .to_string(),
            )
        },
        Value::Number,
    )
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
        DataType::FixedSizeBinary(_) => {
            String::from_utf8_lossy(a.as_fixed_size_binary().value(row)).into()
        }
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
mod tests;
