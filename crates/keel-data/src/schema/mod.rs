//! Avro schemas (`.avsc` files, as ModelOp uses them) of every top-level
//! type, parsed by hand with `serde_json`, their one tabular view (columns
//! and a [`Shape`]), and their mapping onto Arrow types.

mod names;
mod parse;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use serde_json::{Map, Value};

use crate::cells::Kind;
use crate::error::Result;

/// The column name of a value schema that names nothing.
pub const DEFAULT_VALUE_COLUMN: &str = "prediction";

/// How a schema's rows map to model calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A record: one row per model call's record; the columns are its fields.
    Record,
    /// An array of records: each model call gives or takes a list of such
    /// records, and each item is one row; the columns are the items' fields.
    RecordList,
    /// Any other type: one value per model call, in one column.
    Value,
    /// An array of any type but a record: each model call gives or takes a
    /// list of values, and each item is one row of the one column.
    ValueList,
}

impl Shape {
    /// True when a model call gives or takes a list of rows.
    pub fn is_list(self) -> bool {
        matches!(self, Shape::RecordList | Shape::ValueList)
    }

    /// True when the rows are single values in one column.
    pub fn is_value(self) -> bool {
        matches!(self, Shape::Value | Shape::ValueList)
    }
}

/// An Avro schema seen as a table: its columns ([`AvroSchema::fields`]) and
/// how rows map to model calls ([`AvroSchema::shape`]).
#[derive(Clone, Debug, PartialEq)]
pub struct AvroSchema {
    /// The record's name for record shapes; for value shapes, the value
    /// column's name as the schema gives it (`prediction` when it names nothing).
    pub name: String,
    /// The columns, in schema order: a record's (or an array's records')
    /// fields, or the one column of a value schema.
    pub fields: Vec<AvroField>,
    /// Where the schema came from (a file name), used in messages about records that break it.
    pub source: String,
    shape: Shape,
}

/// One column of a schema: a field of an Avro record, or the one value of a value schema.
#[derive(Clone, Debug, PartialEq)]
pub struct AvroField {
    /// The field name (the column name in tabular data).
    pub name: String,
    /// The field's type, with `"null"` taken out of a union (`["null", T]` is `T`).
    pub ty: AvroType,
    /// True when the field's type was a union with `"null"` (or is `"null"`).
    pub nullable: bool,
    /// The field's `default`, verbatim.
    pub default: Option<Value>,
    /// Every other key of the field object (such as `role`, `protected_class`, `doc`), verbatim.
    /// For a value schema, the keys of the top-level object that do not define the type.
    pub attributes: Map<String, Value>,
}

/// An Avro type, with logical types resolved and named types inlined.
#[derive(Clone, Debug, PartialEq)]
pub enum AvroType {
    /// `boolean`.
    Boolean,
    /// `int`: a 32-bit signed integer.
    Int,
    /// `long`: a 64-bit signed integer.
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `string`.
    String,
    /// `bytes`.
    Bytes,
    /// `fixed`, with its size in bytes.
    Fixed(usize),
    /// `enum`, with its symbols.
    Enum(Vec<String>),
    /// `array` of items.
    Array(Box<AvroType>),
    /// `map` from strings to values.
    Map(Box<AvroType>),
    /// A nested `record`.
    Record(Vec<AvroField>),
    /// A union of several types, in schema order. A field's union drops
    /// `"null"` into [`AvroField::nullable`] and is reduced to its type when
    /// one is left; nested unions (array items, map values) keep `Null` as a branch.
    Union(Vec<AvroType>),
    /// `null`.
    Null,
    /// `date` on `int`: days since 1970-01-01.
    Date,
    /// `time-millis` on `int`: milliseconds since midnight.
    TimeMillis,
    /// `time-micros` on `long`: microseconds since midnight.
    TimeMicros,
    /// `timestamp-millis` on `long`: milliseconds since 1970-01-01T00:00:00Z.
    TimestampMillis,
    /// `timestamp-micros` on `long`: microseconds since 1970-01-01T00:00:00Z.
    TimestampMicros,
    /// `uuid` on `string`.
    Uuid,
    /// `decimal` on `bytes` or `fixed`: at most `precision` digits, `scale` of them after the point.
    Decimal {
        /// The number of digits in all (1 to 38).
        precision: u8,
        /// The number of digits after the point (0 to `precision`).
        scale: u8,
    },
}

