//! Data files uploaded for use as job inputs.

use std::path::Path;

use keel_api_model as api;
use keel_store::keys;

use crate::{Error, Keel, Result};

impl Keel {
    /// Stores a data file for use as a job input.
    pub async fn upload(&self, name: &str, src: &Path) -> Result<api::Upload> {
        let file_name = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && !n.starts_with('.'))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "'{name}' is not a usable upload name; give a plain file name such as input.csv"
                ))
            })?
            .to_string();
        let sha = keel_modeldef::sha256_file(src)?;
        let size = std::fs::metadata(src)
            .map_err(Error::io(format!("cannot read {}", src.display())))?
            .len();
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
        let rec = self.stores.uploads.create_upload(&new).await?;
        Ok(api::Upload {
            id: rec.id.0,
            name: rec.name,
            size: rec.size,
            sha256: rec.sha256,
            created_at: rec.created_at,
        })
    }
}
