//! The documents the store keeps inside rows (a job's request and result, a
//! comparison's policy, a version's model definition), each written with a
//! `format` number and read through one upgrade function per older format.
//!
//! These types belong to the store, not to the REST API: renaming a field of
//! the API changes nothing here, and changing a field here means a new format
//! number and an upgrade from the previous one. The number is kept under the
//! key `record_format` (not `format`, which a job request uses for its data
//! format). Format 0 is what Keel wrote before documents carried a number; it
//! has the same fields as format 1, so its upgrade changes nothing.

use std::collections::BTreeMap;

use keel_types::{DataFormat, JobError, JobErrorKind, UploadId, VersionId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The key that carries a document's format number.
pub(crate) const FORMAT_KEY: &str = "record_format";

/// A document the store keeps, with its current format and its upgrades.
pub(crate) trait Persisted: Serialize + DeserializeOwned {
    /// What the document is, for messages ("job request").
    const WHAT: &'static str;
    /// The format this version of Keel writes.
    const FORMAT: u64;
    /// Turns a document of format `from` into one of format `from + 1`.
    fn upgrade(from: u64, doc: Value) -> std::result::Result<Value, String>;
}

/// The upgrade of a document whose fields have not changed since format 0:
/// format 0 only lacked the number. A document that changes gets its own
/// upgrade function, with one arm per older format.
fn unchanged_since_format_0(from: u64, doc: Value) -> std::result::Result<Value, String> {
    match from {
        0 => Ok(doc),
        _ => Err(format!("format {from} is unknown")),
    }
}

/// Serializes a document with its format number.
pub(crate) fn encode<T: Persisted>(doc: &T) -> Result<String> {
    let mut value = serde_json::to_value(doc).map_err(|e| {
        Error::InvalidArgument(format!("The {} cannot be stored as JSON: {e}.", T::WHAT))
    })?;
    if let Value::Object(map) = &mut value {
        map.insert(FORMAT_KEY.into(), Value::from(T::FORMAT));
    }
    serde_json::to_string(&value).map_err(|e| {
        Error::InvalidArgument(format!("The {} cannot be stored as JSON: {e}.", T::WHAT))
    })
}

/// Reads a stored document of any known format, upgrading it step by step.
/// `column` names where it was stored, for the message when it is corrupt.
pub(crate) fn decode<T: Persisted>(text: &str, column: &str) -> Result<T> {
    let corrupt = |why: String| Error::Corrupt(format!("{column} holds a {} that {why}", T::WHAT));
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| corrupt(format!("is not JSON ({e})")))?;
    let mut format = match &mut value {
        Value::Object(map) => match map.remove(FORMAT_KEY) {
            None => 0,
            Some(v) => v.as_u64().ok_or_else(|| {
                corrupt(format!(
                    "has the format {v}, which is not a whole number from 0"
                ))
            })?,
        },
        _ => return Err(corrupt("is not a JSON object".into())),
    };
    if format > T::FORMAT {
        return Err(Error::Corrupt(format!(
            "{column} holds a {} in format {format}, written by a newer Keel (this one reads up to {}); upgrade Keel",
            T::WHAT,
            T::FORMAT
        )));
    }
    while format < T::FORMAT {
        value = T::upgrade(format, value)
            .map_err(|why| corrupt(format!("cannot be upgraded from format {format}: {why}")))?;
        format += 1;
    }
    serde_json::from_value(value).map_err(|e| corrupt(format!("does not parse ({e})")))
}

/// Where a job reads its records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputRecord {
    /// A file uploaded to Keel.
    Upload {
        /// The upload.
        upload_id: UploadId,
        /// Its file name.
        #[serde(default)]
        name: String,
    },
    /// A path or `file://` URI.
    Path {
        /// The path or URI.
        uri: String,
    },
}

/// Where a job writes its output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutputRecord {
    /// A bare file name, kept in the artifact store.
    Embedded {
        /// The file name.
        name: String,
    },
    /// A path or `file://` URI.
    External {
        /// The path or URI.
        uri: String,
    },
}

impl OutputRecord {
    /// The name or URI; its extension says the format.
    pub fn target(&self) -> &str {
        match self {
            OutputRecord::Embedded { name } => name,
            OutputRecord::External { uri } => uri,
        }
    }
}

