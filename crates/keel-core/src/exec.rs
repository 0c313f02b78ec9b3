//! Running one job: materialise the model version into a fresh working
//! directory, read and check the records, drive the Python workers, check and
//! commit the outputs atomically, and record the outcome on the job.
//!
//! A failure of the user's model (it raises, crashes, hangs, is cancelled)
//! becomes data on the job; only a failure of Keel itself is a Rust error.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use keel_api_model as api;
use keel_data::{AvroSchema, OutputFile, ReadOptions, Rejection};
use keel_modeldef::ModelDef;
use keel_runner::{Control, Failure, Functions, LogSink, WorkerSpec};
use keel_store::{JobRecord, blob_key};
use keel_types::{DataFormat, JobError, JobErrorKind, JobId, JobKind, JobStatus};
use serde::{Deserialize, Serialize};

use crate::jobs::{local_path, output_key, rejected_key};
use crate::{Error, Keel, Result, views};

/// What a job was asked to do, stored with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct JobSpec {
    pub input: api::Input,
    pub output: Option<api::Output>,
    pub format: Option<DataFormat>,
    pub workers: u32,
    pub max_runtime_seconds: Option<u64>,
    pub schema_check: bool,
    /// The built-in metrics a metrics job computes, if any.
    #[serde(default)]
    pub builtin: Option<crate::quality::Builtin>,
}

/// Live record counts of a running job.
#[derive(Debug, Default)]
pub struct Progress {
    /// Records read from the input.
    pub read: AtomicU64,
    /// Records written to the output.
    pub written: AtomicU64,
    /// Records rejected.
    pub rejected: AtomicU64,
}

impl Progress {
    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.read.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        )
    }
}

/// The job's log file: every worker line, and Keel's own notes prefixed `keel:`.
struct JobLog {
    file: Mutex<BufWriter<File>>,
    multi: bool,
}

impl JobLog {
    fn note(&self, msg: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "keel: {msg}");
            let _ = f.flush();
        }
    }
}

impl LogSink for JobLog {
    fn line(&self, worker: usize, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = if self.multi {
                writeln!(f, "[worker {worker}] {line}")
            } else {
                writeln!(f, "{line}")
            };
            let _ = f.flush();
        }
    }
}

/// Rejected records, appended as JSON lines with the stage that rejected them.
struct RejectedLog {
    /// Where to write; `None` discards (a second read of input already logged).
    path: Option<PathBuf>,
    out: Option<BufWriter<File>>,
}

impl RejectedLog {
    fn push(&mut self, stage: &str, r: &Rejection) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.out.is_none() {
            self.out = Some(BufWriter::new(File::create(path)?));
        }
        if let Some(out) = self.out.as_mut() {
            let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("stage".into(), stage.into());
            }
            serde_json::to_writer(&mut *out, &v)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<Option<PathBuf>> {
        match self.out.take() {
            Some(mut out) => {
                out.flush()?;
                Ok(self.path)
            }
            None => Ok(None),
        }
    }
}

/// A look at each chunk before its batch is handed out.
type Tap<'a> = Box<dyn FnMut(&keel_data::Chunk) -> std::result::Result<(), String> + 'a>;

/// Adapts the reader's chunks to the plain batch iterator the runner wants:
/// rejected records go to the rejected log, and a read error ends the input
/// and is kept so that the job fails after the workers stop.
struct Feed<'a> {
    chunks: keel_data::Chunks,
    progress: &'a Progress,
    rejected: &'a Mutex<RejectedLog>,
    error: Option<String>,
    /// Sees every chunk that passes rows on, before its batch is handed out;
    /// an error ends the input like a read error.
    tap: Option<Tap<'a>>,
}

