//! Handlers for models, versions, aliases and uploads: registration from an
//! uploaded archive, lookups by name, number, alias or id, alias moves, and
//! data uploads for job inputs.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use keel_api_model::{
    Alias, AliasEvent, Model, Page, PageQuery, Problem, RegisterQuery, Registration, SetAlias,
    Upload, Version,
};
use keel_core::Keel;
use serde::Deserialize;

use keel_api_model::routes;

use crate::access::Writer;
use crate::error::{Error, Result};
use crate::extract::{JsonBody, PathParams, QueryParams, parse_id, save_body, too_large};

/// Refuses a body whose declared length is over `limit` before reading any of it.
pub(crate) fn check_content_length(headers: &HeaderMap, limit: u64) -> Result<()> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// A scratch directory for one request's body, on the same disk as the data
/// directory so that storing the file afterwards is cheap. It is removed when
/// dropped.
pub(crate) fn scratch_dir(keel: &Keel) -> Result<tempfile::TempDir> {
    let work = keel.home().join("work");
    std::fs::create_dir_all(&work).map_err(Error::io(format!(
        "cannot create the scratch directory {}",
        work.display()
    )))?;
    tempfile::Builder::new()
        .prefix("request-")
        .tempdir_in(&work)
        .map_err(Error::io(format!(
            "cannot create a scratch directory in {}",
            work.display()
        )))
}

/// The file extension that tells `extract_archive` the archive's format,
/// from the request's Content-Type, which must name an archive: anything
/// else (no type, a form's types, JSON) is refused, so only a client that
/// means to send an archive can register a model.
fn archive_extension(headers: &HeaderMap) -> Result<&'static str> {
    let essence = crate::guard::media_type(headers);
    match essence.as_str() {
        "application/zip" | "application/x-zip-compressed" => Ok(".zip"),
        "application/x-tar" => Ok(".tar"),
        "application/gzip" | "application/x-gzip" | "application/x-compressed-tar" => Ok(".tar.gz"),
        _ => Err(Error::UnsupportedMediaType(format!(
            "A model registration's body is an archive of the model directory, sent as \
             application/gzip (a .tar.gz), application/x-tar or application/zip, not {}.",
            if essence.is_empty() {
                "without a Content-Type".to_string()
            } else {
                format!("'{essence}'")
            }
        ))),
    }
}

/// The model directory inside an extracted archive: the archive's root, or
/// its single top-level directory when it holds nothing else (as `tar czf
/// m.tgz fraud/` makes).
fn model_root(extracted: &Path) -> Result<PathBuf> {
    let entries: Vec<_> = std::fs::read_dir(extracted)
        .map_err(Error::io(format!("cannot list {}", extracted.display())))?
        .collect::<std::io::Result<_>>()
        .map_err(Error::io(format!("cannot list {}", extracted.display())))?;
    if let [only] = entries.as_slice()
        && only.file_type().map(|t| t.is_dir()).unwrap_or(false)
    {
        return Ok(only.path());
    }
    Ok(extracted.to_path_buf())
}

/// Names the archive in extraction errors as the request body rather than
/// by its scratch path, which means nothing to the client.
fn name_request_archive(mut e: keel_modeldef::Error) -> keel_modeldef::Error {
    if let keel_modeldef::Error::UnsafeArchive { archive, .. }
    | keel_modeldef::Error::Archive { archive, .. } = &mut e
    {
        *archive = "in the request body".to_string();
    }
    e
}

