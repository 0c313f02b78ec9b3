//! How an MLflow model directory becomes a [`ModelDef`]: Keel's adapter
//! (`keel_mlflow.py`) is the source that runs, with `init` and a batch
//! `score`; the signature's Avro schemas are files Keel makes when the
//! directory has none of those names; `MLmodel` is the manifest and the
//! platform files give the requirements. Every other file is an attachment
//! the adapter loads.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::inspect::{
    Adapter, FileEntry, FileRole, Found, FunctionInfo, Functions, ModelDef, Platform, content_hash,
    file_entries, platform_hash, sanitize_name,
};
use crate::mlflow::{ADAPTER_MODULE, MLMODEL_FILE, MlflowModel};

/// The file the adapter's functions are in, as definitions and job logs name it.
const ADAPTER_FILE: &str = "keel_mlflow.py";
/// The names the signature's schemas get, as any Keel model's schemas have.
const INPUT_SCHEMA: &str = "input_schema.avsc";
const OUTPUT_SCHEMA: &str = "output_schema.avsc";

/// Builds the definition of the MLflow model `m` in `dir`, whose files are `found`.
pub(crate) fn build(dir: &Path, m: &MlflowModel, found: &[Found]) -> Result<ModelDef> {
    let own = |rel: &str| found.iter().any(|f| !f.extra && f.rel == rel);
    let mut generated = Vec::new();
    let mut schema = |name: &str, text: Option<String>| -> Option<String> {
        if own(name) {
            return Some(name.to_string());
        }
        let text = text?;
        generated.push((name.to_string(), text));
        Some(name.to_string())
    };
    let input_schema = schema(INPUT_SCHEMA, m.input_schema_avsc());
    let output_schema = schema(OUTPUT_SCHEMA, m.output_schema_avsc());

    let mut files = file_entries(found, |f| {
        let is_schema = [&input_schema, &output_schema]
            .iter()
            .any(|s| s.as_deref() == Some(f.rel.as_str()));
        if f.rel == MLMODEL_FILE {
            Some(FileRole::Manifest)
        } else if m.platform_files.contains(&f.rel) {
            Some(FileRole::Requirements)
        } else {
            is_schema.then_some(FileRole::Schema)
        }
    })?;
    for (path, text) in &generated {
        files.push(FileEntry {
            path: path.clone(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            size: text.len() as u64,
            role: FileRole::Schema,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let function = |name: &str, batch: bool, params: &[&str]| FunctionInfo {
        name: name.to_string(),
        file: ADAPTER_FILE.to_string(),
        line: 1,
        batch,
        params: params.iter().map(|p| p.to_string()).collect(),
    };
    let platform = Platform {
        hash: platform_hash(m.python_version.as_deref(), &m.requirements),
        requirements_file: m.platform_files.first().cloned(),
        requirements: m.requirements.clone(),
        python_version: m.python_version.clone(),
    };
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name = sanitize_name(
        &canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    Ok(ModelDef {
        content_hash: content_hash(&name, &files),
        name,
        source: MLMODEL_FILE.to_string(),
        module: ADAPTER_MODULE.to_string(),
        functions: Functions {
            init: Some(function("init", false, &[])),
            score: Some(function("score", true, &["df"])),
            metrics: None,
            train: None,
        },
        input_schema,
        output_schema,
        output_column: None,
        platform,
        files,
        adapter: Some(Adapter {
            kind: "mlflow".to_string(),
            summary: m.summary(),
            notes: m.notes().to_vec(),
            config: m.adapter_config().to_string(),
        }),
        generated,
    })
}
