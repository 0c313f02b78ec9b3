//! Integration tests of keel-runner: real Python worker processes running small
//! models written by each test into a temporary working directory.
//!
//! `table` holds the runs that are a model, an input and an expected outcome,
//! compared as text made by `render`; `processes` holds the ones about
//! deadlines, cancellation and child processes; `logical` the Avro logical
//! types as model code receives and returns them; `mlflow` runs the MLflow
//! adapter over models saved by a real MLflow; `warm` the workers kept
//! between runs.

mod logical;
mod mlflow;
mod processes;
mod render;
mod table;
mod warm;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use keel_runner::{Functions, WorkerSpec};

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
        output_column: None,
        isolation: keel_runner::Isolation::default(),
        warm: None,
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

/// Running processes whose working directory is `dir`: the workers of a run
/// in that directory, whether or not they got as far as importing the model.
fn processes_in(dir: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(dir).unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == want) && running(pid)
        {
            found.push(pid);
        }
    }
    found
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

/// Model code that writes its process id to `<pid>.pid` when imported. A
/// worker in its own PID namespace is pid 1 there, so the id is read from
/// `/proc/self`, which the namespace shares with Keel.
const WRITE_PID: &str =
    "import os\n_pid = os.readlink('/proc/self')\nopen(f'{_pid}.pid', 'w').write(_pid)\n";

/// Model code whose init detaches a grandchild from its worker's process
/// group and session, the way a daemon does (a double fork and `setsid`),
/// and waits until the grandchild wrote its pid to `daemon.pid`.
pub(crate) const DAEMON: &str = "import os, time\n\
                  def init():\n\
                  \x20   if os.fork() == 0:\n\
                  \x20       os.setsid()\n\
                  \x20       if os.fork() == 0:\n\
                  \x20           me = os.readlink('/proc/self')\n\
                  \x20           open('daemon.tmp', 'w').write(me)\n\
                  \x20           os.rename('daemon.tmp', 'daemon.pid')\n\
                  \x20           time.sleep(600)\n\
                  \x20       os._exit(0)\n\
                  \x20   while not os.path.exists('daemon.pid'):\n\
                  \x20       time.sleep(0.01)\n\
                  def score(r):\n\
                  \x20   return r\n";
