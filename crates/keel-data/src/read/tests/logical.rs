//! Logical types, unions and fixed through every reader: CSV text, JSON
//! values (Avro's encoding and text) and Parquet's Arrow types, with bad
//! values rejected by record, line and field.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Time32MillisecondType, TimestampMicrosecondType,
    TimestampMillisecondType,
};
use arrow_array::{
    ArrayRef, Date64Array, Decimal128Array, FixedSizeBinaryArray, Int32Array, Int64Array,
    RecordBatch, Time64NanosecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use keel_types::DataFormat;

use super::{read, rows, types};
use crate::{AvroSchema, Chunk, ReadOptions, open};

const SCHEMA: &str = r#"{"type":"record","name":"input","fields":[
    {"name":"day","type":{"type":"int","logicalType":"date"}},
    {"name":"at","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
    {"name":"us","type":["null",{"type":"long","logicalType":"timestamp-micros"}]},
    {"name":"clock","type":["null",{"type":"int","logicalType":"time-millis"}]},
    {"name":"id","type":["null",{"type":"string","logicalType":"uuid"}]},
    {"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}]},
    {"name":"code","type":["null",{"type":"fixed","name":"Code","size":2}]},
    {"name":"mixed","type":["null","int","string"]},
    {"name":"num","type":["null","int","double"]}]}"#;

const UUID: &str = "123e4567-e89b-12d3-a456-426614174000";
/// 2024-01-31T13:45:00Z in seconds.
const T: i64 = 1_706_708_700;

fn want_types() -> Vec<(String, DataType)> {
    let utc = |u| DataType::Timestamp(u, Some(Arc::from("+00:00")));
    [
        ("day", DataType::Date32),
        ("at", utc(TimeUnit::Millisecond)),
        ("us", utc(TimeUnit::Microsecond)),
        ("clock", DataType::Time32(TimeUnit::Millisecond)),
        ("id", DataType::Utf8),
        ("price", DataType::Decimal128(6, 2)),
        ("code", DataType::FixedSizeBinary(2)),
        ("mixed", DataType::Utf8),
        ("num", DataType::Float64),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect()
}

/// The two good rows every format gives, column by column, as stored.
fn check_good_rows(chunks: &[Chunk], mixed: [&str; 2]) {
    let b = &chunks[0].batch;
    assert_eq!(b.num_rows(), 2);
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    let day = col("day");
    let days: Vec<_> = day.as_primitive::<Date32Type>().iter().collect();
    assert_eq!(days, [Some(19_753), Some(19_753)]);
    let at = col("at");
    let at: Vec<_> = at
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect();
    assert_eq!(at, [Some(T * 1000), Some(T * 1000)]);
    let us = col("us");
    let us: Vec<_> = us
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    assert_eq!(us, [Some(T * 1_000_000 + 123_456), None]);
    let clock = col("clock");
    let clock: Vec<_> = clock
        .as_primitive::<Time32MillisecondType>()
        .iter()
        .collect();
    assert_eq!(clock, [Some(49_500_500), None]);
    let price = col("price");
    let price: Vec<_> = price.as_primitive::<Decimal128Type>().iter().collect();
    assert_eq!(price, [Some(1250), Some(-1)]);
    let code = col("code");
    assert_eq!(code.as_fixed_size_binary().value(0), b"AB");
    let m = col("mixed");
    let m: Vec<_> = m.as_string::<i32>().iter().collect();
    assert_eq!(m, [Some(mixed[0]), Some(mixed[1])]);
    let num = col("num");
    let num: Vec<_> = num.as_primitive::<Float64Type>().iter().collect();
    assert_eq!(num, [Some(1.0), Some(2.5)]);
    assert_eq!(col("id").as_string::<i32>().value(0), UUID);
}

type Reject<'a> = (u64, Option<u64>, &'a str, &'a str);

fn rejects(chunks: &[Chunk]) -> Vec<Reject<'_>> {
    chunks
        .iter()
        .flat_map(|c| c.rejected.iter())
        .map(|r| {
            (
                r.record,
                r.line,
                r.field.as_deref().unwrap_or(""),
                r.reason.as_str(),
            )
        })
        .collect()
}

/// Each rejection's reason starts with the expected text.
fn assert_rejects(got: &[Reject<'_>], want: &[Reject<'_>]) {
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0, g.1, g.2), (w.0, w.1, w.2), "{g:?}");
        assert!(
            g.3.starts_with(w.3),
            "record {}: {}\nwant {}",
            g.0,
            g.3,
            w.3
        );
    }
}

