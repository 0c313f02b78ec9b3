//! The shared machinery of the readers and of the batch check: column plans
//! (what type each output column has and which schema rule checks it),
//! typed cells parsed from text or JSON (`value`), and Arrow builders that
//! collect them (`builder`).

mod builder;
mod value;

use std::borrow::Cow;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

pub(crate) use builder::{Batcher, Builder};
pub(crate) use value::{check_json, parse_bool, parse_json, parse_text};

use crate::error::{Error, Result};
use crate::logical::Unit;
use crate::schema::{AvroField, AvroSchema, AvroType, short_json};

/// How one output column's values are parsed and stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    /// Stored as Boolean.
    Bool,
    /// Avro `int`: stored as Int64 but must fit in 32 bits.
    Int32,
    /// Stored as Int64.
    Int64,
    /// Stored as Float64.
    Float64,
    /// Stored as Utf8.
    Str,
    /// Stored as Binary.
    Bytes,
    /// Stored as FixedSizeBinary; each value must have exactly this many bytes.
    Fixed(usize),
    /// Stored as Utf8; must be one of the symbols.
    Enum(Vec<String>),
    /// Avro `date`: stored as Date32.
    Date,
    /// Avro `time-millis` (Time32 in ms) or `time-micros` (Time64 in µs).
    Time(Unit),
    /// Avro `timestamp-millis` or `timestamp-micros`: stored as Timestamp in UTC.
    Timestamp(Unit),
    /// Avro `uuid`: stored as Utf8, checked to be a UUID.
    Uuid,
    /// Avro `decimal`: stored as Decimal128.
    Decimal { precision: u8, scale: u8 },
    /// A union whose branches are all numbers: Int64 when every branch is
    /// `int` or `long`, else Float64. The first branch a value fits decides.
    Numbers { branches: Vec<AvroType>, int: bool },
    /// A nested Avro type (array, map, record, or any other union), checked
    /// and stored as Utf8 JSON text.
    Nested(AvroType),
    /// An inferred JSON column of mixed types: strings stay as they are, anything else becomes JSON text.
    Text,
    /// Always null.
    Null,
}

impl Kind {
    /// The reading kind for an Avro type.
    pub(crate) fn of(ty: &AvroType) -> Kind {
        match ty {
            AvroType::Boolean => Kind::Bool,
            AvroType::Int => Kind::Int32,
            AvroType::Long => Kind::Int64,
            AvroType::Float | AvroType::Double => Kind::Float64,
            AvroType::String => Kind::Str,
            AvroType::Bytes => Kind::Bytes,
            AvroType::Fixed(size) => Kind::Fixed(*size),
            AvroType::Enum(symbols) => Kind::Enum(symbols.clone()),
            AvroType::Date => Kind::Date,
            AvroType::TimeMillis => Kind::Time(Unit::Millis),
            AvroType::TimeMicros => Kind::Time(Unit::Micros),
            AvroType::TimestampMillis => Kind::Timestamp(Unit::Millis),
            AvroType::TimestampMicros => Kind::Timestamp(Unit::Micros),
            AvroType::Uuid => Kind::Uuid,
            AvroType::Decimal { precision, scale } => Kind::Decimal {
                precision: *precision,
                scale: *scale,
            },
            AvroType::Union(branches) => {
                let values = branches.iter().filter(|b| **b != AvroType::Null);
                let is = |f: fn(&AvroType) -> bool| values.clone().all(f);
                if is(|b| matches!(b, AvroType::Int | AvroType::Long)) {
                    Kind::Numbers {
                        branches: branches.clone(),
                        int: true,
                    }
                } else if is(|b| {
                    matches!(
                        b,
                        AvroType::Int | AvroType::Long | AvroType::Float | AvroType::Double
                    )
                }) {
                    Kind::Numbers {
                        branches: branches.clone(),
                        int: false,
                    }
                } else {
                    Kind::Nested(ty.clone())
                }
            }
            AvroType::Array(_) | AvroType::Map(_) | AvroType::Record(_) => Kind::Nested(ty.clone()),
            AvroType::Null => Kind::Null,
        }
    }

    /// The Arrow type the column is stored as.
    pub(crate) fn arrow_type(&self) -> DataType {
        let unit = |u: &Unit| match u {
            Unit::Millis => TimeUnit::Millisecond,
            Unit::Micros => TimeUnit::Microsecond,
        };
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int32 | Kind::Int64 | Kind::Numbers { int: true, .. } => DataType::Int64,
            Kind::Float64 | Kind::Numbers { int: false, .. } => DataType::Float64,
            Kind::Str | Kind::Enum(_) | Kind::Uuid | Kind::Nested(_) | Kind::Text => DataType::Utf8,
            Kind::Bytes => DataType::Binary,
            // A size beyond i32 cannot be an Arrow type; no value will ever fit it.
            Kind::Fixed(size) => {
                DataType::FixedSizeBinary(i32::try_from(*size).unwrap_or(i32::MAX))
            }
            Kind::Date => DataType::Date32,
            Kind::Time(Unit::Millis) => DataType::Time32(TimeUnit::Millisecond),
            Kind::Time(Unit::Micros) => DataType::Time64(TimeUnit::Microsecond),
            Kind::Timestamp(u) => DataType::Timestamp(unit(u), Some(Arc::from(UTC))),
            // Precision is at most 38 and scale at most precision, so both fit i8.
            Kind::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
            Kind::Null => DataType::Null,
        }
    }
}

