//! Model quality: built-in metrics jobs checked against scikit-learn,
//! `keel metrics` and `keel drift` over files checked against scipy, and
//! champion/challenger comparisons.

use std::process::Command;

use serde_json::Value;

use crate::support::{Env, job_id};

/// The value of a scalar in a metrics document.
fn metric(doc: &Value, key: &str, name: &str) -> f64 {
    doc[key][name]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}.{name} in {doc:#}"))
}

/// Runs a Python snippet in the test environment and parses its stdout as JSON.
pub(crate) fn python_json(env: &Env, code: &str) -> Value {
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

#[test]
fn builtin_metrics_take_roles_from_schemas_or_flags() {
    let Some(env) = Env::new() else { return };
    // fraud_roles marks the label and the score in its schemas: no flags needed.
    env.register("fraud_roles");
    let job = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "fraud_roles",
            "labeled.parquet",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let doc = &job["result"]["metrics"];
    assert_eq!(doc["problem_type"], "BinaryClassification", "{doc:#}");
    assert_eq!(doc["settings"]["label"], "flagged");
    assert_eq!(doc["settings"]["probability"], "probability");
    assert_eq!(doc["dataset"]["evaluated_count"], 569);
    let auc = metric(doc, "binary_classification_metrics", "auc");
    // scikit-learn on the same model's probabilities.
    let want = python_json(
        &env,
        "import json, pandas as pd\n\
         from sklearn.metrics import roc_auc_score, f1_score\n\
         y = pd.read_csv('labeled.csv')['flagged']\n\
         p = pd.read_csv('reference_scores.csv')['probability']\n\
         print(json.dumps({'auc': roc_auc_score(y, p), 'f1': f1_score(y, p > 0.5)}))",
    );
    assert!(
        (auc - want["auc"].as_f64().unwrap_or(0.0)).abs() < 1e-9,
        "{auc} vs {want}"
    );
    let f1 = metric(doc, "binary_classification_metrics", "f1");
    assert!(
        (f1 - want["f1"].as_f64().unwrap_or(0.0)).abs() < 1e-9,
        "{f1} vs {want}"
    );
    let std = doc["binary_classification_metrics"]["auc"]["standard_deviation"].as_f64();
    assert!(std.is_some_and(|s| s > 0.0 && s < 0.05), "{doc:#}");
    assert_eq!(
        doc["performance"][0]["test_id"],
        "performance_classification_metrics"
    );

    // The document is the job's result file too.
    let printed = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    let file: Value = serde_json::from_str(&printed).expect("metrics.json is JSON");
    assert_eq!(&file, doc);

    // With flags, a model that has its own metrics function runs both; its
    // output sits beside Keel's, and the two AUCs agree.
    env.register("fraud");
    let both = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "fraud:1",
            "labeled.csv",
            "--label",
            "flagged",
            "--probability",
            "probability",
            "--subsamples",
            "0",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(both["status"], "COMPLETED", "{both:#}");
    let d = &both["result"]["metrics"];
    let own = d["model_metrics"]["auc"]
        .as_f64()
        .expect("the model's own auc");
    let builtin = metric(d, "binary_classification_metrics", "auc");
    assert!((own - builtin).abs() < 1e-12, "{own} vs {builtin}");
    // --subsamples 0 computes no standard deviations; more than 8 is refused.
    assert_eq!(d["settings"]["uncertainty"]["subsamples"], 0, "{d:#}");
    assert_eq!(
        d["binary_classification_metrics"]["auc"]["standard_deviation"],
        "NaN"
    );
    let many = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "fraud:1",
            "labeled.csv",
            "--label",
            "flagged",
            "--subsamples",
            "9",
        ])
        .expect(1);
    assert!(many.stderr.contains("at most 8"), "{}", many.stderr);

    // A model without a metrics function and without roles: a clear refusal.
    env.register("fraud_batch");
    let refused = env
        .keel(&["job", "create", "metrics", "fraud_batch", "labeled.parquet"])
        .expect(1);
    assert!(refused.stderr.contains("--label"), "{}", refused.stderr);
    // A label column the data does not have fails the job, naming the columns.
    let failed = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "fraud_batch",
            "labeled.parquet",
            "--label",
            "nope",
            "-o",
            "json",
        ])
        .expect(6)
        .json();
    let msg = failed["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("nope") && msg.contains("flagged"),
        "{failed:#}"
    );
}

