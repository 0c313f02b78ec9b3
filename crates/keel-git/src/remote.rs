//! Asking a repository where a reference points, with `git ls-remote`: a
//! branch, a tag (peeled to its commit), a full ref name, the default branch,
//! or, when nothing of that name exists, a commit id.

use crate::error::{Error, Result};
use crate::run::git;
use crate::spec::{Spec, is_commitish};

/// What a reference turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A branch (`refs/heads/NAME`).
    Branch(String),
    /// A tag (`refs/tags/NAME`).
    Tag(String),
    /// A full ref name (`refs/...`) or `HEAD` that is not a branch.
    Ref(String),
    /// No ref has this name, and it looks like a commit id.
    Commit(String),
}

/// A reference resolved in the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// What the reference is.
    pub(crate) target: Target,
    /// The commit it points at, unless it is a commit id itself.
    pub(crate) commit: Option<String>,
}

/// Where a recorded reference points now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefState {
    /// A branch, tag or ref, now at this commit.
    At(String),
    /// The reference is a commit id, which cannot move.
    Pinned,
}

/// `git ls-remote URL PATTERNS...` as (commit, ref name) pairs.
fn ls_remote(spec: &Spec, options: &[&str], patterns: &[String]) -> Result<Vec<(String, String)>> {
    let mut args: Vec<&str> = vec!["ls-remote"];
    args.extend(options);
    args.push("--");
    args.push(spec.url());
    args.extend(patterns.iter().map(String::as_str));
    let out = git(spec, "ls-remote", &args, None)?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(sha, name)| (sha.trim().to_string(), name.trim().to_string()))
        .collect())
}

/// Resolves `reference` (the default branch when `None`) in the remote.
/// A name is looked up as a branch first, then as a tag, as `git clone
/// --branch` does; a name no ref has is taken as a commit id if it looks
/// like one.
pub(crate) fn resolve(spec: &Spec) -> Result<Resolved> {
    let Some(r) = spec.reference() else {
        return default_branch(spec);
    };
    let patterns: Vec<String> = if r == "HEAD" || r.starts_with("refs/") {
        vec![r.to_string(), format!("{r}^{{}}")]
    } else {
        vec![
            format!("refs/heads/{r}"),
            format!("refs/tags/{r}"),
            format!("refs/tags/{r}^{{}}"),
        ]
    };
    let refs = ls_remote(spec, &[], &patterns)?;
    // ls-remote matches patterns against the ends of names
    // (`feature/main` matches `main`), so only exact names count.
    let exact = |name: &str| refs.iter().find(|(_, n)| n == name).map(|(s, _)| s.clone());
    let peeled = |name: &str| exact(&format!("{name}^{{}}")).or_else(|| exact(name));
    let found = if r == "HEAD" || r.starts_with("refs/") {
        match r.strip_prefix("refs/heads/") {
            Some(branch) => exact(r).map(|c| (Target::Branch(branch.to_string()), c)),
            None => peeled(r).map(|c| (Target::Ref(r.to_string()), c)),
        }
    } else {
        exact(&format!("refs/heads/{r}"))
            .map(|c| (Target::Branch(r.to_string()), c))
            .or_else(|| peeled(&format!("refs/tags/{r}")).map(|c| (Target::Tag(r.to_string()), c)))
    };
    match found {
        Some((target, commit)) => Ok(Resolved {
            target,
            commit: Some(commit),
        }),
        None if is_commitish(r) => Ok(Resolved {
            target: Target::Commit(r.to_string()),
            commit: None,
        }),
        None => Err(Error::UnknownRef {
            repository: spec.repository().to_string(),
            what: format!("no branch or tag named '{r}'"),
        }),
    }
}

/// The branch the remote's HEAD names, or HEAD itself when it names none.
fn default_branch(spec: &Spec) -> Result<Resolved> {
    let refs = ls_remote(spec, &["--symref"], &["HEAD".to_string()])?;
    let commit = refs
        .iter()
        .find(|(s, n)| n == "HEAD" && !s.starts_with("ref:"))
        .map(|(s, _)| s.clone())
        .ok_or_else(|| Error::UnknownRef {
            repository: spec.repository().to_string(),
            what: "no commits (its HEAD points at nothing)".into(),
        })?;
    let branch = refs.iter().find_map(|(s, n)| {
        (n == "HEAD")
            .then(|| s.strip_prefix("ref:"))
            .flatten()
            .and_then(|target| target.trim().strip_prefix("refs/heads/"))
            .map(str::to_string)
    });
    Ok(Resolved {
        target: match branch {
            Some(b) => Target::Branch(b),
            None => Target::Ref("HEAD".into()),
        },
        commit: Some(commit),
    })
}

/// Where the reference of `spec` points now in its remote (the default
/// branch when it names none).
pub fn remote_commit(spec: &Spec) -> Result<RefState> {
    let resolved = resolve(spec)?;
    Ok(match resolved.commit {
        Some(c) => RefState::At(c),
        None => RefState::Pinned,
    })
}
