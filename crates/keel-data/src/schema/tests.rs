//! Tests of schema parsing: one table of schemas of every type and shape
//! with the columns and Arrow types they give, one of bad schemas with
//! their messages, and the details of fields and named types.

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
fn parses_fields_unions_logical_types_and_attributes() {
    let s = AvroSchema::parse(CREDIT, "input_schema.avsc").unwrap();
    assert_eq!(s.name, "input");
    assert_eq!(s.source, "input_schema.avsc");
    assert_eq!(s.shape(), Shape::Record);
    assert_eq!(s.value_column(), None);
    let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id", "amount", "grade", "gender", "opened", "ts", "price", "tags", "extra", "addr",
            "addr2", "score"
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
    assert_eq!(s.field("opened").unwrap().ty, AvroType::Date);
    assert_eq!(s.field("ts").unwrap().ty, AvroType::TimestampMillis);
    assert!(s.field("ts").unwrap().nullable);
    assert_eq!(
        s.field("price").unwrap().ty,
        AvroType::Decimal {
            precision: 9,
            scale: 2
        }
    );
    assert_eq!(
        s.field("tags").unwrap().ty,
        AvroType::Array(Box::new(AvroType::String))
    );
    let AvroType::Record(inner) = &s.field("addr2").unwrap().ty else {
        panic!("addr2 should refer to the Addr record");
    };
    assert_eq!(inner[0].name, "city");
    assert_eq!(s.field("score").unwrap().default, Some(Value::from(0)));
    assert!(s.field("nope").is_none());
    let a = s.to_arrow();
    assert!(!a.field_with_name("id").unwrap().is_nullable());
    assert!(a.field_with_name("amount").unwrap().is_nullable());
}

