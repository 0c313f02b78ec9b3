//! Writes the hand-made seed inputs of `fuzz/corpus/`: run
//! `cargo run -p keel-fuzz --example write_seeds` to regenerate
//! them. Inputs fuzzing found (minimized crashes) are saved beside the seeds
//! by hand and are not written here.

use std::fs;
use std::io::Write;

use arrow_array::RecordBatch;
use keel_data::{OutputFile, ReadOptions};
use keel_runner::protocol;
use keel_types::DataFormat;

use std::path::{Path, PathBuf};

/// The saved corpus, one directory per target.
fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

const CSV: &[(&str, &str)] = &[
    ("basic.csv", "a,b,c\n1,2.5,x\n2,,y\n3,-4e2,z\n"),
    (
        "quoted.csv",
        "name,note\n\"Smith, J\",\"said \"\"hi\"\"\nthere\"\nplain,\"\"\n",
    ),
    (
        "types.csv",
        "id,flag,when,at,amount\n1,true,2024-01-02,2024-01-02T10:00:00Z,1e3\n2,false,2024-02-30,not a time,-0\n3,,,,NaN\n",
    ),
    ("ragged.csv", "a,b\n1\n1,2,3\n\n4,5\n"),
    ("bom_crlf.csv", "\u{feff}x,y\r\n1,2\r\n3,4\r\n"),
    ("header_only.csv", "only,a,header\n"),
];

const JSON: &[(&str, &str)] = &[
    (
        "lines.jsonl",
        "{\"a\":1,\"b\":\"x\"}\n{\"a\":2.5,\"b\":null,\"c\":[1,2]}\n{\"a\":-3,\"d\":{\"e\":true}}\n",
    ),
    (
        "array.json",
        "[{\"a\":1},{\"a\":{\"n\":true}},{\"b\":\"s\"}]",
    ),
    (
        "broken.jsonl",
        "{\"a\":1}\nnot json\n{\"a\":\"s\"}\n[1,2]\n",
    ),
    (
        "nested.jsonl",
        "{\"x\":[[[[{\"y\":[[[1]]]}]]]],\"big\":123456789012345678901234567890,\"f\":1e400}\n",
    ),
    (
        "unicode.jsonl",
        "{\"k\\u00e9\":\"\\ud83d\\ude00\",\"\u{e9}\":\"\\u0000\"}\n",
    ),
];

const SCHEMAS: &[(&str, &str)] = &[
    (
        "record.avsc",
        r#"{"type":"record","name":"in","fields":[
  {"name":"id","type":"long"},
  {"name":"score","type":["null","double"],"default":null},
  {"name":"label","type":"string","role":"label"},
  {"name":"flag","type":"boolean"},
  {"name":"kind","type":{"type":"enum","name":"K","symbols":["a","b"]}},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"attrs","type":{"type":"map","values":"int"}},
  {"name":"hash","type":{"type":"fixed","name":"H","size":4}},
  {"name":"any","type":["int","string"]}
]}"#,
    ),
    (
        "record_list.avsc",
        r#"{"type":"array","items":{"type":"record","name":"r","fields":[{"name":"x","type":"float"}]}}"#,
    ),
    ("primitive.avsc", r#""double""#),
    (
        "value.avsc",
        r#"{"type":"string","name":"prediction_label"}"#,
    ),
    (
        "named_reuse.avsc",
        r#"{"type":"record","name":"outer","namespace":"n","fields":[
  {"name":"a","type":{"type":"record","name":"point","fields":[{"name":"x","type":"int"}]}},
  {"name":"b","type":"point"},
  {"name":"c","type":"n.point"}
]}"#,
    ),
    (
        "recursive.avsc",
        r#"{"type":"record","name":"node","fields":[{"name":"next","type":["null","node"]},{"name":"v","type":"int"}]}"#,
    ),
    ("union.avsc", r#"["null","int","string"]"#),
];

/// A schema and data for the check target, joined by a NUL byte.
const CHECKS: &[(&str, &str, &str)] = &[
    (
        "record_csv",
        r#"{"type":"record","name":"in","fields":[{"name":"id","type":"long"},{"name":"s","type":["null","double"]},{"name":"t","type":"string","default":"d"}]}"#,
        "id,s\n1,2.5\nx,3\n2,\n",
    ),
    (
        "record_json",
        r#"{"type":"record","name":"in","fields":[{"name":"id","type":"int"},{"name":"d","type":{"type":"int","logicalType":"date"}},{"name":"m","type":{"type":"map","values":"long"}}]}"#,
        "{\"id\":1,\"d\":\"2024-01-02\",\"m\":{\"a\":1}}\n{\"id\":2147483648,\"d\":19000,\"m\":[]}\n{\"d\":null}\n",
    ),
    (
        "value_json",
        r#"{"type":"array","items":"double"}"#,
        "[1.5, \"x\", null]\n",
    ),
    (
        "enum_csv",
        r#"{"type":"record","name":"in","fields":[{"name":"k","type":{"type":"enum","name":"K","symbols":["a","b"]}},{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}}]}"#,
        "k,at\na,2024-01-02T00:00:00Z\nc,5\n",
    ),
];

