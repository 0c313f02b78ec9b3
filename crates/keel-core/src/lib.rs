//! Keel's use cases: register models, resolve references, queue and execute
//! batch jobs, and read their results. This is the API boundary under both the
//! server and the CLI's embedded mode; both get the same answers, as
//! `keel-api-model` types.
//!
//! [`Keel`] owns a metadata store (`keel-store`), an artifact store and a data
//! directory. Jobs run through [`Keel::execute`]: the model's files are
//! materialised into a fresh working directory, records are read and checked
//! (`keel-data`), the model code runs in Python worker processes
//! (`keel-runner`), and outputs are committed atomically.
//!
//! **Architecture invariant:** no model code runs in this process, and nothing
//! here unpickles or imports user code.

mod error;
mod exec;
mod jobs;
mod quality;
mod registry;
mod views;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_store::{ArtifactStore, MetaStore};

pub use error::{Error, Result};
pub use exec::Progress;
pub use jobs::{ResultFile, ResultLocation};
pub use keel_modeldef::{FunctionInfo, ModelDef, file_origin};

/// How a Keel instance is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data directory: metadata database, artifacts, logs, runtimes, working dirs.
    pub home: PathBuf,
    /// Default worker processes per scoring job.
    pub default_workers: u32,
    /// A name for this process in job records (`runner`).
    pub runner_name: String,
    /// The Python interpreter for every model, overriding per-platform
    /// environments (like `KEEL_PYTHON`).
    pub python: Option<PathBuf>,
}

impl Config {
    /// The default configuration for a data directory: as many workers as cores.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        Config {
            home: home.into(),
            default_workers: cores,
            runner_name: format!("keel-{}", std::process::id()),
            python: None,
        }
    }
}

/// A Keel instance over one data directory.
#[derive(Clone)]
pub struct Keel {
    pub(crate) store: Arc<dyn MetaStore>,
    pub(crate) artifacts: ArtifactStore,
    pub(crate) cfg: Config,
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Keel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keel")
            .field("home", &self.cfg.home)
            .finish()
    }
}

impl Keel {
    /// Opens (creating if needed) the data directory: SQLite metadata at
    /// `HOME/keel.db` and artifacts under `HOME/artifacts`.
    pub async fn open(cfg: Config) -> Result<Keel> {
        std::fs::create_dir_all(&cfg.home).map_err(Error::io(format!(
            "cannot create the data directory {}",
            cfg.home.display()
        )))?;
        let store = keel_store::open_sqlite(&cfg.home.join("keel.db")).await?;
        let artifacts = ArtifactStore::local(&cfg.home.join("artifacts"))?;
        for dir in ["logs", "work", "envs"] {
            std::fs::create_dir_all(cfg.home.join(dir)).map_err(Error::io(format!(
                "cannot create {dir} in the data directory"
            )))?;
        }
        Ok(Keel {
            store,
            artifacts,
            cfg,
            wake: Arc::new(tokio::sync::Notify::new()),
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

    /// Marks IN_PROGRESS jobs whose runner stopped heart-beating more than
    /// `older_than` ago as FAILED (CRASHED). Returns how many there were.
    pub async fn requeue_stale(&self, older_than: chrono::Duration) -> Result<u64> {
        Ok(self
            .store
            .requeue_stale(chrono::Utc::now() - older_than)
            .await?)
    }

    /// Checks that the stores answer, for `/readyz`.
    pub async fn ready(&self) -> Result<()> {
        let page = keel_store::Page {
            limit: 1,
            after: None,
        };
        self.store.list_models(&page).await?;
        self.artifacts.exists("readyz-probe").await?;
        Ok(())
    }
}
