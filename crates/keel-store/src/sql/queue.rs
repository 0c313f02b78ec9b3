//! The job queue in SQL, the same on SQLite and PostgreSQL: enqueue, claims
//! as numbered attempts holding a lease, heartbeats that renew it, the finish
//! and hand-back fenced by the attempt, cancellation, and the sweep of leases
//! that ran out. The claim's locking clause is the one part each backend
//! words its own way.

use keel_types::{AttemptOutcome, JobError, JobErrorKind, JobKind, JobStatus};

use super::Columns;
use super::rows::{parse_enum, parse_id, parse_opt_ts, parse_ts, to_u32, to_u64, ts};
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::formats::{JobErrorRecord, JobResult, decode, encode};
use crate::records::{AttemptRecord, Counts, Finish, JobRecord};

/// The columns `job_from_row` reads, in one place for every query.
macro_rules! job_columns {
    () => {
        "id, kind, status, model_id, model_name, version_id, version_number, spec, \
         records_read, records_written, records_rejected, created_at, started_at, finished_at, \
         heartbeat_at, runner, attempt, max_attempts, lease_until, cancel_requested, error, result, \
         created_by"
    };
}
pub(crate) use job_columns;

pub(crate) fn job_from_row(r: &impl Columns) -> Result<JobRecord> {
    Ok(JobRecord {
        id: parse_id(&r.text("id")?, "jobs.id")?,
        kind: parse_enum::<JobKind>(&r.text("kind")?, "jobs.kind")?,
        status: parse_enum::<JobStatus>(&r.text("status")?, "jobs.status")?,
        model_id: parse_id(&r.text("model_id")?, "jobs.model_id")?,
        model_name: r.text("model_name")?,
        version_id: parse_id(&r.text("version_id")?, "jobs.version_id")?,
        version_number: to_u32(r.int("version_number")?, "jobs.version_number")?,
        request: decode(&r.text("spec")?, "jobs.spec")?,
        counts: Counts {
            read: to_u64(r.int("records_read")?, "jobs.records_read")?,
            written: to_u64(r.int("records_written")?, "jobs.records_written")?,
            rejected: to_u64(r.int("records_rejected")?, "jobs.records_rejected")?,
        },
        created_at: parse_ts(&r.text("created_at")?, "jobs.created_at")?,
        started_at: parse_opt_ts(r.opt_text("started_at")?, "jobs.started_at")?,
        finished_at: parse_opt_ts(r.opt_text("finished_at")?, "jobs.finished_at")?,
        heartbeat_at: parse_opt_ts(r.opt_text("heartbeat_at")?, "jobs.heartbeat_at")?,
        runner: r.opt_text("runner")?,
        attempt: to_u32(r.int("attempt")?, "jobs.attempt")?,
        max_attempts: to_u32(r.int("max_attempts")?, "jobs.max_attempts")?,
        lease_until: parse_opt_ts(r.opt_text("lease_until")?, "jobs.lease_until")?,
        cancel_requested: r.int("cancel_requested")? != 0,
        error: r
            .opt_text("error")?
            .map(|s| decode::<JobErrorRecord>(&s, "jobs.error").map(JobError::from))
            .transpose()?,
        result: r
            .opt_text("result")?
            .map(|s| decode::<JobResult>(&s, "jobs.result"))
            .transpose()?,
        created_by: r.opt_text("created_by")?,
    })
}

pub(crate) fn error_json(e: &JobError) -> Result<String> {
    encode(&JobErrorRecord::from(e))
}

pub(crate) fn attempt_from_row(r: &impl Columns) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        attempt: to_u32(r.int("attempt")?, "job_attempts.attempt")?,
        runner: r.text("runner")?,
        started_at: parse_ts(&r.text("started_at")?, "job_attempts.started_at")?,
        ended_at: parse_opt_ts(r.opt_text("ended_at")?, "job_attempts.ended_at")?,
        outcome: parse_enum::<AttemptOutcome>(&r.text("outcome")?, "job_attempts.outcome")?,
    })
}