#[test]
fn csv_reads_logical_types_and_unions_from_text() {
    let csv = format!(
        "day,at,us,clock,id,price,code,mixed,num\n\
         2024-01-31,2024-01-31T13:45:00Z,2024-01-31 13:45:00.123456,13:45:00.5,{UUID},12.5,AB,3,1\n\
         19753,2024-01-31T15:45:00+02:00,,,,-0.01,,abc,2.5\n\
         2024-02-30,,,,,,,,\n\
         2024-01-31,noon,,,,,,,\n\
         2024-01-31,,,25:00,,,,,\n\
         2024-01-31,,,,not-a-uuid,,,,\n\
         2024-01-31,,,,,12345.5,,,\n\
         2024-01-31,,,,,1.005,,,\n\
         2024-01-31,,,,,,ABC,,\n\
         2024-01-31,,,,,,,,x\n"
    );
    let (chunks, _dir) = read("in.csv", csv.as_bytes(), Some(SCHEMA), 100).unwrap();
    assert_eq!(types(&chunks[0]), want_types());
    check_good_rows(&chunks, ["3", "\"abc\""]);
    assert_rejects(
        &rejects(&chunks),
        &[
            (
                3,
                Some(4),
                "day",
                "field 'day': expected date, found \"2024-02-30\": write dates as YYYY-MM-DD",
            ),
            (
                4,
                Some(5),
                "at",
                "field 'at': expected timestamp-millis, found \"noon\": write timestamps as RFC 3339",
            ),
            (
                5,
                Some(6),
                "clock",
                "field 'clock': expected time-millis, found \"25:00\": write times as",
            ),
            (
                6,
                Some(7),
                "id",
                "field 'id': expected uuid, found \"not-a-uuid\": a uuid is written as",
            ),
            (
                7,
                Some(8),
                "price",
                "field 'price': expected decimal(6, 2), found \"12345.5\": it has more digits than the precision (6)",
            ),
            (
                8,
                Some(9),
                "price",
                "field 'price': expected decimal(6, 2), found \"1.005\": it has more digits after the point than the scale (2)",
            ),
            (
                9,
                Some(10),
                "code",
                "field 'code': expected fixed of 2 bytes, found \"ABC\": it has 3 bytes",
            ),
            (
                10,
                Some(11),
                "num",
                "field 'num': expected int or double, found \"x\"",
            ),
        ],
    );
}

#[test]
fn json_reads_avro_encodings_and_text() {
    let jsonl = format!(
        r#"{{"day": 19753, "at": 1706708700000, "us": "2024-01-31T13:45:00.123456Z", "clock": 49500500, "id": "{UUID}", "price": 12.5, "code": "AB", "mixed": 3, "num": 1}}
{{"day": "2024-01-31", "at": "2024-01-31T13:45:00Z", "price": "-0.01", "mixed": "abc", "num": 2.5}}
{{"day": 19753.5}}
{{"day": 19753, "at": 1.5}}
{{"day": 19753, "price": "1.005"}}
{{"day": 19753, "mixed": 2.5}}
{{"day": 19753, "num": "1"}}
{{"day": 19753, "clock": 86400000}}
"#
    );
    let (chunks, _dir) = read("in.jsonl", jsonl.as_bytes(), Some(SCHEMA), 100).unwrap();
    assert_eq!(types(&chunks[0]), want_types());
    check_good_rows(&chunks, ["3", "\"abc\""]);
    assert_rejects(
        &rejects(&chunks),
        &[
            (
                3,
                Some(3),
                "day",
                "field 'day': expected date, found 19753.5",
            ),
            (
                4,
                Some(4),
                "at",
                "field 'at': expected timestamp-millis, found 1.5",
            ),
            (
                5,
                Some(5),
                "price",
                "field 'price': expected decimal(6, 2), found \"1.005\": it has more digits after",
            ),
            (
                6,
                Some(6),
                "mixed",
                "field 'mixed': expected int or string, found 2.5",
            ),
            (
                7,
                Some(7),
                "num",
                "field 'num': expected int or double, found \"1\"",
            ),
            (
                8,
                Some(8),
                "clock",
                "field 'clock': expected time-millis, found 86400000: a time of day",
            ),
        ],
    );
    // Rendered rows show what a model's JSON view of them is.
    assert_eq!(rows(&chunks)[1]["day"], "2024-01-31");
}

