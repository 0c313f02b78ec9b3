//! `keel monitor baseline` and `keel monitor check` on files: statistics
//! that agree with scikit-learn, suggested constraints the baseline itself
//! meets, a worse data set that violates them (exit 7, with
//! `constraint_violations.json`), statistics in SageMaker's own shape, and
//! a scheduled monitor run on a tick, embedded and through a server.

use serde_json::{Value, json};

use crate::quality::python_json;
use crate::support::Env;

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

/// Writes an hour of captured inferences (09:00 to 09:59 on 2026-11-29),
/// their labels (for all but a few) and a baseline from a better model,
/// and answers scikit-learn's accuracy over the labeled inferences.
fn monitoring_data(env: &Env) -> Value {
    python_json(
        env,
        "import json, numpy as np, pandas as pd\n\
         from sklearn.metrics import accuracy_score\n\
         r = np.random.default_rng(11)\n\
         n = 600\n\
         y = r.integers(0, 2, n)\n\
         p = np.clip(0.15 * y + r.random(n) * 0.85, 0, 1)\n\
         ids = [f'inf-{i}' for i in range(n)]\n\
         t = pd.Timestamp('2026-11-29T09:00:00Z') + pd.to_timedelta(np.arange(n) * 5.99, unit='s')\n\
         import os; os.makedirs('captured', exist_ok=True)\n\
         pd.DataFrame({'inference_id': ids, 'inference_time': [x.isoformat() for x in t],\n\
                       'probability': p}).to_csv('captured/part-0.csv', index=False)\n\
         keep = np.arange(n) % 10 != 7\n\
         pd.DataFrame({'inference_id': np.array(ids)[keep], 'label': y[keep]}).to_csv('labels.csv', index=False)\n\
         yb = r.integers(0, 2, 2000); pb = np.clip(0.6 * yb + r.random(2000) * 0.4, 0, 1)\n\
         pd.DataFrame({'label': yb, 'score': pb}).to_csv('baseline.csv', index=False)\n\
         print(json.dumps({'acc': accuracy_score(y[keep], p[keep] > 0.5), 'labeled': int(keep.sum())}))",
    )
}

fn definition_file(env: &Env) -> std::path::PathBuf {
    let d = env.data();
    let def = json!({
        "JobDefinitionName": "fraud-quality",
        "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": format!("file://{}/base/constraints.json", d.display())}},
        "ModelQualityAppSpecification": {"ImageUri": "keel", "ProblemType": "BinaryClassification"},
        "ModelQualityJobInput": {
            "BatchTransformInput": {"DataCapturedDestinationS3Uri": format!("{}/captured", d.display()),
                                    "DatasetFormat": {"Csv": {"Header": true}},
                                    "ProbabilityAttribute": "probability", "ProbabilityThresholdAttribute": 0.5,
                                    "StartTimeOffset": "-PT1H", "EndTimeOffset": "-PT0H"},
            "GroundTruthS3Input": {"S3Uri": format!("{}/labels.csv", d.display())}},
        "ModelQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {"S3Uri": format!("{}/reports", d.display())}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        "RoleArn": "arn:aws:iam::123456789012:role/monitor"
    });
    let path = d.join("definition.json");
    std::fs::write(&path, def.to_string()).unwrap();
    path
}

