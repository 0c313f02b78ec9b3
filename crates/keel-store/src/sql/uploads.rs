//! Uploads in SQL, the same on SQLite and PostgreSQL.

use super::Columns;
use super::rows::{parse_id, parse_ts, to_u64};
use crate::error::Result;
use crate::records::UploadRecord;

pub(crate) fn upload_from_row(r: &impl Columns) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: parse_id(&r.text("id")?, "uploads.id")?,
        name: r.text("name")?,
        size: to_u64(r.int("size")?, "uploads.size")?,
        sha256: r.text("sha256")?,
        created_at: parse_ts(&r.text("created_at")?, "uploads.created_at")?,
    })
}

/// Implements [`UploadStore`] for `$store`, a backend store with a `pool`, a `now()`
macro_rules! upload_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use keel_types::UploadId;
            use $crate::error::Result;
            use $crate::records::{Actor, NewUpload, UploadRecord};
            use $crate::sql::access::audit;
            use keel_types::AuditAction;
            use serde_json::json;
            use $crate::sql::rows::{to_i64, to_u64, ts, unique};
            use $crate::sql::uploads::upload_from_row;
            use $crate::uploads::UploadStore;
            #[async_trait]
            impl UploadStore for $store {
                async fn create_upload(&self, new: &NewUpload, by: &Actor) -> Result<UploadRecord> {
                    let upload = UploadRecord {
                        id: new.id,
                        name: new.name.clone(),
                        size: new.size,
                        sha256: new.sha256.clone(),
                        created_at: self.now(),
                    };
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO uploads (id, name, size, sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(upload.id.to_string())
                    .bind(&upload.name)
                    .bind(to_i64(upload.size, "upload size")?)
                    .bind(&upload.sha256)
                    .bind(ts(upload.created_at))
                    .execute(&mut *tx)
                    .await;
                    unique(inserted, || format!("An upload with id {}", upload.id))?;
                    audit!(
                        tx,
                        upload.created_at,
                        by,
                        AuditAction::UploadCreated,
                        None::<&str>,
                        upload.id.to_string(),
                        json!({ "name": upload.name, "size": upload.size, "sha256": upload.sha256 })
                    );
                    tx.commit().await?;
                    Ok(upload)
                }

                async fn upload(&self, id: UploadId) -> Result<Option<UploadRecord>> {
                    let row =
                        sqlx::query("SELECT id, name, size, sha256, created_at FROM uploads WHERE id = $1")
                            .bind(id.to_string())
                            .fetch_optional(&self.pool)
                            .await?;
                    row.as_ref().map(upload_from_row).transpose()
                }

                async fn delete_upload(&self, id: UploadId, by: &Actor) -> Result<Option<UploadRecord>> {
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let row = sqlx::query(
                        "DELETE FROM uploads WHERE id = $1 RETURNING id, name, size, sha256, created_at",
                    )
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        tx.rollback().await?;
                        return Ok(None);
                    };
                    let upload = upload_from_row(&row)?;
                    audit!(
                        tx,
                        self.now(),
                        by,
                        AuditAction::UploadDeleted,
                        None::<&str>,
                        id.to_string(),
                        json!({ "name": upload.name, "size": upload.size })
                    );
                    tx.commit().await?;
                    Ok(Some(upload))
                }

                async fn upload_bytes(&self) -> Result<u64> {
                    let total: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM uploads")
                        .fetch_one(&self.pool)
                        .await?;
                    to_u64(total, "the sum of uploads.size")
                }
            }
        };
    };
}
pub(crate) use upload_store;
