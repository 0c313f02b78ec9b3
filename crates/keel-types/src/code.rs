//! The table of stable machine error codes. Every library crate's `Error` maps
//! each of its variants to one [`Code`]; the server maps each code to an HTTP
//! status in exactly one place. Codes are part of the public API: never rename one.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code, spelled in UPPER_SNAKE on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// A request argument is malformed or out of range.
    InvalidArgument,
    /// The named model, version, alias, job or upload does not exist.
    NotFound,
    /// The thing being created exists already.
    AlreadyExists,
    /// The request conflicts with the current state (for example, cancelling a finished job).
    Conflict,
    /// A model directory is not a valid model (no score function, bad manifest).
    InvalidModel,
    /// An Avro schema file cannot be parsed or uses something Keel does not support.
    InvalidSchema,
    /// A data file cannot be read at all (not CSV, broken Parquet footer, unknown format).
    InvalidData,
    /// The data holds no usable rows (empty, header only, or every row null or NaN).
    EmptyInput,
    /// An archive tries to escape its directory, holds links, or expands too much.
    UnsafeArchive,
    /// A body or an archive is larger than the configured limit.
    PayloadTooLarge,
    /// The job has not finished, so its result does not exist yet.
    JobNotFinished,
    /// The job finished without the requested output (it failed or was stopped).
    NoResult,
    /// The metadata or artifact store failed.
    StorageError,
    /// The Python runtime for a model's platform could not be prepared.
    RuntimeUnavailable,
    /// git is not installed or cannot be started where a git-backed model is registered.
    GitUnavailable,
    /// git could not read a model's repository (unreachable, not a repository, refused credentials).
    GitFailed,
    /// The request may not do this: a path outside the directories an admin
    /// allowed, a request from a foreign web origin or host, or a use case the
    /// caller's role does not allow.
    Forbidden,
    /// The request carries no credentials, or ones Keel does not accept (an
    /// unknown, expired or revoked token).
    Unauthenticated,
    /// The request body's content type is not one this endpoint accepts.
    UnsupportedMediaType,
    /// An invariant broke inside Keel: a bug.
    Internal,
}

impl Code {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [Code; 20] = [
        Code::InvalidArgument,
        Code::NotFound,
        Code::AlreadyExists,
        Code::Conflict,
        Code::InvalidModel,
        Code::InvalidSchema,
        Code::InvalidData,
        Code::EmptyInput,
        Code::UnsafeArchive,
        Code::PayloadTooLarge,
        Code::JobNotFinished,
        Code::NoResult,
        Code::StorageError,
        Code::RuntimeUnavailable,
        Code::GitUnavailable,
        Code::GitFailed,
        Code::Forbidden,
        Code::Unauthenticated,
        Code::UnsupportedMediaType,
        Code::Internal,
    ];

    /// The wire spelling, such as `NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::Conflict => "CONFLICT",
            Code::InvalidModel => "INVALID_MODEL",
            Code::InvalidSchema => "INVALID_SCHEMA",
            Code::InvalidData => "INVALID_DATA",
            Code::EmptyInput => "EMPTY_INPUT",
            Code::UnsafeArchive => "UNSAFE_ARCHIVE",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::JobNotFinished => "JOB_NOT_FINISHED",
            Code::NoResult => "NO_RESULT",
            Code::StorageError => "STORAGE_ERROR",
            Code::RuntimeUnavailable => "RUNTIME_UNAVAILABLE",
            Code::GitUnavailable => "GIT_UNAVAILABLE",
            Code::GitFailed => "GIT_FAILED",
            Code::Forbidden => "FORBIDDEN",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::Internal => "INTERNAL",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
