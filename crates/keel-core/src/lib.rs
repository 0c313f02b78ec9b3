//! Keel's control plane: the use cases the server and the CLI's embedded mode
//! call (register models, resolve references, move aliases, queue, list,
//! cancel and read jobs, start and read comparisons, users, tokens and the
//! audit log) and the one place where
//! Keel is opened from a [`Config`]. Both callers get the same answers, as
//! `keel-api-model` types built from the store's records.
//!
//! Execution is `keel-exec`'s: [`Keel`] hands queued jobs to its executor,
//! either one at a time in this process (embedded mode) or through the job
//! loop the server runs. Comparisons are decided there, not here.
//!
//! **API boundary:** the server and the CLI call only this crate and
//! `keel-api-model`. **Architecture invariant:** no model code runs in this
//! process, and nothing here unpickles or imports user code.

mod access;
mod alerts;
mod comparisons;
mod error;
pub mod git;
mod jobs;
mod paths;
mod registry;
mod roles;
mod sagemaker;
mod sweep;
#[cfg(test)]
mod tests;
mod uploads;
mod views;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_exec::{ExecConfig, Executor, Isolation, PythonRuntime, PythonSetup, Runtime, WarmPool};
use keel_store::Stores;
use keel_types::{SharedClock, SystemClock};

pub use access::{DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, Principal, TOKEN_PREFIX, Via};
pub use error::{Error, Result};
pub use jobs::{JobOutput, LogStart, MAX_RUNTIME_SECONDS, StoredFile};
pub use keel_exec::Installer;
pub use keel_modeldef::{FunctionInfo, ModelDef, file_origin};
pub use paths::{DataAccess, check_s3_root};
pub use roles::request as role_request;
pub use sagemaker::OPERATIONS as SAGEMAKER_OPERATIONS;
pub use sweep::Swept;
pub use uploads::{MAX_UPLOAD_NAME_BYTES, check_model_name, upload_name};

/// How a Keel instance is set up. Only the binary reads it from the
/// environment; everything else is handed its parts.
#[derive(Clone, Debug)]
pub struct Config {
    /// The local data directory: job logs, working directories, Python
    /// environments, and (by default) the database and artifacts.
    pub home: PathBuf,
    /// The metadata store: `sqlite://PATH` (default `HOME/keel.db`).
    pub metadata_url: String,
    /// The artifact store: `file://PATH` (default `HOME/artifacts`).
    pub artifacts_url: String,
    /// Default worker processes per scoring job (at most `max_workers`).
    pub default_workers: u32,
    /// The most worker processes one job may ask for (`KEEL_MAX_WORKERS`;
    /// default the number of cores, at least 4; never more than
    /// [`HARD_MAX_WORKERS`]). A request over it is refused, not clamped.
    pub max_workers: u32,
    /// The most bytes all uploads may hold together (`KEEL_UPLOAD_QUOTA_BYTES`,
    /// default 10 GiB); there are no users yet, so the quota is global.
    pub upload_quota_bytes: u64,
    /// The largest request body (a model archive or an upload) a server
    /// accepts (`KEEL_MAX_BODY_BYTES`, default [`DEFAULT_MAX_BODY_BYTES`]);
    /// a larger one is refused with 413, naming the limit.
    pub max_body_bytes: u64,
    /// A name for this process in job records (`runner`): the machine's
    /// host name and the process id.
    pub runner_name: String,
    /// How long a claim holds its job without a heartbeat
    /// (`KEEL_LEASE_SECONDS`, default 10 s); a runner silent this long has
    /// lost the job, which goes back to the queue for another runner.
    pub lease: std::time::Duration,
    /// How long a stopping server or worker lets its running jobs finish
    /// before it gives them back to the queue
    /// (`KEEL_SHUTDOWN_GRACE_SECONDS`, default 10 s).
    pub shutdown_grace: std::time::Duration,
    /// The Python interpreter for every model, overriding per-platform
    /// environments (`KEEL_PYTHON`).
    pub python: Option<PathBuf>,
    /// The interpreter platform environments are made from (`KEEL_BASE_PYTHON`;
    /// default `python3` on PATH, or a `python3.X` matching the platform's version).
    pub base_python: Option<PathBuf>,
    /// What builds platform environments (`KEEL_UV`): uv when it is on PATH,
    /// else pip, unless set.
    pub installer: Installer,
    /// How workers are confined and which of Keel's environment variables
    /// they inherit beyond the allow-list (`KEEL_CONTAINMENT`, `KEEL_WORKER_ENV`).
    pub isolation: Isolation,
    /// The most bytes one job's log may hold (`KEEL_MAX_LOG_BYTES`, default
    /// 64 MiB); later lines are dropped and counted at the end.
    pub max_log_bytes: u64,
    /// How many workers are kept warm after their jobs for the next job of
    /// the same model version (`KEEL_WARM_WORKERS`); 0, the default for a
    /// one-command embedded Keel, keeps none. A server keeps
    /// [`DEFAULT_WARM_WORKERS`] unless told otherwise.
    pub warm_workers: usize,
    /// The OS user embedded mode acts as, and an open server's requests
    /// (`USER`; `local` when unknown).
    pub local_user: String,
    /// Which local paths jobs may name as inputs and outputs: any for the
    /// embedded default, only those under the data roots for a server
    /// (`--data-root`, `KEEL_DATA_ROOTS`).
    pub data_access: DataAccess,
    /// The S3 prefixes (`s3://BUCKET[/PREFIX]`) a server's clients may name
    /// as job inputs and outputs (`--data-root s3://...`); under
    /// [`DataAccess::Any`] any bucket Keel reaches.
    pub s3_roots: Vec<String>,
    /// How long a warm worker waits for its next job before it ends
    /// (`KEEL_WARM_IDLE_SECONDS`, default 5 minutes).
    pub warm_idle: std::time::Duration,
}

