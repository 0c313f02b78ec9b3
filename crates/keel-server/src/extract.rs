//! Request extractors whose rejections are problem documents (axum's own
//! answer with plain text), id parsing with helpful messages, and streaming
//! of request bodies to files.

use std::path::Path;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// Path parameters; a malformed one is a 400 problem.
pub(crate) struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|r: PathRejection| {
                Error::InvalidArgument(format!("The request path is malformed: {}.", r.body_text()))
            })
    }
}

/// Query parameters; a malformed one is a 400 problem.
pub(crate) struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|r: QueryRejection| {
                Error::InvalidArgument(format!(
                    "The query string is malformed: {}. Check the parameter names and values against /api/v1/openapi.json.",
                    r.body_text()
                ))
            })
    }
}

/// A JSON request body; a malformed one is a 400 problem (413 when too large).
pub(crate) struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(j) => Ok(JsonBody(j.0)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> Error {
    match r {
        JsonRejection::MissingJsonContentType(_) => Error::InvalidArgument(
            "The request body must be JSON; send it with the header Content-Type: application/json."
                .into(),
        ),
        r if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge(
            "The JSON request body is larger than the 2 MB this endpoint accepts.".into(),
        ),
        r => Error::InvalidArgument(format!(
            "The JSON request body is not what this endpoint expects: {}. The body's schema is in /api/v1/openapi.json.",
            r.body_text()
        )),
    }
}

/// Parses a typed id from a path segment.
pub(crate) fn parse_id<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.parse().map_err(|_| {
        Error::InvalidArgument(format!(
            "'{s}' is not a {what} id; {what} ids are UUIDs such as 0190b1a2-7c3d-7e4f-8a5b-6c7d8e9f0a1b."
        ))
    })
}

/// Streams a request body into `dest`, failing once it exceeds `limit` bytes.
/// Returns the number of bytes written.
pub(crate) async fn save_body(body: Body, dest: &Path, limit: u64) -> Result<u64> {
    let mut file = tokio::fs::File::create(dest).await.map_err(Error::io(
        "cannot create a temporary file for the request body",
    ))?;
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Error::InvalidArgument(format!(
                "The request body could not be read to the end ({e}); send it again."
            ))
        })?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk).await.map_err(Error::io(
            "cannot write the request body to a temporary file",
        ))?;
    }
    file.flush().await.map_err(Error::io(
        "cannot write the request body to a temporary file",
    ))?;
    Ok(total)
}

/// The error for a body over `limit` bytes.
pub(crate) fn too_large(limit: u64) -> Error {
    Error::PayloadTooLarge(format!(
        "The request body is larger than the {limit} bytes this server accepts; send a smaller file."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn save_body_writes_all_bytes_and_enforces_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("body");
        let n = save_body(Body::from("hello world"), &dest, 100)
            .await
            .unwrap();
        assert_eq!(n, 11);
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");

        let err = save_body(Body::from("hello world"), &dest, 5)
            .await
            .unwrap_err();
        assert_eq!(err.code(), keel_types::Code::PayloadTooLarge);
    }

    #[test]
    fn bad_ids_are_invalid_arguments() {
        let err = parse_id::<keel_types::JobId>("nope", "job").unwrap_err();
        assert_eq!(err.code(), keel_types::Code::InvalidArgument);
        assert!(err.to_string().contains("'nope' is not a job id"));
        let ok: keel_types::JobId =
            parse_id("0190b1a2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "job").unwrap();
        assert_eq!(ok.to_string(), "0190b1a2-7c3d-7e4f-8a5b-6c7d8e9f0a1b");
    }
}