#[test]
fn a_scheduled_monitor_runs_on_its_tick_and_reports_violations() {
    let Some(mut env) = Env::new() else { return };
    let want = monitoring_data(&env);
    env.keel(&[
        "monitor",
        "baseline",
        "baseline.csv",
        "--problem-type",
        "binary",
        "--probability-attribute",
        "score",
        "--ground-truth-attribute",
        "label",
        "--out",
        "base",
    ])
    .expect(0);
    let def = definition_file(&env);
    let def = def.to_str().unwrap();
    let arn = env
        .keel(&["monitor", "definition", "create", def])
        .expect(0);
    assert!(
        arn.stdout
            .contains("model-quality-job-definition/fraud-quality"),
        "{}",
        arn.stdout
    );
    env.keel(&[
        "monitor",
        "schedule",
        "create",
        "hourly",
        "--definition",
        "fraud-quality",
        "--expression",
        "cron(0 * ? * * *)",
    ])
    .expect(0);
    // The worse model violates the baseline's constraints: exit 7.
    let ran = env
        .keel(&[
            "monitor",
            "execute",
            "hourly",
            "--at",
            "2026-11-29T10:00:00Z",
            "-o",
            "json",
        ])
        .expect(7);
    let e: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        e["MonitoringExecutionStatus"], "CompletedWithViolations",
        "{e}"
    );
    let out = env.data().join("reports/hourly/2026/11/29/10");
    let stats = read(&env, "reports/hourly/2026/11/29/10/statistics.json");
    let acc = stats["binary_classification_metrics"]["accuracy"]["value"]
        .as_f64()
        .unwrap();
    assert!(
        (acc - want["acc"].as_f64().unwrap()).abs() < 1e-12,
        "{acc} vs {want}"
    );
    assert_eq!(stats["dataset"]["item_count"], want["labeled"]);
    let v = read(
        &env,
        "reports/hourly/2026/11/29/10/constraint_violations.json",
    );
    assert!(!v["violations"].as_array().unwrap().is_empty(), "{v}");
    assert!(out.join("report.html").exists());
    // The violation opened an alert, which a person acknowledges.
    let alerts = env
        .keel(&["alert", "list", "--status", "open", "-o", "json"])
        .ok_json();
    let first = &alerts["items"][0];
    assert_eq!(first["schedule"], "hourly", "{alerts}");
    let id = first["id"].as_str().unwrap().to_string();
    let acked = env.keel(&["alert", "ack", &id, "-o", "json"]).ok_json();
    assert_eq!(acked["status"], "ACKNOWLEDGED");
    assert!(acked["acknowledged_by"].as_str().is_some(), "{acked}");
    // The same tick again is refused; the list shows the one execution.
    let again = env
        .keel(&[
            "monitor",
            "execute",
            "hourly",
            "--at",
            "2026-11-29T10:00:00Z",
        ])
        .expect(1);
    assert!(again.stderr.contains("already"), "{}", again.stderr);
    let listed = env
        .keel(&["monitor", "executions", "hourly", "-o", "json"])
        .ok_json();
    assert_eq!(
        listed["MonitoringExecutionSummaries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let shown = env
        .keel(&["monitor", "schedule", "show", "hourly"])
        .ok_json();
    assert_eq!(
        shown["LastMonitoringExecutionSummary"]["MonitoringExecutionStatus"],
        "CompletedWithViolations"
    );
    // A window with no inferences fails, saying why (exit 6).
    let empty = env
        .keel(&[
            "monitor",
            "execute",
            "hourly",
            "--at",
            "2026-11-29T14:00:00Z",
        ])
        .expect(6);
    assert!(
        empty.stdout.contains("no inference was captured"),
        "{}",
        empty.stdout
    );

    // Against a server: the definition's places must be under its data roots.
    let root = env.data().display().to_string();
    let _server = crate::server::Server::start_args(&mut env, &["--data-root", &root], &[]);
    let outside = env.root().join("elsewhere.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(def).unwrap()).unwrap();
    doc["JobDefinitionName"] = json!("elsewhere");
    doc["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"] = json!("/etc/passwd");
    std::fs::write(&outside, doc.to_string()).unwrap();
    let refused = env
        .keel(&["monitor", "definition", "create", outside.to_str().unwrap()])
        .expect(1);
    assert!(
        refused.stderr.contains("GroundTruthS3Input"),
        "{}",
        refused.stderr
    );
    let listed = env.keel(&["monitor", "definition", "list"]).expect(0);
    assert!(
        listed.stdout.contains("fraud-quality") && !listed.stdout.contains("elsewhere"),
        "{}",
        listed.stdout
    );
    let ran = env
        .keel(&[
            "monitor",
            "execute",
            "hourly",
            "--at",
            "2026-11-29T09:30:00Z",
            "-o",
            "json",
        ])
        .expect(7);
    assert!(
        ran.stdout.contains("CompletedWithViolations"),
        "{}",
        ran.stdout
    );
}

#[test]
fn an_inference_job_file_runs_on_the_champion_and_reports_the_shape() {
    let Some(env) = Env::new() else { return };
    env.register("fraud");
    env.keel(&["model", "alias", "fraud", "champion", "1"])
        .expect(0);
    std::fs::create_dir_all(env.data().join("jobs")).unwrap();
    std::fs::write(
        env.data().join("jobs/inference.yaml"),
        "job:\n  KIND: InferenceJob\n  inputs:\n    KIND: CsvReader\n    path: ../input.csv\n  \
         outputs:\n    KIND: ParquetWriter\n    path: ../outputs/predictions.parquet\n  \
         alias_or_version: Champion\n",
    )
    .unwrap();
    let out = env
        .keel(&["run", "jobs/inference.yaml", "-o", "json"])
        .expect(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["job"]["status"], "COMPLETED", "{v}");
    assert_eq!(v["job"]["version"], 1);
    assert_eq!(v["shape"]["rows"], 569);
    let columns = v["shape"]["columns"].as_u64().unwrap();
    assert!(columns >= 1, "{v}");
    assert!(
        out.stderr
            .contains(&format!("finished COMPLETED: 569 rows × {columns} columns")),
        "{}",
        out.stderr
    );
    assert!(env.data().join("outputs/predictions.parquet").exists());
    // A version number instead of an alias, and a reader Keel does not have.
    std::fs::write(
        env.data().join("jobs/v1.yaml"),
        "KIND: InferenceJob\ninputs: {KIND: CsvReader, path: ../input.csv}\n\
         outputs: {KIND: CsvWriter, path: ../outputs/v1.csv}\nalias_or_version: 1\n",
    )
    .unwrap();
    env.keel(&["run", "jobs/v1.yaml"]).expect(0);
    std::fs::write(
        env.data().join("jobs/bad.yaml"),
        "KIND: InferenceJob\ninputs: {KIND: ExcelReader, path: x.xlsx}\noutputs: {KIND: CsvWriter, path: y.csv}\n",
    )
    .unwrap();
    let bad = env.keel(&["run", "jobs/bad.yaml"]).expect(1);
    assert!(bad.stderr.contains("ExcelReader"), "{}", bad.stderr);
    std::fs::write(
        env.data().join("jobs/noalias.yaml"),
        "KIND: InferenceJob\ninputs: {KIND: CsvReader, path: ../input.csv}\noutputs: {KIND: CsvWriter, path: ../o.csv}\nalias_or_version: Staging\n",
    )
    .unwrap();
    let none = env.keel(&["run", "jobs/noalias.yaml"]).expect(1);
    assert!(
        none.stderr.contains("no alias 'Staging'") && none.stderr.contains("champion"),
        "{}",
        none.stderr
    );
}
