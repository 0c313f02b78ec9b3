//! The SQLite backend of [`MetaStore`]. All SQLite-specific SQL lives here so
//! that the PostgreSQL backend can implement the same trait beside it.
//!
//! Several processes (a CLI and a server) may share one database file, so the
//! database runs in WAL mode with a 10 s busy timeout, multi-statement writes
//! start with `BEGIN IMMEDIATE` (taking the write lock up front, which the busy
//! timeout can wait for, instead of failing when a read lock is upgraded), and
//! the job claim is a single `UPDATE ... RETURNING` statement.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use keel_types::{
    ComparisonId, JobError, JobErrorKind, JobId, JobKind, JobStatus, ModelId, UploadId, VersionId,
    valid_name,
};
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use crate::error::{Error, Result};
use crate::meta::MetaStore;
use crate::records::{
    AliasEvent, AliasRecord, ComparisonRecord, JobFilter, JobRecord, ModelRecord, Page, Paged,
    UploadRecord, VersionFile, VersionRecord, decode_cursor, encode_cursor,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many times opening retries the migrations. SQLite migrations take no
/// lock, so two processes opening a fresh database at once can race; the loser
/// rolls back and, on retry, finds the schema already in place.
const MIGRATION_ATTEMPTS: u32 = 5;

/// How many times opening retries the first connection when the file is
/// locked; with the growing back-off this waits about 10 s in all.
const CONNECT_ATTEMPTS: u32 = 30;

/// Whether an error is SQLite's "database is locked" or "table is locked"
/// (SQLITE_BUSY or SQLITE_LOCKED, with any extended code), which another
/// process holding the file causes and which go away on retry.
fn is_busy(e: &sqlx::Error) -> bool {
    let Some(code) = e.as_database_error().and_then(|d| d.code()) else {
        return false;
    };
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// A metadata store in one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating the file and its parent directories if needed) the
    /// database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Error::io(parent, e))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Turning a fresh file into WAL mode needs an exclusive lock that the
        // busy timeout does not wait for, so a process that opens the file
        // while another is doing so gets SQLITE_BUSY at once; it backs off and
        // tries again, and by then the file is in WAL mode and needs no lock.
        let mut attempt = 1;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && attempt < CONNECT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let mut attempt = 1;
        loop {
            match MIGRATOR.run(&pool).await {
                Ok(()) => break,
                Err(_) if attempt < MIGRATION_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self { pool })
    }

    /// The connection pool, for tests and maintenance.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn job_status(&self, id: JobId) -> Result<Option<JobStatus>> {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        status.map(|s| parse_enum(&s, "jobs.status")).transpose()
    }
}

// ---------------------------------------------------------------------------
// Conversions between records and columns.

/// Truncates a timestamp to what the database keeps, so that what a create
/// method returns equals what a later read returns.
fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// Formats a timestamp as fixed-width RFC 3339 with microseconds, so that text
/// comparison in SQL is time comparison.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str, column: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            Error::Corrupt(format!(
                "{column} holds '{s}', which is not a timestamp ({e})"
            ))
        })
}

fn parse_opt_ts(s: Option<String>, column: &str) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s, column)).transpose()
}

fn parse_id<T: FromStr>(s: &str, column: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Corrupt(format!("{column} holds '{s}', which is not an id")))
}

fn parse_enum<T: FromStr>(s: &str, column: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Corrupt(format!("{column} holds '{s}', which is not a known value")))
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str, column: &str) -> Result<T> {
    serde_json::from_str(s)
        .map_err(|e| Error::Corrupt(format!("{column} holds JSON that does not parse ({e})")))
}

fn to_json<T: serde::Serialize>(v: &T, what: &str) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| Error::InvalidArgument(format!("The {what} cannot be stored as JSON: {e}.")))
}

fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        Error::InvalidArgument(format!(
            "The {what} {v} is too large to store; it must be at most {}.",
            i64::MAX
        ))
    })
}

fn to_u64(v: i64, column: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("{column} holds the negative number {v}")))
}

fn to_u32(v: i64, column: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Corrupt(format!("{column} holds {v}, out of range")))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

fn check_name(name: &str, what: &str) -> Result<()> {
    valid_name(name)
        .map_err(|reason| Error::InvalidArgument(format!("The {what} is not valid: {reason}.")))
}

