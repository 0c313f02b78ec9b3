//! Job kinds, job states, the error a failed job carries, and data formats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An enum value that could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {what}; expected one of: {expected}")]
pub struct ParseEnumError {
    /// What was being parsed ("job kind").
    pub what: &'static str,
    /// The text that did not parse.
    pub value: String,
    /// The accepted spellings, comma separated.
    pub expected: &'static str,
}

/// What a batch job does with a model. Parsing accepts ModelOp's names
/// (`batchjob`, `testjob`, `trainingjob`) in any case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum JobKind {
    /// Calls the score function on every record (ModelOp's `batchjob`).
    Scoring,
    /// Calls the metrics function once on all records (ModelOp's `testjob`).
    Metrics,
    /// Calls the train function once and registers the next version (ModelOp's `trainingjob`).
    Training,
}

impl JobKind {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Scoring => "scoring",
            JobKind::Metrics => "metrics",
            JobKind::Training => "training",
        }
    }
}

impl FromStr for JobKind {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "scoring" | "score" | "batchjob" | "batch" => Ok(JobKind::Scoring),
            "metrics" | "testjob" | "test" => Ok(JobKind::Metrics),
            "training" | "train" | "trainingjob" => Ok(JobKind::Training),
            _ => Err(ParseEnumError {
                what: "job kind",
                value: s.to_string(),
                expected: "scoring (batchjob), metrics (testjob), training (trainingjob)",
            }),
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job is in its life: PENDING → IN_PROGRESS → COMPLETED | FAILED | STOPPED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
pub enum JobStatus {
    /// Queued, not yet claimed by a runner.
    Pending,
    /// Claimed and running.
    InProgress,
    /// Finished; its outputs are committed.
    Completed,
    /// Finished without outputs; `error` says why.
    Failed,
    /// Cancelled or timed out; no outputs are visible.
    Stopped,
}

impl JobStatus {
    /// The wire spelling, such as `IN_PROGRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Stopped => "STOPPED",
        }
    }

    /// True once the job can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Stopped
        )
    }
}

impl FromStr for JobStatus {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" => Ok(JobStatus::Pending),
            "IN_PROGRESS" => Ok(JobStatus::InProgress),
            "COMPLETED" => Ok(JobStatus::Completed),
            "FAILED" => Ok(JobStatus::Failed),
            "STOPPED" => Ok(JobStatus::Stopped),
            _ => Err(ParseEnumError {
                what: "job status",
                value: s.to_string(),
                expected: "PENDING, IN_PROGRESS, COMPLETED, FAILED, STOPPED",
            }),
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one attempt at a job (one claim by one runner) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
pub enum AttemptOutcome {
    /// The attempt holds the job now.
    Running,
    /// The attempt completed the job.
    Completed,
    /// The attempt failed the job.
    Failed,
    /// The attempt stopped the job (cancelled or timed out).
    Stopped,
    /// The attempt's runner stopped heart-beating and its lease ran out.
    Lost,
    /// The attempt's runner shut down and gave the job back to the queue.
    HandedBack,
}

impl AttemptOutcome {
    /// The wire spelling, such as `HANDED_BACK`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Running => "RUNNING",
            AttemptOutcome::Completed => "COMPLETED",
            AttemptOutcome::Failed => "FAILED",
            AttemptOutcome::Stopped => "STOPPED",
            AttemptOutcome::Lost => "LOST",
            AttemptOutcome::HandedBack => "HANDED_BACK",
        }
    }
}

impl FromStr for AttemptOutcome {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "RUNNING" => Ok(AttemptOutcome::Running),
            "COMPLETED" => Ok(AttemptOutcome::Completed),
            "FAILED" => Ok(AttemptOutcome::Failed),
            "STOPPED" => Ok(AttemptOutcome::Stopped),
            "LOST" => Ok(AttemptOutcome::Lost),
            "HANDED_BACK" => Ok(AttemptOutcome::HandedBack),
            _ => Err(ParseEnumError {
                what: "attempt outcome",
                value: s.to_string(),
                expected: "RUNNING, COMPLETED, FAILED, STOPPED, LOST, HANDED_BACK",
            }),
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job did not complete. Stored on the job as data: a failure of the
/// user's model is never a Rust error in Keel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobErrorKind {
    /// The model's code raised an exception.
    UserError,
    /// The worker process died (abort, segfault, killed by the OS).
    Crashed,
    /// The job ran past its `max_runtime_seconds`.
    Timeout,
    /// Someone cancelled the job.
    Cancelled,
    /// The input could not be read at all, or the job's arguments were wrong.
    InvalidInput,
    /// The model's Python runtime could not be prepared.
    RuntimeUnavailable,
    /// Keel itself failed (storage, a bug).
    Internal,
}

