//! Warm workers: kept after a successful run for the next run of the same
//! model, which gets them with a fresh import of the model, its own working
//! directory, variables and token; never after a failure, never for another
//! key, and never beyond the pool's size, idle time or life.

use std::path::Path;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use keel_runner::{Control, Failure, Functions, ScoreStats, Warm, WarmPool, run_scoring};

use crate::{Logs, i64_col, int_batches, model, python, running, score_fns, spec};

/// A model whose init records, per worker, what the worker sees: its pid,
/// how often init ran in this import of the module, its directory, TMPDIR,
/// its token, and a file of its working directory.
const REPORTER: &str = "import json, os, tempfile\n\
COUNT = [0]\n\
def init():\n\
\x20   COUNT[0] += 1\n\
\x20   me = os.readlink('/proc/self')\n\
\x20   json.dump({'pid': int(me), 'count': COUNT[0], 'cwd': os.getcwd(),\n\
\x20              'tmp': tempfile.gettempdir(), 'token': os.environ['KEEL_WORKER_TOKEN'],\n\
\x20              'tag': open('tag.txt').read()}, open(f'init-{me}.json', 'w'))\n\
def score(r):\n\
\x20   print('scored', r['x'])\n\
\x20   return {'x': r['x'], 'n': COUNT[0]}\n";

fn init_fns() -> Functions {
    Functions {
        init: Some("init".into()),
        ..score_fns()
    }
}

/// Scores `input` in `dir` with `workers` workers taken from (and left to) `warm`.
fn run(
    py: &Path,
    dir: &Path,
    warm: Option<Warm>,
    workers: usize,
    input: Vec<RecordBatch>,
) -> (Result<ScoreStats, Failure>, Vec<RecordBatch>, String) {
    let mut spec = spec(py, dir, init_fns());
    spec.warm = warm;
    let logs = Logs::default();
    let mut out = Vec::new();
    let r = run_scoring(
        &spec,
        workers,
        &mut input.into_iter(),
        &mut |_, batches| {
            out.extend(batches);
            Ok(())
        },
        &logs,
        &Control::new(),
    );
    (r, out, logs.text())
}

