//! Prepares a job's working directory from a version's stored files: each
//! file copied with its hash checked, then each archive attachment extracted
//! beside itself, refusing anything that would leave the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::archive::{self, ArchiveLimits};
use crate::error::{Error, Result};
use crate::inspect::{FileRole, ModelDef};

/// Prepares a job's working directory: copies every file of `def` that is not
/// already in `workdir` from `files_dir` (which holds the version's files at their
/// relative paths), checking each copy's sha256, then extracts every archive
/// attachment into the directory that holds it inside `workdir`.
pub fn materialize(def: &ModelDef, files_dir: &Path, workdir: &Path) -> Result<()> {
    fs::create_dir_all(workdir).map_err(|e| Error::io("create the directory", workdir, e))?;
    for f in &def.files {
        let rel = safe_rel(&f.path)?;
        let target = workdir.join(&rel);
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_file() => continue,
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "{} exists in the working directory but is not a regular file; Keel will not replace it.",
                    target.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("inspect", &target, e)),
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("create the directory", parent, e))?;
        }
        copy_checked(&files_dir.join(&rel), &target, &f.sha256)?;
    }
    let limits = ArchiveLimits::default();
    for f in &def.files {
        if f.role == FileRole::Attachment && archive::is_archive(&f.path) {
            let path = workdir.join(safe_rel(&f.path)?);
            let into = path.parent().unwrap_or(workdir).to_path_buf();
            archive::extract_archive_named(&path, &f.path, &into, &limits)?;
        }
    }
    Ok(())
}

/// Rejects stored paths that could leave the working directory.
fn safe_rel(path: &str) -> Result<String> {
    match archive::entry_path(path) {
        Ok(Some(rel)) => Ok(rel),
        Ok(None) => Err(Error::invalid(format!(
            "The model file path '{path}' is empty."
        ))),
        Err(why) => Err(Error::invalid(format!(
            "The model file path '{path}' {why}; the model definition is damaged."
        ))),
    }
}

/// Copies a file while hashing it, failing when the bytes differ from the recorded hash.
fn copy_checked(from: &Path, to: &Path, sha256: &str) -> Result<()> {
    let mut src = File::open(from).map_err(|e| Error::io("open", from, e))?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| Error::io("create", to, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", from, e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .map_err(|e| Error::io("write", to, e))?;
    }
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        // A partial or wrong copy must not be mistaken for the real file on a retry.
        let _ = fs::remove_file(to);
        return Err(Error::io(
            "copy",
            from,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "its sha256 is {got}, not the recorded {sha256}; the stored model files are damaged"
                ),
            ),
        ));
    }
    Ok(())
}