const PYTHON: &[(&str, &str)] = &[
    (
        "tagged.py",
        "import pandas as pd\n\n# modelop.init\ndef begin():\n    pass\n\n# modelop.score\ndef action(record: dict):\n    return record\n\n# modelop.metrics\ndef metrics(df: pd.DataFrame):\n    yield {}\n",
    ),
    (
        "batch.py",
        "# keel.score(batch)\n@decorator(\n    arg=1,\n)\ndef score(records, *args, **kwargs):\n    \"\"\"# modelop.train\n    not a tag\"\"\"\n    return records\n",
    ),
    (
        "schemas.py",
        "# modelop.schema.0: input_schema.avsc\n# modelop.schema.1: output.avsc\n# modelop.score\ndef score(r):\n    return r\n",
    ),
    (
        "errors.py",
        "# modelop.score\n\ndef score(r):\n    pass\n# modelop.score\nclass A:\n    def score(self): pass\n",
    ),
    (
        "strings.py",
        "x = '''\n# modelop.score\n'''\ny = \"\\\n# keel.score\"\n# modelop.training\ndef train(a=(1,\n  2), b: 'pd.DataFrame' = {\"k\": [1, 2]}):\n    ...\n",
    ),
];

const REFS: &[&str] = &[
    "fraud",
    "fraud:3",
    "fraud@champion",
    "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    "  churn.v2_x-1  ",
    "a:0",
    "a:+7",
    "@",
    "a@b:c",
    ":",
];

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = corpus_root().join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

/// Reads a CSV text into one batch, with inferred types.
fn csv_batch(text: &str) -> RecordBatch {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.csv");
    fs::write(&path, text).unwrap();
    let mut batches: Vec<RecordBatch> = keel_data::open(&path, &ReadOptions::default())
        .unwrap()
        .map(|c| c.unwrap().batch)
        .collect();
    batches.remove(0)
}

fn parquet_of(text: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    let mut out = OutputFile::create(&path, DataFormat::Parquet).unwrap();
    out.write(&csv_batch(text)).unwrap();
    out.commit().unwrap();
    fs::read(&path).unwrap()
}

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, options).unwrap();
        } else {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// A tar of `entries`; names are written raw into the header, so that unsafe
/// names (`../x`) can be seeds too.
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        let raw = &mut header.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        if name.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
        } else {
            header.set_size(data.len() as u64);
        }
        header.set_mode(0o644);
        header.set_cksum();
        b.append(&header, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn frame(kind: u8, seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    protocol::write_frame(&mut out, kind, seq, payload).unwrap();
    out
}

fn main() {
    for (name, text) in CSV {
        write("csv_reader", name, text.as_bytes());
    }
    for (name, text) in JSON {
        write("json_reader", name, text.as_bytes());
    }
    for (name, text) in &CSV[..3] {
        let name = name.replace(".csv", ".parquet");
        write("parquet_reader", &name, &parquet_of(text));
    }
    for (name, text) in SCHEMAS {
        write("avro_schema", name, text.as_bytes());
    }
    for (name, schema, data) in CHECKS {
        write("avro_check", name, format!("{schema}\0{data}").as_bytes());
    }
    let files: &[(&str, &[u8])] = &[
        ("model/", b""),
        (
            "model/model.py",
            b"# modelop.score\ndef score(r):\n    return r\n",
        ),
        ("model/weights.bin", &[0u8; 300]),
    ];
    write(
        "archive",
        "stored.zip",
        &zip_of(files, zip::CompressionMethod::Stored),
    );
    write(
        "archive",
        "deflated.zip",
        &zip_of(files, zip::CompressionMethod::Deflated),
    );
    write(
        "archive",
        "escape.zip",
        &zip_of(&[("../escape.txt", b"x")], zip::CompressionMethod::Stored),
    );
    // A tar whose first byte is not 0x1f or 'P', which is how the target tells a tar.
    let tar_files: &[(&str, &[u8])] = &[
        ("model/", b""),
        (
            "model/model.py",
            b"# modelop.score\ndef score(r):\n    return r\n",
        ),
        ("model/data.csv", b"a,b\n1,2\n"),
    ];
    write("archive", "plain.tar", &tar_of(tar_files));
    write("archive", "gzipped.tar.gz", &gzip(&tar_of(tar_files)));
    write("archive", "escape.tar", &tar_of(&[("m/../../x", b"x")]));
    for (name, text) in PYTHON {
        write("smart_tags", name, text.as_bytes());
    }
    for (i, text) in REFS.iter().enumerate() {
        write("model_ref", &format!("ref_{i}"), text.as_bytes());
    }
    let batch = protocol::encode_batch(&csv_batch("x,y,s\n1,2.5,a\n2,,b\n")).unwrap();
    let mut session = frame(
        protocol::READY,
        0,
        br#"{"protocol":1,"python":"3.12.1","pid":42}"#,
    );
    session.extend(frame(protocol::OUTPUT, 1, &batch));
    session.extend(frame(protocol::JSON, 0, br#"{"auc":0.9}"#));
    session.extend(frame(
        protocol::DONE,
        0,
        br#"{"cpu":1.5,"function_cpu":1.0}"#,
    ));
    write("worker_frame", "session", &session);
    write(
        "worker_frame",
        "error",
        &frame(
            protocol::ERROR,
            0,
            br#"{"phase":"score","type":"KeyError","message":"'x'","traceback":null,"row":3}"#,
        ),
    );
    write(
        "worker_frame",
        "empty_output",
        &frame(protocol::OUTPUT, 7, b""),
    );
    let mut truncated = frame(protocol::OUTPUT, 2, &batch);
    truncated.truncate(truncated.len() / 2);
    write("worker_frame", "truncated", &truncated);
    let mut lying = frame(protocol::OUTPUT, 3, b"");
    lying[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
    write("worker_frame", "lying_length", &lying);
}
