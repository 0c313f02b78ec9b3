//! Handlers for batch jobs: creating (queued for the background loop),
//! listing, cancelling, and reading results, rejected records and logs.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use keel_api_model::{CreateJob, Job, JobQuery, LogChunk, LogQuery, Page, Problem};
use keel_core::{JobOutput, Keel, StoredFile};
use keel_types::{DataFormat, JobId};
use serde::Serialize;
use utoipa::ToSchema;

use keel_api_model::routes;

use crate::access::Writer;
use crate::error::{Error, Result};
use crate::extract::{JsonBody, PathParams, QueryParams, parse_id};

/// Where an external output was written: the answer of `GET /jobs/{id}/result`
/// for a job whose output is not kept by Keel. (A metrics job's embedded
/// `.json` output is also served as `application/json`, as the file itself.)
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExternalResult {
    /// The path or URI the job wrote.
    pub uri: String,
}

/// Query of `GET /jobs/{id}/result`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResultQuery {
    /// Stream an output written to a bucket instead of saying where it is.
    pub download: Option<bool>,
}

/// The header saying whether a result is the file itself or a pointer to it.
const KEEL_RESULT: &str = "keel-result";

fn job_id(s: &str) -> Result<JobId> {
    parse_id(s, "job")
}

/// Queues a job.
#[utoipa::path(
    post,
    path = routes::JOBS,
    tag = "jobs",
    request_body = CreateJob,
    responses(
        (status = 202, description = "The job is queued (PENDING).", body = Job,
            headers(("Location" = String, description = "The job's URL, /api/v1/jobs/{id}."))),
        (status = 400, description = "The request is malformed or the model cannot run this kind of job.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The model or upload does not exist.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_job(
    State(keel): State<Keel>,
    Writer(me): Writer,
    JsonBody(req): JsonBody<CreateJob>,
) -> Result<Response> {
    let job = keel.create_job(&me, req).await?;
    let location = routes::fill(routes::JOB, &[&job.id.to_string()]);
    let location = HeaderValue::from_str(&location)
        .map_err(|e| Error::Internal(format!("a job URL is not a valid header: {e}")))?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
        .into_response())
}

/// Lists jobs, newest first.
#[utoipa::path(
    get,
    path = routes::JOBS,
    tag = "jobs",
    params(
        ("status" = Option<String>, Query, description = "Only jobs in this status: PENDING, IN_PROGRESS, COMPLETED, FAILED or STOPPED."),
        ("kind" = Option<String>, Query, description = "Only jobs of this kind: scoring, metrics or training."),
        ("model" = Option<String>, Query, description = "Only jobs of this model (name or id)."),
        ("max_results" = Option<u32>, Query, description = "How many items to return (1-1000, default 100)."),
        ("page_token" = Option<String>, Query, description = "The `next_page_token` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of jobs.", body = Page<Job>),
        (status = 400, description = "A filter is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The model filter names no model.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_jobs(
    State(keel): State<Keel>,
    QueryParams(q): QueryParams<JobQuery>,
) -> Result<Json<Page<Job>>> {
    Ok(Json(keel.list_jobs(&q).await?))
}

/// Shows one job.
#[utoipa::path(
    get,
    path = routes::JOB,
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (a UUID).")),
    responses(
        (status = 200, description = "The job.", body = Job),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such job.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_job(
    State(keel): State<Keel>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Job>> {
    Ok(Json(keel.job(job_id(&id)?).await?))
}

/// Asks a job to stop.
#[utoipa::path(
    post,
    path = routes::JOB_CANCEL,
    tag = "jobs",
    description = "A pending job stops at once; a running one within a second or so.",
    params(("id" = String, Path, description = "The job's id (a UUID).")),
    responses(
        (status = 202, description = "The cancel is recorded.", body = Job),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such job.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has already finished.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel_job(
    State(keel): State<Keel>,
    Writer(me): Writer,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<Job>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(keel.cancel_job(&me, job_id(&id)?).await?),
    ))
}

/// The Content-Type of a result file.
fn content_type(f: &StoredFile) -> &'static str {
    match f.format {
        Some(DataFormat::Csv) => "text/csv",
        // A `.json` output holds one JSON document (a metrics job's), while
        // `.jsonl` and `.ndjson` hold one record per line.
        Some(DataFormat::Json) if f.name.to_ascii_lowercase().ends_with(".json") => {
            "application/json"
        }
        Some(DataFormat::Json) => "application/x-ndjson",
        Some(DataFormat::Parquet) => "application/vnd.apache.parquet",
        None => "application/octet-stream",
    }
}

/// A `Content-Disposition: attachment` value naming the file. Characters a
/// quoted header string cannot hold become `_`; a non-ASCII name also goes
/// in `filename*` (RFC 6266) so clients that understand it keep it intact.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_ascii() {
        return format!("attachment; filename=\"{ascii}\"");
    }
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Streams a stored result file.
fn file_response(f: StoredFile, content_type: &'static str) -> Result<Response> {
    let disposition = HeaderValue::from_str(&disposition(&f.name))
        .map_err(|e| Error::Internal(format!("a file name is not a valid header: {e}")))?;
    let body = Body::from_stream(
        f.stream
            .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string()))),
    );
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_LENGTH, HeaderValue::from(f.size)),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::HeaderName::from_static(KEEL_RESULT),
                HeaderValue::from_static("embedded"),
            ),
        ],
        body,
    )
        .into_response())
}

