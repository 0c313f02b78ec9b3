//! Avro names: the full name of a named type and the namespace its
//! contents inherit, as the Avro specification defines them, and what a
//! name may be spelled with.

use serde_json::{Map, Value};

/// The full name of a named type and the namespace its contents inherit.
/// A dotted name is a full name; otherwise the type's `namespace`, or the
/// enclosing one, qualifies it. An unnamed type is not registered.
pub(super) fn qualify(obj: &Map<String, Value>, enclosing: &str) -> (Option<String>, String) {
    let Some(name) = obj.get("name").and_then(Value::as_str) else {
        let ns = obj.get("namespace").and_then(Value::as_str);
        return (None, ns.unwrap_or(enclosing).to_string());
    };
    if let Some((ns, _)) = name.rsplit_once('.') {
        return (Some(name.to_string()), ns.to_string());
    }
    let ns = obj
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(enclosing);
    let full = if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}.{name}")
    };
    (Some(full), ns.to_string())
}

/// True for an Avro name: a letter or `_`, then letters, digits and `_`.
pub(super) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_qualify_by_the_specification() {
        let obj = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let cases = [
            (serde_json::json!({"name": "E"}), "", Some("E"), ""),
            (serde_json::json!({"name": "E"}), "a", Some("a.E"), "a"),
            (
                serde_json::json!({"name": "E", "namespace": "b"}),
                "a",
                Some("b.E"),
                "b",
            ),
            (
                serde_json::json!({"name": "E", "namespace": ""}),
                "a",
                Some("E"),
                "",
            ),
            (
                serde_json::json!({"name": "c.E", "namespace": "b"}),
                "a",
                Some("c.E"),
                "c",
            ),
            (serde_json::json!({"namespace": "b"}), "a", None, "b"),
            (serde_json::json!({}), "a", None, "a"),
        ];
        for (o, enclosing, full, ns) in cases {
            let (f, n) = qualify(&obj(o.clone()), enclosing);
            assert_eq!(
                (f.as_deref(), n.as_str()),
                (full, ns),
                "{o} in '{enclosing}'"
            );
        }
        assert!(is_name("_a1") && !is_name("1a") && !is_name("") && !is_name("a-b"));
    }
}