impl Iterator for Feed<'_> {
    type Item = RecordBatch;
    fn next(&mut self) -> Option<RecordBatch> {
        if self.error.is_some() {
            return None;
        }
        loop {
            match self.chunks.next()? {
                Ok(chunk) => {
                    self.progress
                        .read
                        .fetch_add(chunk.records_read, Ordering::Relaxed);
                    if !chunk.rejected.is_empty() {
                        self.progress
                            .rejected
                            .fetch_add(chunk.rejected.len() as u64, Ordering::Relaxed);
                        let Ok(mut log) = self.rejected.lock() else {
                            self.error = Some("the rejected-records log is poisoned".into());
                            return None;
                        };
                        for r in &chunk.rejected {
                            if let Err(e) = log.push("input", r) {
                                self.error = Some(format!("cannot write rejected records: {e}"));
                                return None;
                            }
                        }
                    }
                    if chunk.batch.num_rows() > 0 {
                        if let Some(tap) = self.tap.as_mut()
                            && let Err(e) = tap(&chunk)
                        {
                            self.error = Some(e);
                            return None;
                        }
                        return Some(chunk.batch);
                    }
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return None;
                }
            }
        }
    }
}

/// Everything the blocking part of a job needs.
struct Run {
    id: JobId,
    kind: JobKind,
    spec: JobSpec,
    def: ModelDef,
    workdir: PathBuf,
    input: PathBuf,
    input_name: String,
    python: PathBuf,
    input_schema: Option<AvroSchema>,
    output_schema: Option<AvroSchema>,
    log: Arc<JobLog>,
    progress: Arc<Progress>,
    ctl: Control,
}

/// What the blocking part produced, before it is published.
enum Produced {
    /// A table written to a local file, not yet visible.
    Table(OutputFile),
    /// A JSON document (metrics).
    Json(serde_json::Value),
    /// Nothing to publish: a training job, whose result is the next version.
    Nothing,
}

struct RunOutcome {
    produced: Produced,
    rejected: Option<PathBuf>,
    /// The scored rows behind built-in metrics, for comparisons.
    scores: Option<PathBuf>,
}

fn failure(kind: JobErrorKind, message: impl Into<String>) -> JobError {
    JobError::new(kind, message)
}

impl Keel {
    /// Claims the PENDING job `id` and runs it to the end in this process
    /// (the CLI's embedded mode). Returns the finished job.
    pub async fn run_job(&self, id: JobId) -> Result<api::Job> {
        match self
            .store
            .claim_job(Some(id), &self.cfg.runner_name, chrono::Utc::now())
            .await?
        {
            Some(rec) => self.execute(rec).await,
            // Someone else claimed it, or it was cancelled before it started.
            None => self.job(id).await,
        }
    }