/// Renders a parsed schema as `Shape name: column type[?], ...` (`?` marks
/// a nullable column), or the error's message.
fn render(json: &str) -> String {
    match AvroSchema::parse(json, "s.avsc") {
        Ok(s) => {
            let cols: Vec<String> = s
                .to_arrow()
                .fields()
                .iter()
                .map(|f| {
                    let q = if f.is_nullable() { "?" } else { "" };
                    format!("{} {}{q}", f.name(), f.data_type())
                })
                .collect();
            format!("{:?} {}: {}", s.shape(), s.name, cols.join(", "))
        }
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn every_type_and_shape_has_columns() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "record",
            r#"{"type":"record","name":"in","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","string"]}]}"#,
            "Record in: a Int64, b Utf8?",
        ),
        (
            "bare float",
            r#""float""#,
            "Value prediction: prediction Float64",
        ),
        (
            "float object",
            r#"{"type": "float"}"#,
            "Value prediction: prediction Float64",
        ),
        (
            "named primitive",
            r#"{"type": "double", "name": "score"}"#,
            "Value score: score Float64",
        ),
        ("null", r#""null""#, "Value prediction: prediction Null?"),
        (
            "boolean",
            r#""boolean""#,
            "Value prediction: prediction Boolean",
        ),
        ("int", r#""int""#, "Value prediction: prediction Int64"),
        ("long", r#""long""#, "Value prediction: prediction Int64"),
        (
            "double",
            r#""double""#,
            "Value prediction: prediction Float64",
        ),
        ("string", r#""string""#, "Value prediction: prediction Utf8"),
        ("bytes", r#""bytes""#, "Value prediction: prediction Binary"),
        (
            "nullable union",
            r#"["null", "double"]"#,
            "Value prediction: prediction Float64?",
        ),
        (
            "wrapped union",
            r#"{"type": ["null", "double"], "name": "p"}"#,
            "Value p: p Float64?",
        ),
        (
            "union of numbers",
            r#"["null", "int", "double"]"#,
            "Value prediction: prediction Float64?",
        ),
        (
            "union of integers",
            r#"["int", "long"]"#,
            "Value prediction: prediction Int64",
        ),
        (
            "union of kinds",
            r#"["null", "int", "string"]"#,
            "Value prediction: prediction Utf8?",
        ),
        (
            "enum",
            r#"{"type": "enum", "name": "Label", "symbols": ["yes", "no"]}"#,
            "Value Label: Label Utf8",
        ),
        (
            "namespaced enum",
            r#"{"type": "enum", "name": "com.x.Label", "symbols": ["yes", "no"]}"#,
            "Value Label: Label Utf8",
        ),
        (
            "map",
            r#"{"type": "map", "values": "double"}"#,
            "Value prediction: prediction Utf8",
        ),
        (
            "fixed",
            r#"{"type": "fixed", "name": "Hash", "size": 16}"#,
            "Value Hash: Hash FixedSizeBinary(16)",
        ),
        (
            "array of records",
            r#"{"type": "array", "items": {"type": "record", "name": "out", "fields": [
                {"name": "label", "type": "string"}, {"name": "p", "type": "double"}]}}"#,
            "RecordList out: label Utf8, p Float64",
        ),
        (
            "array of doubles",
            r#"{"type": "array", "items": "double"}"#,
            "ValueList prediction: prediction Float64",
        ),
        (
            "named array of nullable longs",
            r#"{"type": "array", "name": "counts", "items": ["null", "long"]}"#,
            "ValueList counts: counts Int64?",
        ),
        (
            "array of enums",
            r#"{"type": "array", "items": {"type": "enum", "name": "Tag", "symbols": ["a"]}}"#,
            "ValueList Tag: Tag Utf8",
        ),
        (
            "array of arrays",
            r#"{"type": "array", "items": {"type": "array", "items": "int"}}"#,
            "ValueList prediction: prediction Utf8",
        ),
        (
            "nested record",
            r#"{"type":"record","name":"r","fields":[{"name":"o","type":{"type":"record","name":"O","fields":[{"name":"x","type":"int"}]}}]}"#,
            "Record r: o Utf8",
        ),
        (
            "date",
            r#"{"type": "int", "logicalType": "date"}"#,
            "Value prediction: prediction Date32",
        ),
        (
            "time-millis",
            r#"{"type": "int", "logicalType": "time-millis"}"#,
            "Value prediction: prediction Time32(ms)",
        ),
        (
            "time-micros",
            r#"{"type": "long", "logicalType": "time-micros"}"#,
            "Value prediction: prediction Time64(µs)",
        ),
        (
            "timestamp-millis",
            r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
            "Value prediction: prediction Timestamp(ms, \"+00:00\")",
        ),
        (
            "timestamp-micros",
            r#"{"type": "long", "logicalType": "timestamp-micros"}"#,
            "Value prediction: prediction Timestamp(µs, \"+00:00\")",
        ),
        (
            "uuid",
            r#"{"type": "string", "logicalType": "uuid"}"#,
            "Value prediction: prediction Utf8",
        ),
        (
            "decimal on bytes",
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}"#,
            "Value prediction: prediction Decimal128(9, 2)",
        ),
        (
            "decimal on fixed, scale 0 by default",
            r#"{"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 18}"#,
            "Value D: D Decimal128(18, 0)",
        ),
        (
            "unknown logical type falls back",
            r#"{"type": "long", "logicalType": "local-timestamp-millis"}"#,
            "Value prediction: prediction Int64",
        ),
        (
            "logical type on the wrong base falls back",
            r#"{"type": "string", "logicalType": "date"}"#,
            "Value prediction: prediction Utf8",
        ),
        (
            "logical types in fields",
            r#"{"type":"record","name":"r","fields":[
                {"name":"d","type":["null",{"type":"int","logicalType":"date"}]},
                {"name":"u","type":{"type":"string","logicalType":"uuid"}},
                {"name":"m","type":["null","int","string"]}]}"#,
            "Record r: d Date32?, u Utf8, m Utf8?",
        ),
        (
            "full and short names with namespaces",
            r#"{"type":"record","name":"r","namespace":"a","fields":[
                {"name":"x","type":{"type":"enum","name":"E","symbols":["A"]}},
                {"name":"y","type":"E"},
                {"name":"z","type":"a.E"},
                {"name":"o","type":{"type":"record","name":"O","namespace":"b","fields":[
                    {"name":"f","type":{"type":"fixed","name":"F","size":2}},
                    {"name":"g","type":"F"}]}},
                {"name":"w","type":"b.F"}]}"#,
            "Record r: x Utf8, y Utf8, z Utf8, o Utf8, w FixedSizeBinary(2)",
        ),
        (
            "a dotted name sets the namespace of its contents",
            r#"{"type":"record","name":"r","fields":[
                {"name":"o","type":{"type":"record","name":"c.O","fields":[
                    {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}]}},
                {"name":"y","type":"c.E"}]}"#,
            "Record r: o Utf8, y Utf8",
        ),
        (
            "wrapped record",
            r#"{"type": {"type":"record","name":"r","fields":[{"name":"a","type":"int"}]}}"#,
            "Record r: a Int64",
        ),
    ];
    for (name, json, want) in cases {
        assert_eq!(render(json), *want, "{name}");
    }
}

