//! Tests of the writers and of `unify`.

use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{BooleanArray, Float64Array, Int64Array, NullArray, StringArray};

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

#[test]
fn unify_merges_columns_and_types() {
    let a = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("x", Arc::new(NullArray::new(2)) as ArrayRef),
        ("y", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
    ]);
    let b = batch(vec![
        ("y", Arc::new(Float64Array::from(vec![0.5])) as ArrayRef),
        ("x", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
        ("id", Arc::new(StringArray::from(vec!["z"])) as ArrayRef),
        ("new", Arc::new(StringArray::from(vec!["n"])) as ArrayRef),
    ]);
    let out = unify(vec![a, b]).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].schema(), out[1].schema());
    let s = out[0].schema();
    let got: Vec<(String, DataType)> = s
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("id".to_string(), DataType::Utf8),
            ("x".to_string(), DataType::Boolean),
            ("y".to_string(), DataType::Float64),
            ("new".to_string(), DataType::Utf8),
        ]
    );
    assert_eq!(out[0].column(0).as_string::<i32>().value(1), "2");
    assert_eq!(out[1].column(0).as_string::<i32>().value(0), "z");
    assert_eq!(out[0].column(2).as_primitive::<Float64Type>().value(0), 7.0);
    assert!(out[0].column(3).is_null(0));
    assert!(out[0].column(1).is_null(0));
    assert!(out[1].column(1).as_boolean().value(0));
    assert!(unify(vec![]).unwrap().is_empty());
}

fn read_all(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("keel-tmp"))
        .collect()
}

/// Two temporary names for one file never meet, even in one process and one
/// clock tick, and the sweep recognises exactly the names Keel makes.
#[test]
fn temp_names_are_unique_and_recognisable() {
    let names: std::collections::HashSet<String> =
        (0..1000).map(|_| temp_name("scores.csv")).collect();
    assert_eq!(names.len(), 1000);
    let pid = std::process::id();
    for name in &names {
        assert_eq!(temp_file_owner(name, "scores.csv"), Some(pid), "{name}");
        assert_eq!(temp_file_owner(name, "other.csv"), None, "{name}");
    }
    let cases = [
        (".scores.csv.keel-tmp-42", Some(42)),
        (".scores.csv.keel-tmp-42-1700000000", Some(42)),
        (".scores.csv.keel-tmp-notes", None),
        (".scores.csv.keel-tmp-42-x", None),
        ("scores.csv.keel-tmp-42", None),
    ];
    for (file, want) in cases {
        assert_eq!(temp_file_owner(file, "scores.csv"), want, "{file}");
    }
}

#[test]
fn commit_renames_and_drop_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    let b = batch(vec![
        ("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        (
            "b",
            Arc::new(StringArray::from(vec![Some("x,y"), None])) as ArrayRef,
        ),
    ]);
    let mut out = OutputFile::create(&target, DataFormat::Csv).unwrap();
    out.write(&b).unwrap();
    assert!(!target.exists(), "nothing is visible before commit");
    assert_eq!(leftovers(dir.path()).len(), 1);
    assert!(leftovers(dir.path())[0].starts_with(".out.csv.keel-tmp-"));
    assert_eq!(out.commit().unwrap(), 2);
    assert_eq!(read_all(&target), "a,b\n1,\"x,y\"\n2,\n");
    assert!(leftovers(dir.path()).is_empty());

    let dropped = dir.path().join("dropped.jsonl");
    let mut out = OutputFile::create(&dropped, DataFormat::Json).unwrap();
    out.write(&b).unwrap();
    drop(out);
    assert!(!dropped.exists());
    assert!(
        leftovers(dir.path()).is_empty(),
        "drop removes the temp file"
    );
}

#[test]
fn json_lines_keep_nulls_and_mismatched_batches_fail() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.jsonl");
    let b = batch(vec![
        ("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        (
            "b",
            Arc::new(StringArray::from(vec![Some("x"), None])) as ArrayRef,
        ),
    ]);
    let mut out = OutputFile::create(&target, DataFormat::Json).unwrap();
    out.write(&b).unwrap();
    let other = batch(vec![(
        "a",
        Arc::new(Float64Array::from(vec![1.5])) as ArrayRef,
    )]);
    let err = out.write(&other).unwrap_err();
    assert_eq!(err.code(), keel_types::Code::Internal);
    assert!(err.to_string().contains("call keel_data::unify"), "{err}");
    assert_eq!(out.commit().unwrap(), 2);
    assert_eq!(
        read_all(&target),
        "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n"
    );
}

