//! Keel's REST wire types, shared by the server (which serves them) and the
//! CLI (which reads them), so neither depends on the other's internals.
//!
//! Everything here is plain data: serde for JSON, utoipa for the OpenAPI
//! document. JSON field names are snake_case; enums are the `keel-types`
//! enums themselves, with their spellings and schemas. [`routes`] holds every
//! route template, shared by the server and the client.
//!
//! These types are the wire format only: nothing here is ever stored. The
//! store keeps its own versioned records, and `keel-core` builds these types
//! from them.

#![warn(missing_docs)]

mod access;
mod origin;
pub mod routes;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
pub use keel_types::{
    AttemptOutcome, AuditAction, ComparisonStatus, DataFormat, JobErrorKind, JobKind, JobStatus,
    Role, Verdict,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use access::{
    Alert, AlertQuery, AuditEntry, AuditQuery, CreateToken, CreatedToken, ExecuteMonitor, Token,
    TokenQuery, TokenStatus, UpdateUser, User, Whoami,
};
pub use origin::{Origin, RegisterQuery};
pub use routes::API_PREFIX;

/// An RFC 9457 problem document, with Keel's stable machine `code`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case, where, and how to fix it.
    pub detail: String,
    /// The stable machine code, such as `NOT_FOUND`. Text rather than
    /// `keel_types::Code`, so that a client can read a problem with a code
    /// added after it was built.
    pub code: String,
    /// The request path that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// One page of a list, with the token for the next page.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `page_token` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Query parameters of every list endpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct PageQuery {
    /// How many items to return (1–1000, default 100).
    pub max_results: Option<u32>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// A registered model.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Model {
    /// The model's id.
    pub id: Uuid,
    /// The model's unique name.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The newest version number (0 when it has none).
    pub latest_version: u32,
    /// Aliases and the version number each points at.
    pub aliases: BTreeMap<String, u32>,
}

/// A function found in a model's source.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Function {
    /// The function's name.
    pub name: String,
    /// The file that defines it.
    pub file: String,
    /// The line of its `def`.
    pub line: u32,
    /// True when it takes a whole batch as a DataFrame.
    pub batch: bool,
    /// Its parameter names, in order: a metrics function with two compares
    /// a baseline with a sample; an init with one receives the job.
    #[serde(default)]
    pub params: Vec<String>,
}

/// The functions a model defines.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Functions {
    /// Runs once per worker before anything else.
    pub init: Option<Function>,
    /// Runs per record (or per batch).
    pub score: Option<Function>,
    /// Runs once on all records of a metrics job.
    pub metrics: Option<Function>,
    /// Runs once on all records of a training job.
    pub train: Option<Function>,
}

impl Functions {
    /// The function of this kind, if the model has one.
    pub fn get(&self, kind: keel_types::FunctionKind) -> Option<&Function> {
        match kind {
            keel_types::FunctionKind::Init => self.init.as_ref(),
            keel_types::FunctionKind::Score => self.score.as_ref(),
            keel_types::FunctionKind::Metrics => self.metrics.as_ref(),
            keel_types::FunctionKind::Train => self.train.as_ref(),
        }
    }
}

/// A file of a model version.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct File {
    /// Path relative to the model directory.
    pub path: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// `source`, `attachment`, `schema`, `manifest` or `requirements`.
    pub role: String,
}

/// The Python platform a model needs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Platform {
    /// Requirement lines (pip syntax).
    pub requirements: Vec<String>,
    /// The Python version asked for, if any.
    pub python_version: Option<String>,
    /// Hash of the platform; models with equal hashes share a runtime.
    pub hash: String,
}

