//! Gathers a role's Arrow arrays across batches and reads them as plain
//! values: floats (NaN for null, booleans as 0 and 1, numbers written as
//! text parsed), order-preserving sort keys, and text.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

use crate::{Error, Result};

/// The columns of one role, gathered across batches.
pub(crate) fn gather(batches: &[RecordBatch], name: &str) -> Result<Vec<ArrayRef>> {
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        match b.column_by_name(name) {
            Some(c) => out.push(c.clone()),
            None => {
                let have: Vec<&str> = b
                    .schema_ref()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                return Err(Error::InvalidInput(format!(
                    "there is no column '{name}'; the columns are: {}",
                    have.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// Whether a column type reads as numbers.
pub(super) fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float64
            | DataType::Float32
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Boolean
    )
}

/// Appends a column's values as floats, NaN for null. Booleans read as 0 and 1.
pub(super) fn push_f64(a: &dyn Array, name: &str, out: &mut Vec<f64>) -> Result<()> {
    macro_rules! prim {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            match p.nulls() {
                None => out.extend(p.values().iter().map(|&v| v as f64)),
                Some(n) => out.extend(
                    p.values()
                        .iter()
                        .zip(n.iter())
                        .map(|(&v, ok)| if ok { v as f64 } else { f64::NAN }),
                ),
            }
        }};
    }
    match a.data_type() {
        DataType::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            match p.nulls() {
                None => out.extend_from_slice(p.values()),
                Some(n) => out.extend(
                    p.values()
                        .iter()
                        .zip(n.iter())
                        .map(|(&v, ok)| if ok { v } else { f64::NAN }),
                ),
            }
        }
        DataType::Float32 => prim!(Float32Type),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Boolean => {
            let b = a.as_boolean();
            out.extend(b.iter().map(|v| match v {
                Some(true) => 1.0,
                Some(false) => 0.0,
                None => f64::NAN,
            }));
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            // Numbers written as text (a CSV read without a schema can give
            // these) still count; anything else is a clear error.
            for i in 0..a.len() {
                match text_at(a, i) {
                    None => out.push(f64::NAN),
                    Some(s) => match s.trim().parse::<f64>() {
                        Ok(v) => out.push(v),
                        Err(_) => {
                            return Err(Error::InvalidInput(format!(
                                "column '{name}' must hold numbers, but row {} holds '{s}'",
                                out.len() + 1
                            )));
                        }
                    },
                }
            }
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "column '{name}' has type {other}, which is not a number; metrics need numeric \
                 scores and values"
            )));
        }
    }
    Ok(())
}

/// A numeric column's values as order-preserving sort keys
/// ([`crate::sort::key`]), leaving out nulls and NaN, and how many it left
/// out. One pass, without a float copy of the column.
pub(crate) fn keys_without_missing(arrays: &[ArrayRef], name: &str) -> Result<(Vec<u64>, usize)> {
    let rows: usize = arrays.iter().map(|a| a.len()).sum();
    let mut keys = Vec::with_capacity(rows);
    let mut buf = Vec::new();
    for a in arrays {
        let values: &[f64] = match (a.data_type(), a.null_count()) {
            (DataType::Float64, 0) => a.as_primitive::<Float64Type>().values(),
            _ => {
                buf.clear();
                push_f64(a.as_ref(), name, &mut buf)?;
                &buf
            }
        };
        keys.extend(
            values
                .iter()
                .filter(|x| !x.is_nan())
                .map(|&x| crate::sort::key(x)),
        );
    }
    let missing = rows - keys.len();
    Ok((keys, missing))
}

/// A column's values as floats, NaN for null.
pub(crate) fn floats(arrays: &[ArrayRef], name: &str) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(arrays.iter().map(|a| a.len()).sum());
    for a in arrays {
        push_f64(a.as_ref(), name, &mut out)?;
    }
    Ok(out)
}

/// The text of row `i` of a string column, `None` when null.
fn text_at(a: &dyn Array, i: usize) -> Option<&str> {
    if a.is_null(i) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(a.as_string_view().value(i)),
        _ => None,
    }
}
