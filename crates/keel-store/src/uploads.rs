//! The uploads aggregate: data files uploaded for use as job inputs.

use async_trait::async_trait;
use keel_types::UploadId;

use crate::error::Result;
use crate::records::{Actor, NewUpload, UploadRecord};

/// Uploads.
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Records an upload, created now. `AlreadyExists` when its id is taken.
    async fn create_upload(&self, upload: &NewUpload, by: &Actor) -> Result<UploadRecord>;
    /// The upload with this id.
    async fn upload(&self, id: UploadId) -> Result<Option<UploadRecord>>;
    /// Forgets an upload; returns it, or `None` when there was none.
    async fn delete_upload(&self, id: UploadId, by: &Actor) -> Result<Option<UploadRecord>>;
    /// The bytes all uploads hold together, for the upload quota.
    async fn upload_bytes(&self) -> Result<u64>;
}
