//! The CLI against a real `keel server`: the whole model and job life
//! cycle over REST, and cancelling a job the server runs.

use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Env, counts, job_id};

/// A `keel server` child, stopped when dropped so a failed assert does not
/// leak it.
pub(crate) struct Server {
    child: Child,
}

impl Server {
    /// Starts a server on a free port with the env's data directory and
    /// points the env at it.
    pub(crate) fn start(env: &mut Env) -> Server {
        Server::start_with(env, &[])
    }

    /// [`Server::start`] with extra environment variables for the server.
    pub(crate) fn start_with(env: &mut Env, vars: &[(&str, &std::ffi::OsStr)]) -> Server {
        Server::start_args(env, &[], vars)
    }

    /// [`Server::start_with`] with extra arguments for `keel server`.
    pub(crate) fn start_args(
        env: &mut Env,
        args: &[&str],
        vars: &[(&str, &std::ffi::OsStr)],
    ) -> Server {
        let port = keel_testkit::free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut server_args = vec!["server", "--bind", addr.as_str()];
        server_args.extend_from_slice(args);
        let child = env
            .command(&server_args, vars)
            .spawn()
            .expect("cannot start keel server");
        let mut server = Server { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&addr).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("keel server exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "keel server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        env.url = Some(format!("http://{addr}"));
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Ask for a graceful stop first (it handles Ctrl-C), then insist.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `job show` until the job ends or `limit` passes.
pub(crate) fn wait_for_end(env: &Env, id: &str, limit: Duration) -> Value {
    env.job_until(id, limit, |job| {
        matches!(
            job["status"].as_str(),
            Some("COMPLETED" | "FAILED" | "STOPPED")
        )
    })
}

#[test]
fn server_mode_end_to_end() {
    let Some(mut env) = Env::new() else { return };
    let server = Server::start(&mut env);

    let reg = env.register("fraud");
    assert_eq!(reg["created"], true);
    env.keel(&["model", "alias", "fraud", "champion", "1"])
        .expect(0);
    let list = env.keel(&["model", "list", "-o", "json"]).ok_json();
    assert_eq!(list["items"][0]["aliases"]["champion"], 1);

    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud@champion",
            "input.csv",
            "out.csv",
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (569, 569, 0));
    let csv = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    assert_eq!(csv.lines().count(), 570);
    assert!(
        csv.lines().next().unwrap_or("").contains("probability"),
        "{csv:.200}"
    );

    // The next job of the same version gets the first one's workers warm,
    // and scores exactly as they did.
    let again = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud@champion",
            "input.csv",
            "again.csv",
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(again["status"], "COMPLETED", "{again:#}");
    assert_eq!(counts(&again), (569, 569, 0));
    let log = env.keel(&["job", "logs", &job_id(&again)]).expect(0).stdout;
    assert!(log.contains("kept warm from an earlier job"), "{log}");
    let again_csv = env
        .keel(&["job", "result", &job_id(&again)])
        .expect(0)
        .stdout;
    assert_eq!(again_csv, csv);

    // A server's clients name no server paths unless an admin allowed their
    // directory (this server has no data roots): a path output is refused.
    let outside = env.data().join("external.csv");
    let refused = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud@champion",
            "input.csv",
            &outside.to_string_lossy(),
        ])
        .expect(1);
    assert!(
        refused
            .stderr
            .contains("reads and writes no paths for its clients")
            && refused.stderr.contains("--data-root"),
        "{}",
        refused.stderr
    );
    assert!(!outside.exists());

    // Without --wait the server answers at once; `job wait` follows it.
    let created = env
        .keel(&[
            "job",
            "create",
            "metrics",
            "fraud",
            "labeled.parquet",
            "metrics.json",
            "-o",
            "json",
        ])
        .ok_json();
    let metrics = env
        .keel(&["job", "wait", &job_id(&created), "-o", "json"])
        .ok_json();
    assert_eq!(metrics["status"], "COMPLETED", "{metrics:#}");
    assert!(metrics["result"]["metrics"]["auc"].as_f64().unwrap_or(0.0) > 0.99);

    let trained = env
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
    assert_eq!(trained["status"], "COMPLETED", "{trained:#}");
    assert_eq!(trained["result"]["produced_version"], 2);
    let logs = env
        .keel(&["job", "logs", &job_id(&trained)])
        .expect(0)
        .stdout;
    assert!(logs.contains("trained on 569 rows"), "{logs}");

    let jobs = env.keel(&["job", "list", "-o", "json"]).ok_json();
    let items = jobs["items"].as_array().expect("items");
    assert!(items.len() >= 3, "{jobs:#}");
    // Newest first.
    assert_eq!(items[0]["id"], trained["id"]);

    // A comparison over the API: the server runs both metrics jobs, and the
    // CLI polls until the verdict is in.
    let cmp = env
        .keel(&[
            "compare",
            "fraud@champion",
            "fraud:2",
            "--data",
            "labeled.parquet",
            "--label",
            "flagged",
            "--probability",
            "probability",
            "--metric",
            "f1",
            "--resamples",
            "200",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(cmp["status"], "COMPLETED", "{cmp:#}");
    assert_eq!(
        cmp["result"]["test"]["method"], "paired_bootstrap",
        "{cmp:#}"
    );
    assert_eq!(cmp["result"]["test"]["resamples"], 200, "{cmp:#}");
    assert!(cmp["verdict"].is_string(), "{cmp:#}");
    let shown = env
        .keel(&[
            "comparison",
            "show",
            cmp["id"].as_str().unwrap_or(""),
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(shown["verdict"], cmp["verdict"]);

    // The data lives in the server's directory: embedded mode on the same
    // directory sees it once the server is gone.
    drop(server);
    env.url = None;
    let versions = env
        .keel(&["model", "versions", "fraud", "-o", "json"])
        .ok_json();
    assert_eq!(versions["items"].as_array().map(Vec::len), Some(2));
}

#[test]
fn server_cancel_stops_a_hanging_job() {
    let Some(mut env) = Env::new() else { return };
    let _server = Server::start(&mut env);
    env.register("hangs");
    let job = env
        .keel(&[
            "job", "create", "scoring", "hangs", "ids.csv", "h.csv", "-o", "json",
        ])
        .ok_json();
    let id = job_id(&job);
    // Let it start, so the cancel has a running worker to stop.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let j = env.keel(&["job", "show", &id, "-o", "json"]).ok_json();
        if j["status"] == "IN_PROGRESS" {
            break;
        }
        assert!(Instant::now() < deadline, "job never started: {j:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    env.keel(&["job", "cancel", &id]).expect(0);
    let done = wait_for_end(&env, &id, Duration::from_secs(15));
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!(done["status"], "STOPPED", "{done:#}");
    assert_eq!(done["error"]["kind"], "CANCELLED");
    assert_eq!(done["cancel_requested"], true);
    env.keel(&["job", "wait", &id]).expect(6);
    // The hanging workers are gone even though the server still runs.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = env
            .leftover_processes()
            .into_iter()
            .filter(|p| p.contains("python"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "workers left after cancel:\n{}",
            left.join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
