//! Converts between the model definition `keel-modeldef` inspects and the
//! record the store keeps, in both directions, so that the two can evolve
//! apart: the store's format changes only with a new format number.

use keel_modeldef::{Adapter, FileEntry, FileRole, FunctionInfo, Functions, ModelDef, Platform};
use keel_store::VersionFile;
use keel_store::formats::{
    AdapterRecord, DefinitionFile, FunctionRecord, FunctionsRecord, ModelDefinition, PlatformRecord,
};

use crate::error::{Error, Result};

fn function_record(f: &Option<FunctionInfo>) -> Option<FunctionRecord> {
    f.as_ref().map(|f| FunctionRecord {
        name: f.name.clone(),
        file: f.file.clone(),
        line: f.line,
        batch: f.batch,
        params: f.params.clone(),
    })
}

fn function_info(f: &Option<FunctionRecord>) -> Option<FunctionInfo> {
    f.as_ref().map(|f| FunctionInfo {
        name: f.name.clone(),
        file: f.file.clone(),
        line: f.line,
        batch: f.batch,
        params: f.params.clone(),
    })
}

/// The spelling of a file role in the store (`source`, `attachment`, ...).
pub fn role_name(role: FileRole) -> &'static str {
    match role {
        FileRole::Source => "source",
        FileRole::Attachment => "attachment",
        FileRole::Schema => "schema",
        FileRole::Manifest => "manifest",
        FileRole::Requirements => "requirements",
    }
}

fn role_of(name: &str) -> Result<FileRole> {
    Ok(match name {
        "source" => FileRole::Source,
        "attachment" => FileRole::Attachment,
        "schema" => FileRole::Schema,
        "manifest" => FileRole::Manifest,
        "requirements" => FileRole::Requirements,
        other => {
            return Err(Error::Internal(format!(
                "a stored model file has the unknown role '{other}'"
            )));
        }
    })
}

/// The record of an inspected definition.
pub fn to_record(def: &ModelDef) -> ModelDefinition {
    ModelDefinition {
        name: def.name.clone(),
        source: def.source.clone(),
        module: def.module.clone(),
        functions: FunctionsRecord {
            init: function_record(&def.functions.init),
            score: function_record(&def.functions.score),
            metrics: function_record(&def.functions.metrics),
            train: function_record(&def.functions.train),
        },
        input_schema: def.input_schema.clone(),
        output_schema: def.output_schema.clone(),
        output_column: def.output_column.clone(),
        platform: PlatformRecord {
            requirements_file: def.platform.requirements_file.clone(),
            requirements: def.platform.requirements.clone(),
            python_version: def.platform.python_version.clone(),
            hash: def.platform.hash.clone(),
        },
        files: def
            .files
            .iter()
            .map(|f| DefinitionFile {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
                role: role_name(f.role).to_string(),
            })
            .collect(),
        content_hash: def.content_hash.clone(),
        adapter: def.adapter.as_ref().map(|a| AdapterRecord {
            kind: a.kind.clone(),
            summary: a.summary.clone(),
            notes: a.notes.clone(),
            config: a.config.clone(),
        }),
    }
}

/// The definition a stored record describes.
pub fn from_record(rec: &ModelDefinition) -> Result<ModelDef> {
    Ok(ModelDef {
        name: rec.name.clone(),
        source: rec.source.clone(),
        module: rec.module.clone(),
        functions: Functions {
            init: function_info(&rec.functions.init),
            score: function_info(&rec.functions.score),
            metrics: function_info(&rec.functions.metrics),
            train: function_info(&rec.functions.train),
        },
        input_schema: rec.input_schema.clone(),
        output_schema: rec.output_schema.clone(),
        output_column: rec.output_column.clone(),
        platform: Platform {
            requirements_file: rec.platform.requirements_file.clone(),
            requirements: rec.platform.requirements.clone(),
            python_version: rec.platform.python_version.clone(),
            hash: rec.platform.hash.clone(),
        },
        files: rec
            .files
            .iter()
            .map(|f| {
                Ok(FileEntry {
                    path: f.path.clone(),
                    sha256: f.sha256.clone(),
                    size: f.size,
                    role: role_of(&f.role)?,
                })
            })
            .collect::<Result<_>>()?,
        content_hash: rec.content_hash.clone(),
        adapter: rec.adapter.as_ref().map(|a| Adapter {
            kind: a.kind.clone(),
            summary: a.summary.clone(),
            notes: a.notes.clone(),
            config: a.config.clone(),
        }),
        // A stored version's made files are stored files now.
        generated: Vec::new(),
    })
}

/// The store's file list of a definition.
pub fn version_files(def: &ModelDef) -> Vec<VersionFile> {
    def.files
        .iter()
        .map(|f| VersionFile {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            size: f.size,
            role: role_name(f.role).to_string(),
        })
        .collect()
}
