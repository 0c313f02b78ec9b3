//! ModelOp models as people write them, run unchanged: bare values and numpy
//! scalars from score functions, output schemas that are not one record,
//! monitors with only init and metrics comparing a baseline with a sample,
//! the smart-tag spellings seen in real repositories, and training that
//! replaces files an archive attachment would extract. Every model directory
//! is generated here, from the descriptions in issue 10.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{Env, counts, job_id, json_lines};

/// The feature-reading preamble every model here shares: the fixture's
/// pickled breast-cancer pipeline and its feature names.
const PREAMBLE: &str = "\
import json, pickle
import numpy as np
import pandas as pd

MODEL = None
FEATURES = None


def load():
    global MODEL, FEATURES
    with open('model.pkl', 'rb') as f:
        bundle = pickle.load(f)
    MODEL, FEATURES = bundle['model'], bundle['features']
";

/// The tagged init that loads the pickled model, for models that need no other.
const INIT: &str = "
# modelop.init
def begin():
    load()

";

/// Writes a model directory `name` beside the data directory with `files`
/// (path, contents), and the fixture's pickled model as `model.pkl`.
fn model_dir(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.root().join(name);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    std::fs::copy(env.root().join("fraud/model.pkl"), dir.join("model.pkl")).unwrap();
    dir
}

/// The reference probabilities scikit-learn computed, by id.
fn reference(env: &Env) -> HashMap<i64, f64> {
    let text = std::fs::read_to_string(env.data().join("reference_scores.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let (id, p) = l.split_once(',').unwrap();
            (id.parse().unwrap(), p.parse().unwrap())
        })
        .collect()
}

/// Runs a job in embedded mode and returns it, which must have completed.
fn completed(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["job", "create"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let job = env.keel(&all).ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    job
}

#[test]
fn a_score_function_returning_numpy_ints_scores_unchanged() {
    let Some(env) = Env::new() else { return };
    let src = format!(
        "{PREAMBLE}{INIT}# modelop.score
def action(datum):
    # model.predict gives a numpy array; [0] is a numpy int64.
    return MODEL.predict(pd.DataFrame([datum])[FEATURES])[0]
"
    );
    model_dir(&env, "ints", &[("ints.py", &src)]);
    env.register("ints");
    let job = completed(&env, &["scoring", "ints", "input.csv", "labels.csv"]);
    assert_eq!(counts(&job), (569, 569, 0));
    let out = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("prediction"),
        "one column named prediction"
    );
    let want = reference(&env);
    let got: Vec<i64> = lines.map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), 569);
    for (i, label) in got.iter().enumerate() {
        let p = want[&(i as i64 + 1)];
        assert_eq!(*label, i64::from(p >= 0.5), "record {}", i + 1);
    }
}

#[test]
fn a_float_output_schema_gives_bare_values_in_json_lines() {
    let Some(env) = Env::new() else { return };
    let src = format!(
        "{PREAMBLE}{INIT}# modelop.score
def action(datum):
    yield float(MODEL.predict_proba(pd.DataFrame([datum])[FEATURES])[0, 1])
"
    );
    model_dir(
        &env,
        "floats",
        &[
            ("floats.py", &src),
            ("output_schema.avsc", r#"{"type": "float"}"#),
        ],
    );
    let shown = env
        .keel(&["model", "inspect", "../floats", "-o", "json"])
        .ok_json();
    assert_eq!(shown["output_schema"], "output_schema.avsc", "{shown:#}");
    env.register("floats");
    let job = completed(&env, &["scoring", "floats", "input.csv", "p.jsonl"]);
    assert_eq!(counts(&job), (569, 569, 0));
    let out = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    let want = reference(&env);
    let values: Vec<f64> = out
        .lines()
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("not a bare number: {l}"))
        })
        .collect();
    assert_eq!(values.len(), 569);
    for (i, v) in values.iter().enumerate() {
        assert!((v - want[&(i as i64 + 1)]).abs() < 1e-9, "record {}", i + 1);
    }
    // CSV and Parquet put the values in one column, named `prediction`.
    let job = completed(&env, &["scoring", "floats", "input.csv", "p.csv"]);
    let out = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    assert_eq!(out.lines().next(), Some("prediction"));
}

