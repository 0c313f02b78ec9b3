//! Turns stored records into the wire types of `keel-api-model`, so the server
//! and the CLI's embedded mode answer with exactly the same shapes.

use std::collections::BTreeMap;

use keel_api_model as api;
use keel_modeldef::{FunctionInfo, ModelDef};
use keel_store::{AliasRecord, JobRecord, ModelRecord, VersionRecord};

use crate::exec::JobSpec;

pub(crate) fn model(rec: &ModelRecord, aliases: &[AliasRecord]) -> api::Model {
    api::Model {
        id: rec.id.0,
        name: rec.name.clone(),
        created_at: rec.created_at,
        latest_version: rec.latest_version,
        aliases: aliases
            .iter()
            .map(|a| (a.alias.clone(), a.version_number))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn function(f: &Option<FunctionInfo>) -> Option<api::Function> {
    f.as_ref().map(|f| api::Function {
        name: f.name.clone(),
        file: f.file.clone(),
        line: f.line,
        batch: f.batch,
    })
}

/// Reads the model definition stored with a version.
pub(crate) fn definition(rec: &VersionRecord) -> crate::Result<ModelDef> {
    serde_json::from_value(rec.definition.clone()).map_err(|e| {
        crate::Error::Internal(format!(
            "the stored definition of {} version {} does not parse: {e}",
            rec.model_name, rec.number
        ))
    })
}

pub(crate) fn version(rec: &VersionRecord, aliases: &[AliasRecord]) -> crate::Result<api::Version> {
    let def = definition(rec)?;
    Ok(api::Version {
        id: rec.id.0,
        model_id: rec.model_id.0,
        model_name: rec.model_name.clone(),
        number: rec.number,
        created_at: rec.created_at,
        content_hash: rec.content_hash.clone(),
        source: def.source.clone(),
        functions: api::Functions {
            init: function(&def.functions.init),
            score: function(&def.functions.score),
            metrics: function(&def.functions.metrics),
            train: function(&def.functions.train),
        },
        input_schema: def.input_schema.clone(),
        output_schema: def.output_schema.clone(),
        platform: api::Platform {
            requirements: def.platform.requirements.clone(),
            python_version: def.platform.python_version.clone(),
            hash: def.platform.hash.clone(),
        },
        files: rec
            .files
            .iter()
            .map(|f| api::File {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
                role: f.role.clone(),
            })
            .collect(),
        aliases: aliases
            .iter()
            .filter(|a| a.version_id == rec.id)
            .map(|a| a.alias.clone())
            .collect(),
        source_job: rec.source_job.map(|j| j.0),
    })
}

pub(crate) fn job(rec: &JobRecord) -> crate::Result<api::Job> {
    let spec: JobSpec = serde_json::from_value(rec.spec.clone()).map_err(|e| {
        crate::Error::Internal(format!(
            "the stored spec of job {} does not parse: {e}",
            rec.id
        ))
    })?;
    let result = match &rec.result {
        Some(v) => Some(
            serde_json::from_value::<api::JobResult>(v.clone()).map_err(|e| {
                crate::Error::Internal(format!(
                    "the stored result of job {} does not parse: {e}",
                    rec.id
                ))
            })?,
        ),
        None => None,
    };
    let elapsed = rec.started_at.map(|s| {
        let end = rec.finished_at.unwrap_or_else(chrono::Utc::now);
        (end - s).num_milliseconds().max(1) as f64 / 1000.0
    });
    Ok(api::Job {
        id: rec.id.0,
        kind: rec.kind.as_str().to_string(),
        status: rec.status.as_str().to_string(),
        model_name: rec.model_name.clone(),
        model_id: rec.model_id.0,
        version: rec.version_number,
        version_id: rec.version_id.0,
        input: spec.input,
        output: spec.output,
        workers: spec.workers,
        max_runtime_seconds: spec.max_runtime_seconds,
        schema_check: spec.schema_check,
        counts: api::Counts {
            read: rec.records_read,
            written: rec.records_written,
            rejected: rec.records_rejected,
        },
        created_at: rec.created_at,
        started_at: rec.started_at,
        finished_at: rec.finished_at,
        records_per_second: elapsed.map(|s| rec.records_read as f64 / s),
        cancel_requested: rec.cancel_requested,
        error: rec.error.as_ref().map(|e| api::JobError {
            kind: serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            message: e.message.clone(),
            traceback: e.traceback.clone(),
        }),
        result,
    })
}
