//! Keel's metadata store (SQLite now, PostgreSQL next, behind one trait) and
//! artifact store (local disk now through `object_store`, S3 next).
//!
//! Callers hold an `Arc<dyn MetaStore>` from [`open`] or [`open_sqlite`] and an
//! [`ArtifactStore`]; neither leaks database or object-store types.

mod artifacts;
mod error;
mod meta;
mod records;
mod sqlite;
#[cfg(test)]
mod tests;

pub use artifacts::{ArtifactStore, blob_key};
pub use error::{Error, Result};
pub use meta::{MetaStore, open, open_sqlite};
pub use records::{
    AliasEvent, AliasRecord, ComparisonRecord, JobFilter, JobRecord, ModelRecord, Page, Paged,
    UploadRecord, VersionFile, VersionRecord,
};
pub use sqlite::SqliteStore;