/// How many warm workers a server keeps by default: enough for two models
/// scored with the default workers of a 2-core machine.
pub const DEFAULT_WARM_WORKERS: usize = 4;

impl Config {
    /// The default configuration for a data directory (made absolute):
    /// SQLite and local artifacts inside it, and as many workers as cores.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        let home = home.into();
        // Workers run in their job's directory, so every path handed to
        // them (the interpreter of a platform's environment above all) must
        // not depend on the directory Keel was started in.
        let home = std::path::absolute(&home).unwrap_or(home);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
            .min(HARD_MAX_WORKERS);
        Config {
            metadata_url: format!("sqlite://{}", home.join("keel.db").display()),
            artifacts_url: format!("file://{}", home.join("artifacts").display()),
            home,
            default_workers: cores,
            max_workers: cores.max(4),
            upload_quota_bytes: 10 << 30,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            runner_name: format!("{}:{}", host_name(), std::process::id()),
            lease: keel_exec::DEFAULT_LEASE,
            shutdown_grace: std::time::Duration::from_secs(10),
            python: None,
            base_python: None,
            installer: Installer::Auto,
            isolation: Isolation::default(),
            max_log_bytes: keel_exec::DEFAULT_MAX_LOG_BYTES,
            warm_workers: 0,
            local_user: "local".into(),
            data_access: DataAccess::Any,
            s3_roots: Vec::new(),
            warm_idle: std::time::Duration::from_secs(300),
        }
    }
}

/// This machine's host name, for runner names; `localhost` when it cannot
/// be read.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The largest request body a server accepts unless an admin says
/// otherwise: 8 GiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 8 << 30;

/// The most worker processes any configuration lets one job start.
pub const HARD_MAX_WORKERS: u32 = 64;

/// A Keel instance: its stores, its executor and its configuration.
#[derive(Clone)]
pub struct Keel {
    pub(crate) stores: Stores,
    pub(crate) exec: Executor,
    pub(crate) cfg: Config,
    pub(crate) auth: Arc<access::AuthState>,
}

impl std::fmt::Debug for Keel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keel")
            .field("home", &self.cfg.home)
            .finish_non_exhaustive()
    }
}

