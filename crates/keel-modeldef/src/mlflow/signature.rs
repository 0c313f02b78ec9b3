//! An MLflow model signature (`signature: inputs: '[...]'`, JSON text inside
//! the YAML) and its mapping onto Avro record schemas named `input` and `output`.
//!
//! Column-based signatures map field by field: MLflow's `double`, `float`,
//! `long`, `integer`, `string`, `boolean`, `binary` and `datetime` become the
//! Avro primitives (`datetime` a `long` with logical type `timestamp-micros`),
//! `array`, `map` and `object` become Avro arrays, maps and nested records, and
//! a column with `"required": false` becomes a union with `null`. Tensor-based
//! signatures have no column names for inputs, so only a one-dimensional
//! output tensor maps (to one column); anything else gives no schema and a note.

use serde_json::{Map, Value, json};

/// The column name of a model output the signature leaves unnamed.
pub(super) const DEFAULT_OUTPUT: &str = "prediction";

/// The parsed `signature` of an `MLmodel` file.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Signature {
    pub inputs: Option<Spec>,
    pub outputs: Option<Spec>,
    /// True when the signature declares inference parameters.
    pub has_params: bool,
}

/// One side of a signature: columns or tensors.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Spec {
    Columns(Vec<ColSpec>),
    Tensors(Vec<TensorSpec>),
}

/// One column of a column-based signature.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ColSpec {
    pub name: Option<String>,
    pub ty: ColType,
    pub required: bool,
}

/// MLflow's column types.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum ColType {
    /// One of [`PRIMITIVES`], by its MLflow name.
    Primitive(&'static str),
    Array(Box<ColType>),
    Map(Box<ColType>),
    /// An object: named properties, each with its type and whether it is required.
    Object(Vec<(String, ColType, bool)>),
    /// MLflow's `any`: no Avro equivalent.
    Any,
}

/// One tensor of a tensor-based signature.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TensorSpec {
    pub name: Option<String>,
    pub dtype: String,
    pub shape: Vec<i64>,
}

/// MLflow's primitive column types and their Avro types.
const PRIMITIVES: &[(&str, &str)] = &[
    ("double", "double"),
    ("float", "float"),
    ("long", "long"),
    ("integer", "int"),
    ("string", "string"),
    ("boolean", "boolean"),
    ("binary", "bytes"),
    ("datetime", "long"),
];

