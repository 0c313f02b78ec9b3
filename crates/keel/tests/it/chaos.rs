//! The chaos test of issue 12, test-sized: two API-only servers and three
//! workers on a PostgreSQL server of the test's own and an S3 server (the
//! artifact store, and the bucket half the jobs write their output to),
//! small scoring jobs, a process killed with -9 and restarted every second
//! and a half while they run, and the database itself restarted once. Then
//! every job must have ended COMPLETED with its whole output, or FAILED with
//! a reason; none lost, none published twice or partly, every attempt
//! accounted for, and no worker process left behind.
//!
//! `KEEL_CHAOS_JOBS` and `KEEL_CHAOS_KILLS` change its size (200 and 10 by
//! default); `bench/chaos.sh` runs it at the bench's size and reports.

use std::ffi::OsStr;
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Env, job_id};

const ROWS: usize = 3;

/// A size from the environment, or `default`.
fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One process of the fleet, restarted with the same arguments.
struct Member {
    args: Vec<String>,
    child: Option<Child>,
}

impl Member {
    fn start(&mut self, env: &Env, vars: &[(&str, &OsStr)]) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = Some(env.command(&args, vars).spawn().expect("cannot start keel"));
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no server on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn jobs_survive_killed_servers_and_workers() {
    let Some(mut env) = Env::new() else { return };
    let Some(mut db) = keel_testkit::postgres::Cluster::start() else {
        return;
    };
    let Some(s3) = keel_testkit::s3::Server::start() else {
        return;
    };
    let (jobs, kills) = (size("KEEL_CHAOS_JOBS", 200), size("KEEL_CHAOS_KILLS", 10));
    let url = db.url();
    let artifacts = s3.url("chaos/keel");
    let aws = s3.env();
    let mut vars = vec![
        ("KEEL_DATABASE_URL", OsStr::new(&url)),
        ("KEEL_ARTIFACTS_URL", OsStr::new(&artifacts)),
        ("KEEL_LEASE_SECONDS", OsStr::new("2")),
        ("KEEL_SHUTDOWN_GRACE_SECONDS", OsStr::new("0")),
    ];
    vars.extend(aws.iter().map(|(k, v)| (*k, OsStr::new(v))));
    let outputs = s3.url("chaos/out");
    let ports = [keel_testkit::free_port(), keel_testkit::free_port()];
    let mut fleet: Vec<Member> = ports
        .iter()
        .map(|p| Member {
            args: vec![
                "server".into(),
                "--bind".into(),
                format!("127.0.0.1:{p}"),
                "--jobs".into(),
                "0".into(),
                "--data-root".into(),
                outputs.clone(),
            ],
            child: None,
        })
        .chain((0..3).map(|_| Member {
            args: vec!["worker".into(), "--jobs".into(), "2".into()],
            child: None,
        }))
        .collect();
    for m in &mut fleet {
        m.start(&env, &vars);
    }
    for p in ports {
        wait_listening(p);
    }
    let input = env.data().join("few.csv");
    let rows: String = (1..=ROWS).map(|i| format!("{i}\n")).collect();
    std::fs::write(&input, format!("id\n{rows}")).expect("write the input");
    env.url = Some(format!("http://127.0.0.1:{}", ports[0]));
    env.register("slow");
    let mut ids = Vec::new();
    let started = Instant::now();
    for n in 0..jobs {
        env.url = Some(format!("http://127.0.0.1:{}", ports[n % 2]));
        // Half the jobs write their output to the bucket, half keep it.
        let output = if n % 2 == 0 {
            format!("{outputs}/{n}.csv")
        } else {
            "out.csv".to_string()
        };
        let job = env
            .keel(&[
                "job",
                "create",
                "scoring",
                "slow",
                "few.csv",
                &output,
                "--workers",
                "1",
                "-o",
                "json",
            ])
            .ok_json();
        ids.push(job_id(&job));
    }

    // Chaos: a pseudo-random member (a fixed sequence, so a failure can be
    // replayed) is killed with -9 and restarted, every 1.5 s.
    let mut seed: u64 = 12;
    for kill in 0..kills {
        if kill == kills / 2 {
            // The database goes away for a second: every connection is cut.
            db.restart(Duration::from_secs(1));
        }
        std::thread::sleep(Duration::from_millis(1500));
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let victim = ((seed >> 33) % fleet.len() as u64) as usize;
        fleet[victim].kill();
        fleet[victim].start(&env, &vars);
        if victim < 2 {
            wait_listening(ports[victim]);
        }
    }

    // Every job ends, and is accounted for.
    env.url = Some(format!("http://127.0.0.1:{}", ports[1]));
    let deadline = Instant::now() + Duration::from_secs(240 + jobs as u64);
    let mut ended: Vec<Value> = Vec::new();
    for id in &ids {
        loop {
            let out = env.keel(&["job", "show", id, "-o", "json"]);
            if out.code == 0 {
                let job = out.json();
                if matches!(
                    job["status"].as_str(),
                    Some("COMPLETED" | "FAILED" | "STOPPED")
                ) {
                    ended.push(job);
                    break;
                }
            }
            assert!(Instant::now() < deadline, "job {id} never ended");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let want: String = (1..=ROWS).map(|i| format!("{i},{}\n", 2 * i)).collect();
    let mut completed = 0;
    for job in &ended {
        let id = job["id"].as_str().unwrap_or_default();
        let attempts = job["attempts"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            job["attempt"].as_u64(),
            Some(attempts.len() as u64),
            "{job:#}"
        );
        let (last, earlier) = attempts.split_last().expect("at least one attempt");
        for a in earlier {
            assert!(
                matches!(a["outcome"].as_str(), Some("LOST" | "HANDED_BACK")),
                "an earlier attempt must have lost or given back the job: {job:#}"
            );
        }
        match job["status"].as_str() {
            Some("COMPLETED") => {
                completed += 1;
                assert_eq!(last["outcome"], "COMPLETED", "{job:#}");
                let uri = job["output"]["uri"].as_str();
                let csv = match uri {
                    Some(uri) => {
                        let key =
                            uri.trim_start_matches(&format!("s3://{}/", keel_testkit::s3::BUCKET));
                        String::from_utf8(s3.get(key).expect("the published object")).expect("text")
                    }
                    None => env.keel(&["job", "result", id]).expect(0).stdout,
                };
                assert_eq!(csv, format!("id,double\n{want}"), "job {id}: {job:#}");
            }
            _ => {
                let reason = job["error"]["message"].as_str().unwrap_or_default();
                assert!(!reason.is_empty(), "a failed job says why: {job:#}");
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(ended.len(), jobs, "no job is lost");
    let retried = ended
        .iter()
        .filter(|j| j["attempt"].as_u64() > Some(1))
        .count();
    let attempts: u64 = ended.iter().filter_map(|j| j["attempt"].as_u64()).sum();
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for job in ended.iter().filter(|j| j["status"] != "COMPLETED") {
        let why = job["error"]["message"].as_str().unwrap_or_default();
        *reasons.entry(why.chars().take(120).collect()).or_default() += 1;
    }
    for (why, n) in &reasons {
        eprintln!("chaos: {n} ended without completing: {why}");
    }
    eprintln!(
        "chaos: {completed} of {jobs} completed, {retried} after more than one attempt, \
         {attempts} attempts in all, {kills} kills, {:.1} s, {:.0} jobs/min",
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64() * 60.0
    );
    // The kills must have hit running jobs, or this tested nothing.
    assert!(retried > 0, "no job was retried");
    let listed = env
        .keel(&["job", "list", "--limit", "1000", "-o", "json"])
        .ok_json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(jobs.min(1000))
    );
    assert!(completed >= jobs - kills, "{completed} of {jobs} completed");
    // Every object in the bucket is an output of a job that completed, or of
    // one whose earlier attempt published it before it lost its lease; a
    // staging object is one that a killed attempt left.
    for key in s3.keys("chaos/out/") {
        if key.contains(".keel-staging-") {
            continue;
        }
        let n = key
            .trim_start_matches("chaos/out/")
            .trim_end_matches(".csv");
        let n: usize = n.parse().expect("an output name");
        let job = &ended[n];
        let text = String::from_utf8(s3.get(&key).expect("listed")).expect("text");
        assert_eq!(
            text,
            format!("id,double\n{want}"),
            "{key} is whole: {job:#}"
        );
    }
    drop(fleet);
    env.assert_no_leftovers("the fleet stopped");
}
