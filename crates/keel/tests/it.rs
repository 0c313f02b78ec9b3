//! End-to-end tests of the `keel` binary: real model directories, real data
//! files and real Python workers, in embedded mode and against a real server.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What one run of `keel` produced.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// Parses stdout as one JSON document, failing the test with both
    /// streams shown when it is not one.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }

    /// Fails the test, showing both streams, unless the exit code is `code`.
    fn expect(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The exit code must be 0 and stdout JSON.
    fn ok_json(self) -> Value {
        self.expect(0).json()
    }
}

/// One test's world: a temporary directory with the fixtures, its own data
/// directory, and optionally a server URL to talk to.
struct Env {
    tmp: tempfile::TempDir,
    py: PathBuf,
    url: Option<String>,
}

impl Env {
    /// Generates the fixtures; None (after a loud skip) without Python.
    fn new() -> Option<Env> {
        let py = keel_testkit::python()?;
        let tmp = tempfile::tempdir().expect("cannot create a temporary directory");
        keel_testkit::make_fixtures(&py, tmp.path());
        Some(Env { tmp, py, url: None })
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn data(&self) -> PathBuf {
        self.root().join("data")
    }

    fn home(&self) -> PathBuf {
        self.root().join(".keel")
    }

    /// Runs `keel ARGS` in the data directory.
    fn keel(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
        cmd.args(args)
            .current_dir(self.data())
            .env("KEEL_HOME", self.home())
            .env("KEEL_PYTHON", &self.py)
            .env_remove("KEEL_URL")
            .env_remove("KEEL_OUTPUT")
            .stdin(Stdio::null());
        if let Some(url) = &self.url {
            cmd.env("KEEL_URL", url);
        }
        let out = cmd.output().expect("cannot run the keel binary");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Registers a fixture model directory and returns the registration.
    fn register(&self, model: &str) -> Value {
        self.keel(&["model", "register", &format!("../{model}"), "-o", "json"])
            .ok_json()
    }

    /// Processes whose command line mentions this test's directory: the
    /// Python workers of its jobs, if any were left behind.
    fn leftover_processes(&self) -> Vec<String> {
        let needle = self.root().to_string_lossy().into_owned();
        let me = std::process::id().to_string();
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == me || !name.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(&needle) {
                found.push(format!("{name}: {cmdline}"));
            }
        }
        found
    }

    /// Fails unless no process of this test is left, allowing a moment for
    /// the kernel to reap ones that are exiting.
    fn assert_no_leftovers(&self, after: &str) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let left = self.leftover_processes();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("processes left behind after {after}:\n{}", left.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Parses JSON lines.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn job_id(job: &Value) -> String {
    job["id"].as_str().expect("a job has an id").to_string()
}

fn counts(job: &Value) -> (u64, u64, u64) {
    let c = &job["counts"];
    (
        c["read"].as_u64().unwrap_or(u64::MAX),
        c["written"].as_u64().unwrap_or(u64::MAX),
        c["rejected"].as_u64().unwrap_or(u64::MAX),
    )
}

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
fn registry_register_alias_show_versions() {
    let Some(env) = Env::new() else { return };
    let def = env
        .keel(&["model", "inspect", "../fraud", "-o", "json"])
        .ok_json();
    assert_eq!(def["functions"]["score"]["name"], "action");
    assert_eq!(def["functions"]["init"]["name"], "begin");
    assert_eq!(def["functions"]["metrics"]["name"], "metrics");
    assert_eq!(def["functions"]["train"]["name"], "train");
    assert_eq!(def["input_schema"], "input_schema.avsc");

    let first = env.register("fraud");
    assert_eq!(first["created"], true);
    assert_eq!(first["version"]["number"], 1);
    let second = env.register("fraud");
    assert_eq!(
        second["created"], false,
        "an unchanged directory creates no version"
    );
    assert_eq!(second["version"]["number"], 1);
    assert_eq!(second["version"]["id"], first["version"]["id"]);
    let table = env.keel(&["model", "register", "../fraud"]).expect(0);
    assert!(table.stdout.contains("unchanged"), "{}", table.stdout);

    let list = env.keel(&["model", "list", "-o", "json"]).ok_json();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "fraud");
    assert_eq!(items[0]["latest_version"], 1);

    let missing = env.keel(&["model", "show", "fraud@champion"]).expect(1);
    assert!(missing.stderr.contains("alias"), "{}", missing.stderr);
    assert!(missing.stderr.contains("champion"), "{}", missing.stderr);

    let alias = env
        .keel(&["model", "alias", "fraud", "champion", "1", "-o", "json"])
        .ok_json();
    assert_eq!(alias["version"], 1);
    let shown = env
        .keel(&["model", "show", "fraud@champion", "-o", "json"])
        .ok_json();
    assert_eq!(shown["number"], 1);
    assert_eq!(shown["model_name"], "fraud");
    assert_eq!(shown["aliases"], serde_json::json!(["champion"]));

    let versions = env
        .keel(&["model", "versions", "fraud", "-o", "json"])
        .ok_json();
    let numbers: Vec<u64> = versions["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|v| v["number"].as_u64())
        .collect();
    assert_eq!(numbers, vec![1]);
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

#[test]
fn zip_slip_attachment_is_refused() {
    let Some(env) = Env::new() else { return };
    let out = env.keel(&["model", "register", "../zipslip"]).expect(1);
    assert!(out.stderr.contains("evil"), "{}", out.stderr);
    let mut stack = vec![env.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("readable dir").flatten() {
            let path = e.path();
            assert_ne!(e.file_name(), "evil.txt", "{} was written", path.display());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            }
        }
    }
    let models = env.keel(&["model", "list", "-o", "json"]).ok_json();
    assert_eq!(
        models["items"],
        serde_json::json!([]),
        "nothing is registered"
    );
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

#[test]
fn usage_and_unknown_model_errors() {
    let Some(env) = Env::new() else { return };
    let usage = env.keel(&["job", "create"]).expect(2);
    assert!(
        usage.stderr.to_lowercase().contains("usage"),
        "{}",
        usage.stderr
    );
    env.keel(&["no-such-command"]).expect(2);
    let unknown = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "nosuchmodel",
            "ids.csv",
            "o.csv",
        ])
        .expect(1);
    assert!(unknown.stderr.contains("nosuchmodel"), "{}", unknown.stderr);
    assert!(!unknown.stderr.contains("panicked"), "{}", unknown.stderr);
    let show = env.keel(&["model", "show", "nosuchmodel"]).expect(1);
    assert!(show.stderr.contains("nosuchmodel"), "{}", show.stderr);
    let bad_id = env.keel(&["job", "show", "not-a-uuid"]).expect(1);
    assert!(bad_id.stderr.contains("not a job id"), "{}", bad_id.stderr);
    let missing_input = env
        .keel(&["job", "create", "scoring", "x", "nope.csv", "o.csv"])
        .expect(1);
    assert!(
        missing_input.stderr.contains("nope.csv"),
        "{}",
        missing_input.stderr
    );
}

/// A `keel server` child, stopped when dropped so a failed assert does not
/// leak it.
struct Server {
    child: Child,
}

impl Server {
    /// Starts a server on a free port with the env's data directory and
    /// points the env at it.
    fn start(env: &mut Env) -> Server {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("local addr").port()
        };
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["server", "--bind", &addr])
            .current_dir(env.data())
            .env("KEEL_HOME", env.home())
            .env("KEEL_PYTHON", &env.py)
            .env_remove("KEEL_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
fn wait_for_end(env: &Env, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let job = env.keel(&["job", "show", id, "-o", "json"]).ok_json();
        if matches!(
            job["status"].as_str(),
            Some("COMPLETED" | "FAILED" | "STOPPED")
        ) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job still {} after {limit:?}",
            job["status"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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

/// The value of a scalar in a metrics document.
fn metric(doc: &Value, key: &str, name: &str) -> f64 {
    doc[key][name]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}.{name} in {doc:#}"))
}

/// Runs a Python snippet in the test environment and parses its stdout as JSON.
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
