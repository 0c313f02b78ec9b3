//! Turns the store's records into the wire types of `keel-api-model`, so the
//! server and the CLI's embedded mode answer with exactly the same shapes.
//! This is the only place the two vocabularies meet.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keel_api_model as api;
use keel_store::formats::{
    ComparePolicy, FunctionRecord, InputRecord, JobResult, OutputRecord, VersionOrigin,
};
use keel_store::{
    AliasRecord, AttemptRecord, ComparisonRecord, JobRecord, ModelRecord, VersionRecord,
};

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

fn function(f: &Option<FunctionRecord>) -> Option<api::Function> {
    f.as_ref().map(|f| api::Function {
        name: f.name.clone(),
        file: f.file.clone(),
        line: f.line,
        batch: f.batch,
        params: f.params.clone(),
    })
}

pub(crate) fn version(rec: &VersionRecord, aliases: &[AliasRecord]) -> api::Version {
    let def = &rec.definition;
    api::Version {
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
        origin: rec.origin.as_ref().map(origin),
        adapter: def.adapter.as_ref().map(|a| a.summary.clone()),
    }
}

fn origin(o: &VersionOrigin) -> api::Origin {
    match o {
        VersionOrigin::Git {
            repository,
            reference,
            commit,
            subdir,
        } => api::Origin::Git {
            repository: repository.clone(),
            reference: reference.clone(),
            commit: commit.clone(),
            subdir: subdir.clone(),
        },
    }
}

pub(crate) fn input(i: &InputRecord) -> api::Input {
    match i {
        InputRecord::Upload { upload_id, name } => api::Input::Upload {
            upload_id: upload_id.0,
            name: name.clone(),
        },
        InputRecord::Path { uri } => api::Input::Path { uri: uri.clone() },
    }
}

pub(crate) fn output(o: &OutputRecord) -> api::Output {
    match o {
        OutputRecord::Embedded { name } => api::Output::Embedded { name: name.clone() },
        OutputRecord::External { uri } => api::Output::External { uri: uri.clone() },
    }
}

fn result(r: &JobResult) -> api::JobResult {
    api::JobResult {
        output: r.output.as_ref().map(output),
        output_format: r.output_format,
        has_rejected: r.has_rejected,
        produced_version: r.produced_version,
        produced_version_id: r.produced_version_id.map(|v| v.0),
        metrics: r.metrics.clone(),
    }
}

/// A job as the API shows it; `now` dates the throughput of a running job.
pub(crate) fn job(rec: &JobRecord, now: DateTime<Utc>) -> api::Job {
    let request = &rec.request;
    let elapsed = rec.started_at.map(|s| {
        let end = rec.finished_at.unwrap_or(now);
        (end - s).num_milliseconds().max(1) as f64 / 1000.0
    });
    api::Job {
        id: rec.id.0,
        kind: rec.kind,
        status: rec.status,
        model_name: rec.model_name.clone(),
        model_id: rec.model_id.0,
        version: rec.version_number,
        version_id: rec.version_id.0,
        input: input(&request.input),
        output: request.output.as_ref().map(output),
        workers: request.workers,
        max_runtime_seconds: request.max_runtime_seconds,
        schema_check: request.schema_check,
        counts: api::Counts {
            read: rec.counts.read,
            written: rec.counts.written,
            rejected: rec.counts.rejected,
        },
        created_at: rec.created_at,
        started_at: rec.started_at,
        finished_at: rec.finished_at,
        records_per_second: elapsed.map(|s| rec.counts.read as f64 / s),
        cancel_requested: rec.cancel_requested,
        attempt: rec.attempt,
        max_attempts: rec.max_attempts,
        runner: rec.runner.clone(),
        attempts: Vec::new(),
        created_by: rec.created_by.clone(),
        error: rec.error.as_ref().map(|e| api::JobError {
            kind: e.kind,
            message: e.message.clone(),
            traceback: e.traceback.clone(),
        }),
        result: rec.result.as_ref().map(result),
    }
}

pub(crate) fn policy(p: &ComparePolicy) -> api::ComparePolicy {
    api::ComparePolicy {
        metric: p.metric.clone(),
        min_delta: p.min_delta,
        confidence: p.confidence,
        resamples: p.resamples,
        seed: p.seed,
    }
}

pub(crate) fn comparison(rec: &ComparisonRecord) -> api::Comparison {
    api::Comparison {
        id: rec.id.0,
        status: rec.status,
        champion_job: rec.champion_job.0,
        challenger_job: rec.challenger_job.0,
        policy: policy(&rec.policy),
        created_at: rec.created_at,
        finished_at: rec.finished_at,
        verdict: rec.verdict,
        result: rec.result.clone(),
        error: rec.error.clone(),
    }
}

pub(crate) fn attempt(rec: &AttemptRecord) -> api::JobAttempt {
    api::JobAttempt {
        attempt: rec.attempt,
        runner: rec.runner.clone(),
        started_at: rec.started_at,
        ended_at: rec.ended_at,
        outcome: rec.outcome,
    }
}