/// The init reports in `dir`, one per worker.
fn reports(dir: &Path) -> Vec<serde_json::Value> {
    let mut found: Vec<serde_json::Value> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("init-"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect();
    found.sort_by_key(|r| r["pid"].as_u64());
    found
}

fn pids(reports: &[serde_json::Value]) -> Vec<u32> {
    reports
        .iter()
        .map(|r| r["pid"].as_u64().unwrap() as u32)
        .collect()
}

/// Waits up to 3 s for every pid to end.
fn wait_gone(pids: &[u32]) {
    let until = Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|p| running(*p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in pids {
        assert!(!running(*p), "process {p} is still running");
    }
}

fn reporter(tag: &str) -> tempfile::TempDir {
    let dir = model(REPORTER);
    std::fs::write(dir.path().join("tag.txt"), tag).unwrap();
    dir
}

#[test]
fn a_warm_worker_serves_the_next_run_of_its_model_afresh() {
    let Some(py) = python() else { return };
    let pool = WarmPool::new(4, Duration::from_secs(60));
    let warm = |key: &str| {
        Some(Warm {
            pool: pool.clone(),
            key: key.into(),
        })
    };
    let (one, two, other) = (reporter("one"), reporter("two"), reporter("other"));
    // The first run's thread ends before the second run starts: a worker must
    // not die with the thread that started it.
    let (r, out, _) = std::thread::scope(|s| {
        s.spawn(|| run(&py, one.path(), warm("k"), 2, int_batches(6, 2)))
            .join()
            .unwrap()
    });
    assert_eq!(r.unwrap().warm_workers, 0);
    assert_eq!(i64_col(&out, "x"), (0..6).collect::<Vec<_>>());
    let first = reports(one.path());
    assert_eq!(first.len(), 2, "{first:?}");
    let mut idle = pool.idle_pids();
    idle.sort();
    assert_eq!(idle.len(), 2);
    // A job's directory is removed when it ends, before the next job.
    drop(one);

    let (r, out, text) = run(&py, two.path(), warm("k"), 2, int_batches(6, 2));
    // Every line the workers wrote is in the log, the last ones too, though
    // the workers live on.
    for x in 0..6 {
        assert!(text.contains(&format!("scored {x}")), "{text}");
    }
    assert!(!text.contains("end-of-run"), "{text}");
    let stats = r.unwrap();
    assert_eq!(stats.warm_workers, 2, "{text}");
    assert_eq!(i64_col(&out, "x"), (0..6).collect::<Vec<_>>());
    // The model's module was imported afresh, so init ran once in it.
    assert_eq!(i64_col(&out, "n"), vec![1; 6]);
    let second = reports(two.path());
    assert_eq!(pids(&second), pids(&first), "the same workers ran again");
    let dir = std::fs::canonicalize(two.path()).unwrap();
    for (report, before) in second.iter().zip(&first) {
        assert_eq!(report["count"], 1, "{report}");
        assert_eq!(report["tag"], "two", "{report}");
        assert_eq!(Path::new(report["cwd"].as_str().unwrap()), dir, "{report}");
        assert_eq!(
            std::fs::canonicalize(report["tmp"].as_str().unwrap()).unwrap(),
            dir.join(".keel-tmp"),
            "{report}"
        );
        assert_ne!(
            report["token"], before["token"],
            "each run has its own token"
        );
    }

    // Another key never gets them.
    let (r, _, _) = run(&py, other.path(), warm("other"), 1, int_batches(2, 2));
    assert_eq!(r.unwrap().warm_workers, 0);
    assert!(
        !pids(&reports(other.path()))
            .iter()
            .any(|p| idle.contains(p))
    );
    assert_eq!(pool.idle(), 3);

    // The pool's end is every worker's end.
    let all = pool.idle_pids();
    drop(pool);
    wait_gone(&all);
}

#[test]
fn a_failed_run_keeps_no_worker() {
    let Some(py) = python() else { return };
    let pool = WarmPool::new(4, Duration::from_secs(60));
    let dir = model(&format!(
        "{}def init():\n    pass\ndef score(r):\n    if r['x'] == 3:\n        raise ValueError('three')\n    return r\n",
        crate::WRITE_PID
    ));
    let warm = Some(Warm {
        pool: pool.clone(),
        key: "k".into(),
    });
    let (r, _, _) = run(&py, dir.path(), warm, 2, int_batches(6, 1));
    assert!(matches!(r, Err(Failure::User { .. })), "{r:?}");
    assert_eq!(pool.idle(), 0);
    wait_gone(&crate::pids_in(dir.path()));
}

#[test]
fn the_pool_keeps_at_most_its_size_and_ends_idle_workers() {
    let Some(py) = python() else { return };
    let pool = WarmPool::new(1, Duration::from_secs(1));
    let dir = reporter("one");
    let warm = Some(Warm {
        pool: pool.clone(),
        key: "k".into(),
    });
    let (r, _, _) = run(&py, dir.path(), warm, 2, int_batches(4, 1));
    r.unwrap();
    let workers = pids(&reports(dir.path()));
    let idle = pool.idle_pids();
    assert_eq!(idle.len(), 1, "the pool holds one worker");
    let evicted: Vec<u32> = workers
        .iter()
        .copied()
        .filter(|p| !idle.contains(p))
        .collect();
    wait_gone(&evicted);
    assert!(running(idle[0]), "the kept worker was killed");
    // Idle for over a second, the last one ends too.
    let until = Instant::now() + Duration::from_secs(5);
    while pool.idle() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(pool.idle(), 0);
    wait_gone(&workers);
}

#[test]
fn what_a_run_starts_is_killed_even_when_its_workers_are_kept() {
    let Some(py) = python() else { return };
    let source = crate::DAEMON;
    for pid_namespace in [true, false] {
        let pool = WarmPool::new(4, Duration::from_secs(60));
        // The second run gets the first one's worker, whose own fork must
        // be found as surely as one a new worker made.
        for (run, dir) in [model(source), model(source)].iter().enumerate() {
            let mut spec = spec(&py, dir.path(), init_fns());
            spec.isolation.pid_namespace = pid_namespace;
            spec.warm = Some(Warm {
                pool: pool.clone(),
                key: "k".into(),
            });
            let logs = Logs::default();
            let stats = run_scoring(
                &spec,
                1,
                &mut int_batches(4, 2).into_iter(),
                &mut |_, _| Ok(()),
                &logs,
                &Control::new(),
            )
            .unwrap();
            let case = format!("namespace {pid_namespace}, run {run}");
            assert_eq!(stats.records_out, 4, "{case}");
            assert_eq!(stats.warm_workers, run, "{case}");
            let daemon: u32 = std::fs::read_to_string(dir.path().join("daemon.pid"))
                .unwrap()
                .parse()
                .unwrap();
            wait_gone(&[daemon]);
            let kept = pool.idle_pids();
            assert_eq!(kept.len(), 1, "{case}: {}", logs.text());
            assert!(running(kept[0]), "{case}: the kept worker was killed");
        }
        let kept = pool.idle_pids();
        drop(pool);
        wait_gone(&kept);
    }
}
