//! How the server protects itself from slow and greedy clients (a header read
//! timeout, a request timeout for routes that do not stream, a cap on open
//! connections) and how answers the HTTP layer makes itself (405, 415, 413
//! and the like from axum; 400, 414, 431 from hyper, see `http_errors`)
//! become problem documents too.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use keel_api_model::routes;
use keel_types::Code;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::error;

/// The address a request came from, as the accept loop saw it.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

mod http_errors;

/// The limits that keep one client from holding the server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a client may take to send a request's headers
    /// (`KEEL_HEADER_TIMEOUT_SECONDS`, default 10 s), also the longest an
    /// idle kept-alive connection stays open.
    pub header_timeout: Duration,
    /// How long a request that does not stream a body may take
    /// (`KEEL_REQUEST_TIMEOUT_SECONDS`, default 300 s). Model and data
    /// uploads and result downloads are bounded by their size instead.
    pub request_timeout: Duration,
    /// The most connections open at once (`KEEL_MAX_CONNECTIONS`, default
    /// 1024); further clients wait in the listen queue.
    pub max_connections: usize,
    /// The hosts and web origins requests may come through
    /// (`KEEL_ALLOWED_HOSTS`, `KEEL_ALLOWED_ORIGINS`); by default the
    /// loopback names and no foreign origin.
    pub guard: crate::guard::Guard,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            max_connections: 1024,
            guard: crate::guard::Guard::default(),
        }
    }
}

/// Whether a request's body or answer streams and may rightly take longer
/// than the request timeout: registering a model archive, uploading data,
/// downloading results.
fn streams(method: &Method, path: &str) -> bool {
    let under = |template: &str| {
        // The last segment of a template like /api/v1/jobs/{id}/result.
        template
            .rsplit('/')
            .next()
            .is_some_and(|last| path.ends_with(&format!("/{last}")))
    };
    path == routes::UPLOADS
        || (method == Method::POST && under(routes::VERSIONS))
        || (method == Method::GET && (under(routes::JOB_RESULT) || under(routes::JOB_REJECTED)))
}

/// Adds the request timeout to every request that does not stream.
pub(crate) fn with_request_timeout(router: Router, limit: Duration) -> Router {
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| timed(limit, req, next),
    ))
}

async fn timed(limit: Duration, req: Request, next: Next) -> Response {
    if streams(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => timeout_problem(limit),
    }
}

/// The answer to a request that ran past the request timeout.
fn timeout_problem(limit: Duration) -> Response {
    let (mut parts, ()) = Response::new(()).into_parts();
    parts.status = StatusCode::SERVICE_UNAVAILABLE;
    let detail = format!(
        "The request took longer than the {} s this server allows for it (KEEL_REQUEST_TIMEOUT_SECONDS); try again later.",
        limit.as_secs()
    );
    problem_response(parts, Code::Internal, detail)
}

/// A problem document with the status already in `parts`.
fn problem_response(
    mut parts: axum::http::response::Parts,
    code: Code,
    detail: String,
) -> Response {
    let status = parts.status;
    let instance = error::REQUEST_PATH.try_with(Clone::clone).ok();
    let mut p = error::problem(code, detail, instance);
    p.status = status.as_u16();
    p.title = status.canonical_reason().unwrap_or("Error").to_string();
    let bytes = serde_json::to_vec(&p).unwrap_or_else(|_| b"{}".to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Turns every error answer that is not already a problem document (axum's
/// own 405, 415, 413 and extractor rejections) into one, keeping the status
/// and headers such as `Allow` but not the body, which may name internals.
pub(crate) async fn problems(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    // Problem documents, and the AWS-shaped errors of the SageMaker API,
    // are already what their clients read.
    let is_problem = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/problem+json")
            || v.as_bytes().starts_with(b"application/x-amz-json")
    });
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return resp;
    }
    let (parts, _) = resp.into_parts();
    let (code, detail) = http_problem(status);
    problem_response(parts, code, detail)
}

/// The problem document for an error answer hyper made by itself, as bytes.
fn problem_body(status: StatusCode) -> Vec<u8> {
    let (code, detail) = http_problem(status);
    let mut p = error::problem(code, detail, None);
    p.status = status.as_u16();
    p.title = status.canonical_reason().unwrap_or("Error").to_string();
    serde_json::to_vec(&p).unwrap_or_else(|_| b"{}".to_vec())
}

/// The code and message of an error status the HTTP layer chose.
fn http_problem(status: StatusCode) -> (Code, String) {
    let docs = format!("the API is described at {}", routes::OPENAPI);
    match status {
        StatusCode::NOT_FOUND => (Code::NotFound, format!("There is no such resource; {docs}.")),
        StatusCode::METHOD_NOT_ALLOWED => (
            Code::InvalidArgument,
            format!("This endpoint does not answer this method; the Allow header lists those it does, and {docs}."),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Code::InvalidArgument,
            "The request body's Content-Type is not one this endpoint accepts; JSON bodies need Content-Type: application/json.".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            Code::PayloadTooLarge,
            "The request body is larger than this endpoint accepts.".into(),
        ),
        StatusCode::URI_TOO_LONG => (
            Code::InvalidArgument,
            "The request URI is too long; send long values in a JSON body instead.".into(),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            Code::InvalidArgument,
            "The request's headers are too large or too many; send at most 100 headers, \
             about 400 KB in all."
                .into(),
        ),
        StatusCode::BAD_REQUEST => (
            Code::InvalidArgument,
            format!("The request is not valid HTTP/1.1 (its request line or headers could not be read); {docs}."),
        ),
        s if s.is_client_error() => (
            Code::InvalidArgument,
            format!("The request is malformed; {docs}."),
        ),
        _ => (
            Code::Internal,
            "The server failed to answer the request.".into(),
        ),
    }
}

/// Accepts connections on `listener` and serves `app` on each, at most
/// `limits.max_connections` at a time, until `shutdown` completes; then stops
/// accepting, asks open connections to finish their requests, and waits for
/// them.
pub(crate) async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (close_tx, close_rx) = watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((stream, peer)) => (stream, peer),
                Err(e) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Every request learns the address it came from, for the audit log.
        let svc = TowerToHyperService::new(app.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req
            },
        ));
        let mut close = close_rx.clone();
        let header_timeout = limits.header_timeout;
        conns.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let io = TokioIo::new(http_errors::ProblemIo::new(stream));
            let conn = builder.serve_connection(io, svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = async { close.wait_for(|c| *c).await.is_ok() } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = close_tx.send(true);
    while conns.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_registrations_and_results_stream() {
        let cases = [
            (Method::POST, "/api/v1/uploads", true),
            (Method::POST, "/api/v1/models/m/versions", true),
            (Method::GET, "/api/v1/models/m/versions", false),
            (Method::GET, "/api/v1/jobs/x/result", true),
            (Method::GET, "/api/v1/jobs/x/rejected", true),
            (Method::GET, "/api/v1/jobs/x/logs", false),
            (Method::POST, "/api/v1/jobs", false),
        ];
        for (method, path, want) in cases {
            assert_eq!(streams(&method, path), want, "{method} {path}");
        }
    }
}