#[test]
fn an_array_of_records_output_schema_checks_each_yielded_record() {
    let Some(env) = Env::new() else { return };
    // Seed 001's example yields output.to_dict(orient='records'): a list per record.
    let src = format!(
        "{PREAMBLE}{INIT}# modelop.score
def action(x):
    x = pd.DataFrame(x, index=[0])
    p = MODEL.predict_proba(x[FEATURES])[:, 1]
    output = pd.concat([x[['id']], pd.Series((p > 0.5).astype(int), name='prediction')], axis=1)
    if int(x['id'].iloc[0]) == 7:
        output['prediction'] = 'seven'
    yield output.to_dict(orient='records')
"
    );
    let schema = r#"{"type": "array", "items": {"type": "record", "name": "scored", "fields": [
        {"name": "id", "type": "long"}, {"name": "prediction", "type": "int"}]}}"#;
    model_dir(
        &env,
        "lists",
        &[("lists.py", &src), ("output_schema.avsc", schema)],
    );
    env.register("lists");
    let job = completed(&env, &["scoring", "lists", "input.csv", "out.jsonl"]);
    assert_eq!(counts(&job), (569, 568, 1), "{job:#}");
    let id = job_id(&job);
    let rows = json_lines(&env.keel(&["job", "result", &id]).expect(0).stdout);
    assert_eq!(rows.len(), 568);
    assert_eq!(
        rows[0],
        json!({"id": 1, "prediction": rows[0]["prediction"]})
    );
    let rejected = json_lines(
        &env.keel(&["job", "result", &id, "--rejected"])
            .expect(0)
            .stdout,
    );
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["field"], "prediction", "{:#}", rejected[0]);
    assert_eq!(rejected[0]["record"], 7);
}

/// A ModelOp monitor: init(init_param) reads the job document; a metrics
/// function of two DataFrames; no score function.
const MONITOR: &str = r#"import json

JOB = None


#modelop.init
def init(init_param):
    global JOB
    JOB = json.loads(init_param["rawJson"])


#modelop.metrics
def metrics(df_baseline, df_sample):
    schema = JOB["referenceModel"]["storedModel"]["modelMetaData"]["inputSchema"][0]["schemaDefinition"]
    drifting = [f["name"] for f in schema["fields"] if f.get("driftCandidate")]
    shift = {c: float(df_sample[c].mean() - df_baseline[c].mean()) for c in drifting}
    yield {
        "jobType": JOB["jobType"],
        "roles": [a["assetRole"] for a in JOB["inputData"]],
        "files": [a["filename"] for a in JOB["inputData"]],
        "readable": all(open(a["fileUrl"]).readline() for a in JOB["inputData"]),
        "rows": [len(df_baseline), len(df_sample)],
        "mean_shift": shift,
    }
    yield {
        "generic_line_graph": {"title": "Shift", "x_axis_label": "feature", "y_axis_label": "shift",
                               "data": {"series": [[i, v] for i, v in enumerate(shift.values())]}},
        "generic_table": [{"feature": c, "shift": v} for c, v in shift.items()],
    }
"#;