    /// Runs queued jobs until `shutdown` turns true, at most `concurrency` at a time.
    pub async fn run_queue(
        &self,
        concurrency: usize,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut running = tokio::task::JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while running.len() < concurrency.max(1) {
                match self
                    .store
                    .claim_job(None, &self.cfg.runner_name, chrono::Utc::now())
                    .await
                {
                    Ok(Some(rec)) => {
                        let k = self.clone();
                        running.spawn(async move {
                            let id = rec.id;
                            if let Err(e) = k.execute(rec).await {
                                tracing::error!(job = %id, error = %e, "job execution failed");
                            }
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim a job");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = shutdown.changed() => {}
            }
        }
        // Stop what still runs: cancel each, then wait for them to record it.
        running.abort_all();
        while running.join_next().await.is_some() {}
    }

    /// Runs a claimed (IN_PROGRESS) job and records its outcome.
    pub async fn execute(&self, rec: JobRecord) -> Result<api::Job> {
        let id = rec.id;
        let progress = Arc::new(Progress::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();

        // The heartbeat publishes counts and notices a cancel request.
        let hb = {
            let store = self.store.clone();
            let progress = progress.clone();
            let cancel = cancel.clone();
            let done = done.clone();
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let (r, w, j) = progress.snapshot();
                    match store.heartbeat(id, r, w, j, chrono::Utc::now()).await {
                        Ok(true) => cancel.store(true, Ordering::Relaxed),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };

        let outcome = self
            .execute_inner(&rec, progress.clone(), cancel.clone(), started)
            .await;
        done.store(true, Ordering::Relaxed);
        hb.abort();

        let counts = progress.snapshot();
        let (status, error, result) = match outcome {
            Ok(result) => (JobStatus::Completed, None, Some(result)),
            Err(e) => {
                let status = if e.kind == JobErrorKind::Cancelled {
                    JobStatus::Stopped
                } else {
                    JobStatus::Failed
                };
                (status, Some(e), None)
            }
        };
        let result_json = result
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| Error::Internal(format!("cannot serialise a job result: {e}")))?;
        self.store
            .finish_job(
                id,
                status,
                counts,
                error.as_ref(),
                result_json.as_ref(),
                chrono::Utc::now(),
            )
            .await?;
        tracing::info!(job = %id, status = %status, secs = started.elapsed().as_secs_f64(), "job finished");
        let workdir = self.cfg.home.join("work").join(id.to_string());
        let _ = tokio::fs::remove_dir_all(&workdir).await;
        self.job(id).await
    }

    async fn execute_inner(
        &self,
        rec: &JobRecord,
        progress: Arc<Progress>,
        cancel: Arc<AtomicBool>,
        started: Instant,
    ) -> std::result::Result<api::JobResult, JobError> {
        let internal = |e: Error| failure(JobErrorKind::Internal, e.to_string());
        let spec: JobSpec = serde_json::from_value(rec.spec.clone())
            .map_err(|e| failure(JobErrorKind::Internal, format!("bad job spec: {e}")))?;
        let version = self
            .store
            .version_by_id(rec.version_id)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| failure(JobErrorKind::Internal, "the job's version vanished"))?;
        let def = views::definition(&version).map_err(internal)?;

        let log_path = self.log_path(rec.id);
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| {
                failure(
                    JobErrorKind::Internal,
                    format!("cannot open the job log: {e}"),
                )
            })?;
        let log = Arc::new(JobLog {
            file: Mutex::new(BufWriter::new(log_file)),
            multi: spec.workers > 1,
        });
        log.note(&format!(
            "{} job {} on {} version {}",
            rec.kind, rec.id, rec.model_name, rec.version_number
        ));

        // A fresh working directory holding the version's files, archives extracted.
        let workdir = self.cfg.home.join("work").join(rec.id.to_string());
        let _ = tokio::fs::remove_dir_all(&workdir).await;
        tokio::fs::create_dir_all(&workdir).await.map_err(|e| {
            failure(
                JobErrorKind::Internal,
                format!("cannot create the working directory: {e}"),
            )
        })?;
        for f in &version.files {
            let dest = workdir.join(&f.path);
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
            }
            self.artifacts
                .get_to_file(&blob_key(&f.sha256), &dest)
                .await
                .map_err(|e| internal(e.into()))?;
        }
        {
            let def = def.clone();
            let wd = workdir.clone();
            tokio::task::spawn_blocking(move || keel_modeldef::materialize(&def, &wd, &wd))
                .await
                .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?
                .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
        }

        let (input, input_name) = match &spec.input {
            api::Input::Upload { upload_id, .. } => self
                .upload_path((*upload_id).into())
                .await
                .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?,
            api::Input::Path { uri } => {
                let p = local_path(uri)
                    .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| uri.clone());
                (p, name)
            }
        };

        let load_schema =
            |rel: &Option<String>| -> std::result::Result<Option<AvroSchema>, JobError> {
                match rel {
                    Some(rel) if spec.schema_check => {
                        let text = std::fs::read_to_string(workdir.join(rel)).map_err(|e| {
                            failure(
                                JobErrorKind::Internal,
                                format!("cannot read schema {rel}: {e}"),
                            )
                        })?;
                        AvroSchema::parse(&text, rel)
                            .map(Some)
                            .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))
                    }
                    _ => Ok(None),
                }
            };
        let input_schema = load_schema(&def.input_schema)?;
        let output_schema = if rec.kind == JobKind::Scoring {
            load_schema(&def.output_schema)?
        } else {
            None
        };

        let python = if let Some(p) = &self.cfg.python {
            p.clone()
        } else {
            let reqs = def.platform.requirements.clone();
            let pyver = def.platform.python_version.clone();
            let envs = self.cfg.home.join("envs");
            let log = log.clone();
            tokio::task::spawn_blocking(move || {
                keel_runner::python_for_platform(&reqs, pyver.as_deref(), &envs, log.as_ref())
            })
            .await
            .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?
            .map_err(Failure::into_job_error)?
        };

        let deadline = spec
            .max_runtime_seconds
            .map(|s| started + Duration::from_secs(s));
        let run = Run {
            id: rec.id,
            kind: rec.kind,
            spec: spec.clone(),
            def: def.clone(),
            workdir: workdir.clone(),
            input,
            input_name,
            python,
            input_schema,
            output_schema,
            log: log.clone(),
            progress: progress.clone(),
            ctl: Control { cancel, deadline },
        };
        let outcome = tokio::task::spawn_blocking(move || run.run())
            .await
            .map_err(|e| {
                failure(
                    JobErrorKind::Internal,
                    format!("the job thread failed: {e}"),
                )
            })?;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                log.note(&format!("failed: {}", e.message));
                return Err(e);
            }
        };

        // Publish: rejected records, scored rows, then the output, then
        // (training) the new version.
        let mut result = api::JobResult::default();
        if let Some(path) = &outcome.scores {
            self.artifacts
                .put_file(&crate::quality::scores_key(rec.id), path)
                .await
                .map_err(|e| internal(e.into()))?;
        }
        if let Some(path) = &outcome.rejected {
            self.artifacts
                .put_file(&rejected_key(rec.id), path)
                .await
                .map_err(|e| internal(e.into()))?;
            result.has_rejected = true;
        }
        match (outcome.produced, &spec.output) {
            (Produced::Table(file), Some(api::Output::Embedded { name })) => {
                let tmp = file
                    .commit()
                    .map_err(|e| internal(e.into()))
                    .map(|_| workdir.join(".keel-out").join(name))?;
                self.artifacts
                    .put_file(&output_key(rec.id, name), &tmp)
                    .await
                    .map_err(|e| internal(e.into()))?;
                result.output = spec.output.clone();
                result.output_format = DataFormat::from_name(name).map(|f| f.to_string());
            }
            (Produced::Table(file), Some(api::Output::External { uri })) => {
                file.commit().map_err(|e| internal(e.into()))?;
                result.output = spec.output.clone();
                result.output_format = DataFormat::from_name(uri).map(|f| f.to_string());
            }
            (Produced::Json(value), out) => {
                let text = serde_json::to_vec_pretty(&value)
                    .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
                match out {
                    Some(api::Output::Embedded { name }) => {
                        self.artifacts
                            .put_bytes(&output_key(rec.id, name), text.clone().into())
                            .await
                            .map_err(|e| internal(e.into()))?;
                    }
                    Some(api::Output::External { uri }) => {
                        let path = local_path(uri)
                            .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
                        write_atomic(&path, &text).map_err(|e| {
                            failure(
                                JobErrorKind::Internal,
                                format!("cannot write {}: {e}", path.display()),
                            )
                        })?;
                    }
                    None => {}
                }
                result.output = out.clone();
                result.output_format = out.as_ref().map(|_| "json".to_string());
                result.metrics = Some(value);
            }
            _ => {}
        }
        if rec.kind == JobKind::Training {
            let reg = self
                .register_trained(rec, &version, &workdir)
                .await
                .map_err(|e| match e {
                    Error::Model(m) => failure(
                        JobErrorKind::UserError,
                        format!("The trained model is not a valid model: {m}"),
                    ),
                    Error::InvalidArgument(m) => failure(JobErrorKind::UserError, m),
                    other => internal(other),
                })?;
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
            result.produced_version = Some(reg.version.number);
            result.produced_version_id = Some(reg.version.id);
        }
        let (r, w, j) = progress.snapshot();
        log.note(&format!(
            "completed: {r} records read, {w} written, {j} rejected in {:.2}s",
            started.elapsed().as_secs_f64()
        ));
        Ok(result)
    }

    /// Registers what a training job produced: the trained version's files,
    /// with what train wrote to `outputDir/` as new attachments (replacing
    /// attachments of the same name; other attachments are kept).
    async fn register_trained(
        &self,
        rec: &JobRecord,
        version: &keel_store::VersionRecord,
        workdir: &Path,
    ) -> Result<api::Registration> {
        let out_dir = workdir.join("outputDir");
        let staging = self
            .cfg
            .home
            .join("work")
            .join(format!("{}.trained", rec.id));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .map_err(Error::io("cannot create a staging directory"))?;
        let produced = list_files(&out_dir)?;
        if produced.is_empty() {
            return Err(Error::InvalidArgument(
                "train() wrote no files to outputDir/, so there is nothing to make a new version of. Write the trained artifacts to outputDir/.".to_string(),
            ));
        }
        for f in &version.files {
            if produced.iter().any(|p| p == &f.path) {
                continue;
            }
            let dest = staging.join(&f.path);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io("cannot stage a file"))?;
            }
            self.artifacts
                .get_to_file(&blob_key(&f.sha256), &dest)
                .await?;
        }
        for rel in &produced {
            let dest = staging.join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io("cannot stage a file"))?;
            }
            std::fs::copy(out_dir.join(rel), &dest)
                .map_err(Error::io(format!("cannot copy outputDir/{rel}")))?;
        }
        let def = keel_modeldef::inspect(&staging, &[])?;
        let origins: HashMap<String, PathBuf> = def
            .files
            .iter()
            .map(|f| (f.path.clone(), staging.join(&f.path)))
            .collect();
        let reg = self
            .register_def(&rec.model_name, def, &origins, Some(rec.id))
            .await;
        let _ = std::fs::remove_dir_all(&staging);
        reg
    }
}