/// A finished job's output.
#[utoipa::path(
    get,
    path = routes::JOB_RESULT,
    tag = "jobs",
    description = "For an embedded output, the file itself (header `Keel-Result: embedded`, Content-Type by format). For an external output, JSON `{\"uri\": \"...\"}` saying where it was written (header `Keel-Result: external`); with `download=true`, an output in a bucket (`s3://...`) comes back as the object itself, streamed through the server.",
    params(("id" = String, Path, description = "The job's id (a UUID)."), ResultQuery),
    responses(
        (status = 200, description = "The output file, or where it is.",
            headers(("Keel-Result" = String, description = "`embedded` or `external`.")),
            content(
                ("text/csv"),
                ("application/x-ndjson"),
                ("application/vnd.apache.parquet"),
                ("application/octet-stream"),
                (ExternalResult = "application/json"),
            )),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such job, or it ended without an output.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not finished.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn job_result(
    State(keel): State<Keel>,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<ResultQuery>,
) -> Result<Response> {
    let id = job_id(&id)?;
    let out = if q.download.unwrap_or(false) {
        keel.job_result_download(id).await?
    } else {
        keel.job_result(id, false).await?
    };
    match out {
        JobOutput::Stored(f) => {
            let ct = content_type(&f);
            file_response(f, ct)
        }
        JobOutput::External(uri) => Ok((
            StatusCode::OK,
            [(
                header::HeaderName::from_static(KEEL_RESULT),
                HeaderValue::from_static("external"),
            )],
            Json(ExternalResult { uri }),
        )
            .into_response()),
    }
}

/// A finished job's rejected records, one JSON object per line.
#[utoipa::path(
    get,
    path = routes::JOB_REJECTED,
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (a UUID).")),
    responses(
        (status = 200, description = "The rejected records.", content(("application/x-ndjson"))),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such job, or it rejected no records.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not finished.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn job_rejected(
    State(keel): State<Keel>,
    PathParams(id): PathParams<String>,
) -> Result<Response> {
    let id = job_id(&id)?;
    match keel.job_result(id, true).await? {
        JobOutput::Stored(f) => file_response(f, "application/x-ndjson"),
        JobOutput::External(_) => Err(Error::Internal(format!(
            "the rejected records of job {id} are not in Keel's store"
        ))),
    }
}

/// A piece of a job's log.
#[utoipa::path(
    get,
    path = routes::JOB_LOGS,
    tag = "jobs",
    params(
        ("id" = String, Path, description = "The job's id (a UUID)."),
        ("offset" = Option<u64>, Query, description = "Byte offset to read from (default 0); pass the previous `next_offset` to follow the log."),
    ),
    responses(
        (status = 200, description = "Log text from the offset.", body = LogChunk),
        (status = 400, description = "The id or offset is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such job.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn job_logs(
    State(keel): State<Keel>,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<LogQuery>,
) -> Result<Json<LogChunk>> {
    let from = match q.tail {
        Some(bytes) => keel_core::LogStart::Tail(bytes),
        None => keel_core::LogStart::Offset(q.offset.unwrap_or(0)),
    };
    Ok(Json(keel.job_logs(job_id(&id)?, from).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> StoredFile {
        StoredFile {
            format: DataFormat::from_name(name),
            name: name.into(),
            size: 0,
            stream: futures::stream::empty().boxed(),
        }
    }

    #[test]
    fn content_types_follow_the_format() {
        assert_eq!(content_type(&file("out.csv")), "text/csv");
        assert_eq!(content_type(&file("out.jsonl")), "application/x-ndjson");
        assert_eq!(content_type(&file("metrics.json")), "application/json");
        assert_eq!(
            content_type(&file("out.parquet")),
            "application/vnd.apache.parquet"
        );
        assert_eq!(content_type(&file("out.bin")), "application/octet-stream");
    }

    #[test]
    fn dispositions_are_valid_headers() {
        assert_eq!(disposition("out.csv"), "attachment; filename=\"out.csv\"");
        assert_eq!(disposition("a\"b.csv"), "attachment; filename=\"a_b.csv\"");
        let d = disposition("résumé.csv");
        assert_eq!(
            d,
            "attachment; filename=\"r_sum_.csv\"; filename*=UTF-8''r%C3%A9sum%C3%A9.csv"
        );
        assert!(HeaderValue::from_str(&d).is_ok());
    }
}
