//! The one error type of the store crate and its mapping to stable codes.

use std::path::PathBuf;

use keel_types::Code;

/// Everything that can go wrong in the metadata or artifact store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named thing does not exist; the text names it, such as "model 'fraud'".
    #[error("{0} does not exist.")]
    NotFound(String),
    /// The thing being created exists already; the text names it.
    #[error("{0} already exists.")]
    AlreadyExists(String),
    /// The request conflicts with the current state; the text is a full sentence.
    #[error("{0}")]
    Conflict(String),
    /// An argument is malformed or out of range; the text is a full sentence.
    #[error("{0}")]
    InvalidArgument(String),
    /// The metadata database failed.
    #[error("The metadata database failed: {0}.")]
    Database(#[from] sqlx::Error),
    /// The metadata database schema could not be brought up to date.
    #[error("The metadata database could not be migrated to this version of Keel: {0}.")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The metadata database could not be reached when the store opened.
    #[error(
        "Could not connect to the metadata database {target}: {source}. Check the database URL and that the database server is running and reachable."
    )]
    Connect {
        /// The database, as its URL without any password.
        target: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// The database schema is newer than this Keel: a newer Keel migrated it.
    #[error(
        "The metadata database has schema version {found}, written by a newer Keel than this one (which knows versions up to {known}); run that newer Keel, or restore a backup this Keel made."
    )]
    SchemaTooNew {
        /// The newest migration the database has applied.
        found: i64,
        /// The newest migration this binary knows.
        known: i64,
    },
    /// The artifact store failed.
    #[error("The artifact store failed: {0}.")]
    Artifact(#[from] object_store::Error),
    /// A local file or directory could not be read or written.
    #[error("Could not access '{}': {source}.", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored value no longer parses: the database was edited by hand or by
    /// another version of Keel.
    #[error("A stored value is corrupt: {0}.")]
    Corrupt(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code for this error.
    pub fn code(&self) -> Code {
        match self {
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::Conflict(_) => Code::Conflict,
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::Database(_)
            | Error::Migration(_)
            | Error::Connect { .. }
            | Error::SchemaTooNew { .. }
            | Error::Io { .. } => Code::StorageError,
            Error::Artifact(object_store::Error::NotFound { .. }) => Code::NotFound,
            Error::Artifact(_) => Code::StorageError,
            Error::Corrupt(_) => Code::Internal,
        }
    }

    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(Error::NotFound("model 'x'".into()).code(), Code::NotFound);
        assert_eq!(Error::Corrupt("x".into()).code(), Code::Internal);
        assert_eq!(
            Error::Database(sqlx::Error::RowNotFound).code(),
            Code::StorageError
        );
        let nf = object_store::Error::NotFound {
            path: "a".into(),
            source: "gone".into(),
        };
        assert_eq!(Error::Artifact(nf).code(), Code::NotFound);
        assert_eq!(
            Error::NotFound("model 'x'".into()).to_string(),
            "model 'x' does not exist."
        );
    }
}