/// Relative paths of the regular files under `dir` (none if it does not exist).
/// Links are refused: a model must not smuggle one into a version.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).map_err(Error::io(format!("cannot list {}", d.display())))?
        {
            let entry = entry.map_err(Error::io("cannot list outputDir"))?;
            let ft = entry
                .file_type()
                .map_err(Error::io("cannot list outputDir"))?;
            let path = entry.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            } else {
                return Err(Error::InvalidArgument(format!(
                    "train() left {} in outputDir/, which is not a regular file; Keel does not follow links.",
                    path.display()
                )));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `bytes` to `path` through a temp file and a rename, so readers see
/// either nothing or the whole file.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = dir.join(format!(".{name}.keel-tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Run {
    fn run(self) -> std::result::Result<RunOutcome, JobError> {
        let functions = &self.def.functions;
        let spec = WorkerSpec {
            python: self.python.clone(),
            workdir: self.workdir.clone(),
            module: self.def.module.clone(),
            functions: Functions {
                init: functions.init.as_ref().map(|f| f.name.clone()),
                score: functions.score.as_ref().map(|f| f.name.clone()),
                metrics: functions.metrics.as_ref().map(|f| f.name.clone()),
                train: functions.train.as_ref().map(|f| f.name.clone()),
                score_batch: functions.score.as_ref().is_some_and(|f| f.batch),
            },
            env: vec![("KEEL_JOB_ID".into(), self.id.to_string())],
            job: serde_json::json!({
                "id": self.id.to_string(),
                "kind": self.kind.as_str(),
                "input": self.input_name,
                "jobParameters": {},
            }),
        };
        let chunks = self.open_input()?;
        let rejected = Mutex::new(RejectedLog {
            path: Some(self.workdir.join(".keel-rejected.jsonl")),
            out: None,
        });
        let mut feed = Feed {
            chunks,
            progress: &self.progress,
            rejected: &rejected,
            error: None,
            tap: None,
        };
        let mut scores = None;
        let log: &dyn LogSink = self.log.as_ref();
        self.log.note(&format!(
            "reading {} with {} worker(s), python {}",
            self.input_name,
            self.spec.workers,
            self.python.display()
        ));

        let produced = match self.kind {
            JobKind::Scoring => {
                let mut outputs: Vec<RecordBatch> = Vec::new();
                let mut out_rejects: Vec<Rejection> = Vec::new();
                let mut next_out_record = 1u64;
                let progress = self.progress.clone();
                let output_schema = self.output_schema.clone();
                let mut on_output =
                    |_seq: u64, batches: Vec<RecordBatch>| -> std::result::Result<(), String> {
                        for b in batches {
                            let rows = b.num_rows() as u64;
                            let (good, bad) = match &output_schema {
                                Some(s) => keel_data::check_batch(&b, s, next_out_record),
                                None => (b, Vec::new()),
                            };
                            next_out_record += rows;
                            progress
                                .written
                                .fetch_add(good.num_rows() as u64, Ordering::Relaxed);
                            progress
                                .rejected
                                .fetch_add(bad.len() as u64, Ordering::Relaxed);
                            out_rejects.extend(bad);
                            if good.num_rows() > 0 {
                                outputs.push(good);
                            }
                        }
                        Ok(())
                    };
                keel_runner::run_scoring(
                    &spec,
                    self.spec.workers as usize,
                    &mut feed,
                    &mut on_output,
                    log,
                    &self.ctl,
                )
                .map_err(Failure::into_job_error)?;
                if let Some(e) = feed.error.take() {
                    return Err(failure(JobErrorKind::InvalidInput, e));
                }
                {
                    let mut rj = rejected
                        .lock()
                        .map_err(|_| failure(JobErrorKind::Internal, "rejected log poisoned"))?;
                    for r in &out_rejects {
                        rj.push("output", r)
                            .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
                    }
                }
                Produced::Table(self.write_table(outputs)?)
            }
            JobKind::Metrics => match self.spec.builtin.clone() {
                None => {
                    let value = keel_runner::run_metrics(&spec, &mut feed, log, &self.ctl)
                        .map_err(Failure::into_job_error)?;
                    if let Some(e) = feed.error.take() {
                        return Err(failure(JobErrorKind::InvalidInput, e));
                    }
                    Produced::Json(value)
                }
                Some(builtin) => {
                    let (mut doc, path) = self.builtin_metrics(&builtin, &spec, &mut feed)?;
                    scores = Some(path);
                    if self.def.functions.metrics.is_some() {
                        let own = self.own_metrics(&spec)?;
                        if let Some(obj) = doc.as_object_mut() {
                            obj.insert("model_metrics".into(), own);
                        }
                    }
                    Produced::Json(doc)
                }
            },
            JobKind::Training => {
                keel_runner::run_training(&spec, &mut feed, log, &self.ctl)
                    .map_err(Failure::into_job_error)?;
                if let Some(e) = feed.error.take() {
                    return Err(failure(JobErrorKind::InvalidInput, e));
                }
                Produced::Nothing
            }
        };
        drop(feed);
        let rejected = rejected
            .into_inner()
            .map_err(|_| failure(JobErrorKind::Internal, "rejected log poisoned"))?
            .finish()
            .map_err(|e| {
                failure(
                    JobErrorKind::Internal,
                    format!("cannot write rejected records: {e}"),
                )
            })?;
        Ok(RunOutcome {
            produced,
            rejected,
            scores,
        })
    }

    /// Scores the input through the model and computes Keel's built-in
    /// metrics over the label and the model's output. Returns the metrics
    /// document and the scored rows, written to a Parquet file.
    fn builtin_metrics(
        &self,
        builtin: &crate::quality::Builtin,
        spec: &WorkerSpec,
        feed: &mut Feed<'_>,
    ) -> std::result::Result<(serde_json::Value, PathBuf), JobError> {
        use std::cell::RefCell;
        use std::collections::VecDeque;
        use std::rc::Rc;

        let carried_columns = builtin.input_columns();
        // Input batches' carried columns and record numbers, oldest first,
        // waiting for their outputs (which come back in input order).
        type Carried = (RecordBatch, Vec<u64>);
        let pending: Rc<RefCell<VecDeque<Carried>>> = Rc::default();
        {
            let pending = pending.clone();
            let columns = carried_columns.clone();
            feed.tap = Some(Box::new(move |chunk: &keel_data::Chunk| {
                let carried = crate::quality::carry(&chunk.batch, &columns)?;
                pending
                    .borrow_mut()
                    .push_back((carried, crate::quality::good_records(chunk)));
                Ok(())
            }));
        }
        let mut scored: Vec<RecordBatch> = Vec::new();
        let progress = self.progress.clone();
        let mut on_output =
            |_seq: u64, outs: Vec<RecordBatch>| -> std::result::Result<(), String> {
                let (carried, records) = pending
                    .borrow_mut()
                    .pop_front()
                    .ok_or("an output arrived for no input")?;
                let joined = crate::quality::join_scored(&carried, &records, &outs)?;
                progress
                    .written
                    .fetch_add(joined.num_rows() as u64, Ordering::Relaxed);
                scored.push(joined);
                Ok(())
            };
        let run = keel_runner::run_scoring(
            spec,
            self.spec.workers.max(1) as usize,
            feed,
            &mut on_output,
            self.log.as_ref(),
            &self.ctl,
        );
        if let Some(e) = feed.error.take() {
            return Err(failure(JobErrorKind::InvalidInput, e));
        }
        run.map_err(|f| {
            let mut e = f.into_job_error();
            if e.kind == JobErrorKind::Internal
                && e.message.contains("one output record per input record")
            {
                e.kind = JobErrorKind::UserError;
            }
            e
        })?;
        let invalid = |e: String| failure(JobErrorKind::InvalidInput, e);
        let metrics_spec = builtin.spec(&scored).map_err(|e| invalid(e.to_string()))?;
        self.log.note(&format!(
            "built-in {} metrics over {} scored records (label '{}'{}{})",
            metrics_spec.problem_type,
            scored.iter().map(|b| b.num_rows()).sum::<usize>(),
            metrics_spec.label,
            metrics_spec
                .probability
                .as_ref()
                .map(|p| format!(", probability '{p}' > {}", metrics_spec.threshold))
                .unwrap_or_default(),
            metrics_spec
                .prediction
                .as_ref()
                .map(|p| format!(", prediction '{p}'"))
                .unwrap_or_default(),
        ));
        let doc = keel_metrics::report::evaluate(&scored, &metrics_spec)
            .map_err(|e| invalid(format!("cannot compute the built-in metrics: {e}")))?;
        let path = self.workdir.join(".keel-scores.parquet");
        let batches =
            keel_data::unify(scored).map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
        let mut file = OutputFile::create(&path, DataFormat::Parquet)
            .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
        for b in &batches {
            file.write(b)
                .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
        }
        file.commit()
            .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
        Ok((doc, path))
    }

    /// Opens the job's input, checked against the input schema.
    fn open_input(&self) -> std::result::Result<keel_data::Chunks, JobError> {
        keel_data::open(
            &self.input,
            &ReadOptions {
                format: self.spec.format,
                schema: self.input_schema.clone(),
                batch_size: 10_000,
                name: Some(self.input_name.clone()),
                columns: None,
            },
        )
        .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))
    }

    /// Runs the model's own metrics function over a second read of the input.
    fn own_metrics(&self, spec: &WorkerSpec) -> std::result::Result<serde_json::Value, JobError> {
        let chunks = self.open_input()?;
        // The first read already counted and logged the rejected records.
        let progress = Progress::default();
        let rejected = Mutex::new(RejectedLog {
            path: None,
            out: None,
        });
        let mut feed = Feed {
            chunks,
            progress: &progress,
            rejected: &rejected,
            error: None,
            tap: None,
        };
        let value = keel_runner::run_metrics(spec, &mut feed, self.log.as_ref(), &self.ctl)
            .map_err(Failure::into_job_error)?;
        if let Some(e) = feed.error.take() {
            return Err(failure(JobErrorKind::InvalidInput, e));
        }
        Ok(value)
    }

    /// Writes the scored batches to a not-yet-visible output file.
    fn write_table(&self, outputs: Vec<RecordBatch>) -> std::result::Result<OutputFile, JobError> {
        let internal = |e: keel_data::Error| failure(JobErrorKind::Internal, e.to_string());
        let (target, name) = match &self.spec.output {
            Some(api::Output::Embedded { name }) => {
                let dir = self.workdir.join(".keel-out");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| failure(JobErrorKind::Internal, e.to_string()))?;
                (dir.join(name), name.clone())
            }
            Some(api::Output::External { uri }) => (
                local_path(uri).map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?,
                uri.clone(),
            ),
            None => {
                return Err(failure(
                    JobErrorKind::Internal,
                    "a scoring job without an output",
                ));
            }
        };
        let format = DataFormat::from_name(&name)
            .ok_or_else(|| failure(JobErrorKind::InvalidInput, format!("no format for {name}")))?;
        let batches = if outputs.is_empty() {
            let schema = self
                .output_schema
                .as_ref()
                .map(|s| Arc::new(s.to_arrow()))
                .unwrap_or_else(|| Arc::new(arrow_schema::Schema::empty()));
            vec![RecordBatch::new_empty(schema)]
        } else {
            keel_data::unify(outputs).map_err(internal)?
        };
        let mut file = OutputFile::create(&target, format).map_err(|e| {
            failure(
                JobErrorKind::InvalidInput,
                format!("cannot create the output: {e}"),
            )
        })?;
        for b in &batches {
            file.write(b).map_err(internal)?;
        }
        Ok(file)
    }
}
