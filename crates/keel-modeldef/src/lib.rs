//! Finds what a model directory holds: smart-tagged functions, schemas, attachments, platform; extracts archives safely.
//!
//! [`inspect`] reads a directory laid out as ModelOp Center's standard model
//! definition (a Python source with `# modelop.score`-style smart tags, optional
//! `input_schema.avsc` / `output_schema.avsc`, `requirements.txt`, attachments,
//! and an optional `keel.toml` manifest) and returns a [`ModelDef`] with every
//! file hashed. [`check_archive`] and [`extract_archive`] handle archive
//! attachments without letting them escape their directory or explode.
//! [`detect_mlflow`] recognises an MLflow model directory (an `MLmodel` file)
//! and reads its flavor, platform and signature into an [`MlflowModel`].

#![warn(missing_docs)]

mod archive;
mod error;
mod inspect;
mod manifest;
mod materialize;
mod mlflow;
mod tags;

pub use archive::{ArchiveLimits, check_archive, extract_archive, is_archive};
pub use error::{Error, Result};
pub use inspect::{
    Adapter, FileEntry, FileRole, FunctionInfo, Functions, ModelDef, Platform, file_origin,
    inspect, sha256_file,
};
pub use materialize::materialize;
pub use mlflow::{
    ADAPTER_CONFIG_ENV, ADAPTER_MODULE, Flavor, MLMODEL_FILE, MlflowModel, SerializationFormat,
    detect as detect_mlflow,
};
