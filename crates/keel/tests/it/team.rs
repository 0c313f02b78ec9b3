//! Keel for a team: two servers and the CLI sharing one PostgreSQL database
//! and one S3 bucket (a real `moto_server`), the error when the database is down, and
//! jobs that outlive the processes running them: a worker killed with -9, a
//! worker stopped with SIGTERM, and an embedded CLI killed mid-job.

use std::ffi::OsStr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::server::{Server, wait_for_end};
use crate::support::{Env, counts, job_id};

#[test]
fn two_servers_and_the_cli_share_one_postgres_database_and_bucket() {
    let Some(mut env) = Env::new() else { return };
    let Some(db) = keel_testkit::postgres::database() else {
        return;
    };
    let Some(s3) = keel_testkit::s3::Server::start() else {
        return;
    };
    let artifacts = s3.url("team/keel");
    let aws = s3.env();
    let mut vars = vec![
        ("KEEL_DATABASE_URL", OsStr::new(&db.url)),
        ("KEEL_ARTIFACTS_URL", OsStr::new(&artifacts)),
    ];
    vars.extend(aws.iter().map(|(k, v)| (*k, OsStr::new(v))));
    let first = Server::start_with(&mut env, &vars);
    let first_url = env.url.clone();
    let reg = env.register("fraud");
    assert_eq!(reg["created"], true);
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud",
            "input.csv",
            "out.csv",
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (569, 569, 0));
    let id = job_id(&job);
    let csv = env.keel(&["job", "result", &id]).expect(0).stdout;
    assert_eq!(csv.lines().count(), 570);

    // A second server on the same database sees the model, the job and its
    // result, and moves an alias the first one then sees.
    let second = Server::start_with(&mut env, &vars);
    let shown = env.keel(&["job", "show", &id, "-o", "json"]).ok_json();
    assert_eq!(shown["status"], "COMPLETED");
    assert_eq!(env.keel(&["job", "result", &id]).expect(0).stdout, csv);
    env.keel(&["model", "alias", "fraud", "champion", "1"])
        .expect(0);
    drop(second);
    env.url = first_url;
    let list = env.keel(&["model", "list", "-o", "json"]).ok_json();
    assert_eq!(list["items"][0]["aliases"]["champion"], 1, "{list:#}");
    drop(first);

    // The CLI on the database and the bucket themselves, with no server,
    // sees the same, and the result comes from the bucket: nothing was kept
    // in the data directory's own artifact store.
    env.url = None;
    let listed = env
        .keel_with(&["job", "list", "-o", "json"], &vars)
        .ok_json();
    assert_eq!(listed["items"][0]["id"], id.as_str(), "{listed:#}");
    let local = env
        .keel_with(&["job", "result", &id], &vars)
        .expect(0)
        .stdout;
    assert_eq!(local, csv);
    assert!(
        !env.home().join("artifacts").exists(),
        "artifacts were kept locally"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let Some(env) = Env::new() else { return };
    let out = env.keel_with(
        &["model", "list"],
        &[(
            "KEEL_DATABASE_URL",
            OsStr::new("postgres://keel:hunter2@127.0.0.1:1/keel"),
        )],
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "Could not connect to the metadata database postgres://keel@127.0.0.1:1/keel"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
}

/// A `keel worker` child, killed when dropped so a failed assert does not
/// leak it.
struct Worker {
    child: Child,
}

impl Worker {
    fn start(env: &Env, vars: &[(&str, &OsStr)]) -> Worker {
        let child = env
            .command(&["worker", "--jobs", "1"], vars)
            .spawn()
            .expect("cannot start keel worker");
        Worker { child }
    }

    /// The runner name its attempts carry.
    fn runner(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}:{}", host.trim(), self.child.id())
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(sent.success());
    }

    /// Waits (at most `limit`) for the worker to exit, and its status.
    fn exited(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_job_outlives_a_killed_worker_and_a_stopped_one() {
    let Some(mut env) = Env::new() else { return };
    let Some(db) = keel_testkit::postgres::database() else {
        return;
    };
    let vars = [
        ("KEEL_DATABASE_URL", OsStr::new(&db.url)),
        ("KEEL_LEASE_SECONDS", OsStr::new("2")),
        ("KEEL_SHUTDOWN_GRACE_SECONDS", OsStr::new("0")),
    ];
    // The server serves the API only; workers run the jobs.
    let _api = Server::start_args(&mut env, &["--jobs", "0"], &vars);
    env.register("slow");
    let mut first = Worker::start(&env, &vars);
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "slow",
            "ids.csv",
            "doubled.csv",
            "--workers",
            "1",
            "-o",
            "json",
        ])
        .ok_json();
    let id = job_id(&job);
    assert_eq!(job["max_attempts"], 3);
    let runner = first.runner();
    env.job_until(&id, Duration::from_secs(20), |j| {
        j["status"] == "IN_PROGRESS" && j["runner"] == runner.as_str()
    });
    std::thread::sleep(Duration::from_millis(500));

    // kill -9: the first attempt's lease runs out and a second worker takes
    // the job over; the killed worker's Python went with it.
    first.signal("KILL");
    first.exited(Duration::from_secs(5));
    let mut second = Worker::start(&env, &vars);
    let runner = second.runner();
    let taken = env.job_until(&id, Duration::from_secs(20), |j| {
        j["runner"] == runner.as_str()
    });
    assert_eq!(taken["attempt"], 2, "{taken:#}");
    assert_eq!(taken["attempts"][0]["outcome"], "LOST", "{taken:#}");
    std::thread::sleep(Duration::from_millis(500));

    // SIGTERM with no grace: the second worker gives the job back and exits.
    second.signal("TERM");
    assert!(second.exited(Duration::from_secs(10)).success());
    let back = env.keel(&["job", "show", &id, "-o", "json"]).ok_json();
    assert_eq!(back["status"], "PENDING", "{back:#}");
    assert_eq!(back["attempts"][1]["outcome"], "HANDED_BACK", "{back:#}");

    // A third worker finishes it; the output is whole and written once.
    let _third = Worker::start(&env, &vars);
    let done = wait_for_end(&env, &id, Duration::from_secs(30));
    assert_eq!(done["status"], "COMPLETED", "{done:#}");
    assert_eq!(done["attempt"], 3);
    let outcomes: Vec<&str> = done["attempts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["outcome"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(outcomes, ["LOST", "HANDED_BACK", "COMPLETED"]);
    assert_eq!(counts(&done), (10, 10, 0));
    let csv = env.keel(&["job", "result", &id]).expect(0).stdout;
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 10, "{csv}");
    for (n, row) in rows.iter().enumerate() {
        let want = format!("{},{}", n + 1, 2 * (n + 1));
        assert_eq!(*row, want, "{csv}");
    }
    let shown = env.keel(&["job", "show", &id]).expect(0).stdout;
    assert!(shown.contains("attempts"), "{shown}");
    assert!(shown.contains("1 LOST on"), "{shown}");
}

