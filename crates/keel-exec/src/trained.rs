//! How a training job's output becomes the model's next version.
//!
//! The rule: the new version is the previous version's files, with each file
//! train wrote to `outputDir/` replacing the file of the same path. An
//! archive attachment whose extraction would put a file at a path train
//! wrote is unpacked into plain files instead, so the trained file wins and
//! the archive's other files are kept; an archive none of whose files are
//! replaced is kept as it is. Before anything is registered, the new version
//! is materialised once, as a job would prepare it, so a version that could
//! never run is never created.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use keel_modeldef::{ArchiveLimits, ModelDef};
use keel_store::{JobRecord, Stores, VersionRecord, keys};

use crate::error::{Error, Result};
use crate::registration::{Registered, register};

/// Registers what a training job produced as the next version of its model.
pub(crate) async fn register_trained(
    stores: &Stores,
    job: &JobRecord,
    version: &VersionRecord,
    workdir: &Path,
) -> Result<Registered> {
    let out_dir = workdir.join("outputDir");
    let produced = list_files(&out_dir)?;
    if produced.is_empty() {
        return Err(Error::InvalidArgument(
            "train() wrote no files to outputDir/, so there is nothing to make a new version of. Write the trained artifacts to outputDir/.".to_string(),
        ));
    }
    let scratch = tempfile::Builder::new()
        .prefix(".keel-trained-")
        .tempdir_in(workdir.parent().unwrap_or(workdir))
        .map_err(Error::io("cannot create a staging directory"))?;
    let staging = scratch.path().join("version");
    let replaced: HashSet<&str> = produced.iter().map(String::as_str).collect();
    for f in &version.files {
        if replaced.contains(f.path.as_str()) {
            continue;
        }
        let dest = staging.join(&f.path);
        create_parent(&dest)?;
        stores
            .artifacts
            .get_to_file(&keys::blob(&f.sha256), &dest)
            .await?;
        if f.role == "attachment" && keel_modeldef::is_archive(&f.path) {
            unpack_if_replaced(&dest, &f.path, &staging, &replaced, scratch.path())?;
        }
    }
    for rel in &produced {
        let dest = staging.join(rel);
        create_parent(&dest)?;
        std::fs::copy(out_dir.join(rel), &dest)
            .map_err(Error::io(format!("cannot copy outputDir/{rel}")))?;
    }
    let def: ModelDef = keel_modeldef::inspect(&staging, &[])?.with_name(&job.model_name);
    // Prepare the new version once as a job would: extraction conflicts and
    // damaged files show here, not in every later job.
    let check = scratch.path().join("check");
    keel_modeldef::materialize(&def, &staging, &check).map_err(|e| {
        Error::InvalidArgument(format!(
            "The trained version could not be prepared for a job, so no version was created: {e}"
        ))
    })?;
    let origins: HashMap<String, PathBuf> = def
        .files
        .iter()
        .map(|f| (f.path.clone(), staging.join(&f.path)))
        .collect();
    // The version is registered on behalf of whoever queued the job, from the job.
    let by = keel_store::Actor::new(
        job.created_by.clone().unwrap_or_else(|| "keel".into()),
        format!("job {}", job.id),
    );
    register(stores, &by, &job.model_name, &def, &origins, Some(job.id)).await
}

/// Unpacks the archive `rel` (staged at `archive`) into plain files beside it
/// when train wrote a file at one of the paths it would extract to.
fn unpack_if_replaced(
    archive: &Path,
    rel: &str,
    staging: &Path,
    replaced: &HashSet<&str>,
    scratch: &Path,
) -> Result<()> {
    let base = Path::new(rel).parent().unwrap_or(Path::new(""));
    let into = tempfile::tempdir_in(scratch).map_err(Error::io("cannot unpack an archive"))?;
    let written = keel_modeldef::extract_archive(archive, into.path(), &ArchiveLimits::default())?;
    let entries: Vec<(String, PathBuf)> = written
        .into_iter()
        .filter_map(|p| {
            let inner = p.strip_prefix(into.path()).ok()?.to_path_buf();
            Some((slash_path(&base.join(inner)), p))
        })
        .collect();
    if !entries.iter().any(|(e, _)| replaced.contains(e.as_str())) {
        return Ok(());
    }
    std::fs::remove_file(archive).map_err(Error::io(format!("cannot unpack {rel}")))?;
    for (entry, path) in entries {
        if replaced.contains(entry.as_str()) {
            continue;
        }
        let dest = staging.join(&entry);
        create_parent(&dest)?;
        std::fs::rename(&path, &dest)
            .map_err(Error::io(format!("cannot unpack {entry} of {rel}")))?;
    }
    Ok(())
}

/// A relative path written with `/`, as model file paths are.
fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(Error::io("cannot stage a file")),
        None => Ok(()),
    }
}

/// Relative paths of the regular files under `dir` (none if it does not exist).
/// Links are refused: a model must not smuggle one into a version.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).map_err(Error::io(format!("cannot list {}", d.display())))?
        {
            let entry = entry.map_err(Error::io("cannot list outputDir"))?;
            let ft = entry
                .file_type()
                .map_err(Error::io("cannot list outputDir"))?;
            let path = entry.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                out.push(slash_path(rel));
            } else {
                return Err(Error::InvalidArgument(format!(
                    "train() left {} in outputDir/, which is not a regular file; Keel does not follow links.",
                    path.display()
                )));
            }
        }
    }
    out.sort();
    Ok(out)
}
