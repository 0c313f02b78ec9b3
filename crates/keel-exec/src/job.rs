//! Running one claimed job to its end: prepare its workspace, run its
//! pipeline on a blocking thread, publish, and record the outcome. Whatever
//! path the job takes (success, a model failure, cancellation, shutdown, a
//! panic anywhere, a lost claim) its heartbeat stops when its execution ends
//! and it leaves IN_PROGRESS exactly once, through the fenced `finish_job`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use keel_runner::{Control, Failure};
use keel_store::formats::JobResult;
use keel_store::{Beat, Finish, JobRecord, Lease};
use keel_types::{JobError, JobErrorKind, JobKind};

use crate::jobdoc::{self, Asset};
use crate::log::{JobLog, log_path};
use crate::pipeline::{Progress, Run, failure, internal};
use crate::runtime::ModelCall;
use crate::workspace::{self, load_schema};
use crate::{Executor, FailPoint, definition, publish};

/// Why a job was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Someone cancelled it.
    Cancelled,
    /// This process is shutting down and gives the job back to the queue
    /// for another runner.
    HandBack,
    /// This attempt no longer holds the job (its lease ran out and another
    /// process put it back in the queue or failed it), so nothing this run
    /// does may be recorded.
    Lost,
}

/// Asks one running job to stop. The flag is the one the runtime polls.
#[derive(Clone, Debug, Default)]
pub(crate) struct StopToken {
    flag: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl StopToken {
    /// Asks the job to stop; the first reason given wins.
    pub(crate) fn stop(&self, why: StopReason) {
        if let Ok(mut r) = self.reason.lock()
            && r.is_none()
        {
            *r = Some(why);
        }
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Why the job was asked to stop, if it was.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        self.reason.lock().ok().and_then(|r| *r)
    }
}

impl Executor {
    /// Runs a claimed job to its end and records its outcome. Returns the
    /// job as stored afterwards.
    pub(crate) async fn execute(&self, job: JobRecord, token: StopToken) -> JobRecord {
        let id = job.id;
        let lease = job.lease();
        let progress = Arc::new(Progress::default());
        let started = Instant::now();
        // Dropping the guard stops the heartbeat, even when this task is
        // aborted at shutdown.
        let beating = AbortOnDrop(self.heartbeat(lease, progress.clone(), token.clone()));
        let outcome = AssertUnwindSafe(self.run(&job, progress.clone(), token.clone(), started))
            .catch_unwind()
            .await;
        // The heartbeat ends with the execution, whatever its path.
        drop(beating);
        let counts = progress.snapshot();
        // `None`: the job stopped because this runner gives it back.
        let finish = match outcome {
            Ok(Ok(result)) => Some(Finish::Completed { counts, result }),
            Ok(Err(error))
                if error.kind == JobErrorKind::Cancelled
                    && token.reason() == Some(StopReason::HandBack) =>
            {
                None
            }
            Ok(Err(error)) => Some(if error.kind == JobErrorKind::Cancelled {
                Finish::Stopped { counts, error }
            } else {
                Finish::Failed { counts, error }
            }),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                tracing::error!(job = %id, panic = %what, "a job panicked");
                Some(Finish::Failed {
                    counts,
                    error: JobError::new(
                        JobErrorKind::Internal,
                        format!(
                            "Keel failed while running the job (a bug: {what}); its outputs were not published."
                        ),
                    ),
                })
            }
        };
        match &finish {
            Some(finish) => self.record(&job, finish, started).await,
            None => self.hand_back(lease).await,
        }
        let _ = tokio::fs::remove_dir_all(workspace::workdir(&self.inner.cfg.home, lease)).await;
        match self.inner.stores.jobs.job(id).await {
            Ok(Some(rec)) => rec,
            _ => job,
        }
    }

    /// Records how a job ended. A job whose finish cannot be recorded stays
    /// IN_PROGRESS with its heartbeat stopped, so its lease runs out and the
    /// sweep retries or fails it.
    async fn record(&self, job: &JobRecord, finish: &Finish, started: Instant) {
        let written = self
            .retrying(job.id, "record the job's outcome", || async {
                match self.inner.fail.hit(FailPoint::Finish) {
                    Some(e) => Err(e),
                    None => self.inner.stores.jobs.finish_job(job.lease(), finish).await,
                }
            })
            .await;
        match written {
            Some(true) => {
                tracing::info!(job = %job.id, status = %finish.status(), secs = started.elapsed().as_secs_f64(), "job finished");
            }
            Some(false) => {
                tracing::warn!(job = %job.id, attempt = job.attempt, "this attempt no longer held the job when it finished; its outcome was not recorded");
            }
            None => {}
        }
    }

