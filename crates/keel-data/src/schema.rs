//! Avro record schemas (`.avsc` files, as ModelOp uses them), parsed by hand
//! with `serde_json`, and their mapping onto Arrow types.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A top-level Avro record schema.
#[derive(Clone, Debug, PartialEq)]
pub struct AvroSchema {
    /// The record's name.
    pub name: String,
    /// The record's fields, in schema order.
    pub fields: Vec<AvroField>,
    /// Where the schema came from (a file name), used in messages about records that break it.
    pub source: String,
}

/// One field of an Avro record.
#[derive(Clone, Debug, PartialEq)]
pub struct AvroField {
    /// The field name (the column name in tabular data).
    pub name: String,
    /// The field's type, with any `["null", T]` union reduced to `T`.
    pub ty: AvroType,
    /// True when the field's type was a union with `"null"` (or is `"null"`).
    pub nullable: bool,
    /// The field's `default`, verbatim.
    pub default: Option<Value>,
    /// Every other key of the field object (such as `role`, `protected_class`, `doc`), verbatim.
    pub attributes: Map<String, Value>,
}

/// An Avro type. Logical types are reduced to their base type and `fixed` to `Bytes`.
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
    /// `bytes` (and `fixed`).
    Bytes,
    /// `enum`, with its symbols.
    Enum(Vec<String>),
    /// `array` of items.
    Array(Box<AvroType>),
    /// `map` from strings to values.
    Map(Box<AvroType>),
    /// A nested `record`.
    Record(Vec<AvroField>),
    /// `null`.
    Null,
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
            AvroType::Enum(symbols) => format!("one of {}", symbols.join(", ")),
            AvroType::Array(items) => format!("array of {}", items.describe()),
            AvroType::Map(values) => format!("map of {}", values.describe()),
            AvroType::Record(_) => "record".into(),
            AvroType::Null => "null".into(),
        }
    }

    /// The Arrow type Keel stores this Avro type as. Nested types are kept as
    /// UTF-8 JSON text, so every model sees the same shape whatever the file format.
    pub fn arrow_type(&self) -> DataType {
        match self {
            AvroType::Boolean => DataType::Boolean,
            AvroType::Int | AvroType::Long => DataType::Int64,
            AvroType::Float | AvroType::Double => DataType::Float64,
            AvroType::String | AvroType::Enum(_) => DataType::Utf8,
            AvroType::Bytes => DataType::Binary,
            AvroType::Array(_) | AvroType::Map(_) | AvroType::Record(_) => DataType::Utf8,
            AvroType::Null => DataType::Null,
        }
    }
}

impl AvroSchema {
    /// Parses an Avro record schema. `source` names the schema (usually its file
    /// name) in error messages and in messages about records that break it.
    pub fn parse(json: &str, source: &str) -> Result<AvroSchema> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            Error::InvalidSchema(format!(
                "{source} is not valid JSON: {e}; an Avro schema is a JSON object such as \
                 {{\"type\": \"record\", \"name\": \"input\", \"fields\": [...]}}"
            ))
        })?;
        let mut parser = Parser {
            source,
            named: HashMap::new(),
        };
        let obj = match &value {
            Value::Object(obj) if obj.get("type").and_then(Value::as_str) == Some("record") => obj,
            other => {
                return Err(Error::InvalidSchema(format!(
                    "{source} must hold one Avro record (an object with \"type\": \"record\" and \
                     \"fields\"), but its top level is {}",
                    short_json(other)
                )));
            }
        };
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("record")
            .to_string();
        let fields = parser.record_fields(obj, "")?;
        Ok(AvroSchema {
            name,
            fields,
            source: source.to_string(),
        })
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

