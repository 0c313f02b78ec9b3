//! The crate's error type for plumbing failures (pipes, frames, Arrow IPC);
//! the runner turns these into a [`crate::Failure`] before a caller sees them.

use keel_types::Code;

/// A failure inside the runner's own machinery, not in the model's code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a pipe or a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What the runner was doing, as a sentence fragment.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The other side broke the worker protocol.
    #[error("the worker broke the protocol: {0}")]
    Protocol(String),
    /// A record batch could not be encoded or decoded as Arrow IPC.
    #[error("Arrow IPC data could not be {what}: {source}")]
    Arrow {
        /// "encoded" or "decoded".
        what: &'static str,
        /// The underlying error.
        #[source]
        source: arrow_schema::ArrowError,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code for this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Io { .. } | Error::Protocol(_) | Error::Arrow { .. } => Code::Internal,
        }
    }

    /// Wraps an IO error with what the runner was doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_internal() {
        let e = Error::Protocol("x".into());
        assert_eq!(e.code(), Code::Internal);
        assert!(e.to_string().contains("broke the protocol"));
        let e = Error::io("reading", std::io::Error::other("boom"));
        assert_eq!(e.to_string(), "reading: boom");
    }
}