#[test]
fn bad_schemas_get_clear_messages() {
    let cases: &[(&str, &str)] = &[
        ("{not json", "error: s.avsc is not valid JSON"),
        (
            "[1, 2]",
            "error: s.avsc: the schema has type 1, which is not an Avro type",
        ),
        ("[]", "error: s.avsc: the schema is an empty union ([])"),
        (
            "3",
            "error: s.avsc: the schema has type 3, which is not an Avro type",
        ),
        (
            r#""decimalish""#,
            "error: s.avsc: the schema has unknown type 'decimalish'",
        ),
        (
            r#"{"type": "array"}"#,
            "error: s.avsc: the top-level array has no \"items\" type",
        ),
        (
            r#"{"type": "map"}"#,
            "error: s.avsc: the map of the schema has no \"values\" type",
        ),
        (
            r#"{"name": "x"}"#,
            "error: s.avsc: the type of the schema is an object without \"type\"",
        ),
        (
            r#"{"type":"record","name":"r"}"#,
            "error: s.avsc: the top-level record has no \"fields\" array",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"type":"int"}]}"#,
            "error: s.avsc: field #1 of the top-level record has no \"name\"",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"a"}]}"#,
            "error: s.avsc: field 'a' has no \"type\"",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"decimalish"}]}"#,
            "error: s.avsc: field 'a' has unknown type 'decimalish'",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
            "error: s.avsc: field 'a' is defined twice",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"double","default":"x"}]}"#,
            "error: s.avsc: field 'a' has default \"x\", which is not a double",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"d","type":{"type":"int","logicalType":"date"},"default":"soon"}]}"#,
            "error: s.avsc: field 'd' has default \"soon\", which is not a date",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"e","type":{"type":"enum","name":"E"}}]}"#,
            "error: s.avsc: the enum of field 'e' needs \"symbols\"",
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
            "error: s.avsc: the enum of the schema lists the symbol 'A' twice",
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["1A"]}"#,
            "error: s.avsc: the enum of the schema has the symbol '1A', which is not an Avro name",
        ),
        (
            r#"{"type":"fixed","name":"F"}"#,
            "error: s.avsc: the fixed of the schema needs \"size\"",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"o","type":{"type":"record","name":"O","fields":[{"name":"x","type":"nope"}]}}]}"#,
            "error: s.avsc: field 'o.x' has unknown type 'nope'",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"y","type":"E"},{"name":"x","type":{"type":"enum","name":"E","symbols":["A"]}}]}"#,
            "error: s.avsc: field 'y' has unknown type 'E'; use an Avro type",
        ),
        (
            r#"{"type":"record","name":"r","namespace":"a","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"b","symbols":["A"]}},{"name":"y","type":"E"}]}"#,
            "error: s.avsc: field 'y' has unknown type 'E' (a type 'b.E' is defined: refer to it by its full name)",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"x","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"y","type":{"type":"enum","name":"E","symbols":["B"]}}]}"#,
            "error: s.avsc: field 'y' defines the named type 'E' again",
        ),
        (
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
            "error: s.avsc: field 'next' refers to the record 'Node' inside its own definition",
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal"}"#,
            "error: s.avsc: the decimal of the schema needs \"precision\"",
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":50}"#,
            "error: s.avsc: the decimal of the schema has precision 50, but Keel stores decimals as 128-bit numbers",
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":2,"scale":4}"#,
            "error: s.avsc: the decimal of the schema has scale 4, which must be a whole number from 0 to its precision (2)",
        ),
        (
            r#"{"type":"record","name":"r","fields":[{"name":"p","type":{"type":"fixed","name":"P","size":2,"logicalType":"decimal","precision":10}}]}"#,
            "error: s.avsc: the decimal of field 'p' has precision 10, but a fixed of 2 bytes holds at most 4 digits",
        ),
    ];
    for (json, want) in cases {
        let got = render(json);
        assert!(
            got.starts_with(want),
            "for {json}:\n got {got}\nwant {want}"
        );
        if let Err(e) = AvroSchema::parse(json, "s.avsc") {
            assert_eq!(e.code(), keel_types::Code::InvalidSchema, "{json}");
        }
    }
}

