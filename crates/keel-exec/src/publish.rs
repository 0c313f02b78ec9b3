//! Publishing what a run produced, only after it succeeded: rejected records,
//! scored rows, then the output (an embedded output goes to the artifact
//! store, an external file is renamed into place, an S3 object is copied
//! create-only to its key), then a training job's new
//! version. Until then nothing of the job is visible to anyone.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use keel_store::formats::{JobResult, OutputRecord};
use keel_store::{JobRecord, Published, S3Uri, Stores, VersionRecord, keys};
use keel_types::{DataFormat, JobError, JobErrorKind, JobKind};

use crate::error::Error;
use crate::pipeline::{Produced, RunOutcome, failure, internal};
use crate::registration::Registered;
use crate::trained::register_trained;
use crate::workspace::local_path;

/// Commits a successful run's products and says what the job produced.
pub(crate) async fn publish(
    stores: &Stores,
    job: &JobRecord,
    version: &VersionRecord,
    workdir: &Path,
    outcome: RunOutcome,
) -> std::result::Result<(JobResult, Option<Registered>), JobError> {
    let mut result = JobResult::default();
    if let Some(path) = &outcome.scores {
        stores
            .artifacts
            .put_file(&keys::job_scores(job.id), path)
            .await
            .map_err(internal)?;
    }
    if let Some(path) = &outcome.rejected {
        stores
            .artifacts
            .put_file(&keys::job_rejected(job.id), path)
            .await
            .map_err(internal)?;
        result.has_rejected = true;
    }
    let output = &job.request.output;
    match (outcome.produced, output) {
        (Produced::Table(file), Some(OutputRecord::Embedded { name })) => {
            file.commit().map_err(internal)?;
            let tmp = workdir.join(".keel-out").join(name);
            stores
                .artifacts
                .put_file(&keys::job_output(job.id, name), &tmp)
                .await
                .map_err(internal)?;
            result.output = output.clone();
            result.output_format = DataFormat::from_name(name);
        }
        (Produced::Table(file), Some(OutputRecord::External { uri })) => {
            file.commit().map_err(internal)?;
            if S3Uri::is_s3(uri) {
                publish_object(stores, job, workdir, uri).await?;
            }
            result.output = output.clone();
            result.output_format = DataFormat::from_name(uri);
        }
        (Produced::Json(value), out) => {
            let text = serde_json::to_vec_pretty(&value).map_err(internal)?;
            match out {
                Some(OutputRecord::Embedded { name }) => {
                    stores
                        .artifacts
                        .put_bytes(&keys::job_output(job.id, name), text.into())
                        .await
                        .map_err(internal)?;
                }
                Some(OutputRecord::External { uri }) if S3Uri::is_s3(uri) => {
                    let path = staged_object(workdir, uri)?;
                    write_atomic(&path, &text)
                        .map_err(|e| internal(format!("cannot write {}: {e}", path.display())))?;
                    publish_object(stores, job, workdir, uri).await?;
                }
                Some(OutputRecord::External { uri }) => {
                    let path = local_path(uri)
                        .map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
                    write_atomic(&path, &text)
                        .map_err(|e| internal(format!("cannot write {}: {e}", path.display())))?;
                }
                None => {}
            }
            result.output = out.clone();
            result.output_format = out.as_ref().map(|_| DataFormat::Json);
            result.metrics = Some(value);
        }
        _ => {}
    }
    let mut registered = None;
    if job.kind == JobKind::Training {
        let reg = register_trained(stores, job, version, workdir)
            .await
            .map_err(|e| match e {
                Error::Model(m) => failure(
                    JobErrorKind::UserError,
                    format!("The trained model is not a valid model: {m}"),
                ),
                Error::InvalidArgument(m) => failure(JobErrorKind::UserError, m),
                other => internal(other),
            })?;
        result.produced_version = Some(reg.version.number);
        result.produced_version_id = Some(reg.version.id);
        registered = Some(reg);
    }
    Ok((result, registered))
}

/// Where an S3 output is written in the working directory before it is
/// published: `.keel-out/` and the object's file name (the directory made).
fn staged_object(workdir: &Path, uri: &str) -> std::result::Result<PathBuf, JobError> {
    let object =
        S3Uri::parse(uri).map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
    let dir = workdir.join(".keel-out");
    std::fs::create_dir_all(&dir).map_err(internal)?;
    Ok(dir.join(object.file_name()))
}

/// Publishes a finished output to its bucket, create-only: staged under a
/// key of this attempt's, then copied to the object's key unless something
/// is there, so two attempts at the job never both publish. An object with
/// exactly this attempt's bytes is taken as published: an earlier attempt
/// of a deterministic job wrote it and then lost its lease.
async fn publish_object(
    stores: &Stores,
    job: &JobRecord,
    workdir: &Path,
    uri: &str,
) -> std::result::Result<(), JobError> {
    let local = staged_object(workdir, uri)?;
    let object =
        S3Uri::parse(uri).map_err(|e| failure(JobErrorKind::InvalidInput, e.to_string()))?;
    let tag = format!("{}.{}", job.id, job.attempt);
    match stores.buckets.publish_new(&local, &object, &tag).await {
        Ok(Published::New(_)) => Ok(()),
        Ok(Published::Identical(_)) => {
            tracing::info!(job = %job.id, object = %object, "the output was already published, identical");
            Ok(())
        }
        Err(keel_store::Error::AlreadyExists(_)) => Err(failure(
            JobErrorKind::InvalidInput,
            format!(
                "The output {object} exists already with other content (another job or client \
                 wrote it, or an earlier attempt at this job published a different result before \
                 it lost its lease); Keel never replaces an object in a bucket."
            ),
        )),
        Err(e) => Err(internal(format!("cannot publish the output {object}: {e}"))),
    }
}

/// Writes `bytes` to `path` through a temp file and a rename, so readers see
/// either nothing or the whole file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = dir.join(keel_data::temp_name(&name));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
