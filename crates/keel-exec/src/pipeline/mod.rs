//! The blocking part of a job: read and check the input, run the model
//! through its runtime session, check its output, and leave everything to
//! publish in the working directory. Scoring, built-in and model metrics, and
//! training each have their room; this module holds what they share.
//!
//! Nothing here is visible to anyone until `publish` commits it.

mod feed;
mod metrics;
mod scoring;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use keel_data::{AvroSchema, OutputFile, ReadOptions};
use keel_runner::{Control, Failure};
use keel_store::Counts;
use keel_store::formats::JobRequest;
use keel_types::{JobError, JobErrorKind, JobKind};

use crate::log::{JobLog, RejectedLog};
use crate::runtime::Session;
pub(crate) use feed::Feed;
pub(crate) use metrics::RECORD;

/// Live record counts of a running job.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Records read from the input.
    pub read: AtomicU64,
    /// Records written to the output.
    pub written: AtomicU64,
    /// Records rejected.
    pub rejected: AtomicU64,
}

impl Progress {
    /// The counts now.
    pub fn snapshot(&self) -> Counts {
        Counts {
            read: self.read.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

/// A job error of `kind`.
pub(crate) fn failure(kind: JobErrorKind, message: impl Into<String>) -> JobError {
    JobError::new(kind, message)
}

/// A failure of Keel itself, as job data.
pub(crate) fn internal(message: impl std::fmt::Display) -> JobError {
    JobError::new(JobErrorKind::Internal, message.to_string())
}

/// Everything the blocking part of a job needs.
pub(crate) struct Run {
    pub(crate) kind: JobKind,
    pub(crate) request: JobRequest,
    pub(crate) has_metrics_fn: bool,
    /// False for a model without a score function, whose built-in metrics
    /// read predictions from the input itself.
    pub(crate) has_score_fn: bool,
    /// Records per input batch (see [`batch_size`]).
    pub(crate) batch_size: usize,
    pub(crate) workdir: PathBuf,
    pub(crate) input: PathBuf,
    pub(crate) input_name: String,
    /// The baseline a two-input metrics function compares the input with.
    pub(crate) baseline: Option<(PathBuf, String)>,
    pub(crate) input_schema: Option<AvroSchema>,
    pub(crate) output_schema: Option<AvroSchema>,
    /// The output schema whether or not records are checked: it says how the
    /// output is written (bare values, JSON-text columns).
    pub(crate) declared_output: Option<AvroSchema>,
    pub(crate) session: Box<dyn Session>,
    pub(crate) log: Arc<JobLog>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) ctl: Control,
}

/// Records per input batch for a run: a batch score function gets 65,536
/// rows per call, because each call has a fixed cost (building a DataFrame,
/// converting the returned one back to Arrow, pandas' metadata) that at
/// 10,000 rows cost more CPU than the model's own predict call; per-record
/// functions and everything else keep 10,000, which bounds the memory of a
/// batch turned into Python dicts (about 1.5 KB a record for 20 columns).
pub(crate) fn batch_size(batch_score_fn: bool) -> usize {
    if batch_score_fn { 65_536 } else { 10_000 }
}

/// What the blocking part produced, before it is published.
pub(crate) enum Produced {
    /// A table written to a local file, not yet visible.
    Table(OutputFile),
    /// A JSON document (metrics).
    Json(serde_json::Value),
    /// Nothing to publish: a training job, whose result is the next version.
    Nothing,
}

/// The products of a run, all still private to the working directory.
pub(crate) struct RunOutcome {
    pub(crate) produced: Produced,
    /// The rejected records, when there were any.
    pub(crate) rejected: Option<PathBuf>,
    /// The scored rows behind built-in metrics, for comparisons.
    pub(crate) scores: Option<PathBuf>,
}

impl Run {
    /// Runs the job's pipeline to the end.
    pub(crate) fn run(self) -> Result<RunOutcome, JobError> {
        let rejected = Mutex::new(RejectedLog::to(self.workdir.join(".keel-rejected.jsonl")));
        let mut feed = Feed::new(self.open_input()?, &self.progress, &rejected);
        self.log.note(&format!(
            "reading {} with {} worker(s), {}",
            self.input_name,
            self.request.workers,
            self.session.describe()
        ));
        let mut scores = None;
        let produced = match self.kind {
            JobKind::Scoring => Produced::Table(self.scoring(&mut feed, &rejected)?),
            JobKind::Metrics => match &self.request.builtin {
                None => Produced::Json(self.model_metrics(&mut feed)?),
                Some(builtin) => {
                    let roles = crate::roles::from_record(builtin)
                        .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
                    let (mut doc, path) = self.builtin_metrics(&roles, &mut feed)?;
                    scores = Some(path);
                    if self.has_metrics_fn {
                        // The model's own metrics run over a second read of
                        // the input, whose rejects the first read logged.
                        let quiet = Mutex::new(RejectedLog::discard());
                        let progress = Progress::default();
                        let mut again = Feed::new(self.open_input()?, &progress, &quiet);
                        let own = self.model_metrics(&mut again)?;
                        if let Some(obj) = doc.as_object_mut() {
                            obj.insert("model_metrics".into(), own);
                        }
                    }
                    Produced::Json(doc)
                }
            },
            JobKind::Training => {
                self.session
                    .train(&mut feed, self.log.as_ref(), &self.ctl)
                    .map_err(Failure::into_job_error)?;
                feed_ok(&mut feed)?;
                Produced::Nothing
            }
        };
        drop(feed);
        let rejected = rejected
            .into_inner()
            .map_err(|_| internal("the rejected-records log is poisoned"))?
            .finish()
            .map_err(|e| internal(format!("cannot write rejected records: {e}")))?;
        Ok(RunOutcome {
            produced,
            rejected,
            scores,
        })
    }

    /// Opens the job's input, checked against the input schema.
    fn open_input(&self) -> Result<keel_data::Chunks, JobError> {
        self.open(&self.input, &self.input_name)
    }

    /// Opens a data file of the job, checked against the input schema.
    fn open(&self, path: &std::path::Path, name: &str) -> Result<keel_data::Chunks, JobError> {
        keel_data::open(
            path,
            &ReadOptions {
                format: self.request.format,
                schema: self.input_schema.clone(),
                batch_size: self.batch_size,
                name: Some(name.to_string()),
                columns: None,
            },
        )
        .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))
    }