/// Registers a model archive as a new version of the model named in the path.
#[utoipa::path(
    post,
    path = routes::VERSIONS,
    tag = "models",
    description = "Registers a model directory, sent as a gzip'd tar (Content-Type application/gzip; application/x-tar and application/zip also work), as a new version of the model `model`. An archive holding one top-level directory is read from inside it. An unchanged directory creates no version: the existing one comes back with 200 and `created: false`. A client that checked the directory out from git sends where it came from in the query (`origin=git`, `repository`, `reference`, `commit`, `subdir`); the server checks it and records it on the new version, and never runs git itself.",
    params(("model" = String, Path, description = "The model's name (created on first registration)."), RegisterQuery),
    request_body(description = "The model directory as a .tar.gz archive (or a .tar or .zip, by Content-Type).", content(("application/gzip"), ("application/x-tar"), ("application/zip"))),
    responses(
        (status = 201, description = "A new version was created.", body = Registration),
        (status = 200, description = "The directory was unchanged; the existing version.", body = Registration),
        (status = 400, description = "The name, the origin or the body is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The archive is too large.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The archive is unsafe or not a valid model.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn register(
    State(keel): State<Keel>,
    Writer(me): Writer,
    PathParams(name): PathParams<String>,
    QueryParams(q): QueryParams<RegisterQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Registration>)> {
    // The origin is checked before the body is read, so a malformed one
    // costs no upload (the role was checked before this handler ran).
    let origin = keel_core::git::origin_of_query(&q)?;
    keel_core::check_model_name(&name)?;
    let limit = keel.config().max_body_bytes;
    check_content_length(&headers, limit)?;
    let scratch = scratch_dir(&keel)?;
    let archive = scratch
        .path()
        .join(format!("model{}", archive_extension(&headers)?));
    let size = save_body(body, &archive, limit).await?;
    if size == 0 {
        return Err(Error::InvalidArgument(
            "The request body is empty; send the model directory as a gzip'd tar, e.g. `tar czf - -C DIR .`."
                .into(),
        ));
    }
    let dest = scratch.path().join("model");
    let (a, d) = (archive.clone(), dest.clone());
    // Extraction reads and writes files synchronously; keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        keel_modeldef::extract_archive(&a, &d, &keel_modeldef::ArchiveLimits::default())
    })
    .await
    .map_err(|e| Error::Internal(format!("archive extraction did not finish: {e}")))?
    .map_err(name_request_archive)?;
    let dir = model_root(&dest)?;
    let reg = keel
        .register_with_origin(&me, &dir, Some(&name), &[], origin.as_ref())
        .await?;
    let status = if reg.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(reg)))
}