fn model_from_row(r: &SqliteRow) -> Result<ModelRecord> {
    Ok(ModelRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "models.id")?,
        name: r.try_get("name")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?, "models.created_at")?,
        latest_version: to_u32(r.try_get("latest_version")?, "models.latest_version")?,
    })
}

/// The columns of a version joined with its model's name; the `WHERE` clause
/// is appended with `concat!` so every query stays a static string.
macro_rules! version_select {
    () => {
        "SELECT v.id, v.model_id, m.name AS model_name, v.number, v.created_at, v.content_hash, \
         v.definition, v.files, v.source_job FROM versions v JOIN models m ON m.id = v.model_id "
    };
}

fn version_from_row(r: &SqliteRow) -> Result<VersionRecord> {
    Ok(VersionRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "versions.id")?,
        model_id: parse_id(&r.try_get::<String, _>("model_id")?, "versions.model_id")?,
        model_name: r.try_get("model_name")?,
        number: to_u32(r.try_get("number")?, "versions.number")?,
        created_at: parse_ts(
            &r.try_get::<String, _>("created_at")?,
            "versions.created_at",
        )?,
        content_hash: r.try_get("content_hash")?,
        definition: parse_json(
            &r.try_get::<String, _>("definition")?,
            "versions.definition",
        )?,
        files: parse_json(&r.try_get::<String, _>("files")?, "versions.files")?,
        source_job: r
            .try_get::<Option<String>, _>("source_job")?
            .map(|s| parse_id(&s, "versions.source_job"))
            .transpose()?,
    })
}

macro_rules! alias_select {
    () => {
        "SELECT a.model_id, a.alias, a.version_id, v.number, a.updated_at \
         FROM aliases a JOIN versions v ON v.id = a.version_id "
    };
}

fn alias_from_row(r: &SqliteRow) -> Result<AliasRecord> {
    Ok(AliasRecord {
        model_id: parse_id(&r.try_get::<String, _>("model_id")?, "aliases.model_id")?,
        alias: r.try_get("alias")?,
        version_id: parse_id(&r.try_get::<String, _>("version_id")?, "aliases.version_id")?,
        version_number: to_u32(r.try_get("number")?, "versions.number")?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?, "aliases.updated_at")?,
    })
}

fn alias_event_from_row(r: &SqliteRow) -> Result<AliasEvent> {
    let version = |col: &str| -> Result<Option<u32>> {
        r.try_get::<Option<i64>, _>(col)?
            .map(|v| to_u32(v, col))
            .transpose()
    };
    Ok(AliasEvent {
        model_id: parse_id(
            &r.try_get::<String, _>("model_id")?,
            "alias_events.model_id",
        )?,
        alias: r.try_get("alias")?,
        from_version: version("from_version")?,
        to_version: version("to_version")?,
        at: parse_ts(&r.try_get::<String, _>("at")?, "alias_events.at")?,
    })
}

macro_rules! job_columns {
    () => {
        "id, kind, status, model_id, model_name, version_id, version_number, spec, \
         records_read, records_written, records_rejected, created_at, started_at, finished_at, \
         heartbeat_at, runner, cancel_requested, error, result"
    };
}

fn job_from_row(r: &SqliteRow) -> Result<JobRecord> {
    Ok(JobRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "jobs.id")?,
        kind: parse_enum::<JobKind>(&r.try_get::<String, _>("kind")?, "jobs.kind")?,
        status: parse_enum::<JobStatus>(&r.try_get::<String, _>("status")?, "jobs.status")?,
        model_id: parse_id(&r.try_get::<String, _>("model_id")?, "jobs.model_id")?,
        model_name: r.try_get("model_name")?,
        version_id: parse_id(&r.try_get::<String, _>("version_id")?, "jobs.version_id")?,
        version_number: to_u32(r.try_get("version_number")?, "jobs.version_number")?,
        spec: parse_json(&r.try_get::<String, _>("spec")?, "jobs.spec")?,
        records_read: to_u64(r.try_get("records_read")?, "jobs.records_read")?,
        records_written: to_u64(r.try_get("records_written")?, "jobs.records_written")?,
        records_rejected: to_u64(r.try_get("records_rejected")?, "jobs.records_rejected")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?, "jobs.created_at")?,
        started_at: parse_opt_ts(r.try_get("started_at")?, "jobs.started_at")?,
        finished_at: parse_opt_ts(r.try_get("finished_at")?, "jobs.finished_at")?,
        heartbeat_at: parse_opt_ts(r.try_get("heartbeat_at")?, "jobs.heartbeat_at")?,
        runner: r.try_get("runner")?,
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
        error: r
            .try_get::<Option<String>, _>("error")?
            .map(|s| parse_json(&s, "jobs.error"))
            .transpose()?,
        result: r
            .try_get::<Option<String>, _>("result")?
            .map(|s| parse_json(&s, "jobs.result"))
            .transpose()?,
    })
}

