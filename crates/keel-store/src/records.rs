//! The plain records the metadata store keeps and hands back. These are what
//! `keel-core` and the HTTP API see; they hold no database types.

use chrono::{DateTime, SubsecRound, Utc};
use keel_types::{ComparisonId, JobError, JobId, JobKind, JobStatus, ModelId, UploadId, VersionId};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A registered model: a name that owns numbered versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// One file of a model version, stored content-addressed in the artifact store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionFile {
    /// The path relative to the model directory, with `/` separators.
    pub path: String,
    /// The lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// The size in bytes.
    pub size: u64,
    /// What the file is for (for example `source`, `asset`, `schema`); owned by core.
    pub role: String,
}

/// One immutable version of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// The inspected model definition; owned by core.
    pub definition: serde_json::Value,
    /// The files of the version.
    pub files: Vec<VersionFile>,
    /// The training job that produced this version, if any.
    pub source_job: Option<JobId>,
}

/// Where an alias such as `champion` points now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A batch job and everything known about its run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Input, output and options; owned by core.
    pub spec: serde_json::Value,
    /// Records read so far.
    pub records_read: u64,
    /// Records written so far.
    pub records_written: u64,
    /// Records rejected so far.
    pub records_rejected: u64,
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
    /// True once someone asked to cancel the running job.
    pub cancel_requested: bool,
    /// Why the job failed or stopped.
    pub error: Option<JobError>,
    /// Output locations, produced version, metrics summary; owned by core.
    pub result: Option<serde_json::Value>,
}

impl JobRecord {
    /// A new PENDING job with zero counts, created now (to the microsecond,
    /// which is what the store keeps, so the record round-trips exactly).
    pub fn pending(
        kind: JobKind,
        model_id: ModelId,
        model_name: impl Into<String>,
        version_id: VersionId,
        version_number: u32,
        spec: serde_json::Value,
    ) -> Self {
        Self {
            id: JobId::new(),
            kind,
            status: JobStatus::Pending,
            model_id,
            model_name: model_name.into(),
            version_id,
            version_number,
            spec,
            records_read: 0,
            records_written: 0,
            records_rejected: 0,
            created_at: Utc::now().trunc_subsecs(6),
            started_at: None,
            finished_at: None,
            heartbeat_at: None,
            runner: None,
            cancel_requested: false,
            error: None,
            result: None,
        }
    }
}

/// A data file uploaded for use as a job input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A champion/challenger comparison: two metrics jobs, a policy, and (once
/// both jobs finished) the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRecord {
    /// The comparison's id.
    pub id: ComparisonId,
    /// `PENDING`, `COMPLETED` or `FAILED`.
    pub status: String,
    /// The champion's metrics job.
    pub champion_job: JobId,
    /// The challenger's metrics job.
    pub challenger_job: JobId,
    /// The metric and decision rule; owned by core.
    pub policy: serde_json::Value,
    /// The comparison document, once completed.
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it completed or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Which page of a list to return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// How many items at most; clamped to 1..=1000.
    #[serde(default = "Page::default_limit")]
    pub limit: u32,
    /// The `next_cursor` of the previous page, or `None` for the first page.
    #[serde(default)]
    pub after: Option<String>,
}

impl Page {
    /// The limit used when none is given.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// The largest limit honoured.
    pub const MAX_LIMIT: u32 = 1000;

    fn default_limit() -> u32 {
        Self::DEFAULT_LIMIT
    }

    /// The first page with this limit.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// The page after `cursor` with this limit.
    pub fn after(limit: u32, cursor: impl Into<String>) -> Self {
        Self {
            limit,
            after: Some(cursor.into()),
        }
    }

    /// The limit clamped to 1..=1000.
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass this as `Page::after` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Which jobs to list; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFilter {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Only jobs of this model.
    pub model_id: Option<ModelId>,
}

/// Encodes the sort key of the last item on a page as an opaque cursor. The
/// list name is part of the cursor so that a cursor from one list is refused by
/// another instead of silently returning the wrong page.
pub(crate) fn encode_cursor(list: &str, key: &str) -> String {
    let plain = format!("{list}:{key}");
    let mut out = String::with_capacity(plain.len() * 2);
    for b in plain.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Decodes a cursor made by [`encode_cursor`] for the list `list`.
pub(crate) fn decode_cursor(list: &str, cursor: &str) -> Result<String> {
    let bad = || {
        Error::InvalidArgument(format!(
            "The page cursor '{cursor}' is not valid for listing {list}; pass the next_cursor of the previous page of the same list, or leave it out to start from the first page."
        ))
    };
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return Err(bad());
    }
    let mut bytes = Vec::with_capacity(cursor.len() / 2);
    for i in (0..cursor.len()).step_by(2) {
        let pair = cursor.get(i..i + 2).ok_or_else(bad)?;
        bytes.push(u8::from_str_radix(pair, 16).map_err(|_| bad())?);
    }
    let plain = String::from_utf8(bytes).map_err(|_| bad())?;
    let key = plain
        .strip_prefix(list)
        .and_then(|rest| rest.strip_prefix(':'))
        .ok_or_else(bad)?;
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let c = encode_cursor("models", "fraud-ü");
        assert_eq!(decode_cursor("models", &c).unwrap(), "fraud-ü");
        assert!(decode_cursor("jobs", &c).is_err());
        assert!(decode_cursor("models", "zz").is_err());
        assert!(decode_cursor("models", "abc").is_err());
        let e = decode_cursor("models", "").unwrap_err();
        assert!(e.to_string().contains("next_cursor"), "{e}");
    }

    #[test]
    fn page_limits_are_clamped() {
        assert_eq!(Page::default().effective_limit(), 100);
        assert_eq!(Page::first(0).effective_limit(), 1);
        assert_eq!(Page::first(5000).effective_limit(), 1000);
        let p: Page = serde_json::from_str("{}").unwrap();
        assert_eq!(p, Page::default());
    }
}
