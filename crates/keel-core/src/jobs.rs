//! Creating, listing, cancelling and reading batch jobs: everything about a
//! job except running it, which is `keel-exec`'s.

use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use keel_api_model as api;
use keel_data::AvroSchema;
use keel_exec::local_path;
use keel_store::formats::{InputRecord, JobRequest, ModelDefinition, OutputRecord};
use keel_store::{DEFAULT_MAX_ATTEMPTS, JobFilter, JobRecord, NewJob, S3Uri, VersionRecord, keys};
use keel_types::{DataFormat, JobId, JobKind, JobStatus, Permission};

use crate::paths::Access;

use crate::registry::page;
use crate::{Error, Keel, Principal, Result, roles, views};

/// Where a finished job's output (or rejected records) can be read.
#[derive(Debug)]
pub enum JobOutput {
    /// A file Keel keeps, being read.
    Stored(StoredFile),
    /// An external output, written where the job was told to.
    External(String),
}

/// A file Keel keeps for a job, as a stream of bytes.
pub struct StoredFile {
    /// Its file name.
    pub name: String,
    /// Its format, from its name.
    pub format: Option<DataFormat>,
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes, in order.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for StoredFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredFile")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The functions a model has, for messages: "it has init and metrics".
fn functions_it_has(def: &ModelDefinition) -> String {
    let f = &def.functions;
    let names: Vec<&str> = [
        (f.init.is_some(), "init"),
        (f.score.is_some(), "score"),
        (f.metrics.is_some(), "metrics"),
        (f.train.is_some(), "train"),
    ]
    .into_iter()
    .filter_map(|(has, name)| has.then_some(name))
    .collect();
    match names.as_slice() {
        [] => "it has no functions".into(),
        [one] => format!("it has only {one}"),
        [rest @ .., last] => format!("it has {} and {last}", rest.join(", ")),
    }
}

/// A baseline goes with a metrics function that takes two data sets, and
/// such a function needs one.
fn check_baseline(def: &ModelDefinition, kind: JobKind, has_baseline: bool) -> Result<()> {
    let metrics = def.functions.metrics.as_ref();
    let two = metrics.is_some_and(|m| m.params.len() >= 2);
    let signature =
        |m: &keel_store::formats::FunctionRecord| format!("{}({})", m.name, m.params.join(", "));
    match (kind, has_baseline, metrics) {
        (JobKind::Metrics, true, Some(m)) if !two => Err(Error::InvalidArgument(format!(
            "The metrics function `{}` takes one data set, so a `baseline` has nothing to go to. Drop the `baseline`, or give the metrics function two parameters, as in `metrics(df_baseline, df_sample)`.",
            signature(m)
        ))),
        (JobKind::Metrics, true, None) => Err(Error::InvalidArgument(
            "The model has no metrics function; a `baseline` is for a metrics function with two parameters, as in `metrics(df_baseline, df_sample)`.".into(),
        )),
        (JobKind::Metrics, false, Some(m)) if two => Err(Error::InvalidArgument(format!(
            "The metrics function `{}` compares two data sets: give the job a `baseline` to compare its input with.",
            signature(m)
        ))),
        (JobKind::Scoring | JobKind::Training, true, _) => Err(Error::InvalidArgument(format!(
            "A `baseline` applies to metrics jobs, not {kind} jobs."
        ))),
        _ => Ok(()),
    }
}

/// The most log bytes one call hands out.
const LOG_CHUNK_BYTES: usize = 1 << 20;

/// Where a log chunk that starts at `start` ends: at most `max` bytes on,
/// backed off (by at most three bytes) so as not to split a UTF-8 character;
/// the rest comes with the next call. Bytes that are not UTF-8 at all (a
/// model printing binary) are handed out as they are and shown replaced, so
/// this costs the same whatever the log holds (it once tried every shorter
/// chunk in turn).
fn chunk_end(content: &[u8], start: usize, max: usize) -> usize {
    let end = start.saturating_add(max).min(content.len());
    if end == content.len() {
        return end;
    }
    // A continuation byte (0b10xxxxxx) at the cut means a character spans it.
    let mut cut = end;
    while cut > start && end - cut < 3 && content[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    if cut > start && content[cut] & 0xC0 != 0x80 {
        cut
    } else {
        end
    }
}

/// Where a read of a job's log starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStart {
    /// At this byte offset (past the end reads nothing).
    Offset(u64),
    /// At the first whole line of the log's last this many bytes.
    Tail(u64),
}

/// Reads at most [`LOG_CHUNK_BYTES`] of the log at `path` (plus the few bytes
/// that finish a character) from where `from` says, seeking there rather
/// than reading what comes before, so a reader of a huge log costs no more
/// than one of a small one. Answers where the bytes start, the bytes, and the
/// log's size; a log not written yet is empty.
fn read_log(path: &std::path::Path, from: LogStart) -> Result<(u64, Vec<u8>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e| Error::io(format!("cannot read {}", path.display()))(e);
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new(), 0)),
        Err(e) => return Err(io(e)),
    };
    let size = file.metadata().map_err(io)?.len();
    let mut start = match from {
        LogStart::Offset(o) => o.min(size),
        LogStart::Tail(t) => size.saturating_sub(t),
    };
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let want = (LOG_CHUNK_BYTES + 3) as u64;
    let mut bytes = Vec::with_capacity(want.min(size - start) as usize);
    file.by_ref()
        .take(want)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if matches!(from, LogStart::Tail(_)) && start > 0 {
        // A tail starts after the first newline in it, on a whole line,
        // unless the line is longer than the tail.
        if let Some(nl) = bytes.iter().position(|b| *b == b'\n')
            && nl + 1 < bytes.len()
        {
            bytes.drain(..=nl);
            start += nl as u64 + 1;
        }
    }
    Ok((start, bytes, size))
}

