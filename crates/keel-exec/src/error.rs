//! The execution plane's error type. A model's failure is not here: it is
//! data on the job (`JobError`). These are failures to prepare, publish or
//! record, each with a stable code.

use keel_types::Code;

/// Everything the executor and registration can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument or a produced artifact is not usable; the message says why.
    #[error("{0}")]
    InvalidArgument(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is there (a tick that ran already).
    #[error("{0}")]
    Conflict(String),
    /// A model directory is not a valid model.
    #[error(transparent)]
    Model(#[from] keel_modeldef::Error),
    /// A data file could not be read or written.
    #[error(transparent)]
    Data(#[from] keel_data::Error),
    /// The built-in metrics could not be computed.
    #[error(transparent)]
    Metrics(#[from] keel_metrics::Error),
    /// The metadata or artifact store failed.
    #[error(transparent)]
    Store(#[from] keel_store::Error),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What Keel was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An invariant broke inside Keel.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::Conflict(_) => Code::Conflict,
            Error::Model(e) => e.code(),
            Error::Data(e) => e.code(),
            Error::Metrics(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Io { .. } => Code::StorageError,
            Error::Internal(_) => Code::Internal,
        }
    }

    /// A closure that wraps an IO error with what Keel was doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
