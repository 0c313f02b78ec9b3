//! The metadata store trait that every backend implements, and the functions
//! that open a backend from a path or URL.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_types::{ComparisonId, JobError, JobId, JobStatus, ModelId, UploadId, VersionId};

use crate::error::{Error, Result};
use crate::records::{
    AliasEvent, AliasRecord, ComparisonRecord, JobFilter, JobRecord, ModelRecord, Page, Paged,
    UploadRecord, VersionFile, VersionRecord,
};

/// Keel's metadata: models, versions, aliases, jobs and uploads.
///
/// Every method is safe to call from several processes sharing one database.
/// Timestamps are stored with microsecond precision, so a record read back may
/// differ from the one written by less than a microsecond.
#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Registers a new model with no versions. Fails with `AlreadyExists` when
    /// the name is taken and `InvalidArgument` when it is not a valid name.
    async fn create_model(&self, name: &str) -> Result<ModelRecord>;
    /// The model with this name.
    async fn model_by_name(&self, name: &str) -> Result<Option<ModelRecord>>;
    /// The model with this id.
    async fn model_by_id(&self, id: ModelId) -> Result<Option<ModelRecord>>;
    /// Models ordered by name.
    async fn list_models(&self, page: &Page) -> Result<Paged<ModelRecord>>;

    /// Registers the next version of a model, numbered latest + 1 atomically.
    async fn create_version(
        &self,
        model_id: ModelId,
        content_hash: &str,
        definition: &serde_json::Value,
        files: &[VersionFile],
        source_job: Option<JobId>,
    ) -> Result<VersionRecord>;
    /// The newest version of a model with this content hash.
    async fn version_by_hash(
        &self,
        model_id: ModelId,
        content_hash: &str,
    ) -> Result<Option<VersionRecord>>;
    /// The version with this id.
    async fn version_by_id(&self, id: VersionId) -> Result<Option<VersionRecord>>;
    /// The version of a model with this number.
    async fn version_by_number(
        &self,
        model_id: ModelId,
        number: u32,
    ) -> Result<Option<VersionRecord>>;
    /// The highest-numbered version of a model.
    async fn latest_version(&self, model_id: ModelId) -> Result<Option<VersionRecord>>;
    /// A model's versions in ascending number order.
    async fn list_versions(&self, model_id: ModelId, page: &Page) -> Result<Paged<VersionRecord>>;

    /// Points an alias at a version of the same model and records the move.
    /// Setting an alias to the version it already points to records nothing
    /// and returns an event with equal `from_version` and `to_version`.
    async fn set_alias(
        &self,
        model_id: ModelId,
        alias: &str,
        version_id: VersionId,
    ) -> Result<AliasEvent>;
    /// Where an alias points now.
    async fn alias(&self, model_id: ModelId, alias: &str) -> Result<Option<AliasRecord>>;
    /// All aliases of a model, ordered by alias name.
    async fn list_aliases(&self, model_id: ModelId) -> Result<Vec<AliasRecord>>;
    /// Removes an alias and records an event with `to_version: None`; false
    /// when the alias did not exist.
    async fn delete_alias(&self, model_id: ModelId, alias: &str) -> Result<bool>;
    /// Every alias move of a model, oldest first.
    async fn alias_history(&self, model_id: ModelId) -> Result<Vec<AliasEvent>>;

    /// Stores a new job as given (normally PENDING). The model and version must exist.
    async fn create_job(&self, job: &JobRecord) -> Result<()>;
    /// The job with this id.
    async fn job(&self, id: JobId) -> Result<Option<JobRecord>>;
    /// Jobs matching the filter, newest first.
    async fn list_jobs(&self, filter: &JobFilter, page: &Page) -> Result<Paged<JobRecord>>;
    /// Moves one job from PENDING to IN_PROGRESS atomically: the oldest pending
    /// job, or the job `id` if it is pending. Sets `started_at`, `heartbeat_at`
    /// and `runner`. Two concurrent claimers never get the same job. `None`
    /// when there is nothing to claim.
    async fn claim_job(
        &self,
        id: Option<JobId>,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JobRecord>>;
    /// Records progress of an IN_PROGRESS job. Returns true when the runner
    /// should stop: a cancel was requested, or the job is no longer
    /// IN_PROGRESS (for example, it was failed as stale). `NotFound` when the
    /// job does not exist.
    async fn heartbeat(
        &self,
        id: JobId,
        read: u64,
        written: u64,
        rejected: u64,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Moves an IN_PROGRESS job to a terminal status with its final counts,
    /// error and result. Returns false, changing nothing, when the job was not
    /// IN_PROGRESS. `InvalidArgument` when `status` is not terminal, `NotFound`
    /// when the job does not exist.
    async fn finish_job(
        &self,
        id: JobId,
        status: JobStatus,
        counts: (u64, u64, u64),
        error: Option<&JobError>,
        result: Option<&serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Cancels a job: a PENDING job becomes STOPPED at once (error kind
    /// Cancelled); an IN_PROGRESS job gets `cancel_requested` and its runner
    /// stops it; a finished job is a `Conflict`. Returns the job afterwards.
    async fn request_cancel(&self, id: JobId, now: DateTime<Utc>) -> Result<JobRecord>;
    /// Fails (kind Crashed) every IN_PROGRESS job whose last heartbeat is older
    /// than `older_than`; returns how many. Called at server start.
    async fn requeue_stale(&self, older_than: DateTime<Utc>) -> Result<u64>;

    /// Stores a new upload record.
    async fn create_upload(&self, upload: &UploadRecord) -> Result<()>;
    /// The upload with this id.
    async fn upload(&self, id: UploadId) -> Result<Option<UploadRecord>>;

    /// Stores a new comparison (normally PENDING).
    async fn create_comparison(&self, c: &ComparisonRecord) -> Result<()>;
    /// The comparison with this id.
    async fn comparison(&self, id: ComparisonId) -> Result<Option<ComparisonRecord>>;
    /// Comparisons, newest first.
    async fn list_comparisons(&self, page: &Page) -> Result<Paged<ComparisonRecord>>;
    /// Moves a PENDING comparison to COMPLETED or FAILED with its result or
    /// error. Returns false, changing nothing, when it was not PENDING (another
    /// server finished it first); `NotFound` when it does not exist.
    async fn finish_comparison(
        &self,
        id: ComparisonId,
        status: &str,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// Opens (creating if needed) the SQLite metadata database at `path` and
/// brings its schema up to date.
pub async fn open_sqlite(path: &Path) -> Result<Arc<dyn MetaStore>> {
    Ok(Arc::new(crate::sqlite::SqliteStore::open(path).await?))
}

/// Opens the metadata store named by `url`: `sqlite://PATH`, `sqlite:PATH` or
/// a bare file path. PostgreSQL is not supported yet.
pub async fn open(url: &str) -> Result<Arc<dyn MetaStore>> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(Error::InvalidArgument(
            "PostgreSQL support is not built yet; use a SQLite database such as sqlite://DATA_DIR/keel.db."
                .into(),
        ));
    }
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if let Some((scheme, _)) = url.split_once("://") {
        return Err(Error::InvalidArgument(format!(
            "The metadata store URL scheme '{scheme}' is not supported; use sqlite://PATH or a file path."
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
    open_sqlite(Path::new(path)).await
}
