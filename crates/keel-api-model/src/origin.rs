//! Where a version's files came from, on the wire: shown on every version,
//! and sent by a client that registers a directory it checked out from git
//! (the client runs git; the server only records what it is told, checked).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Where a version's files came from, when Keel fetched them itself.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A commit of a git repository (`keel model register git+URL#REF:SUBDIR`).
    Git {
        /// The repository URL, without credentials.
        repository: String,
        /// The branch, tag or commit asked for; the default branch's name when none was.
        reference: String,
        /// The full id of the commit the files were taken from.
        commit: String,
        /// The model's directory inside the repository; absent for its root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subdir: Option<String>,
    },
}

/// Query of `POST /models/{model}/versions`: the origin of the directory
/// sent, when a client checked it out from git. Either `origin` and every
/// field it needs are given, or none.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams, PartialEq, Eq)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// `git` when the directory is a git checkout.
    pub origin: Option<String>,
    /// The repository URL, without credentials (at most 2048 bytes).
    pub repository: Option<String>,
    /// The branch, tag or commit checked out (at most 255 bytes).
    pub reference: Option<String>,
    /// The full commit id (40 or 64 lowercase hex digits).
    pub commit: Option<String>,
    /// The model's directory inside the repository, if not its root (at most 1024 bytes).
    pub subdir: Option<String>,
}

impl RegisterQuery {
    /// The query that sends `origin`.
    pub fn of(origin: &Origin) -> RegisterQuery {
        let Origin::Git {
            repository,
            reference,
            commit,
            subdir,
        } = origin;
        RegisterQuery {
            origin: Some("git".into()),
            repository: Some(repository.clone()),
            reference: Some(reference.clone()),
            commit: Some(commit.clone()),
            subdir: subdir.clone(),
        }
    }
}
