//! Keel's shared vocabulary: typed ids, job kinds and states, model functions,
//! roles, permissions and audit actions,
//! comparison states and verdicts, model references, data formats, the table
//! of stable error codes, and the [`Clock`] every component reads time from.
//!
//! With the `schema` feature, every enum also describes itself for OpenAPI
//! (utoipa), so the API model can use these types directly.
//!
//! **Architecture invariant:** this crate does no IO and knows nothing of HTTP,
//! SQL or Python. Every other crate may depend on it; it depends on none of them.

#![warn(missing_docs)]

/// Implements `TryFrom<String>` through `FromStr` for enums that serde
/// deserializes with `try_from = "String"`, so JSON and query strings accept
/// exactly the spellings that parsing accepts.
macro_rules! try_from_string {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = $crate::ParseEnumError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    )*};
}

mod access;
mod clock;
mod code;
mod comparison;
mod function;
mod ids;
mod job;
mod model_ref;
mod monitor;

pub use access::{AuditAction, Permission, Role};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use code::Code;
pub use comparison::{ComparisonStatus, Verdict};
pub use function::FunctionKind;
pub use ids::{
    AlertId, ComparisonId, ExecutionId, JobId, ModelId, TokenId, UploadId, UserId, VersionId,
};
pub use job::{
    AttemptOutcome, DataFormat, JobError, JobErrorKind, JobKind, JobStatus, ParseEnumError,
};
pub use model_ref::{ModelRef, ModelRefError, valid_name};
pub use monitor::{AlertStatus, ExecutionStatus, MonitorKind, ScheduleStatus};
