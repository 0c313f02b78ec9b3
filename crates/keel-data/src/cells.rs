//! The shared machinery of the CSV and JSON readers: column plans (what type
//! each output column has and which schema rule checks it), typed cells
//! parsed from text or JSON, and Arrow builders that collect them.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, NullArray, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::schema::{AvroField, AvroSchema, AvroType, check_json, short_json};

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
    /// Stored as Utf8; must be one of the symbols.
    Enum(Vec<String>),
    /// A nested Avro type, checked and stored as Utf8 JSON text.
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
            AvroType::Enum(symbols) => Kind::Enum(symbols.clone()),
            AvroType::Array(_) | AvroType::Map(_) | AvroType::Record(_) => Kind::Nested(ty.clone()),
            AvroType::Null => Kind::Null,
        }
    }

    /// The Arrow type the column is stored as.
    pub(crate) fn arrow_type(&self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int32 | Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Str | Kind::Enum(_) | Kind::Nested(_) | Kind::Text => DataType::Utf8,
            Kind::Bytes => DataType::Binary,
            Kind::Null => DataType::Null,
        }
    }
}

/// One typed value on its way into a builder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
}

impl Cell<'_> {
    /// A copy that borrows nothing, for defaults that live as long as the reader.
    fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Bool(b) => Cell::Bool(b),
            Cell::Int(i) => Cell::Int(i),
            Cell::Float(f) => Cell::Float(f),
            Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
            Cell::Bytes(b) => Cell::Bytes(Cow::Owned(b.into_owned())),
        }
    }
}

/// Why a value did not parse: an optional detail added after "expected T, found V".
pub(crate) type Mismatch = Option<String>;

pub(crate) const INT_RANGE: &str =
    "an int must lie between -2147483648 and 2147483647; use long for larger numbers";

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
        Kind::Enum(symbols) => {
            if symbols.iter().any(|x| x == s) {
                Ok(Cell::Text(Cow::Borrowed(s)))
            } else {
                Err(None)
            }
        }
        Kind::Nested(ty) => {
            let v: Value =
                serde_json::from_str(s).map_err(|e| Some(format!("the text is not JSON ({e})")))?;
            check_json(&v, ty).map_err(Some)?;
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

/// Converts a non-null JSON value as `kind`. JSON values are typed: a string
/// is never a number, but an integer is accepted where a float is expected.
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
        (Kind::Str, Value::String(s)) => Ok(Cell::Text(Cow::Borrowed(s))),
        (Kind::Bytes, Value::String(s)) => Ok(Cell::Bytes(Cow::Borrowed(s.as_bytes()))),
        (Kind::Enum(symbols), Value::String(s)) if symbols.iter().any(|x| x == s) => {
            Ok(Cell::Text(Cow::Borrowed(s)))
        }
        (Kind::Nested(ty), v) => {
            check_json(v, ty).map_err(Some)?;
            Ok(Cell::Text(Cow::Owned(v.to_string())))
        }
        (Kind::Text, Value::String(s)) => Ok(Cell::Text(Cow::Borrowed(s))),
        (Kind::Text, v) => Ok(Cell::Text(Cow::Owned(v.to_string()))),
        _ => Err(None),
    }
}

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
/// input lacks, which must be nullable or have a default.
pub(crate) fn plan(
    names: &[String],
    inferred: &[Kind],
    schema: Option<&AvroSchema>,
    file: &str,
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
            if !f.optional() {
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

/// An Arrow builder for one column.
pub(crate) enum Builder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Null(usize),
}

impl Builder {
    pub(crate) fn new(kind: &Kind, capacity: usize) -> Builder {
        match kind.arrow_type() {
            DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Int64 => Builder::Int(Int64Builder::with_capacity(capacity)),
            DataType::Float64 => Builder::Float(Float64Builder::with_capacity(capacity)),
            DataType::Binary => Builder::Bin(BinaryBuilder::with_capacity(capacity, capacity * 8)),
            DataType::Null => Builder::Null(0),
            _ => Builder::Str(StringBuilder::with_capacity(capacity, capacity * 8)),
        }
    }

    /// Appends a cell. The parsers only make cells that fit their column's
    /// builder, so a mismatch cannot happen; it would be stored as null.
    pub(crate) fn push(&mut self, cell: &Cell<'_>) {
        match (self, cell) {
            (Builder::Null(n), _) => *n += 1,
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Builder::Int(b), Cell::Int(v)) => b.append_value(*v),
            (Builder::Float(b), Cell::Float(v)) => b.append_value(*v),
            (Builder::Float(b), Cell::Int(v)) => b.append_value(*v as f64),
            (Builder::Str(b), Cell::Text(v)) => b.append_value(v),
            (Builder::Bin(b), Cell::Bytes(v)) => b.append_value(v),
            (Builder::Bin(b), Cell::Text(v)) => b.append_value(v.as_bytes()),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Float(b), _) => b.append_null(),
            (Builder::Str(b), _) => b.append_null(),
            (Builder::Bin(b), _) => b.append_null(),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Bin(b) => Arc::new(b.finish()),
            Builder::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
        }
    }
}

/// Collects accepted rows for one chunk.
pub(crate) struct Batcher {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
}

impl Batcher {
    pub(crate) fn new(cols: &[Col], schema: SchemaRef, capacity: usize) -> Batcher {
        Batcher {
            schema,
            builders: cols
                .iter()
                .map(|c| Builder::new(&c.kind, capacity))
                .collect(),
            rows: 0,
        }
    }

    /// Appends one accepted row (one cell per column).
    pub(crate) fn push_row(&mut self, cells: &[Cell<'_>]) {
        for (b, c) in self.builders.iter_mut().zip(cells) {
            b.push(c);
        }
        self.rows += 1;
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch> {
        let columns = self.builders.iter_mut().map(Builder::finish).collect();
        let rows = std::mem::take(&mut self.rows);
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| Error::Internal(format!("cannot assemble a batch of {rows} rows: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

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
            parse_json(&Kind::Text, &serde_json::json!({"a": 1})),
            Ok(Cell::Text(Cow::Owned("{\"a\":1}".into())))
        );
    }
}