#[test]
fn parquet_converts_arrow_temporal_and_decimal_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.parquet");
    let uuid: Vec<u8> = vec![
        0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40,
        0x00,
    ];
    let batch = RecordBatch::try_from_iter(vec![
        (
            "day",
            Arc::new(Date64Array::from(vec![
                19_753 * 86_400_000,
                19_753 * 86_400_000,
            ])) as ArrayRef,
        ),
        (
            "at",
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    T * 1_000_000_000 + 999_999,
                    T * 1_000_000_000,
                ])
                .with_timezone("Europe/Paris"),
            ) as ArrayRef,
        ),
        (
            "us",
            Arc::new(TimestampSecondArray::from(vec![Some(T), None])) as ArrayRef,
        ),
        (
            "clock",
            Arc::new(Time64NanosecondArray::from(vec![
                Some(49_500_500_123_456),
                None,
            ])) as ArrayRef,
        ),
        (
            "id",
            Arc::new(
                FixedSizeBinaryArray::try_from_iter(vec![uuid.clone(), uuid].into_iter()).unwrap(),
            ) as ArrayRef,
        ),
        (
            "price",
            Arc::new(
                Decimal128Array::from(vec![125_000, 12_345])
                    .with_precision_and_scale(10, 4)
                    .unwrap(),
            ) as ArrayRef,
        ),
        ("mixed", Arc::new(Int64Array::from(vec![3, 4])) as ArrayRef),
        ("num", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
    ])
    .unwrap();
    let mut out = crate::OutputFile::create(&path, DataFormat::Parquet).unwrap();
    out.write(&batch).unwrap();
    out.commit().unwrap();
    let opts = ReadOptions {
        schema: Some(AvroSchema::parse(SCHEMA, "input_schema.avsc").unwrap()),
        ..ReadOptions::default()
    };
    let chunks: Vec<Chunk> = open(&path, &opts).unwrap().map(|c| c.unwrap()).collect();
    let b = &chunks[0].batch;
    assert_eq!(b.num_rows(), 1, "{:?}", chunks[0].rejected);
    let got: Vec<(String, DataType)> = types(&chunks[0])
        .into_iter()
        .filter(|(n, _)| n != "code")
        .collect();
    let want: Vec<(String, DataType)> = want_types()
        .into_iter()
        .filter(|(n, _)| n != "code")
        .collect();
    assert_eq!(got, want);
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    assert_eq!(col("day").as_primitive::<Date32Type>().value(0), 19_753);
    assert_eq!(
        col("at")
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        T * 1000,
        "nanoseconds are truncated to milliseconds; the zone does not move the instant"
    );
    assert_eq!(
        col("us")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        T * 1_000_000
    );
    assert_eq!(
        col("clock")
            .as_primitive::<Time32MillisecondType>()
            .value(0),
        49_500_500
    );
    assert_eq!(col("id").as_string::<i32>().value(0), UUID);
    assert_eq!(col("price").as_primitive::<Decimal128Type>().value(0), 1250);
    assert_eq!(col("mixed").as_string::<i32>().value(0), "3");
    assert_eq!(col("num").as_primitive::<Float64Type>().value(0), 1.0);
    assert_rejects(
        &rejects(&chunks),
        &[(
            2,
            None,
            "price",
            "field 'price': expected decimal(6, 2), found 1.2345: it has more digits after the point",
        )],
    );
}
