//! MLflow models saved by a real MLflow, registered without any Keel file
//! and scored through Keel's adapter: the predictions and probabilities must
//! be what each model itself gives, and the probability column feeds the
//! built-in metrics.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Env, job_id, json_lines};

/// Saves the test's MLflow models (keel-modeldef's fixture generator) under
/// the test's directory and writes each case's input as CSV, with a `label`
/// column (a fixed pattern over the ids) for the metrics test.
fn saved_models(env: &Env) -> PathBuf {
    let out = env.root().join("mlflow");
    let script = keel_testkit::workspace_root()
        .join("crates/keel-modeldef/tests/mlflow/make_mlflow_models.py");
    let ok = Command::new(&env.py)
        .arg(&script)
        .arg(&out)
        .status()
        .expect("cannot run the MLflow fixture generator")
        .success();
    assert!(ok, "the MLflow fixture generator failed");
    let to_csv = "import json, sys, pandas as pd\n\
        d = json.load(open(sys.argv[1]))\n\
        df = pd.DataFrame({c['name']: c['values'] for c in d['columns']})\n\
        r = json.load(open(sys.argv[2]))\n\
        df['label'] = [int((i * 7) % 5 < 2) for i in df['id']]\n\
        df.to_csv(sys.argv[3], index=False)\n";
    for case in CASES {
        let ok = Command::new(&env.py)
            .args(["-c", to_csv])
            .arg(out.join(format!("data/{case}.json")))
            .arg(out.join(format!("reference/{case}.json")))
            .arg(env.data().join(format!("{case}.csv")))
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot write the input of {case}");
    }
    out
}

const CASES: [&str; 4] = [
    "binary_skops",
    "binary_cloudpickle",
    "regressor",
    "pyfunc_custom",
];

fn reference(dir: &Path, case: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("reference/{case}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn mlflow_models_register_as_saved_and_score_as_the_model_does() {
    let Some(env) = Env::new() else { return };
    let dir = saved_models(&env);
    let shown = env
        .keel(&["model", "inspect", "../mlflow/binary_skops"])
        .expect(0)
        .stdout;
    assert!(
        shown.contains("MLflow model, sklearn flavor (skops), signature with 8 inputs"),
        "{shown}"
    );
    for case in CASES {
        let reg = env
            .keel(&[
                "model",
                "register",
                &format!("../mlflow/{case}"),
                "-o",
                "json",
            ])
            .ok_json();
        let version = &reg["version"];
        assert_eq!(version["source"], "MLmodel", "{case}: {version:#}");
        assert!(
            version["adapter"]
                .as_str()
                .unwrap()
                .starts_with("MLflow model")
        );
        let job = env
            .keel(&[
                "job",
                "create",
                "scoring",
                case,
                &format!("{case}.csv"),
                "out.jsonl",
                "-o",
                "json",
            ])
            .ok_json();
        assert_eq!(job["status"], "COMPLETED", "{case}: {job:#}");
        let rows = json_lines(&env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout);
        // Each output column the model gives, row by row: the output
        // columns come from the signature (`progression`, `score`) or are
        // Keel's `prediction` and `probability`.
        let want = reference(&dir, case);
        let columns = want["columns"].as_array().unwrap();
        assert_eq!(
            // Input columns that are not features (`id`, `label`) pass through.
            rows[0]
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "label")
                .collect::<Vec<_>>(),
            columns
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect::<Vec<_>>(),
            "{case}"
        );
        for column in columns
            .iter()
            .filter_map(Value::as_str)
            .filter(|c| *c != "id")
        {
            let values = want[column].as_array().unwrap();
            assert_eq!(rows.len(), values.len(), "{case}");
            for (i, (row, v)) in rows.iter().zip(values).enumerate() {
                let got = &row[column];
                let same = match (got.as_f64(), v.as_f64()) {
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    _ => got == v,
                };
                assert!(same, "{case} row {i} {column}: {got} vs {v}");
            }
        }
    }

    // The probability column makes Keel's built-in metrics work; scikit-learn
    // on the model's own probabilities gives the same AUC.
    let job = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "binary_skops",
            "binary_skops.csv",
            "--label",
            "label",
            "--probability",
            "probability",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let auc = job["result"]["metrics"]["binary_classification_metrics"]["auc"]["value"]
        .as_f64()
        .unwrap();
    let out = Command::new(&env.py)
        .args([
            "-c",
            "import json, sys, pandas as pd\nfrom sklearn.metrics import roc_auc_score\n\
             r = json.load(open(sys.argv[1]))\n\
             y = pd.read_csv(sys.argv[2])['label']\n\
             print(roc_auc_score(y, r['probability']))",
        ])
        .arg(dir.join("reference/binary_skops.json"))
        .arg(env.data().join("binary_skops.csv"))
        .output()
        .unwrap();
    let want: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!((auc - want).abs() < 1e-9, "{auc} vs {want}");
}
