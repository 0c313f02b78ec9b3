//! Integration tests: real Python worker processes running small models
//! written by each test into a temporary working directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use keel_runner::{
    Control, Failure, Functions, ScoreStats, WorkerSpec, run_metrics, run_scoring, run_training,
};

/// The test interpreter, looked up once: checking its packages takes seconds.
fn python() -> Option<PathBuf> {
    static PY: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    PY.get_or_init(keel_testkit::python).clone()
}

/// Collects log lines for assertions.
#[derive(Default)]
struct Logs(Mutex<Vec<(usize, String)>>);

impl keel_runner::LogSink for Logs {
    fn line(&self, worker: usize, line: &str) {
        self.0.lock().unwrap().push((worker, line.to_string()));
    }
}

impl Logs {
    fn text(&self) -> String {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A temp working directory holding `model.py` with `source`.
fn model(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.py"), source).unwrap();
    dir
}

fn spec(py: &Path, dir: &Path, functions: Functions) -> WorkerSpec {
    WorkerSpec {
        python: py.to_path_buf(),
        workdir: dir.to_path_buf(),
        module: "model".into(),
        functions,
        env: vec![("KEEL_TEST_MARK".into(), "marked".into())],
        job: serde_json::json!({"name": "job-1", "threshold": 3}),
    }
}

fn score_fns() -> Functions {
    Functions {
        init: None,
        score: Some("score".into()),
        ..Functions::default()
    }
}

/// Batches of a single int64 column `x` holding 0..total, `per` rows each.
fn int_batches(total: i64, per: i64) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    (0..total)
        .step_by(per as usize)
        .map(|start| {
            let end = (start + per).min(total);
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(start..end))],
            )
            .unwrap()
        })
        .collect()
}

/// Runs a scoring job and returns every output batch, with the seqs seen.
fn score(
    spec: &WorkerSpec,
    workers: usize,
    input: Vec<RecordBatch>,
    logs: &Logs,
    ctl: &Control,
) -> (Result<ScoreStats, Failure>, Vec<u64>, Vec<RecordBatch>) {
    let mut seqs = Vec::new();
    let mut out = Vec::new();
    let r = run_scoring(
        spec,
        workers,
        &mut input.into_iter(),
        &mut |seq, batches| {
            seqs.push(seq);
            out.extend(batches);
            Ok(())
        },
        logs,
        ctl,
    );
    (r, seqs, out)
}

fn i64_col(batches: &[RecordBatch], name: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name(name).unwrap();
            let col = col.as_any().downcast_ref::<Int64Array>().unwrap();
            col.values().to_vec()
        })
        .collect()
}

/// Pids reported in `R` messages are not visible to callers, so models under
/// test write their pid to a file.
fn pids_in(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pid") {
            pids.push(
                std::fs::read_to_string(&path)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap(),
            );
        }
    }
    pids
}

/// True while `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn assert_all_gone(pids: &[u32]) {
    assert!(!pids.is_empty(), "the model wrote no pid files");
    for &pid in pids {
        assert!(!running(pid), "process {pid} is still running");
    }
}

const WRITE_PID: &str = "import os\nopen(f'{os.getpid()}.pid', 'w').write(str(os.getpid()))\n";

#[test]
fn per_record_returning_dicts_lists_generators_and_none() {
    let Some(py) = python() else { return };
    let dir = model(
        "def score(r):\n\
         \x20   x = r['x']\n\
         \x20   if x % 4 == 0:\n\
         \x20       return {'x': x, 'y': x * 10}\n\
         \x20   if x % 4 == 1:\n\
         \x20       return [{'x': x, 'y': 1}, {'x': x, 'y': 2}]\n\
         \x20   if x % 4 == 2:\n\
         \x20       return None\n\
         \x20   return gen(x)\n\
         def gen(x):\n\
         \x20   yield {'x': x, 'y': -1}\n\
         \x20   yield [{'x': x, 'y': -2}]\n",
    );
    let logs = Logs::default();
    let (r, seqs, out) = score(
        &spec(&py, dir.path(), score_fns()),
        2,
        int_batches(20, 8),
        &logs,
        &Control::new(),
    );
    let stats = r.unwrap();
    assert_eq!(seqs, vec![0, 1, 2]);
    assert_eq!(stats.batches, 3);
    assert_eq!(stats.records_in, 20);
    // Per 4 inputs: 1 + 2 + 0 + 2 outputs; 20 inputs -> 25 outputs.
    assert_eq!(stats.records_out, 25);
    let xs = i64_col(&out, "x");
    let ys = i64_col(&out, "y");
    assert_eq!(&xs[..5], &[0, 1, 1, 3, 3]);
    assert_eq!(&ys[..5], &[0, 1, 2, -1, -2]);
    assert_eq!(xs.len(), 25);
}