#[test]
fn metrics_and_drift_over_files_match_scipy() {
    let Some(env) = Env::new() else { return };
    let want = python_json(
        &env,
        "import json, numpy as np, pandas as pd\n\
         from sklearn.metrics import roc_auc_score, accuracy_score, mean_absolute_error\n\
         from scipy.stats import ks_2samp, wasserstein_distance\n\
         r = np.random.default_rng(7)\n\
         n = 3000\n\
         y = r.integers(0, 2, n)\n\
         p = np.clip(0.3 * y + r.random(n) * 0.7, 0, 1)\n\
         g = r.choice(['a', 'b', 'c'], n, p=[0.5, 0.3, 0.2])\n\
         p[5] = np.nan\n\
         pd.DataFrame({'y': y, 'p': p, 'g': g}).to_parquet('preds.parquet')\n\
         keep = ~np.isnan(p)\n\
         k = pd.DataFrame({'y': y[keep], 'p': p[keep], 'g': g[keep]})\n\
         pr = (k.p > 0.5).astype(int)\n\
         rate = pr.groupby(k.g).mean()\n\
         b = r.normal(0, 1, 2000); c = r.normal(0.2, 1.1, 2500)\n\
         pd.DataFrame({'x': b}).to_parquet('base.parquet')\n\
         pd.DataFrame({'x': c}).to_parquet('cur.parquet')\n\
         ks = ks_2samp(b, c)\n\
         yy = r.normal(size=500); yh = yy + r.normal(scale=0.3, size=500)\n\
         pd.DataFrame({'y': yy, 'yhat': yh}).to_csv('reg.csv', index=False)\n\
         print(json.dumps({'auc': roc_auc_score(k.y, k.p), 'acc': accuracy_score(k.y, pr),\n\
           'spd_b': rate['b'] - rate['a'], 'ks': ks.statistic, 'ks_p': ks.pvalue,\n\
           'w': wasserstein_distance(b, c), 'mae': mean_absolute_error(yy, yh)}))",
    );
    let w = |k: &str| want[k].as_f64().unwrap_or(f64::NAN);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-12);

    let doc = env
        .keel(&[
            "metrics",
            "preds.parquet",
            "--label",
            "y",
            "--probability",
            "p",
            "--protected",
            "g",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(doc["dataset"]["dropped_by_column"]["p"], 1, "{doc:#}");
    let key = "binary_classification_metrics";
    assert!(close(metric(&doc, key, "auc"), w("auc")), "{doc:#}");
    assert!(close(metric(&doc, key, "accuracy"), w("acc")), "{doc:#}");
    let fair = &doc["fairness"]["g"];
    assert_eq!(fair["reference_group"], "a", "{fair:#}");
    let b = fair["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["group"] == "b"))
        .expect("group b");
    let spd = b["statistical_parity_difference"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!(close(spd, w("spd_b")), "{spd} vs {}", w("spd_b"));

    let reg = env
        .keel(&[
            "metrics",
            "reg.csv",
            "--label",
            "y",
            "--prediction",
            "yhat",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(reg["problem_type"], "Regression", "{reg:#}");
    assert!(
        close(metric(&reg, "regression_metrics", "mae"), w("mae")),
        "{reg:#}"
    );

    let out = env.data().join("drift.json");
    env.keel(&[
        "drift",
        "base.parquet",
        "cur.parquet",
        "--out",
        out.to_str().unwrap_or_default(),
    ])
    .expect(0);
    let drift: Value =
        serde_json::from_slice(&std::fs::read(&out).expect("drift.json")).expect("JSON");
    let x = &drift["features"][0];
    assert_eq!(x["name"], "x");
    assert!(
        close(x["ks_statistic"].as_f64().unwrap_or(f64::NAN), w("ks")),
        "{x:#}"
    );
    assert!(
        close(x["ks_p_value"].as_f64().unwrap_or(f64::NAN), w("ks_p")),
        "{x:#}"
    );
    assert!(
        close(
            x["wasserstein_distance"].as_f64().unwrap_or(f64::NAN),
            w("w")
        ),
        "{x:#}"
    );

    // Bad input is a clear error, not a crash.
    let bad = env
        .keel(&[
            "metrics",
            "preds.parquet",
            "--label",
            "missing",
            "--probability",
            "p",
        ])
        .expect(1);
    assert!(bad.stderr.contains("no column 'missing'"), "{}", bad.stderr);
    let many = env
        .keel(&[
            "metrics",
            "preds.parquet",
            "--label",
            "y",
            "--probability",
            "p",
            "--subsamples",
            "9",
        ])
        .expect(1);
    assert!(many.stderr.contains("at most 8"), "{}", many.stderr);
    let three = env
        .keel(&[
            "metrics",
            "preds.parquet",
            "--label",
            "g",
            "--prediction",
            "g",
            "--problem-type",
            "binary",
        ])
        .expect(1);
    assert!(
        three.stderr.contains("more than two labels"),
        "{}",
        three.stderr
    );
}

#[test]
fn compare_tells_a_weaker_challenger_apart() {
    let Some(env) = Env::new() else { return };
    env.register("fraud_roles");
    env.keel(&[
        "model",
        "register",
        "../fraud_weak",
        "--name",
        "fraud_roles",
        "-o",
        "json",
    ])
    .expect(0);
    env.keel(&["model", "alias", "fraud_roles", "champion", "1"])
        .expect(0);
    env.keel(&["model", "alias", "fraud_roles", "challenger", "2"])
        .expect(0);
    let cmp = env
        .keel(&[
            "compare",
            "fraud_roles@champion",
            "fraud_roles@challenger",
            "--data",
            "labeled.parquet",
            "--metric",
            "auc",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(cmp["status"], "COMPLETED", "{cmp:#}");
    let r = &cmp["result"];
    assert_eq!(r["test"]["method"], "delong", "{r:#}");
    assert_eq!(cmp["verdict"], "not_better", "{r:#}");
    assert!(r["test"]["p_value"].as_f64().unwrap_or(1.0) < 0.01, "{r:#}");
    assert!(r["test"]["delta"].as_f64().unwrap_or(0.0) < -0.01, "{r:#}");
    assert_eq!(r["paired_records"], 569);
    assert!(
        r["metrics"]
            .as_array()
            .is_some_and(|m| m.iter().any(|row| row["name"] == "auc")),
        "{r:#}"
    );

    // The same two jobs the other way round, on accuracy: McNemar, and the
    // stronger model now wins.
    let (a, b) = (
        cmp["champion_job"].as_str().unwrap_or("").to_string(),
        cmp["challenger_job"].as_str().unwrap_or("").to_string(),
    );
    let flipped = env
        .keel(&[
            "compare", "--jobs", &b, &a, "--metric", "accuracy", "-o", "json",
        ])
        .ok_json();
    assert_eq!(
        flipped["result"]["test"]["method"], "mcnemar",
        "{flipped:#}"
    );
    assert_eq!(flipped["verdict"], "challenger_better", "{flipped:#}");
    let table = env
        .keel(&["comparison", "show", flipped["id"].as_str().unwrap_or("")])
        .expect(0);
    assert!(
        table.stdout.contains("verdict: challenger_better"),
        "{}",
        table.stdout
    );

    // Average precision goes through the paired bootstrap on the scores.
    let ap = env
        .keel(&[
            "compare",
            "--jobs",
            &b,
            &a,
            "--metric",
            "average_precision",
            "--resamples",
            "300",
            "-o",
            "json",
        ])
        .ok_json();
    let t = &ap["result"]["test"];
    assert_eq!(t["method"], "paired_bootstrap", "{ap:#}");
    assert_eq!(t["resamples"], 300, "{ap:#}");
    assert!(t["delta"].as_f64().unwrap_or(0.0) > 0.0, "{ap:#}");
    assert_eq!(ap["verdict"], "challenger_better", "{ap:#}");

    let list = env.keel(&["comparison", "list", "-o", "json"]).ok_json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));

    let unknown = env
        .keel(&["compare", "--jobs", &a, &b, "--metric", "vibes"])
        .expect(1);
    assert!(
        unknown.stderr.contains("cannot compare on 'vibes'"),
        "{}",
        unknown.stderr
    );
}
