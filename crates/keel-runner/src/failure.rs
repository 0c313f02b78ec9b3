//! Why a run did not finish: the model raised, a worker crashed, time ran
//! out, someone cancelled, Python was unusable, or Keel itself failed.

use std::fmt;

use keel_types::{JobError, JobErrorKind};

/// Why a run did not finish. A model's failure is data for the job, not a Rust error in Keel.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The model's code raised an exception.
    User {
        /// Where: "import", "init", "score", "metrics" or "train".
        phase: String,
        /// The exception's type and message, such as "ValueError: bad value".
        message: String,
        /// The Python traceback.
        traceback: Option<String>,
        /// For per-record score: the 0-based index of the record that raised,
        /// counted over the whole input (not within its batch).
        row: Option<u64>,
    },
    /// A worker died (a signal such as SIGABRT or SIGSEGV, or an early exit).
    Crashed {
        /// What happened, with the worker's last stderr lines.
        message: String,
    },
    /// The run went past its deadline.
    Timeout {
        /// The time the run was allowed, in seconds.
        seconds: f64,
    },
    /// The run was cancelled.
    Cancelled,
    /// No worker could start: Python is missing, pyarrow is not importable,
    /// the protocol differs, or the environment could not be built.
    RuntimeUnavailable {
        /// What went wrong and how to fix it.
        message: String,
    },
    /// Keel itself failed (for example the output callback returned an error).
    Internal {
        /// What went wrong.
        message: String,
    },
}

impl Failure {
    /// The job error a failed job carries: its kind, sentences a user can act on, and the traceback.
    pub fn into_job_error(self) -> JobError {
        let message = self.to_string();
        match self {
            Failure::User { traceback, .. } => JobError {
                kind: JobErrorKind::UserError,
                message,
                traceback,
            },
            Failure::Crashed { .. } => JobError::new(JobErrorKind::Crashed, message),
            Failure::Timeout { .. } => JobError::new(JobErrorKind::Timeout, message),
            Failure::Cancelled => JobError::new(JobErrorKind::Cancelled, message),
            Failure::RuntimeUnavailable { .. } => {
                JobError::new(JobErrorKind::RuntimeUnavailable, message)
            }
            Failure::Internal { .. } => JobError::new(JobErrorKind::Internal, message),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::User {
                phase,
                message,
                row,
                ..
            } => {
                let what = match phase.as_str() {
                    "import" => "Importing the model's module failed".to_string(),
                    "init" => "The model's init function raised an error".to_string(),
                    other => format!("The model's {other} function raised an error"),
                };
                match row {
                    Some(r) => write!(
                        f,
                        "{what} on record {} given to the model (1-based, counting only records that passed the schema check): {message}.",
                        r + 1
                    )?,
                    None => write!(f, "{what}: {message}.")?,
                }
                f.write_str(" Fix the model's code; the traceback shows where it failed.")
            }
            Failure::Crashed { message } => f.write_str(message),
            Failure::Timeout { seconds } => write!(
                f,
                "The job ran longer than its limit of {seconds:.1} seconds and was stopped. \
                 Raise the job's maximum runtime or make the model faster."
            ),
            Failure::Cancelled => f.write_str("The job was cancelled before it finished."),
            Failure::RuntimeUnavailable { message } | Failure::Internal { message } => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_failures_keep_the_traceback_and_row() {
        let e = Failure::User {
            phase: "score".into(),
            message: "ValueError: bad".into(),
            traceback: Some("Traceback ...".into()),
            row: Some(7),
        }
        .into_job_error();
        assert_eq!(e.kind, JobErrorKind::UserError);
        assert_eq!(e.traceback.as_deref(), Some("Traceback ..."));
        assert!(e.message.contains("record 8 given"), "{}", e.message);
        assert!(e.message.contains("ValueError: bad"), "{}", e.message);
    }

    #[test]
    fn other_kinds_map_one_to_one() {
        let t = Failure::Timeout { seconds: 2.0 }.into_job_error();
        assert_eq!(t.kind, JobErrorKind::Timeout);
        assert!(t.message.contains("2.0 seconds"), "{}", t.message);
        assert_eq!(
            Failure::Cancelled.into_job_error().kind,
            JobErrorKind::Cancelled
        );
        let c = Failure::Crashed {
            message: "Worker 0 died.".into(),
        }
        .into_job_error();
        assert_eq!(
            (c.kind, c.message.as_str()),
            (JobErrorKind::Crashed, "Worker 0 died.")
        );
        assert_eq!(
            Failure::RuntimeUnavailable {
                message: "m".into()
            }
            .into_job_error()
            .kind,
            JobErrorKind::RuntimeUnavailable
        );
    }
}
