//! Comparisons in SQL, the same on SQLite and PostgreSQL: created PENDING,
//! found when both their jobs have finished, and decided once.

use keel_types::{ComparisonStatus, Verdict};

use super::Columns;
use super::rows::{parse_enum, parse_id, parse_json, parse_opt_ts, parse_ts};
use crate::error::Result;
use crate::formats::decode;
use crate::records::ComparisonRecord;

/// The columns `comparison_from_row` reads, in one place for every query.
macro_rules! comparison_columns {
    () => {
        "c.id, c.status, c.champion_job, c.challenger_job, c.policy, c.verdict, c.result, \
         c.error, c.created_at, c.finished_at"
    };
}
pub(crate) use comparison_columns;

pub(crate) fn comparison_from_row(r: &impl Columns) -> Result<ComparisonRecord> {
    Ok(ComparisonRecord {
        id: parse_id(&r.text("id")?, "comparisons.id")?,
        status: parse_enum::<ComparisonStatus>(&r.text("status")?, "comparisons.status")?,
        champion_job: parse_id(&r.text("champion_job")?, "comparisons.champion_job")?,
        challenger_job: parse_id(&r.text("challenger_job")?, "comparisons.challenger_job")?,
        policy: decode(&r.text("policy")?, "comparisons.policy")?,
        verdict: r
            .opt_text("verdict")?
            .map(|s| parse_enum::<Verdict>(&s, "comparisons.verdict"))
            .transpose()?,
        result: r
            .opt_text("result")?
            .map(|s| parse_json(&s, "comparisons.result"))
            .transpose()?,
        error: r.opt_text("error")?,
        created_at: parse_ts(&r.text("created_at")?, "comparisons.created_at")?,
        finished_at: parse_opt_ts(r.opt_text("finished_at")?, "comparisons.finished_at")?,
    })
}

/// Implements [`ComparisonStore`] for `$store`, a backend store with a `pool`, a `now()`
macro_rules! comparison_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use keel_types::{ComparisonId, ComparisonStatus};
            use $crate::comparisons::ComparisonStore;
            use $crate::error::{Error, Result};
            use $crate::formats::encode;
            use $crate::page::{Page, Paged, decode_cursor, paginate};
            use $crate::records::{ComparisonRecord, Decided, NewComparison};
            use $crate::sql::comparisons::comparison_from_row;
            use $crate::sql::rows::{is_foreign_key_violation, to_json, ts};
            use $crate::sql::access::audit;
            use $crate::records::Actor;
            use keel_types::AuditAction;
            use serde_json::json;
            #[async_trait]
            impl ComparisonStore for $store {
                async fn create_comparison(&self, new: &NewComparison, by: &Actor) -> Result<ComparisonRecord> {
                    let record = ComparisonRecord {
                        id: ComparisonId::new(),
                        status: ComparisonStatus::Pending,
                        champion_job: new.champion_job,
                        challenger_job: new.challenger_job,
                        policy: new.policy.clone(),
                        verdict: None,
                        result: None,
                        error: None,
                        created_at: self.now(),
                        finished_at: None,
                    };
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO comparisons (id, status, champion_job, challenger_job, policy, \
                         created_at) VALUES ($1, 'PENDING', $2, $3, $4, $5)",
                    )
                    .bind(record.id.to_string())
                    .bind(record.champion_job.to_string())
                    .bind(record.challenger_job.to_string())
                    .bind(encode(&record.policy)?)
                    .bind(ts(record.created_at))
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        Ok(_) => {}
                        Err(e) if is_foreign_key_violation(&e) => {
                            return Err(Error::NotFound(format!(
                                "The job {} or {}",
                                record.champion_job, record.challenger_job
                            )));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    let model: Option<String> =
                        sqlx::query_scalar("SELECT model_name FROM jobs WHERE id = $1")
                            .bind(record.champion_job.to_string())
                            .fetch_optional(&mut *tx)
                            .await?;
                    audit!(
                        tx,
                        record.created_at,
                        by,
                        AuditAction::ComparisonCreated,
                        model.as_deref(),
                        record.id.to_string(),
                        json!({
                            "champion_job": record.champion_job,
                            "challenger_job": record.challenger_job,
                            "policy": record.policy,
                        })
                    );
                    tx.commit().await?;
                    Ok(record)
                }

                async fn comparison(&self, id: ComparisonId) -> Result<Option<ComparisonRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        $crate::sql::comparisons::comparison_columns!(),
                        " FROM comparisons c WHERE c.id = $1"
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
                        $crate::sql::comparisons::comparison_columns!(),
                        " FROM comparisons c WHERE ($1 IS NULL OR c.id < $2) ORDER BY c.id DESC LIMIT $3"
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

                async fn decidable_comparisons(&self) -> Result<Vec<ComparisonRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        $crate::sql::comparisons::comparison_columns!(),
                        " FROM comparisons c JOIN jobs a ON a.id = c.champion_job \
                         JOIN jobs b ON b.id = c.challenger_job WHERE c.status = 'PENDING' \
                         AND a.status IN ('COMPLETED', 'FAILED', 'STOPPED') \
                         AND b.status IN ('COMPLETED', 'FAILED', 'STOPPED') ORDER BY c.id"
                    ))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(comparison_from_row).collect()
                }

                async fn decide_comparison(&self, id: ComparisonId, decided: &Decided) -> Result<bool> {
                    let (status, verdict, result, error) = match decided {
                        Decided::Completed { verdict, document } => {
                            // The document repeats the verdict; the column is what
                            // lists read, so the two are made to agree here.
                            let mut document = document.clone();
                            if let Some(obj) = document.as_object_mut() {
                                obj.insert("verdict".into(), verdict.as_str().into());
                            }
                            (
                                ComparisonStatus::Completed,
                                Some(verdict.as_str()),
                                Some(to_json(&document, "comparison document")?),
                                None,
                            )
                        }
                        Decided::Failed { error } => (ComparisonStatus::Failed, None, None, Some(error)),
                    };
                    let done = sqlx::query(
                        "UPDATE comparisons SET status = $1, verdict = $2, result = $3, error = $4, \
                         finished_at = $5 WHERE id = $6 AND status = 'PENDING'",
                    )
                    .bind(status.as_str())
                    .bind(verdict)
                    .bind(result)
                    .bind(error)
                    .bind(ts(self.now()))
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
        };
    };
}
pub(crate) use comparison_store;
