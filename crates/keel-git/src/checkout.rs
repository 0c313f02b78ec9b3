//! Checking a source out into a temporary directory: a shallow clone of a
//! branch or tag, a shallow fetch of a ref or a commit id (a full clone when
//! the server refuses to send an unadvertised commit, or the id is
//! abbreviated), then the subdirectory found and checked.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::origin::Origin;
use crate::remote::{Target, resolve};
use crate::run::git;
use crate::spec::{Spec, is_full_commit};

/// A source checked out in a temporary directory, removed when this is dropped.
#[derive(Debug)]
pub struct Checkout {
    tmp: tempfile::TempDir,
    model_dir: PathBuf,
    origin: Origin,
}

impl Checkout {
    /// The model directory: the checkout's root or its subdirectory.
    pub fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    /// Where it came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The temporary directory holding the checkout (removed on drop).
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }
}

/// Clones `spec` at its reference into a fresh temporary directory and
/// finds its subdirectory. The directory is removed when the returned
/// [`Checkout`] is dropped, and at once when anything fails.
pub fn checkout(spec: &Spec) -> Result<Checkout> {
    let tmp = tempfile::Builder::new()
        .prefix("keel-git-")
        .tempdir()
        .map_err(Error::io("create a temporary directory for the clone"))?;
    // The checkout is named after the repository, so a model named after
    // its directory gets the same name (and content hash) every time.
    let dest = tmp.path().join(spec.checkout_name());
    let resolved = resolve(spec)?;
    let quiet = ["-c", "advice.detachedHead=false"];
    match &resolved.target {
        Target::Branch(name) | Target::Tag(name) => {
            let args = [
                &quiet[..],
                &["clone", "--quiet", "--depth", "1", "--branch", name, "--"],
            ]
            .concat();
            clone(spec, &args, &dest)?;
        }
        Target::Ref(name) => fetch_one(spec, name, &dest)?,
        Target::Commit(id) => {
            let shallow = is_full_commit(id) && fetch_one(spec, id, &dest).is_ok();
            if !shallow {
                full_clone_at(spec, id, &dest)?;
            }
        }
    }
    let commit = git(spec, "rev-parse", &["rev-parse", "HEAD"], Some(&dest))?
        .trim()
        .to_string();
    let reference = match (spec.reference(), &resolved.target) {
        (Some(r), _) => r.to_string(),
        (None, Target::Branch(b)) => b.clone(),
        (None, _) => "HEAD".to_string(),
    };
    let model_dir = subdir(spec, &dest, &commit)?;
    Ok(Checkout {
        tmp,
        model_dir,
        origin: Origin {
            repository: spec.repository().to_string(),
            reference,
            commit,
            subdir: spec.subdir().map(str::to_string),
        },
    })
}

/// `git clone ARGS URL DEST`.
fn clone(spec: &Spec, args: &[&str], dest: &Path) -> Result<()> {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.push(spec.url().as_ref());
    all.push(dest.as_os_str());
    git(spec, "clone", &all, None).map(|_| ())
}

/// A shallow fetch of one ref or commit into a new repository at `dest`,
/// checked out detached.
fn fetch_one(spec: &Spec, what: &str, dest: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dest);
    git(
        spec,
        "init",
        &[
            std::ffi::OsStr::new("init"),
            "--quiet".as_ref(),
            dest.as_os_str(),
        ],
        None,
    )?;
    git(
        spec,
        "fetch",
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth",
            "1",
            "--",
            spec.url(),
            what,
        ],
        Some(dest),
    )?;
    git(
        spec,
        "checkout",
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            "FETCH_HEAD",
        ],
        Some(dest),
    )
    .map(|_| ())
}

/// A full clone checked out at the commit `id` (full or abbreviated).
fn full_clone_at(spec: &Spec, id: &str, dest: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dest);
    clone(spec, &["clone", "--quiet", "--no-checkout", "--"], dest)?;
    let full = git(
        spec,
        "rev-parse",
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{id}^{{commit}}"),
        ],
        Some(dest),
    )
    .map_err(|_| Error::UnknownRef {
        repository: spec.repository().to_string(),
        what: format!("no branch, tag or commit named '{id}'"),
    })?;
    git(
        spec,
        "checkout",
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            full.trim(),
        ],
        Some(dest),
    )
    .map(|_| ())
}

/// The model directory inside the checkout at `root`: its subdirectory,
/// which must exist, be a directory and stay inside the checkout.
fn subdir(spec: &Spec, root: &Path, commit: &str) -> Result<PathBuf> {
    let Some(sub) = spec.subdir() else {
        return Ok(root.to_path_buf());
    };
    let refused = |reason: &str| Error::UnusableSubdir {
        subdir: sub.to_string(),
        repository: spec.repository().to_string(),
        commit: commit.to_string(),
        reason: reason.to_string(),
    };
    let dir = root.join(sub);
    if std::fs::symlink_metadata(&dir).is_err() {
        return Err(Error::MissingSubdir {
            subdir: sub.to_string(),
            repository: spec.repository().to_string(),
            commit: commit.to_string(),
        });
    }
    let inside = std::fs::canonicalize(root).map_err(Error::io("read the checkout"))?;
    let real = std::fs::canonicalize(&dir).map_err(|_| refused("is a symbolic link to nothing"))?;
    if !real.starts_with(&inside) {
        return Err(refused("leaves the checkout through a symbolic link"));
    }
    if real.starts_with(inside.join(".git")) {
        return Err(refused(
            "leads into git's own directory through a symbolic link",
        ));
    }
    if !real.is_dir() {
        return Err(refused("is a file, not a directory"));
    }
    Ok(dir)
}