#[test]
fn batch_mode_gets_a_dataframe() {
    let Some(py) = python() else { return };
    let dir = model(
        "import pandas as pd\n\
         def score(df):\n\
         \x20   assert isinstance(df, pd.DataFrame)\n\
         \x20   return pd.DataFrame({'x': df['x'], 'n': len(df), 's': df['x'].astype(str) + '!'})\n",
    );
    let mut fns = score_fns();
    fns.score_batch = true;
    let logs = Logs::default();
    let (r, seqs, out) = score(
        &spec(&py, dir.path(), fns),
        1,
        int_batches(10, 4),
        &logs,
        &Control::new(),
    );
    assert_eq!(r.unwrap().records_out, 10);
    assert_eq!(seqs, vec![0, 1, 2]);
    assert_eq!(i64_col(&out, "x"), (0..10).collect::<Vec<_>>());
    assert_eq!(i64_col(&out, "n"), vec![4, 4, 4, 4, 4, 4, 4, 4, 2, 2]);
    let s = out[2].column_by_name("s").unwrap();
    let s = arrow_cast_str(s.as_ref());
    assert_eq!(s, vec!["8!", "9!"]);
}

fn arrow_cast_str(a: &dyn Array) -> Vec<String> {
    if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
        return s.iter().map(|v| v.unwrap_or("").to_string()).collect();
    }
    if let Some(s) = a.as_any().downcast_ref::<arrow_array::LargeStringArray>() {
        return s.iter().map(|v| v.unwrap_or("").to_string()).collect();
    }
    if let Some(s) = a.as_any().downcast_ref::<arrow_array::StringViewArray>() {
        return s.iter().map(|v| v.unwrap_or("").to_string()).collect();
    }
    panic!("not a string column: {:?}", a.data_type());
}

#[test]
fn output_order_is_input_order_with_uneven_workers() {
    let Some(py) = python() else { return };
    // Batches whose first x is a multiple of 3 are slow, so workers finish out of order.
    let dir = model(
        "import time\n\
         def score(r):\n\
         \x20   if r['x'] % 15 == 0:\n\
         \x20       time.sleep(0.15)\n\
         \x20   return {'x': r['x']}\n",
    );
    let logs = Logs::default();
    let (r, seqs, out) = score(
        &spec(&py, dir.path(), score_fns()),
        4,
        int_batches(300, 5),
        &logs,
        &Control::new(),
    );
    let stats = r.unwrap();
    assert_eq!(stats.batches, 60);
    assert_eq!(seqs, (0..60).collect::<Vec<u64>>());
    assert_eq!(i64_col(&out, "x"), (0..300).collect::<Vec<_>>());
}

#[test]
fn empty_input_still_starts_and_stops_workers() {
    let Some(py) = python() else { return };
    let dir = model(&format!(
        "{WRITE_PID}def init():\n    print('init ran')\ndef score(r):\n    return r\n"
    ));
    let logs = Logs::default();
    let (r, seqs, _) = score(
        &spec(
            &py,
            dir.path(),
            Functions {
                init: Some("init".into()),
                ..score_fns()
            },
        ),
        2,
        Vec::new(),
        &logs,
        &Control::new(),
    );
    assert_eq!(r.unwrap(), ScoreStats::default());
    assert!(seqs.is_empty());
    assert_eq!(
        logs.text().matches("init ran").count(),
        2,
        "{}",
        logs.text()
    );
    assert_eq!(pids_in(dir.path()).len(), 2);
    assert_all_gone(&pids_in(dir.path()));
}

#[test]
fn prints_reach_the_log_and_not_the_data() {
    let Some(py) = python() else { return };
    let dir = model(
        "import sys, os\n\
         def score(r):\n\
         \x20   print('hello from', r['x'])\n\
         \x20   sys.stdout.write('raw stdout\\n')\n\
         \x20   os.write(1, b'fd one\\n')\n\
         \x20   print('to stderr', file=sys.stderr)\n\
         \x20   return {'x': r['x'] + 1, 'mark': os.environ['KEEL_TEST_MARK']}\n",
    );
    let logs = Logs::default();
    let (r, _, out) = score(
        &spec(&py, dir.path(), score_fns()),
        1,
        int_batches(3, 3),
        &logs,
        &Control::new(),
    );
    assert_eq!(r.unwrap().records_out, 3);
    assert_eq!(i64_col(&out, "x"), vec![1, 2, 3]);
    let text = logs.text();
    for needle in [
        "hello from 0",
        "hello from 2",
        "raw stdout",
        "fd one",
        "to stderr",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in logs:\n{text}");
    }
    assert_eq!(
        arrow_cast_str(out[0].column_by_name("mark").unwrap().as_ref())[0],
        "marked"
    );
}

