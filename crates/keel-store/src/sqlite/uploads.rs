//! Uploads on SQLite.

use async_trait::async_trait;
use keel_types::UploadId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::rows::{is_unique_violation, parse_id, parse_ts, to_i64, to_u64, ts};
use crate::error::{Error, Result};
use crate::records::{NewUpload, UploadRecord};
use crate::uploads::UploadStore;

fn upload_from_row(r: &SqliteRow) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "uploads.id")?,
        name: r.try_get("name")?,
        size: to_u64(r.try_get("size")?, "uploads.size")?,
        sha256: r.try_get("sha256")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?, "uploads.created_at")?,
    })
}

#[async_trait]
impl UploadStore for SqliteStore {
    async fn create_upload(&self, new: &NewUpload) -> Result<UploadRecord> {
        let upload = UploadRecord {
            id: new.id,
            name: new.name.clone(),
            size: new.size,
            sha256: new.sha256.clone(),
            created_at: self.now(),
        };
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
            sqlx::query("SELECT id, name, size, sha256, created_at FROM uploads WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn delete_upload(&self, id: UploadId) -> Result<Option<UploadRecord>> {
        let row = sqlx::query(
            "DELETE FROM uploads WHERE id = ? RETURNING id, name, size, sha256, created_at",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn upload_bytes(&self) -> Result<u64> {
        let total: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM uploads")
            .fetch_one(&self.pool)
            .await?;
        to_u64(total, "the sum of uploads.size")
    }
}