/// The columns `comparison_from_row` reads, in one place for every query.
macro_rules! comparison_columns {
    () => {
        "id, status, champion_job, challenger_job, policy, result, error, created_at, finished_at"
    };
}

fn comparison_from_row(r: &SqliteRow) -> Result<ComparisonRecord> {
    let opt_json = |col: &str| -> Result<Option<serde_json::Value>> {
        match r.try_get::<Option<String>, _>(col)? {
            Some(s) => Ok(Some(parse_json(&s, &format!("comparisons.{col}"))?)),
            None => Ok(None),
        }
    };
    Ok(ComparisonRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "comparisons.id")?,
        status: r.try_get("status")?,
        champion_job: parse_id(
            &r.try_get::<String, _>("champion_job")?,
            "comparisons.champion_job",
        )?,
        challenger_job: parse_id(
            &r.try_get::<String, _>("challenger_job")?,
            "comparisons.challenger_job",
        )?,
        policy: parse_json(&r.try_get::<String, _>("policy")?, "comparisons.policy")?,
        result: opt_json("result")?,
        error: r.try_get("error")?,
        created_at: parse_ts(
            &r.try_get::<String, _>("created_at")?,
            "comparisons.created_at",
        )?,
        finished_at: r
            .try_get::<Option<String>, _>("finished_at")?
            .map(|s| parse_ts(&s, "comparisons.finished_at"))
            .transpose()?,
    })
}

fn upload_from_row(r: &SqliteRow) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "uploads.id")?,
        name: r.try_get("name")?,
        size: to_u64(r.try_get("size")?, "uploads.size")?,
        sha256: r.try_get("sha256")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?, "uploads.created_at")?,
    })
}

/// Splits `limit + 1` fetched items into a page and the cursor of its last
/// item; the extra item only tells whether another page exists.
fn paginate<T>(mut items: Vec<T>, limit: u32, list: &str, key: impl Fn(&T) -> String) -> Paged<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(list, &key(last)))
    } else {
        None
    };
    Paged { items, next_cursor }
}

// ---------------------------------------------------------------------------
// The trait.

