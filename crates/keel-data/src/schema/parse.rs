//! The parser of Avro schema JSON: every top-level type, named types with
//! namespaces (full names, short names resolved in the enclosing namespace,
//! as the Avro specification says), unions and logical types, with messages
//! that start with the schema's source and name the field path.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::names::{is_name, qualify};
use super::{AvroField, AvroType, DEFAULT_VALUE_COLUMN, Shape, short_json};
use crate::cells::check_json;
use crate::error::{Error, Result};
use crate::logical::{MAX_PRECISION, fixed_digits};

/// Keys that define a type rather than describe a value column.
const TYPE_KEYS: [&str; 13] = [
    "type",
    "name",
    "namespace",
    "fields",
    "items",
    "values",
    "symbols",
    "size",
    "logicalType",
    "precision",
    "scale",
    "aliases",
    "default",
];

/// Parses schema text into its name, its columns and its shape.
pub(super) fn parse(json: &str, source: &str) -> Result<(String, Vec<AvroField>, Shape)> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        Error::InvalidSchema(format!(
            "{source} is not valid JSON: {e}; an Avro schema is JSON such as \
             {{\"type\": \"record\", \"name\": \"input\", \"fields\": [...]}} or \"double\""
        ))
    })?;
    let mut parser = Parser {
        source,
        named: HashMap::new(),
        open: Vec::new(),
    };
    // {"type": {...}} wraps a whole schema: look through it.
    let mut top = &value;
    let mut outer: Option<&Map<String, Value>> = None;
    while let Value::Object(obj) = top
        && let Some(inner @ Value::Object(_)) = obj.get("type")
    {
        outer = outer.or(Some(obj));
        top = inner;
    }
    let obj = top.as_object();
    let kind = obj.and_then(|o| o.get("type")).and_then(Value::as_str);
    let named = |o: Option<&Map<String, Value>>| {
        o.and_then(|o| o.get("name"))
            .and_then(Value::as_str)
            .map(|n| n.rsplit('.').next().unwrap_or(n).to_string())
    };
    let attributes = |o: Option<&Map<String, Value>>| -> Map<String, Value> {
        o.map(|o| {
            o.iter()
                .filter(|(k, _)| !TYPE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
    };
    let column = |name: String, (ty, nullable): (AvroType, bool), attrs| AvroField {
        name,
        ty,
        nullable,
        default: None,
        attributes: attrs,
    };
    match (obj, kind) {
        (Some(o), Some("record")) => {
            let AvroType::Record(fields) = parser.parse_type(top, "", "")? else {
                return Err(Error::Internal(format!(
                    "{source}: a record schema did not parse as a record"
                )));
            };
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("record")
                .to_string();
            Ok((name, fields, Shape::Record))
        }
        (Some(o), Some("array")) => {
            let Some(items) = o.get("items") else {
                return Err(Error::InvalidSchema(format!(
                    "{source}: the top-level array has no \"items\" type; say what each item is, \
                     such as \"items\": \"double\""
                )));
            };
            let (ty, nullable) = parser.field_type(items, "")?;
            if let (AvroType::Record(fields), false) = (&ty, nullable) {
                let name = items
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("record")
                    .to_string();
                return Ok((name, fields.clone(), Shape::RecordList));
            }
            let name = named(Some(o))
                .or_else(|| named(outer))
                .or_else(|| named(items.as_object()))
                .unwrap_or_else(|| DEFAULT_VALUE_COLUMN.to_string());
            let col = column(name.clone(), (ty, nullable), attributes(outer.or(Some(o))));
            Ok((name, vec![col], Shape::ValueList))
        }
        _ => {
            let typed = parser.field_type(top, "")?;
            let name = named(outer)
                .or_else(|| named(obj))
                .unwrap_or_else(|| DEFAULT_VALUE_COLUMN.to_string());
            let col = column(name.clone(), typed, attributes(outer.or(obj)));
            Ok((name, vec![col], Shape::Value))
        }
    }
}

/// Where a type sits, for messages: a field path, or the schema itself.
fn place(path: &str) -> String {
    if path.is_empty() {
        "the schema".to_string()
    } else {
        format!("field '{path}'")
    }
}

/// Parsing state: the schema's source for messages, and the named types.
struct Parser<'a> {
    source: &'a str,
    /// Named types defined so far, by full name.
    named: HashMap<String, AvroType>,
    /// Full names of the records whose fields are being parsed: a reference to
    /// one of them is a recursive type.
    open: Vec<String>,
}

impl Parser<'_> {
    fn err(&self, message: String) -> Error {
        Error::InvalidSchema(format!("{}: {message}", self.source))
    }

    /// Parses the `fields` of a record object. `prefix` is the dotted path of
    /// the enclosing field, so messages can name nested fields; `ns` is the
    /// record's namespace, which its fields' named types inherit.
    fn record_fields(
        &mut self,
        obj: &Map<String, Value>,
        prefix: &str,
        ns: &str,
    ) -> Result<Vec<AvroField>> {
        let where_ = if prefix.is_empty() {
            "the top-level record".to_string()
        } else {
            format!("the record in field '{prefix}'")
        };
        let Some(Value::Array(raw_fields)) = obj.get("fields") else {
            return Err(self.err(format!(
                "{where_} has no \"fields\" array; list the record's fields as \
                 \"fields\": [{{\"name\": ..., \"type\": ...}}]"
            )));
        };
        let mut fields: Vec<AvroField> = Vec::with_capacity(raw_fields.len());
        for (i, raw) in raw_fields.iter().enumerate() {
            let Value::Object(f) = raw else {
                return Err(self.err(format!(
                    "field #{} of {where_} is {}, not an object with \"name\" and \"type\"",
                    i + 1,
                    short_json(raw)
                )));
            };
            let Some(name) = f.get("name").and_then(Value::as_str) else {
                return Err(self.err(format!(
                    "field #{} of {where_} has no \"name\"; give every field a name",
                    i + 1
                )));
            };
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            if fields.iter().any(|x| x.name == name) {
                return Err(self.err(format!(
                    "field '{path}' is defined twice; field names must be unique"
                )));
            }
            let Some(raw_ty) = f.get("type") else {
                return Err(self.err(format!(
                    "field '{path}' has no \"type\"; add one, such as \"type\": \"double\""
                )));
            };
            let (ty, nullable) = self.field_type_in(raw_ty, &path, ns)?;
            let default = f.get("default").cloned();
            if let Some(d) = &default {
                let fits =
                    (d.is_null() && nullable) || (!d.is_null() && check_json(d, &ty).is_ok());
                if !fits && ty != AvroType::Null {
                    return Err(self.err(format!(
                        "field '{path}' has default {}, which is not a {}; fix the default or \
                         remove it",
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

    /// A column's type at the top level, where the namespace is empty.
    fn field_type(&mut self, raw: &Value, path: &str) -> Result<(AvroType, bool)> {
        self.field_type_in(raw, path, "")
    }

    /// Parses a column's type, taking `"null"` out of a union into the
    /// nullable flag and reducing a union left with one type to that type.
    fn field_type_in(&mut self, raw: &Value, path: &str, ns: &str) -> Result<(AvroType, bool)> {
        let branches = match raw {
            Value::Array(branches) => branches,
            // {"type": ["null", "int"]}: a wrapped union.
            Value::Object(obj) if obj.get("type").is_some_and(Value::is_array) => {
                return self.field_type_in(&obj["type"], path, ns);
            }
            other => {
                let ty = self.parse_type(other, path, ns)?;
                let nullable = ty == AvroType::Null;
                return Ok((ty, nullable));
            }
        };
        let types = self.union(branches, path, ns)?;
        let nullable = types.contains(&AvroType::Null);
        let mut others: Vec<AvroType> =
            types.into_iter().filter(|t| *t != AvroType::Null).collect();
        Ok(match others.len() {
            0 => (AvroType::Null, true),
            1 => (others.remove(0), nullable),
            _ => (AvroType::Union(others), nullable),
        })
    }

    /// The branches of a union, in order. A union inside a union (which the
    /// Avro specification forbids, but fastavro reads) is flattened into it.
    fn union(&mut self, branches: &[Value], path: &str, ns: &str) -> Result<Vec<AvroType>> {
        if branches.is_empty() {
            return Err(self.err(format!(
                "{} is an empty union ([]), which no value can match; list its types, such as \
                 [\"null\", \"double\"]",
                place(path)
            )));
        }
        let mut types = Vec::with_capacity(branches.len());
        for b in branches {
            match self.parse_type(b, path, ns)? {
                AvroType::Union(inner) => types.extend(inner),
                t => types.push(t),
            }
        }
        Ok(types)
    }

    /// Parses one type. A nested union keeps `Null` among its branches.
    fn parse_type(&mut self, raw: &Value, path: &str, ns: &str) -> Result<AvroType> {
        match raw {
            Value::String(name) => self.reference(name, path, ns),
            Value::Array(branches) => {
                let mut types = self.union(branches, path, ns)?;
                Ok(if types.len() == 1 {
                    types.remove(0)
                } else {
                    AvroType::Union(types)
                })
            }
            Value::Object(obj) => self.object_type(obj, path, ns),
            other => Err(self.err(format!(
                "{} has type {}, which is not an Avro type",
                place(path),
                short_json(other)
            ))),
        }
    }

    /// Parses a type written as an object: a named type, an array, a map, or
    /// a primitive with attributes (such as a logical type).
    fn object_type(&mut self, obj: &Map<String, Value>, path: &str, ns: &str) -> Result<AvroType> {
        let at = place(path);
        let Some(kind) = obj.get("type") else {
            return Err(self.err(format!(
                "the type of {at} is an object without \"type\"; write it as {{\"type\": \
                 \"double\"}} or {{\"type\": \"record\", ...}}"
            )));
        };
        let Some(kind) = kind.as_str() else {
            // Such as {"type": {"type": "enum", ...}}: a wrapped type.
            return self.parse_type(kind, path, ns);
        };
        match kind {
            "record" | "error" => {
                let (full, inner_ns) = qualify(obj, ns);
                self.check_new(full.as_deref(), path)?;
                if let Some(f) = &full {
                    self.open.push(f.clone());
                }
                let fields = self.record_fields(obj, path, &inner_ns);
                if full.is_some() {
                    self.open.pop();
                }
                let ty = AvroType::Record(fields?);
                self.define(full, &ty);
                Ok(ty)
            }
            "enum" => {
                let (full, _) = qualify(obj, ns);
                self.check_new(full.as_deref(), path)?;
                let ty = AvroType::Enum(self.symbols(obj, &at)?);
                self.define(full, &ty);
                Ok(ty)
            }
            "fixed" => {
                let (full, _) = qualify(obj, ns);
                self.check_new(full.as_deref(), path)?;
                let size = obj
                    .get("size")
                    .and_then(Value::as_u64)
                    .and_then(|s| usize::try_from(s).ok());
                let Some(size) = size else {
                    return Err(self.err(format!(
                        "the fixed of {at} needs \"size\", a whole number of bytes"
                    )));
                };
                let ty = self.logical(AvroType::Fixed(size), obj, &at)?;
                self.define(full, &ty);
                Ok(ty)
            }
            "array" => {
                let Some(items) = obj.get("items") else {
                    return Err(self.err(format!("the array of {at} has no \"items\" type")));
                };
                Ok(AvroType::Array(Box::new(self.parse_type(items, path, ns)?)))
            }
            "map" => {
                let Some(values) = obj.get("values") else {
                    return Err(self.err(format!("the map of {at} has no \"values\" type")));
                };
                Ok(AvroType::Map(Box::new(self.parse_type(values, path, ns)?)))
            }
            other => {
                let base = self.reference(other, path, ns)?;
                self.logical(base, obj, &at)
            }
        }
    }

    /// The symbols of an enum: a non-empty array of unique names.
    fn symbols(&self, obj: &Map<String, Value>, at: &str) -> Result<Vec<String>> {
        let symbols = obj.get("symbols").and_then(Value::as_array).map(|s| {
            s.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        });
        let Some(Some(symbols)) = symbols.filter(|s| s.as_ref().is_some_and(|s| !s.is_empty()))
        else {
            return Err(self.err(format!(
                "the enum of {at} needs \"symbols\", a non-empty array of strings"
            )));
        };
        for (i, s) in symbols.iter().enumerate() {
            if symbols[..i].contains(s) {
                return Err(self.err(format!(
                    "the enum of {at} lists the symbol '{s}' twice; symbols must be unique"
                )));
            }
            if !is_name(s) {
                return Err(self.err(format!(
                    "the enum of {at} has the symbol '{s}', which is not an Avro name; symbols \
                     start with a letter or '_' and hold only letters, digits and '_'"
                )));
            }
        }
        Ok(symbols)
    }

    /// A type with its `logicalType` applied. An unknown logical type, or one
    /// on the wrong base type, falls back to the base type, as the Avro
    /// specification says; a decimal that cannot be stored is an error.
    fn logical(&self, base: AvroType, obj: &Map<String, Value>, at: &str) -> Result<AvroType> {
        let logical = obj.get("logicalType").and_then(Value::as_str);
        Ok(match (logical, &base) {
            (Some("date"), AvroType::Int) => AvroType::Date,
            (Some("time-millis"), AvroType::Int) => AvroType::TimeMillis,
            (Some("time-micros"), AvroType::Long) => AvroType::TimeMicros,
            (Some("timestamp-millis"), AvroType::Long) => AvroType::TimestampMillis,
            (Some("timestamp-micros"), AvroType::Long) => AvroType::TimestampMicros,
            (Some("uuid"), AvroType::String) => AvroType::Uuid,
            (Some("decimal"), AvroType::Bytes) => self.decimal(obj, None, at)?,
            (Some("decimal"), AvroType::Fixed(size)) => self.decimal(obj, Some(*size), at)?,
            _ => base,
        })
    }

    /// A decimal's precision and scale, checked to fit Decimal128 (and the fixed's size).
    fn decimal(&self, obj: &Map<String, Value>, size: Option<usize>, at: &str) -> Result<AvroType> {
        let precision = obj.get("precision").and_then(Value::as_u64);
        let Some(precision) = precision.filter(|p| *p >= 1) else {
            return Err(self.err(format!(
                "the decimal of {at} needs \"precision\", a whole number of digits from 1 to \
                 {MAX_PRECISION}"
            )));
        };
        if precision > u64::from(MAX_PRECISION) {
            return Err(self.err(format!(
                "the decimal of {at} has precision {precision}, but Keel stores decimals as \
                 128-bit numbers, which hold at most {MAX_PRECISION} digits; lower the precision \
                 or use a string"
            )));
        }
        let scale = match obj.get("scale") {
            None => 0,
            Some(s) => match s.as_u64() {
                Some(s) if s <= precision => s,
                _ => {
                    return Err(self.err(format!(
                        "the decimal of {at} has scale {}, which must be a whole number from 0 \
                         to its precision ({precision})",
                        short_json(s)
                    )));
                }
            },
        };
        if let Some(size) = size {
            let most = fixed_digits(size);
            if precision > most {
                return Err(self.err(format!(
                    "the decimal of {at} has precision {precision}, but a fixed of {size} bytes \
                     holds at most {most} digits; raise the size or lower the precision"
                )));
            }
        }
        // Both fit in u8: precision is at most 38 and scale at most precision.
        Ok(AvroType::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        })
    }

    /// Fails when `full` is already defined.
    fn check_new(&self, full: Option<&str>, path: &str) -> Result<()> {
        match full {
            Some(f) if self.named.contains_key(f) || self.open.iter().any(|o| o == f) => Err(self
                .err(format!(
                    "{} defines the named type '{f}' again; give each named type its own name, \
                     or refer to the first one by its name",
                    place(path)
                ))),
            _ => Ok(()),
        }
    }

    fn define(&mut self, full: Option<String>, ty: &AvroType) {
        if let Some(f) = full {
            self.named.insert(f, ty.clone());
        }
    }

    /// A primitive type name, or a reference to a named type defined earlier:
    /// a full name, or a short name in the enclosing namespace `ns`.
    fn reference(&self, name: &str, path: &str, ns: &str) -> Result<AvroType> {
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
                let full = if other.contains('.') || ns.is_empty() {
                    other.to_string()
                } else {
                    format!("{ns}.{other}")
                };
                if let Some(ty) = self.named.get(&full) {
                    return Ok(ty.clone());
                }
                if self.open.contains(&full) {
                    return Err(self.err(format!(
                        "{} refers to the record '{full}' inside its own definition; Keel does \
                         not support recursive types, so spell the nested part out or store it \
                         as a string",
                        place(path)
                    )));
                }
                let short = other.rsplit('.').next().unwrap_or(other);
                let mut near: Vec<&str> = self
                    .named
                    .keys()
                    .filter(|k| k.rsplit('.').next() == Some(short))
                    .map(String::as_str)
                    .collect();
                near.sort_unstable();
                let hint = match near.as_slice() {
                    [] => String::new(),
                    found => format!(
                        " (a type '{}' is defined: refer to it by its full name)",
                        found.join("', '")
                    ),
                };
                return Err(self.err(format!(
                    "{} has unknown type '{other}'{hint}; use an Avro type such as \"string\", \
                     \"long\" or \"double\", or define the named type before using it",
                    place(path)
                )));
            }
        })
    }
}
