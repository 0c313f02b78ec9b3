//! What a run needs to know: the model's functions, the worker's environment,
//! the cancel flag and deadline, where log lines go, and scoring statistics.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The names of the model's functions (`None` when the model has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Functions {
    /// Runs once per worker before anything else; may take the job description.
    pub init: Option<String>,
    /// Scores one record (or one batch when `score_batch`).
    pub score: Option<String>,
    /// Computes metrics over all records at once.
    pub metrics: Option<String>,
    /// Trains on all records and writes files to `outputDir/`.
    pub train: Option<String>,
    /// Whether score takes a pandas DataFrame per batch instead of one record.
    pub score_batch: bool,
}

/// How to start a worker for one model.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The Python interpreter (it must import pyarrow, and pandas for batch
    /// score, metrics and train).
    pub python: PathBuf,
    /// The working directory: the model's module is imported from here, and
    /// training writes `outputDir/` here. The runner writes `keel_worker.py` into it.
    pub workdir: PathBuf,
    /// The model's module name, such as `model` for `model.py`.
    pub module: String,
    /// The model's functions.
    pub functions: Functions,
    /// Extra environment variables for the worker.
    pub env: Vec<(String, String)>,
    /// The job description, passed to `init(job)` when init takes a parameter.
    pub job: serde_json::Value,
    /// The column a score function's bare values (not dicts) are written
    /// to; `prediction` when unset.
    pub output_column: Option<String>,
    /// How the workers are confined and which of Keel's variables they see.
    pub isolation: crate::contain::Isolation,
    /// Where workers are kept after a successful run for the next run of the
    /// same model, and taken from; `None` starts and ends them with the run.
    pub warm: Option<crate::warm::Warm>,
}

/// Stops a run from outside: set `cancel`, or let `deadline` pass. The runner
/// checks both at least every 100 ms.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Set to true to cancel the run.
    pub cancel: Arc<AtomicBool>,
    /// When the run must stop with a timeout.
    pub deadline: Option<Instant>,
    /// The limit the deadline keeps, for the timeout's message.
    pub limit: Option<Duration>,
}

impl Control {
    /// A control with no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// A control whose deadline is `limit` from now.
    pub fn with_timeout(limit: Duration) -> Self {
        Self {
            cancel: Arc::default(),
            deadline: Instant::now().checked_add(limit),
            limit: Some(limit),
        }
    }

    /// True once someone asked to cancel.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Why the run must stop now (a cancel, or the deadline passed), if it must.
    pub fn stop(&self) -> Option<crate::Failure> {
        if self.cancelled() {
            return Some(crate::Failure::Cancelled);
        }
        let deadline = self.deadline?;
        (Instant::now() >= deadline).then(|| crate::Failure::Timeout {
            seconds: self.limit.map_or(0.0, |l| l.as_secs_f64()),
        })
    }
}

/// Receives every line the workers write to stderr (the model's prints and
/// logging): the job's log.
pub trait LogSink: Send + Sync {
    /// One line (without its newline) from worker number `worker` (0-based).
    fn line(&self, worker: usize, line: &str);

    /// One of Keel's own notes about the run (not a model's line).
    fn note(&self, msg: &str) {
        self.line(0, &format!("keel: {msg}"));
    }
}

impl<F: Fn(usize, &str) + Send + Sync> LogSink for F {
    fn line(&self, worker: usize, line: &str) {
        self(worker, line)
    }
}

/// Counts from a finished scoring run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreStats {
    /// Input batches sent to the workers.
    pub batches: u64,
    /// Input records.
    pub records_in: u64,
    /// Output records handed to `on_output`.
    pub records_out: u64,
    /// CPU time the workers used in all.
    pub worker_cpu: Duration,
    /// The part of it spent calling the model's score function.
    pub function_cpu: Duration,
    /// How many of the workers were kept warm from an earlier run.
    pub warm_workers: usize,
}