/// The Arrow time zone of timestamps: UTC, spelled as an offset because
/// Arrow formats and casts named zones only with the time-zone database
/// (arrow's `chrono-tz` feature), which Keel does not build. pyarrow gives
/// such values to Python as `datetime`s in `datetime.timezone.utc`.
pub(crate) const UTC: &str = "+00:00";

/// One typed value on its way into a builder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    /// An integer, or a date, time or timestamp in its column's unit.
    Int(i64),
    Float(f64),
    /// An unscaled decimal at its column's scale.
    Dec(i128),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
}

impl Cell<'_> {
    /// A copy that borrows nothing, for defaults that live as long as the reader.
    pub(crate) fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Bool(b) => Cell::Bool(b),
            Cell::Int(i) => Cell::Int(i),
            Cell::Float(f) => Cell::Float(f),
            Cell::Dec(d) => Cell::Dec(d),
            Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
            Cell::Bytes(b) => Cell::Bytes(Cow::Owned(b.into_owned())),
        }
    }
}

/// Why a value did not parse: an optional detail added after "expected T, found V".
pub(crate) type Mismatch = Option<String>;

pub(crate) const INT_RANGE: &str =
    "an int must lie between -2147483648 and 2147483647; use long for larger numbers";

/// How a schema field checks its column.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The Avro type, spelled for messages ("double").
    pub expected: String,
    /// Whether null is allowed.
    pub nullable: bool,
    /// The non-null default, used when the value is missing (or null in a non-nullable field).
    pub default: Option<Cell<'static>>,
}

/// One output column.
#[derive(Debug)]
pub(crate) struct Col {
    pub name: String,
    pub kind: Kind,
    /// Set for columns the schema names; `None` columns pass through unchecked.
    pub rule: Option<Rule>,
    /// Index of the source column (CSV) or key (JSON); `None` when the input lacks it.
    pub src: Option<usize>,
}

/// Builds the column plan: the input's columns in input order (typed by the
/// schema where it names them, else by inference), then the schema's fields the
/// input lacks, which must be nullable or have a default when `records` (the
/// input has records that would all be rejected for lacking them).
pub(crate) fn plan(
    names: &[String],
    inferred: &[Kind],
    schema: Option<&AvroSchema>,
    file: &str,
    records: bool,
) -> Result<Vec<Col>> {
    let mut cols: Vec<Col> = names
        .iter()
        .zip(inferred)
        .enumerate()
        .map(
            |(i, (name, kind))| match schema.and_then(|s| s.field(name)) {
                Some(f) => schema_col(f, Some(i)),
                None => Col {
                    name: name.clone(),
                    kind: kind.clone(),
                    rule: None,
                    src: Some(i),
                },
            },
        )
        .collect();
    if let Some(schema) = schema {
        for f in &schema.fields {
            if names.iter().any(|n| n == &f.name) {
                continue;
            }
            if records && !f.optional() {
                return Err(Error::InvalidData(format!(
                    "{file} has no column '{}', which {} requires; add the column or make the \
                     field nullable",
                    f.name, schema.source
                )));
            }
            cols.push(schema_col(f, None));
        }
    }
    Ok(cols)
}

/// The checking rule for a schema field.
pub(crate) fn rule_of(f: &AvroField) -> Rule {
    let kind = Kind::of(&f.ty);
    // Schema parsing has already checked that a default fits its type, so a
    // default that does not convert cannot happen; it would count as absent.
    let default = match &f.default {
        None | Some(Value::Null) => None,
        Some(d) => parse_json(&kind, d).ok().map(Cell::into_owned),
    };
    Rule {
        expected: f.ty.describe(),
        nullable: f.nullable || f.ty == AvroType::Null,
        default,
    }
}

/// The column plan entry for a schema field.
pub(crate) fn schema_col(f: &AvroField, src: Option<usize>) -> Col {
    Col {
        name: f.name.clone(),
        kind: Kind::of(&f.ty),
        rule: Some(rule_of(f)),
        src,
    }
}

/// The Arrow schema of the batches a plan produces.
pub(crate) fn arrow_schema(cols: &[Col]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|c| {
                let nullable = c.rule.as_ref().is_none_or(|r| r.nullable) || c.kind == Kind::Null;
                Field::new(&c.name, c.kind.arrow_type(), nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// What to store for a missing (`absent`) or null value, or why the record is rejected.
pub(crate) fn null_cell(col: &Col, absent: bool) -> Result<Cell<'static>, String> {
    let Some(rule) = &col.rule else {
        return Ok(Cell::Null);
    };
    match &rule.default {
        Some(d) if absent || !rule.nullable => Ok(d.clone()),
        _ if rule.nullable => Ok(Cell::Null),
        _ => Err(format!("field '{}' is required but missing", col.name)),
    }
}

/// The message for a value that does not parse as its field's type.
pub(crate) fn mismatch_reason(col: &Col, found: &Value, detail: Mismatch) -> String {
    let expected = col.rule.as_ref().map_or("a value", |r| r.expected.as_str());
    match detail {
        Some(d) => format!(
            "field '{}': expected {expected}, found {}: {d}",
            col.name,
            short_json(found)
        ),
        None => format!(
            "field '{}': expected {expected}, found {}",
            col.name,
            short_json(found)
        ),
    }
}