#[async_trait]
impl MetaStore for SqliteStore {
    async fn create_model(&self, name: &str) -> Result<ModelRecord> {
        check_name(name, "model name")?;
        let record = ModelRecord {
            id: ModelId::new(),
            name: name.to_string(),
            created_at: trunc(Utc::now()),
            latest_version: 0,
        };
        let inserted = sqlx::query(
            "INSERT INTO models (id, name, created_at, latest_version) VALUES (?, ?, ?, 0)",
        )
        .bind(record.id.to_string())
        .bind(name)
        .bind(ts(record.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(record),
            Err(e) if is_unique_violation(&e) => {
                Err(Error::AlreadyExists(format!("A model named '{name}'")))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn model_by_name(&self, name: &str) -> Result<Option<ModelRecord>> {
        let row =
            sqlx::query("SELECT id, name, created_at, latest_version FROM models WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(model_from_row).transpose()
    }

    async fn model_by_id(&self, id: ModelId) -> Result<Option<ModelRecord>> {
        let row =
            sqlx::query("SELECT id, name, created_at, latest_version FROM models WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(model_from_row).transpose()
    }

    async fn list_models(&self, page: &Page) -> Result<Paged<ModelRecord>> {
        let after = match &page.after {
            Some(c) => decode_cursor("models", c)?,
            None => String::new(),
        };
        let limit = page.effective_limit();
        let rows = sqlx::query(
            "SELECT id, name, created_at, latest_version FROM models \
             WHERE name > ? ORDER BY name LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(model_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(items, limit, "models", |m| m.name.clone()))
    }

    async fn create_version(
        &self,
        model_id: ModelId,
        content_hash: &str,
        definition: &serde_json::Value,
        files: &[VersionFile],
        source_job: Option<JobId>,
    ) -> Result<VersionRecord> {
        let definition_json = to_json(definition, "model definition")?;
        let files_json = to_json(&files, "file list")?;
        let id = VersionId::new();
        let created_at = trunc(Utc::now());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Bumping the counter and inserting in one write transaction makes
        // numbering atomic: concurrent registrations get consecutive numbers.
        let bumped = sqlx::query(
            "UPDATE models SET latest_version = latest_version + 1 WHERE id = ? \
             RETURNING latest_version, name",
        )
        .bind(model_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(bumped) = bumped else {
            return Err(Error::NotFound(format!("The model {model_id}")));
        };
        let number = to_u32(bumped.try_get("latest_version")?, "models.latest_version")?;
        let model_name: String = bumped.try_get("name")?;
        sqlx::query(
            "INSERT INTO versions (id, model_id, number, created_at, content_hash, definition, \
             files, source_job) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(model_id.to_string())
        .bind(i64::from(number))
        .bind(ts(created_at))
        .bind(content_hash)
        .bind(definition_json)
        .bind(files_json)
        .bind(source_job.map(|j| j.to_string()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(VersionRecord {
            id,
            model_id,
            model_name,
            number,
            created_at,
            content_hash: content_hash.to_string(),
            definition: definition.clone(),
            files: files.to_vec(),
            source_job,
        })
    }

    async fn version_by_hash(
        &self,
        model_id: ModelId,
        content_hash: &str,
    ) -> Result<Option<VersionRecord>> {
        let row = sqlx::query(concat!(
            version_select!(),
            "WHERE v.model_id = ? AND v.content_hash = ? ORDER BY v.number DESC LIMIT 1"
        ))
        .bind(model_id.to_string())
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn version_by_id(&self, id: VersionId) -> Result<Option<VersionRecord>> {
        let row = sqlx::query(concat!(version_select!(), "WHERE v.id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn version_by_number(
        &self,
        model_id: ModelId,
        number: u32,
    ) -> Result<Option<VersionRecord>> {
        let row = sqlx::query(concat!(
            version_select!(),
            "WHERE v.model_id = ? AND v.number = ?"
        ))
        .bind(model_id.to_string())
        .bind(i64::from(number))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn latest_version(&self, model_id: ModelId) -> Result<Option<VersionRecord>> {
        let row = sqlx::query(concat!(
            version_select!(),
            "WHERE v.model_id = ? ORDER BY v.number DESC LIMIT 1"
        ))
        .bind(model_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn list_versions(&self, model_id: ModelId, page: &Page) -> Result<Paged<VersionRecord>> {
        let after: i64 = match &page.after {
            Some(c) => {
                let key = decode_cursor("versions", c)?;
                key.parse().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "The page cursor '{c}' is not valid for listing versions; pass the next_cursor of the previous page."
                    ))
                })?
            }
            None => 0,
        };
        let limit = page.effective_limit();
        let rows = sqlx::query(concat!(
            version_select!(),
            "WHERE v.model_id = ? AND v.number > ? ORDER BY v.number LIMIT ?"
        ))
        .bind(model_id.to_string())
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(items, limit, "versions", |v| v.number.to_string()))
    }

    async fn set_alias(
        &self,
        model_id: ModelId,
        alias: &str,
        version_id: VersionId,
    ) -> Result<AliasEvent> {
        check_name(alias, "alias")?;
        let now = trunc(Utc::now());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let target = sqlx::query("SELECT model_id, number FROM versions WHERE id = ?")
            .bind(version_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(target) = target else {
            return Err(Error::NotFound(format!("The version {version_id}")));
        };
        let owner: ModelId = parse_id(
            &target.try_get::<String, _>("model_id")?,
            "versions.model_id",
        )?;
        if owner != model_id {
            return Err(Error::InvalidArgument(format!(
                "Version {version_id} belongs to model {owner}, not to model {model_id}; an alias can only point to a version of its own model."
            )));
        }
        let to = to_u32(target.try_get("number")?, "versions.number")?;
        let from: Option<i64> = sqlx::query_scalar(
            "SELECT v.number FROM aliases a JOIN versions v ON v.id = a.version_id \
             WHERE a.model_id = ? AND a.alias = ?",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await?;
        let from = from.map(|n| to_u32(n, "versions.number")).transpose()?;
        let event = AliasEvent {
            model_id,
            alias: alias.to_string(),
            from_version: from,
            to_version: Some(to),
            at: now,
        };
        if from == Some(to) {
            // Nothing moves, so history stays free of no-op entries.
            tx.rollback().await?;
            return Ok(event);
        }
        sqlx::query(
            "INSERT INTO aliases (model_id, alias, version_id, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (model_id, alias) DO UPDATE \
             SET version_id = excluded.version_id, updated_at = excluded.updated_at",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .bind(version_id.to_string())
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO alias_events (model_id, alias, from_version, to_version, at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .bind(from.map(i64::from))
        .bind(i64::from(to))
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn alias(&self, model_id: ModelId, alias: &str) -> Result<Option<AliasRecord>> {
        let row = sqlx::query(concat!(
            alias_select!(),
            "WHERE a.model_id = ? AND a.alias = ?"
        ))
        .bind(model_id.to_string())
        .bind(alias)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(alias_from_row).transpose()
    }

    async fn list_aliases(&self, model_id: ModelId) -> Result<Vec<AliasRecord>> {
        let rows = sqlx::query(concat!(
            alias_select!(),
            "WHERE a.model_id = ? ORDER BY a.alias"
        ))
        .bind(model_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_from_row).collect()
    }

    async fn delete_alias(&self, model_id: ModelId, alias: &str) -> Result<bool> {
        let now = trunc(Utc::now());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let from: Option<i64> = sqlx::query_scalar(
            "SELECT v.number FROM aliases a JOIN versions v ON v.id = a.version_id \
             WHERE a.model_id = ? AND a.alias = ?",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(from) = from else {
            tx.rollback().await?;
            return Ok(false);
        };
        sqlx::query("DELETE FROM aliases WHERE model_id = ? AND alias = ?")
            .bind(model_id.to_string())
            .bind(alias)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO alias_events (model_id, alias, from_version, to_version, at) \
             VALUES (?, ?, ?, NULL, ?)",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .bind(from)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn alias_history(&self, model_id: ModelId) -> Result<Vec<AliasEvent>> {
        let rows = sqlx::query(
            "SELECT model_id, alias, from_version, to_version, at FROM alias_events \
             WHERE model_id = ? ORDER BY seq",
        )
        .bind(model_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_event_from_row).collect()
    }

    async fn create_job(&self, job: &JobRecord) -> Result<()> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO jobs (",
            job_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(job.id.to_string())
        .bind(job.kind.as_str())
        .bind(job.status.as_str())
        .bind(job.model_id.to_string())
        .bind(&job.model_name)
        .bind(job.version_id.to_string())
        .bind(i64::from(job.version_number))
        .bind(to_json(&job.spec, "job spec")?)
        .bind(to_i64(job.records_read, "records_read count")?)
        .bind(to_i64(job.records_written, "records_written count")?)
        .bind(to_i64(job.records_rejected, "records_rejected count")?)
        .bind(ts(job.created_at))
        .bind(job.started_at.map(ts))
        .bind(job.finished_at.map(ts))
        .bind(job.heartbeat_at.map(ts))
        .bind(&job.runner)
        .bind(i64::from(job.cancel_requested))
        .bind(
            job.error
                .as_ref()
                .map(|e| to_json(e, "job error"))
                .transpose()?,
        )
        .bind(
            job.result
                .as_ref()
                .map(|r| to_json(r, "job result"))
                .transpose()?,
        )
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(Error::AlreadyExists(format!("A job with id {}", job.id)))
            }
            Err(e) if is_foreign_key_violation(&e) => Err(Error::NotFound(format!(
                "The model {} or its version {} that job {} refers to",
                job.model_id, job.version_id, job.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, filter: &JobFilter, page: &Page) -> Result<Paged<JobRecord>> {
        let before = match &page.after {
            Some(c) => {
                let key = decode_cursor("jobs", c)?;
                Some(parse_id::<JobId>(&key, "the jobs cursor").map_err(|_| {
                    Error::InvalidArgument(format!(
                        "The page cursor '{c}' is not valid for listing jobs; pass the next_cursor of the previous page."
                    ))
                })?)
            }
            None => None,
        };
        let status = filter.status.map(|s| s.as_str());
        let kind = filter.kind.map(|k| k.as_str());
        let model = filter.model_id.map(|m| m.to_string());
        let before = before.map(|b| b.to_string());
        let limit = page.effective_limit();
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE (? IS NULL OR status = ?) AND (? IS NULL OR kind = ?) \
             AND (? IS NULL OR model_id = ?) AND (? IS NULL OR id < ?) \
             ORDER BY id DESC LIMIT ?"
        ))
        .bind(status)
        .bind(status)
        .bind(kind)
        .bind(kind)
        .bind(model.clone())
        .bind(model)
        .bind(before.clone())
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
        Ok(paginate(items, limit, "jobs", |j| j.id.to_string()))
    }

    async fn claim_job(
        &self,
        id: Option<JobId>,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JobRecord>> {
        let now = ts(now);
        let id = id.map(|i| i.to_string());
        // One statement takes the write lock before it reads, so two claimers
        // (threads or processes) can never both see the same job as PENDING.
        let row = sqlx::query(concat!(
            "UPDATE jobs SET status = 'IN_PROGRESS', started_at = ?, heartbeat_at = ?, runner = ? \
             WHERE id = (SELECT id FROM jobs WHERE status = 'PENDING' AND (? IS NULL OR id = ?) \
             ORDER BY id LIMIT 1) AND status = 'PENDING' RETURNING ",
            job_columns!()
        ))
        .bind(&now)
        .bind(&now)
        .bind(runner)
        .bind(id.clone())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn heartbeat(
        &self,
        id: JobId,
        read: u64,
        written: u64,
        rejected: u64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let cancel: Option<i64> = sqlx::query_scalar(
            "UPDATE jobs SET records_read = ?, records_written = ?, records_rejected = ?, \
             heartbeat_at = ? WHERE id = ? AND status = 'IN_PROGRESS' RETURNING cancel_requested",
        )
        .bind(to_i64(read, "records_read count")?)
        .bind(to_i64(written, "records_written count")?)
        .bind(to_i64(rejected, "records_rejected count")?)
        .bind(ts(now))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match cancel {
            Some(flag) => Ok(flag != 0),
            None => match self.job_status(id).await? {
                // The job was finished or failed behind the runner's back, so
                // the runner must stop working on it.
                Some(_) => Ok(true),
                None => Err(Error::NotFound(format!("The job {id}"))),
            },
        }
    }

    async fn finish_job(
        &self,
        id: JobId,
        status: JobStatus,
        counts: (u64, u64, u64),
        error: Option<&JobError>,
        result: Option<&serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if !status.is_terminal() {
            return Err(Error::InvalidArgument(format!(
                "A job can only finish as COMPLETED, FAILED or STOPPED, not {status}."
            )));
        }
        let done = sqlx::query(
            "UPDATE jobs SET status = ?, records_read = ?, records_written = ?, \
             records_rejected = ?, error = ?, result = ?, finished_at = ? \
             WHERE id = ? AND status = 'IN_PROGRESS'",
        )
        .bind(status.as_str())
        .bind(to_i64(counts.0, "records_read count")?)
        .bind(to_i64(counts.1, "records_written count")?)
        .bind(to_i64(counts.2, "records_rejected count")?)
        .bind(error.map(|e| to_json(e, "job error")).transpose()?)
        .bind(result.map(|r| to_json(r, "job result")).transpose()?)
        .bind(ts(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        match self.job_status(id).await? {
            Some(_) => Ok(false),
            None => Err(Error::NotFound(format!("The job {id}"))),
        }
    }

    async fn request_cancel(&self, id: JobId, now: DateTime<Utc>) -> Result<JobRecord> {
        let error = JobError::new(
            JobErrorKind::Cancelled,
            "The job was cancelled before it started.",
        );
        // Each step is one atomic statement; if the job moves on between two
        // steps (claimed, or finished), the next step sees its new status.
        let stopped = sqlx::query(concat!(
            "UPDATE jobs SET status = 'STOPPED', finished_at = ?, error = ? \
             WHERE id = ? AND status = 'PENDING' RETURNING ",
            job_columns!()
        ))
        .bind(ts(now))
        .bind(to_json(&error, "job error")?)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = stopped {
            return job_from_row(&row);
        }
        let flagged = sqlx::query(concat!(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'IN_PROGRESS' RETURNING ",
            job_columns!()
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = flagged {
            return job_from_row(&row);
        }
        match self.job_status(id).await? {
            Some(status) => Err(Error::Conflict(format!(
                "Job {id} already finished ({status}); only PENDING and IN_PROGRESS jobs can be cancelled."
            ))),
            None => Err(Error::NotFound(format!("The job {id}"))),
        }
    }

    async fn requeue_stale(&self, older_than: DateTime<Utc>) -> Result<u64> {
        let error = JobError::new(
            JobErrorKind::Crashed,
            "The runner stopped heart-beating before the job finished (its process probably died or the server restarted); submit the job again to retry it.",
        );
        let done = sqlx::query(
            "UPDATE jobs SET status = 'FAILED', finished_at = ?, error = ? \
             WHERE status = 'IN_PROGRESS' \
             AND COALESCE(heartbeat_at, started_at, created_at) < ?",
        )
        .bind(ts(Utc::now()))
        .bind(to_json(&error, "job error")?)
        .bind(ts(older_than))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn create_upload(&self, upload: &UploadRecord) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO uploads (id, name, size, sha256, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(upload.id.to_string())
        .bind(&upload.name)
        .bind(to_i64(upload.size, "upload size")?)
        .bind(&upload.sha256)
        .bind(ts(upload.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists(format!(
                "An upload with id {}",
                upload.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn upload(&self, id: UploadId) -> Result<Option<UploadRecord>> {
        let row =
            sqlx::query("SELECT id, name, size, sha256, created_at FROM uploads WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn create_comparison(&self, c: &ComparisonRecord) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO comparisons (id, status, champion_job, challenger_job, policy, result, \
             error, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.to_string())
        .bind(&c.status)
        .bind(c.champion_job.to_string())
        .bind(c.challenger_job.to_string())
        .bind(to_json(&c.policy, "comparison policy")?)
        .bind(
            c.result
                .as_ref()
                .map(|r| to_json(r, "comparison result"))
                .transpose()?,
        )
        .bind(&c.error)
        .bind(ts(c.created_at))
        .bind(c.finished_at.map(ts))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists(format!(
                "A comparison with id {}",
                c.id
            ))),
            Err(e) if is_foreign_key_violation(&e) => Err(Error::NotFound(format!(
                "The job {} or {}",
                c.champion_job, c.challenger_job
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn comparison(&self, id: ComparisonId) -> Result<Option<ComparisonRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            comparison_columns!(),
            " FROM comparisons WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(comparison_from_row).transpose()
    }

    async fn list_comparisons(&self, page: &Page) -> Result<Paged<ComparisonRecord>> {
        let before = match &page.after {
            Some(c) => Some(decode_cursor("comparisons", c)?),
            None => None,
        };
        let limit = page.effective_limit();
        let rows = sqlx::query(concat!(
            "SELECT ",
            comparison_columns!(),
            " FROM comparisons WHERE (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?"
        ))
        .bind(before.clone())
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(comparison_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(items, limit, "comparisons", |c| c.id.to_string()))
    }

    async fn finish_comparison(
        &self,
        id: ComparisonId,
        status: &str,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if status != "COMPLETED" && status != "FAILED" {
            return Err(Error::InvalidArgument(format!(
                "A comparison can only finish as COMPLETED or FAILED, not {status}."
            )));
        }
        let done = sqlx::query(
            "UPDATE comparisons SET status = ?, result = ?, error = ?, finished_at = ? \
             WHERE id = ? AND status = 'PENDING'",
        )
        .bind(status)
        .bind(
            result
                .map(|r| to_json(r, "comparison result"))
                .transpose()?,
        )
        .bind(error)
        .bind(ts(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        match self.comparison(id).await? {
            Some(_) => Ok(false),
            None => Err(Error::NotFound(format!("The comparison {id}"))),
        }
    }
}
