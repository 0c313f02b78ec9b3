//! Model monitoring in the shapes SageMaker Model Monitor's users know:
//! model-quality constraints (`constraints.json`) suggested from a
//! baseline's statistics (`statistics.json`, which `keel-metrics` writes),
//! and the check of any statistics against any constraints, which gives
//! `constraint_violations.json`; schedule expressions (SageMaker's
//! `cron(...)`, five-field cron, `R/PT1H`, `NOW`) in any time zone, and
//! ISO-8601 durations such as SageMaker's window offsets (`-PT1H`).
//!
//! **Architecture invariant:** pure: no IO, no tokio. Documents come in and
//! go out as `serde_json::Value`s, so files written by SageMaker itself are
//! read as they are, with their extra keys.

mod constraints;
mod duration;
mod error;
mod schedule;

pub use constraints::{
    Constraint, Constraints, DEFAULT_SIGMAS, Operator, Problem, Violation, check, suggest,
    violations_document,
};
pub use duration::parse_duration;
pub use error::{Error, Result};
pub use schedule::{Due, Schedule};