/// The mean of `column` over the CSV file's rows.
fn csv_mean(path: &Path, column: &str) -> f64 {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == column).unwrap();
    let values: Vec<f64> = lines
        .map(|l| l.split(',').nth(at).unwrap().parse().unwrap())
        .collect();
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn a_monitor_compares_a_baseline_with_a_sample() {
    let Some(env) = Env::new() else { return };
    let schema = r#"{"type": "record", "name": "input", "fields": [
        {"name": "id", "type": "long", "role": "identifier"},
        {"name": "mean_radius", "type": "double", "role": "predictor", "driftCandidate": true},
        {"name": "mean_area", "type": "double", "role": "predictor", "driftCandidate": true,
         "dataClass": "numerical"},
        {"name": "mean_texture", "type": "double", "role": "predictor"}]}"#;
    model_dir(
        &env,
        "monitor",
        &[("monitor.py", MONITOR), ("input_schema.avsc", schema)],
    );
    // The first 300 records are the baseline, the rest the sample.
    let text = std::fs::read_to_string(env.data().join("input.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let write = |name: &str, rows: &[&str]| {
        let mut f = std::fs::File::create(env.data().join(name)).unwrap();
        writeln!(f, "{}", lines[0]).unwrap();
        for r in rows {
            writeln!(f, "{r}").unwrap();
        }
    };
    write("baseline.csv", &lines[1..301]);
    write("sample.csv", &lines[301..]);

    let reg = env.register("monitor");
    assert_eq!(reg["version"]["functions"]["score"], Value::Null, "{reg:#}");
    let job = completed(
        &env,
        &[
            "metrics",
            "monitor",
            "sample.csv",
            "--baseline",
            "baseline.csv",
        ],
    );
    let doc = &job["result"]["metrics"];
    assert_eq!(doc["jobType"], "MODEL_BATCH_TEST_JOB", "{doc:#}");
    assert_eq!(doc["roles"], json!(["BASELINE_DATA", "COMPARATOR_DATA"]));
    assert_eq!(doc["files"], json!(["baseline.csv", "sample.csv"]));
    assert_eq!(doc["readable"], true);
    assert_eq!(doc["rows"], json!([300, 269]));
    for c in ["mean_radius", "mean_area"] {
        let want = csv_mean(&env.data().join("sample.csv"), c)
            - csv_mean(&env.data().join("baseline.csv"), c);
        let got = doc["mean_shift"][c].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{c}: {got} vs {want}"
        );
    }
    // ModelOp's chart documents come back as the model wrote them.
    assert_eq!(doc["generic_line_graph"]["title"], "Shift");
    assert_eq!(doc["generic_line_graph"]["data"]["series"][1][0], 1);
    assert_eq!(doc["generic_table"][0]["feature"], "mean_radius");

    // Without a score function the monitor cannot score, and says why.
    let out = env
        .keel(&["job", "create", "scoring", "monitor", "input.csv", "o.csv"])
        .expect(1);
    assert!(
        out.stderr
            .contains("has no score function (it has init and metrics)"),
        "{}",
        out.stderr
    );
    // A metrics function of two data sets needs a baseline.
    let out = env
        .keel(&["job", "create", "metrics", "monitor", "sample.csv"])
        .expect(1);
    assert!(out.stderr.contains("--baseline"), "{}", out.stderr);
}

#[test]
fn a_baseline_for_a_one_input_metrics_function_is_refused() {
    let Some(env) = Env::new() else { return };
    env.register("fraud");
    let out = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "fraud",
            "labeled.csv",
            "--baseline",
            "labeled.csv",
        ])
        .expect(1);
    assert!(
        out.stderr.contains("takes one data set") && out.stderr.contains("--baseline"),
        "{}",
        out.stderr
    );
}