/// One immutable version of a model.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Version {
    /// The version's id.
    pub id: Uuid,
    /// The model's id.
    pub model_id: Uuid,
    /// The model's name.
    pub model_name: String,
    /// The version number, from 1.
    pub number: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Hash over every file's path and SHA-256.
    pub content_hash: String,
    /// The primary source file.
    pub source: String,
    /// The functions found.
    pub functions: Functions,
    /// The input schema file, if any.
    pub input_schema: Option<String>,
    /// The output schema file, if any.
    pub output_schema: Option<String>,
    /// The platform.
    pub platform: Platform,
    /// Every file with its hash.
    pub files: Vec<File>,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    /// The training job that produced this version, if one did.
    pub source_job: Option<Uuid>,
    /// Where its files came from (a git commit), if Keel fetched them.
    #[serde(default)]
    pub origin: Option<Origin>,
    /// What kind of model Keel serves through its own adapter, such as
    /// "MLflow model, sklearn flavor (skops), signature with 8 inputs and 1 output".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// The answer to registering a model directory.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Registration {
    /// The model.
    pub model: Model,
    /// The version: new, or the existing one when nothing changed.
    pub version: Version,
    /// False when the directory was unchanged and no version was created.
    pub created: bool,
}

/// An alias and the version it points at.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Alias {
    /// The alias, such as `champion`.
    pub alias: String,
    /// The model's name.
    pub model_name: String,
    /// The version number it points at.
    pub version: u32,
    /// The version's id.
    pub version_id: Uuid,
    /// When it last moved.
    pub updated_at: DateTime<Utc>,
    /// The version it pointed at before this move, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<u32>,
}

/// Body of `PUT /models/{model}/aliases/{alias}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SetAlias {
    /// The version number the alias should point at.
    pub version: u32,
}

/// One recorded move of an alias.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AliasEvent {
    /// The alias.
    pub alias: String,
    /// Where it pointed before (absent when it was created).
    pub from_version: Option<u32>,
    /// Where it points after (absent when it was deleted).
    pub to_version: Option<u32>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A data file uploaded to Keel.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Upload {
    /// Use as `input.upload_id` of a job.
    pub id: Uuid,
    /// The file's name (its extension picks the format).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

/// Where a job reads its records.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// A file uploaded with `POST /uploads`.
    Upload {
        /// The upload's id.
        upload_id: Uuid,
        /// The upload's file name (filled in by Keel).
        #[serde(default)]
        name: String,
    },
    /// A path or `file://` URI readable by the Keel process that runs the job.
    Path {
        /// The path or URI.
        uri: String,
    },
}

/// Where a job writes its output.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    /// A bare file name: Keel keeps the file in its artifact store.
    Embedded {
        /// The file name; its extension picks the format.
        name: String,
    },
    /// A path or `file://` URI written by the Keel process that runs the job.
    External {
        /// The path or URI.
        uri: String,
    },
}

/// Body of `POST /jobs`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateJob {
    /// `scoring`, `metrics` or `training` (or ModelOp's `batchjob`, `testjob`, `trainingjob`).
    pub kind: JobKind,
    /// A model reference: UUID, `name`, `name:3` or `name@alias`.
    pub model: String,
    /// Where to read records.
    pub input: Input,
    /// Where to write the output (scoring and metrics jobs).
    #[serde(default)]
    pub output: Option<Output>,
    /// The input format, when the extension does not say it.
    #[serde(default)]
    pub format: Option<DataFormat>,
    /// Worker processes for a scoring job (default: the number of cores).
    #[serde(default)]
    pub workers: Option<u32>,
    /// Stop the job after this many seconds.
    #[serde(default)]
    pub max_runtime_seconds: Option<u64>,
    /// How many attempts at the job may be lost (its runner died or stopped
    /// heart-beating, so another runner takes it over) before it fails:
    /// 1 to 10, default 3. Attempts handed back at a runner's shutdown do not
    /// count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Check records against the model's schemas (default true when it has any).
    #[serde(default)]
    pub schema_check: Option<bool>,
    /// Built-in metrics for a metrics job: which columns are the label, the
    /// probability, the prediction and the protected attributes. Without it,
    /// a model with no metrics function takes the roles from its schemas.
    #[serde(default)]
    pub metrics: Option<MetricsOptions>,
    /// For a metrics job whose metrics function takes two data sets
    /// (`metrics(df_baseline, df_sample)`, as ModelOp monitors do): the
    /// baseline it compares the input with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Input>,
}

