//! Jobs in embedded mode: scoring checked against scikit-learn, the seed's
//! batch job, metrics and training jobs, and the job log.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{Env, counts, job_id, json_lines};

/// The reference probabilities scikit-learn computed, by id.
fn reference_scores(data: &Path) -> HashMap<i64, f64> {
    let text =
        std::fs::read_to_string(data.join("reference_scores.csv")).expect("reference scores");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,probability"));
    lines
        .map(|l| {
            let (id, p) = l.split_once(',').expect("two columns");
            (
                id.parse().expect("an id"),
                p.parse().expect("a probability"),
            )
        })
        .collect()
}

#[test]
fn scoring_matches_scikit_learn_and_keeps_input_order() {
    let Some(env) = Env::new() else { return };
    env.register("fraud");
    env.keel(&["model", "alias", "fraud", "champion", "1"])
        .expect(0);
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud@champion",
            "input.csv",
            "out.parquet",
            "--workers",
            "3",
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (569, 569, 0));
    assert_eq!(job["workers"], 3);
    let id = job_id(&job);

    // Downloading gives a real Parquet file (magic bytes at both ends).
    let dest = env.root().join("scores.parquet");
    env.keel(&[
        "job",
        "result",
        &id,
        "--out",
        dest.to_str().expect("utf-8 path"),
    ])
    .expect(0);
    let bytes = std::fs::read(&dest).expect("downloaded result");
    assert!(bytes.len() > 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));

    // Printing a Parquet result gives JSON lines, in input order.
    let rows = json_lines(&env.keel(&["job", "result", &id]).expect(0).stdout);
    assert_eq!(rows.len(), 569);
    let ids: Vec<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(
        ids,
        (1..=569).collect::<Vec<i64>>(),
        "output order must equal input order"
    );
    let reference = reference_scores(&env.data());
    for r in &rows {
        let id = r["id"].as_i64().expect("id");
        let p = r["probability"].as_f64().expect("probability");
        let want = reference[&id];
        assert!(
            (p - want).abs() < 1e-9,
            "record {id}: keel {p}, scikit-learn {want}"
        );
        assert_eq!(r["prediction"].as_i64(), Some(i64::from(p >= 0.5)));
    }
}

#[test]
fn seed_verbatim_batchjob_with_model_uuid() {
    let Some(env) = Env::new() else { return };
    let reg = env.register("fraud");
    let model_id = reg["model"]["id"].as_str().expect("model id").to_string();
    // The seed's exact form: no -o, no --wait; the job id is in the output.
    let created = env
        .keel(&[
            "job",
            "create",
            "batchjob",
            &model_id,
            "input.json",
            "output.json",
        ])
        .expect(0);
    let listed = env.keel(&["job", "list", "-o", "json"]).ok_json();
    let job = &listed["items"][0];
    let id = job_id(job);
    assert!(
        created.stdout.contains(&id) || created.stderr.contains(&id),
        "the job id is printed:\n{}\n{}",
        created.stdout,
        created.stderr
    );
    assert_eq!(job["kind"], "scoring");
    assert_eq!(job["status"], "COMPLETED");
    let rows = json_lines(&env.keel(&["job", "result", &id]).expect(0).stdout);
    assert_eq!(rows.len(), 50);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["id"].as_i64(), Some(i as i64 + 1));
        assert!(matches!(r["prediction"].as_i64(), Some(0 | 1)), "{r}");
    }
}

#[test]
fn metrics_job_reports_auc() {
    let Some(env) = Env::new() else { return };
    env.register("fraud");
    let job = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "fraud:1",
            "labeled.parquet",
            "metrics.json",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let auc = job["result"]["metrics"]["auc"]
        .as_f64()
        .expect("auc in the job result");
    assert!(auc > 0.99 && auc <= 1.0, "auc {auc}");
    assert_eq!(job["result"]["metrics"]["rows"], 569);
    let printed = env.keel(&["job", "result", &job_id(&job)]).expect(0);
    let v: Value = serde_json::from_str(printed.stdout.trim())
        .or_else(|_| {
            // A JSON-lines file of one object is fine too.
            serde_json::from_str(printed.stdout.lines().next().unwrap_or(""))
        })
        .unwrap_or_else(|e| panic!("result is not JSON ({e}): {}", printed.stdout));
    let printed_auc = v["auc"].as_f64().expect("auc in the printed result");
    assert!((printed_auc - auc).abs() < 1e-12);
}

#[test]
fn training_creates_a_new_version_that_scores() {
    let Some(env) = Env::new() else { return };
    env.register("fraud");
    let job = env
        .keel(&[
            "job",
            "create",
            "training",
            "fraud",
            "labeled.jsonl",
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["result"]["produced_version"], 2);

    let versions = env
        .keel(&["model", "versions", "fraud", "-o", "json"])
        .ok_json();
    let mut numbers: Vec<u64> = versions["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|v| v["number"].as_u64())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![1, 2]);

    let pkl = |v: &Value| -> String {
        v["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["path"] == "model.pkl")
            .unwrap_or_else(|| panic!("no model.pkl in {v:#}"))["sha256"]
            .as_str()
            .expect("sha256")
            .to_string()
    };
    let v1 = env
        .keel(&["model", "show", "fraud:1", "-o", "json"])
        .ok_json();
    let v2 = env
        .keel(&["model", "show", "fraud:2", "-o", "json"])
        .ok_json();
    assert_ne!(pkl(&v1), pkl(&v2), "training must replace model.pkl");
    assert_eq!(v2["source_job"], job["id"]);

    let scored = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud:2",
            "input.json",
            "v2.csv",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(scored["status"], "COMPLETED", "{scored:#}");
    assert_eq!(scored["version"], 2);
    assert_eq!(counts(&scored), (50, 50, 0));
}

#[test]
fn job_logs_hold_model_prints() {
    let Some(env) = Env::new() else { return };
    env.register("prints");
    let job = env
        .keel(&[
            "job", "create", "scoring", "prints", "ids.csv", "p.csv", "-o", "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (10, 10, 0));
    let logs = env.keel(&["job", "logs", &job_id(&job)]).expect(0).stdout;
    assert!(logs.contains("init says hello"), "{logs}");
    assert!(logs.contains("scoring 3"), "{logs}");
    assert!(logs.contains("to stderr 3"), "{logs}");
    let out = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    assert_eq!(out.lines().count(), 11, "{out}");

    // Asking a finished job for what it does not have is a readable error.
    let none = env
        .keel(&["job", "result", &job_id(&job), "--rejected"])
        .expect(1);
    assert!(
        none.stderr.contains("rejected no records"),
        "{}",
        none.stderr
    );
    let cancel = env.keel(&["job", "cancel", &job_id(&job)]).expect(1);
    assert!(
        cancel.stderr.contains("already finished"),
        "{}",
        cancel.stderr
    );
    let version = env.keel(&["model", "show", "prints:9"]).expect(1);
    assert!(
        version.stderr.contains("no version 9"),
        "{}",
        version.stderr
    );
}