impl Keel {
    /// Opens Keel as `cfg` says, with the wall clock and Python workers.
    pub async fn open(cfg: Config) -> Result<Keel> {
        let runtime = Arc::new(python_runtime(&cfg));
        Keel::open_with(cfg, SystemClock::shared(), runtime).await
    }

    /// Opens Keel with the given clock and runtime (tests use a manual clock
    /// and a runtime without Python).
    pub async fn open_with(
        cfg: Config,
        clock: SharedClock,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Keel> {
        if !(1..=HARD_MAX_WORKERS).contains(&cfg.max_workers) {
            return Err(Error::InvalidArgument(format!(
                "The worker limit (`max_workers`, KEEL_MAX_WORKERS) must be between 1 and {HARD_MAX_WORKERS}, not {}.",
                cfg.max_workers
            )));
        }
        for dir in ["", "logs", "work", "envs"] {
            let path = cfg.home.join(dir);
            std::fs::create_dir_all(&path).map_err(Error::io(format!(
                "cannot create {} in the data directory",
                path.display()
            )))?;
        }
        let stores = Stores::open(&cfg.metadata_url, &cfg.artifacts_url, clock).await?;
        let mut exec_cfg = ExecConfig::new(&cfg.home, &cfg.runner_name);
        exec_cfg.max_log_bytes = cfg.max_log_bytes;
        exec_cfg.lease = cfg.lease;
        exec_cfg.shutdown_grace = cfg.shutdown_grace;
        let exec = Executor::new(stores.clone(), exec_cfg, runtime);
        Ok(Keel {
            stores,
            exec,
            cfg,
            auth: Arc::default(),
        })
    }

    /// The data directory.
    pub fn home(&self) -> &Path {
        &self.cfg.home
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Inspects a model directory without registering it.
    pub fn inspect(dir: &Path, attach: &[PathBuf]) -> Result<ModelDef> {
        Ok(keel_modeldef::inspect(dir, attach)?)
    }

    /// Puts back in the queue, or fails when they have no attempts left,
    /// the jobs whose runner stopped heart-beating (their lease ran out).
    pub async fn expire_leases(&self) -> Result<keel_store::Expired> {
        Ok(self.exec.expire_leases().await?)
    }

    /// Runs queued jobs, at most `concurrency` at a time, and decides
    /// comparisons, until `shutdown` completes; then stops the running jobs
    /// (see `keel_exec::Executor::run_queue`).
    pub async fn run_queue(&self, concurrency: usize, shutdown: impl Future<Output = ()>) {
        self.exec.run_queue(concurrency, shutdown).await
    }

    /// How this Keel's workers are confined on this machine (for the start log).
    pub fn containment(&self) -> keel_exec::Containment {
        self.cfg.isolation.containment()
    }

    /// Checks that the stores answer, for `/readyz`.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.stores.ready().await?)
    }
}

/// The Python runtime `cfg` describes: environments under `HOME/envs`.
fn python_runtime(cfg: &Config) -> PythonRuntime {
    PythonRuntime {
        setup: PythonSetup {
            envs: cfg.home.join("envs"),
            python: cfg.python.clone(),
            base_python: cfg.base_python.clone(),
            installer: cfg.installer.clone(),
        },
        isolation: cfg.isolation.clone(),
        warm: (cfg.warm_workers > 0).then(|| WarmPool::new(cfg.warm_workers, cfg.warm_idle)),
    }
}

/// The Python interpreter of a platform (its requirements and optional
/// Python version) as jobs get it: `cfg.python` when set, otherwise the
/// platform's environment under `HOME/envs`, built first when it is not
/// there yet. A job of a model with the same platform then reuses it. The
/// build's progress goes to stderr, line by line. Blocking, and a build can
/// take minutes: call it on a blocking thread.
pub fn platform_python(
    cfg: &Config,
    requirements: &[String],
    python_version: Option<&str>,
) -> Result<PathBuf> {
    let log = |_: usize, line: &str| eprintln!("{line}");
    python_runtime(cfg)
        .interpreter(
            requirements,
            python_version,
            &log,
            &keel_exec::Control::new(),
        )
        .map_err(|f| Error::RuntimeUnavailable(f.to_string()))
}