#[test]
fn init_with_and_without_the_job() {
    let Some(py) = python() else { return };
    let with = model(
        "T = None\n\
         def begin(job):\n\
         \x20   global T\n\
         \x20   T = job['threshold']\n\
         def score(r):\n\
         \x20   return {'t': T, 'x': r['x']}\n",
    );
    let without = model(
        "T = None\n\
         def begin():\n\
         \x20   global T\n\
         \x20   T = 7\n\
         def score(r):\n\
         \x20   return {'t': T, 'x': r['x']}\n",
    );
    for (dir, want) in [(with, 3), (without, 7)] {
        let fns = Functions {
            init: Some("begin".into()),
            ..score_fns()
        };
        let logs = Logs::default();
        let (r, _, out) = score(
            &spec(&py, dir.path(), fns),
            1,
            int_batches(2, 2),
            &logs,
            &Control::new(),
        );
        r.unwrap();
        assert_eq!(i64_col(&out, "t"), vec![want, want]);
    }
}

#[test]
fn metrics_return_json_safe_values() {
    let Some(py) = python() else { return };
    let dir = model(
        "import numpy as np\n\
         def metrics(df):\n\
         \x20   yield {'n': np.int64(len(df)), 'mean': np.float64(df['x'].mean())}\n\
         \x20   yield {'arr': np.arange(3), 'nan': float('nan'), 'inf': np.float64('inf'), 'ok': np.bool_(True)}\n",
    );
    let fns = Functions {
        metrics: Some("metrics".into()),
        ..Functions::default()
    };
    let logs = Logs::default();
    let v = run_metrics(
        &spec(&py, dir.path(), fns),
        &mut int_batches(10, 3).into_iter(),
        &logs,
        &Control::new(),
    )
    .unwrap();
    assert_eq!(
        v,
        serde_json::json!({"n": 10, "mean": 4.5, "arr": [0, 1, 2], "nan": null, "inf": null, "ok": true})
    );
}

#[test]
fn training_writes_output_dir() {
    let Some(py) = python() else { return };
    let dir = model(
        "def train(df):\n\
         \x20   with open('outputDir/x', 'w') as f:\n\
         \x20       f.write(str(int(df['x'].sum())))\n",
    );
    let fns = Functions {
        train: Some("train".into()),
        ..Functions::default()
    };
    let logs = Logs::default();
    run_training(
        &spec(&py, dir.path(), fns),
        &mut int_batches(10, 4).into_iter(),
        &logs,
        &Control::new(),
    )
    .unwrap();
    let written = std::fs::read_to_string(dir.path().join("outputDir/x")).unwrap();
    assert_eq!(written, "45");
}

#[test]
fn a_raising_model_reports_traceback_and_row() {
    let Some(py) = python() else { return };
    let dir = model(
        "def score(r):\n\
         \x20   if r['x'] == 13:\n\
         \x20       raise ValueError('x must not be 13')\n\
         \x20   return {'x': r['x']}\n",
    );
    let logs = Logs::default();
    let (r, _, _) = score(
        &spec(&py, dir.path(), score_fns()),
        2,
        int_batches(30, 5),
        &logs,
        &Control::new(),
    );
    let Err(Failure::User {
        phase,
        message,
        traceback,
        row,
    }) = r
    else {
        panic!("expected a user failure, got {r:?}");
    };
    assert_eq!(phase, "score");
    assert_eq!(message, "ValueError: x must not be 13");
    assert_eq!(row, Some(13));
    let tb = traceback.unwrap();
    assert!(tb.contains("model.py\", line 3"), "{tb}");
    let job = Failure::User {
        phase,
        message,
        traceback: Some(tb),
        row,
    }
    .into_job_error();
    assert!(job.message.contains("record 14 given"), "{}", job.message);
}

#[test]
fn an_unconvertible_output_value_is_named() {
    let Some(py) = python() else { return };
    let dir = model("def score(r):\n    return {'y': 'text' if r['x'] == 2 else 1.5}\n");
    let logs = Logs::default();
    let (r, _, _) = score(
        &spec(&py, dir.path(), score_fns()),
        1,
        int_batches(4, 4),
        &logs,
        &Control::new(),
    );
    let Err(Failure::User { message, .. }) = r else {
        panic!("expected a user failure, got {r:?}");
    };
    assert!(
        message.contains("'text'") && message.contains("'y'"),
        "{message}"
    );
    assert!(message.contains("output record 2"), "{message}");
}

