//! A job's working directory: the version's files fetched from the artifact
//! store (archives extracted and checked), the input made available as a
//! local file whatever store it lives in, and the schemas loaded.

use std::path::{Path, PathBuf};

use keel_data::AvroSchema;
use keel_modeldef::ModelDef;
use keel_store::formats::InputRecord;
use keel_store::{Lease, S3Uri, Stores, VersionRecord, keys};
use keel_types::{JobError, JobErrorKind, JobId};

use crate::error::{Error, Result};
use crate::pipeline::{failure, internal};

/// Strips `file://` from a URI; refuses schemes Keel cannot reach yet.
pub fn local_path(uri: &str) -> Result<PathBuf> {
    if let Some(rest) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if let Some((scheme, _)) = uri.split_once("://") {
        return Err(Error::InvalidArgument(format!(
            "'{uri}' uses the {scheme}:// scheme, which Keel cannot read or write; use a local path, a file:// URI or an S3 object (s3://BUCKET/KEY)."
        )));
    }
    Ok(PathBuf::from(uri))
}

/// Where an attempt at a job has its working directory under the data
/// directory: `work/<job id>.<attempt>`, so that a late attempt that lost the
/// job never touches the files of the attempt that took it over.
pub fn workdir(home: &Path, lease: Lease) -> PathBuf {
    home.join("work")
        .join(format!("{}.{}", lease.job, lease.attempt))
}

/// The job a working directory's name belongs to, if it is one.
pub fn workdir_job(name: &str) -> Option<JobId> {
    name.split_once('.')
        .map_or(name, |(job, _)| job)
        .parse()
        .ok()
}

/// A prepared working directory.
pub(crate) struct Workspace {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// The input as a local file.
    pub(crate) input: PathBuf,
    /// The input's name, as the model sees it.
    pub(crate) input_name: String,
    /// The baseline as a local file, with its name, when the job has one.
    pub(crate) baseline: Option<(PathBuf, String)>,
}

/// Creates a fresh working directory holding the version's files (archives
/// extracted), the job's input and its baseline.
pub(crate) async fn prepare(
    stores: &Stores,
    dir: PathBuf,
    version: &VersionRecord,
    def: &ModelDef,
    input: &InputRecord,
    baseline: Option<&InputRecord>,
) -> std::result::Result<Workspace, JobError> {
    let _ = tokio::fs::remove_dir_all(&dir).await;
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| internal(format!("cannot create the working directory: {e}")))?;
    for f in &version.files {
        let dest = dir.join(&f.path);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(internal)?;
        }
        stores
            .artifacts
            .get_to_file(&keys::blob(&f.sha256), &dest)
            .await
            .map_err(internal)?;
    }
    {
        let def = def.clone();
        let wd = dir.clone();
        tokio::task::spawn_blocking(move || keel_modeldef::materialize(&def, &wd, &wd))
            .await
            .map_err(internal)?
            .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
    }
    let (input, input_name) = local_input(stores, &dir, input, ".keel-input").await?;
    let baseline = match baseline {
        Some(b) => Some(local_input(stores, &dir, b, ".keel-baseline").await?),
        None => None,
    };
    Ok(Workspace {
        dir,
        input,
        input_name,
        baseline,
    })
}

/// A job's data set as a local file and its name: an upload or an S3 object
/// is fetched into `dir/slot/`, out of the model's way; a path is used where
/// it is.
async fn local_input(
    stores: &Stores,
    dir: &Path,
    input: &InputRecord,
    slot: &str,
) -> std::result::Result<(PathBuf, String), JobError> {
    let invalid = |e: Error| failure(JobErrorKind::InvalidInput, e.to_string());
    Ok(match input {
        InputRecord::Upload { upload_id, .. } => {
            let up = stores
                .uploads
                .upload(*upload_id)
                .await
                .map_err(internal)?
                .ok_or_else(|| {
                    failure(
                        JobErrorKind::InvalidInput,
                        format!("There is no upload with id {upload_id}."),
                    )
                })?;
            // Inputs are read from local files; an upload is fetched beside
            // the model's files, out of the model's way.
            let local = dir.join(slot).join(&up.name);
            stores
                .artifacts
                .get_to_file(&keys::upload(up.id, &up.name), &local)
                .await
                .map_err(|e| invalid(e.into()))?;
            (local, up.name)
        }
        InputRecord::Path { uri } if S3Uri::is_s3(uri) => {
            // Streamed to a local file beside the model's files: a large
            // object is never held in memory.
            let object = S3Uri::parse(uri).map_err(|e| invalid(e.into()))?;
            let name = object.file_name().to_string();
            let local = dir.join(slot).join(&name);
            stores
                .buckets
                .download(&object, &local)
                .await
                .map_err(|e| invalid(e.into()))?;
            (local, name)
        }
        InputRecord::Path { uri } => {
            let p = local_path(uri).map_err(invalid)?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| uri.clone());
            (p, name)
        }
    })
}

/// Loads a schema file of the version from the working directory.
pub(crate) fn load_schema(
    dir: &Path,
    rel: &Option<String>,
) -> std::result::Result<Option<AvroSchema>, JobError> {
    let Some(rel) = rel else { return Ok(None) };
    let text = std::fs::read_to_string(dir.join(rel))
        .map_err(|e| internal(format!("cannot read schema {rel}: {e}")))?;
    AvroSchema::parse(&text, rel)
        .map(Some)
        .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))
}