impl Spec {
    /// Parses one side of a signature from its JSON text. `key` names it in messages.
    pub fn parse(text: &str, key: &str) -> Result<Spec, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            format!("`{key}` is not valid JSON ({e}); MLflow writes it as a JSON list of column or tensor specs")
        })?;
        let Value::Array(items) = value else {
            return Err(format!(
                "`{key}` is not a JSON list; MLflow writes it as a list such as [{{\"name\": \"x\", \"type\": \"double\"}}]"
            ));
        };
        let tensors = items
            .iter()
            .filter(|v| v.get("type").and_then(Value::as_str) == Some("tensor"))
            .count();
        if tensors > 0 && tensors < items.len() {
            return Err(format!(
                "`{key}` mixes tensor specs and column specs; a signature side is one or the other"
            ));
        }
        if tensors > 0 {
            let specs = items
                .iter()
                .enumerate()
                .map(|(i, v)| tensor_spec(v, &format!("{key}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Spec::Tensors(specs));
        }
        let cols = items
            .iter()
            .enumerate()
            .map(|(i, v)| col_spec(v, &format!("{key}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Spec::Columns(cols))
    }

    /// "8 inputs", "1 output", "a tensor input", "2 tensor inputs". A single
    /// one-dimensional tensor (what `infer_signature` writes for `predict`)
    /// counts as one column, which is what Keel makes of it.
    pub fn describe(&self, noun: &str) -> String {
        let (n, tensor) = match self {
            Spec::Columns(c) => (c.len(), ""),
            Spec::Tensors(t) if t.len() == 1 && matches!(t[0].shape.as_slice(), [_] | [_, 1]) => {
                (1, "")
            }
            Spec::Tensors(t) => (t.len(), "tensor "),
        };
        match (n, tensor.is_empty()) {
            (1, false) => format!("a tensor {noun}"),
            (1, true) => format!("1 {noun}"),
            _ => format!("{n} {tensor}{noun}s"),
        }
    }
}

fn tensor_spec(v: &Value, at: &str) -> Result<TensorSpec, String> {
    let spec = v.get("tensor-spec").ok_or_else(|| {
        format!("`{at}` is a tensor without \"tensor-spec\"; MLflow writes {{\"type\": \"tensor\", \"tensor-spec\": {{\"dtype\": ..., \"shape\": [...]}}}}")
    })?;
    let dtype = spec
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{at}` has a tensor-spec without a \"dtype\" string"))?;
    let shape = match spec.get("shape") {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| {
                d.as_i64()
                    .ok_or_else(|| format!("`{at}` has a tensor shape with {d}, not an integer"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(format!("`{at}` has a tensor-spec without a \"shape\" list")),
    };
    Ok(TensorSpec {
        name: v.get("name").and_then(Value::as_str).map(str::to_string),
        dtype: dtype.to_string(),
        shape,
    })
}

fn col_spec(v: &Value, at: &str) -> Result<ColSpec, String> {
    let Value::Object(obj) = v else {
        return Err(format!(
            "`{at}` is {v}, not a column spec such as {{\"name\": \"x\", \"type\": \"double\"}}"
        ));
    };
    let name = match obj.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("`{at}` has the name {other}, not a string")),
    };
    let required = match obj.get("required") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "`{at}` has \"required\": {other}, not true or false"
            ));
        }
    };
    Ok(ColSpec {
        name,
        ty: col_type(obj, at)?,
        required,
    })
}

/// The type of a column spec, an array's items, a map's values or an object's property.
fn col_type(obj: &Map<String, Value>, at: &str) -> Result<ColType, String> {
    let Some(ty) = obj.get("type").and_then(Value::as_str) else {
        return Err(format!("`{at}` has no \"type\" string"));
    };
    let nested = |key: &str| -> Result<&Map<String, Value>, String> {
        obj.get(key)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("`{at}` is of type {ty} but has no \"{key}\" object"))
    };
    Ok(match ty {
        "array" => ColType::Array(Box::new(col_type(
            nested("items")?,
            &format!("{at}.items"),
        )?)),
        "map" => ColType::Map(Box::new(col_type(
            nested("values")?,
            &format!("{at}.values"),
        )?)),
        "object" => {
            let mut props = Vec::new();
            for (name, prop) in nested("properties")? {
                let at = format!("{at}.properties.{name}");
                let Value::Object(p) = prop else {
                    return Err(format!("`{at}` is not an object with a \"type\""));
                };
                let required = p.get("required").and_then(Value::as_bool).unwrap_or(true);
                props.push((name.clone(), col_type(p, &at)?, required));
            }
            ColType::Object(props)
        }
        "any" => ColType::Any,
        other => match PRIMITIVES.iter().find(|(m, _)| *m == other) {
            Some((m, _)) => ColType::Primitive(m),
            None => {
                let known: Vec<&str> = PRIMITIVES.iter().map(|(m, _)| *m).collect();
                return Err(format!(
                    "`{at}` has the type \"{other}\", which is not an MLflow column type ({}, array, map, object or any)",
                    known.join(", ")
                ));
            }
        },
    })
}

/// The Avro type of a column type, or why there is none.
fn avro_type(ty: &ColType, record_name: &str) -> Result<Value, String> {
    Ok(match ty {
        ColType::Primitive("datetime") => {
            json!({"type": "long", "logicalType": "timestamp-micros"})
        }
        ColType::Primitive(m) => {
            let avro = PRIMITIVES
                .iter()
                .find(|(name, _)| name == m)
                .map_or("string", |(_, a)| a);
            Value::String(avro.to_string())
        }
        ColType::Array(items) => {
            json!({"type": "array", "items": avro_type(items, &format!("{record_name}_item"))?})
        }
        ColType::Map(values) => {
            json!({"type": "map", "values": avro_type(values, &format!("{record_name}_value"))?})
        }
        ColType::Object(props) => {
            let mut fields = Vec::new();
            for (name, ty, required) in props {
                let inner = avro_type(ty, &format!("{record_name}_{}", avro_name(name)))?;
                fields.push(field(name, inner, *required));
            }
            json!({"type": "record", "name": record_name, "fields": fields})
        }
        ColType::Any => return Err("has MLflow's type any, which has no Avro equivalent".into()),
    })
}

/// An Avro field; an optional one is a union with null that defaults to null.
fn field(name: &str, ty: Value, required: bool) -> Value {
    if required {
        json!({"name": name, "type": ty})
    } else {
        json!({"name": name, "type": ["null", ty], "default": null})
    }
}

/// A name usable inside an Avro type name (letters, digits and underscores).
fn avro_name(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The Avro type of a tensor dtype (numpy's spelling), if it has one.
fn tensor_avro(dtype: &str) -> Option<&'static str> {
    Some(match dtype {
        "float64" | "double" => "double",
        "float32" | "float16" | "float" => "float",
        "int64" | "uint32" | "uint64" => "long",
        "int32" | "int16" | "int8" | "uint16" | "uint8" => "int",
        "bool" => "boolean",
        "str" | "object" => "string",
        "bytes" => "bytes",
        _ => return None,
    })
}

/// The output column names the adapter gives a column-based output: the
/// signature's names, `prediction` for one unnamed column, `prediction_<i>` for several.
pub(super) fn output_names(cols: &[ColSpec]) -> Vec<String> {
    cols.iter()
        .enumerate()
        .map(|(i, c)| match (&c.name, cols.len()) {
            (Some(n), _) => n.clone(),
            (None, 1) => DEFAULT_OUTPUT.to_string(),
            (None, _) => format!("{DEFAULT_OUTPUT}_{i}"),
        })
        .collect()
}

/// A record schema as pretty JSON text.
fn record(name: &str, fields: Vec<Value>) -> String {
    let schema = json!({"type": "record", "name": name, "fields": fields});
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// The input schema, or a note saying why there is none. Columns of type
/// `any` are left out of the schema (so they pass unchecked), each with a note.
pub(super) fn input_avsc(spec: &Spec, notes: &mut Vec<String>) -> Option<String> {
    let cols = match spec {
        Spec::Columns(cols) => cols,
        Spec::Tensors(_) => {
            notes.push(
                "The signature's inputs are tensors, which have no column names, so Keel writes no input schema: input records are not checked, and the model receives every input column in file order.".into(),
            );
            return None;
        }
    };
    if cols.iter().any(|c| c.name.is_none()) {
        notes.push(
            "The signature's inputs have no column names, so Keel writes no input schema: input records are not checked, and the model receives every input column in file order.".into(),
        );
        return None;
    }
    let mut fields = Vec::new();
    for c in cols {
        let name = c.name.as_deref().unwrap_or_default();
        match avro_type(&c.ty, &format!("input_{}", avro_name(name))) {
            Ok(ty) => fields.push(field(name, ty, c.required)),
            Err(why) => notes.push(format!(
                "The input column '{name}' {why}, so the input schema leaves it out and Keel does not check it."
            )),
        }
    }
    Some(record("input", fields))
}

/// The output schema and the adapter's output column names, or a note saying
/// why there is no schema (the adapter then names columns itself).
pub(super) fn output_avsc(
    spec: &Spec,
    notes: &mut Vec<String>,
) -> (Option<String>, Option<Vec<String>>) {
    match spec {
        Spec::Columns(cols) => {
            let names = output_names(cols);
            let mut fields = Vec::new();
            for (c, name) in cols.iter().zip(&names) {
                match avro_type(&c.ty, &format!("output_{}", avro_name(name))) {
                    Ok(ty) => fields.push(field(name, ty, c.required)),
                    Err(why) => notes.push(format!(
                        "The output column '{name}' {why}, so the output schema leaves it out and Keel does not check it."
                    )),
                }
            }
            (Some(record("output", fields)), Some(names))
        }
        Spec::Tensors(tensors) => {
            let one_dim = |t: &TensorSpec| matches!(t.shape.as_slice(), [_] | [_, 1]);
            match tensors.as_slice() {
                [t] if one_dim(t) => match tensor_avro(&t.dtype) {
                    Some(avro) => {
                        let name = t.name.clone().unwrap_or_else(|| DEFAULT_OUTPUT.to_string());
                        let schema = record("output", vec![field(&name, json!(avro), true)]);
                        (Some(schema), Some(vec![name]))
                    }
                    None => {
                        notes.push(format!(
                            "The signature's output is a tensor of dtype {}, which Keel cannot map to an Avro type, so it writes no output schema.",
                            t.dtype
                        ));
                        (None, None)
                    }
                },
                _ => {
                    let shapes: Vec<String> =
                        tensors.iter().map(|t| format!("{:?}", t.shape)).collect();
                    notes.push(format!(
                        "The signature's outputs are tensors of shape {}, which do not map to one column each, so Keel writes no output schema.",
                        shapes.join(", ")
                    ));
                    (None, None)
                }
            }
        }
    }
}

/// The signature's input columns as the adapter needs them: name, MLflow type
/// (for primitives; `null` otherwise) and whether the column is required.
pub(super) fn adapter_inputs(spec: &Spec) -> Value {
    match spec {
        Spec::Columns(cols) if cols.iter().all(|c| c.name.is_some()) => Value::Array(
            cols.iter()
                .map(|c| {
                    let ty = match c.ty {
                        ColType::Primitive(m) => Value::String(m.to_string()),
                        _ => Value::Null,
                    };
                    json!({"name": c.name, "type": ty, "required": c.required})
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_describe_themselves() {
        let cols = Spec::parse(
            r#"[{"name": "a", "type": "double"}, {"name": "b", "type": "long"}]"#,
            "k",
        )
        .unwrap();
        assert_eq!(cols.describe("input"), "2 inputs");
        let one = Spec::parse(r#"[{"type": "double"}]"#, "k").unwrap();
        assert_eq!(one.describe("output"), "1 output");
        let tensor = Spec::parse(
            r#"[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]"#,
            "k",
        )
        .unwrap();
        assert_eq!(tensor.describe("output"), "1 output");
        let matrix = Spec::parse(
            r#"[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]"#,
            "k",
        )
        .unwrap();
        assert_eq!(matrix.describe("input"), "a tensor input");
    }

    #[test]
    fn output_names_fill_gaps() {
        let spec = |text| match Spec::parse(text, "k").unwrap() {
            Spec::Columns(c) => c,
            Spec::Tensors(_) => unreachable!(),
        };
        assert_eq!(
            output_names(&spec(r#"[{"type": "double"}]"#)),
            ["prediction"]
        );
        assert_eq!(
            output_names(&spec(
                r#"[{"type": "double"}, {"type": "long", "name": "n"}]"#
            )),
            ["prediction_0", "n"]
        );
    }
}