#[test]
fn import_errors_are_user_errors() {
    let Some(py) = python() else { return };
    let dir = model("import keel_no_such_module\n");
    let logs = Logs::default();
    let (r, _, _) = score(
        &spec(&py, dir.path(), score_fns()),
        1,
        int_batches(2, 2),
        &logs,
        &Control::new(),
    );
    let Err(Failure::User { phase, message, .. }) = r else {
        panic!("expected a user failure, got {r:?}");
    };
    assert_eq!(phase, "import");
    assert!(message.contains("keel_no_such_module"), "{message}");
}

#[test]
fn abort_is_a_crash_naming_the_signal() {
    let Some(py) = python() else { return };
    let dir = model(&format!(
        "{WRITE_PID}import os, sys\ndef score(r):\n    print('about to abort', file=sys.stderr)\n    os.abort()\n"
    ));
    let logs = Logs::default();
    let (r, _, _) = score(
        &spec(&py, dir.path(), score_fns()),
        2,
        int_batches(4, 2),
        &logs,
        &Control::new(),
    );
    let Err(Failure::Crashed { message }) = r else {
        panic!("expected a crash, got {r:?}");
    };
    assert!(message.contains("SIGABRT"), "{message}");
    assert!(message.contains("about to abort"), "{message}");
    assert_all_gone(&pids_in(dir.path()));
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
    let (r, _, _) = score(
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
    assert_eq!(pids_in(dir.path()).len(), 2);
    assert_all_gone(&pids_in(dir.path()));
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
fn a_failing_output_callback_is_internal() {
    let Some(py) = python() else { return };
    let dir = model("def score(r):\n    return r\n");
    let logs = Logs::default();
    let r = run_scoring(
        &spec(&py, dir.path(), score_fns()),
        1,
        &mut int_batches(10, 2).into_iter(),
        &mut |seq, _| {
            if seq == 1 {
                Err("disk full".into())
            } else {
                Ok(())
            }
        },
        &logs,
        &Control::new(),
    );
    let Err(Failure::Internal { message }) = r else {
        panic!("expected an internal failure, got {r:?}");
    };
    assert!(
        message.contains("batch 1") && message.contains("disk full"),
        "{message}"
    );
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
    let (r, _, out) = score(
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

#[test]
fn a_python_without_pyarrow_is_runtime_unavailable() {
    let Some(py) = python() else { return };
    let bare: Option<PathBuf> = ["/usr/bin/python3", "python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import sys; import importlib.util as u; sys.exit(0 if u.find_spec('pyarrow') is None else 1)"])
                .status()
                .is_ok_and(|s| s.success())
        });
    let Some(bare) = bare else {
        keel_testkit::skip("no python3 without pyarrow on this machine");
        return;
    };
    let dir = model("def score(r):\n    return r\n");
    let logs = Logs::default();
    let (r, _, _) = score(
        &spec(&bare, dir.path(), score_fns()),
        1,
        int_batches(2, 2),
        &logs,
        &Control::new(),
    );
    let Err(Failure::RuntimeUnavailable { message }) = r else {
        panic!("expected RuntimeUnavailable, got {r:?}");
    };
    assert!(message.contains("pyarrow"), "{message}");
    assert!(message.contains("install pyarrow and pandas"), "{message}");
    drop(py);
}

#[test]
fn a_missing_interpreter_is_runtime_unavailable() {
    let dir = model("def score(r):\n    return r\n");
    let logs = Logs::default();
    let (r, _, _) = score(
        &spec(
            Path::new("/nonexistent/bin/python"),
            dir.path(),
            score_fns(),
        ),
        1,
        int_batches(2, 2),
        &logs,
        &Control::new(),
    );
    let Err(Failure::RuntimeUnavailable { message }) = r else {
        panic!("expected RuntimeUnavailable, got {r:?}");
    };
    assert!(message.contains("/nonexistent/bin/python"), "{message}");
}

#[test]
fn floats_and_strings_round_trip() {
    let Some(py) = python() else { return };
    let dir = model(
        "def score(r):\n    return {'y': r['a'] * 2 if r['a'] is not None else None, 's': (r['s'] or '') + '?'}\n",
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)])),
            Arc::new(StringArray::from(vec![Some("a"), Some("é"), None])),
        ],
    )
    .unwrap();
    let logs = Logs::default();
    let (r, _, out) = score(
        &spec(&py, dir.path(), score_fns()),
        1,
        vec![batch],
        &logs,
        &Control::new(),
    );
    r.unwrap();
    let y = out[0].column_by_name("y").unwrap();
    let y = y.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(
        y.iter().collect::<Vec<_>>(),
        vec![Some(3.0), None, Some(-4.0)]
    );
    let s = arrow_cast_str(out[0].column_by_name("s").unwrap().as_ref());
    assert_eq!(s, vec!["a?", "é?", "?"]);
}