    /// Gives a job back to the queue from its attempt `lease`; a job that
    /// cannot be given back keeps its lease until it runs out, and is
    /// retried then.
    pub(crate) async fn hand_back(&self, lease: Lease) {
        let given = self
            .retrying(lease.job, "give the job back", || {
                self.inner.stores.jobs.hand_back(lease)
            })
            .await;
        if given == Some(true) {
            tracing::info!(job = %lease.job, "gave the job back to the queue");
        }
    }

    /// Runs a write that ends an attempt, retrying a failing store a few
    /// times with a growing pause. What the write answered, or `None` when
    /// every try failed (the attempt's lease then runs out, and the sweep
    /// retries the job).
    async fn retrying<F, Fut>(&self, job: keel_types::JobId, what: &str, write: F) -> Option<bool>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = keel_store::Result<bool>>,
    {
        for attempt in 1..=FINISH_ATTEMPTS {
            match write().await {
                Ok(done) => return Some(done),
                Err(e) if attempt < FINISH_ATTEMPTS => {
                    tracing::warn!(job = %job, error = %e, attempt, "cannot {what}; retrying");
                    tokio::time::sleep(self.inner.cfg.heartbeat * attempt).await;
                }
                Err(e) => {
                    tracing::error!(job = %job, error = %e, "cannot {what}; its lease will run out and it will be retried");
                }
            }
        }
        None
    }

