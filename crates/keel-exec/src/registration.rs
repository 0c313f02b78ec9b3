//! How an inspected model directory becomes a stored version: its files go
//! to the artifact store as content-addressed blobs (once each), then the
//! version is created, unless one with the same content exists. Core's
//! `register` and training jobs both come through here. A version's origin
//! (the git commit its files came from) is metadata: an unchanged directory
//! from a new commit creates no version, and the existing one keeps its own.

use std::collections::HashMap;
use std::path::PathBuf;

use keel_modeldef::ModelDef;
use keel_store::formats::VersionOrigin;
use keel_store::{Actor, ModelRecord, NewVersion, Stores, VersionRecord, keys};
use keel_types::{JobId, valid_name};

use crate::definition;
use crate::error::{Error, Result};

/// What a registration produced.
#[derive(Clone, Debug)]
pub struct Registered {
    /// The model, after the registration.
    pub model: ModelRecord,
    /// The new version, or the existing one with the same content.
    pub version: VersionRecord,
    /// False when an identical version existed and none was created.
    pub created: bool,
}

/// Registers `def` as the next version of the model `name`, creating the
/// model if needed. `origins` maps each file's relative path to where its
/// bytes are now. `source_job` names the training job that produced it;
/// `by` is who registers it, as the audit log records it.
/// The version records no origin, which is right for training: a trained
/// version came from its job, even when the version it was trained from
/// came from a git repository.
pub async fn register(
    stores: &Stores,
    by: &Actor,
    name: &str,
    def: &ModelDef,
    origins: &HashMap<String, PathBuf>,
    source_job: Option<JobId>,
) -> Result<Registered> {
    register_with_origin(stores, by, name, def, origins, source_job, None).await
}

/// [`register`], recording where the files came from (a git commit) on the
/// version it creates.
pub async fn register_with_origin(
    stores: &Stores,
    by: &Actor,
    name: &str,
    def: &ModelDef,
    origins: &HashMap<String, PathBuf>,
    source_job: Option<JobId>,
    origin: Option<VersionOrigin>,
) -> Result<Registered> {
    valid_name(name)
        .map_err(|r| Error::InvalidArgument(format!("The model name `name` is not valid: {r}.")))?;
    let registry = &stores.registry;
    let model = match registry.model_by_name(name).await? {
        Some(m) => m,
        None => match registry.create_model(name, by).await {
            Ok(m) => m,
            // Another registration created it between our read and our write.
            Err(keel_store::Error::AlreadyExists(_)) => registry
                .model_by_name(name)
                .await?
                .ok_or_else(|| Error::Internal(format!("model {name} vanished")))?,
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(existing) = registry
        .version_by_hash(model.id, &def.content_hash)
        .await?
    {
        let model = registry
            .model_by_id(model.id)
            .await?
            .ok_or_else(|| Error::Internal(format!("model {name} vanished")))?;
        return Ok(Registered {
            model,
            version: existing,
            created: false,
        });
    }
    for f in &def.files {
        let key = keys::blob(&f.sha256);
        if !stores.artifacts.exists(&key).await? {
            let src = origins
                .get(&f.path)
                .ok_or_else(|| Error::Internal(format!("no origin for model file {}", f.path)))?;
            stores.artifacts.put_file(&key, src).await?;
        }
    }
    let version = registry
        .create_version(
            &NewVersion {
                model_id: model.id,
                content_hash: def.content_hash.clone(),
                definition: definition::to_record(def),
                files: definition::version_files(def),
                source_job,
                origin,
            },
            by,
        )
        .await?;
    let model = registry
        .model_by_id(model.id)
        .await?
        .ok_or_else(|| Error::Internal(format!("model {name} vanished")))?;
    tracing::info!(model = %model.name, version = version.number, "registered");
    Ok(Registered {
        model,
        version,
        created: true,
    })
}