/// How a metrics job computes Keel's built-in metrics.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MetricsOptions {
    /// `binary`, `multiclass` or `regression` (SageMaker's names also work).
    /// Default: binary when there is a probability, else inferred from the label.
    #[serde(default)]
    pub problem_type: Option<String>,
    /// The column with the actual label or value (default: the input schema's
    /// field with `role: label`).
    #[serde(default)]
    pub label: Option<String>,
    /// The column with the probability of the positive class (binary).
    #[serde(default)]
    pub probability: Option<String>,
    /// The column with the predicted label or value.
    #[serde(default)]
    pub prediction: Option<String>,
    /// A probability above this predicts the positive class (default 0.5).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// The positive class (default `1` or `true`).
    #[serde(default)]
    pub positive_label: Option<String>,
    /// Protected attributes for the fairness metrics (default: the input
    /// schema's fields with `protected_class: true`).
    #[serde(default)]
    pub protected: Vec<String>,
    /// The reference group of a protected attribute (default: its largest group).
    #[serde(default)]
    pub reference_groups: std::collections::BTreeMap<String, String>,
    /// Seed of the subsamples behind the standard deviations (default 0).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Curves keep at most this many points (default 1000; 0 keeps all).
    #[serde(default)]
    pub curve_points: Option<usize>,
    /// Random 80 % subsamples behind each standard deviation (default 5, at
    /// most 8; 0 computes no standard deviations, which is faster).
    #[serde(default)]
    pub subsamples: Option<usize>,
}

/// The decision rule of a comparison.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ComparePolicy {
    /// The metric the verdict rests on, such as `auc`, `accuracy`, `f1` or `rmse`.
    pub metric: String,
    /// The challenger must beat the champion by more than this (in the
    /// metric's units; default 0).
    #[serde(default)]
    pub min_delta: f64,
    /// Confidence of the interval of the difference (default 0.95).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Bootstrap resamples, for metrics without a closed-form test (default 1000).
    #[serde(default = "default_resamples")]
    pub resamples: u32,
    /// Seed of the bootstrap (default 0).
    #[serde(default)]
    pub seed: u64,
}

fn default_confidence() -> f64 {
    0.95
}

fn default_resamples() -> u32 {
    1000
}

/// Body of `POST /comparisons`: either two model references and the labeled
/// data to run both on, or two finished metrics jobs.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CreateComparison {
    /// The champion: a model reference such as `fraud@champion`.
    #[serde(default)]
    pub champion: Option<String>,
    /// The challenger: a model reference such as `fraud@challenger`.
    #[serde(default)]
    pub challenger: Option<String>,
    /// The labeled data both versions run on.
    #[serde(default)]
    pub input: Option<Input>,
    /// The input format, when the extension does not say it.
    #[serde(default)]
    pub format: Option<DataFormat>,
    /// The columns' roles, as for a metrics job.
    #[serde(default)]
    pub metrics: Option<MetricsOptions>,
    /// Instead of running anything: the champion's finished metrics job.
    #[serde(default)]
    pub champion_job: Option<Uuid>,
    /// Instead of running anything: the challenger's finished metrics job.
    #[serde(default)]
    pub challenger_job: Option<Uuid>,
    /// The metric and the decision rule.
    pub policy: ComparePolicy,
}

