//! Converting an Arrow column (from Parquet, or from a model's output) to
//! the type of the schema field that names it, cell by cell, where no
//! information is lost: integers of any width, floats, strings of any
//! flavour, and Arrow's dates, times, timestamps (any unit and zone) and
//! decimals (any width and scale).

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, FixedSizeBinaryArray,
    Float64Array, Int64Array, StringArray,
};
use arrow_schema::{DataType, TimeUnit};
use serde_json::Value;

use super::cell_json;
use crate::cells::{Builder, Cell, Col, INT_RANGE, Kind, Mismatch, mismatch_reason, null_cell};
use crate::cells::{parse_json, parse_text};
use crate::logical::{
    TIMESTAMP_RANGE, Unit, days, decimal_from_text, instant, rescale, time_of_day,
};

/// A source column normalized to the Arrow type a schema field is read from.
enum Norm {
    Bool(BooleanArray),
    Int(Int64Array),
    Float(Float64Array),
    Str(StringArray),
    Bin(BinaryArray),
    /// Binary values of one width, such as pyarrow's UUIDs (16 bytes).
    FixedBin(FixedSizeBinaryArray),
    /// Days since the epoch (from Date32).
    Days(Int64Array),
    /// Milliseconds since the epoch (from Date64).
    DateMillis(Int64Array),
    /// A time of day in a unit.
    TimeOfDay(Int64Array, TimeUnit),
    /// An instant since the epoch in a unit (the Arrow zone only changes how it is shown).
    Instant(Int64Array, TimeUnit),
    /// Unscaled decimals at a scale; a null where the source had a value did not fit 128 bits.
    Dec(Decimal128Array, i32),
    /// Any other type (lists, structs, maps, or anything a union may hold):
    /// each cell is rendered as JSON and read as a JSON value.
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

/// The column as 64-bit integers, for the temporal types whose storage is an integer.
fn ticks(src: &ArrayRef) -> Option<Int64Array> {
    let direct = arrow_cast::cast(src, &DataType::Int64).ok();
    let wide = direct.or_else(|| {
        let narrow = arrow_cast::cast(src, &DataType::Int32).ok()?;
        arrow_cast::cast(&narrow, &DataType::Int64).ok()
    })?;
    Some(wide.as_primitive::<Int64Type>().clone())
}

fn normalize(src: &ArrayRef, kind: &Kind) -> Norm {
    let dt = src.data_type();
    let is_int = dt.is_integer();
    let is_decimal = matches!(
        dt,
        DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    );
    let is_float = dt.is_floating() || is_decimal;
    let is_str = is_string_type(dt);
    let is_bin = matches!(
        dt,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    );
    let cast = |to: &DataType| arrow_cast::cast(src, to).ok();
    let int = || cast(&DataType::Int64).map(|a| Norm::Int(a.as_primitive::<Int64Type>().clone()));
    let float =
        || cast(&DataType::Float64).map(|a| Norm::Float(a.as_primitive::<Float64Type>().clone()));
    let text = || cast(&DataType::Utf8).map(|a| Norm::Str(a.as_string::<i32>().clone()));
    let norm = match (kind, dt) {
        // Text is read as CSV text is, where the field takes text: strings,
        // JSON text, and the text forms of logical types. A string is never
        // a number or a boolean, as in JSON.
        (
            Kind::Str
            | Kind::Enum(_)
            | Kind::Uuid
            | Kind::Nested(_)
            | Kind::Text
            | Kind::Date
            | Kind::Time(_)
            | Kind::Timestamp(_)
            | Kind::Decimal { .. },
            _,
        ) if is_str => text(),
        (Kind::Bool, DataType::Boolean) => Some(Norm::Bool(src.as_boolean().clone())),
        (Kind::Int32 | Kind::Int64, _) if is_int => int(),
        (Kind::Int32 | Kind::Int64 | Kind::Float64, _) if is_int || is_float => float(),
        (Kind::Bytes | Kind::Fixed(_), _) if is_bin || is_str => {
            cast(&DataType::Binary).map(|a| Norm::Bin(a.as_binary::<i32>().clone()))
        }
        (Kind::Uuid, DataType::FixedSizeBinary(16)) => {
            Some(Norm::FixedBin(src.as_fixed_size_binary().clone()))
        }
        (Kind::Date, DataType::Date32) => ticks(src).map(Norm::Days),
        (Kind::Date, DataType::Date64) => ticks(src).map(Norm::DateMillis),
        (Kind::Date | Kind::Time(_) | Kind::Timestamp(_), _) if is_int => int(),
        (Kind::Time(_), DataType::Time32(u) | DataType::Time64(u)) => {
            ticks(src).map(|a| Norm::TimeOfDay(a, *u))
        }
        (Kind::Timestamp(_), DataType::Timestamp(u, _)) => ticks(src).map(|a| Norm::Instant(a, *u)),
        (Kind::Timestamp(_), DataType::Date32) => {
            ticks(src).map(|a| Norm::Instant(scale_days(&a), TimeUnit::Second))
        }
        (Kind::Timestamp(_), DataType::Date64) => {
            ticks(src).map(|a| Norm::Instant(a, TimeUnit::Millisecond))
        }
        (Kind::Decimal { .. }, _) if is_decimal => {
            let scale = match dt {
                DataType::Decimal32(_, s)
                | DataType::Decimal64(_, s)
                | DataType::Decimal128(_, s)
                | DataType::Decimal256(_, s) => *s,
                _ => 0,
            };
            cast(&DataType::Decimal128(38, scale))
                .map(|a| Norm::Dec(a.as_primitive::<Decimal128Type>().clone(), i32::from(scale)))
        }
        (Kind::Decimal { .. }, _) if is_int => int(),
        (Kind::Decimal { .. }, _) if is_float => float(),
        (Kind::Nested(_) | Kind::Numbers { .. }, _) => Some(Norm::Json),
        _ => None,
    };
    norm.unwrap_or(Norm::Mismatch)
}

/// Days as seconds, saturating: such dates are far out of range and rejected.
fn scale_days(a: &Int64Array) -> Int64Array {
    a.iter()
        .map(|d| d.map(|d| d.saturating_mul(86_400)))
        .collect()
}

/// The largest magnitude an f64 can have and still convert to i64 exactly.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// How many of an Arrow time unit make a second.
fn per_second(u: TimeUnit) -> i64 {
    match u {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// A count of `from` units in `to` units. Finer digits are dropped (rounding
/// towards the past), as fastavro does when it writes a `datetime`.
fn to_unit(v: i64, from: TimeUnit, to: Unit) -> Option<i64> {
    let (f, t) = (per_second(from), to.per_second());
    if f >= t {
        Some(v.div_euclid(f / t))
    } else {
        v.checked_mul(t / f)
    }
}

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
    let detail = |r: Result<i64, String>| r.map(Cell::Int).map_err(Some);
    match (kind, norm) {
        (Kind::Bool, Norm::Bool(a)) => Ok(Cell::Bool(a.value(row))),
        (_, Norm::Int(a)) if a.is_null(row) => {
            Err(Some("the number does not fit in a long".to_string()))
        }
        (Kind::Int32 | Kind::Int64, Norm::Int(a)) => int(a.value(row)),
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
        (Kind::Fixed(size), Norm::Bin(a)) => {
            let v = a.value(row);
            if v.len() == *size {
                Ok(Cell::Bytes(Cow::Borrowed(v)))
            } else {
                Err(Some(format!(
                    "it has {} bytes but the fixed size is {size}",
                    v.len()
                )))
            }
        }
        (Kind::Uuid, Norm::FixedBin(a)) => Ok(Cell::Text(Cow::Owned(uuid_text(a.value(row))))),
        (Kind::Date, Norm::Days(a) | Norm::Int(a)) => detail(days(a.value(row))),
        (Kind::Date, Norm::DateMillis(a)) => detail(days(a.value(row).div_euclid(86_400_000))),
        (Kind::Time(u), Norm::Int(a)) => detail(time_of_day(a.value(row), *u)),
        (Kind::Time(u), Norm::TimeOfDay(a, from)) => match to_unit(a.value(row), *from, *u) {
            Some(v) => detail(time_of_day(v, *u)),
            None => Err(None),
        },
        (Kind::Timestamp(u), Norm::Int(a)) => detail(instant(a.value(row), *u)),
        (Kind::Timestamp(u), Norm::Instant(a, from)) => match to_unit(a.value(row), *from, *u) {
            Some(v) => detail(instant(v, *u)),
            None => Err(Some(TIMESTAMP_RANGE.to_string())),
        },
        (Kind::Decimal { precision, scale }, norm) => {
            let (p, s) = (u32::from(*precision), i32::from(*scale));
            let v = match norm {
                Norm::Dec(a, _) if a.is_null(row) => {
                    return Err(Some("the number does not fit in 38 digits".to_string()));
                }
                Norm::Dec(a, from) => rescale(a.value(row), *from, p, s),
                Norm::Int(a) => rescale(i128::from(a.value(row)), 0, p, s),
                // Rust writes the shortest text that reads back as the same
                // float, which is the number a person wrote.
                Norm::Float(a) => decimal_from_text(&format!("{}", a.value(row)), p, s),
                _ => return Err(None),
            };
            v.map(Cell::Dec).map_err(Some)
        }
        (_, Norm::Json) => {
            let v = cell_json(src, row);
            parse_json(kind, &v).map(Cell::into_owned)
        }
        _ => Err(None),
    }
}

/// 16 bytes as a UUID's canonical text.
fn uuid_text(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    if hex.len() != 32 {
        return hex;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The first failure of a row: the field, the reason, and the value found.
type Failures = [Option<(String, String, Option<Value>)>];

/// Converts a column to its schema field's type, recording the first failure of each row.
pub(super) fn convert(
    src: &ArrayRef,
    col: &Col,
    json_text: bool,
    failures: &mut Failures,
) -> ArrayRef {
    let nulls = src.logical_nulls();
    let is_null = |row: usize| nulls.as_ref().is_some_and(|n| n.is_null(row));
    if json_text && let Some(text) = src.as_string_opt::<i32>() {
        // A column of mixed values kept as JSON text (see `JSON_TEXT_KEY`):
        // each cell is the JSON value it holds, or a string when it is not JSON.
        return build(col, src.len(), failures, |row| {
            if is_null(row) {
                return null_cell(col, false).map_err(|reason| (reason, None));
            }
            let cell = text.value(row);
            let value =
                serde_json::from_str::<Value>(cell).unwrap_or_else(|_| Value::String(cell.into()));
            parse_json(&col.kind, &value)
                .map(Cell::into_owned)
                .map_err(|detail| (mismatch_reason(col, &value, detail), Some(value.clone())))
        });
    }
    let norm = normalize(src, &col.kind);
    build(col, src.len(), failures, |row| {
        if is_null(row) {
            return null_cell(col, false).map_err(|reason| (reason, None));
        }
        norm_cell(&norm, &col.kind, src, row).map_err(|detail| {
            let found = cell_json(src, row);
            (mismatch_reason(col, &found, detail), Some(found))
        })
    })
}

/// Builds a column of `len` cells of `col`'s type from `cell(row)`; a row
/// whose cell fails is null and records its first failure.
fn build<'a>(
    col: &Col,
    len: usize,
    failures: &mut Failures,
    mut cell: impl FnMut(usize) -> Result<Cell<'a>, (String, Option<Value>)>,
) -> ArrayRef {
    let mut b = Builder::new(&col.kind, len);
    for (row, failure) in failures.iter_mut().enumerate().take(len) {
        match cell(row) {
            Ok(c) => b.push(&c),
            Err((reason, value)) => {
                b.push(&Cell::Null);
                failure.get_or_insert((col.name.clone(), reason, value));
            }
        }
    }
    b.finish()
}
