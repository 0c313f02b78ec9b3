//! Creating, listing, cancelling and reading batch jobs: everything about a
//! job except running it (see `exec`).

use std::path::{Path, PathBuf};

use keel_api_model as api;
use keel_store::JobFilter;
use keel_types::{DataFormat, JobId, JobKind, JobStatus};

use crate::exec::JobSpec;
use crate::registry::{page, upload_key};
use crate::{Error, Keel, Result, views};

/// Where a finished job's output (or rejected records) can be read.
#[derive(Clone, Debug)]
pub enum ResultLocation {
    /// A local file: an embedded output in the local artifact store.
    File(ResultFile),
    /// An external output, written where the job was told to.
    External(String),
}

/// A local file holding a job's result.
#[derive(Clone, Debug)]
pub struct ResultFile {
    /// Where it is on disk.
    pub path: PathBuf,
    /// Its format, from its name.
    pub format: Option<DataFormat>,
    /// Its file name.
    pub name: String,
}

pub(crate) fn output_key(id: JobId, name: &str) -> String {
    format!("jobs/{id}/output/{name}")
}

pub(crate) fn rejected_key(id: JobId) -> String {
    format!("jobs/{id}/rejected.jsonl")
}

/// Strips `file://` from a URI; refuses schemes Keel cannot reach yet.
pub(crate) fn local_path(uri: &str) -> Result<PathBuf> {
    if let Some(rest) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if let Some((scheme, _)) = uri.split_once("://") {
        return Err(Error::InvalidArgument(format!(
            "'{uri}' uses the {scheme}:// scheme, which this Keel cannot read or write yet; use a local path or file:// URI."
        )));
    }
    Ok(PathBuf::from(uri))
}

fn parse_format(s: &Option<String>) -> Result<Option<DataFormat>> {
    s.as_deref()
        .map(|f| {
            f.parse::<DataFormat>()
                .map_err(|e| Error::InvalidArgument(e.to_string()))
        })
        .transpose()
}

impl Keel {
    /// A version's Avro schema file, parsed; `None` when it has none.
    pub(crate) async fn version_schema(
        &self,
        version: &keel_store::VersionRecord,
        rel: &Option<String>,
    ) -> Result<Option<keel_data::AvroSchema>> {
        let Some(rel) = rel else { return Ok(None) };
        let Some(file) = version.files.iter().find(|f| &f.path == rel) else {
            return Ok(None);
        };
        let bytes = self
            .artifacts
            .get_bytes(&keel_store::blob_key(&file.sha256))
            .await?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(Some(keel_data::AvroSchema::parse(&text, rel)?))
    }

