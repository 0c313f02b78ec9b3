//! `keel monitor baseline` and `keel monitor check` on files: statistics
//! that agree with scikit-learn, suggested constraints the baseline itself
//! meets, a worse data set that violates them (exit 7, with
//! `constraint_violations.json`), and statistics in SageMaker's own shape.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::Env;

fn python_json(env: &Env, code: &str) -> Value {
    let out = Command::new(&env.py)
        .arg("-c")
        .arg(code)
        .current_dir(env.data())
        .output()
        .expect("cannot run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed no JSON")
}

fn read(env: &Env, rel: &str) -> Value {
    let text = std::fs::read_to_string(env.data().join(rel)).expect(rel);
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn a_baseline_suggests_constraints_that_a_worse_model_violates() {
    let Some(env) = Env::new() else { return };
    let want = python_json(
        &env,
        "import json, numpy as np, pandas as pd\n\
         from sklearn.metrics import accuracy_score, f1_score, roc_auc_score\n\
         r = np.random.default_rng(3)\n\
         n = 4000\n\
         y = r.integers(0, 2, n)\n\
         good = np.clip(0.45 * y + r.random(n) * 0.55, 0, 1)\n\
         bad = np.clip(0.1 * y + r.random(n) * 0.9, 0, 1)\n\
         pd.DataFrame({'label': y, 'score': good}).to_csv('good.csv', index=False)\n\
         pd.DataFrame({'label': y, 'score': bad}).to_csv('bad.csv', index=False)\n\
         print(json.dumps({'acc': accuracy_score(y, good > 0.4), 'f1': f1_score(y, good > 0.4),\n\
           'auc': roc_auc_score(y, good)}))",
    );
    let baseline = |file: &str, out: &str| {
        env.keel(&[
            "monitor",
            "baseline",
            file,
            "--problem-type",
            "BinaryClassification",
            "--probability-attribute",
            "score",
            "--probability-threshold",
            "0.4",
            "--ground-truth-attribute",
            "label",
            "--out",
            out,
            "-o",
            "json",
        ])
        .ok_json()
    };
    let suggested = baseline("good.csv", "base");
    let stats = read(&env, "base/statistics.json");
    let key = "binary_classification_metrics";
    let close = |a: &Value, b: &Value| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
    };
    assert!(
        close(&stats[key]["accuracy"]["value"], &want["acc"]),
        "{stats:#}"
    );
    assert!(close(&stats[key]["f1"]["value"], &want["f1"]), "{stats:#}");
    assert!(
        close(&stats[key]["auc"]["value"], &want["auc"]),
        "{stats:#}"
    );
    assert_eq!(read(&env, "base/constraints.json"), suggested);
    let limits = &suggested["binary_classification_constraints"];
    let acc = &limits["accuracy"];
    assert_eq!(acc["comparison_operator"], "LessThanThreshold");
    let sd = stats[key]["accuracy"]["standard_deviation"]
        .as_f64()
        .unwrap();
    let value = stats[key]["accuracy"]["value"].as_f64().unwrap();
    assert!(sd > 0.0);
    let t = acc["threshold"].as_f64().unwrap();
    assert!(
        (t - (value - 3.0 * sd)).abs() < 1e-6,
        "{t} vs {value} - 3 * {sd}"
    );
    assert_eq!(
        limits["false_positive_rate"]["comparison_operator"],
        "GreaterThanThreshold"
    );
    assert!(limits.get("f1_best_constant_classifier").is_none());

    // The baseline meets its own constraints.
    let ok = env
        .keel(&[
            "monitor",
            "check",
            "base/statistics.json",
            "base/constraints.json",
        ])
        .expect(0);
    assert!(
        ok.stdout.contains("no constraint is violated"),
        "{}",
        ok.stdout
    );

    // A worse model's statistics violate them: exit 7, and the file.
    baseline("bad.csv", "cur");
    let out = env
        .keel(&[
            "monitor",
            "check",
            "cur/statistics.json",
            "base/constraints.json",
            "--out",
            "check",
        ])
        .expect(7);
    assert!(out.stdout.contains("auc"), "{}", out.stdout);
    let v = read(&env, "check/constraint_violations.json");
    let names: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["metric_name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"auc") && names.contains(&"accuracy"),
        "{v:#}"
    );
    let auc = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["metric_name"] == "auc")
        .unwrap();
    assert_eq!(auc["constraint_check_type"], "LessThanThreshold");
    assert!(
        auc["description"]
            .as_str()
            .unwrap()
            .starts_with("Metric auc with "),
        "{auc}"
    );

    // Statistics as SageMaker writes them (no standard deviations here).
    let sagemaker = json!({"version": 0.0, "binary_classification_metrics": {
        "accuracy": {"value": 0.5}, "auc": {"value": 0.99, "standard_deviation": 0.01}
    }});
    std::fs::write(env.data().join("sm.json"), sagemaker.to_string()).unwrap();
    let out = env
        .keel(&[
            "monitor",
            "check",
            "sm.json",
            "base/constraints.json",
            "-o",
            "json",
        ])
        .expect(7);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let checks: Vec<(&str, &str)> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["metric_name"].as_str().unwrap(),
                v["constraint_check_type"].as_str().unwrap(),
            )
        })
        .filter(|(n, _)| *n == "accuracy" || *n == "f1")
        .collect();
    assert_eq!(
        checks,
        [
            ("accuracy", "LessThanThreshold"),
            ("f1", "missing_metric_check")
        ]
    );

    // Mismatched documents are refused, saying why.
    let wrong = env
        .keel(&[
            "monitor",
            "check",
            "base/constraints.json",
            "base/constraints.json",
        ])
        .expect(1);
    assert!(
        wrong.stderr.contains("not a model-quality statistics"),
        "{}",
        wrong.stderr
    );
    let no_pred = env
        .keel(&[
            "monitor",
            "baseline",
            "good.csv",
            "--problem-type",
            "binary",
            "--ground-truth-attribute",
            "label",
            "--out",
            "x",
        ])
        .expect(1);
    assert!(
        no_pred.stderr.contains("--inference-attribute"),
        "{}",
        no_pred.stderr
    );
}
