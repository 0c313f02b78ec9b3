//! Values as cells: CSV text and JSON values parsed as a column's kind, and
//! JSON values checked against an Avro type (for nested values, defaults and unions).

use std::borrow::Cow;

use serde_json::Value;

use super::{Cell, INT_RANGE, Kind, Mismatch};
use crate::logical::{
    NOT_UUID, days, days_from_text, decimal_from_text, instant, is_uuid, time_from_text,
    time_of_day, timestamp_from_text,
};
use crate::schema::{AvroType, short_json};

/// Parses CSV text (never empty: empty cells are null) as `kind`.
pub(crate) fn parse_text<'a>(kind: &Kind, s: &'a str) -> Result<Cell<'a>, Mismatch> {
    let t = s.trim();
    match kind {
        Kind::Bool => parse_bool(t).map(Cell::Bool).ok_or(None),
        Kind::Int32 => match t.parse::<i64>() {
            Ok(i) if i32::try_from(i).is_ok() => Ok(Cell::Int(i)),
            Ok(_) => Err(Some(INT_RANGE.to_string())),
            Err(_) => Err(None),
        },
        Kind::Int64 => t.parse::<i64>().map(Cell::Int).map_err(|_| None),
        Kind::Float64 => t.parse::<f64>().map(Cell::Float).map_err(|_| None),
        Kind::Str | Kind::Text => Ok(Cell::Text(Cow::Borrowed(s))),
        Kind::Bytes => Ok(Cell::Bytes(Cow::Borrowed(s.as_bytes()))),
        Kind::Fixed(size) => fixed(s, *size),
        Kind::Enum(symbols) => {
            if symbols.iter().any(|x| x == s) {
                Ok(Cell::Text(Cow::Borrowed(s)))
            } else {
                Err(None)
            }
        }
        Kind::Date => days_from_text(t).map(Cell::Int).map_err(Some),
        Kind::Time(unit) => time_from_text(t, *unit).map(Cell::Int).map_err(Some),
        Kind::Timestamp(unit) => timestamp_from_text(t, *unit).map(Cell::Int).map_err(Some),
        Kind::Uuid => uuid(t),
        Kind::Decimal { precision, scale } => {
            decimal_from_text(t, u32::from(*precision), i32::from(*scale))
                .map(Cell::Dec)
                .map_err(Some)
        }
        Kind::Numbers { branches, .. } => first_branch(branches, |k| parse_text(k, s)),
        Kind::Nested(AvroType::Union(branches)) => union_text(branches, s),
        Kind::Nested(ty) => {
            let v: Value =
                serde_json::from_str(s).map_err(|e| Some(format!("the text is not JSON ({e})")))?;
            nested(&v, ty)?;
            Ok(Cell::Text(Cow::Borrowed(s)))
        }
        Kind::Null => Err(None),
    }
}

/// True/false in any case.
pub(crate) fn parse_bool(t: &str) -> Option<bool> {
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Text for a `fixed`: its UTF-8 bytes, which must number exactly `size`.
fn fixed(s: &str, size: usize) -> Result<Cell<'_>, Mismatch> {
    if s.len() == size {
        Ok(Cell::Bytes(Cow::Borrowed(s.as_bytes())))
    } else {
        Err(Some(format!(
            "it has {} bytes but the fixed size is {size}",
            s.len()
        )))
    }
}

fn uuid(s: &str) -> Result<Cell<'_>, Mismatch> {
    if is_uuid(s) {
        Ok(Cell::Text(Cow::Borrowed(s)))
    } else {
        Err(Some(NOT_UUID.to_string()))
    }
}

/// The cell of the first branch (in schema order) the value fits.
fn first_branch<'a>(
    branches: &[AvroType],
    mut parse: impl FnMut(&Kind) -> Result<Cell<'a>, Mismatch>,
) -> Result<Cell<'a>, Mismatch> {
    branches
        .iter()
        .filter(|b| **b != AvroType::Null)
        .find_map(|b| parse(&Kind::of(b)).ok())
        .ok_or(None)
}

