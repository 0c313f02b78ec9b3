//! Job inputs and outputs in a bucket (a real `moto_server`): an `s3://`
//! input streamed in, an `s3://` output published whole and never replaced,
//! `keel job result` printing the URI and `--out` downloading it, and a
//! server that reaches only the S3 prefixes an admin allowed.

use std::ffi::OsStr;

use crate::server::Server;
use crate::support::{Env, counts, job_id};

fn aws(s3: &keel_testkit::s3::Server) -> Vec<(&'static str, String)> {
    s3.env()
}

#[test]
fn a_job_reads_and_writes_objects_and_never_replaces_one() {
    let Some(env) = Env::new() else { return };
    let Some(s3) = keel_testkit::s3::Server::start() else {
        return;
    };
    let vars = aws(&s3);
    let vars: Vec<(&str, &OsStr)> = vars.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
    let input = std::fs::read(env.data().join("input.csv")).unwrap();
    s3.put("in/input.csv", &input);
    env.register("fraud");
    let output = s3.url("out/scores.csv");
    let job = env
        .keel_with(
            &[
                "job",
                "create",
                "scoring",
                "fraud",
                &s3.url("in/input.csv"),
                &output,
                "--wait",
                "-o",
                "json",
            ],
            &vars,
        )
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (569, 569, 0));
    let id = job_id(&job);
    // The object is there, whole, and nothing was left beside it.
    let written = s3.get("out/scores.csv").expect("the output object");
    assert_eq!(String::from_utf8_lossy(&written).lines().count(), 570);
    assert_eq!(s3.keys("out/"), ["out/scores.csv"]);
    // `job result` says where it is; `--out` fetches it.
    let said = env.keel_with(&["job", "result", &id], &vars).expect(0);
    assert_eq!(said.stdout.trim(), output);
    let copy = env.root().join("copy.csv");
    env.keel_with(
        &["job", "result", &id, "--out", copy.to_str().unwrap()],
        &vars,
    )
    .expect(0);
    assert!(
        std::fs::read(&copy).unwrap() == written,
        "the download differs"
    );

    // The same output again is refused before the job is queued.
    let again = env
        .keel_with(
            &[
                "job",
                "create",
                "scoring",
                "fraud",
                &s3.url("in/input.csv"),
                &output,
            ],
            &vars,
        )
        .expect(1);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    let missing = env
        .keel_with(
            &[
                "job",
                "create",
                "scoring",
                "fraud",
                &s3.url("in/nothing.csv"),
                "o.csv",
            ],
            &vars,
        )
        .expect(1);
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
    let bad = env
        .keel_with(
            &[
                "job",
                "create",
                "scoring",
                "fraud",
                "s3://keel-test/",
                "o.csv",
            ],
            &vars,
        )
        .expect(1);
    assert!(bad.stderr.contains("s3://BUCKET/KEY"), "{}", bad.stderr);
}

#[test]
fn a_server_reaches_only_the_s3_prefixes_an_admin_allowed() {
    let Some(mut env) = Env::new() else { return };
    let Some(s3) = keel_testkit::s3::Server::start() else {
        return;
    };
    let aws = aws(&s3);
    let vars: Vec<(&str, &OsStr)> = aws.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
    let input = std::fs::read(env.data().join("input.csv")).unwrap();
    s3.put("team/in.csv", &input);
    s3.put("private/in.csv", &input);
    let root = s3.url("team");

    // A root that holds Keel's own artifact store is refused at start.
    let mut own = vars.clone();
    let artifacts = s3.url("team/keel");
    own.push(("KEEL_ARTIFACTS_URL", OsStr::new(&artifacts)));
    let port = keel_testkit::free_port().to_string();
    let refused = env
        .keel_with(
            &[
                "server",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-root",
                &root,
            ],
            &own,
        )
        .expect(1);
    assert!(
        refused.stderr.contains("artifact store"),
        "{}",
        refused.stderr
    );

    let _server = Server::start_args(&mut env, &["--data-root", &root], &vars);
    env.register("fraud");
    // The CLI itself has no AWS settings: the server reads and writes.
    let outside = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud",
            &s3.url("private/in.csv"),
            "o.csv",
        ])
        .expect(1);
    assert!(
        outside.stderr.contains("outside the S3 prefixes") && outside.stderr.contains("FORBIDDEN"),
        "{}",
        outside.stderr
    );
    let output = s3.url("team/out/scores.jsonl");
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud",
            &s3.url("team/in.csv"),
            &output,
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    let id = job_id(&job);
    let said = env.keel(&["job", "result", &id]).expect(0);
    assert_eq!(said.stdout.trim(), output);
    let copy = env.root().join("copy.jsonl");
    env.keel(&["job", "result", &id, "--out", copy.to_str().unwrap()])
        .expect(0);
    let written = s3.get("team/out/scores.jsonl").expect("the output object");
    assert_eq!(String::from_utf8_lossy(&written).lines().count(), 569);
    assert!(
        std::fs::read(&copy).unwrap() == written,
        "the download differs"
    );
}
