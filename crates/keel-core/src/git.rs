//! Git-backed model sources for the CLI: checking a `git+URL#REF:SUBDIR`
//! source out, asking where a recorded origin's reference points now, and
//! registering a directory with the origin it came from.
//!
//! Git runs on the client side only. The CLI calls [`checkout`] and
//! [`remote_commit`] in its own process in both modes; a server never
//! clones what a client names (a `git+file://` URL would read the server's
//! disk), it only records the origin a client sends with a directory, after
//! `Keel::register_with_origin` has checked it. The functions here block:
//! call them from a blocking thread.

use std::path::Path;

use keel_api_model as api;
use keel_store::formats::VersionOrigin;

use crate::{Error, Result};

pub use keel_git::{RefState, is_spec};

/// A source checked out in a temporary directory, removed when dropped.
#[derive(Debug)]
pub struct Checkout {
    inner: keel_git::Checkout,
    origin: api::Origin,
}

impl Checkout {
    /// The model directory inside the checkout.
    pub fn dir(&self) -> &Path {
        self.inner.model_dir()
    }

    /// Where it came from, as its version records it.
    pub fn origin(&self) -> &api::Origin {
        &self.origin
    }

    /// The temporary directory that holds the checkout.
    pub fn root(&self) -> &Path {
        self.inner.root()
    }
}

/// Parses `source` (`git+URL[#REF][:SUBDIR]`) and checks it out: a shallow
/// clone where the server allows one. Blocks.
pub fn checkout(source: &str) -> Result<Checkout> {
    let spec = keel_git::Spec::parse(source)?;
    wrap(keel_git::checkout(&spec)?)
}

/// Checks out the reference and subdirectory a version records again, at
/// the commit the reference points at now. Blocks.
pub fn checkout_origin(origin: &api::Origin) -> Result<Checkout> {
    wrap(keel_git::checkout(&spec_of(origin)?)?)
}

/// Where the reference an origin records points now in its repository
/// (`git ls-remote`); [`RefState::Pinned`] when it is a commit id. Blocks.
pub fn remote_commit(origin: &api::Origin) -> Result<RefState> {
    Ok(keel_git::remote_commit(&spec_of(origin)?)?)
}

/// An origin as a source, written back: `git+URL#REF[:SUBDIR]`.
pub fn source_of(origin: &api::Origin) -> String {
    let api::Origin::Git {
        repository,
        reference,
        subdir,
        ..
    } = origin;
    match subdir {
        Some(s) => format!("git+{repository}#{reference}:{s}"),
        None => format!("git+{repository}#{reference}"),
    }
}

fn spec_of(origin: &api::Origin) -> Result<keel_git::Spec> {
    let api::Origin::Git {
        repository,
        reference,
        subdir,
        ..
    } = origin;
    Ok(keel_git::Spec::for_origin(
        repository,
        reference,
        subdir.as_deref(),
    )?)
}

fn wrap(inner: keel_git::Checkout) -> Result<Checkout> {
    let o = inner.origin();
    let origin = api::Origin::Git {
        repository: o.repository.clone(),
        reference: o.reference.clone(),
        commit: o.commit.clone(),
        subdir: o.subdir.clone(),
    };
    Ok(Checkout { inner, origin })
}

/// Checks an origin a client sent (bounded, well-formed, no credentials)
/// and turns it into the store's record.
pub(crate) fn origin_record(origin: &api::Origin) -> Result<VersionOrigin> {
    let api::Origin::Git {
        repository,
        reference,
        commit,
        subdir,
    } = origin;
    keel_git::Origin {
        repository: repository.clone(),
        reference: reference.clone(),
        commit: commit.clone(),
        subdir: subdir.clone(),
    }
    .check()?;
    Ok(VersionOrigin::Git {
        repository: repository.clone(),
        reference: reference.clone(),
        commit: commit.clone(),
        subdir: subdir.clone(),
    })
}

/// The origin a register request's query sends, if any, checked: all of
/// `origin`, `repository`, `reference` and `commit` (and optionally
/// `subdir`), or none of them.
pub fn origin_of_query(q: &api::RegisterQuery) -> Result<Option<api::Origin>> {
    let missing = |field: &str| {
        Error::InvalidArgument(format!(
            "The query gives `origin` but no `{field}`; send `repository`, `reference` and `commit` (and `subdir` if the model is not at the repository's root) with `origin=git`."
        ))
    };
    match q.origin.as_deref() {
        None => {
            let stray = [
                ("repository", q.repository.is_some()),
                ("reference", q.reference.is_some()),
                ("commit", q.commit.is_some()),
                ("subdir", q.subdir.is_some()),
            ]
            .into_iter()
            .find(|(_, given)| *given);
            match stray {
                Some((field, _)) => Err(Error::InvalidArgument(format!(
                    "The query gives `{field}` without `origin`; add `origin=git`, or drop it."
                ))),
                None => Ok(None),
            }
        }
        Some("git") => {
            let origin = api::Origin::Git {
                repository: q.repository.clone().ok_or_else(|| missing("repository"))?,
                reference: q.reference.clone().ok_or_else(|| missing("reference"))?,
                commit: q.commit.clone().ok_or_else(|| missing("commit"))?,
                subdir: q.subdir.clone(),
            };
            origin_record(&origin)?;
            Ok(Some(origin))
        }
        Some(other) => Err(Error::InvalidArgument(format!(
            "The `origin` '{}' is not known; the only origin is `git`.",
            other.chars().take(40).collect::<String>()
        ))),
    }
}
