//! Reads and writes Keel's tabular formats (CSV, JSON lines, Parquet) as Arrow batches and checks records against Avro schemas.
//!
//! Reading: [`open`] streams a file as [`Chunk`]s of Arrow record batches,
//! with records that break the optional [`AvroSchema`] set aside as
//! [`Rejection`]s. Writing: [`OutputFile`] writes atomically, after [`unify`]
//! has given a worker's batches one schema and [`check_batch`] has checked
//! them against an output schema.

mod cells;
mod check;
mod error;
mod logical;
mod read;
mod schema;
mod write;

pub use check::{JSON_TEXT_KEY, Rejection, check_batch, row_to_json};
pub use error::{Error, Result};
pub use read::{Chunk, Chunks, ReadOptions, format_of, open};
pub use schema::{AvroField, AvroSchema, AvroType, DEFAULT_VALUE_COLUMN, Shape};
pub use write::{OutputFile, StreamingOutput, temp_file_owner, temp_name, unify};