/// A union's text, stored as JSON text: the text itself when it is JSON that
/// fits a branch (so Keel's own output reads back), else the text as a string
/// when a branch takes text as it is (`string`, `enum`, `date`, ...).
fn union_text<'a>(branches: &[AvroType], s: &'a str) -> Result<Cell<'a>, Mismatch> {
    if let Ok(v) = serde_json::from_str::<Value>(s)
        && !v.is_null()
        && branches.iter().any(|b| check_json(&v, b).is_ok())
    {
        return Ok(Cell::Text(Cow::Owned(v.to_string())));
    }
    let fits = branches
        .iter()
        .filter(|b| !matches!(b, AvroType::Null))
        .any(|b| parse_text(&Kind::of(b), s).is_ok());
    if fits {
        Ok(Cell::Text(Cow::Owned(
            Value::String(s.to_string()).to_string(),
        )))
    } else {
        Err(None)
    }
}

/// Converts a non-null JSON value as `kind`. JSON values are typed: a string
/// is never a number, but an integer is accepted where a float is expected,
/// and logical types take their Avro JSON encoding (numbers) or text.
pub(crate) fn parse_json<'a>(kind: &Kind, v: &'a Value) -> Result<Cell<'a>, Mismatch> {
    match (kind, v) {
        (Kind::Bool, Value::Bool(b)) => Ok(Cell::Bool(*b)),
        (Kind::Int32, Value::Number(n)) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Ok(Cell::Int(i)),
            Some(_) => Err(Some(INT_RANGE.to_string())),
            None => Err(None),
        },
        (Kind::Int64, Value::Number(n)) => n.as_i64().map(Cell::Int).ok_or(None),
        (Kind::Float64, Value::Number(n)) => n.as_f64().map(Cell::Float).ok_or(None),
        // How Keel's JSON outputs (and Python's json module) spell the
        // floats JSON has no number for.
        (Kind::Float64, Value::String(s)) => match s.as_str() {
            "NaN" => Ok(Cell::Float(f64::NAN)),
            "Infinity" => Ok(Cell::Float(f64::INFINITY)),
            "-Infinity" => Ok(Cell::Float(f64::NEG_INFINITY)),
            _ => Err(None),
        },
        (Kind::Str, Value::String(s)) => Ok(Cell::Text(Cow::Borrowed(s))),
        (Kind::Bytes, Value::String(s)) => Ok(Cell::Bytes(Cow::Borrowed(s.as_bytes()))),
        (Kind::Fixed(size), Value::String(s)) => fixed(s, *size),
        (Kind::Enum(symbols), Value::String(s)) if symbols.iter().any(|x| x == s) => {
            Ok(Cell::Text(Cow::Borrowed(s)))
        }
        (Kind::Date, Value::Number(n)) => {
            whole(n).and_then(|d| days(d).map(Cell::Int).map_err(Some))
        }
        (Kind::Date, Value::String(s)) => days_from_text(s).map(Cell::Int).map_err(Some),
        (Kind::Time(unit), Value::Number(n)) => {
            whole(n).and_then(|t| time_of_day(t, *unit).map(Cell::Int).map_err(Some))
        }
        (Kind::Time(unit), Value::String(s)) => {
            time_from_text(s, *unit).map(Cell::Int).map_err(Some)
        }
        (Kind::Timestamp(unit), Value::Number(n)) => {
            whole(n).and_then(|t| instant(t, *unit).map(Cell::Int).map_err(Some))
        }
        (Kind::Timestamp(unit), Value::String(s)) => {
            timestamp_from_text(s, *unit).map(Cell::Int).map_err(Some)
        }
        (Kind::Uuid, Value::String(s)) => uuid(s),
        (Kind::Decimal { precision, scale }, Value::Number(_) | Value::String(_)) => {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            decimal_from_text(&text, u32::from(*precision), i32::from(*scale))
                .map(Cell::Dec)
                .map_err(Some)
        }
        (Kind::Numbers { branches, .. }, v) => first_branch(branches, |k| parse_json(k, v)),
        (Kind::Nested(ty), v) => {
            nested(v, ty)?;
            Ok(Cell::Text(Cow::Owned(v.to_string())))
        }
        (Kind::Text, Value::String(s)) => Ok(Cell::Text(Cow::Borrowed(s))),
        (Kind::Text, v) => Ok(Cell::Text(Cow::Owned(v.to_string()))),
        _ => Err(None),
    }
}

