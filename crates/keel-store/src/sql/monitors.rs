//! Monitoring definitions, schedules and executions in SQL, the same on
//! SQLite and PostgreSQL.

use super::Columns;
use super::rows::{parse_enum, parse_id, parse_opt_ts, parse_ts, to_u64};
use crate::error::Result;
use crate::formats::decode;
use crate::monitors::{DefinitionRecord, ExecutionRecord, ScheduleRecord};

pub(crate) fn definition_from_row(r: &impl Columns) -> Result<DefinitionRecord> {
    Ok(DefinitionRecord {
        name: r.text("name")?,
        kind: parse_enum(&r.text("kind")?, "monitor_definitions.kind")?,
        document: decode(&r.text("document")?, "monitor_definitions.document")?,
        created_at: parse_ts(&r.text("created_at")?, "monitor_definitions.created_at")?,
        created_by: r.text("created_by")?,
    })
}

/// A schedule's columns with its definition's kind.
macro_rules! schedule_select {
    () => {
        "SELECT s.name, s.definition, d.kind, s.expression, s.time_zone, s.status, s.document, \
         s.created_at, s.updated_at, s.created_by, s.last_tick FROM monitor_schedules s \
         JOIN monitor_definitions d ON d.name = s.definition "
    };
}
pub(crate) use schedule_select;

pub(crate) fn schedule_from_row(r: &impl Columns) -> Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        name: r.text("name")?,
        definition: r.text("definition")?,
        kind: parse_enum(&r.text("kind")?, "monitor_definitions.kind")?,
        expression: r.text("expression")?,
        time_zone: r.opt_text("time_zone")?,
        status: parse_enum(&r.text("status")?, "monitor_schedules.status")?,
        document: decode(&r.text("document")?, "monitor_schedules.document")?,
        created_at: parse_ts(&r.text("created_at")?, "monitor_schedules.created_at")?,
        updated_at: parse_ts(&r.text("updated_at")?, "monitor_schedules.updated_at")?,
        created_by: r.text("created_by")?,
        last_tick: parse_opt_ts(r.opt_text("last_tick")?, "monitor_schedules.last_tick")?,
    })
}

macro_rules! execution_columns {
    () => {
        "id, schedule, scheduled_time, status, created_at, finished_at, failure_reason, skipped, \
         revision, truth_digest"
    };
}
pub(crate) use execution_columns;

pub(crate) fn execution_from_row(r: &impl Columns) -> Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        id: parse_id(&r.text("id")?, "monitor_executions.id")?,
        schedule: r.text("schedule")?,
        scheduled_time: parse_ts(
            &r.text("scheduled_time")?,
            "monitor_executions.scheduled_time",
        )?,
        status: parse_enum(&r.text("status")?, "monitor_executions.status")?,
        created_at: parse_ts(&r.text("created_at")?, "monitor_executions.created_at")?,
        finished_at: parse_opt_ts(r.opt_text("finished_at")?, "monitor_executions.finished_at")?,
        failure_reason: r.opt_text("failure_reason")?,
        skipped: to_u64(r.int("skipped")?, "monitor_executions.skipped")?,
        revision: to_u64(r.int("revision")?, "monitor_executions.revision")?,
        truth_digest: r.opt_text("truth_digest")?,
    })
}

