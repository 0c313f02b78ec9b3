//! The job document a model's `init(init_param)` receives as
//! `{"rawJson": "<this document as JSON>"}`, shaped like ModelOp Center's job
//! where Keel has the facts: the job's id, type and status, its input and
//! output assets, and the model with its metadata, schemas and files.
//! Monitors written for ModelOp read their baseline's location, the model's
//! input schema and its attributes from here.

use std::path::Path;

use keel_modeldef::{FileRole, ModelDef};
use keel_store::JobRecord;
use keel_types::{DataFormat, JobKind};
use serde_json::{Map, Value, json};

/// One data set a job reads or writes, as the document describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Asset {
    /// The file name.
    pub name: String,
    /// Where the model can read it: an absolute path, or a URI.
    pub url: String,
    /// ModelOp's role of the data set (`TEST_DATA`, `BASELINE_DATA`, ...).
    pub role: &'static str,
}

impl Asset {
    /// An asset for a local file.
    pub fn local(name: &str, path: &Path, role: &'static str) -> Asset {
        Asset {
            name: name.to_string(),
            url: path.to_string_lossy().into_owned(),
            role,
        }
    }
}

/// ModelOp's name of a job's type.
pub fn job_type(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Scoring => "MODEL_BATCH_JOB",
        JobKind::Metrics => "MODEL_BATCH_TEST_JOB",
        JobKind::Training => "MODEL_BATCH_TRAINING_JOB",
    }
}

/// The role of a job's main input: what scoring reads, what a test job
/// evaluates, what training learns from; with a baseline, the sample
/// compared with it.
pub fn input_role(kind: JobKind, has_baseline: bool) -> &'static str {
    match (kind, has_baseline) {
        (_, true) => "COMPARATOR_DATA",
        (JobKind::Scoring, false) => "SCORING_DATA",
        (JobKind::Metrics, false) => "TEST_DATA",
        (JobKind::Training, false) => "TRAINING_DATA",
    }
}

/// ModelOp's spelling of a file format (`CSV`, `JSON`, `PARQUET`), from the
/// explicit format or the name's extension.
fn file_format(name: &str, explicit: Option<DataFormat>) -> Value {
    match explicit.or_else(|| DataFormat::from_name(name)) {
        Some(f) => Value::from(f.as_str().to_ascii_uppercase()),
        None => Value::Null,
    }
}

fn asset_json(a: &Asset, format: Option<DataFormat>) -> Value {
    json!({
        "name": a.name,
        "assetType": "EXTERNAL_FILE",
        "assetRole": a.role,
        "fileUrl": a.url,
        "filename": a.name,
        "fileFormat": file_format(&a.name, format),
    })
}

/// A schema file of the version as ModelOp lists it: its name and its
/// definition, parsed (the text as a string when it is not JSON).
fn schema_entry(workdir: &Path, rel: &str) -> Value {
    let text = std::fs::read_to_string(workdir.join(rel)).unwrap_or_default();
    let definition = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    json!({"name": rel, "schemaDefinition": definition})
}

/// The version's files as ModelOp's model assets.
fn model_assets(def: &ModelDef) -> Vec<Value> {
    def.files
        .iter()
        .map(|f| {
            let (asset_type, role) = match f.role {
                FileRole::Source => ("SOURCE_CODE", "MODEL_SOURCE"),
                FileRole::Schema => ("FILE", "MODEL_SCHEMA"),
                FileRole::Requirements => ("FILE", "REQUIRED_LIBRARIES"),
                FileRole::Manifest => ("FILE", "MODEL_METADATA"),
                FileRole::Attachment => ("FILE", "WEIGHTS_FILE"),
            };
            let mut asset = json!({
                "name": f.path,
                "assetType": asset_type,
                "assetRole": role,
                "filename": f.path,
                "sha256": f.sha256,
                "size": f.size,
            });
            if f.role == FileRole::Source
                && let Some(obj) = asset.as_object_mut()
            {
                obj.insert(
                    "primaryModelSource".into(),
                    Value::from(f.path == def.source),
                );
            }
            asset
        })
        .collect()
}

/// Builds the document for `job` running `def`, whose files are in `workdir`.
pub fn build(
    job: &JobRecord,
    def: &ModelDef,
    workdir: &Path,
    inputs: &[Asset],
    output: Option<&Asset>,
) -> Value {
    let request = &job.request;
    let schemas = |rel: &Option<String>| -> Vec<Value> {
        rel.iter().map(|r| schema_entry(workdir, r)).collect()
    };
    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::from(job.model_name.clone()));
    metadata.insert("version".into(), Value::from(job.version_number));
    metadata.insert("type".into(), Value::from("PYTHON3"));
    metadata.insert(
        "inputSchema".into(),
        Value::from(schemas(&def.input_schema)),
    );
    metadata.insert(
        "outputSchema".into(),
        Value::from(schemas(&def.output_schema)),
    );
    metadata.insert("custom".into(), Value::Object(Map::new()));
    let model = json!({
        "id": job.version_id.to_string(),
        "storedModel": {
            "id": job.model_id.to_string(),
            "modelMetaData": Value::Object(metadata),
            "modelAssets": model_assets(def),
        },
    });
    json!({
        "id": job.id.to_string(),
        "jobType": job_type(job.kind),
        "jobStatus": "RUNNING",
        "jobParameters": {},
        "createdDate": job.created_at.to_rfc3339(),
        "enableInputSchemaChecking": request.schema_check && def.input_schema.is_some(),
        "enableOutputSchemaChecking": request.schema_check && def.output_schema.is_some(),
        "stopOnBadRecords": false,
        "inputData": inputs.iter().map(|a| asset_json(a, request.format)).collect::<Vec<_>>(),
        "outputData": output.iter().map(|a| asset_json(a, None)).collect::<Vec<_>>(),
        // A job on a model is also the reference model's job: monitors read
        // the model they watch from `referenceModel`.
        "model": model.clone(),
        "referenceModel": model,
    })
}