/// The built-in metrics a metrics job computes, with every column role
/// settled that scoring does not decide.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRolesRecord {
    /// `binary`, `multiclass` or `regression`, when settled.
    pub problem_type: Option<String>,
    /// The label column.
    pub label: String,
    /// The probability column.
    pub probability: Option<String>,
    /// The prediction column.
    pub prediction: Option<String>,
    /// The decision threshold.
    pub threshold: f64,
    /// The positive class.
    pub positive_label: Option<String>,
    /// Protected attributes.
    pub protected: Vec<String>,
    /// Reference groups of protected attributes.
    pub reference_groups: BTreeMap<String, String>,
    /// The subsample seed.
    pub seed: u64,
    /// The most points a curve keeps.
    pub curve_points: usize,
    /// Subsamples behind each standard deviation; jobs stored before this
    /// setting existed used 5.
    #[serde(default = "default_subsamples")]
    pub subsamples: usize,
}

fn default_subsamples() -> usize {
    5
}

/// What a job was asked to do (stored in `jobs.spec`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    /// Where records come from.
    pub input: InputRecord,
    /// Where the output goes.
    pub output: Option<OutputRecord>,
    /// The input format, when the extension does not say it.
    pub format: Option<DataFormat>,
    /// Worker processes.
    pub workers: u32,
    /// The runtime limit.
    pub max_runtime_seconds: Option<u64>,
    /// Whether records are checked against the schemas.
    pub schema_check: bool,
    /// The built-in metrics of a metrics job.
    #[serde(default)]
    pub builtin: Option<MetricsRolesRecord>,
    /// The baseline a metrics function with two parameters compares the
    /// input with (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<InputRecord>,
}

impl Persisted for JobRequest {
    const WHAT: &'static str = "job request";
    const FORMAT: u64 = 2;
    /// Format 2 added the optional `baseline`; older requests have none.
    fn upgrade(from: u64, doc: Value) -> std::result::Result<Value, String> {
        match from {
            0 | 1 => Ok(doc),
            _ => Err(format!("format {from} is unknown")),
        }
    }
}

/// What a completed job produced (stored in `jobs.result`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// Where the output is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputRecord>,
    /// The output's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<DataFormat>,
    /// Whether rejected records were kept.
    #[serde(default)]
    pub has_rejected: bool,
    /// The version a training job created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_version: Option<u32>,
    /// That version's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_version_id: Option<VersionId>,
    /// A metrics job's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
}

impl Persisted for JobResult {
    const WHAT: &'static str = "job result";
    const FORMAT: u64 = 1;
    fn upgrade(from: u64, doc: Value) -> std::result::Result<Value, String> {
        unchanged_since_format_0(from, doc)
    }
}

/// The error of a failed or stopped job (stored in `jobs.error`); a mirror of
/// `keel_types::JobError`, so that changing that type changes nothing stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobErrorRecord {
    kind: JobErrorKind,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceback: Option<String>,
}

impl From<&JobError> for JobErrorRecord {
    fn from(e: &JobError) -> Self {
        JobErrorRecord {
            kind: e.kind,
            message: e.message.clone(),
            traceback: e.traceback.clone(),
        }
    }
}

impl From<JobErrorRecord> for JobError {
    fn from(e: JobErrorRecord) -> Self {
        JobError {
            kind: e.kind,
            message: e.message,
            traceback: e.traceback,
        }
    }
}

impl Persisted for JobErrorRecord {
    const WHAT: &'static str = "job error";
    const FORMAT: u64 = 1;
    fn upgrade(from: u64, doc: Value) -> std::result::Result<Value, String> {
        unchanged_since_format_0(from, doc)
    }
}

/// The decision rule of a comparison (stored in `comparisons.policy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparePolicy {
    /// The metric the verdict rests on.
    pub metric: String,
    /// The minimum improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// The confidence of the interval.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Bootstrap resamples.
    #[serde(default = "default_resamples")]
    pub resamples: u32,
    /// Bootstrap seed.
    #[serde(default)]
    pub seed: u64,
}

fn default_confidence() -> f64 {
    0.95
}

fn default_resamples() -> u32 {
    1000
}

impl Persisted for ComparePolicy {
    const WHAT: &'static str = "comparison policy";
    const FORMAT: u64 = 1;
    fn upgrade(from: u64, doc: Value) -> std::result::Result<Value, String> {
        unchanged_since_format_0(from, doc)
    }
}

