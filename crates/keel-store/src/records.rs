//! The plain records the store hands back and takes in. They hold no
//! database types; the documents inside them (job request and result,
//! comparison policy, model definition) are the versioned formats of
//! [`crate::formats`].

use chrono::{DateTime, Utc};
use keel_types::{
    AttemptOutcome, ComparisonId, ComparisonStatus, JobError, JobId, JobKind, JobStatus, ModelId,
    UploadId, Verdict, VersionId,
};
use serde::{Deserialize, Serialize};

use crate::formats::{ComparePolicy, JobRequest, JobResult, ModelDefinition, VersionOrigin};

/// Who makes a change, and from where, as the audit log records it. Every
/// method that changes something takes one, and writes the audit row in the
/// same transaction as the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user's name (for the embedded default, the local OS user).
    pub user: String,
    /// Where the change came from: a client's address, `cli@HOST`, or the
    /// job that made it (`job ID`).
    pub source: String,
}

impl Actor {
    /// An actor named `user` acting from `source`.
    pub fn new(user: impl Into<String>, source: impl Into<String>) -> Actor {
        Actor {
            user: user.into(),
            source: source.into(),
        }
    }
}

/// A registered model: a name that owns numbered versions.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRecord {
    /// The model's id.
    pub id: ModelId,
    /// The model's unique name.
    pub name: String,
    /// When the model was registered.
    pub created_at: DateTime<Utc>,
    /// The highest version number, or 0 when the model has no version yet.
    pub latest_version: u32,
}

/// One file of a model version, stored content-addressed in the artifact
/// store. The list of a version's files is kept as JSON in `versions.files`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionFile {
    /// The path relative to the model directory, with `/` separators.
    pub path: String,
    /// The lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// The size in bytes.
    pub size: u64,
    /// What the file is for (for example `source`, `attachment`, `schema`).
    pub role: String,
}

/// What a new version is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct NewVersion {
    /// The model it belongs to.
    pub model_id: ModelId,
    /// The hash over all files.
    pub content_hash: String,
    /// The inspected model definition.
    pub definition: ModelDefinition,
    /// Its files, already in the artifact store.
    pub files: Vec<VersionFile>,
    /// The training job that produced it, if any.
    pub source_job: Option<JobId>,
    /// Where its files came from (a git commit), if Keel fetched them.
    pub origin: Option<VersionOrigin>,
}

/// One immutable version of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionRecord {
    /// The version's id.
    pub id: VersionId,
    /// The model it belongs to.
    pub model_id: ModelId,
    /// The model's name, for display.
    pub model_name: String,
    /// The version number, starting at 1 and dense per model.
    pub number: u32,
    /// When the version was registered.
    pub created_at: DateTime<Utc>,
    /// A hash over all files, used to avoid registering identical content twice.
    pub content_hash: String,
    /// The inspected model definition.
    pub definition: ModelDefinition,
    /// The files of the version.
    pub files: Vec<VersionFile>,
    /// The training job that produced this version, if any.
    pub source_job: Option<JobId>,
    /// Where its files came from (a git commit), if Keel fetched them.
    pub origin: Option<VersionOrigin>,
}

/// Where an alias such as `champion` points now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasRecord {
    /// The model the alias belongs to.
    pub model_id: ModelId,
    /// The alias name.
    pub alias: String,
    /// The version it points to.
    pub version_id: VersionId,
    /// That version's number.
    pub version_number: u32,
    /// When the alias was last moved.
    pub updated_at: DateTime<Utc>,
}

/// One move of an alias, kept forever as history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasEvent {
    /// The model the alias belongs to.
    pub model_id: ModelId,
    /// The alias name.
    pub alias: String,
    /// The version number it pointed to before, if any.
    pub from_version: Option<u32>,
    /// The version number it points to after, or `None` when it was deleted.
    pub to_version: Option<u32>,
    /// When it moved.
    pub at: DateTime<Utc>,
}

/// Record counts of a job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read from the input.
    pub read: u64,
    /// Records written to the output.
    pub written: u64,
    /// Records rejected by a schema or as malformed.
    pub rejected: u64,
}

/// A job to queue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    /// What the job does.
    pub kind: JobKind,
    /// The model it runs.
    pub model_id: ModelId,
    /// The model's name, for display.
    pub model_name: String,
    /// The version it runs.
    pub version_id: VersionId,
    /// That version's number.
    pub version_number: u32,
    /// What it was asked to do.
    pub request: JobRequest,
    /// How many attempts may be lost (their runner died or went silent)
    /// before the job fails; at least 1.
    pub max_attempts: u32,
}