#[test]
fn parquet_round_trips_and_empty_outputs_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.parquet");
    let b = batch(vec![(
        "a",
        Arc::new(Int64Array::from(vec![5, 6])) as ArrayRef,
    )]);
    let mut out = OutputFile::create(&target, DataFormat::Parquet).unwrap();
    out.write(&b).unwrap();
    out.write(&b).unwrap();
    assert_eq!(out.commit().unwrap(), 4);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        File::open(&target).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let total: i64 = reader
        .map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(total, 22);

    let empty = dir.path().join("empty.parquet");
    assert_eq!(
        OutputFile::create(&empty, DataFormat::Parquet)
            .unwrap()
            .commit()
            .unwrap(),
        0
    );
    assert!(
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(&empty).unwrap()
        )
        .is_ok()
    );
}

/// Writes `batch` to `name` with bare values on, and returns the file's text.
fn write_bare(
    dir: &Path,
    name: &str,
    format: DataFormat,
    batch: &RecordBatch,
    json: bool,
) -> String {
    let target = dir.join(name);
    let mut out = OutputFile::create(&target, format)
        .unwrap()
        .bare_values(true)
        .json_text(if json {
            vec![batch.schema().field(0).name().clone()]
        } else {
            Vec::new()
        });
    out.write(batch).unwrap();
    out.commit().unwrap();
    read_all(&target)
}

#[test]
fn bare_values_are_the_lines_of_one_column_tables() {
    let dir = tempfile::tempdir().unwrap();
    let floats = batch(vec![(
        "prediction",
        Arc::new(Float64Array::from(vec![Some(0.73), None, Some(1.5)])) as ArrayRef,
    )]);
    let texts = batch(vec![(
        "label",
        Arc::new(StringArray::from(vec![Some("a \"b\""), Some("[1]"), None])) as ArrayRef,
    )]);
    let json = batch(vec![(
        "tags",
        Arc::new(StringArray::from(vec![
            Some("[1,2]"),
            Some("{\"k\":1}"),
            Some("not json"),
            None,
        ])) as ArrayRef,
    )]);
    let utc = |a: arrow_array::TimestampMillisecondArray| a.with_timezone("+00:00");
    let logical = batch(vec![(
        "at",
        Arc::new(utc(arrow_array::TimestampMillisecondArray::from(vec![
            1_706_708_700_123,
        ]))) as ArrayRef,
    )]);
    let decimals = batch(vec![(
        "price",
        Arc::new(
            arrow_array::Decimal128Array::from(vec![Some(-1250), None])
                .with_precision_and_scale(6, 2)
                .unwrap(),
        ) as ArrayRef,
    )]);
    let two = batch(vec![
        ("a", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("b", Arc::new(Int64Array::from(vec![2])) as ArrayRef),
    ]);
    let d = dir.path();
    let cases: Vec<(&str, DataFormat, &RecordBatch, bool, &str)> = vec![
        (
            "f.jsonl",
            DataFormat::Json,
            &floats,
            false,
            "0.73\nnull\n1.5\n",
        ),
        (
            "t.jsonl",
            DataFormat::Json,
            &texts,
            false,
            "\"a \\\"b\\\"\"\n\"[1]\"\nnull\n",
        ),
        (
            "j.jsonl",
            DataFormat::Json,
            &json,
            true,
            "[1,2]\n{\"k\":1}\n\"not json\"\nnull\n",
        ),
        (
            "l.jsonl",
            DataFormat::Json,
            &logical,
            false,
            "\"2024-01-31T13:45:00.123Z\"\n",
        ),
        (
            "d.jsonl",
            DataFormat::Json,
            &decimals,
            false,
            "-12.50\nnull\n",
        ),
        (
            "two.jsonl",
            DataFormat::Json,
            &two,
            false,
            "{\"a\":1,\"b\":2}\n",
        ),
        (
            "f.csv",
            DataFormat::Csv,
            &floats,
            false,
            "prediction\n0.73\n\"\"\n1.5\n",
        ),
    ];
    for (name, format, b, json_text, want) in cases {
        assert_eq!(write_bare(d, name, format, b, json_text), want, "{name}");
    }
}

#[test]
fn bare_values_read_back_with_a_value_schema() {
    use crate::{AvroSchema, ReadOptions, open, row_to_json};
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, RecordBatch, bool)> = vec![
        (
            r#"["null", "double"]"#,
            batch(vec![(
                "prediction",
                Arc::new(Float64Array::from(vec![Some(0.73), None, Some(1.5)])) as ArrayRef,
            )]),
            false,
        ),
        (
            r#"["null", {"type": "array", "items": "long"}, {"type": "map", "values": "long"}]"#,
            batch(vec![(
                "prediction",
                Arc::new(StringArray::from(vec![
                    Some("[1,2]"),
                    Some("{\"k\":1}"),
                    None,
                ])) as ArrayRef,
            )]),
            true,
        ),
        (
            r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
            batch(vec![(
                "prediction",
                Arc::new(
                    arrow_array::TimestampMillisecondArray::from(vec![1_706_708_700_123, -1])
                        .with_timezone("+00:00"),
                ) as ArrayRef,
            )]),
            false,
        ),
        (
            r#"{"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}"#,
            batch(vec![(
                "prediction",
                Arc::new(
                    arrow_array::Decimal128Array::from(vec![-1250, 999_999])
                        .with_precision_and_scale(6, 2)
                        .unwrap(),
                ) as ArrayRef,
            )]),
            false,
        ),
    ];
    for (i, (schema, b, json_text)) in cases.into_iter().enumerate() {
        let name = format!("{i}.jsonl");
        write_bare(dir.path(), &name, DataFormat::Json, &b, json_text);
        let opts = ReadOptions {
            schema: Some(AvroSchema::parse(schema, "out.avsc").unwrap()),
            ..ReadOptions::default()
        };
        let chunks: Vec<_> = open(&dir.path().join(&name), &opts)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        assert!(
            chunks[0].rejected.is_empty(),
            "{schema}: {:?}",
            chunks[0].rejected
        );
        let back = &chunks[0].batch;
        assert_eq!(back.num_rows(), b.num_rows(), "{schema}");
        for row in 0..b.num_rows() {
            assert_eq!(
                row_to_json(back, row),
                row_to_json(&b, row),
                "{schema} row {row}"
            );
        }
    }
}