/// The longest a job may ask to run: 30 days. A limit is a promise to stop
/// the job, so one too large to keep is refused rather than ignored.
pub const MAX_RUNTIME_SECONDS: u64 = 30 * 24 * 3600;

/// The most attempts a job may ask to lose before it fails: a job that
/// kills every runner it reaches should not take a fleet down one by one.
pub const MAX_ATTEMPTS: u32 = 10;

impl Keel {
    /// A version's Avro schema file, parsed; `None` when it has none.
    async fn version_schema(
        &self,
        version: &VersionRecord,
        rel: &Option<String>,
    ) -> Result<Option<AvroSchema>> {
        let Some(rel) = rel else { return Ok(None) };
        let Some(file) = version.files.iter().find(|f| &f.path == rel) else {
            return Ok(None);
        };
        let bytes = self
            .stores
            .artifacts
            .get_bytes(&keys::blob(&file.sha256))
            .await?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(Some(AvroSchema::parse(&text, rel)?))
    }

    /// Validates a job request and queues it as PENDING.
    pub async fn create_job(&self, by: &Principal, req: api::CreateJob) -> Result<api::Job> {
        by.require(Permission::Write, "run jobs")?;
        let kind = req.kind;
        let version = self.resolve_str(&req.model).await?;
        let def = &version.definition;
        let builtin = if kind == JobKind::Metrics {
            let input_schema = self.version_schema(&version, &def.input_schema).await?;
            let output_schema = self.version_schema(&version, &def.output_schema).await?;
            roles::resolve(
                req.metrics.as_ref(),
                input_schema.as_ref(),
                output_schema.as_ref(),
                def.functions.metrics.is_some(),
            )?
        } else if req.metrics.is_some() {
            return Err(Error::InvalidArgument(format!(
                "Built-in metrics options (`metrics`) apply to metrics jobs, not {kind} jobs."
            )));
        } else {
            None
        };
        // Built-in metrics score the input when the model has a score
        // function, and read its predictions from the input otherwise.
        let (needed, tag) = match kind {
            JobKind::Scoring => (def.functions.score.is_some(), "score"),
            JobKind::Metrics => (
                builtin.is_some() || def.functions.metrics.is_some(),
                "metrics",
            ),
            JobKind::Training => (def.functions.train.is_some(), "train"),
        };
        if !needed {
            return Err(Error::InvalidArgument(format!(
                "Model '{}' version {} has no {tag} function ({}), so it cannot run a {kind} job. Tag one with `# modelop.{tag}` above its def and register the model again.",
                version.model_name,
                version.number,
                functions_it_has(def)
            )));
        }
        check_baseline(def, kind, req.baseline.is_some())?;
        let input = self.input_record(req.input, req.format, "input").await?;
        let baseline = match req.baseline {
            Some(b) => Some(self.input_record(b, req.format, "`baseline`").await?),
            None => None,
        };
        let output = match (kind, req.output) {
            (JobKind::Scoring, None) => {
                return Err(Error::InvalidArgument(
                    "A scoring job needs an `output`: a file name such as output.parquet (kept by Keel) or a path.".into(),
                ));
            }
            // A metrics job's document is its result; keep it as a file too,
            // so `keel job result` and GET /jobs/{id}/result serve it.
            (JobKind::Metrics, None) => Some(OutputRecord::Embedded {
                name: "metrics.json".into(),
            }),
            (_, None) => None,
            (_, Some(out)) => Some(check_output(kind, out, &self.access())?),
        };
        // Keel never replaces an object in a bucket: an output that exists
        // is refused now rather than when the job ends.
        if let Some(OutputRecord::External { uri }) = &output
            && S3Uri::is_s3(uri)
        {
            let object = S3Uri::parse(uri)?;
            if self.stores.buckets.size(&object).await?.is_some() {
                return Err(Error::InvalidArgument(format!(
                    "The `output` {object} exists already, and Keel never replaces an object in a bucket; name a new key, or delete the object first."
                )));
            }
        }
        let max_workers = self.cfg.max_workers;
        let workers = req
            .workers
            .unwrap_or(self.cfg.default_workers.min(max_workers));
        if !(1..=max_workers).contains(&workers) {
            return Err(Error::InvalidArgument(format!(
                "`workers` must be between 1 and {max_workers} (this Keel's limit, KEEL_MAX_WORKERS), not {workers}."
            )));
        }
        if let Some(s) = req.max_runtime_seconds
            && !(1..=MAX_RUNTIME_SECONDS).contains(&s)
        {
            return Err(Error::InvalidArgument(format!(
                "`max_runtime_seconds` must be between 1 and {MAX_RUNTIME_SECONDS} (30 days), not {s}."
            )));
        }
        let max_attempts = req.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(Error::InvalidArgument(format!(
                "`max_attempts` must be between 1 and {MAX_ATTEMPTS}, not {max_attempts}."
            )));
        }
        let request = JobRequest {
            input,
            output,
            format: req.format,
            // Built-in metrics score the data first, so they use workers too.
            workers: if kind == JobKind::Scoring || builtin.is_some() {
                workers
            } else {
                1
            },
            max_runtime_seconds: req.max_runtime_seconds,
            schema_check: req.schema_check.unwrap_or(true),
            builtin: builtin.as_ref().map(keel_exec::roles::to_record),
            baseline,
        };
        let rec = self
            .stores
            .jobs
            .enqueue(
                &NewJob {
                    kind,
                    model_id: version.model_id,
                    model_name: version.model_name.clone(),
                    version_id: version.id,
                    version_number: version.number,
                    request,
                    max_attempts,
                },
                &by.actor(),
            )
            .await?;
        self.exec.wake();
        tracing::info!(job = %rec.id, kind = %kind, model = %rec.model_name, version = rec.version_number, "job queued");
        Ok(self.job_view(&rec))
    }

    /// A job's data set as the store records it, checked: an upload must
    /// exist, a path must be a file, and either must be in a known format.
    /// `what` names the data set in messages ("input", "`baseline`").
    async fn input_record(
        &self,
        input: api::Input,
        format: Option<DataFormat>,
        what: &str,
    ) -> Result<InputRecord> {
        Ok(match input {
            api::Input::Upload { upload_id, .. } => {
                let up = self
                    .stores
                    .uploads
                    .upload(upload_id.into())
                    .await?
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "There is no upload with id {upload_id} (the {what})."
                        ))
                    })?;
                keel_data::format_of(Path::new(&up.name), format)?;
                InputRecord::Upload {
                    upload_id: up.id,
                    name: up.name,
                }
            }
            api::Input::Path { uri } if S3Uri::is_s3(&uri) => {
                let object = self.access().s3(&uri, what)?;
                keel_data::format_of(Path::new(object.file_name()), format)?;
                if self.stores.buckets.size(&object).await?.is_none() {
                    return Err(Error::InvalidArgument(format!(
                        "The {what} {object} does not exist."
                    )));
                }
                InputRecord::Path {
                    uri: object.to_string(),
                }
            }
            api::Input::Path { uri } => {
                let path = self.access().input(&local_path(&uri)?, what)?;
                keel_data::format_of(&path, format)?;
                InputRecord::Path {
                    uri: self.access().recorded(uri, &path),
                }
            }
        })
    }

    /// The check of the local paths a request names.
    pub(crate) fn access(&self) -> Access<'_> {
        Access {
            policy: &self.cfg.data_access,
            home: &self.cfg.home,
            s3_roots: &self.cfg.s3_roots,
            artifacts_url: &self.cfg.artifacts_url,
        }
    }

    /// A job record as the API shows it.
    pub(crate) fn job_view(&self, rec: &JobRecord) -> api::Job {
        views::job(rec, self.stores.clock.now())
    }

    /// One job, with its attempts.
    pub async fn job(&self, id: JobId) -> Result<api::Job> {
        let mut job = self.job_view(&self.job_record(id).await?);
        job.attempts = self
            .stores
            .jobs
            .attempts(id)
            .await?
            .iter()
            .map(views::attempt)
            .collect();
        Ok(job)
    }

    pub(crate) async fn job_record(&self, id: JobId) -> Result<JobRecord> {
        self.stores
            .jobs
            .job(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no job with id {id}.")))
    }

    /// A page of jobs, newest first.
    pub async fn list_jobs(&self, q: &api::JobQuery) -> Result<api::Page<api::Job>> {
        let model_id = match &q.model {
            Some(m) => Some(self.model(m).await?.id.into()),
            None => None,
        };
        let filter = JobFilter {
            status: q.status,
            kind: q.kind,
            model_id,
        };
        let pq = api::PageQuery {
            max_results: q.max_results,
            page_token: q.page_token.clone(),
        };
        let p = self.stores.jobs.list_jobs(&filter, &page(&pq)?).await?;
        Ok(api::Page {
            items: p.items.iter().map(|j| self.job_view(j)).collect(),
            next_page_token: p.next_cursor,
        })
    }

    /// Asks a job to stop: a pending job stops at once, a running one within a second or so.
    pub async fn cancel_job(&self, by: &Principal, id: JobId) -> Result<api::Job> {
        by.require(Permission::Write, "cancel jobs")?;
        let rec = self.stores.jobs.request_cancel(id, &by.actor()).await?;
        Ok(self.job_view(&rec))
    }

    /// Runs the PENDING job `id` to its end in this process (the CLI's
    /// embedded mode), and returns it finished. A job that could not be
    /// claimed (it runs elsewhere, or was cancelled first) comes back as it is.
    pub async fn run_job(&self, id: JobId) -> Result<api::Job> {
        match self.exec.run_job(id).await? {
            Some(rec) => Ok(self.job_view(&rec)),
            None => self.job(id).await,
        }
    }

    /// Reads a job's log from a byte offset (at most 1 MiB at a time).
    pub async fn job_logs(&self, id: JobId, from: LogStart) -> Result<api::LogChunk> {
        let rec = self.job_record(id).await?;
        let path = keel_exec::log_path(&self.cfg.home, id);
        // One bounded read (a seek and at most a chunk), short enough to do
        // in place.
        let (start, bytes, size) = read_log(&path, from)?;
        let end = start + chunk_end(&bytes, 0, LOG_CHUNK_BYTES) as u64;
        let text = String::from_utf8_lossy(&bytes[..(end - start) as usize]).into_owned();
        Ok(api::LogChunk {
            content: text,
            offset: start,
            next_offset: end,
            size,
            finished: rec.status.is_terminal() && end >= size,
        })
    }

    /// A finished job's output, or its rejected records.
    pub async fn job_result(&self, id: JobId, rejected: bool) -> Result<JobOutput> {
        let rec = self.job_record(id).await?;
        if !rec.status.is_terminal() {
            return Err(Error::JobNotFinished(format!(
                "Job {id} is {}; its result exists once it completes. Use `keel job wait {id}`.",
                rec.status
            )));
        }
        if rejected {
            let key = keys::job_rejected(id);
            if rec.counts.rejected == 0 || !self.stores.artifacts.exists(&key).await? {
                return Err(Error::NoResult(format!("Job {id} rejected no records.")));
            }
            return self.stored(&key, "rejected.jsonl").await;
        }
        if rec.status != JobStatus::Completed {
            let why = rec.error.map(|e| e.message).unwrap_or_default();
            return Err(Error::NoResult(format!(
                "Job {id} ended {} and has no output. {why}",
                rec.status
            )));
        }
        match &rec.request.output {
            Some(OutputRecord::Embedded { name }) => {
                self.stored(&keys::job_output(id, name), name).await
            }
            Some(OutputRecord::External { uri }) => Ok(JobOutput::External(uri.clone())),
            None => Err(Error::NoResult(match rec.kind {
                JobKind::Training => format!(
                    "Job {id} is a training job; its result is version {} of model '{}'.",
                    rec.result
                        .as_ref()
                        .and_then(|r| r.produced_version)
                        .unwrap_or(0),
                    rec.model_name
                ),
                _ => format!("Job {id} was given no output."),
            })),
        }
    }

    /// A finished job's output as [`Keel::job_result`] gives it, except that
    /// an output written to a bucket comes back as the object's bytes,
    /// streamed from the bucket (Keel's credentials reach it; the client's
    /// need not).
    pub async fn job_result_download(&self, id: JobId) -> Result<JobOutput> {
        match self.job_result(id, false).await? {
            JobOutput::External(uri) if S3Uri::is_s3(&uri) => {
                let object = S3Uri::parse(&uri)?;
                let reader = self
                    .stores
                    .buckets
                    .open(&object)
                    .await
                    .map_err(|e| match e {
                        keel_store::Error::NotFound(_) => Error::NoResult(format!(
                            "Job {id} wrote {object}, which is no longer there."
                        )),
                        other => other.into(),
                    })?;
                let name = object.file_name().to_string();
                Ok(JobOutput::Stored(StoredFile {
                    format: DataFormat::from_name(&name),
                    name,
                    size: reader.size,
                    stream: reader.stream.map(|c| c.map_err(Error::from)).boxed(),
                }))
            }
            other => Ok(other),
        }
    }

    async fn stored(&self, key: &str, name: &str) -> Result<JobOutput> {
        let reader = self.stores.artifacts.get_stream(key).await?;
        Ok(JobOutput::Stored(StoredFile {
            name: name.to_string(),
            format: DataFormat::from_name(name),
            size: reader.size,
            stream: reader.stream.map(|c| c.map_err(Error::from)).boxed(),
        }))
    }
}