/// A champion/challenger comparison.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Comparison {
    /// The comparison's id.
    pub id: Uuid,
    /// `PENDING` (its jobs still run), `COMPLETED` or `FAILED`.
    pub status: ComparisonStatus,
    /// The champion's metrics job.
    pub champion_job: Uuid,
    /// The challenger's metrics job.
    pub challenger_job: Uuid,
    /// The metric and the decision rule.
    pub policy: ComparePolicy,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the verdict was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The verdict: `challenger_better`, `not_better` or `inconclusive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The comparison document: both versions' metrics side by side, the
    /// paired test, and the reason for the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Record counts of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Counts {
    /// Records read from the input.
    pub read: u64,
    /// Records written to the output.
    pub written: u64,
    /// Records rejected by a schema or as malformed.
    pub rejected: u64,
}

/// Why a job failed or stopped.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct JobError {
    /// `USER_ERROR`, `CRASHED`, `TIMEOUT`, `CANCELLED`, `INVALID_INPUT`, `RUNTIME_UNAVAILABLE` or `INTERNAL`.
    pub kind: JobErrorKind,
    /// What happened and how to fix it.
    pub message: String,
    /// The Python traceback, when the model raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

/// What a finished job produced.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct JobResult {
    /// Where the output is: an embedded name or an external URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    /// The output's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<DataFormat>,
    /// True when some records were rejected (`GET /jobs/{id}/rejected`).
    pub has_rejected: bool,
    /// The version a training job created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_version: Option<u32>,
    /// The id of that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_version_id: Option<Uuid>,
    /// A metrics job's test result: Keel's built-in metrics document
    /// (SageMaker's statistics shape plus ModelOp's tests), with the model's
    /// own metrics function's output under `model_metrics`; or, when only the
    /// model's metrics function ran, what it returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
}

/// A batch job.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Job {
    /// The job's id.
    pub id: Uuid,
    /// `scoring`, `metrics` or `training`.
    pub kind: JobKind,
    /// `PENDING`, `IN_PROGRESS`, `COMPLETED`, `FAILED` or `STOPPED`.
    pub status: JobStatus,
    /// The model's name.
    pub model_name: String,
    /// The model's id.
    pub model_id: Uuid,
    /// The version number used.
    pub version: u32,
    /// The version's id.
    pub version_id: Uuid,
    /// Where records come from.
    pub input: Input,
    /// Where the output goes.
    pub output: Option<Output>,
    /// Worker processes.
    pub workers: u32,
    /// The runtime limit, if any.
    pub max_runtime_seconds: Option<u64>,
    /// Whether schema checking is on.
    pub schema_check: bool,
    /// Record counts so far.
    pub counts: Counts,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Records read per second while running.
    pub records_per_second: Option<f64>,
    /// True after a cancel was asked for.
    pub cancel_requested: bool,
    /// Which attempt holds the job, or held it last (0 before it first ran).
    #[serde(default)]
    pub attempt: u32,
    /// How many attempts may be lost before the job fails.
    #[serde(default)]
    pub max_attempts: u32,
    /// The runner (a server or worker process) of the latest attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// Every attempt at the job, oldest first (on a single job only, not in
    /// lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<JobAttempt>,
    /// The user who queued it (absent for jobs queued before Keel had users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Why it failed or stopped.
    pub error: Option<JobError>,
    /// What it produced, once completed.
    pub result: Option<JobResult>,
}

/// One attempt at a job: one claim by one runner.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct JobAttempt {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// The runner that claimed the job.
    pub runner: String,
    /// When it claimed the job.
    pub started_at: DateTime<Utc>,
    /// When the attempt ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// `RUNNING`, `COMPLETED`, `FAILED`, `STOPPED`, `LOST` (its runner stopped
    /// heart-beating) or `HANDED_BACK` (its runner shut down).
    pub outcome: AttemptOutcome,
}

/// A piece of a job's log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct LogChunk {
    /// Log text from `offset` (at most 1 MiB of it; ask again from
    /// `next_offset` for more).
    pub content: String,
    /// The byte offset `content` starts at: `offset`, or where `tail` led.
    #[serde(default)]
    pub offset: u64,
    /// Pass as `offset` to continue.
    pub next_offset: u64,
    /// The log's size in bytes when it was read.
    #[serde(default)]
    pub size: u64,
    /// True when the job has finished, so no more will come.
    pub finished: bool,
}

/// Query of `GET /jobs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct JobQuery {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Only jobs of this model (name or id).
    pub model: Option<String>,
    /// How many items to return (1–1000, default 100).
    pub max_results: Option<u32>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Query of `GET /jobs/{id}/logs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct LogQuery {
    /// Byte offset to read from.
    pub offset: Option<u64>,
    /// Read only the log's last `tail` bytes (from the first whole line in
    /// them), as `tail -c` would; `offset` is then ignored.
    pub tail: Option<u64>,
}

/// Answer of `/readyz?verbose`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Each check and its outcome.
    pub checks: BTreeMap<String, String>,
}