/// Checks a JSON value against an Avro type, as Avro's JSON encoding writes it.
/// Integers are accepted where a float or double is expected. Nulls nested
/// inside arrays and maps are accepted, because Keel does not track the
/// nullability of array items and map values.
pub(crate) fn check_json(value: &Value, ty: &AvroType) -> std::result::Result<(), String> {
    let ok = match (ty, value) {
        (_, Value::Null) => true,
        (AvroType::Boolean, Value::Bool(_)) => true,
        (AvroType::Int, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        (AvroType::Long, Value::Number(n)) => n.is_i64(),
        (AvroType::Float | AvroType::Double, Value::Number(_)) => true,
        (AvroType::String | AvroType::Bytes, Value::String(_)) => true,
        (AvroType::Enum(symbols), Value::String(s)) => symbols.iter().any(|x| x == s),
        (AvroType::Array(items), Value::Array(values)) => {
            for (i, v) in values.iter().enumerate() {
                check_json(v, items).map_err(|e| format!("item {i}: {e}"))?;
            }
            true
        }
        (AvroType::Map(inner), Value::Object(entries)) => {
            for (k, v) in entries {
                check_json(v, inner).map_err(|e| format!("key '{k}': {e}"))?;
            }
            true
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
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected {}, found {}",
            ty.describe(),
            short_json(value)
        ))
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

/// Parsing state: the schema's source for messages and the named types defined so far.
struct Parser<'a> {
    source: &'a str,
    named: HashMap<String, AvroType>,
}

impl Parser<'_> {
    /// Parses the `fields` of a record object. `prefix` is the dotted path of
    /// the enclosing field, so messages can name nested fields.
    fn record_fields(&mut self, obj: &Map<String, Value>, prefix: &str) -> Result<Vec<AvroField>> {
        let source = self.source;
        let where_ = if prefix.is_empty() {
            "the top-level record".to_string()
        } else {
            format!("the record in field '{prefix}'")
        };
        let Some(Value::Array(raw_fields)) = obj.get("fields") else {
            return Err(Error::InvalidSchema(format!(
                "{source}: {where_} has no \"fields\" array; list the record's fields as \
                 \"fields\": [{{\"name\": ..., \"type\": ...}}]"
            )));
        };
        let mut fields: Vec<AvroField> = Vec::with_capacity(raw_fields.len());
        for (i, raw) in raw_fields.iter().enumerate() {
            let Value::Object(f) = raw else {
                return Err(Error::InvalidSchema(format!(
                    "{source}: field #{} of {where_} is {}, not an object with \"name\" and \"type\"",
                    i + 1,
                    short_json(raw)
                )));
            };
            let Some(name) = f.get("name").and_then(Value::as_str) else {
                return Err(Error::InvalidSchema(format!(
                    "{source}: field #{} of {where_} has no \"name\"; give every field a name",
                    i + 1
                )));
            };
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            if fields.iter().any(|x| x.name == name) {
                return Err(Error::InvalidSchema(format!(
                    "{source}: field '{path}' is defined twice; field names must be unique"
                )));
            }
            let Some(raw_ty) = f.get("type") else {
                return Err(Error::InvalidSchema(format!(
                    "{source}: field '{path}' has no \"type\"; add one, such as \"type\": \"double\""
                )));
            };
            let (ty, nullable) = self.field_type(raw_ty, &path)?;
            let default = f.get("default").cloned();
            if let Some(d) = &default {
                let fits =
                    (d.is_null() && nullable) || (!d.is_null() && check_json(d, &ty).is_ok());
                if !fits && ty != AvroType::Null {
                    return Err(Error::InvalidSchema(format!(
                        "{source}: field '{path}' has default {}, which is not a {}; fix the default \
                         or remove it",
                        short_json(d),
                        ty.describe()
                    )));
                }
            }
            let attributes = f
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "name" | "type" | "default"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            fields.push(AvroField {
                name: name.to_string(),
                ty,
                nullable,
                default,
                attributes,
            });
        }
        Ok(fields)
    }

    /// Parses a field's type, reducing a `["null", T]` union to a nullable `T`.
    fn field_type(&mut self, raw: &Value, path: &str) -> Result<(AvroType, bool)> {
        let source = self.source;
        match raw {
            Value::Array(branches) => {
                let nullable = branches.iter().any(|b| b.as_str() == Some("null"));
                let others: Vec<&Value> = branches
                    .iter()
                    .filter(|b| b.as_str() != Some("null"))
                    .collect();
                match others.as_slice() {
                    [] => Ok((AvroType::Null, true)),
                    [one] => Ok((self.parse_type(one, path)?, nullable)),
                    several => Err(Error::InvalidSchema(format!(
                        "{source}: field '{path}' is a union of several non-null types ({}); Keel \
                         supports only unions of one type with \"null\", such as [\"null\", \"double\"]",
                        several
                            .iter()
                            .map(|v| short_json(v))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                }
            }
            other => {
                let ty = self.parse_type(other, path)?;
                let nullable = ty == AvroType::Null;
                Ok((ty, nullable))
            }
        }
    }

    /// Parses one (non-union) type.
    fn parse_type(&mut self, raw: &Value, path: &str) -> Result<AvroType> {
        let source = self.source;
        match raw {
            Value::String(name) => self.named_type(name, path),
            Value::Array(_) => {
                // A union nested inside an array or map: Keel does not track
                // item nullability, so only the non-null branch matters.
                Ok(self.field_type(raw, path)?.0)
            }
            Value::Object(obj) => {
                let Some(kind) = obj.get("type") else {
                    return Err(Error::InvalidSchema(format!(
                        "{source}: the type of field '{path}' is an object without \"type\""
                    )));
                };
                let Some(kind) = kind.as_str() else {
                    // Such as {"type": ["null", "int"]}: a wrapped union.
                    return Ok(self.field_type(kind, path)?.0);
                };
                let ty = match kind {
                    "record" => AvroType::Record(self.record_fields(obj, path)?),
                    "enum" => {
                        let symbols = obj.get("symbols").and_then(Value::as_array).map(|s| {
                            s.iter()
                                .map(|v| v.as_str().map(str::to_string))
                                .collect::<Option<Vec<_>>>()
                        });
                        match symbols {
                            Some(Some(symbols)) if !symbols.is_empty() => AvroType::Enum(symbols),
                            _ => {
                                return Err(Error::InvalidSchema(format!(
                                    "{source}: the enum of field '{path}' needs \"symbols\", a \
                                     non-empty array of strings"
                                )));
                            }
                        }
                    }
                    "array" => {
                        let Some(items) = obj.get("items") else {
                            return Err(Error::InvalidSchema(format!(
                                "{source}: the array of field '{path}' has no \"items\" type"
                            )));
                        };
                        AvroType::Array(Box::new(self.parse_type(items, path)?))
                    }
                    "map" => {
                        let Some(values) = obj.get("values") else {
                            return Err(Error::InvalidSchema(format!(
                                "{source}: the map of field '{path}' has no \"values\" type"
                            )));
                        };
                        AvroType::Map(Box::new(self.parse_type(values, path)?))
                    }
                    "fixed" => AvroType::Bytes,
                    // A primitive, possibly with a logicalType such as
                    // {"type": "long", "logicalType": "timestamp-millis"}: keep the base type.
                    primitive => self.named_type(primitive, path)?,
                };
                if matches!(kind, "record" | "enum" | "fixed")
                    && let Some(name) = obj.get("name").and_then(Value::as_str)
                {
                    self.named.insert(name.to_string(), ty.clone());
                }
                Ok(ty)
            }
            other => Err(Error::InvalidSchema(format!(
                "{source}: field '{path}' has type {}, which is not an Avro type",
                short_json(other)
            ))),
        }
    }

    /// A primitive type name, or the name of a record, enum or fixed defined earlier.
    fn named_type(&self, name: &str, path: &str) -> Result<AvroType> {
        Ok(match name {
            "boolean" => AvroType::Boolean,
            "int" => AvroType::Int,
            "long" => AvroType::Long,
            "float" => AvroType::Float,
            "double" => AvroType::Double,
            "string" => AvroType::String,
            "bytes" => AvroType::Bytes,
            "null" => AvroType::Null,
            other => {
                // Named types may be referred to by their full or short name.
                let short = other.rsplit('.').next().unwrap_or(other);
                match self.named.get(other).or_else(|| self.named.get(short)) {
                    Some(ty) => ty.clone(),
                    None => {
                        return Err(Error::InvalidSchema(format!(
                            "{}: field '{path}' has unknown type '{other}'; use an Avro type such as \
                             \"string\", \"long\" or \"double\", or define the named type before \
                             using it",
                            self.source
                        )));
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDIT: &str = r#"{
      "type": "record", "name": "input", "namespace": "com.modelop",
      "fields": [
        {"name": "id", "type": "int", "role": "non-predictor"},
        {"name": "amount", "type": ["null", "double"], "default": null, "role": "predictor"},
        {"name": "grade", "type": {"type": "enum", "name": "Grade", "symbols": ["A", "B", "C"]}},
        {"name": "gender", "type": ["string", "null"], "protected_class": true},
        {"name": "opened", "type": {"type": "int", "logicalType": "date"}},
        {"name": "ts", "type": [{"type": "long", "logicalType": "timestamp-millis"}, "null"]},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "extra", "type": {"type": "map", "values": "long"}},
        {"name": "addr", "type": {"type": "record", "name": "Addr", "fields": [
            {"name": "city", "type": "string"}]}},
        {"name": "addr2", "type": ["null", "Addr"]},
        {"name": "score", "type": "float", "default": 0}
      ]
    }"#;

    #[test]
    fn parses_types_unions_logical_types_and_attributes() {
        let s = AvroSchema::parse(CREDIT, "input_schema.avsc").unwrap();
        assert_eq!(s.name, "input");
        assert_eq!(s.source, "input_schema.avsc");
        let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "id", "amount", "grade", "gender", "opened", "ts", "price", "tags", "extra",
                "addr", "addr2", "score"
            ]
        );
        let id = s.field("id").unwrap();
        assert_eq!((id.ty.clone(), id.nullable), (AvroType::Int, false));
        assert_eq!(
            id.attributes.get("role"),
            Some(&Value::from("non-predictor"))
        );
        let amount = s.field("amount").unwrap();
        assert_eq!(
            (amount.ty.clone(), amount.nullable),
            (AvroType::Double, true)
        );
        assert_eq!(amount.default, Some(Value::Null));
        assert_eq!(
            s.field("grade").unwrap().ty,
            AvroType::Enum(vec!["A".into(), "B".into(), "C".into()])
        );
        let gender = s.field("gender").unwrap();
        assert!(
            gender.nullable,
            "[\"string\", \"null\"] is nullable in either order"
        );
        assert_eq!(
            gender.attributes.get("protected_class"),
            Some(&Value::Bool(true))
        );
        assert_eq!(s.field("opened").unwrap().ty, AvroType::Int);
        assert_eq!(s.field("ts").unwrap().ty, AvroType::Long);
        assert!(s.field("ts").unwrap().nullable);
        assert_eq!(s.field("price").unwrap().ty, AvroType::Bytes);
        assert_eq!(
            s.field("tags").unwrap().ty,
            AvroType::Array(Box::new(AvroType::String))
        );
        assert_eq!(
            s.field("extra").unwrap().ty,
            AvroType::Map(Box::new(AvroType::Long))
        );
        let AvroType::Record(inner) = &s.field("addr2").unwrap().ty else {
            panic!("addr2 should refer to the Addr record");
        };
        assert_eq!(inner[0].name, "city");
        assert_eq!(s.field("score").unwrap().default, Some(Value::from(0)));
        assert!(s.field("nope").is_none());
    }

    #[test]
    fn maps_to_arrow_types() {
        let s = AvroSchema::parse(CREDIT, "input_schema.avsc").unwrap();
        let a = s.to_arrow();
        let ty = |n: &str| a.field_with_name(n).unwrap().data_type().clone();
        assert_eq!(ty("id"), DataType::Int64);
        assert_eq!(ty("amount"), DataType::Float64);
        assert_eq!(ty("grade"), DataType::Utf8);
        assert_eq!(ty("price"), DataType::Binary);
        assert_eq!(ty("tags"), DataType::Utf8);
        assert_eq!(ty("score"), DataType::Float64);
        assert!(!a.field_with_name("id").unwrap().is_nullable());
        assert!(a.field_with_name("amount").unwrap().is_nullable());
    }

    #[test]
    fn union_of_two_types_names_the_field() {
        let json = r#"{"type":"record","name":"r","fields":[
            {"name":"ok","type":"int"},
            {"name":"mixed","type":["null","int","string"]}]}"#;
        let err = AvroSchema::parse(json, "in.avsc").unwrap_err();
        assert_eq!(err.code(), keel_types::Code::InvalidSchema);
        let msg = err.to_string();
        assert!(
            msg.starts_with("in.avsc: field 'mixed' is a union"),
            "{msg}"
        );
        assert!(msg.contains("\"int\", \"string\""), "{msg}");
    }

    #[test]
    fn bad_schemas_get_clear_messages() {
        let cases = [
            ("{not json", "in.avsc is not valid JSON"),
            ("[1, 2]", "in.avsc must hold one Avro record"),
            (r#"{"type":"record","name":"r"}"#, "has no \"fields\" array"),
            (
                r#"{"type":"record","name":"r","fields":[{"type":"int"}]}"#,
                "field #1 of the top-level record has no \"name\"",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a"}]}"#,
                "field 'a' has no \"type\"",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":"decimalish"}]}"#,
                "field 'a' has unknown type 'decimalish'",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
                "field 'a' is defined twice",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":"double","default":"x"}]}"#,
                "field 'a' has default \"x\", which is not a double",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"e","type":{"type":"enum","name":"E"}}]}"#,
                "the enum of field 'e' needs \"symbols\"",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"o","type":{"type":"record","name":"O","fields":[{"name":"x","type":["int","string"]}]}}]}"#,
                "field 'o.x' is a union",
            ),
        ];
        for (json, want) in cases {
            let msg = AvroSchema::parse(json, "in.avsc").unwrap_err().to_string();
            assert!(msg.contains(want), "for {json}: {msg}");
        }
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
            check_json(&serde_json::json!([1, "x"]), &arr).unwrap_err(),
            "item 1: expected long, found \"x\""
        );
    }
}
