//! Keel's stores: the metadata store (SQLite or PostgreSQL), split into
//! one trait per aggregate (registry, job queue, comparisons, uploads, users
//! and tokens, the audit log, monitors), and
//! the artifact store (a local directory or an S3 bucket, through `object_store`).
//!
//! Callers open a [`Stores`] bundle from URLs and never see database or
//! object-store types. The documents kept inside rows are this crate's own
//! versioned [`formats`], never API types; [`keys`] is the one place that
//! knows where each artifact lives. Every time the stores record comes from
//! the injected clock.

mod access;
mod alerts;
mod artifacts;
mod comparisons;
mod error;
pub mod formats;
pub mod keys;
mod monitors;
mod objects;
mod page;
mod postgres;
mod queue;
mod records;
mod registry;
mod sql;
mod sqlite;
mod stores;
#[cfg(test)]
mod tests;
mod uploads;

pub use access::{
    AccessStore, AuditFilter, AuditLog, AuditRecord, NewToken, TokenRecord, UserChange, UserRecord,
};
pub use alerts::{AlertChanges, AlertRecord, AlertStore};
pub use artifacts::{ArtifactStore, ObjectReader};
pub use comparisons::ComparisonStore;
pub use error::{Error, Result};
pub use monitors::{DefinitionRecord, ExecutionRecord, MonitorStore, NewSchedule, ScheduleRecord};
pub use objects::{Buckets, Published, S3Uri};
pub use page::{Page, Paged};
pub use postgres::PgStore;
pub use queue::JobQueue;
pub use records::{
    Actor, AliasEvent, AliasRecord, AttemptRecord, Beat, ComparisonRecord, Counts,
    DEFAULT_MAX_ATTEMPTS, Decided, Expired, Finish, JobFilter, JobRecord, Lease, ModelRecord,
    NewComparison, NewJob, NewUpload, NewVersion, UploadRecord, VersionFile, VersionRecord,
};
pub use registry::RegistryStore;
pub use sqlite::SqliteStore;
pub use stores::Stores;
pub use uploads::UploadStore;
