//! The job queue in SQL, the same on SQLite and PostgreSQL: enqueue, atomic
//! claims, heartbeats, cancellation, the fenced finish, and failing jobs whose
//! runner went silent. The claim's locking clause is the one part each
//! backend words its own way.

use keel_types::{JobError, JobKind, JobStatus};

use super::Columns;
use super::rows::{parse_enum, parse_id, parse_opt_ts, parse_ts, to_u32, to_u64};
use crate::error::Result;
use crate::formats::{JobErrorRecord, JobResult, decode, encode};
use crate::records::{Counts, JobRecord};

/// The columns `job_from_row` reads, in one place for every query.
macro_rules! job_columns {
    () => {
        "id, kind, status, model_id, model_name, version_id, version_number, spec, \
         records_read, records_written, records_rejected, created_at, started_at, finished_at, \
         heartbeat_at, runner, cancel_requested, error, result"
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
        cancel_requested: r.int("cancel_requested")? != 0,
        error: r
            .opt_text("error")?
            .map(|s| decode::<JobErrorRecord>(&s, "jobs.error").map(JobError::from))
            .transpose()?,
        result: r
            .opt_text("result")?
            .map(|s| decode::<JobResult>(&s, "jobs.result"))
            .transpose()?,
    })
}

pub(crate) fn error_json(e: &JobError) -> Result<String> {
    encode(&JobErrorRecord::from(e))
}