#[test]
fn value_columns_are_named_and_renamed() {
    let s = AvroSchema::parse(r#"{"type": "float"}"#, "out.avsc").unwrap();
    assert_eq!(s.value_column(), Some(DEFAULT_VALUE_COLUMN));
    let s = s.with_value_column("churn");
    assert_eq!(s.value_column(), Some("churn"));
    assert_eq!(s.to_arrow().field(0).name(), "churn");
    assert!(s.field("churn").is_some());

    let s = AvroSchema::parse(
        r#"{"type": "double", "name": "score", "role": "score", "doc": "the score"}"#,
        "out.avsc",
    )
    .unwrap();
    let f = &s.fields[0];
    assert_eq!(f.attributes.get("role"), Some(&Value::from("score")));
    assert_eq!(f.attributes.len(), 2, "{:?}", f.attributes);

    let list = AvroSchema::parse(r#"{"type": "array", "items": "string"}"#, "o.avsc").unwrap();
    assert_eq!(list.shape(), Shape::ValueList);
    assert!(list.shape().is_list() && list.shape().is_value());
    assert_eq!(list.with_value_column("tag").value_column(), Some("tag"));

    let record = AvroSchema::parse(CREDIT, "in.avsc").unwrap();
    assert_eq!(
        record.clone().with_value_column("x"),
        record,
        "records keep their fields"
    );
    assert!(!Shape::Record.is_list() && !Shape::RecordList.is_value());
}

#[test]
fn types_describe_themselves_and_say_how_they_are_stored() {
    let cases = [
        (AvroType::Fixed(4), "fixed of 4 bytes", false),
        (
            AvroType::Union(vec![AvroType::Int, AvroType::String]),
            "int or string",
            true,
        ),
        (
            AvroType::Union(vec![AvroType::Int, AvroType::Double]),
            "int or double",
            false,
        ),
        (
            AvroType::Decimal {
                precision: 9,
                scale: 2,
            },
            "decimal(9, 2)",
            false,
        ),
        (
            AvroType::Array(Box::new(AvroType::Date)),
            "array of date",
            true,
        ),
        (AvroType::TimestampMicros, "timestamp-micros", false),
    ];
    for (ty, text, json) in cases {
        assert_eq!(ty.describe(), text);
        assert_eq!(ty.stored_as_json(), json, "{text}");
    }
}
