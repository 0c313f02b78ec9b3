//! Opening the stores named by URLs, and the bundle of per-aggregate stores
//! that the rest of Keel holds.

use std::path::Path;
use std::sync::Arc;

use keel_types::SharedClock;

use crate::access::{AccessStore, AuditLog};
use crate::alerts::AlertStore;
use crate::artifacts::ArtifactStore;
use crate::comparisons::ComparisonStore;
use crate::error::{Error, Result};
use crate::monitors::MonitorStore;
use crate::objects::Buckets;
use crate::page::Page;
use crate::postgres::PgStore;
use crate::queue::JobQueue;
use crate::registry::RegistryStore;
use crate::sqlite::SqliteStore;
use crate::uploads::UploadStore;

/// Every store of one Keel deployment. Cloning is cheap: the stores are shared.
#[derive(Clone)]
pub struct Stores {
    /// Models, versions and aliases.
    pub registry: Arc<dyn RegistryStore>,
    /// The job queue.
    pub jobs: Arc<dyn JobQueue>,
    /// Comparisons.
    pub comparisons: Arc<dyn ComparisonStore>,
    /// Uploads.
    pub uploads: Arc<dyn UploadStore>,
    /// Users and their tokens.
    pub access: Arc<dyn AccessStore>,
    /// The audit log every change writes into.
    pub audit: Arc<dyn AuditLog>,
    /// Monitoring job definitions, schedules and executions.
    pub monitors: Arc<dyn MonitorStore>,
    /// The alerts monitors open.
    pub alerts: Arc<dyn AlertStore>,
    /// Model files, uploads and job outputs.
    pub artifacts: ArtifactStore,
    /// The buckets that jobs read inputs from and write outputs to
    /// (`s3://BUCKET/KEY`), reached as the AWS variables say.
    pub buckets: Buckets,
    /// The clock every store reads time from.
    pub clock: SharedClock,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("artifacts", &self.artifacts)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// Opens the metadata store named by `metadata_url` (`sqlite://PATH`,
    /// `sqlite:PATH`, a bare file path, or `postgres://...` for an existing
    /// PostgreSQL database) and the artifact store named by `artifacts_url`
    /// (`file://PATH` or a bare directory path), creating what is missing
    /// and bringing the database schema up to date.
    pub async fn open(
        metadata_url: &str,
        artifacts_url: &str,
        clock: SharedClock,
    ) -> Result<Stores> {
        // The artifact store first: a bad URL must not leave a new database behind.
        let artifacts = ArtifactStore::open(artifacts_url)?;
        let url = metadata_url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let meta = Arc::new(PgStore::open(url, clock.clone()).await?);
            return Ok(Stores::of(meta, artifacts, clock));
        }
        let meta = Arc::new(SqliteStore::open(&sqlite_path(url)?, clock.clone()).await?);
        Ok(Stores::of(meta, artifacts, clock))
    }

    /// The bundle of one metadata store that implements every aggregate.
    fn of<M>(meta: Arc<M>, artifacts: ArtifactStore, clock: SharedClock) -> Stores
    where
        M: RegistryStore
            + JobQueue
            + ComparisonStore
            + UploadStore
            + AccessStore
            + AuditLog
            + MonitorStore
            + AlertStore
            + 'static,
    {
        Stores {
            registry: meta.clone(),
            jobs: meta.clone(),
            comparisons: meta.clone(),
            uploads: meta.clone(),
            access: meta.clone(),
            audit: meta.clone(),
            monitors: meta.clone(),
            alerts: meta,
            artifacts,
            buckets: Buckets::default(),
            clock,
        }
    }

    /// Checks that both stores answer, for readiness probes.
    pub async fn ready(&self) -> Result<()> {
        self.registry.list_models(&Page::first(1)).await?;
        self.artifacts.exists("readyz-probe").await?;
        Ok(())
    }
}

/// The database file a metadata URL names.
fn sqlite_path(url: &str) -> Result<std::path::PathBuf> {
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if let Some((scheme, _)) = url.split_once("://") {
        return Err(Error::InvalidArgument(format!(
            "The metadata store URL scheme '{scheme}' is not supported; use sqlite://PATH, a file path, or postgres://USER@HOST/DATABASE."
        )));
    } else {
        url
    };
    if path.is_empty() {
        return Err(Error::InvalidArgument(
            "The metadata store URL names no database file; use sqlite://PATH or a file path."
                .into(),
        ));
    }
    Ok(Path::new(path).to_path_buf())
}