/// Lists models by name.
#[utoipa::path(
    get,
    path = routes::MODELS,
    tag = "models",
    params(
        ("max_results" = Option<u32>, Query, description = "How many items to return (1-1000, default 100)."),
        ("page_token" = Option<String>, Query, description = "The `next_page_token` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of models.", body = Page<Model>),
        (status = 400, description = "A query parameter is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_models(
    State(keel): State<Keel>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<Page<Model>>> {
    Ok(Json(keel.list_models(&q).await?))
}

/// Shows one model.
#[utoipa::path(
    get,
    path = routes::MODEL,
    tag = "models",
    params(("model" = String, Path, description = "The model's name or id.")),
    responses(
        (status = 200, description = "The model.", body = Model),
        (status = 404, description = "There is no such model.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_model(
    State(keel): State<Keel>,
    PathParams(model): PathParams<String>,
) -> Result<Json<Model>> {
    Ok(Json(keel.model(&model).await?))
}

/// Lists a model's versions by number.
#[utoipa::path(
    get,
    path = routes::VERSIONS,
    tag = "models",
    params(
        ("model" = String, Path, description = "The model's name or id."),
        ("max_results" = Option<u32>, Query, description = "How many items to return (1-1000, default 100)."),
        ("page_token" = Option<String>, Query, description = "The `next_page_token` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of versions.", body = Page<Version>),
        (status = 400, description = "A query parameter is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such model.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_versions(
    State(keel): State<Keel>,
    PathParams(model): PathParams<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<Page<Version>>> {
    Ok(Json(keel.list_versions(&model, &q).await?))
}

/// Shows one version of a model by number.
#[utoipa::path(
    get,
    path = routes::VERSION,
    tag = "models",
    params(
        ("model" = String, Path, description = "The model's name."),
        ("number" = u32, Path, description = "The version number, from 1."),
    ),
    responses(
        (status = 200, description = "The version.", body = Version),
        (status = 400, description = "The number is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such model or version.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_version(
    State(keel): State<Keel>,
    PathParams((model, number)): PathParams<(String, String)>,
) -> Result<Json<Version>> {
    let n: u32 = number.parse().map_err(|_| {
        Error::InvalidArgument(format!(
            "'{number}' is not a version number; version numbers are whole numbers from 1."
        ))
    })?;
    Ok(Json(keel.version(&format!("{model}:{n}")).await?))
}

/// Resolves any model reference to a version.
#[utoipa::path(
    get,
    path = routes::VERSION_REF,
    tag = "models",
    params(("ref" = String, Path, description = "A model reference, percent-encoded: `fraud`, `fraud:2`, `fraud@champion`, or a model or version UUID.")),
    responses(
        (status = 200, description = "The version the reference points at.", body = Version),
        (status = 400, description = "The reference is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing matches the reference.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_version_ref(
    State(keel): State<Keel>,
    PathParams(r): PathParams<String>,
) -> Result<Json<Version>> {
    Ok(Json(keel.version(&r).await?))
}

/// Lists a model's aliases.
#[utoipa::path(
    get,
    path = routes::ALIASES,
    tag = "models",
    params(("model" = String, Path, description = "The model's name or id.")),
    responses(
        (status = 200, description = "Every alias of the model.", body = Vec<Alias>),
        (status = 404, description = "There is no such model.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_aliases(
    State(keel): State<Keel>,
    PathParams(model): PathParams<String>,
) -> Result<Json<Vec<Alias>>> {
    Ok(Json(keel.list_aliases(&model).await?))
}

/// Points an alias at a version.
#[utoipa::path(
    put,
    path = routes::ALIAS,
    tag = "models",
    params(
        ("model" = String, Path, description = "The model's name or id."),
        ("alias" = String, Path, description = "The alias, such as `champion`."),
    ),
    request_body = SetAlias,
    responses(
        (status = 200, description = "The alias after the move.", body = Alias),
        (status = 400, description = "The alias or body is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such model or version.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_alias(
    State(keel): State<Keel>,
    Writer(me): Writer,
    PathParams((model, alias)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<SetAlias>,
) -> Result<Json<Alias>> {
    Ok(Json(
        keel.set_alias(&me, &model, &alias, body.version).await?,
    ))
}

/// Removes an alias.
#[utoipa::path(
    delete,
    path = routes::ALIAS,
    tag = "models",
    params(
        ("model" = String, Path, description = "The model's name or id."),
        ("alias" = String, Path, description = "The alias to remove."),
    ),
    responses(
        (status = 204, description = "The alias is gone."),
        (status = 404, description = "There is no such model or alias.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_alias(
    State(keel): State<Keel>,
    Writer(me): Writer,
    PathParams((model, alias)): PathParams<(String, String)>,
) -> Result<StatusCode> {
    keel.delete_alias(&me, &model, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists every recorded alias move of a model, oldest first.
#[utoipa::path(
    get,
    path = routes::ALIAS_EVENTS,
    tag = "models",
    params(("model" = String, Path, description = "The model's name or id.")),
    responses(
        (status = 200, description = "Alias moves, oldest first.", body = Vec<AliasEvent>),
        (status = 404, description = "There is no such model.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn alias_events(
    State(keel): State<Keel>,
    PathParams(model): PathParams<String>,
) -> Result<Json<Vec<AliasEvent>>> {
    Ok(Json(keel.alias_history(&model).await?))
}

/// Query of `POST /uploads`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadQuery {
    name: Option<String>,
}

/// Stores a data file for use as a job input.
#[utoipa::path(
    post,
    path = routes::UPLOADS,
    tag = "uploads",
    params(("name" = String, Query, description = "The file's name, such as `input.csv`; its extension picks the format.")),
    request_body(description = "The file's bytes, with any content type.", content(("application/octet-stream"), ("text/csv"), ("application/x-ndjson"), ("application/vnd.apache.parquet"))),
    responses(
        (status = 201, description = "The file is stored.", body = Upload),
        (status = 400, description = "The name is missing or unusable.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is too large.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn upload(
    State(keel): State<Keel>,
    Writer(me): Writer,
    QueryParams(q): QueryParams<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Upload>)> {
    let name = q.name.filter(|n| !n.is_empty()).ok_or_else(|| {
        Error::InvalidArgument(
            "Give the file's name as the query parameter ?name=input.csv; its extension picks the format."
                .into(),
        )
    })?;
    let name = keel_core::upload_name(&name)?;
    let limit = keel.config().max_body_bytes;
    check_content_length(&headers, limit)?;
    // The quota bounds the body too, so an upload over it is cut off early.
    let room = keel.upload_room().await?;
    let scratch = scratch_dir(&keel)?;
    let path = scratch.path().join("upload");
    save_body(body, &path, limit.min(room.saturating_add(1)))
        .await
        .map_err(|e| match e {
            Error::PayloadTooLarge(_) if room < limit => Error::PayloadTooLarge(format!(
                "The upload is larger than the {room} bytes left of the upload quota of {} bytes (KEEL_UPLOAD_QUOTA_BYTES); delete uploads you no longer need (DELETE /api/v1/uploads/{{id}}).",
                keel.config().upload_quota_bytes
            )),
            e => e,
        })?;
    let up = keel.upload(&me, &name, &path).await?;
    Ok((StatusCode::CREATED, Json(up)))
}

/// Deletes an upload and its file.
#[utoipa::path(
    delete,
    path = routes::UPLOAD,
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id.")),
    responses(
        (status = 204, description = "The upload is gone."),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such upload.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_upload(
    State(keel): State<Keel>,
    Writer(me): Writer,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode> {
    keel.delete_upload(&me, parse_id(&id, "upload")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_extension_follows_the_content_type() {
        let cases = [
            (None, None),
            (Some("application/zip"), Some(".zip")),
            (Some("application/x-tar"), Some(".tar")),
            (Some("application/gzip"), Some(".tar.gz")),
            (Some("Application/X-Gzip; foo=bar"), Some(".tar.gz")),
            (Some("text/plain"), None),
            (Some("application/json"), None),
        ];
        for (ct, want) in cases {
            let mut h = HeaderMap::new();
            if let Some(ct) = ct {
                h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            }
            assert_eq!(archive_extension(&h).ok(), want, "{ct:?}");
        }
    }

    #[test]
    fn model_root_descends_into_a_single_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("fraud")).unwrap();
        std::fs::write(dir.path().join("fraud/fraud.py"), "x").unwrap();
        assert_eq!(model_root(dir.path()).unwrap(), dir.path().join("fraud"));
        std::fs::write(dir.path().join("other.py"), "x").unwrap();
        assert_eq!(model_root(dir.path()).unwrap(), dir.path());
    }

    #[test]
    fn declared_lengths_over_the_limit_are_refused() {
        let limit = keel_core::DEFAULT_MAX_BODY_BYTES;
        let mut h = HeaderMap::new();
        assert!(check_content_length(&h, limit).is_ok());
        h.insert(header::CONTENT_LENGTH, "10".parse().unwrap());
        assert!(check_content_length(&h, limit).is_ok());
        assert!(
            check_content_length(&h, 9).is_err(),
            "the limit is the admin's"
        );
        h.insert(
            header::CONTENT_LENGTH,
            (limit + 1).to_string().parse().unwrap(),
        );
        let err = check_content_length(&h, limit).unwrap_err();
        assert_eq!(err.code(), keel_types::Code::PayloadTooLarge);
        assert!(err.to_string().contains(&limit.to_string()), "{err}");
    }
}
