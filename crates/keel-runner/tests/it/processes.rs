//! Runs whose point is timing and processes: a deadline, a cancel in the
//! middle of a run, and children forked by model code, which must all end
//! with no worker process left behind.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use keel_runner::{Control, Failure, Functions, ScoreStats, WorkerSpec, run_scoring};

use crate::{
    Logs, WRITE_PID, assert_all_gone, i64_col, int_batches, model, pids_in, processes_in, python,
    score_fns, spec,
};

/// Runs a scoring job and returns every output batch.
fn score(
    spec: &WorkerSpec,
    workers: usize,
    input: Vec<RecordBatch>,
    logs: &Logs,
    ctl: &Control,
) -> (Result<ScoreStats, Failure>, Vec<RecordBatch>) {
    let mut out = Vec::new();
    let r = run_scoring(
        spec,
        workers,
        &mut input.into_iter(),
        &mut |_, batches| {
            out.extend(batches);
            Ok(())
        },
        logs,
        ctl,
    );
    (r, out)
}

#[test]
fn a_deadline_stops_a_model_that_sleeps_forever() {
    let Some(py) = python() else { return };
    let dir = model(&format!(
        "{WRITE_PID}import time\ndef score(r):\n    time.sleep(3600)\n"
    ));
    let logs = Logs::default();
    let started = Instant::now();
    let ctl = Control::with_timeout(Duration::from_secs(2));
    let (r, _) = score(
        &spec(&py, dir.path(), score_fns()),
        2,
        int_batches(4, 1),
        &logs,
        &ctl,
    );
    let took = started.elapsed();
    let Err(Failure::Timeout { seconds }) = r else {
        panic!("expected a timeout, got {r:?}");
    };
    assert!((1.9..2.5).contains(&seconds), "{seconds}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
    // Under load a worker may not have imported the model (and written its
    // pid file) within the 2 s deadline; whichever started must be gone, and
    // so must any process still working in the model's directory.
    let pids = pids_in(dir.path());
    if !pids.is_empty() {
        assert_all_gone(&pids);
    }
    assert_eq!(processes_in(dir.path()), Vec::<u32>::new());
}

#[test]
fn cancel_mid_run_stops_every_worker() {
    let Some(py) = python() else { return };
    let dir = model(&format!(
        "{WRITE_PID}import time\ndef score(r):\n    time.sleep(0.05)\n    return {{'x': r['x']}}\n"
    ));
    let logs = Logs::default();
    let ctl = Control::new();
    let cancel = ctl.cancel.clone();
    let mut delivered = 0;
    let started = Instant::now();
    let r = run_scoring(
        &spec(&py, dir.path(), score_fns()),
        2,
        &mut int_batches(10_000, 2).into_iter(),
        &mut |_, _| {
            delivered += 1;
            if delivered == 3 {
                cancel.store(true, Ordering::Relaxed);
            }
            Ok(())
        },
        &logs,
        &ctl,
    );
    assert!(matches!(r, Err(Failure::Cancelled)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(delivered < 20, "{delivered}");
    assert_all_gone(&pids_in(dir.path()));
}

#[test]
fn forked_children_die_with_their_worker() {
    let Some(py) = python() else { return };
    let dir = model(
        "import os, time\n\
         def init():\n\
         \x20   pid = os.fork()\n\
         \x20   if pid == 0:\n\
         \x20       me = os.readlink('/proc/self')\n\
         \x20       open(f'{me}.pid', 'w').write(me)\n\
         \x20       time.sleep(600)\n\
         \x20       os._exit(0)\n\
         \x20   while not any(n.endswith('.pid') for n in os.listdir('.')):\n\
         \x20       time.sleep(0.01)\n\
         def score(r):\n\
         \x20   return r\n",
    );
    let logs = Logs::default();
    let started = Instant::now();
    let (r, out) = score(
        &spec(
            &py,
            dir.path(),
            Functions {
                init: Some("init".into()),
                ..score_fns()
            },
        ),
        1,
        int_batches(4, 2),
        &logs,
        &Control::new(),
    );
    assert_eq!(r.unwrap().records_out, 4);
    assert_eq!(i64_col(&out, "x"), vec![0, 1, 2, 3]);
    assert!(started.elapsed() < Duration::from_secs(10));
    // The child is not ours to reap, so give init a moment to reap it.
    std::thread::sleep(Duration::from_millis(200));
    assert_all_gone(&pids_in(dir.path()));
}

/// Live processes whose environment holds `needle` (`NAME=value`).
fn processes_marked(needle: &str) -> Vec<u32> {
    let needle = needle.as_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let marked = std::fs::read(entry.path().join("environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle));
        if marked && crate::running(pid) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_double_fork_that_calls_setsid_does_not_outlive_its_job() {
    let Some(py) = python() else { return };
    let source = crate::DAEMON;
    // (PID namespace?, how the escapee must be reported in the log)
    let cases: [(bool, Option<&str>); 2] = [
        (true, None),
        (
            false,
            Some("1 process that the model started was still running"),
        ),
    ];
    for (pid_namespace, note) in cases {
        if pid_namespace
            && keel_runner::Isolation::default().containment()
                != keel_runner::Containment::PidNamespace
        {
            assert!(
                std::env::var("CI").is_err(),
                "CI must be able to make PID namespaces"
            );
            eprintln!("SKIP: this machine does not allow PID namespaces");
            continue;
        }
        let dir = model(source);
        let mark = format!("KEEL_TEST_ESCAPE={}-{pid_namespace}", std::process::id());
        let (name, value) = mark.split_once('=').unwrap();
        let mut spec = spec(
            &py,
            dir.path(),
            Functions {
                init: Some("init".into()),
                ..score_fns()
            },
        );
        spec.env.push((name.into(), value.into()));
        spec.isolation.pid_namespace = pid_namespace;
        let logs = Logs::default();
        let (r, out) = score(&spec, 1, int_batches(4, 2), &logs, &Control::new());
        assert_eq!(r.unwrap().records_out, 4, "namespace {pid_namespace}");
        assert_eq!(i64_col(&out, "x"), vec![0, 1, 2, 3]);
        let daemon: u32 = std::fs::read_to_string(dir.path().join("daemon.pid"))
            .unwrap()
            .parse()
            .unwrap();
        // The escapee is nobody's child here, so give init a moment to reap it.
        let until = Instant::now() + Duration::from_secs(2);
        while crate::running(daemon) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !crate::running(daemon),
            "namespace {pid_namespace}: process {daemon} outlived its job"
        );
        assert_eq!(processes_marked(&mark), Vec::<u32>::new());
        let text = logs.text();
        match note {
            Some(note) => assert!(text.contains(note), "{text}"),
            None => assert!(!text.contains("still running"), "{text}"),
        }
    }
}

#[test]
fn workers_see_an_allow_list_of_the_environment() {
    let Some(py) = python() else { return };
    let dir = model(
        "import json, os\n\
         json.dump(dict(os.environ), open('env.json', 'w'))\n\
         def score(r):\n\
         \x20   return r\n",
    );
    // A variable of this test process that the allow-list leaves out, to pass
    // through by name.
    let allowed = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ"];
    let outside: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| {
            !allowed.contains(&k.as_str()) && !k.starts_with("LC_") && !k.ends_with("_NUM_THREADS")
        })
        .collect();
    assert!(
        !outside.is_empty(),
        "the test process has only allowed variables"
    );
    let mut spec = spec(&py, dir.path(), score_fns());
    spec.isolation.pass_env = vec![outside[0].clone()];
    let (r, _) = score(
        &spec,
        1,
        int_batches(2, 2),
        &Logs::default(),
        &Control::new(),
    );
    r.unwrap();
    let env: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("env.json")).unwrap())
            .unwrap();
    for name in &outside[1..] {
        assert!(!env.contains_key(name), "the worker inherited {name}");
    }
    assert!(env.contains_key(&outside[0]), "{:?}", env.keys());
    assert_eq!(
        env.get("KEEL_TEST_MARK").map(String::as_str),
        Some("marked")
    );
    assert!(env.contains_key(keel_runner::TOKEN_ENV));
    assert_eq!(
        env.get("TMPDIR").map(String::as_str),
        Some(&*dir.path().join(".keel-tmp").to_string_lossy())
    );
    if let Ok(path) = std::env::var("PATH") {
        assert_eq!(env.get("PATH"), Some(&path));
    }
}