#[test]
fn smart_tags_as_spelled_in_the_wild_and_schema_tags() {
    let Some(env) = Env::new() else { return };
    let src = format!(
        "{PREAMBLE}
# modelop.schema.0: credit_in.avsc
# modelop.schema.1: credit_out.avsc


#modelop.init
def begin():
    load()


#modelop.score
def action(datum):
    p = float(MODEL.predict_proba(pd.DataFrame([datum])[FEATURES])[0, 1])
    yield {{'id': datum['id'], 'probability': p}}


# modelop.training
def train(df):
    import os
    os.makedirs('outputDir', exist_ok=True)
    with open('outputDir/trained.txt', 'w') as f:
        f.write(str(len(df)))
"
    );
    let features = ["mean_radius", "mean_texture", "mean_perimeter", "mean_area"];
    let fields: Vec<Value> = std::iter::once(json!({"name": "id", "type": "long"}))
        .chain(
            features
                .iter()
                .map(|f| json!({"name": f, "type": "double"})),
        )
        .collect();
    let input = json!({"type": "record", "name": "credit", "fields": fields}).to_string();
    let output = r#"{"type": "record", "name": "scored", "fields": [
        {"name": "id", "type": "long"}, {"name": "probability", "type": "double"}]}"#;
    model_dir(
        &env,
        "tagged",
        &[
            ("tagged.py", &src),
            ("credit_in.avsc", &input),
            ("credit_out.avsc", output),
        ],
    );
    let shown = env
        .keel(&["model", "inspect", "../tagged", "-o", "json"])
        .ok_json();
    assert_eq!(shown["input_schema"], "credit_in.avsc", "{shown:#}");
    assert_eq!(shown["output_schema"], "credit_out.avsc");
    for f in ["init", "score", "train"] {
        assert!(shown["functions"][f].is_object(), "{f}: {shown:#}");
    }
    env.register("tagged");
    // The tagged input schema rejects the two bad records of bad_schema.csv.
    let job = completed(&env, &["scoring", "tagged", "bad_schema.csv", "o.csv"]);
    assert_eq!(counts(&job), (10, 8, 2), "{job:#}");
    let job = completed(&env, &["training", "tagged", "labeled.csv"]);
    assert_eq!(job["result"]["produced_version"], 2, "{job:#}");
}

/// A model whose version 1 has meta.zip (meta/threshold.json and
/// meta/notes.txt) and whose train writes outputDir/meta/threshold.json.
const THRESHOLD_MODEL: &str = "\
import json, os

T = None


# modelop.init
def begin():
    global T
    T = json.load(open('meta/threshold.json'))['t']
    assert open('meta/notes.txt').read() == 'kept'


# modelop.score
def action(r):
    return {'id': r['id'], 't': T}


# modelop.train
def train(df):
    os.makedirs('outputDir/meta', exist_ok=True)
    json.dump({'t': 0.9}, open('outputDir/meta/threshold.json', 'w'))
";

/// A zip holding `entries` (name, contents).
fn zip_of(env: &Env, path: &Path, entries: &[(&str, &str)]) {
    let code = format!(
        "import zipfile, sys\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n{}",
        entries
            .iter()
            .map(|(n, t)| format!("    z.writestr({n:?}, {t:?})\n"))
            .collect::<String>()
    );
    let ok = std::process::Command::new(&env.py)
        .args(["-c", &code, path.to_str().unwrap()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "cannot write {}", path.display());
}

#[test]
fn training_replaces_what_an_archive_would_extract_and_the_version_runs() {
    let Some(env) = Env::new() else { return };
    let dir = model_dir(&env, "thresh", &[("thresh.py", THRESHOLD_MODEL)]);
    zip_of(
        &env,
        &dir.join("meta.zip"),
        &[
            ("meta/threshold.json", r#"{"t": 0.5}"#),
            ("meta/notes.txt", "kept"),
        ],
    );
    // A second archive none of whose files training replaces stays as it is.
    zip_of(&env, &dir.join("extra.zip"), &[("extra/readme.txt", "hi")]);
    env.register("thresh");
    let job = completed(&env, &["scoring", "thresh", "ids.csv", "v1.jsonl"]);
    let rows = json_lines(&env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout);
    assert_eq!(rows[0]["t"], 0.5);

    let job = completed(&env, &["training", "thresh", "ids.csv"]);
    assert_eq!(job["result"]["produced_version"], 2, "{job:#}");
    let v2 = env
        .keel(&["model", "show", "thresh:2", "-o", "json"])
        .ok_json();
    let files: Vec<&str> = v2["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "extra.zip",
            "meta/notes.txt",
            "meta/threshold.json",
            "model.pkl",
            "thresh.py"
        ],
        "{v2:#}"
    );
    let job = completed(&env, &["scoring", "thresh:2", "ids.csv", "v2.jsonl"]);
    let rows = json_lines(&env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout);
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r["t"] == 0.9), "{rows:?}");

    // Training again produces the same files: no new version.
    let job = completed(&env, &["training", "thresh:1", "ids.csv"]);
    assert_eq!(job["result"]["produced_version"], 2, "{job:#}");
}
