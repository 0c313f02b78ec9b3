//! End-to-end tests of `inspect` and `materialize` on real model directories built in temp dirs.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use keel_modeldef::{Error, FileRole, inspect, materialize};
use keel_types::Code;

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

fn write(dir: &Path, rel: &str, contents: &[u8]) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn small_zip(path: &Path, entry: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = zip::ZipWriter::new(fs::File::create(path).unwrap());
    w.start_file(entry, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"lookup,table\n").unwrap();
    w.finish().unwrap();
}

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
fn manifest_wins_over_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write(
        &dir,
        "model.py",
        b"# modelop.score\ndef tagged(r):\n    return r\n\ndef batch_score(df, extra=1):\n    return df\n\ndef setup():\n    pass\n",
    );
    write(
        &dir,
        "old.py",
        b"# modelop.score\ndef score(r):\n    return r\n",
    );
    write(&dir, "schemas/in.avsc", INPUT_SCHEMA.as_bytes());
    write(&dir, "reqs/base.txt", b"numpy\n");
    write(
        &dir,
        "keel.toml",
        br#"name = "fraud"
source = "model.py"

[functions]
init = "setup"
score = "batch_score"
score_batch = true

[schemas]
input = "schemas/in.avsc"

[platform]
python = "3.11"
requirements = "reqs/base.txt"
"#,
    );
    let def = inspect(&dir, &[]).unwrap();
    assert_eq!(def.name, "fraud");
    assert_eq!(def.source, "model.py");
    let score = def.functions.score.unwrap();
    assert_eq!(
        (score.name.as_str(), score.line, score.batch),
        ("batch_score", 5, true)
    );
    assert_eq!(score.params, vec!["df", "extra"]);
    assert_eq!(def.functions.init.unwrap().name, "setup");
    assert_eq!(def.input_schema.as_deref(), Some("schemas/in.avsc"));
    assert_eq!(def.output_schema, None);
    assert_eq!(def.platform.python_version.as_deref(), Some("3.11"));
    assert_eq!(def.platform.requirements, vec!["numpy"]);
    let role = |p: &str| def.files.iter().find(|f| f.path == p).unwrap().role;
    assert_eq!(role("keel.toml"), FileRole::Manifest);
    assert_eq!(role("reqs/base.txt"), FileRole::Requirements);
    assert_eq!(role("schemas/in.avsc"), FileRole::Schema);
    assert_eq!(role("old.py"), FileRole::Source);
}

#[test]
fn manifest_errors_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write(
        &dir,
        "model.py",
        b"# modelop.score\ndef score(r):\n    return r\n",
    );
    write(
        &dir,
        "keel.toml",
        b"[functions]\nscore = \"score\"\nmetrics = \"missing\"\n",
    );
    let err = inspect(&dir, &[]).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.code(), Code::InvalidModel);
    assert!(msg.contains("keel.toml: line 3"), "{msg}");
    assert!(msg.contains("'def missing(...):'"), "{msg}");

    write(&dir, "keel.toml", b"[schemas]\ninput = \"nope.avsc\"\n");
    let msg = inspect(&dir, &[]).unwrap_err().to_string();
    assert!(msg.contains("line 2") && msg.contains("nope.avsc"), "{msg}");

    write(&dir, "keel.toml", b"[platform]\npyton = \"3.11\"\n");
    let msg = inspect(&dir, &[]).unwrap_err().to_string();
    assert!(msg.contains("pyton") && msg.contains("line 2"), "{msg}");
}

#[test]
fn missing_or_ambiguous_score_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write(&dir, "model.py", b"def score(r):\n    return r\n");
    let err = inspect(&dir, &[]).unwrap_err();
    assert_eq!(err.code(), Code::InvalidModel);
    let msg = err.to_string();
    assert!(msg.contains("No score function"), "{msg}");
    assert!(
        msg.contains("# modelop.score\n    def score(record):"),
        "{msg}"
    );

    write(
        &dir,
        "model.py",
        b"# modelop.score\ndef score(r):\n    return r\n",
    );
    write(
        &dir,
        "other.py",
        b"\n# keel.score\ndef s(r):\n    return r\n",
    );
    let msg = inspect(&dir, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("model.py (line 1), other.py (line 2)"),
        "{msg}"
    );
    assert!(msg.contains("source = \"model.py\""), "{msg}");

    // Choosing the source in keel.toml resolves it.
    write(&dir, "keel.toml", b"source = \"other.py\"\n");
    let def = inspect(&dir, &[]).unwrap();
    assert_eq!(def.functions.score.unwrap().name, "s");

    // A tag in a helper module is reported, not silently ignored.
    fs::remove_file(dir.join("keel.toml")).unwrap();
    write(
        &dir,
        "other.py",
        b"# modelop.metrics\ndef m(df):\n    return {}\n",
    );
    let msg = inspect(&dir, &[]).unwrap_err().to_string();
    assert!(msg.starts_with("other.py:1: "), "{msg}");
    assert!(msg.contains("helper module"), "{msg}");
}

