//! The one error type of `keel-data`, with the stable code each variant maps to.

use std::path::PathBuf;

use keel_types::Code;

/// Everything that can go wrong while reading, checking or writing tabular data.
///
/// Records that fail a check are not errors: they become [`crate::Rejection`]s.
/// An `Error` means a whole file or schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An Avro schema cannot be parsed or uses something Keel does not support.
    #[error("{0}")]
    InvalidSchema(String),
    /// A data file cannot be read at all (unknown format, broken structure, a required column missing).
    #[error("{0}")]
    InvalidData(String),
    /// The input file does not exist.
    #[error("the data file {} does not exist; check the path", path.display())]
    NotFound {
        /// The path that was opened.
        path: PathBuf,
    },
    /// The file system failed while reading or writing a file.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What Keel was doing, such as "read" or "rename onto".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// An invariant broke inside Keel: batches handed to a writer do not share
    /// a schema (the caller must `unify` first), or an Arrow or Parquet encoder failed.
    #[error("{0}")]
    Internal(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code for this error.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidSchema(_) => Code::InvalidSchema,
            Error::InvalidData(_) => Code::InvalidData,
            Error::NotFound { .. } => Code::NotFound,
            Error::Io { .. } => Code::StorageError,
            Error::Internal(_) => Code::Internal,
        }
    }

    /// An I/O error that names the file and what was being done to it.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(Error::InvalidSchema("x".into()).code(), Code::InvalidSchema);
        assert_eq!(Error::InvalidData("x".into()).code(), Code::InvalidData);
        assert_eq!(
            Error::NotFound {
                path: PathBuf::from("a.csv")
            }
            .code(),
            Code::NotFound
        );
        let io = Error::io(
            "read",
            std::path::Path::new("a.csv"),
            std::io::Error::other("disk on fire"),
        );
        assert_eq!(io.code(), Code::StorageError);
        assert_eq!(io.to_string(), "cannot read a.csv: disk on fire");
        assert_eq!(Error::Internal("x".into()).code(), Code::Internal);
    }
}