/// The outcome an attempt that finished its job this way records.
pub(crate) fn outcome_of(finish: &Finish) -> AttemptOutcome {
    match finish {
        Finish::Completed { .. } => AttemptOutcome::Completed,
        Finish::Failed { .. } => AttemptOutcome::Failed,
        Finish::Stopped { .. } => AttemptOutcome::Stopped,
    }
}

/// The error of a job whose last allowed attempt was lost.
pub(crate) fn lost_error(lost: u32, max_attempts: u32, runner: Option<&str>) -> JobError {
    let runner = runner
        .map(|r| format!(" (the last on {r})"))
        .unwrap_or_default();
    JobError::new(
        JobErrorKind::Crashed,
        format!(
            "The job's runner stopped heart-beating before the job finished on {lost} of {lost} attempts{runner}; its process probably died or lost the database. It is not retried again: max_attempts is {max_attempts}."
        ),
    )
}

/// The error of a cancelled job that was stopped without its runner.
pub(crate) fn cancelled_without_runner() -> JobError {
    JobError::new(
        JobErrorKind::Cancelled,
        "The job was cancelled after its runner had stopped heart-beating, so it was stopped without it.",
    )
}

/// Whether an IN_PROGRESS job's lease ran out before `$n`: its lease, or for
/// jobs claimed before leases existed its last sign of life.
macro_rules! lease_ran_out {
    ($n:literal) => {
        concat!(
            "COALESCE(lease_until, heartbeat_at, started_at, created_at) < $",
            $n
        )
    };
}
pub(crate) use lease_ran_out;

/// Records, in the transaction `$tx` that ended it, how attempt `$attempt`
/// (an `i64`) of job `$job` (its id as text) ended: `$outcome` at `$now`.
macro_rules! end_attempt {
    ($tx:expr, $job:expr, $attempt:expr, $outcome:expr, $now:expr) => {
        sqlx::query(
            "UPDATE job_attempts SET outcome = $1, ended_at = $2 WHERE job_id = $3 AND attempt = $4",
        )
        .bind($outcome.as_str())
        .bind($now)
        .bind($job)
        .bind($attempt)
        .execute(&mut *$tx)
        .await
    };
}
pub(crate) use end_attempt;

/// Puts job `$1` back in the queue from its attempt `$2`, which must still
/// hold it: the one way a job goes back, whether its runner gave it back or
/// its lease ran out. The next attempt starts afresh: no runner, no lease,
/// zero counts. A cancel asked for meanwhile stays asked for, so the next
/// attempt stops at once.
macro_rules! requeue {
    () => {
        "UPDATE jobs SET status = 'PENDING', runner = NULL, started_at = NULL, \
         heartbeat_at = NULL, lease_until = NULL, records_read = 0, \
         records_written = 0, records_rejected = 0 \
         WHERE id = $1 AND attempt = $2 AND status = 'IN_PROGRESS'"
    };
}
pub(crate) use requeue;

/// When a lease taken or renewed at `now` for `lease_for` runs out, as the
/// store writes times; a lease too long to represent is refused.
pub(crate) fn lease_until(now: DateTime<Utc>, lease_for: chrono::Duration) -> Result<String> {
    now.checked_add_signed(lease_for).map(ts).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "A lease of {lease_for} is too long; a lease lasts at most a few minutes."
        ))
    })
}

