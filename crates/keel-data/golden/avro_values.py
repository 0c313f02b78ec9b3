"""Golden cases for keel-data's Avro checks: does a value conform to a schema?

fastavro decides. Each case is an Avro schema and one JSON value, as one
line of a JSON-lines input holds it (a record object, a bare value, or a
list for an array schema). The script asks fastavro to parse the schema
(`fastavro.parse_schema`) and to validate the value
(`fastavro.validation.validate`), and writes every case with fastavro's
decision to crates/keel-data/test_data/avro_values.json. The Rust test
(crates/keel-data/tests/it/golden.rs) reads each line through Keel's JSON
reader with the schema and asserts the same decision.

Where Keel decides differently on purpose, the case carries `keel` (Keel's
decision) and `why`; the script refuses a `keel` that agrees with fastavro,
so the file lists only real differences.

JSON has no bytes and no decimal type, while Python code hands fastavro
`bytes` and `decimal.Decimal`. A case with `"as": "bytes"` gives fastavro the
value's UTF-8 bytes (Keel's reading of text for `bytes` and `fixed`); one with
`"as": "decimal"` gives it `decimal.Decimal` of the number's text, so fastavro
judges precision and scale.

Run from the repository root (after scripts/setup-python.sh):

    .venv/bin/python crates/keel-data/golden/avro_values.py
"""

import decimal
import json
import os

import fastavro
from fastavro.validation import validate

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "test_data", "avro_values.json"
)

RECORD = {
    "type": "record",
    "name": "input",
    "namespace": "com.modelop",
    "fields": [
        {"name": "id", "type": "int"},
        {"name": "amount", "type": ["null", "double"], "default": None},
        {"name": "grade", "type": {"type": "enum", "name": "Grade", "symbols": ["A", "B"]}},
        {"name": "region", "type": "string", "default": "EU"},
        {"name": "next_grade", "type": ["null", "Grade"]},
        {"name": "also_grade", "type": ["null", "com.modelop.Grade"], "default": None},
    ],
}

NESTED = {
    "type": "record",
    "name": "r",
    "fields": [
        {
            "name": "o",
            "type": {
                "type": "record",
                "name": "O",
                "fields": [
                    {"name": "x", "type": "int"},
                    {"name": "tags", "type": {"type": "array", "items": "string"}},
                ],
            },
        },
        {"name": "counts", "type": {"type": "map", "values": "long"}, "default": {}},
        {"name": "opened", "type": {"type": "int", "logicalType": "date"}, "default": 0},
    ],
}

SCORES = {
    "type": "array",
    "items": {
        "type": "record",
        "name": "score",
        "fields": [
            {"name": "label", "type": "string"},
            {"name": "probability", "type": "double"},
        ],
    },
}


def dec(precision, scale, base="bytes", **extra):
    return {"type": base, "logicalType": "decimal", "precision": precision, "scale": scale, **extra}


DATE = {"type": "int", "logicalType": "date"}
TIME_MS = {"type": "int", "logicalType": "time-millis"}
TIME_US = {"type": "long", "logicalType": "time-micros"}
TS_MS = {"type": "long", "logicalType": "timestamp-millis"}
TS_US = {"type": "long", "logicalType": "timestamp-micros"}
UUID = {"type": "string", "logicalType": "uuid"}