/// The default of [`NewJob::max_attempts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A batch job and everything known about its run.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    /// The job's id.
    pub id: JobId,
    /// What the job does.
    pub kind: JobKind,
    /// Where the job is in its life.
    pub status: JobStatus,
    /// The model it runs.
    pub model_id: ModelId,
    /// The model's name, for display.
    pub model_name: String,
    /// The version it runs.
    pub version_id: VersionId,
    /// That version's number.
    pub version_number: u32,
    /// What it was asked to do.
    pub request: JobRequest,
    /// Record counts so far.
    pub counts: Counts,
    /// When the job was submitted.
    pub created_at: DateTime<Utc>,
    /// When a runner claimed it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// The runner's last sign of life.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The runner that claimed it.
    pub runner: Option<String>,
    /// How many times a runner claimed it (0 while it never ran); the
    /// latest claim is this attempt.
    pub attempt: u32,
    /// How many attempts may be lost before the job fails.
    pub max_attempts: u32,
    /// Until when the current attempt holds the job unless it heart-beats.
    pub lease_until: Option<DateTime<Utc>>,
    /// True once someone asked to cancel the running job.
    pub cancel_requested: bool,
    /// Why the job failed or stopped.
    pub error: Option<JobError>,
    /// What it produced, once completed.
    pub result: Option<JobResult>,
    /// The user who queued it (none for jobs queued before Keel had users).
    pub created_by: Option<String>,
}

impl JobRecord {
    /// The fencing token of the job's current attempt.
    pub fn lease(&self) -> Lease {
        Lease {
            job: self.id,
            attempt: self.attempt,
        }
    }
}

/// The fencing token of one claim: the job and the attempt that holds it.
/// Every write a runner makes about a job it claimed names its lease, and is
/// refused once that attempt no longer holds the job (its lease ran out and
/// the job went back to the queue, or it was finished another way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job.
    pub job: JobId,
    /// The attempt.
    pub attempt: u32,
}

/// One attempt at a job: who claimed it, when, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// The runner that claimed the job.
    pub runner: String,
    /// When it claimed the job.
    pub started_at: DateTime<Utc>,
    /// When the attempt ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended; `Running` while it holds the job.
    pub outcome: AttemptOutcome,
}

/// What one sweep of ran-out leases did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Jobs put back in the queue for another attempt.
    pub retried: u64,
    /// Jobs failed because their last allowed attempt was lost.
    pub failed: u64,
    /// Jobs stopped because someone had asked to cancel them.
    pub stopped: u64,
}

/// How a running job ends. Each terminal status carries exactly what it
/// needs: a completed job its result, a failed or stopped one its error.
#[derive(Clone, Debug, PartialEq)]
pub enum Finish {
    /// The job's outputs are committed.
    Completed {
        /// The final counts.
        counts: Counts,
        /// What it produced.
        result: JobResult,
    },
    /// The job failed; nothing it wrote is visible.
    Failed {
        /// The final counts.
        counts: Counts,
        /// Why.
        error: JobError,
    },
    /// The job was cancelled, timed out or shut down; nothing is visible.
    Stopped {
        /// The final counts.
        counts: Counts,
        /// Why.
        error: JobError,
    },
}

impl Finish {
    /// The status this finish records.
    pub fn status(&self) -> JobStatus {
        match self {
            Finish::Completed { .. } => JobStatus::Completed,
            Finish::Failed { .. } => JobStatus::Failed,
            Finish::Stopped { .. } => JobStatus::Stopped,
        }
    }

    /// The final counts.
    pub fn counts(&self) -> Counts {
        match self {
            Finish::Completed { counts, .. }
            | Finish::Failed { counts, .. }
            | Finish::Stopped { counts, .. } => *counts,
        }
    }
}

/// What a heartbeat tells the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    /// Keep going.
    Continue,
    /// Someone asked to cancel the job: stop it.
    CancelRequested,
    /// The attempt no longer holds the job (its lease ran out, or the job
    /// was finished another way): stop working on it; nothing it does will
    /// be recorded.
    NotRunning,
}

/// Which jobs to list; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Only jobs of this model.
    pub model_id: Option<ModelId>,
}

/// A data file to record as uploaded; its bytes are already stored under
/// `keys::upload(id, name)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUpload {
    /// The upload's id, chosen before its bytes were stored.
    pub id: UploadId,
    /// The original file name.
    pub name: String,
    /// The size in bytes.
    pub size: u64,
    /// The lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// A data file uploaded for use as a job input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRecord {
    /// The upload's id.
    pub id: UploadId,
    /// The original file name.
    pub name: String,
    /// The size in bytes.
    pub size: u64,
    /// The lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

/// A comparison to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewComparison {
    /// The champion's metrics job.
    pub champion_job: JobId,
    /// The challenger's metrics job.
    pub challenger_job: JobId,
    /// The metric and decision rule.
    pub policy: ComparePolicy,
}

/// A champion/challenger comparison: two metrics jobs, a policy, and (once
/// both jobs finished) the verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonRecord {
    /// The comparison's id.
    pub id: ComparisonId,
    /// Where it is.
    pub status: ComparisonStatus,
    /// The champion's metrics job.
    pub champion_job: JobId,
    /// The challenger's metrics job.
    pub challenger_job: JobId,
    /// The metric and decision rule.
    pub policy: ComparePolicy,
    /// The verdict, once completed.
    pub verdict: Option<Verdict>,
    /// The comparison document, once completed.
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it completed or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a comparison is decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Decided {
    /// A verdict was reached.
    Completed {
        /// The verdict.
        verdict: Verdict,
        /// The comparison document (it repeats the verdict).
        document: serde_json::Value,
    },
    /// No verdict can be reached.
    Failed {
        /// Why, in a sentence or two.
        error: String,
    },
}