/// Implements [`JobQueue`] for `$store`, a backend store with a `pool` and a
/// `now()`. `claim_lock` ends the claim's inner `SELECT`: how the backend
/// makes concurrent claimers pass over a row another claimer holds.
macro_rules! job_queue {
    ($store:ty, claim_lock = $lock:literal) => {
        const _: () = {
            use async_trait::async_trait;
            use keel_types::{JobError, JobErrorKind, JobId, JobStatus};
            use sqlx::Row;
            use $crate::error::{Error, Result};
            use $crate::formats::encode;
            use $crate::page::{Page, Paged, decode_cursor, paginate};
            use $crate::queue::JobQueue;
            use $crate::records::{Beat, Counts, Finish, JobFilter, JobRecord, NewJob};
            use $crate::sql::queue::{error_json, job_from_row};
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
            }

            #[async_trait]
            impl JobQueue for $store {
                async fn enqueue(&self, job: &NewJob) -> Result<JobRecord> {
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
                        cancel_requested: false,
                        error: None,
                        result: None,
                    };
                    // A job names its version twice (by id and by model and number);
                    // both must be the same version, or every view of the job would lie.
                    let version = sqlx::query("SELECT model_id, number FROM versions WHERE id = $1")
                        .bind(record.version_id.to_string())
                        .fetch_optional(&self.pool)
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
                         version_number, spec, created_at) VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(record.id.to_string())
                    .bind(record.kind.as_str())
                    .bind(record.model_id.to_string())
                    .bind(&record.model_name)
                    .bind(record.version_id.to_string())
                    .bind(i64::from(record.version_number))
                    .bind(encode(&record.request)?)
                    .bind(ts(record.created_at))
                    .execute(&self.pool)
                    .await;
                    match inserted {
                        Ok(_) => Ok(record),
                        Err(e) if is_foreign_key_violation(&e) => Err(Error::NotFound(format!(
                            "The model {} or its version {} that the job refers to",
                            record.model_id, record.version_id
                        ))),
                        Err(e) => Err(e.into()),
                    }
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

                async fn claim_job(&self, id: Option<JobId>, runner: &str) -> Result<Option<JobRecord>> {
                    let now = ts(self.now());
                    let id = id.map(|i| i.to_string());
                    // Two claimers (threads or processes) never get the same job: on
                    // SQLite the one statement takes the write lock before it reads;
                    // on PostgreSQL the inner select passes over rows another claimer
                    // has locked, and the outer status check drops a row claimed
                    // meanwhile.
                    let row = sqlx::query(concat!(
                        "UPDATE jobs SET status = 'IN_PROGRESS', started_at = $1, heartbeat_at = $2, runner = $3 \
                         WHERE id = (SELECT id FROM jobs WHERE status = 'PENDING' AND ($4 IS NULL OR id = $5) \
                         ORDER BY id LIMIT 1",
                        $lock,
                        ") AND status = 'PENDING' RETURNING ",
                        $crate::sql::queue::job_columns!()
                    ))
                    .bind(&now)
                    .bind(&now)
                    .bind(runner)
                    .bind(id.clone())
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    match job_from_row(&row) {
                        Ok(job) => Ok(Some(job)),
                        Err(e) => {
                            // A claimed job that cannot be read would stay IN_PROGRESS
                            // until the stale sweep; it is failed at once instead.
                            let id: String = row.try_get("id")?;
                            let error = JobError::new(
                                JobErrorKind::Internal,
                                format!("The job's stored record cannot be read, so it cannot run: {e}"),
                            );
                            sqlx::query(
                                "UPDATE jobs SET status = 'FAILED', finished_at = $1, error = $2 \
                                 WHERE id = $3 AND status = 'IN_PROGRESS'",
                            )
                            .bind(ts(self.now()))
                            .bind(error_json(&error)?)
                            .bind(id)
                            .execute(&self.pool)
                            .await?;
                            Err(e)
                        }
                    }
                }

                async fn heartbeat(&self, id: JobId, counts: Counts) -> Result<Beat> {
                    let cancel: Option<i64> = sqlx::query_scalar(
                        "UPDATE jobs SET records_read = $1, records_written = $2, records_rejected = $3, \
                         heartbeat_at = $4 WHERE id = $5 AND status = 'IN_PROGRESS' RETURNING cancel_requested",
                    )
                    .bind(to_i64(counts.read, "records_read count")?)
                    .bind(to_i64(counts.written, "records_written count")?)
                    .bind(to_i64(counts.rejected, "records_rejected count")?)
                    .bind(ts(self.now()))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    match cancel {
                        Some(0) => Ok(Beat::Continue),
                        Some(_) => Ok(Beat::CancelRequested),
                        None => match self.job_status(id).await? {
                            // The job was finished or failed behind the runner's back, so
                            // the runner must stop working on it.
                            Some(_) => Ok(Beat::NotRunning),
                            None => Err(Error::NotFound(format!("The job {id}"))),
                        },
                    }
                }

                async fn finish_job(&self, id: JobId, finish: &Finish) -> Result<bool> {
                    let counts = finish.counts();
                    let (error, result) = match finish {
                        Finish::Completed { result, .. } => (None, Some(encode(result)?)),
                        Finish::Failed { error, .. } | Finish::Stopped { error, .. } => {
                            (Some(error_json(error)?), None)
                        }
                    };
                    let done = sqlx::query(
                        "UPDATE jobs SET status = $1, records_read = $2, records_written = $3, \
                         records_rejected = $4, error = $5, result = $6, finished_at = $7 \
                         WHERE id = $8 AND status = 'IN_PROGRESS'",
                    )
                    .bind(finish.status().as_str())
                    .bind(to_i64(counts.read, "records_read count")?)
                    .bind(to_i64(counts.written, "records_written count")?)
                    .bind(to_i64(counts.rejected, "records_rejected count")?)
                    .bind(error)
                    .bind(result)
                    .bind(ts(self.now()))
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

                async fn request_cancel(&self, id: JobId) -> Result<JobRecord> {
                    let error = JobError::new(
                        JobErrorKind::Cancelled,
                        "The job was cancelled before it started.",
                    );
                    // Each step is one atomic statement; if the job moves on between two
                    // steps (claimed, or finished), the next step sees its new status.
                    let stopped = sqlx::query(concat!(
                        "UPDATE jobs SET status = 'STOPPED', finished_at = $1, error = $2 \
                         WHERE id = $3 AND status = 'PENDING' RETURNING ",
                        $crate::sql::queue::job_columns!()
                    ))
                    .bind(ts(self.now()))
                    .bind(error_json(&error)?)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    if let Some(row) = stopped {
                        return job_from_row(&row);
                    }
                    let flagged = sqlx::query(concat!(
                        "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND status = 'IN_PROGRESS' RETURNING ",
                        $crate::sql::queue::job_columns!()
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

                async fn fail_stale_jobs(&self, silent_for: chrono::Duration) -> Result<u64> {
                    let error = JobError::new(
                        JobErrorKind::Crashed,
                        "The runner stopped heart-beating before the job finished (its process probably died or the server restarted); submit the job again to retry it.",
                    );
                    let now = self.now();
                    let done = sqlx::query(
                        "UPDATE jobs SET status = 'FAILED', finished_at = $1, error = $2 \
                         WHERE status = 'IN_PROGRESS' \
                         AND COALESCE(heartbeat_at, started_at, created_at) < $3",
                    )
                    .bind(ts(now))
                    .bind(error_json(&error)?)
                    .bind(ts(now - silent_for))
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}
pub(crate) use job_queue;
