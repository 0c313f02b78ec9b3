//! Data files uploaded for use as job inputs.

use std::path::Path;

use keel_api_model as api;
use keel_store::keys;

use keel_types::Permission;

use crate::{Error, Keel, Principal, Result};

/// The longest upload name, in bytes: what file systems allow for one name.
pub const MAX_UPLOAD_NAME_BYTES: usize = 255;

/// The file name an upload named `name` is stored under, checked: a plain
/// file name of at most [`MAX_UPLOAD_NAME_BYTES`] bytes. The server calls it
/// before it reads the body, so a bad name costs no upload.
pub fn upload_name(name: &str) -> Result<String> {
    if name.len() > MAX_UPLOAD_NAME_BYTES {
        return Err(Error::InvalidArgument(format!(
            "The upload name (`name`) is {} bytes long; it may be at most {MAX_UPLOAD_NAME_BYTES} bytes.",
            name.len()
        )));
    }
    let file_name = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.starts_with('.'))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "'{name}' is not a usable upload name; give a plain file name such as input.csv"
            ))
        })?;
    Ok(file_name.to_string())
}

/// Checks a model name as registration will, so the server can refuse a bad
/// one before it stores and unpacks the archive.
pub fn check_model_name(name: &str) -> Result<()> {
    keel_types::valid_name(name)
        .map_err(|r| Error::InvalidArgument(format!("The model name is not valid: {r}.")))
}

impl Keel {
    /// Stores a data file for use as a job input.
    pub async fn upload(&self, by: &Principal, name: &str, src: &Path) -> Result<api::Upload> {
        by.require(Permission::Write, "upload data")?;
        let file_name = upload_name(name)?;
        let size = std::fs::metadata(src)
            .map_err(Error::io(format!("cannot read {}", src.display())))?
            .len();
        let room = self.upload_room().await?;
        if size > room {
            return Err(Error::PayloadTooLarge(format!(
                "The upload is {size} bytes but only {room} of the upload quota of {} bytes (KEEL_UPLOAD_QUOTA_BYTES) are left; delete uploads you no longer need (DELETE /api/v1/uploads/{{id}}).",
                self.cfg.upload_quota_bytes
            )));
        }
        let sha = keel_modeldef::sha256_file(src)?;
        let new = keel_store::NewUpload {
            id: keel_types::UploadId::new(),
            name: file_name,
            size,
            sha256: sha,
        };
        self.stores
            .artifacts
            .put_file(&keys::upload(new.id, &new.name), src)
            .await?;
        let rec = self.stores.uploads.create_upload(&new, &by.actor()).await?;
        Ok(api::Upload {
            id: rec.id.0,
            name: rec.name,
            size: rec.size,
            sha256: rec.sha256,
            created_at: rec.created_at,
        })
    }

    /// How many more bytes the upload quota lets uploads hold.
    pub async fn upload_room(&self) -> Result<u64> {
        let used = self.stores.uploads.upload_bytes().await?;
        Ok(self.cfg.upload_quota_bytes.saturating_sub(used))
    }

    /// Deletes an upload: its record and its file. Jobs queued on it fail
    /// when they start, as for any input that is gone.
    pub async fn delete_upload(&self, by: &Principal, id: keel_types::UploadId) -> Result<()> {
        by.require(Permission::Write, "delete uploads")?;
        let rec = self
            .stores
            .uploads
            .delete_upload(id, &by.actor())
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no upload with id {id}.")))?;
        self.stores
            .artifacts
            .delete(&keys::upload(rec.id, &rec.name))
            .await?;
        tracing::info!(upload = %id, "upload deleted");
        Ok(())
    }
}
