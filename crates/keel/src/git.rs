//! `keel model register git+URL[#REF][:SUBDIR]` and `keel model sync NAME`.
//!
//! Git runs here, in the CLI's process, in both modes: the source is
//! checked out into a temporary directory through `keel-core`, then
//! registered as a directory is (embedded mode) or inspected and uploaded
//! with its origin (remote mode). `sync` reads the origin of the model's
//! latest git-backed version through the same backend, so it too works the
//! same way in both modes.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use keel_api_model as api;
use keel_core::git::{self, Checkout, RefState};
use serde::Serialize;

use crate::backend::Backend;
use crate::output::{self, Format};

/// Registers the model a git source names.
pub async fn register(
    b: &Backend,
    fmt: Format,
    source: &str,
    name: Option<&str>,
    attach: &[PathBuf],
) -> anyhow::Result<i32> {
    if !attach.is_empty() {
        bail!(
            "--attach cannot be used with a git source: commit the files to the repository, so that `keel model sync` registers them again"
        );
    }
    let owned = source.to_string();
    let co = blocking(move || git::checkout(&owned)).await?;
    let reg = register_checkout(b, &co, name).await?;
    output::registration(fmt, &reg)?;
    Ok(0)
}

/// Registers a checkout with its origin, saying where it came from.
async fn register_checkout(
    b: &Backend,
    co: &Checkout,
    name: Option<&str>,
) -> anyhow::Result<api::Registration> {
    let source = git::source_of(co.origin());
    let commit = commit_of(co.origin());
    eprintln!("checked out {source} at commit {commit}");
    // Inspection names the model directory, which is a temporary checkout
    // gone by the time the message is read: name the source instead.
    let dir = co.dir().display().to_string();
    b.register_with_origin(co.dir(), name, co.origin())
        .await
        .map_err(|e| anyhow!(format!("{e:#}").replace(&dir, &source)))
        .with_context(|| format!("cannot register {source} at commit {commit}"))
}

/// What `keel model sync` did, as `-o json` prints it.
#[derive(Debug, Serialize)]
struct Synced {
    /// The model.
    model: String,
    /// `up_to_date`, `created` (a new version) or `unchanged` (the ref
    /// moved, the files did not).
    status: &'static str,
    /// The source followed: `git+URL#REF[:SUBDIR]`.
    source: String,
    /// Whether the reference is a commit id, which never moves.
    pinned: bool,
    /// The commit the latest git-backed version was registered from.
    previous_commit: String,
    /// The commit the reference points at now.
    commit: String,
    /// The version holding the files of `commit`: the new one, or the
    /// existing one.
    version: u32,
    /// That version's id.
    version_id: uuid::Uuid,
}

/// Registers a new version of `model` if the reference its latest
/// git-backed version follows has moved.
pub async fn sync(b: &Backend, fmt: Format, model: &str) -> anyhow::Result<i32> {
    let (latest, origin) = latest_from_git(b, model).await?;
    let previous = commit_of(&origin).to_string();
    let source = git::source_of(&origin);
    let asked = origin.clone();
    let state = blocking(move || git::remote_commit(&asked)).await?;
    let mut report = Synced {
        model: latest.model_name.clone(),
        status: "up_to_date",
        source: source.clone(),
        pinned: state == RefState::Pinned,
        previous_commit: previous.clone(),
        commit: previous.clone(),
        version: latest.number,
        version_id: latest.id,
    };
    if matches!(&state, RefState::At(now) if *now != previous) {
        let asked = origin.clone();
        let co = blocking(move || git::checkout_origin(&asked)).await?;
        let reg = register_checkout(b, &co, Some(&latest.model_name)).await?;
        report.status = if reg.created { "created" } else { "unchanged" };
        report.commit = commit_of(co.origin()).to_string();
        report.version = reg.version.number;
        report.version_id = reg.version.id;
    }
    if fmt == Format::Json {
        output::json(&report)?;
        return Ok(0);
    }
    let Synced {
        model,
        version,
        commit,
        ..
    } = &report;
    let reference = reference_of(&origin);
    let line = match report.status {
        "created" => format!(
            "{model}: {reference} moved from {} to {}; registered version {version} (commit {commit})",
            short(&previous),
            short(commit)
        ),
        "unchanged" => format!(
            "{model}: {reference} moved from {} to {}, but the model's files did not change; no new version (version {version} holds them)",
            short(&previous),
            short(commit)
        ),
        _ if report.pinned => format!(
            "{model} is up to date: {source} names a commit, which cannot move (version {version}, commit {commit})"
        ),
        _ => format!(
            "{model} is up to date: {reference} is still at commit {commit} (version {version})"
        ),
    };
    output::out(&format!("{line}\n"));
    Ok(0)
}

/// The newest version of `model` registered from git, with its origin.
async fn latest_from_git(b: &Backend, model: &str) -> anyhow::Result<(api::Version, api::Origin)> {
    let mut found = None;
    let mut q = api::PageQuery {
        max_results: Some(1000),
        page_token: None,
    };
    loop {
        let page = b.list_versions(model, &q).await?;
        // Versions come in ascending number order, so the last one with an
        // origin is the newest.
        if let Some(v) = page.items.into_iter().rev().find(|v| v.origin.is_some()) {
            found = Some(v);
        }
        match page.next_page_token {
            Some(t) => q.page_token = Some(t),
            None => break,
        }
    }
    match found {
        Some(v) => {
            let origin = v.origin.clone().context("the version lost its origin")?;
            Ok((v, origin))
        }
        None => bail!(
            "model '{model}' has no version registered from git, so there is nothing to sync; register one with `keel model register git+URL#REF --name {model}`"
        ),
    }
}

fn commit_of(origin: &api::Origin) -> &str {
    let api::Origin::Git { commit, .. } = origin;
    commit
}

fn reference_of(origin: &api::Origin) -> &str {
    let api::Origin::Git { reference, .. } = origin;
    reference
}

/// A commit id shortened as git shows it.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Runs git work on a blocking thread. On Ctrl-C it waits for that work to
/// end before giving up: git runs in this terminal's process group, so the
/// same Ctrl-C stops it, and waiting lets the checkout's temporary
/// directory be removed rather than left behind.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> keel_core::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let task = tokio::task::spawn_blocking(work);
    tokio::pin!(task);
    tokio::select! {
        done = &mut task => Ok(done.context("the git work did not finish")??),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; removing the checkout");
            drop(task.await);
            bail!("interrupted")
        }
    }
}