#[test]
#[cfg(unix)]
fn symlinks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write(
        &dir,
        "model.py",
        b"# modelop.score\ndef score(r):\n    return r\n",
    );
    write(tmp.path(), "secret.txt", b"secret");
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), dir.join("link.txt")).unwrap();
    let err = inspect(&dir, &[]).unwrap_err();
    assert_eq!(err.code(), Code::InvalidModel);
    assert!(err.to_string().contains("link.txt"), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[test]
fn invalid_schema_fails_with_the_file_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write(
        &dir,
        "model.py",
        b"# modelop.score\ndef score(r):\n    return r\n",
    );
    write(
        &dir,
        "output_schema.avsc",
        b"{\"type\": \"record\", \"fields\": ",
    );
    let err = inspect(&dir, &[]).unwrap_err();
    assert!(matches!(err, Error::Schema { .. }), "{err:?}");
    assert_eq!(err.code(), Code::InvalidSchema);
    assert!(err.to_string().contains("output_schema.avsc"), "{err}");
}

#[test]
fn unsafe_archive_attachment_fails_registration() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write(
        &dir,
        "model.py",
        b"# modelop.score\ndef score(r):\n    return r\n",
    );
    small_zip(&dir.join("assets/bad.zip"), "../../escape.txt");
    let err = inspect(&dir, &[]).unwrap_err();
    assert_eq!(err.code(), Code::UnsafeArchive);
    let msg = err.to_string();
    assert!(msg.contains("assets/bad.zip"), "{msg}");
    assert!(msg.contains("'../../escape.txt'"), "{msg}");
}

#[test]
fn extra_attachments_join_the_top_level() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write(
        &dir,
        "model.py",
        b"# modelop.score\ndef score(r):\n    return r\n",
    );
    write(tmp.path(), "elsewhere/weights.bin", b"0123");
    let extra = tmp.path().join("elsewhere/weights.bin");
    let def = inspect(&dir, std::slice::from_ref(&extra)).unwrap();
    let entry = def.files.iter().find(|f| f.path == "weights.bin").unwrap();
    assert_eq!((entry.size, entry.role), (4, FileRole::Attachment));
    assert_eq!(
        keel_modeldef::file_origin(&dir, std::slice::from_ref(&extra), "weights.bin"),
        extra
    );

    write(&dir, "weights.bin", b"clash");
    let msg = inspect(&dir, &[extra]).unwrap_err().to_string();
    assert!(msg.contains("already has a file of that name"), "{msg}");
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

/// The files of the complete example in docs/model-authoring.md, each marked
/// by a `<!-- file: PATH -->` line right above its code fence.
fn doc_example_files() -> Vec<(String, String)> {
    let doc = keel_testkit::workspace_root().join("docs/model-authoring.md");
    let text = fs::read_to_string(doc).unwrap();
    let mut files = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- file: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        assert!(
            lines.next().unwrap().starts_with("```"),
            "fence after {path}"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        files.push((path.to_string(), body.join("\n") + "\n"));
    }
    files
}

fn write_doc_example(root: &Path) {
    let files = doc_example_files();
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "fraud/fraud.py",
            "fraud/input_schema.avsc",
            "fraud/requirements.txt",
            "prepare.py"
        ]
    );
    for (path, body) in files {
        write(root, &path, body.as_bytes());
    }
}

#[test]
fn the_documented_example_inspects_as_described() {
    let tmp = tempfile::tempdir().unwrap();
    write_doc_example(tmp.path());
    write(tmp.path(), "fraud/model.pkl", b"placeholder");
    let def = inspect(&tmp.path().join("fraud"), &[]).unwrap();
    assert_eq!(def.name, "fraud");
    assert_eq!(def.module, "fraud");
    let f = &def.functions;
    assert_eq!(f.init.as_ref().unwrap().name, "begin");
    let score = f.score.as_ref().unwrap();
    assert_eq!((score.name.as_str(), score.batch), ("action", false));
    assert_eq!(f.metrics.as_ref().unwrap().name, "metrics");
    assert_eq!(f.train.as_ref().unwrap().name, "train");
    assert_eq!(def.input_schema.as_deref(), Some("input_schema.avsc"));
    assert_eq!(
        def.platform.requirements,
        vec!["pandas>=2.0", "pyarrow>=14", "scikit-learn>=1.3"]
    );
}

#[test]
fn the_documented_example_runs_in_python() {
    let Some(py) = keel_testkit::python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    write_doc_example(tmp.path());
    let run = |cwd: &Path, args: &[&str]| {
        let out = std::process::Command::new(&py)
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(tmp.path(), &["prepare.py"]);
    // Calls the functions as the worker would, from the model directory.
    let driver = r#"
import json, shutil
import pandas as pd
import fraud
labeled = pd.read_parquet("../labeled.parquet")
inputs = pd.read_csv("../input.csv")
fraud.train(pd.read_json("../labeled.jsonl", lines=True))
shutil.copy("outputDir/model.pkl", "model.pkl")
fraud.begin()
one = list(fraud.action(inputs.to_dict("records")[0]))
batch = fraud.action_batch(inputs)
m = fraud.metrics(labeled)
print(json.dumps({"one": one, "rows": len(batch), "cols": list(batch.columns), "metrics": m}))
"#;
    let out = run(&tmp.path().join("fraud"), &["-c", driver]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["one"].as_array().unwrap().len(), 1);
    assert_eq!(v["one"][0]["id"], 0);
    assert_eq!(v["rows"], 569);
    assert_eq!(
        v["cols"],
        serde_json::json!(["id", "probability", "prediction"])
    );
    assert!(v["metrics"]["auc"].as_f64().unwrap() > 0.9, "{v}");
    assert!(v["metrics"]["f1"].as_f64().unwrap() > 0.85, "{v}");
    let cm = v["metrics"]["confusion_matrix"].as_array().unwrap();
    let total: u64 = cm
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(total, 569);
}
