//! Alerts in SQL, the same on SQLite and PostgreSQL.

use super::Columns;
use super::rows::{parse_enum, parse_id, parse_opt_ts, parse_ts, to_u64};
use crate::alerts::AlertRecord;
use crate::error::Result;

macro_rules! alert_columns {
    () => {
        "id, schedule, metric, status, opened_at, updated_at, resolved_at, last_execution, \
         last_description, occurrences, acknowledged_by, resolved_by"
    };
}
pub(crate) use alert_columns;

pub(crate) fn alert_from_row(r: &impl Columns) -> Result<AlertRecord> {
    Ok(AlertRecord {
        id: parse_id(&r.text("id")?, "alerts.id")?,
        schedule: r.text("schedule")?,
        metric: r.text("metric")?,
        status: parse_enum(&r.text("status")?, "alerts.status")?,
        opened_at: parse_ts(&r.text("opened_at")?, "alerts.opened_at")?,
        updated_at: parse_ts(&r.text("updated_at")?, "alerts.updated_at")?,
        resolved_at: parse_opt_ts(r.opt_text("resolved_at")?, "alerts.resolved_at")?,
        last_execution: parse_id(&r.text("last_execution")?, "alerts.last_execution")?,
        last_description: r.text("last_description")?,
        occurrences: to_u64(r.int("occurrences")?, "alerts.occurrences")?,
        acknowledged_by: r.opt_text("acknowledged_by")?,
        resolved_by: r.opt_text("resolved_by")?,
    })
}