    /// Runs the model's own metrics function over `feed`, after the
    /// baseline when the job has one. The baseline's rejected records are
    /// logged with the stage `baseline`; its records are not counted as the
    /// job's reads.
    fn model_metrics(&self, feed: &mut Feed<'_>) -> Result<serde_json::Value, JobError> {
        let value = match &self.baseline {
            None => self
                .session
                .metrics(None, feed, self.log.as_ref(), &self.ctl),
            Some((path, name)) => {
                let progress = Progress::default();
                let mut baseline = Feed::new(self.open(path, name)?, &progress, feed.rejected);
                baseline.stage = "baseline";
                let value =
                    self.session
                        .metrics(Some(&mut baseline), feed, self.log.as_ref(), &self.ctl);
                feed_ok(&mut baseline)?;
                value
            }
        }
        .map_err(Failure::into_job_error)?;
        feed_ok(feed)?;
        Ok(value)
    }
}

impl Run {
    /// Notes in the job's log where the workers' CPU time went, when they
    /// reported it: the model's score function against the rest (reading
    /// batches, building records and DataFrames, converting outputs).
    fn note_cpu(&self, stats: &keel_runner::ScoreStats) {
        if stats.warm_workers > 0 {
            self.log.note(&format!(
                "{} worker{} kept warm from an earlier job of this version (Python and its \
                 libraries already loaded; the model imported and init run afresh)",
                stats.warm_workers,
                if stats.warm_workers == 1 {
                    " was"
                } else {
                    "s were"
                },
            ));
        }
        if stats.worker_cpu.is_zero() {
            return;
        }
        let (all, function) = (
            stats.worker_cpu.as_secs_f64(),
            stats.function_cpu.as_secs_f64(),
        );
        self.log.note(&format!(
            "workers used {all:.2} s of CPU, {function:.2} s of it in the score function ({:.0} %)",
            100.0 * function / all
        ));
    }
}

/// Fails the job when its input ended with a read error.
pub(crate) fn feed_ok(feed: &mut Feed<'_>) -> Result<(), JobError> {
    match feed.error.take() {
        Some(e) => Err(failure(JobErrorKind::InvalidInput, e)),
        None => Ok(()),
    }
}