    /// Validates a job request and queues it as PENDING.
    pub async fn create_job(&self, req: api::CreateJob) -> Result<api::Job> {
        let kind: JobKind = req
            .kind
            .parse()
            .map_err(|e: keel_types::ParseEnumError| Error::InvalidArgument(e.to_string()))?;
        let version = self.resolve_str(&req.model).await?;
        let def = views::definition(&version)?;
        let builtin = if kind == JobKind::Metrics {
            let input_schema = self.version_schema(&version, &def.input_schema).await?;
            let output_schema = self.version_schema(&version, &def.output_schema).await?;
            crate::quality::resolve(
                req.metrics.as_ref(),
                input_schema.as_ref(),
                output_schema.as_ref(),
                def.functions.metrics.is_some(),
                &version.model_name,
            )?
        } else if req.metrics.is_some() {
            return Err(Error::InvalidArgument(format!(
                "Built-in metrics options (--label, --probability, ...) apply to metrics jobs, not {kind} jobs."
            )));
        } else {
            None
        };
        let (needed, tag) = match kind {
            JobKind::Scoring => (def.functions.score.is_some(), "score"),
            // Built-in metrics need only a score function.
            JobKind::Metrics if builtin.is_some() => (def.functions.score.is_some(), "score"),
            JobKind::Metrics => (def.functions.metrics.is_some(), "metrics"),
            JobKind::Training => (def.functions.train.is_some(), "train"),
        };
        if !needed {
            return Err(Error::InvalidArgument(format!(
                "Model '{}' version {} has no {tag} function, so it cannot run a {kind} job. Tag one with `# modelop.{tag}` above its def and register the model again.",
                version.model_name, version.number
            )));
        }
        let explicit_format = parse_format(&req.format)?;
        let input = match req.input {
            api::Input::Upload { upload_id, .. } => {
                let up = self.store.upload(upload_id.into()).await?.ok_or_else(|| {
                    Error::NotFound(format!("There is no upload with id {upload_id}."))
                })?;
                keel_data::format_of(Path::new(&up.name), explicit_format)?;
                api::Input::Upload {
                    upload_id,
                    name: up.name,
                }
            }
            api::Input::Path { uri } => {
                let path = local_path(&uri)?;
                if !path.is_file() {
                    return Err(Error::InvalidArgument(format!(
                        "The input {} does not exist or is not a file.",
                        path.display()
                    )));
                }
                keel_data::format_of(&path, explicit_format)?;
                api::Input::Path { uri }
            }
        };
        let output = match (kind, req.output) {
            (JobKind::Scoring, None) => {
                return Err(Error::InvalidArgument(
                    "A scoring job needs an output: a file name such as output.parquet (kept by Keel) or a path.".into(),
                ));
            }
            // A metrics job's document is its result; keep it as a file too,
            // so `keel job result` and GET /jobs/{id}/result serve it.
            (JobKind::Metrics, None) => Some(api::Output::Embedded {
                name: "metrics.json".into(),
            }),
            (_, None) => None,
            (_, Some(out)) => Some(self.check_output(kind, out)?),
        };
        let workers = req.workers.unwrap_or(self.cfg.default_workers);
        if !(1..=256).contains(&workers) {
            return Err(Error::InvalidArgument(format!(
                "--workers must be between 1 and 256, not {workers}."
            )));
        }
        if req.max_runtime_seconds == Some(0) {
            return Err(Error::InvalidArgument(
                "--max-runtime must be at least 1 second.".into(),
            ));
        }
        let spec = JobSpec {
            input,
            output,
            format: explicit_format,
            // Built-in metrics score the data first, so they use workers too.
            workers: if kind == JobKind::Scoring || builtin.is_some() {
                workers
            } else {
                1
            },
            max_runtime_seconds: req.max_runtime_seconds,
            schema_check: req.schema_check.unwrap_or(true),
            builtin,
        };
        let spec_json = serde_json::to_value(&spec)
            .map_err(|e| Error::Internal(format!("cannot serialise a job spec: {e}")))?;
        let rec = keel_store::JobRecord::pending(
            kind,
            version.model_id,
            version.model_name.clone(),
            version.id,
            version.number,
            spec_json,
        );
        self.store.create_job(&rec).await?;
        self.wake.notify_one();
        tracing::info!(job = %rec.id, kind = %kind, model = %rec.model_name, version = rec.version_number, "job queued");
        views::job(&rec)
    }