/// Checks a nested value, keeping only what `mismatch_reason` does not say
/// already: a value of the wrong kind altogether has no detail, one with a
/// bad part inside says which part (`item 1: expected long, found "x"`).
fn nested(v: &Value, ty: &AvroType) -> Result<(), Mismatch> {
    let Err(e) = check_json(v, ty) else {
        return Ok(());
    };
    let top = format!("expected {}, found {}", ty.describe(), short_json(v));
    match e.strip_prefix(&top) {
        Some("") => Err(None),
        Some(rest) => Err(Some(rest.trim_start_matches(": ").to_string())),
        None => Err(Some(e)),
    }
}

/// A JSON number that is a whole number (`19753`, not `19753.5`).
fn whole(n: &serde_json::Number) -> Result<i64, Mismatch> {
    n.as_i64().ok_or(None)
}

/// Checks a JSON value against an Avro type, as Avro's JSON encoding writes
/// it (unions without their `{"type": value}` wrapper, as plain JSON data has
/// them), with the text forms Keel also accepts for logical types. A null
/// fits only `null` (or a union with it); a record's field that is missing or
/// null may take its default.
pub(crate) fn check_json(value: &Value, ty: &AvroType) -> Result<(), String> {
    let mismatch = |detail: Option<String>| {
        let base = format!("expected {}, found {}", ty.describe(), short_json(value));
        match detail {
            Some(d) => format!("{base}: {d}"),
            None => base,
        }
    };
    match (ty, value) {
        (AvroType::Null, Value::Null) => Ok(()),
        (AvroType::Union(branches), v) => {
            if branches.iter().any(|b| check_json(v, b).is_ok()) {
                Ok(())
            } else {
                Err(mismatch(None))
            }
        }
        (_, Value::Null) => Err(mismatch(None)),
        (AvroType::Array(items), Value::Array(values)) => {
            for (i, v) in values.iter().enumerate() {
                check_json(v, items).map_err(|e| format!("item {i}: {e}"))?;
            }
            Ok(())
        }
        (AvroType::Map(inner), Value::Object(entries)) => {
            for (k, v) in entries {
                check_json(v, inner).map_err(|e| format!("key '{k}': {e}"))?;
            }
            Ok(())
        }
        (AvroType::Record(fields), Value::Object(entries)) => {
            for f in fields {
                match entries.get(&f.name) {
                    None | Some(Value::Null) if !f.optional() => {
                        return Err(format!("field '{}' is required but missing", f.name));
                    }
                    Some(v) if !v.is_null() => {
                        check_json(v, &f.ty).map_err(|e| format!("field '{}': {e}", f.name))?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        (AvroType::Array(_) | AvroType::Map(_) | AvroType::Record(_), _) => Err(mismatch(None)),
        (scalar, v) => parse_json(&Kind::of(scalar), v)
            .map(|_| ())
            .map_err(mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_parses_by_kind() {
        assert_eq!(parse_text(&Kind::Int64, " 42 "), Ok(Cell::Int(42)));
        assert_eq!(parse_text(&Kind::Float64, "1.5"), Ok(Cell::Float(1.5)));
        assert_eq!(parse_text(&Kind::Bool, "TRUE"), Ok(Cell::Bool(true)));
        assert_eq!(parse_text(&Kind::Float64, "abc"), Err(None));
        assert!(matches!(
            parse_text(&Kind::Int32, "3000000000"),
            Err(Some(_))
        ));
        let e = Kind::Enum(vec!["A".into()]);
        assert!(parse_text(&e, "A").is_ok());
        assert!(parse_text(&e, "B").is_err());
        let nested = Kind::Nested(AvroType::Array(Box::new(AvroType::Long)));
        assert!(parse_text(&nested, "[1, 2]").is_ok());
        assert!(parse_text(&nested, "[1, \"x\"]").is_err());
        assert_eq!(parse_text(&Kind::Date, "2024-01-31"), Ok(Cell::Int(19_753)));
        assert_eq!(
            parse_text(
                &Kind::Decimal {
                    precision: 4,
                    scale: 2
                },
                "1.5"
            ),
            Ok(Cell::Dec(150))
        );
        assert!(parse_text(&Kind::Fixed(2), "abc").is_err());
    }

    #[test]
    fn json_parses_by_kind_strictly() {
        let three = Value::from("3");
        assert_eq!(parse_json(&Kind::Float64, &three), Err(None));
        assert_eq!(
            parse_json(&Kind::Float64, &Value::from(3)),
            Ok(Cell::Float(3.0))
        );
        assert_eq!(parse_json(&Kind::Int64, &Value::from(3.5)), Err(None));
        assert_eq!(
            parse_json(&Kind::Text, &json!({"a": 1})),
            Ok(Cell::Text(Cow::Owned("{\"a\":1}".into())))
        );
        assert_eq!(parse_json(&Kind::Date, &json!(19_753.5)), Err(None));
        assert_eq!(
            parse_json(
                &Kind::Decimal {
                    precision: 4,
                    scale: 2
                },
                &json!("12.5")
            ),
            Ok(Cell::Dec(1250))
        );
    }

    #[test]
    fn unions_take_the_first_branch_that_fits() {
        let int_or_double = Kind::of(&AvroType::Union(vec![AvroType::Int, AvroType::Double]));
        assert_eq!(parse_json(&int_or_double, &json!(3)), Ok(Cell::Int(3)));
        assert_eq!(
            parse_json(&int_or_double, &json!(3_000_000_000i64)),
            Ok(Cell::Float(3e9))
        );
        assert_eq!(parse_text(&int_or_double, "2.5"), Ok(Cell::Float(2.5)));
        let mixed = Kind::of(&AvroType::Union(vec![AvroType::Int, AvroType::String]));
        let text = |c: Result<Cell<'_>, Mismatch>| match c {
            Ok(Cell::Text(t)) => t.into_owned(),
            other => format!("{other:?}"),
        };
        assert_eq!(text(parse_json(&mixed, &json!("abc"))), "\"abc\"");
        assert_eq!(text(parse_json(&mixed, &json!(3))), "3");
        assert_eq!(text(parse_text(&mixed, "3")), "3");
        assert_eq!(text(parse_text(&mixed, "\"3\"")), "\"3\"");
        assert_eq!(text(parse_text(&mixed, "abc")), "\"abc\"");
        assert_eq!(parse_json(&mixed, &json!(2.5)), Err(None));
        let arr = Kind::of(&AvroType::Array(Box::new(AvroType::Long)));
        assert_eq!(parse_json(&arr, &json!(3)), Err(None));
        assert_eq!(
            parse_json(&arr, &json!([1, "x"])),
            Err(Some("item 1: expected long, found \"x\"".into()))
        );
    }

    #[test]
    fn json_values_are_checked_against_types() {
        assert!(check_json(&Value::from(3), &AvroType::Double).is_ok());
        assert!(check_json(&Value::from(3.5), &AvroType::Long).is_err());
        assert!(check_json(&Value::from(3_000_000_000i64), &AvroType::Int).is_err());
        assert_eq!(
            check_json(&Value::from("3"), &AvroType::Double).unwrap_err(),
            "expected double, found \"3\""
        );
        let arr = AvroType::Array(Box::new(AvroType::Long));
        assert_eq!(
            check_json(&json!([1, "x"]), &arr).unwrap_err(),
            "item 1: expected long, found \"x\""
        );
        assert_eq!(
            check_json(&json!([1, null]), &arr).unwrap_err(),
            "item 1: expected long, found null"
        );
        let nullable_items = AvroType::Array(Box::new(AvroType::Union(vec![
            AvroType::Null,
            AvroType::Long,
        ])));
        assert!(check_json(&json!([1, null]), &nullable_items).is_ok());
        assert_eq!(
            check_json(&json!("2024-13-01"), &AvroType::Date).unwrap_err(),
            "expected date, found \"2024-13-01\": write dates as YYYY-MM-DD (2024-01-31) or as \
             days since 1970-01-01"
        );
    }
}