/// Implements [`crate::AlertStore`] for `$store`, a backend store with a
/// `pool`, a `now()` and a `BEGIN_WRITE` statement.
macro_rules! alert_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use keel_types::{AlertId, AlertStatus, AuditAction, ExecutionId};
            use serde_json::json;
            use $crate::alerts::{AlertChanges, AlertRecord, AlertStore};
            use $crate::error::{Error, Result};
            use $crate::page::{Page, Paged, decode_time_cursor, paginate};
            use $crate::records::Actor;
            use $crate::sql::access::audit;
            use $crate::sql::alerts::alert_from_row;
            use $crate::sql::rows::ts;

            macro_rules! select {
                ($rest:literal) => {
                    concat!("SELECT ", $crate::sql::alerts::alert_columns!(), " FROM alerts ", $rest)
                };
            }

            impl $store {
                /// Moves an alert by one person's hand, audited when it moved.
                async fn move_alert(
                    &self,
                    id: AlertId,
                    by: &Actor,
                    to: AlertStatus,
                ) -> Result<AlertRecord> {
                    let now = ts(self.now());
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let row = sqlx::query(select!("WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else {
                        return Err(Error::NotFound(format!("The alert {id}")));
                    };
                    let alert = alert_from_row(&row)?;
                    let (changed, action) = match (alert.status, to) {
                        (AlertStatus::Resolved, AlertStatus::Acknowledged) => {
                            return Err(Error::Conflict(format!(
                                "The alert {id} is resolved; only open alerts can be acknowledged."
                            )));
                        }
                        (from, to) if from == to => (false, AuditAction::AlertResolved),
                        (_, AlertStatus::Acknowledged) => {
                            sqlx::query("UPDATE alerts SET status = 'ACKNOWLEDGED', acknowledged_by = $1, updated_at = $2 WHERE id = $3")
                                .bind(&by.user)
                                .bind(&now)
                                .bind(id.to_string())
                                .execute(&mut *tx)
                                .await?;
                            (true, AuditAction::AlertAcknowledged)
                        }
                        _ => {
                            sqlx::query("UPDATE alerts SET status = 'RESOLVED', resolved_by = $1, resolved_at = $2, updated_at = $2 WHERE id = $3")
                                .bind(&by.user)
                                .bind(&now)
                                .bind(id.to_string())
                                .execute(&mut *tx)
                                .await?;
                            (true, AuditAction::AlertResolved)
                        }
                    };
                    if changed {
                        audit!(tx, self.now(), by, action, None::<&str>, id.to_string(),
                            json!({"schedule": alert.schedule, "metric": alert.metric}));
                    }
                    let row = sqlx::query(select!("WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_one(&mut *tx)
                        .await?;
                    let alert = alert_from_row(&row)?;
                    tx.commit().await?;
                    Ok(alert)
                }
            }

            #[async_trait]
            impl AlertStore for $store {
                async fn record_execution(
                    &self,
                    schedule: &str,
                    execution: ExecutionId,
                    violated: &[(String, String)],
                    cooldown: chrono::Duration,
                ) -> Result<AlertChanges> {
                    let at = self.now();
                    let now = ts(at);
                    let since = ts(at - cooldown);
                    let mut changes = AlertChanges::default();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    for (metric, description) in violated {
                        let open = sqlx::query(select!("WHERE schedule = $1 AND metric = $2 AND status <> 'RESOLVED'"))
                            .bind(schedule)
                            .bind(metric)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let recent = match open {
                            Some(_) => None,
                            None => sqlx::query(select!(
                                "WHERE schedule = $1 AND metric = $2 AND status = 'RESOLVED' AND resolved_at >= $3 \
                                 ORDER BY resolved_at DESC LIMIT 1"
                            ))
                            .bind(schedule)
                            .bind(metric)
                            .bind(&since)
                            .fetch_optional(&mut *tx)
                            .await?,
                        };
                        // Found again while unresolved, or reopened within the
                        // cooldown: one statement does both, since a reopened
                        // alert also drops who acknowledged and resolved it.
                        let id = if let Some(row) = open.as_ref().or(recent.as_ref()) {
                            let a = alert_from_row(row)?;
                            sqlx::query(
                                "UPDATE alerts SET \
                                 acknowledged_by = CASE WHEN status = 'RESOLVED' THEN NULL ELSE acknowledged_by END, \
                                 status = CASE WHEN status = 'RESOLVED' THEN 'OPEN' ELSE status END, \
                                 resolved_at = NULL, resolved_by = NULL, occurrences = occurrences + 1, \
                                 last_execution = $1, last_description = $2, updated_at = $3 WHERE id = $4",
                            )
                            .bind(execution.to_string())
                            .bind(description)
                            .bind(&now)
                            .bind(a.id.to_string())
                            .execute(&mut *tx)
                            .await?;
                            a.id.to_string()
                        } else {
                            let id = AlertId::new();
                            sqlx::query("INSERT INTO alerts (id, schedule, metric, status, opened_at, updated_at, last_execution, last_description, occurrences) VALUES ($1, $2, $3, 'OPEN', $4, $4, $5, $6, 1)")
                                .bind(id.to_string())
                                .bind(schedule)
                                .bind(metric)
                                .bind(&now)
                                .bind(execution.to_string())
                                .bind(description)
                                .execute(&mut *tx)
                                .await?;
                            id.to_string()
                        };
                        let row = sqlx::query(select!("WHERE id = $1")).bind(&id).fetch_one(&mut *tx).await?;
                        let a = alert_from_row(&row)?;
                        if open.is_some() {
                            changes.repeated.push(a);
                        } else {
                            changes.opened.push(a);
                        }
                    }
                    let unresolved = sqlx::query(select!("WHERE schedule = $1 AND status <> 'RESOLVED' ORDER BY metric"))
                        .bind(schedule)
                        .fetch_all(&mut *tx)
                        .await?;
                    for row in &unresolved {
                        let a = alert_from_row(row)?;
                        if violated.iter().any(|(m, _)| *m == a.metric) {
                            continue;
                        }
                        sqlx::query("UPDATE alerts SET status = 'RESOLVED', resolved_at = $1, resolved_by = 'keel', updated_at = $1, last_execution = $2 WHERE id = $3")
                            .bind(&now)
                            .bind(execution.to_string())
                            .bind(a.id.to_string())
                            .execute(&mut *tx)
                            .await?;
                        let row = sqlx::query(select!("WHERE id = $1")).bind(a.id.to_string()).fetch_one(&mut *tx).await?;
                        changes.resolved.push(alert_from_row(&row)?);
                    }
                    tx.commit().await?;
                    Ok(changes)
                }

                async fn alert(&self, id: AlertId) -> Result<Option<AlertRecord>> {
                    let row = sqlx::query(select!("WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(alert_from_row).transpose()
                }

                async fn list_alerts(&self, status: Option<AlertStatus>, schedule: Option<&str>, page: &Page) -> Result<Paged<AlertRecord>> {
                    let (before_at, before_id) = decode_time_cursor("alerts", page.after.as_deref())?;
                    let limit = page.effective_limit();
                    let rows = sqlx::query(select!(
                        "WHERE ($1 = '' OR status = $1) AND ($2 = '' OR schedule = $2) \
                         AND (opened_at < $3 OR (opened_at = $3 AND id < $4)) \
                         ORDER BY opened_at DESC, id DESC LIMIT $5"
                    ))
                    .bind(status.map(|s| s.as_str()).unwrap_or(""))
                    .bind(schedule.unwrap_or(""))
                    .bind(before_at)
                    .bind(before_id)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows.iter().map(alert_from_row).collect::<Result<Vec<_>>>()?;
                    Ok(paginate(items, limit, "alerts", |a| format!("{}|{}", ts(a.opened_at), a.id)))
                }

                async fn acknowledge_alert(&self, id: AlertId, by: &Actor) -> Result<AlertRecord> {
                    self.move_alert(id, by, AlertStatus::Acknowledged).await
                }

                async fn resolve_alert(&self, id: AlertId, by: &Actor) -> Result<AlertRecord> {
                    self.move_alert(id, by, AlertStatus::Resolved).await
                }
            }
        };
    };
}
pub(crate) use alert_store;
