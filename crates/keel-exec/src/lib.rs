//! Keel's execution plane: everything that happens to a job after it is
//! queued. The [`Executor`] claims jobs (the server's loop, or one job in the
//! CLI's embedded mode), prepares each job's working directory, runs its
//! pipeline (scoring, built-in and model metrics, training) through a
//! [`Runtime`], publishes its outputs atomically, registers a training job's
//! new version, records the outcome, and decides comparisons whose jobs have
//! finished.
//!
//! Threading: the executor is async (tokio); the pipelines and runtimes are
//! blocking and run on blocking threads. Each running job has a stop token
//! (cancel, shutdown, or the loss of its claim) and a heartbeat that renews
//! its lease and ends with its execution; every write of its outcome is fenced
//! by its attempt. Time comes from the stores' injected clock.
//!
//! **Architecture invariant:** no model code runs in this process; runtimes
//! start it elsewhere (Python worker processes, and later Spark).

mod comparisons;
pub mod definition;
mod error;
mod fail;
mod job;
pub mod jobdoc;
mod log;
mod monitoring;
mod pipeline;
mod publish;
mod queue;
pub mod registration;
pub mod roles;
mod runtime;
mod trained;
mod workspace;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_store::{JobRecord, Lease, Stores};
use keel_types::JobId;

pub use error::{Error, Result};
pub use fail::FailPoint;
pub use keel_runner::{Containment, Control, Installer, Isolation, PythonSetup, WarmPool};
pub use log::{DEFAULT_MAX_LOG_BYTES, log_path};
pub use runtime::{ModelCall, OnOutput, PythonRuntime, Runtime, Session};
pub use workspace::{local_path, workdir_job};

use fail::FailPoints;
use job::StopToken;

/// How an executor is set up.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// The local data directory: job logs, working directories, Python environments.
    pub home: PathBuf,
    /// A name for this process in job records (`runner`).
    pub runner_name: String,
    /// How often a running job's heartbeat is written.
    pub heartbeat: Duration,
    /// How long a claim holds its job without a heartbeat: a runner silent
    /// this long has lost the job, which goes back to the queue.
    pub lease: Duration,
    /// How often the job loop looks for leases that ran out.
    pub sweep: Duration,
    /// How often the job loop looks for monitoring ticks that are due.
    pub monitor_tick: Duration,
    /// How soon after an alert resolved a new violation of its metric
    /// reopens it instead of opening another.
    pub alert_cooldown: chrono::Duration,
    /// How far back late labels are looked for: executions created longer
    /// ago are not revised.
    pub late_label_lookback: chrono::Duration,
    /// How long shutdown lets running jobs finish before it gives them back
    /// to the queue.
    pub shutdown_grace: Duration,
    /// The most bytes one job's log may hold; later lines are dropped.
    pub max_log_bytes: u64,
}

impl ExecConfig {
    /// The defaults for a data directory: a 300 ms heartbeat, a 10 s lease
    /// swept for every second, 10 s grace.
    pub fn new(home: impl Into<PathBuf>, runner_name: impl Into<String>) -> Self {
        ExecConfig {
            home: home.into(),
            runner_name: runner_name.into(),
            heartbeat: Duration::from_millis(300),
            lease: DEFAULT_LEASE,
            sweep: Duration::from_secs(1),
            monitor_tick: Duration::from_secs(5),
            alert_cooldown: chrono::Duration::hours(1),
            late_label_lookback: chrono::Duration::days(7),
            shutdown_grace: Duration::from_secs(10),
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
        }
    }
}

/// How long a claim holds its job without a heartbeat, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

impl ExecConfig {
    /// The lease as the stores measure time; one too long to represent
    /// stays too long, so the store refuses it with a clear error.
    pub(crate) fn lease_for(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX)
    }
}

/// Runs jobs. Cloning is cheap: clones share the running jobs.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    cfg: ExecConfig,
    runtime: Arc<dyn Runtime>,
    wake: tokio::sync::Notify,
    running: Mutex<HashMap<JobId, (StopToken, Lease)>>,
    /// When the job loop last looked for late labels.
    last_revisit: Mutex<Option<std::time::Instant>>,
    fail: FailPoints,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("home", &self.inner.cfg.home)
            .field("runtime", &self.inner.runtime)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor over `stores`, running models on `runtime`.
    pub fn new(stores: Stores, cfg: ExecConfig, runtime: Arc<dyn Runtime>) -> Executor {
        Executor {
            inner: Arc::new(Inner {
                stores,
                cfg,
                runtime,
                wake: tokio::sync::Notify::new(),
                running: Mutex::new(HashMap::new()),
                last_revisit: Mutex::new(None),
                fail: FailPoints::default(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ExecConfig {
        &self.inner.cfg
    }

    /// Tells the job loop that there is new work (a job or a comparison).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Claims the PENDING job `id` and runs it to its end in this task (the
    /// CLI's embedded mode), then decides the comparisons it completes.
    /// `None` when the job could not be claimed (it runs elsewhere, or was
    /// cancelled before it started).
    pub async fn run_job(&self, id: JobId) -> Result<Option<JobRecord>> {
        let Some(job) = self
            .inner
            .stores
            .jobs
            .claim_job(
                Some(id),
                &self.inner.cfg.runner_name,
                self.inner.cfg.lease_for(),
            )
            .await?
        else {
            return Ok(None);
        };
        let token = StopToken::default();
        let done = self.execute(job, token).await;
        self.settle_comparisons().await?;
        Ok(Some(done))
    }

    /// Arms a failure point, for the queue harness.
    #[cfg(test)]
    pub(crate) fn fail_at(&self, point: FailPoint, times: u32) {
        self.inner.fail.arm(point, times);
    }
}