/// Implements [`crate::MonitorStore`] for `$store`, a backend store with a
/// `pool`, a `now()` and a `BEGIN_WRITE` statement.
macro_rules! monitor_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use keel_types::{AuditAction, ExecutionId, ExecutionStatus, MonitorKind, ScheduleStatus};
            use serde_json::json;
            use $crate::error::{Error, Result};
            use $crate::formats::{MonitorDocument, encode};
            use $crate::monitors::{DefinitionRecord, ExecutionRecord, MonitorStore, NewSchedule, ScheduleRecord};
            use $crate::page::{Page, Paged, decode_cursor, decode_time_cursor, paginate};
            use $crate::records::Actor;
            use $crate::sql::access::audit;
            use $crate::sql::monitors::{definition_from_row, execution_from_row, schedule_from_row};
            use $crate::sql::rows::{check_name, is_foreign_key_violation, to_i64, ts, unique};

            /// The name after which a page of a by-name list starts.
            fn after_name(page: &Page, list: &str) -> Result<String> {
                match &page.after {
                    Some(c) => decode_cursor(list, c),
                    None => Ok(String::new()),
                }
            }

            #[async_trait]
            impl MonitorStore for $store {
                async fn create_definition(
                    &self,
                    name: &str,
                    kind: MonitorKind,
                    document: &MonitorDocument,
                    by: &Actor,
                ) -> Result<DefinitionRecord> {
                    check_name(name, "job definition name")?;
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO monitor_definitions (name, kind, document, created_at, created_by) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(name)
                    .bind(kind.as_str())
                    .bind(encode(document)?)
                    .bind(ts(now))
                    .bind(&by.user)
                    .execute(&mut *tx)
                    .await;
                    unique(inserted, || format!("A monitoring job definition named '{name}'"))?;
                    audit!(tx, now, by, AuditAction::MonitorDefinitionCreated, None::<&str>, name, json!({"kind": kind}));
                    tx.commit().await?;
                    Ok(DefinitionRecord {
                        name: name.to_string(),
                        kind,
                        document: document.clone(),
                        created_at: now,
                        created_by: by.user.clone(),
                    })
                }

                async fn definition(&self, name: &str) -> Result<Option<DefinitionRecord>> {
                    let row = sqlx::query(
                        "SELECT name, kind, document, created_at, created_by FROM monitor_definitions WHERE name = $1",
                    )
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(definition_from_row).transpose()
                }

                async fn list_definitions(&self, kind: MonitorKind, page: &Page) -> Result<Paged<DefinitionRecord>> {
                    let after = after_name(page, "monitor definitions")?;
                    let limit = page.effective_limit();
                    let rows = sqlx::query(
                        "SELECT name, kind, document, created_at, created_by FROM monitor_definitions \
                         WHERE kind = $1 AND name > $2 ORDER BY name LIMIT $3",
                    )
                    .bind(kind.as_str())
                    .bind(after)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows.iter().map(definition_from_row).collect::<Result<Vec<_>>>()?;
                    Ok(paginate(items, limit, "monitor definitions", |d| d.name.clone()))
                }

                async fn delete_definition(&self, name: &str, by: &Actor) -> Result<bool> {
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let user: Option<String> = sqlx::query_scalar(
                        "SELECT name FROM monitor_schedules WHERE definition = $1 ORDER BY name LIMIT 1",
                    )
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(schedule) = user {
                        return Err(Error::Conflict(format!(
                            "The monitoring job definition '{name}' is used by the schedule '{schedule}'; delete the schedule first."
                        )));
                    }
                    let deleted = sqlx::query("DELETE FROM monitor_definitions WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    if deleted.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    audit!(tx, now, by, AuditAction::MonitorDefinitionDeleted, None::<&str>, name, json!({}));
                    tx.commit().await?;
                    Ok(true)
                }

                async fn create_schedule(&self, new: &NewSchedule, by: &Actor) -> Result<ScheduleRecord> {
                    check_name(&new.name, "monitoring schedule name")?;
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM monitor_definitions WHERE name = $1")
                        .bind(&new.definition)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(kind) = kind else {
                        return Err(Error::NotFound(format!("The monitoring job definition '{}'", new.definition)));
                    };
                    let kind: MonitorKind = $crate::sql::rows::parse_enum(&kind, "monitor_definitions.kind")?;
                    let inserted = sqlx::query(
                        "INSERT INTO monitor_schedules (name, definition, expression, time_zone, status, document, \
                         created_at, updated_at, created_by) VALUES ($1, $2, $3, $4, 'Scheduled', $5, $6, $6, $7)",
                    )
                    .bind(&new.name)
                    .bind(&new.definition)
                    .bind(&new.expression)
                    .bind(new.time_zone.as_deref())
                    .bind(encode(&new.document)?)
                    .bind(ts(now))
                    .bind(&by.user)
                    .execute(&mut *tx)
                    .await;
                    let inserted = match inserted {
                        Err(e) if is_foreign_key_violation(&e) => {
                            return Err(Error::NotFound(format!("The monitoring job definition '{}'", new.definition)));
                        }
                        other => other,
                    };
                    unique(inserted, || format!("A monitoring schedule named '{}'", new.name))?;
                    audit!(
                        tx, now, by, AuditAction::MonitorScheduleCreated, None::<&str>, new.name.as_str(),
                        json!({"definition": new.definition, "expression": new.expression, "time_zone": new.time_zone})
                    );
                    tx.commit().await?;
                    Ok(ScheduleRecord {
                        name: new.name.clone(),
                        definition: new.definition.clone(),
                        kind,
                        expression: new.expression.clone(),
                        time_zone: new.time_zone.clone(),
                        status: ScheduleStatus::Scheduled,
                        document: new.document.clone(),
                        created_at: now,
                        updated_at: now,
                        created_by: by.user.clone(),
                        last_tick: None,
                    })
                }

                async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>> {
                    let row = sqlx::query(concat!($crate::sql::monitors::schedule_select!(), "WHERE s.name = $1"))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(schedule_from_row).transpose()
                }

                async fn list_schedules(&self, page: &Page) -> Result<Paged<ScheduleRecord>> {
                    let after = after_name(page, "monitoring schedules")?;
                    let limit = page.effective_limit();
                    let rows = sqlx::query(concat!(
                        $crate::sql::monitors::schedule_select!(),
                        "WHERE s.name > $1 ORDER BY s.name LIMIT $2"
                    ))
                    .bind(after)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows.iter().map(schedule_from_row).collect::<Result<Vec<_>>>()?;
                    Ok(paginate(items, limit, "monitoring schedules", |s| s.name.clone()))
                }

                async fn set_schedule_status(&self, name: &str, status: ScheduleStatus, by: &Actor) -> Result<ScheduleRecord> {
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let changed = sqlx::query(
                        "UPDATE monitor_schedules SET status = $1, updated_at = $2 WHERE name = $3 AND status <> $1",
                    )
                    .bind(status.as_str())
                    .bind(ts(now))
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                    if changed.rows_affected() == 1 {
                        audit!(tx, now, by, AuditAction::MonitorScheduleChanged, None::<&str>, name, json!({"status": status}));
                    }
                    let row = sqlx::query(concat!($crate::sql::monitors::schedule_select!(), "WHERE s.name = $1"))
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else {
                        return Err(Error::NotFound(format!("The monitoring schedule '{name}'")));
                    };
                    let record = schedule_from_row(&row)?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn delete_schedule(&self, name: &str, by: &Actor) -> Result<bool> {
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let deleted = sqlx::query("DELETE FROM monitor_schedules WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    if deleted.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    audit!(tx, now, by, AuditAction::MonitorScheduleDeleted, None::<&str>, name, json!({}));
                    tx.commit().await?;
                    Ok(true)
                }

                async fn claim_tick(&self, schedule: &str, tick: DateTime<Utc>, skipped: u64) -> Result<Option<ExecutionRecord>> {
                    let now = self.now();
                    let record = ExecutionRecord {
                        id: ExecutionId::new(),
                        schedule: schedule.to_string(),
                        scheduled_time: tick,
                        status: ExecutionStatus::Pending,
                        created_at: now,
                        finished_at: None,
                        failure_reason: None,
                        skipped,
                        revision: 0,
                        truth_digest: None,
                    };
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO monitor_executions (id, schedule, scheduled_time, status, created_at, skipped) \
                         VALUES ($1, $2, $3, 'Pending', $4, $5) ON CONFLICT (schedule, scheduled_time) DO NOTHING",
                    )
                    .bind(record.id.to_string())
                    .bind(schedule)
                    .bind(ts(tick))
                    .bind(ts(now))
                    .bind(to_i64(skipped, "skipped ticks")?)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    // A backfill of an older tick leaves the newest one in place.
                    sqlx::query(
                        "UPDATE monitor_schedules SET last_tick = $1 WHERE name = $2 \
                         AND (last_tick IS NULL OR last_tick < $1)",
                    )
                    .bind(ts(tick))
                    .bind(schedule)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Some(record))
                }

                async fn finish_execution(&self, id: ExecutionId, status: ExecutionStatus, failure_reason: Option<&str>, truth_digest: Option<&str>) -> Result<bool> {
                    if matches!(status, ExecutionStatus::Pending | ExecutionStatus::InProgress) {
                        return Err(Error::InvalidArgument(format!(
                            "An execution ends Completed, CompletedWithViolations, Failed or Stopped, not {status}."
                        )));
                    }
                    let ended = sqlx::query(
                        "UPDATE monitor_executions SET status = $1, failure_reason = $2, finished_at = $3, \
                         truth_digest = $4 WHERE id = $5 AND finished_at IS NULL",
                    )
                    .bind(status.as_str())
                    .bind(failure_reason)
                    .bind(ts(self.now()))
                    .bind(truth_digest)
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await?;
                    Ok(ended.rows_affected() == 1)
                }

                async fn revise_execution(&self, id: ExecutionId, revision: u64, status: ExecutionStatus, failure_reason: Option<&str>, truth_digest: Option<&str>) -> Result<bool> {
                    if revision == 0 || matches!(status, ExecutionStatus::Pending | ExecutionStatus::InProgress) {
                        return Err(Error::InvalidArgument(format!(
                            "A revision is 1 or more and ends Completed, CompletedWithViolations, Failed or Stopped, not revision {revision} {status}."
                        )));
                    }
                    let revised = sqlx::query(
                        "UPDATE monitor_executions SET status = $1, failure_reason = $2, finished_at = $3, \
                         truth_digest = $4, revision = $5 WHERE id = $6 AND revision = $7 AND finished_at IS NOT NULL",
                    )
                    .bind(status.as_str())
                    .bind(failure_reason)
                    .bind(ts(self.now()))
                    .bind(truth_digest)
                    .bind(to_i64(revision, "revision")?)
                    .bind(id.to_string())
                    .bind(to_i64(revision - 1, "revision")?)
                    .execute(&self.pool)
                    .await?;
                    Ok(revised.rows_affected() == 1)
                }

                async fn execution(&self, id: ExecutionId) -> Result<Option<ExecutionRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        $crate::sql::monitors::execution_columns!(),
                        " FROM monitor_executions WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(execution_from_row).transpose()
                }

                async fn list_executions(&self, schedule: Option<&str>, page: &Page) -> Result<Paged<ExecutionRecord>> {
                    // The cursor is the last item's tick and id: newest tick first.
                    let (before_tick, before_id) = decode_time_cursor("monitoring executions", page.after.as_deref())?;
                    let limit = page.effective_limit();
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        $crate::sql::monitors::execution_columns!(),
                        " FROM monitor_executions WHERE ($1 = '' OR schedule = $1) \
                         AND (scheduled_time < $2 OR (scheduled_time = $2 AND id < $3)) \
                         ORDER BY scheduled_time DESC, id DESC LIMIT $4"
                    ))
                    .bind(schedule.unwrap_or(""))
                    .bind(before_tick)
                    .bind(before_id)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows.iter().map(execution_from_row).collect::<Result<Vec<_>>>()?;
                    Ok(paginate(items, limit, "monitoring executions", |e| {
                        format!("{}|{}", ts(e.scheduled_time), e.id)
                    }))
                }
            }
        };
    };
}
pub(crate) use monitor_store;