impl JobErrorKind {
    /// The wire spelling, such as `USER_ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobErrorKind::UserError => "USER_ERROR",
            JobErrorKind::Crashed => "CRASHED",
            JobErrorKind::Timeout => "TIMEOUT",
            JobErrorKind::Cancelled => "CANCELLED",
            JobErrorKind::InvalidInput => "INVALID_INPUT",
            JobErrorKind::RuntimeUnavailable => "RUNTIME_UNAVAILABLE",
            JobErrorKind::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for JobErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error a FAILED or STOPPED job carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct JobError {
    /// The class of failure.
    pub kind: JobErrorKind,
    /// One or more sentences saying what happened and, where possible, how to fix it.
    pub message: String,
    /// The Python traceback, when the model raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

impl JobError {
    /// A new error with no traceback.
    pub fn new(kind: JobErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            traceback: None,
        }
    }
}

/// A tabular data format Keel reads and writes. Parsing accepts `jsonl` and
/// `ndjson` for JSON, in any case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum DataFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// JSON lines (one object per line); on input, a `.json` file whose first
    /// non-blank character is `[` is read as one JSON array instead.
    Json,
    /// Apache Parquet.
    Parquet,
}

impl DataFormat {
    /// The format a file name implies, from its extension.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "csv" => Some(DataFormat::Csv),
            "json" | "jsonl" | "ndjson" => Some(DataFormat::Json),
            "parquet" | "pq" => Some(DataFormat::Parquet),
            _ => None,
        }
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DataFormat::Csv => "csv",
            DataFormat::Json => "json",
            DataFormat::Parquet => "parquet",
        }
    }
}

impl FromStr for DataFormat {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(DataFormat::Csv),
            "json" | "jsonl" | "ndjson" => Ok(DataFormat::Json),
            "parquet" => Ok(DataFormat::Parquet),
            _ => Err(ParseEnumError {
                what: "data format",
                value: s.to_string(),
                expected: "csv, json (jsonl, ndjson), parquet",
            }),
        }
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

try_from_string!(JobKind, JobStatus, AttemptOutcome, DataFormat);

impl JobKind {
    /// The model function a job of this kind calls for each of its records
    /// (a metrics job with built-in metrics calls score instead; see the job's spec).
    pub fn function(self) -> crate::FunctionKind {
        match self {
            JobKind::Scoring => crate::FunctionKind::Score,
            JobKind::Metrics => crate::FunctionKind::Metrics,
            JobKind::Training => crate::FunctionKind::Train,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modelop_job_names_are_aliases() {
        assert_eq!("batchjob".parse::<JobKind>().unwrap(), JobKind::Scoring);
        assert_eq!("testjob".parse::<JobKind>().unwrap(), JobKind::Metrics);
        assert_eq!("trainingjob".parse::<JobKind>().unwrap(), JobKind::Training);
        let err = "bogus".parse::<JobKind>().unwrap_err();
        assert!(err.to_string().contains("batchjob"));
    }

    #[test]
    fn formats_follow_extensions() {
        assert_eq!(DataFormat::from_name("a/b/in.CSV"), Some(DataFormat::Csv));
        assert_eq!(DataFormat::from_name("x.ndjson"), Some(DataFormat::Json));
        assert_eq!(
            DataFormat::from_name("x.parquet"),
            Some(DataFormat::Parquet)
        );
        assert_eq!(DataFormat::from_name("x.txt"), None);
        assert_eq!(DataFormat::from_name("noext"), None);
    }

    #[test]
    fn serde_accepts_every_spelling_parse_does() {
        let k: JobKind = serde_json::from_str("\"BatchJob\"").unwrap();
        assert_eq!(k, JobKind::Scoring);
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"scoring\"");
        let s: JobStatus = serde_json::from_str("\"in_progress\"").unwrap();
        assert_eq!(s, JobStatus::InProgress);
        let f: DataFormat = serde_json::from_str("\"NDJSON\"").unwrap();
        assert_eq!(f, DataFormat::Json);
        let e = serde_json::from_str::<JobKind>("\"bogus\"").unwrap_err();
        assert!(e.to_string().contains("not a valid job kind"), "{e}");
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "STOPPED"] {
            let st: JobStatus = s.parse().unwrap();
            assert_eq!(st.as_str(), s);
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{s}\""));
        }
        assert!(JobStatus::Stopped.is_terminal());
        assert!(!JobStatus::InProgress.is_terminal());
    }
}
