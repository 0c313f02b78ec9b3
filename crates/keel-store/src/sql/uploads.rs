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
            use $crate::error::{Error, Result};
            use $crate::records::{NewUpload, UploadRecord};
            use $crate::sql::rows::{is_unique_violation, to_i64, to_u64, ts};
            use $crate::sql::uploads::upload_from_row;
            use $crate::uploads::UploadStore;
            #[async_trait]
            impl UploadStore for $store {
                async fn create_upload(&self, new: &NewUpload) -> Result<UploadRecord> {
                    let upload = UploadRecord {
                        id: new.id,
                        name: new.name.clone(),
                        size: new.size,
                        sha256: new.sha256.clone(),
                        created_at: self.now(),
                    };
                    let inserted = sqlx::query(
                        "INSERT INTO uploads (id, name, size, sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(upload.id.to_string())
                    .bind(&upload.name)
                    .bind(to_i64(upload.size, "upload size")?)
                    .bind(&upload.sha256)
                    .bind(ts(upload.created_at))
                    .execute(&self.pool)
                    .await;
                    match inserted {
                        Ok(_) => Ok(upload),
                        Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists(format!(
                            "An upload with id {}",
                            upload.id
                        ))),
                        Err(e) => Err(e.into()),
                    }
                }

                async fn upload(&self, id: UploadId) -> Result<Option<UploadRecord>> {
                    let row =
                        sqlx::query("SELECT id, name, size, sha256, created_at FROM uploads WHERE id = $1")
                            .bind(id.to_string())
                            .fetch_optional(&self.pool)
                            .await?;
                    row.as_ref().map(upload_from_row).transpose()
                }

                async fn delete_upload(&self, id: UploadId) -> Result<Option<UploadRecord>> {
                    let row = sqlx::query(
                        "DELETE FROM uploads WHERE id = $1 RETURNING id, name, size, sha256, created_at",
                    )
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(upload_from_row).transpose()
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