    /// Publishes the job's counts every heartbeat period and turns a cancel
    /// request, or the loss of the job, into a stop.
    fn heartbeat(
        &self,
        lease: Lease,
        progress: Arc<Progress>,
        token: StopToken,
    ) -> tokio::task::JoinHandle<()> {
        let id = lease.job;
        let this = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(this.inner.cfg.heartbeat);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let beat = match this.inner.fail.hit(FailPoint::Heartbeat) {
                    Some(e) => Err(e),
                    None => {
                        this.inner
                            .stores
                            .jobs
                            .heartbeat(lease, progress.snapshot(), this.inner.cfg.lease_for())
                            .await
                    }
                };
                match beat {
                    Ok(Beat::Continue) => {}
                    Ok(Beat::CancelRequested) => token.stop(StopReason::Cancelled),
                    Ok(Beat::NotRunning) => token.stop(StopReason::Lost),
                    Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
                }
            }
        })
    }

    /// Everything between the claim and the finish.
    async fn run(
        &self,
        job: &JobRecord,
        progress: Arc<Progress>,
        token: StopToken,
        started: Instant,
    ) -> Result<JobResult, JobError> {
        let stores = &self.inner.stores;
        let cfg = &self.inner.cfg;
        let request = &job.request;
        let version = stores
            .registry
            .version_by_id(job.version_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("the job's version vanished"))?;
        let def = definition::from_record(&version.definition).map_err(internal)?;
        let log = Arc::new(
            JobLog::open(
                &log_path(&cfg.home, job.id),
                request.workers > 1,
                cfg.max_log_bytes,
            )
            .map_err(|e| internal(format!("cannot open the job log: {e}")))?,
        );
        log.note(&format!(
            "{} job {} on {} version {}",
            job.kind, job.id, job.model_name, job.version_number
        ));
        if job.attempt > 1 {
            log.note(&format!(
                "attempt {} on {}: an earlier attempt's runner stopped heart-beating or shut down",
                job.attempt,
                job.runner.as_deref().unwrap_or("this runner")
            ));
        }
        let result = async {
            let dir = workspace::workdir(&cfg.home, job.lease());
            let ws = workspace::prepare(
                stores,
                dir,
                &version,
                &def,
                &request.input,
                request.baseline.as_ref(),
            )
            .await?;
            let input_schema = if request.schema_check {
                load_schema(&ws.dir, &def.input_schema)?
            } else {
                None
            };
            // The output schema names the column of bare values and says how
            // outputs are written even when records are not checked.
            let declared_output = load_schema(&ws.dir, &def.output_schema)?.map(|s| {
                match &def.output_column {
                    Some(column) => s.with_value_column(column),
                    None => s,
                }
            });
            let output_column = def.output_column.clone().or_else(|| {
                declared_output
                    .as_ref()
                    .and_then(|s| s.value_column().map(str::to_string))
            });
            let output_schema = if request.schema_check && job.kind == JobKind::Scoring {
                declared_output.clone()
            } else {
                None
            };
            let call = ModelCall {
                job: job.id,
                kind: job.kind,
                def: def.clone(),
                version: job.version_id.to_string(),
                workdir: ws.dir.clone(),
                job_doc: job_document(job, &def, &ws),
                output_column,
            };
            // The limit covers the whole job from its start: building the
            // model's environment and starting its workers too. A limit too
            // large to represent is no limit.
            let limit = request.max_runtime_seconds.map(Duration::from_secs);
            let ctl = Control {
                cancel: token.flag.clone(),
                deadline: limit.and_then(|l| started.checked_add(l)),
                limit,
            };
            let session = {
                let runtime = self.inner.runtime.clone();
                let log = log.clone();
                let ctl = ctl.clone();
                tokio::task::spawn_blocking(move || runtime.prepare(&call, &log.setup(), &ctl))
                    .await
                    .map_err(internal)?
                    .map_err(Failure::into_job_error)?
            };
            let run = Run {
                kind: job.kind,
                request: request.clone(),
                has_metrics_fn: def.functions.metrics.is_some(),
                has_score_fn: def.functions.score.is_some(),
                batch_size: crate::pipeline::batch_size(
                    job.kind == JobKind::Scoring
                        && def.functions.score.as_ref().is_some_and(|f| f.batch),
                ),
                workdir: ws.dir.clone(),
                input: ws.input.clone(),
                input_name: ws.input_name.clone(),
                baseline: ws.baseline.clone(),
                input_schema,
                output_schema,
                declared_output,
                session,
                log: log.clone(),
                progress: progress.clone(),
                ctl,
            };
            let outcome = tokio::task::spawn_blocking(move || run.run())
                .await
                .map_err(|e| internal(format!("the job thread failed: {e}")))??;
            // An attempt that lost the job while it ran must not publish.
            if token.reason() == Some(StopReason::Lost)
                || stores
                    .jobs
                    .heartbeat(job.lease(), progress.snapshot(), cfg.lease_for())
                    .await
                    .map_err(internal)?
                    == Beat::NotRunning
            {
                return Err(failure(
                    JobErrorKind::Internal,
                    "the job was no longer running when it ended, so its outputs were not published",
                ));
            }
            if let Some(panic) = self.inner.fail.panic_at(FailPoint::Publish) {
                panic!("{panic}");
            }
            let (result, registered) =
                publish::publish(stores, job, &version, &ws.dir, outcome).await?;
            if let Some(reg) = registered {
                log.note(&format!(
                    "registered {} version {}{}",
                    reg.model.name,
                    reg.version.number,
                    if reg.created {
                        ""
                    } else {
                        " (unchanged: no new version)"
                    }
                ));
            }
            log.note_dropped();
            let c = progress.snapshot();
            log.note(&format!(
                "completed: {} records read, {} written, {} rejected in {:.2}s",
                c.read,
                c.written,
                c.rejected,
                started.elapsed().as_secs_f64()
            ));
            Ok(result)
        }
        .await;
        if let Err(e) = &result {
            log.note_dropped();
            log.note(&format!("failed: {}", e.message));
        }
        result
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

/// The ModelOp job document of `job`, with its data sets where the model
/// can read them.
fn job_document(
    job: &JobRecord,
    def: &keel_modeldef::ModelDef,
    ws: &workspace::Workspace,
) -> serde_json::Value {
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut inputs = Vec::new();
    if let Some((path, name)) = &ws.baseline {
        inputs.push(Asset::local(name, &absolute(path), "BASELINE_DATA"));
    }
    inputs.push(Asset::local(
        &ws.input_name,
        &absolute(&ws.input),
        jobdoc::input_role(job.kind, ws.baseline.is_some()),
    ));
    let output = job.request.output.as_ref().map(|o| {
        let target = o.target();
        let name = target.rsplit('/').next().unwrap_or(target).to_string();
        Asset {
            name,
            url: target.to_string(),
            role: "OUTPUT_DATA",
        }
    });
    jobdoc::build(job, def, &ws.dir, &inputs, output.as_ref())
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How many times the outcome of a job is written before giving up.
const FINISH_ATTEMPTS: u32 = 5;
