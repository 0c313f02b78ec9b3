//! What goes wrong, cleanly: records that fail the schema check or cannot
//! be parsed are set aside with their place, and models that raise, crash or
//! hang fail their job without leaving output or processes behind.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Env, counts, job_id, json_lines};

#[test]
fn schema_check_rejects_bad_records() {
    let Some(env) = Env::new() else { return };
    env.register("fraud");
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud",
            "bad_schema.csv",
            "good.csv",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (10, 8, 2));
    assert_eq!(job["result"]["has_rejected"], true);
    let rejected = json_lines(
        &env.keel(&["job", "result", &job_id(&job), "--rejected"])
            .expect(0)
            .stdout,
    );
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["record"], 3);
    assert_eq!(rejected[0]["line"], 4);
    assert_eq!(rejected[0]["field"], "mean_radius");
    assert_eq!(rejected[1]["record"], 7);
    assert_eq!(rejected[1]["line"], 8);
    assert_eq!(rejected[1]["field"], "mean_texture");
    let written = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    assert_eq!(
        written.lines().count(),
        9,
        "header and 8 records:\n{written}"
    );

    // Without the check the model gets the strings: whatever happens, the
    // schema rejects nothing.
    let unchecked = env.keel(&[
        "job",
        "create",
        "scoring",
        "fraud",
        "bad_schema.csv",
        "unchecked.csv",
        "--no-schema-check",
        "-o",
        "json",
    ]);
    let job = unchecked.json();
    assert_eq!(job["schema_check"], false);
    assert_eq!(counts(&job).2, 0, "{job:#}");
}

#[test]
fn malformed_csv_line_is_rejected_with_its_line() {
    let Some(env) = Env::new() else { return };
    env.register("fraud");
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud",
            "malformed.csv",
            "m.csv",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (5, 4, 1));
    let rejected = json_lines(
        &env.keel(&["job", "result", &job_id(&job), "--rejected"])
            .expect(0)
            .stdout,
    );
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 4);
    let reason = rejected[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("line 4"), "{reason}");
}

/// Runs a scoring job of `model` on ids.csv to an external path that must
/// not exist afterwards, and returns the failed job.
fn failing_job(env: &Env, model: &str, extra: &[&str]) -> Value {
    env.register(model);
    let out_dir = env.root().join("out");
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let dest = out_dir.join("fail.csv");
    let dest_s = dest.to_str().expect("utf-8 path").to_string();
    let mut args = vec![
        "job", "create", "scoring", model, "ids.csv", &dest_s, "-o", "json",
    ];
    args.extend_from_slice(extra);
    let job = env.keel(&args).expect(6).json();
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert!(
        !dest.exists(),
        "a failed job left its output {}",
        dest.display()
    );
    let temps: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        temps.is_empty(),
        "files left in the output directory: {temps:?}"
    );
    env.assert_no_leftovers(&format!("the {model} job"));
    job
}

#[test]
fn failing_models_fail_cleanly() {
    let Some(env) = Env::new() else { return };

    let job = failing_job(&env, "raises", &[]);
    assert_eq!(job["error"]["kind"], "USER_ERROR");
    let tb = job["error"]["traceback"].as_str().expect("a traceback");
    assert!(tb.contains("record 3 is cursed"), "{tb}");
    assert!(tb.contains("ValueError"), "{tb}");
    // `job wait` on a failed job exits 6 too.
    env.keel(&["job", "wait", &job_id(&job)]).expect(6);

    let job = failing_job(&env, "aborts", &[]);
    assert_eq!(job["error"]["kind"], "CRASHED");
    let msg = job["error"]["message"].as_str().expect("message");
    assert!(msg.contains("SIGABRT"), "{msg}");

    let start = Instant::now();
    let job = failing_job(&env, "hangs", &["--max-runtime", "3"]);
    let took = start.elapsed();
    assert_eq!(job["error"]["kind"], "TIMEOUT");
    assert!(took < Duration::from_secs(30), "the timeout took {took:?}");
}
