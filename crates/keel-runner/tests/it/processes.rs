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
         \x20       open(f'{os.getpid()}.pid', 'w').write(str(os.getpid()))\n\
         \x20       time.sleep(600)\n\
         \x20       os._exit(0)\n\
         \x20   while not os.path.exists(f'{pid}.pid'):\n\
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