#[test]
fn an_embedded_job_whose_cli_was_killed_runs_again_when_waited_for() {
    let Some(env) = Env::new() else { return };
    env.register("slow");
    let vars = [("KEEL_LEASE_SECONDS", OsStr::new("1"))];
    let mut cli = env
        .command(
            &[
                "job",
                "create",
                "scoring",
                "slow",
                "ids.csv",
                "doubled.csv",
                "--workers",
                "1",
            ],
            &vars,
        )
        .spawn()
        .expect("cannot start keel");
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let list = env.keel(&["job", "list", "-o", "json"]).ok_json();
        let item = &list["items"][0];
        if item["status"] == "IN_PROGRESS" {
            break item["id"].as_str().unwrap_or_default().to_string();
        }
        assert!(Instant::now() < deadline, "the job never started: {list:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    let _ = cli.kill();
    let _ = cli.wait();
    // `job wait` sweeps: the lease runs out, the job goes back to the
    // queue, and embedded mode runs it here.
    let out = env.keel_with(&["job", "wait", &id, "-o", "json"], &vars);
    let done = out.ok_json();
    assert_eq!(done["status"], "COMPLETED", "{done:#}");
    assert_eq!(done["attempt"], 2, "{done:#}");
    assert_eq!(counts(&done), (10, 10, 0));
    env.assert_no_leftovers("the killed CLI's job ran again");
}