/// Checks where a job writes: an embedded output is a bare file name, an
/// external one a path in an existing directory; either names its format.
fn check_output(kind: JobKind, out: api::Output, access: &Access<'_>) -> Result<OutputRecord> {
    let (name, record) = match out {
        api::Output::Embedded { name } => {
            if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.')
            {
                return Err(Error::InvalidArgument(format!(
                    "'{name}' is not a plain file name; an embedded `output` is a bare name such as output.parquet."
                )));
            }
            (name.clone(), OutputRecord::Embedded { name })
        }
        api::Output::External { uri } if S3Uri::is_s3(&uri) => {
            let object = access.s3(&uri, "`output`")?;
            (
                object.file_name().to_string(),
                OutputRecord::External {
                    uri: object.to_string(),
                },
            )
        }
        api::Output::External { uri } => {
            let path = access.output(&local_path(&uri)?)?;
            let uri = access.recorded(uri, &path);
            (
                path.to_string_lossy().into_owned(),
                OutputRecord::External { uri },
            )
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
        _ => Ok(record),
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::{LOG_CHUNK_BYTES, LogStart, chunk_end, read_log};

    #[test]
    fn log_chunks_end_on_character_boundaries_in_linear_time() {
        let euro = "a€b".as_bytes(); // a, then three bytes of €, then b
        let cases: &[(&[u8], usize, usize, usize)] = &[
            (b"hello", 0, 10, 5),
            (b"hello", 1, 2, 3),
            (euro, 0, 1, 1),
            (euro, 0, 2, 1),
            (euro, 0, 3, 1),
            (euro, 0, 4, 4),
            (euro, 1, 1, 2),
        ];
        for &(content, start, max, want) in cases {
            assert_eq!(
                chunk_end(content, start, max),
                want,
                "{content:?} {start} {max}"
            );
        }
        // A megabyte of bytes that are not UTF-8 comes back at once.
        let binary = vec![0xFFu8; 3 << 20];
        assert_eq!(chunk_end(&binary, 0, 1 << 20), 1 << 20);
        let continuation = vec![0x80u8; 3 << 20];
        assert_eq!(chunk_end(&continuation, 0, 1 << 20), 1 << 20);
    }

    #[test]
    fn log_reads_seek_and_stay_bounded_whatever_the_log_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.log");
        // 3 MiB of numbered lines, each 16 bytes.
        let text: String = (0..(3 << 20) / 16)
            .map(|i| format!("line {i:010}\n"))
            .collect();
        std::fs::write(&path, &text).unwrap();
        let size = text.len() as u64;
        // (where from, the offset it starts at, the bytes it holds at most)
        let cases = [
            (LogStart::Offset(0), 0, LOG_CHUNK_BYTES + 3),
            (LogStart::Offset(size - 10), size - 10, 10),
            (LogStart::Offset(size + 5), size, 0),
            (LogStart::Tail(40), size - 32, 32),
            (LogStart::Tail(8), size - 8, 8),
            (LogStart::Tail(size * 2), 0, LOG_CHUNK_BYTES + 3),
        ];
        for (from, start, most) in cases {
            let (got_start, bytes, got_size) = read_log(&path, from).unwrap();
            assert_eq!((got_start, got_size), (start, size), "{from:?}");
            assert!(bytes.len() <= most, "{from:?}: {}", bytes.len());
            let want_len = most.min((size - start) as usize);
            assert_eq!(bytes.len(), want_len, "{from:?}");
            assert_eq!(
                &bytes[..],
                &text.as_bytes()[start as usize..start as usize + want_len]
            );
        }
        // A log not written yet is empty.
        assert_eq!(
            read_log(&dir.path().join("none.log"), LogStart::Tail(10)).unwrap(),
            (0, Vec::new(), 0)
        );
    }
}
