//! Keel's shared vocabulary: typed ids, job kinds and states, model references,
//! data formats and the table of stable error codes.
//!
//! **Architecture invariant:** this crate does no IO and knows nothing of HTTP,
//! SQL or Python. Every other crate may depend on it; it depends on none of them.

#![warn(missing_docs)]

mod code;
mod ids;
mod job;
mod model_ref;

pub use code::Code;
pub use ids::{ComparisonId, JobId, ModelId, UploadId, VersionId};
pub use job::{DataFormat, JobError, JobErrorKind, JobKind, JobStatus, ParseEnumError};
pub use model_ref::{ModelRef, ModelRefError, valid_name};
