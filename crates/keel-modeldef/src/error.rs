//! The one error type of this crate, with its mapping to Keel's stable codes.

use keel_types::Code;

/// Everything that can go wrong while inspecting a model directory or handling an archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory is not a valid model as a whole (no score function, two candidates, a symlink).
    #[error("{message}")]
    InvalidModel {
        /// What is wrong and how to fix it, in full sentences.
        message: String,
    },

    /// A Python source file has a smart-tag problem at a known line.
    #[error("{file}:{line}: {message}")]
    Source {
        /// The source file, relative to the model directory.
        file: String,
        /// The 1-based line of the problem.
        line: u32,
        /// What is wrong and how to fix it, in full sentences.
        message: String,
    },

    /// The `keel.toml` manifest cannot be parsed or names something that does not exist.
    #[error("{file}: {message}")]
    Manifest {
        /// The manifest file, relative to the model directory.
        file: String,
        /// What is wrong (with line information) and how to fix it.
        message: String,
    },

    /// An Avro schema file of the model does not parse.
    #[error("The Avro schema {file} is not valid: {source}")]
    Schema {
        /// The schema file, relative to the model directory.
        file: String,
        /// Why keel-data rejected it.
        #[source]
        source: keel_data::Error,
    },

    /// An archive holds an entry that could escape the destination, a link, a device file,
    /// or expands beyond the limits.
    #[error(
        "The archive {archive} is unsafe: its entry '{entry}' {reason}. Rebuild the archive without it."
    )]
    UnsafeArchive {
        /// The archive, as the caller named it (relative to the model directory during inspect).
        archive: String,
        /// The offending entry's name as stored in the archive.
        entry: String,
        /// Why the entry is rejected, phrased to follow "its entry 'x'".
        reason: String,
    },

    /// An archive cannot be read at all (corrupt, encrypted, truncated).
    #[error("The archive {archive} cannot be read: {message}")]
    Archive {
        /// The archive, as the caller named it.
        archive: String,
        /// What the reader reported and how to fix it.
        message: String,
    },

    /// Reading or writing a file failed.
    #[error("Cannot {action} {path}: {source}")]
    Io {
        /// What Keel was doing ("read", "create", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code for this error.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidModel { .. } | Error::Source { .. } | Error::Manifest { .. } => {
                Code::InvalidModel
            }
            Error::Schema { .. } => Code::InvalidSchema,
            Error::UnsafeArchive { .. } => Code::UnsafeArchive,
            Error::Archive { .. } => Code::InvalidModel,
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => Code::NotFound,
                _ => Code::StorageError,
            },
        }
    }

    /// Shorthand for [`Error::InvalidModel`].
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidModel {
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`], naming the path.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_variants() {
        assert_eq!(Error::invalid("x").code(), Code::InvalidModel);
        let unsafe_archive = Error::UnsafeArchive {
            archive: "a.zip".into(),
            entry: "../evil".into(),
            reason: "climbs out of the destination with '..'".into(),
        };
        assert_eq!(unsafe_archive.code(), Code::UnsafeArchive);
        assert!(unsafe_archive.to_string().contains("a.zip"));
        assert!(unsafe_archive.to_string().contains("../evil"));
        let missing = Error::io(
            "read",
            std::path::Path::new("nope"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(missing.code(), Code::NotFound);
        let denied = Error::io(
            "read",
            std::path::Path::new("nope"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(denied.code(), Code::StorageError);
    }
}
