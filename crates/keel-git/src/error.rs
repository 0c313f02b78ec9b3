//! The one error type of this crate, with its mapping to Keel's stable codes.
//! Every message that names a repository names it with its credentials
//! removed, and every text git printed is redacted before it gets here.

use keel_types::Code;

/// Everything that can go wrong with a git-backed model source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `git+URL#REF:SUBDIR` source does not follow the grammar.
    #[error("'{spec}' is not a git source: {reason}.")]
    InvalidSpec {
        /// The source as given, credentials removed.
        spec: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A recorded origin sent with a registration is malformed.
    #[error("The origin's `{field}` is not valid: {reason}.")]
    InvalidOrigin {
        /// The request field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The subdirectory leaves the checkout (through a symbolic link) or is not a directory.
    #[error("The subdirectory '{subdir}' of {repository} at commit {commit} {reason}.")]
    UnusableSubdir {
        /// The subdirectory as asked.
        subdir: String,
        /// The repository, credentials removed.
        repository: String,
        /// The commit checked out.
        commit: String,
        /// Why it is refused, phrased to follow the subdirectory.
        reason: String,
    },

    /// The subdirectory does not exist at the commit checked out.
    #[error(
        "The subdirectory '{subdir}' does not exist in {repository} at commit {commit}. Check the path after the `:` (it is relative to the repository's root)."
    )]
    MissingSubdir {
        /// The subdirectory as asked.
        subdir: String,
        /// The repository, credentials removed.
        repository: String,
        /// The commit checked out.
        commit: String,
    },

    /// The repository has no branch, tag or commit of that name (or no commit at all).
    #[error("{repository} has {what}. `git ls-remote {repository}` lists its branches and tags.")]
    UnknownRef {
        /// The repository, credentials removed.
        repository: String,
        /// What is missing, such as "no branch, tag or commit named 'v9'".
        what: String,
    },

    /// The git command is not installed or cannot be started.
    #[error(
        "git cannot be started ({source}). Install git and put it on PATH to register models from a git repository."
    )]
    GitMissing {
        /// Why the process did not start.
        #[source]
        source: std::io::Error,
    },

    /// git ran and failed: the repository is unreachable, is not a
    /// repository, or refused the credentials.
    #[error("`git {command}` failed for {repository}: {message}")]
    Git {
        /// The git subcommand, such as `clone` or `ls-remote`.
        command: &'static str,
        /// The repository, credentials removed.
        repository: String,
        /// What git printed (redacted), and a hint where one helps.
        message: String,
    },

    /// A temporary directory for the checkout could not be made or read.
    #[error("Cannot {action}: {source}")]
    Io {
        /// What Keel was doing.
        action: String,
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
            Error::InvalidSpec { .. }
            | Error::InvalidOrigin { .. }
            | Error::UnusableSubdir { .. } => Code::InvalidArgument,
            Error::MissingSubdir { .. } | Error::UnknownRef { .. } => Code::NotFound,
            Error::GitMissing { .. } => Code::GitUnavailable,
            Error::Git { .. } => Code::GitFailed,
            Error::Io { .. } => Code::StorageError,
        }
    }

    /// Shorthand for [`Error::Io`].
    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let action = action.into();
        move |source| Error::Io { action, source }
    }
}