    fn check_output(&self, kind: JobKind, out: api::Output) -> Result<api::Output> {
        let name = match &out {
            api::Output::Embedded { name } => {
                if name.is_empty()
                    || name.contains('/')
                    || name.contains('\\')
                    || name.starts_with('.')
                {
                    return Err(Error::InvalidArgument(format!(
                        "'{name}' is not a plain file name; an embedded output is a bare name such as output.parquet."
                    )));
                }
                name.clone()
            }
            api::Output::External { uri } => {
                let path = local_path(uri)?;
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                if !parent.is_dir() {
                    return Err(Error::InvalidArgument(format!(
                        "The output directory {} does not exist; create it first.",
                        parent.display()
                    )));
                }
                path.to_string_lossy().into_owned()
            }
        };
        let format = DataFormat::from_name(&name);
        match kind {
            JobKind::Metrics if format != Some(DataFormat::Json) => Err(Error::InvalidArgument(
                format!("A metrics job writes JSON; name its output with .json, not '{name}'."),
            )),
            _ if format.is_none() => Err(Error::InvalidArgument(format!(
                "Cannot tell the output format of '{name}'; end its name with .csv, .jsonl, .json or .parquet."
            ))),
            _ => Ok(out),
        }
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<api::Job> {
        views::job(&self.job_record(id).await?)
    }

    pub(crate) async fn job_record(&self, id: JobId) -> Result<keel_store::JobRecord> {
        self.store
            .job(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no job with id {id}.")))
    }

    /// A page of jobs, newest first.
    pub async fn list_jobs(&self, q: &api::JobQuery) -> Result<api::Page<api::Job>> {
        let status = q
            .status
            .as_deref()
            .map(|s| s.parse::<JobStatus>())
            .transpose()
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let kind = q
            .kind
            .as_deref()
            .map(|s| s.parse::<JobKind>())
            .transpose()
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let model_id = match &q.model {
            Some(m) => Some(self.model(m).await?.id.into()),
            None => None,
        };
        let filter = JobFilter {
            status,
            kind,
            model_id,
        };
        let pq = api::PageQuery {
            max_results: q.max_results,
            page_token: q.page_token.clone(),
        };
        let p = self.store.list_jobs(&filter, &page(&pq)).await?;
        Ok(api::Page {
            items: p.items.iter().map(views::job).collect::<Result<_>>()?,
            next_page_token: p.next_cursor,
        })
    }

    /// Asks a job to stop: a pending job stops at once, a running one within a second or so.
    pub async fn cancel_job(&self, id: JobId) -> Result<api::Job> {
        let rec = self.store.request_cancel(id, chrono::Utc::now()).await?;
        views::job(&rec)
    }

    /// Reads a job's log from a byte offset (at most 1 MiB at a time).
    pub async fn job_logs(&self, id: JobId, offset: u64) -> Result<api::LogChunk> {
        let rec = self.job_record(id).await?;
        let path = self.log_path(id);
        let content = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()))(e)),
        };
        let start = (offset as usize).min(content.len());
        let end = (start + (1 << 20)).min(content.len());
        // Only hand out whole UTF-8 characters; the rest comes with the next call.
        let mut slice_end = end;
        while slice_end > start && std::str::from_utf8(&content[start..slice_end]).is_err() {
            slice_end -= 1;
        }
        let text = String::from_utf8_lossy(&content[start..slice_end]).into_owned();
        Ok(api::LogChunk {
            content: text,
            next_offset: slice_end as u64,
            finished: rec.status.is_terminal() && slice_end == content.len(),
        })
    }

    pub(crate) fn log_path(&self, id: JobId) -> PathBuf {
        self.cfg.home.join("logs").join(format!("{id}.log"))
    }

    /// Where a finished job's output, or its rejected records, can be read.
    pub async fn job_result(&self, id: JobId, rejected: bool) -> Result<ResultLocation> {
        let rec = self.job_record(id).await?;
        let job = views::job(&rec)?;
        if !rec.status.is_terminal() {
            return Err(Error::JobNotFinished(format!(
                "Job {id} is {}; its result exists once it completes. Use `keel job wait {id}`.",
                rec.status
            )));
        }
        if rejected {
            let key = rejected_key(id);
            if rec.records_rejected == 0 || !self.artifacts.exists(&key).await? {
                return Err(Error::NoResult(format!("Job {id} rejected no records.")));
            }
            return self.local_result(&key, "rejected.jsonl").await;
        }
        if rec.status != JobStatus::Completed {
            let why = rec.error.map(|e| e.message).unwrap_or_default();
            return Err(Error::NoResult(format!(
                "Job {id} ended {} and has no output. {why}",
                rec.status
            )));
        }
        match job.output {
            Some(api::Output::Embedded { name }) => {
                self.local_result(&output_key(id, &name), &name).await
            }
            Some(api::Output::External { uri }) => Ok(ResultLocation::External(uri)),
            None => Err(Error::NoResult(match rec.kind {
                JobKind::Training => format!(
                    "Job {id} is a training job; its result is version {} of model '{}'.",
                    job.result.and_then(|r| r.produced_version).unwrap_or(0),
                    rec.model_name
                ),
                _ => format!("Job {id} was given no output."),
            })),
        }
    }

    async fn local_result(&self, key: &str, name: &str) -> Result<ResultLocation> {
        let path = match self.artifacts.local_path(key) {
            Some(p) => p,
            None => {
                let dest = self
                    .cfg
                    .home
                    .join("work")
                    .join(format!("download-{}-{name}", uuid::Uuid::now_v7()));
                self.artifacts.get_to_file(key, &dest).await?;
                dest
            }
        };
        Ok(ResultLocation::File(ResultFile {
            path,
            format: DataFormat::from_name(name),
            name: name.to_string(),
        }))
    }

    /// Where an upload's bytes are on local disk.
    pub(crate) async fn upload_path(&self, id: keel_types::UploadId) -> Result<(PathBuf, String)> {
        let up = self
            .store
            .upload(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no upload with id {id}.")))?;
        let key = upload_key(&up);
        match self.artifacts.local_path(&key) {
            Some(p) => Ok((p, up.name)),
            None => Err(Error::Internal(
                "uploads must be on the local artifact store".into(),
            )),
        }
    }
}