/// One function of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// The Python function name.
    pub name: String,
    /// The file defining it.
    pub file: String,
    /// The line of its `def`.
    pub line: u32,
    /// Score only: whether it takes a whole DataFrame.
    pub batch: bool,
    /// Its parameter names.
    pub params: Vec<String>,
}

/// A model's functions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionsRecord {
    /// `# modelop.init`.
    pub init: Option<FunctionRecord>,
    /// `# modelop.score`.
    pub score: Option<FunctionRecord>,
    /// `# modelop.metrics`.
    pub metrics: Option<FunctionRecord>,
    /// `# modelop.train`.
    pub train: Option<FunctionRecord>,
}

/// The Python platform of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformRecord {
    /// The requirements file.
    pub requirements_file: Option<String>,
    /// Its normalised lines.
    pub requirements: Vec<String>,
    /// The Python version asked for.
    pub python_version: Option<String>,
    /// The platform's hash.
    pub hash: String,
}

/// One file of a model definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionFile {
    /// The relative path.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// `source`, `attachment`, `schema`, `manifest` or `requirements`.
    pub role: String,
}

/// What a version's directory holds, as inspected at registration (stored in
/// `versions.definition`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDefinition {
    /// The model's name at inspection.
    pub name: String,
    /// The primary source file.
    pub source: String,
    /// Its module name.
    pub module: String,
    /// The functions.
    pub functions: FunctionsRecord,
    /// The input schema file.
    pub input_schema: Option<String>,
    /// The output schema file.
    pub output_schema: Option<String>,
    /// The column a score function's bare values go to (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_column: Option<String>,
    /// The platform.
    pub platform: PlatformRecord,
    /// Every file.
    pub files: Vec<DefinitionFile>,
    /// The content hash.
    pub content_hash: String,
    /// The adapter Keel serves the model through, if any (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterRecord>,
}

/// A model Keel serves through one of its adapters (an MLflow model).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterRecord {
    /// `mlflow`.
    pub kind: String,
    /// What inspection found, for people.
    pub summary: String,
    /// What inspection left out or changed.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The adapter's configuration, as JSON text.
    pub config: String,
}

impl Persisted for ModelDefinition {
    const WHAT: &'static str = "model definition";
    const FORMAT: u64 = 2;
    /// Format 2 added optional fields only (`output_column`, `adapter`; a model without
    /// a score function, which format 1 could already hold as a missing
    /// `functions.score`), so older documents read as they are.
    fn upgrade(from: u64, doc: Value) -> std::result::Result<Value, String> {
        match from {
            0 | 1 => Ok(doc),
            _ => Err(format!("format {from} is unknown")),
        }
    }
}

/// Where a version's files came from, when Keel fetched them itself (stored
/// in `versions.origin`). It is metadata: the content hash never covers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VersionOrigin {
    /// A commit of a git repository.
    Git {
        /// The repository URL, without credentials.
        repository: String,
        /// The branch, tag or commit asked for (the default branch's name
        /// when none was).
        reference: String,
        /// The commit the files were taken from.
        commit: String,
        /// The model's directory inside the repository; `None` is its root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subdir: Option<String>,
    },
}

impl Persisted for VersionOrigin {
    const WHAT: &'static str = "version origin";
    const FORMAT: u64 = 1;
    fn upgrade(from: u64, _doc: Value) -> std::result::Result<Value, String> {
        // Origins were first stored in format 1, so no older one exists.
        Err(format!(
            "format {from} is unknown (origins were first stored in format 1)"
        ))
    }
}

/// A monitor's request as its client sent it (a SageMaker job definition or
/// schedule configuration, in SageMaker's field names), kept whole so that
/// describing it answers every field, those Keel does not act on included
/// (stored in `monitor_definitions.document` and `monitor_schedules.document`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorDocument {
    /// The request's fields.
    pub request: Value,
}

impl Persisted for MonitorDocument {
    const WHAT: &'static str = "monitor document";
    const FORMAT: u64 = 1;
    fn upgrade(from: u64, _doc: Value) -> std::result::Result<Value, String> {
        // Monitors were first stored in format 1, so no older one exists.
        Err(format!(
            "format {from} is unknown (monitors were first stored in format 1)"
        ))
    }
}
