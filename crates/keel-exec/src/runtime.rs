//! Where model code runs. The pipelines call a [`Runtime`] through a
//! [`Session`]; [`PythonRuntime`] runs Python workers (`keel-runner`), and a
//! Spark runtime will be the second. Tests use a runtime written in Rust.
//!
//! Everything here is blocking: the executor calls it on a blocking thread.

use std::fmt::Debug;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use keel_modeldef::ModelDef;
use keel_runner::{
    Control, Failure, Functions, Isolation, LogSink, PythonSetup, ScoreStats, Warm, WarmPool,
    WorkerSpec,
};
use keel_types::{JobId, JobKind};

/// Which model a job runs, and where.
#[derive(Clone, Debug)]
pub struct ModelCall {
    /// The job.
    pub job: JobId,
    /// What the job does.
    pub kind: JobKind,
    /// The model's definition.
    pub def: ModelDef,
    /// The version's id: warm workers serve only jobs of the version they ran.
    pub version: String,
    /// The working directory holding the model's files (archives extracted).
    pub workdir: PathBuf,
    /// The job document a one-parameter `init` receives (see `jobdoc`).
    pub job_doc: serde_json::Value,
    /// The column a score function's bare values go to, when not `prediction`.
    pub output_column: Option<String>,
}

/// The output callback of a scoring run: each input batch's output rows,
/// strictly in input order.
pub type OnOutput<'a> = dyn FnMut(u64, Vec<RecordBatch>) -> Result<(), String> + 'a;

/// A place model code can run.
pub trait Runtime: Send + Sync + Debug {
    /// Gets ready to run the model of `call` (for Python: finds or builds the
    /// virtual environment of its platform), stopping when `ctl` says so. A
    /// failure is the job's.
    fn prepare(
        &self,
        call: &ModelCall,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<Box<dyn Session>, Failure>;
}

/// A model ready to run.
pub trait Session: Send {
    /// What runs the model, for the job's log ("python /path/to/python").
    fn describe(&self) -> String;
    /// Calls score on every input batch with `workers` workers and hands
    /// the outputs to `on_output` in input order; answers the run's counts
    /// and CPU times.
    fn score(
        &self,
        workers: usize,
        input: &mut dyn Iterator<Item = RecordBatch>,
        on_output: &mut OnOutput<'_>,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<ScoreStats, Failure>;
    /// Calls the metrics function once over all records; with a
    /// `baseline`, it gets the baseline's records first, then the input's.
    fn metrics(
        &self,
        baseline: Option<&mut dyn Iterator<Item = RecordBatch>>,
        input: &mut dyn Iterator<Item = RecordBatch>,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<serde_json::Value, Failure>;
    /// Calls train once over all records; it writes to `outputDir/` in the
    /// working directory.
    fn train(
        &self,
        input: &mut dyn Iterator<Item = RecordBatch>,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<(), Failure>;
}

/// Runs models in Python worker processes, one virtual environment per
/// platform (built with uv or pip, see [`PythonSetup`]), or one interpreter
/// for every model.
#[derive(Clone, Debug)]
pub struct PythonRuntime {
    /// Where environments live and how they are built.
    pub setup: PythonSetup,
    /// How workers are confined and what of Keel's environment they see.
    pub isolation: Isolation,
    /// Where workers wait between jobs of the same model version, if anywhere.
    pub warm: Option<WarmPool>,
}

impl PythonRuntime {
    /// The interpreter of a platform, built first if needed, exactly as a
    /// job of a model with that platform gets it (so the job reuses it).
    pub fn interpreter(
        &self,
        requirements: &[String],
        python_version: Option<&str>,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<PathBuf, Failure> {
        self.setup
            .python_for(requirements, python_version, log, ctl)
    }
}

impl Runtime for PythonRuntime {
    fn prepare(
        &self,
        call: &ModelCall,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<Box<dyn Session>, Failure> {
        let python = self.interpreter(
            &call.def.platform.requirements,
            call.def.platform.python_version.as_deref(),
            log,
            ctl,
        )?;
        let f = &call.def.functions;
        let spec = WorkerSpec {
            python,
            workdir: call.workdir.clone(),
            module: call.def.module.clone(),
            functions: Functions {
                init: f.init.as_ref().map(|f| f.name.clone()),
                score: f.score.as_ref().map(|f| f.name.clone()),
                metrics: f.metrics.as_ref().map(|f| f.name.clone()),
                train: f.train.as_ref().map(|f| f.name.clone()),
                score_batch: f.score.as_ref().is_some_and(|f| f.batch),
            },
            env: worker_env(call),
            job: call.job_doc.clone(),
            output_column: call.output_column.clone(),
            isolation: self.isolation.clone(),
            warm: None,
        };
        // Workers are shared only by jobs of one version (the same code and
        // files) on one interpreter with the same confinement and variables;
        // the job's own id is the one variable a warm worker takes anew.
        let key = serde_json::json!({
            "python": spec.python,
            "version": call.version,
            "isolation": [spec.isolation.pid_namespace, &spec.isolation.pass_env],
            "env": spec.env.iter().filter(|(k, _)| k != "KEEL_JOB_ID").collect::<Vec<_>>(),
        })
        .to_string();
        let spec = WorkerSpec {
            warm: self.warm.clone().map(|pool| Warm { pool, key }),
            ..spec
        };
        Ok(Box::new(PythonSession { spec }))
    }
}

/// The worker's environment: the job's id, and an adapter's configuration
/// (an MLflow model's, for `keel_mlflow.py`).
fn worker_env(call: &ModelCall) -> Vec<(String, String)> {
    let mut env = vec![("KEEL_JOB_ID".into(), call.job.to_string())];
    if let Some(a) = call.def.adapter.as_ref().filter(|a| a.kind == "mlflow") {
        env.push((
            keel_modeldef::ADAPTER_CONFIG_ENV.to_string(),
            a.config.clone(),
        ));
    }
    env
}

/// A model ready to run in Python workers.
struct PythonSession {
    spec: WorkerSpec,
}

impl Session for PythonSession {
    fn describe(&self) -> String {
        format!("python {}", self.spec.python.display())
    }

    fn score(
        &self,
        workers: usize,
        input: &mut dyn Iterator<Item = RecordBatch>,
        on_output: &mut OnOutput<'_>,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<ScoreStats, Failure> {
        keel_runner::run_scoring(&self.spec, workers, input, on_output, log, ctl)
    }

    fn metrics(
        &self,
        baseline: Option<&mut dyn Iterator<Item = RecordBatch>>,
        input: &mut dyn Iterator<Item = RecordBatch>,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<serde_json::Value, Failure> {
        keel_runner::run_metrics(&self.spec, baseline, input, log, ctl)
    }

    fn train(
        &self,
        input: &mut dyn Iterator<Item = RecordBatch>,
        log: &dyn LogSink,
        ctl: &Control,
    ) -> Result<(), Failure> {
        keel_runner::run_training(&self.spec, input, log, ctl)
    }
}