impl AvroType {
    /// The Avro spelling of this type, for messages ("double", "one of RED, GREEN").
    pub fn describe(&self) -> String {
        match self {
            AvroType::Boolean => "boolean".into(),
            AvroType::Int => "int".into(),
            AvroType::Long => "long".into(),
            AvroType::Float => "float".into(),
            AvroType::Double => "double".into(),
            AvroType::String => "string".into(),
            AvroType::Bytes => "bytes".into(),
            AvroType::Fixed(size) => format!("fixed of {size} bytes"),
            AvroType::Enum(symbols) => format!("one of {}", symbols.join(", ")),
            AvroType::Array(items) => format!("array of {}", items.describe()),
            AvroType::Map(values) => format!("map of {}", values.describe()),
            AvroType::Record(_) => "record".into(),
            AvroType::Union(branches) => branches
                .iter()
                .map(AvroType::describe)
                .collect::<Vec<_>>()
                .join(" or "),
            AvroType::Null => "null".into(),
            AvroType::Date => "date".into(),
            AvroType::TimeMillis => "time-millis".into(),
            AvroType::TimeMicros => "time-micros".into(),
            AvroType::TimestampMillis => "timestamp-millis".into(),
            AvroType::TimestampMicros => "timestamp-micros".into(),
            AvroType::Uuid => "uuid".into(),
            AvroType::Decimal { precision, scale } => format!("decimal({precision}, {scale})"),
        }
    }

    /// The Arrow type Keel stores this Avro type as. Arrays, maps, records
    /// and unions that are not all numeric are kept as UTF-8 JSON text, so
    /// every model sees the same shape whatever the file format; logical
    /// types become Arrow's own (Date32, Time32, Time64, Timestamp in UTC,
    /// Decimal128).
    pub fn arrow_type(&self) -> DataType {
        Kind::of(self).arrow_type()
    }

    /// True when values of this type are stored as JSON text (see [`AvroType::arrow_type`]).
    pub fn stored_as_json(&self) -> bool {
        matches!(Kind::of(self), Kind::Nested(_))
    }
}

impl AvroSchema {
    /// Parses an Avro schema of any top-level type: a record, an array, a
    /// primitive (`"double"` or `{"type": "double"}`), an enum, a map, a
    /// fixed, a union or a logical type. `source` names the schema (usually
    /// its file name) in error messages and in messages about records that
    /// break it.
    pub fn parse(json: &str, source: &str) -> Result<AvroSchema> {
        let (name, fields, shape) = parse::parse(json, source)?;
        Ok(AvroSchema {
            name,
            fields,
            source: source.to_string(),
            shape,
        })
    }

    /// How rows map to model calls.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The one column's name for value shapes (`Value`, `ValueList`); `None` for record shapes.
    pub fn value_column(&self) -> Option<&str> {
        match self.shape {
            Shape::Value | Shape::ValueList => self.fields.first().map(|f| f.name.as_str()),
            Shape::Record | Shape::RecordList => None,
        }
    }

    /// The same schema with its value column called `name` (as `keel.toml`
    /// may choose). Record shapes are returned unchanged: their columns are their fields.
    pub fn with_value_column(mut self, name: &str) -> AvroSchema {
        if self.shape.is_value()
            && let Some(f) = self.fields.first_mut()
        {
            f.name = name.to_string();
        }
        self
    }

    /// The Arrow schema records checked against this schema have.
    pub fn to_arrow(&self) -> Schema {
        Schema::new(
            self.fields
                .iter()
                .map(|f| Arc::new(f.arrow_field()))
                .collect::<Vec<_>>(),
        )
    }

    /// The columns stored as JSON text (arrays, maps, records and unions that
    /// are not all numbers), for [`crate::OutputFile::json_text`].
    pub fn json_columns(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.ty.stored_as_json())
            .map(|f| f.name.clone())
            .collect()
    }

    /// The field with this name, if any.
    pub fn field(&self, name: &str) -> Option<&AvroField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl AvroField {
    /// The Arrow field this Avro field is stored as.
    pub fn arrow_field(&self) -> Field {
        Field::new(
            &self.name,
            self.ty.arrow_type(),
            self.nullable || self.ty == AvroType::Null,
        )
    }

    /// True when a record may lack this field: it is nullable or has a default.
    pub fn optional(&self) -> bool {
        self.nullable || self.default.is_some() || self.ty == AvroType::Null
    }
}

/// A JSON value as compact text, cut short so messages stay readable.
pub(crate) fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        text
    } else {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests;
