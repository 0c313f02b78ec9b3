//! A realistic model directory (a primary module and a helper, schemas,
//! requirements, attachments in nested directories, an archive and files to
//! skip): what `inspect` finds in it, its content hash, and `materialize`.

use std::fs;
use std::path::{Path, PathBuf};

use keel_modeldef::{FileRole, inspect, materialize};

use crate::{small_zip, write};

const SOURCE: &str = r#"import pickle
import pandas as pd
from helpers import clean

MODEL = None

# modelop.init
def begin():
    global MODEL
    with open("model.pkl", "rb") as f:
        MODEL = pickle.load(f)

# modelop.score
def action(record):
    yield {"id": record["id"], "score": 0.5}

# modelop.metrics
def metrics(df: pd.DataFrame):
    return {"auc": 1.0}

# modelop.train
def train(df):
    pass
"#;

const INPUT_SCHEMA: &str = r#"{"type": "record", "name": "input", "fields": [
  {"name": "id", "type": "int"}, {"name": "amount", "type": "double"}]}"#;

const OUTPUT_SCHEMA: &str = r#"{"type": "record", "name": "output", "fields": [
  {"name": "id", "type": "int"}, {"name": "score", "type": "double"}]}"#;

/// A realistic model: primary + helper module + schemas + requirements + attachments + a nested dir.
fn realistic(root: &Path) -> PathBuf {
    let dir = root.join("fraud model");
    write(&dir, "fraud.py", SOURCE.as_bytes());
    write(&dir, "helpers.py", b"def clean(x):\n    return x\n");
    write(&dir, "input_schema.avsc", INPUT_SCHEMA.as_bytes());
    write(&dir, "output_schema.avsc", OUTPUT_SCHEMA.as_bytes());
    write(&dir, "other.avsc", INPUT_SCHEMA.as_bytes());
    write(
        &dir,
        "requirements.txt",
        b"# runtime\nscikit-learn==1.5.2\npandas>=2  # frames\n",
    );
    write(&dir, "model.pkl", b"\x80\x04not really a pickle");
    write(&dir, "data/lookup/codes.csv", b"code,name\n1,a\n");
    write(&dir, "__pycache__/fraud.cpython-311.pyc", b"junk");
    write(&dir, "helpers.pyc", b"junk");
    write(&dir, ".DS_Store", b"junk");
    write(&dir, ".git/HEAD", b"ref: refs/heads/main\n");
    write(&dir, ".keel/cache", b"junk");
    small_zip(&dir.join("data/tables.zip"), "tables/t.csv");
    dir
}

#[test]
fn inspects_a_realistic_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = realistic(tmp.path());
    let def = inspect(&dir, &[]).unwrap();

    assert_eq!(def.name, "fraud_model");
    assert_eq!(def.source, "fraud.py");
    assert_eq!(def.module, "fraud");
    let score = def.functions.score.as_ref().unwrap();
    assert_eq!(score.name, "action");
    assert_eq!(score.file, "fraud.py");
    assert_eq!(score.line, 14);
    assert!(!score.batch);
    assert_eq!(score.params, vec!["record"]);
    assert_eq!(def.functions.init.as_ref().unwrap().name, "begin");
    assert_eq!(def.functions.metrics.as_ref().unwrap().params, vec!["df"]);
    assert_eq!(def.functions.train.as_ref().unwrap().line, 22);
    assert_eq!(def.input_schema.as_deref(), Some("input_schema.avsc"));
    assert_eq!(def.output_schema.as_deref(), Some("output_schema.avsc"));
    assert_eq!(
        def.platform.requirements,
        vec!["scikit-learn==1.5.2", "pandas>=2"]
    );
    assert_eq!(
        def.platform.requirements_file.as_deref(),
        Some("requirements.txt")
    );
    assert_eq!(def.platform.python_version, None);

    let listed: Vec<(&str, FileRole)> = def
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.role))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("data/lookup/codes.csv", FileRole::Attachment),
            ("data/tables.zip", FileRole::Attachment),
            ("fraud.py", FileRole::Source),
            ("helpers.py", FileRole::Source),
            ("input_schema.avsc", FileRole::Schema),
            ("model.pkl", FileRole::Attachment),
            ("other.avsc", FileRole::Attachment),
            ("output_schema.avsc", FileRole::Schema),
            ("requirements.txt", FileRole::Requirements),
        ]
    );
    let helpers = def.files.iter().find(|f| f.path == "helpers.py").unwrap();
    assert_eq!(helpers.size, 27);
    assert_eq!(helpers.sha256, sha256_hex(b"def clean(x):\n    return x\n"));

    // The definition round-trips through JSON with snake_case roles.
    let json = serde_json::to_string(&def).unwrap();
    assert!(json.contains("\"role\":\"requirements\""), "{json}");
    let back: keel_modeldef::ModelDef = serde_json::from_str(&json).unwrap();
    assert_eq!(back, def);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn content_hash_is_stable_and_sensitive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = realistic(tmp.path());
    let first = inspect(&dir, &[]).unwrap();
    let again = inspect(&dir, &[]).unwrap();
    assert_eq!(first.content_hash, again.content_hash);
    assert_eq!(first, again);

    // Skipped files do not count.
    write(&dir, "__pycache__/other.pyc", b"more junk");
    assert_eq!(inspect(&dir, &[]).unwrap().content_hash, first.content_hash);

    // One byte changed in a nested attachment changes the hash.
    write(&dir, "data/lookup/codes.csv", b"code,name\n1,b\n");
    let changed = inspect(&dir, &[]).unwrap();
    assert_ne!(changed.content_hash, first.content_hash);
    write(&dir, "data/lookup/codes.csv", b"code,name\n1,a\n");
    assert_eq!(inspect(&dir, &[]).unwrap().content_hash, first.content_hash);

    // A new name (from keel.toml) changes it too.
    write(&dir, "keel.toml", b"name = \"fraud\"\n");
    let named = inspect(&dir, &[]).unwrap();
    assert_eq!(named.name, "fraud");
    assert_ne!(named.content_hash, first.content_hash);
}

#[test]
fn materialize_copies_checks_and_extracts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = realistic(tmp.path());
    let def = inspect(&dir, &[]).unwrap();
    let work = tmp.path().join("work");
    materialize(&def, &dir, &work).unwrap();
    assert_eq!(
        fs::read(work.join("data/lookup/codes.csv")).unwrap(),
        b"code,name\n1,a\n"
    );
    // The archive in data/ is extracted beside itself.
    assert_eq!(
        fs::read(work.join("data/tables/t.csv")).unwrap(),
        b"lookup,table\n"
    );
    assert!(!work.join("__pycache__").exists());

    // A stored file that no longer matches its hash is refused.
    let work2 = tmp.path().join("work2");
    write(&dir, "model.pkl", b"tampered");
    let err = materialize(&def, &dir, &work2).unwrap_err();
    assert!(err.to_string().contains("model.pkl"), "{err}");
    assert!(!work2.join("model.pkl").exists());
}