/// NaN and the infinities keep their meaning in every format: JSON writes
/// them as the strings "NaN", "Infinity" and "-Infinity" (whole objects and
/// bare values alike, next to exact finite numbers), CSV and Parquet as
/// floats, and each reads back into a float column under a schema.
#[test]
fn non_finite_floats_survive_every_format() {
    use crate::{AvroSchema, ReadOptions, open};
    let dir = tempfile::tempdir().unwrap();
    let values = vec![
        Some(1.5),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        None,
        Some(1e21),
    ];
    let b = batch(vec![
        (
            "id",
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])) as ArrayRef,
        ),
        (
            "p",
            Arc::new(Float64Array::from(values.clone())) as ArrayRef,
        ),
    ]);
    let one = batch(vec![(
        "p",
        Arc::new(Float64Array::from(values.clone())) as ArrayRef,
    )]);
    let record = r#"{"type": "record", "name": "r", "fields": [
        {"name": "id", "type": "long"}, {"name": "p", "type": ["null", "double"]}]}"#;
    // (file, format, batch, bare, schema, JSON lines expected or None)
    type Case<'a> = (
        &'a str,
        DataFormat,
        &'a RecordBatch,
        bool,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "rows.jsonl",
            DataFormat::Json,
            &b,
            false,
            record,
            Some(
                "{\"id\":1,\"p\":1.5}\n{\"id\":2,\"p\":\"NaN\"}\n{\"id\":3,\"p\":\"Infinity\"}\n\
                 {\"id\":4,\"p\":\"-Infinity\"}\n{\"id\":5,\"p\":null}\n{\"id\":6,\"p\":1.0e21}\n",
            ),
        ),
        (
            "bare.jsonl",
            DataFormat::Json,
            &one,
            true,
            r#"["null", "double"]"#,
            Some("1.5\n\"NaN\"\n\"Infinity\"\n\"-Infinity\"\nnull\n1.0e21\n"),
        ),
        ("rows.csv", DataFormat::Csv, &b, false, record, None),
        ("rows.parquet", DataFormat::Parquet, &b, false, record, None),
    ];
    for (name, format, b, bare, schema, expected) in cases {
        let mut out = OutputFile::create(&dir.path().join(name), format)
            .unwrap()
            .bare_values(bare);
        out.write(b).unwrap();
        out.commit().unwrap();
        if let Some(expected) = expected {
            assert_eq!(read_all(&dir.path().join(name)), expected, "{name}");
        }
        let opts = ReadOptions {
            schema: Some(AvroSchema::parse(schema, "out.avsc").unwrap()),
            ..ReadOptions::default()
        };
        let chunks: Vec<_> = open(&dir.path().join(name), &opts)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        assert!(
            chunks[0].rejected.is_empty(),
            "{name}: {:?}",
            chunks[0].rejected
        );
        let read = &chunks[0].batch;
        let back = read.column(read.num_columns() - 1);
        let back = back.as_primitive::<Float64Type>();
        let got: Vec<Option<String>> = (0..back.len())
            .map(|i| back.is_valid(i).then(|| back.value(i).to_string()))
            .collect();
        let want: Vec<Option<String>> = values.iter().map(|v| v.map(|v| v.to_string())).collect();
        assert_eq!(got, want, "{name}");
    }
}

