//! The error type of Keel's use cases. Each variant keeps the stable
//! [`Code`] of the crate it came from; the server turns codes into HTTP
//! statuses in one place.

use keel_types::Code;

/// Everything a use case can fail with. User-model failures are not here:
/// they are data on the job (`JobError`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request argument is wrong; the message names the field and how to fix it.
    #[error("{0}")]
    InvalidArgument(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An upload would go over the upload quota.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request may not do this: it names a path outside the
    /// directories this Keel may read and write for clients.
    #[error("{0}")]
    Forbidden(String),
    /// The request carries no credentials Keel accepts; the message says
    /// what was wrong with them.
    #[error("{0}")]
    Unauthenticated(String),
    /// The job has no result yet.
    #[error("{0}")]
    JobNotFinished(String),
    /// The job finished without the requested output.
    #[error("{0}")]
    NoResult(String),
    /// A model directory is not a valid model.
    #[error(transparent)]
    Model(#[from] keel_modeldef::Error),
    /// A data or schema file could not be read.
    #[error(transparent)]
    Data(#[from] keel_data::Error),
    /// Metrics roles or a comparison policy are not usable.
    #[error(transparent)]
    Metrics(#[from] keel_metrics::Error),
    /// The metadata or artifact store failed.
    #[error(transparent)]
    Store(#[from] keel_store::Error),
    /// Registering or running failed.
    #[error(transparent)]
    Exec(#[from] keel_exec::Error),
    /// A git source could not be parsed or checked out, or an origin is malformed.
    #[error(transparent)]
    Git(#[from] keel_git::Error),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What Keel was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A platform's Python interpreter could not be found or built; the
    /// message says why and how to fix it.
    #[error("{0}")]
    RuntimeUnavailable(String),
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
            Error::PayloadTooLarge(_) => Code::PayloadTooLarge,
            Error::Forbidden(_) => Code::Forbidden,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::JobNotFinished(_) => Code::JobNotFinished,
            Error::NoResult(_) => Code::NoResult,
            Error::Model(e) => e.code(),
            Error::Data(e) => e.code(),
            Error::Metrics(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Exec(e) => e.code(),
            Error::Git(e) => e.code(),
            Error::Io { .. } => Code::StorageError,
            Error::RuntimeUnavailable(_) => Code::RuntimeUnavailable,
            Error::Internal(_) => Code::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