/// Implements [`JobQueue`] for `$store`, a backend store with a `pool`, a
/// `now()`, a `BEGIN_WRITE` statement, and `notify_work` and `listen_for_work`
/// methods (how it tells idle claimers that a job became claimable, and how
/// they wait to be told). `claim_lock` ends the claim's inner
/// `SELECT`: how the backend makes concurrent claimers pass over a row
/// another claimer holds.
macro_rules! job_queue {
    ($store:ty, claim_lock = $lock:literal) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::Duration;
            use keel_types::{AttemptOutcome, AuditAction, JobError, JobErrorKind, JobId, JobStatus};
            use serde_json::json;
            use sqlx::Row;
            use $crate::error::{Error, Result};
            use $crate::formats::encode;
            use $crate::page::{Page, Paged, decode_cursor, paginate};
            use $crate::queue::JobQueue;
            use $crate::sql::access::audit;
            use $crate::records::{
                Actor, AttemptRecord, Beat, Counts, Expired, Finish, JobFilter, JobRecord, Lease, NewJob,
            };
            use $crate::sql::queue::{
                attempt_from_row, cancelled_without_runner, end_attempt, error_json, job_from_row,
                lease_until, lost_error, outcome_of,
            };
            use $crate::sql::rows::{is_foreign_key_violation, parse_enum, parse_id, to_i64, to_u32, ts};

            impl $store {
                async fn job_status(&self, id: JobId) -> Result<Option<JobStatus>> {
                    let status: Option<String> =
                        sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
                            .bind(id.to_string())
                            .fetch_optional(&self.pool)
                            .await?;
                    status.map(|s| parse_enum(&s, "jobs.status")).transpose()
                }

                /// False, or `NotFound` when the job does not exist: the
                /// answer of a fenced write that changed nothing.
                async fn not_held(&self, id: JobId) -> Result<bool> {
                    match self.job_status(id).await? {
                        Some(_) => Ok(false),
                        None => Err(Error::NotFound(format!("The job {id}"))),
                    }
                }

                /// Ends one attempt whose lease ran out before `now`, in one
                /// transaction fenced by the attempt (a heartbeat that renewed
                /// the lease meanwhile wins). What it did, if anything.
                async fn expire_one(
                    &self,
                    lease: Lease,
                    now: &str,
                ) -> Result<Option<JobStatus>> {
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let row = sqlx::query(concat!(
                        "SELECT max_attempts, cancel_requested, runner FROM jobs \
                         WHERE id = $1 AND attempt = $2 AND status = 'IN_PROGRESS' AND ",
                        $crate::sql::queue::lease_ran_out!(3)
                    ))
                    .bind(lease.job.to_string())
                    .bind(i64::from(lease.attempt))
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        tx.rollback().await?;
                        return Ok(None);
                    };
                    let max_attempts = to_u32(row.try_get("max_attempts")?, "jobs.max_attempts")?;
                    let cancel = row.try_get::<i64, _>("cancel_requested")? != 0;
                    let runner: Option<String> = row.try_get("runner")?;
                    let lost_before: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM job_attempts WHERE job_id = $1 AND outcome = 'LOST'",
                    )
                    .bind(lease.job.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                    let lost = to_u32(lost_before, "the count of lost attempts")?.saturating_add(1);
                    let (status, error) = if cancel {
                        (JobStatus::Stopped, Some(cancelled_without_runner()))
                    } else if lost >= max_attempts {
                        (JobStatus::Failed, Some(lost_error(lost, max_attempts, runner.as_deref())))
                    } else {
                        (JobStatus::Pending, None)
                    };
                    // Fenced again: on PostgreSQL the select above locks nothing,
                    // so a heartbeat may have renewed the lease since.
                    let changed = if status == JobStatus::Pending {
                        sqlx::query(concat!(
                            $crate::sql::queue::requeue!(),
                            " AND ",
                            $crate::sql::queue::lease_ran_out!(3)
                        ))
                        .bind(lease.job.to_string())
                        .bind(i64::from(lease.attempt))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                    } else {
                        let error = error.as_ref().map(error_json).transpose()?;
                        sqlx::query(concat!(
                            "UPDATE jobs SET status = $4, error = $5, finished_at = $3, \
                             lease_until = NULL \
                             WHERE id = $1 AND attempt = $2 AND status = 'IN_PROGRESS' AND ",
                            $crate::sql::queue::lease_ran_out!(3)
                        ))
                        .bind(lease.job.to_string())
                        .bind(i64::from(lease.attempt))
                        .bind(now)
                        .bind(status.as_str())
                        .bind(error)
                        .execute(&mut *tx)
                        .await?
                    };
                    if changed.rows_affected() != 1 {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    end_attempt!(tx, lease.job.to_string(), i64::from(lease.attempt), AttemptOutcome::Lost, now)?;
                    tx.commit().await?;
                    if status == JobStatus::Pending {
                        self.notify_work().await;
                    }
                    Ok(Some(status))
                }
            }

            #[async_trait]
            impl JobQueue for $store {
                async fn enqueue(&self, job: &NewJob, by: &Actor) -> Result<JobRecord> {
                    if job.max_attempts == 0 {
                        return Err(Error::InvalidArgument(
                            "`max_attempts` must be at least 1: a job gets at least one attempt.".into(),
                        ));
                    }
                    let record = JobRecord {
                        id: JobId::new(),
                        kind: job.kind,
                        status: JobStatus::Pending,
                        model_id: job.model_id,
                        model_name: job.model_name.clone(),
                        version_id: job.version_id,
                        version_number: job.version_number,
                        request: job.request.clone(),
                        counts: Counts::default(),
                        created_at: self.now(),
                        started_at: None,
                        finished_at: None,
                        heartbeat_at: None,
                        runner: None,
                        attempt: 0,
                        max_attempts: job.max_attempts,
                        lease_until: None,
                        cancel_requested: false,
                        error: None,
                        result: None,
                        created_by: Some(by.user.clone()),
                    };
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    // A job names its version twice (by id and by model and number);
                    // both must be the same version, or every view of the job would lie.
                    let version = sqlx::query("SELECT model_id, number FROM versions WHERE id = $1")
                        .bind(record.version_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(version) = version else {
                        return Err(Error::NotFound(format!(
                            "The version {} that the job refers to",
                            record.version_id
                        )));
                    };
                    let owner: String = version.try_get("model_id")?;
                    let number = to_u32(version.try_get("number")?, "versions.number")?;
                    if owner != record.model_id.to_string() || number != record.version_number {
                        return Err(Error::InvalidArgument(format!(
                            "Version {} is version {number} of model {owner}, not version {} of model {}; a job must name its version consistently.",
                            record.version_id, record.version_number, record.model_id
                        )));
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO jobs (id, kind, status, model_id, model_name, version_id, \
                         version_number, spec, created_at, max_attempts, created_by) \
                         VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(record.id.to_string())
                    .bind(record.kind.as_str())
                    .bind(record.model_id.to_string())
                    .bind(&record.model_name)
                    .bind(record.version_id.to_string())
                    .bind(i64::from(record.version_number))
                    .bind(encode(&record.request)?)
                    .bind(ts(record.created_at))
                    .bind(i64::from(record.max_attempts))
                    .bind(&by.user)
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        Ok(_) => {}
                        Err(e) if is_foreign_key_violation(&e) => {
                            return Err(Error::NotFound(format!(
                                "The model {} or its version {} that the job refers to",
                                record.model_id, record.version_id
                            )));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    audit!(
                        tx,
                        record.created_at,
                        by,
                        AuditAction::JobCreated,
                        Some(record.model_name.as_str()),
                        record.id.to_string(),
                        json!({
                            "kind": record.kind.as_str(),
                            "version": record.version_number,
                            "max_attempts": record.max_attempts,
                        })
                    );
                    tx.commit().await?;
                    self.notify_work().await;
                    Ok(record)
                }

                async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        $crate::sql::queue::job_columns!(),
                        " FROM jobs WHERE id = $1"
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
                        $crate::sql::queue::job_columns!(),
                        " FROM jobs WHERE ($1 IS NULL OR status = $2) AND ($3 IS NULL OR kind = $4) \
                         AND ($5 IS NULL OR model_id = $6) AND ($7 IS NULL OR id < $8) \
                         ORDER BY id DESC LIMIT $9"
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
                    lease_for: Duration,
                ) -> Result<Option<JobRecord>> {
                    let now = self.now();
                    let id = id.map(|i| i.to_string());
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    // Two claimers (threads or processes) never get the same job: on
                    // SQLite the write transaction excludes every other writer; on
                    // PostgreSQL the inner select passes over rows another claimer
                    // has locked, and the outer status check drops a row claimed
                    // meanwhile.
                    let row = sqlx::query(concat!(
                        "UPDATE jobs SET status = 'IN_PROGRESS', started_at = $1, heartbeat_at = $1, \
                         runner = $2, attempt = attempt + 1, lease_until = $3 \
                         WHERE id = (SELECT id FROM jobs WHERE status = 'PENDING' AND ($4 IS NULL OR id = $4) \
                         ORDER BY id LIMIT 1",
                        $lock,
                        ") AND status = 'PENDING' RETURNING ",
                        $crate::sql::queue::job_columns!()
                    ))
                    .bind(ts(now))
                    .bind(runner)
                    .bind(lease_until(now, lease_for)?)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        tx.rollback().await?;
                        return Ok(None);
                    };
                    let job_id: String = row.try_get("id")?;
                    let attempt: i64 = row.try_get("attempt")?;
                    sqlx::query(
                        "INSERT INTO job_attempts (job_id, attempt, runner, started_at, outcome) \
                         VALUES ($1, $2, $3, $4, 'RUNNING')",
                    )
                    .bind(&job_id)
                    .bind(attempt)
                    .bind(runner)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                    let job = job_from_row(&row);
                    if let Err(e) = &job {
                        // A claimed job that cannot be read would hold its lease
                        // and be retried to no end; it is failed at once instead.
                        let error = JobError::new(
                            JobErrorKind::Internal,
                            format!("The job's stored record cannot be read, so it cannot run: {e}"),
                        );
                        sqlx::query(
                            "UPDATE jobs SET status = 'FAILED', finished_at = $1, error = $2, \
                             lease_until = NULL WHERE id = $3",
                        )
                        .bind(ts(now))
                        .bind(error_json(&error)?)
                        .bind(&job_id)
                        .execute(&mut *tx)
                        .await?;
                        end_attempt!(tx, &job_id, attempt, AttemptOutcome::Failed, ts(now))?;
                    }
                    tx.commit().await?;
                    job.map(Some)
                }

                async fn heartbeat(
                    &self,
                    lease: Lease,
                    counts: Counts,
                    lease_for: Duration,
                ) -> Result<Beat> {
                    let now = self.now();
                    let cancel: Option<i64> = sqlx::query_scalar(
                        "UPDATE jobs SET records_read = $1, records_written = $2, records_rejected = $3, \
                         heartbeat_at = $4, lease_until = $5 \
                         WHERE id = $6 AND attempt = $7 AND status = 'IN_PROGRESS' \
                         RETURNING cancel_requested",
                    )
                    .bind(to_i64(counts.read, "records_read count")?)
                    .bind(to_i64(counts.written, "records_written count")?)
                    .bind(to_i64(counts.rejected, "records_rejected count")?)
                    .bind(ts(now))
                    .bind(lease_until(now, lease_for)?)
                    .bind(lease.job.to_string())
                    .bind(i64::from(lease.attempt))
                    .fetch_optional(&self.pool)
                    .await?;
                    match cancel {
                        Some(0) => Ok(Beat::Continue),
                        Some(_) => Ok(Beat::CancelRequested),
                        // The attempt lost the job (its lease ran out and another
                        // took over, or it was finished another way), so the
                        // runner must stop working on it.
                        None => self.not_held(lease.job).await.map(|_| Beat::NotRunning),
                    }
                }

                async fn finish_job(&self, lease: Lease, finish: &Finish) -> Result<bool> {
                    let counts = finish.counts();
                    let (error, result) = match finish {
                        Finish::Completed { result, .. } => (None, Some(encode(result)?)),
                        Finish::Failed { error, .. } | Finish::Stopped { error, .. } => {
                            (Some(error_json(error)?), None)
                        }
                    };
                    let now = ts(self.now());
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let done = sqlx::query(
                        "UPDATE jobs SET status = $1, records_read = $2, records_written = $3, \
                         records_rejected = $4, error = $5, result = $6, finished_at = $7, \
                         lease_until = NULL WHERE id = $8 AND attempt = $9 AND status = 'IN_PROGRESS'",
                    )
                    .bind(finish.status().as_str())
                    .bind(to_i64(counts.read, "records_read count")?)
                    .bind(to_i64(counts.written, "records_written count")?)
                    .bind(to_i64(counts.rejected, "records_rejected count")?)
                    .bind(error)
                    .bind(result)
                    .bind(&now)
                    .bind(lease.job.to_string())
                    .bind(i64::from(lease.attempt))
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        tx.rollback().await?;
                        return self.not_held(lease.job).await;
                    }
                    end_attempt!(tx, lease.job.to_string(), i64::from(lease.attempt), outcome_of(finish), &now)?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn hand_back(&self, lease: Lease) -> Result<bool> {
                    let now = ts(self.now());
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let done = sqlx::query($crate::sql::queue::requeue!())
                    .bind(lease.job.to_string())
                    .bind(i64::from(lease.attempt))
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        tx.rollback().await?;
                        return self.not_held(lease.job).await;
                    }
                    end_attempt!(tx, lease.job.to_string(), i64::from(lease.attempt), AttemptOutcome::HandedBack, &now)?;
                    tx.commit().await?;
                    self.notify_work().await;
                    Ok(true)
                }

                async fn request_cancel(&self, id: JobId, by: &Actor) -> Result<JobRecord> {
                    let error = JobError::new(
                        JobErrorKind::Cancelled,
                        "The job was cancelled before it started.",
                    );
                    let at = self.now();
                    let now = ts(at);
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    // A pending job stops at once; a running one is flagged, and its
                    // runner stops it. Either way the request is audited with it.
                    let stopped = sqlx::query(concat!(
                        "UPDATE jobs SET status = 'STOPPED', finished_at = $1, error = $2 \
                         WHERE id = $3 AND status = 'PENDING' RETURNING ",
                        $crate::sql::queue::job_columns!()
                    ))
                    .bind(&now)
                    .bind(error_json(&error)?)
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let flagged = match stopped {
                        Some(row) => Some(row),
                        None => {
                            sqlx::query(concat!(
                                "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND status = 'IN_PROGRESS' RETURNING ",
                                $crate::sql::queue::job_columns!()
                            ))
                            .bind(id.to_string())
                            .fetch_optional(&mut *tx)
                            .await?
                        }
                    };
                    let Some(row) = flagged else {
                        tx.rollback().await?;
                        return match self.job_status(id).await? {
                            Some(status) => Err(Error::Conflict(format!(
                                "Job {id} already finished ({status}); only PENDING and IN_PROGRESS jobs can be cancelled."
                            ))),
                            None => Err(Error::NotFound(format!("The job {id}"))),
                        };
                    };
                    let job = job_from_row(&row)?;
                    audit!(
                        tx,
                        at,
                        by,
                        AuditAction::JobCancelled,
                        Some(job.model_name.as_str()),
                        id.to_string(),
                        json!({ "status": job.status.as_str() })
                    );
                    tx.commit().await?;
                    // A running job whose runner is gone stops now, not when the
                    // sweep next finds its lease ran out.
                    let gone = job
                        .lease_until
                        .or(job.heartbeat_at)
                        .or(job.started_at)
                        .unwrap_or(job.created_at)
                        < at;
                    if job.status == JobStatus::InProgress && gone {
                        self.expire_one(job.lease(), &now).await?;
                        if let Some(job) = self.job(id).await? {
                            return Ok(job);
                        }
                    }
                    Ok(job)
                }

                async fn expire_leases(&self) -> Result<Expired> {
                    let now = ts(self.now());
                    let rows = sqlx::query(concat!(
                        "SELECT id, attempt FROM jobs WHERE status = 'IN_PROGRESS' AND ",
                        $crate::sql::queue::lease_ran_out!(1),
                        " ORDER BY id"
                    ))
                    .bind(&now)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut expired = Expired::default();
                    for row in rows {
                        let lease = Lease {
                            job: parse_id(&row.try_get::<String, _>("id")?, "jobs.id")?,
                            attempt: to_u32(row.try_get("attempt")?, "jobs.attempt")?,
                        };
                        match self.expire_one(lease, &now).await? {
                            Some(JobStatus::Pending) => expired.retried += 1,
                            Some(JobStatus::Failed) => expired.failed += 1,
                            Some(JobStatus::Stopped) => expired.stopped += 1,
                            _ => {}
                        }
                    }
                    Ok(expired)
                }

                async fn wait_for_work(&self, timeout: std::time::Duration) {
                    self.listen_for_work(timeout).await
                }

                async fn attempts(&self, id: JobId) -> Result<Vec<AttemptRecord>> {
                    let rows = sqlx::query(
                        "SELECT attempt, runner, started_at, ended_at, outcome FROM job_attempts \
                         WHERE job_id = $1 ORDER BY attempt",
                    )
                    .bind(id.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(attempt_from_row).collect()
                }
            }
        };
    };
}
pub(crate) use job_queue;