/// Batch sequences whose schemas agree or change along the way, each written
/// by `StreamingOutput` and by `unify` over all batches at once: the files
/// must be the same, and neither the spool nor a temporary file may remain.
#[test]
fn streaming_output_matches_unify_over_all_batches() {
    let ints = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let floats = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let texts = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let nulls = |n: usize| Arc::new(NullArray::new(n)) as ArrayRef;
    let cases: Vec<(&str, Vec<RecordBatch>)> = vec![
        (
            "one schema throughout",
            vec![
                batch(vec![
                    ("id", ints(vec![1, 2])),
                    ("p", floats(vec![0.1, 0.2])),
                ]),
                batch(vec![("id", ints(vec![3])), ("p", floats(vec![0.3]))]),
            ],
        ),
        (
            "an integer batch in a float column is cast, written directly",
            vec![
                batch(vec![("p", floats(vec![0.5]))]),
                batch(vec![("p", ints(vec![2]))]),
            ],
        ),
        (
            "a column of nulls first, typed later: rewritten from the spool",
            vec![
                batch(vec![("id", ints(vec![1])), ("x", nulls(1))]),
                batch(vec![("id", ints(vec![2])), ("x", floats(vec![1.5]))]),
            ],
        ),
        (
            "a float after integers: the column becomes float",
            vec![
                batch(vec![("p", ints(vec![1, 2]))]),
                batch(vec![("p", floats(vec![2.5]))]),
                batch(vec![("p", ints(vec![3]))]),
            ],
        ),
        (
            "a new column and a text in a number column",
            vec![
                batch(vec![("id", ints(vec![1]))]),
                batch(vec![("id", texts(vec!["b"])), ("extra", texts(vec!["e"]))]),
            ],
        ),
    ];
    for format in [DataFormat::Json, DataFormat::Csv, DataFormat::Parquet] {
        for (name, batches) in &cases {
            let dir = tempfile::tempdir().unwrap();
            let ext = format.as_str();
            let streamed = dir.path().join(format!("streamed.{ext}"));
            let spool = dir.path().join("spool.arrows");
            let mut out = StreamingOutput::create(&streamed, format, &spool).unwrap();
            for b in batches {
                out.write(b, false, &[]).unwrap();
            }
            let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
            out.finish(&empty, false, &[]).unwrap().commit().unwrap();
            let whole = dir.path().join(format!("whole.{ext}"));
            let mut file = OutputFile::create(&whole, format).unwrap();
            for b in unify(batches.clone()).unwrap() {
                file.write(&b).unwrap();
            }
            file.commit().unwrap();
            assert_eq!(
                std::fs::read(&streamed).unwrap(),
                std::fs::read(&whole).unwrap(),
                "{name} ({ext})"
            );
            assert!(!spool.exists(), "{name}: the spool was left behind");
            assert!(leftovers(dir.path()).is_empty(), "{name}");
        }
    }
}

#[test]
fn streaming_output_without_batches_writes_the_empty_batch() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    let out = StreamingOutput::create(&target, DataFormat::Csv, &dir.path().join("s")).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("p", DataType::Float64, true)]));
    out.finish(&RecordBatch::new_empty(schema), false, &[])
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!(read_all(&target), "p\n");
    assert!(leftovers(dir.path()).is_empty());
    // Dropped unfinished, it leaves neither the output nor the spool.
    let mut out = StreamingOutput::create(
        &dir.path().join("gone.csv"),
        DataFormat::Csv,
        &dir.path().join("s2"),
    )
    .unwrap();
    out.write(
        &batch(vec![(
            "p",
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        )]),
        false,
        &[],
    )
    .unwrap();
    drop(out);
    assert!(!dir.path().join("gone.csv").exists());
    assert!(!dir.path().join("s2").exists());
    assert!(leftovers(dir.path()).is_empty());
}