# (name, schema, value, options). Options: "as" (how fastavro gets the
# value), "keel" and "why" (Keel's own decision, where it differs).
CASES = [
    # Primitives.
    ("null is null", "null", None, {}),
    ("null is not 0", "null", 0, {}),
    ("boolean", "boolean", True, {}),
    ("a number is not a boolean", "boolean", 1, {}),
    ("int", "int", 42, {}),
    ("int at its largest", "int", 2147483647, {}),
    ("int past its range", "int", 2147483648, {}),
    ("a float is not an int", "int", 3.0, {}),
    ("true is not an int", "int", True, {}),
    ("a string is not an int", "int", "3", {}),
    ("long", "long", 9223372036854775807, {}),
    ("float takes an integer", "float", 1, {}),
    ("double", {"type": "double"}, 0.73, {}),
    ("a string is not a double", "double", "0.73", {}),
    ("null is not a double", "double", None, {}),
    (
        "an object under a value schema is a record",
        "double",
        {"prediction": 0.73},
        {
            "keel": "accept",
            "why": "Keel reads an object line under a value schema as a record whose key names "
            "the value column, so its own output written without bare values reads back",
        },
    ),
    (
        "an object without the value column",
        "double",
        {"score": 0.73},
        {},
    ),
    ("string", "string", "text", {}),
    ("a number is not a string", "string", 5, {}),
    ("bytes from text", "bytes", "raw", {"as": "bytes"}),
    ("a number is not bytes", "bytes", 5, {}),
    # Named types.
    ("enum", {"type": "enum", "name": "L", "symbols": ["yes", "no"]}, "no", {}),
    ("enum symbol missing", {"type": "enum", "name": "L", "symbols": ["yes", "no"]}, "maybe", {}),
    ("fixed of its size", {"type": "fixed", "name": "F", "size": 4}, "abcd", {"as": "bytes"}),
    ("fixed too short", {"type": "fixed", "name": "F", "size": 4}, "abc", {"as": "bytes"}),
    ("fixed counts UTF-8 bytes", {"type": "fixed", "name": "F", "size": 2}, "é", {"as": "bytes"}),
    # Arrays and maps as values of a union (a top-level array is a list shape).
    ("array of longs", ["null", {"type": "array", "items": "long"}], [1, 2], {}),
    ("array with a bad item", ["null", {"type": "array", "items": "long"}], [1, "x"], {}),
    ("array with a null item", ["null", {"type": "array", "items": "long"}], [1, None], {}),
    (
        "array with nullable items",
        ["null", {"type": "array", "items": ["null", "long"]}],
        [1, None],
        {},
    ),
    ("map of doubles", {"type": "map", "values": "double"}, {"a": 1.5, "b": 2}, {}),
    ("map with a bad value", {"type": "map", "values": "double"}, {"a": "x"}, {}),
    ("a list is not a map", {"type": "map", "values": "double"}, [1.5], {}),
    # Unions.
    ("nullable double takes null", ["null", "double"], None, {}),
    ("nullable double takes a number", ["double", "null"], 0.5, {}),
    ("union of kinds takes an int", ["null", "int", "string"], 3, {}),
    ("union of kinds takes a string", ["null", "int", "string"], "x", {}),
    ("union of kinds takes null", ["null", "int", "string"], None, {}),
    ("union of kinds refuses a float", ["null", "int", "string"], 2.5, {}),
    ("union of kinds refuses a boolean", ["null", "int", "string"], True, {}),
    ("union of numbers", ["int", "double"], 2.5, {}),
    ("union of numbers refuses text", ["int", "double"], "2.5", {}),
    ("union of records and strings", ["string", NESTED["fields"][0]["type"]], {"x": 1, "tags": []}, {}),
    # Records.
    ("record", RECORD, {"id": 1, "amount": 2.5, "grade": "A", "next_grade": "B"}, {}),
    ("record with defaults and extra keys", RECORD, {"id": 1, "grade": "B", "other": [1]}, {}),
    ("record missing a required field", RECORD, {"amount": 2.5, "grade": "A"}, {}),
    ("record with a bad enum", RECORD, {"id": 1, "grade": "C"}, {}),
    ("record with a bad referenced enum", RECORD, {"id": 1, "grade": "A", "next_grade": "C"}, {}),
    ("record with a bad full-name enum", RECORD, {"id": 1, "grade": "A", "also_grade": "Z"}, {}),
    ("record with an int out of range", RECORD, {"id": 3000000000, "grade": "A"}, {}),
    (
        "null takes a non-nullable field's default",
        RECORD,
        {"id": 1, "grade": "A", "region": None},
        {
            "keel": "accept",
            "why": "Keel treats an explicit null like a missing value in a field that has a "
            "default (docs/data-formats.md), so the default is used",
        },
    ),
    ("a number is not a record", RECORD, 3, {}),
    ("nested record", NESTED, {"o": {"x": 1, "tags": ["a"]}, "counts": {"k": 2}}, {}),
    ("nested record with a bad item", NESTED, {"o": {"x": 1, "tags": ["a", 2]}}, {}),
    ("nested record missing a field", NESTED, {"o": {"tags": []}}, {}),
    ("nested map with a bad value", NESTED, {"o": {"x": 1, "tags": []}, "counts": {"k": 2.5}}, {}),
    ("date field as days", NESTED, {"o": {"x": 1, "tags": []}, "opened": 19753}, {}),
    # Lists of records and of values (array schemas).
    ("list of records", SCORES, [{"label": "a", "probability": 0.2}, {"label": "b", "probability": 0.8}], {}),
    ("empty list of records", SCORES, [], {}),
    ("list with a bad record", SCORES, [{"label": "a", "probability": 0.2}, {"label": "b"}], {}),
    ("list of numbers is not of records", SCORES, [1, 2], {}),
    (
        "one record is a list of one",
        SCORES,
        {"label": "a", "probability": 0.2},
        {
            "keel": "accept",
            "why": "Keel reads a line holding one object under an array-of-records schema as a "
            "list of one record",
        },
    ),
    ("list of doubles", {"type": "array", "items": "double"}, [0.1, 0.2], {}),
    ("list of doubles with text", {"type": "array", "items": "double"}, [0.1, "x"], {}),
    (
        "one value is a list of one",
        {"type": "array", "items": "double"},
        0.5,
        {
            "keel": "accept",
            "why": "Keel reads a line holding one value under an array schema as a list of one",
        },
    ),
    # Logical types.
    ("date as days", DATE, 19753, {}),
    ("date as ISO text", DATE, "2024-01-31", {}),
    ("date that does not exist", DATE, "2024-02-30", {}),
    ("date in another spelling", DATE, "31/01/2024", {}),
    ("date with a fraction", DATE, 19753.5, {}),
    (
        "date past the year 9999",
        DATE,
        3000000,
        {
            "keel": "reject",
            "why": "Python's datetime.date, which models receive, holds the years 1 to 9999 only",
        },
    ),
    ("time-millis", TIME_MS, 49500123, {}),
    (
        "time-millis as text",
        TIME_MS,
        "13:45:00.123",
        {"keel": "accept", "why": "Keel also reads times of day written as HH:MM:SS.fff"},
    ),
    (
        "time-millis past midnight",
        TIME_MS,
        86400000,
        {"keel": "reject", "why": "a time of day lies within one day"},
    ),
    ("time-micros", TIME_US, 49500123456, {}),
    ("timestamp-millis", TS_MS, 1706708700000, {}),
    (
        "timestamp-millis as RFC 3339",
        TS_MS,
        "2024-01-31T13:45:00Z",
        {"keel": "accept", "why": "Keel also reads RFC 3339 text, as CSV and JSON users write timestamps"},
    ),
    (
        "timestamp-micros with an offset",
        TS_US,
        "2024-01-31T15:45:00.5+02:00",
        {"keel": "accept", "why": "Keel also reads RFC 3339 text, as CSV and JSON users write timestamps"},
    ),
    ("timestamp that is not a time", TS_MS, "yesterday", {}),
    ("timestamp with a fraction", TS_MS, 1.5, {}),
    ("uuid", UUID, "123e4567-e89b-12d3-a456-426614174000", {}),
    (
        "uuid that is not one",
        UUID,
        "not-a-uuid",
        {"keel": "reject", "why": "Keel checks that a uuid's text is a UUID in canonical form"},
    ),
    ("decimal", dec(4, 2), 12.34, {"as": "decimal"}),
    ("decimal as text", dec(4, 2), "-12.34", {"as": "decimal"}),
    ("decimal integer", dec(4, 2), 12, {"as": "decimal"}),
    ("decimal with too many digits", dec(4, 2), 123.45, {"as": "decimal"}),
    ("decimal with too many fraction digits", dec(5, 2), "12.345", {"as": "decimal"}),
    (
        "decimal whose digits exceed the precision at its scale",
        dec(2, 2),
        1.5,
        {
            "as": "decimal",
            "keel": "reject",
            "why": "at scale 2, 1.5 is 150, three digits, more than precision 2; fastavro "
            "counts only the digits written",
        },
    ),
    (
        "decimal with trailing zeros past the scale",
        dec(4, 2),
        "1.500",
        {
            "as": "decimal",
            "keel": "accept",
            "why": "trailing zeros past the scale do not change the value, which fits",
        },
    ),
    ("decimal that is not a number", dec(4, 2), "abc", {"as": "decimal"}),
    ("decimal on fixed", dec(9, 2, "fixed", name="D", size=4), 1234567.89, {"as": "decimal"}),
    # Schemas both refuse.
    ("decimal scale above precision", dec(2, 4), 1, {}),
    ("decimal too wide for its fixed", dec(10, 0, "fixed", name="D", size=2), 1, {}),
    ("unknown type", {"type": "record", "name": "r", "fields": [{"name": "a", "type": "decimalish"}]}, {}, {}),
    (
        "short name from another namespace",
        {
            "type": "record",
            "name": "r",
            "namespace": "a",
            "fields": [
                {"name": "x", "type": {"type": "enum", "name": "E", "namespace": "b", "symbols": ["A"]}},
                {"name": "y", "type": "E"},
            ],
        },
        {"x": "A", "y": "A"},
        {},
    ),
    (
        "reference before definition",
        {
            "type": "record",
            "name": "r",
            "fields": [
                {"name": "y", "type": "E"},
                {"name": "x", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
            ],
        },
        {"x": "A", "y": "A"},
        {},
    ),
    (
        "named type defined twice",
        {
            "type": "record",
            "name": "r",
            "fields": [
                {"name": "x", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
                {"name": "y", "type": {"type": "enum", "name": "E", "symbols": ["B"]}},
            ],
        },
        {"x": "A", "y": "B"},
        {},
    ),
    ("enum with a symbol twice", {"type": "enum", "name": "E", "symbols": ["A", "A"]}, "A", {}),
    (
        "default of the wrong type",
        {"type": "record", "name": "r", "fields": [{"name": "a", "type": "int", "default": "x"}]},
        {"a": 1},
        {},
    ),
    # Schemas Keel refuses on purpose.
    (
        "decimal wider than 38 digits",
        dec(50, 2),
        1,
        {
            "keel": "invalid schema",
            "why": "Keel stores decimals as Decimal128, which holds at most 38 digits",
        },
    ),
    (
        "recursive record",
        {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]},
        {"next": None},
        {
            "keel": "invalid schema",
            "why": "Keel inlines named types and does not support recursive ones",
        },
    ),
    (
        "field defined twice",
        {"type": "record", "name": "r", "fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]},
        {"a": 1},
        {"keel": "invalid schema", "why": "a table cannot have two columns of one name"},
    ),
    (
        "empty union",
        [],
        None,
        {"keel": "invalid schema", "why": "no value can match an empty union"},
    ),
]


def as_python(value, how):
    """The value as Python code would give it to fastavro."""
    if how == "bytes" and isinstance(value, str):
        return value.encode("utf-8")
    if how == "decimal" and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            return value
    return value


def reference(schema, value, how):
    """fastavro's decision: "accept", "reject" or "invalid schema"."""
    try:
        parsed = fastavro.parse_schema(schema)
    except Exception:
        return "invalid schema"
    try:
        ok = validate(as_python(value, how), parsed, raise_errors=False)
    except Exception:
        # fastavro raises while preparing a logical value it cannot convert
        # (a date that does not exist, a decimal with too many digits).
        ok = False
    return "accept" if ok else "reject"


def main():
    names = set()
    out = []
    for name, schema, value, opts in CASES:
        assert name not in names, f"two cases are called {name!r}"
        names.add(name)
        ref = reference(schema, value, opts.get("as"))
        case = {"name": name, "schema": schema, "value": value, "fastavro": ref, "keel": ref}
        if "keel" in opts:
            assert opts["keel"] != ref, f"{name!r}: Keel agrees with fastavro; drop `keel`"
            assert opts.get("why"), f"{name!r}: say why Keel decides differently"
            case["keel"] = opts["keel"]
            case["why"] = opts["why"]
        out.append(case)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    doc = {
        "written_by": "crates/keel-data/golden/avro_values.py; do not edit by hand",
        "fastavro": fastavro.__version__,
        "cases": out,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(out)} cases to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
