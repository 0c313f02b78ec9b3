//! The server's error type and the ONE place where Keel's stable error codes
//! become HTTP statuses and RFC 9457 `application/problem+json` documents.
//!
//! Status choices: request arguments and unreadable data are `400`; a model
//! directory, schema or archive that arrived intact but cannot be used as a
//! model is `422 Unprocessable Content`, so a client can tell "fix your
//! request" from "fix your model".

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_api_model::Problem;
use keel_types::Code;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A use case failed; its code says why.
    #[error(transparent)]
    Core(#[from] keel_core::Error),
    /// An uploaded model archive could not be extracted.
    #[error(transparent)]
    Archive(#[from] keel_modeldef::Error),
    /// A path, query or body is malformed; the message says which and how to fix it.
    #[error("{0}")]
    InvalidArgument(String),
    /// No route matches the request.
    #[error("{0}")]
    NotFound(String),
    /// A request body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request came from a foreign web origin or named a host this
    /// server does not answer to.
    #[error("{0}")]
    Forbidden(String),
    /// The request body's content type is not one the endpoint accepts.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A temporary file for a request body could not be written or read.
    #[error("{context}: {source}")]
    Io {
        /// What the server was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An invariant broke inside the server.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Core(e) => e.code(),
            Error::Archive(e) => e.code(),
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::PayloadTooLarge(_) => Code::PayloadTooLarge,
            Error::Forbidden(_) => Code::Forbidden,
            Error::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            Error::Io { .. } => Code::StorageError,
            Error::Internal(_) => Code::Internal,
        }
    }

    /// A closure that wraps an IO error with what the server was doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// The HTTP status of each stable error code.
pub fn status_of(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument | Code::InvalidData => StatusCode::BAD_REQUEST,
        Code::InvalidModel | Code::InvalidSchema | Code::UnsafeArchive | Code::EmptyInput => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Code::NotFound | Code::NoResult => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Conflict | Code::JobNotFinished => StatusCode::CONFLICT,
        Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::StorageError | Code::RuntimeUnavailable | Code::GitUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // The server never runs git; a client's git failure is an upstream's.
        Code::GitFailed => StatusCode::BAD_GATEWAY,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A short, fixed summary of each problem type, as RFC 9457 `title` asks.
fn title_of(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument => "Invalid argument",
        Code::NotFound => "Not found",
        Code::AlreadyExists => "Already exists",
        Code::Conflict => "Conflict",
        Code::InvalidModel => "Invalid model",
        Code::InvalidSchema => "Invalid schema",
        Code::InvalidData => "Invalid data",
        Code::EmptyInput => "Empty input",
        Code::UnsafeArchive => "Unsafe archive",
        Code::PayloadTooLarge => "Payload too large",
        Code::JobNotFinished => "Job not finished",
        Code::NoResult => "No result",
        Code::StorageError => "Storage error",
        Code::RuntimeUnavailable => "Runtime unavailable",
        Code::GitUnavailable => "Git unavailable",
        Code::GitFailed => "Git failed",
        Code::Forbidden => "Forbidden",
        Code::Unauthenticated => "Unauthenticated",
        Code::UnsupportedMediaType => "Unsupported media type",
        Code::Internal => "Internal error",
    }
}

/// Builds the problem document for a code and a detail message.
pub fn problem(code: Code, detail: impl Into<String>, instance: Option<String>) -> Problem {
    Problem {
        type_: format!(
            "https://keel.dev/problems/{}",
            code.as_str().to_ascii_lowercase()
        ),
        title: title_of(code).to_string(),
        status: status_of(code).as_u16(),
        detail: detail.into(),
        code: code.as_str().to_string(),
        instance,
    }
}

tokio::task_local! {
    /// The path of the request being answered, set by the tracing middleware so
    /// that every problem document can name its `instance` without each
    /// handler passing the path around.
    pub(crate) static REQUEST_PATH: String;
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let status = status_of(code);
        let instance = REQUEST_PATH.try_with(Clone::clone).ok();
        if status.is_server_error() {
            tracing::error!(code = %code, path = instance.as_deref().unwrap_or(""), error = %self, "request failed");
        } else {
            tracing::debug!(code = %code, path = instance.as_deref().unwrap_or(""), error = %self, "request refused");
        }
        let body = problem(code, self.to_string(), instance);
        // Serialising a struct of strings cannot fail; the fallback keeps the
        // response well-formed even so.
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (status, bytes).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // RFC 9110: a 401 names the scheme that would be accepted.
        if code == Code::Unauthenticated {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keel\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_an_error_status() {
        for code in Code::ALL {
            let status = status_of(code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code} maps to {status}"
            );
            let p = problem(code, "why", None);
            assert_eq!(p.status, status.as_u16());
            assert_eq!(p.code, code.as_str());
            assert!(!p.title.is_empty());
        }
        assert_eq!(status_of(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_of(Code::JobNotFinished), StatusCode::CONFLICT);
        assert_eq!(
            status_of(Code::PayloadTooLarge),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status_of(Code::StorageError),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status_of(Code::Internal), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn problem_response_has_type_code_and_instance() {
        let resp = REQUEST_PATH
            .scope("/api/v1/models/x".to_string(), async {
                Error::NotFound("There is no model named 'x'.".into()).into_response()
            })
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..])
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let p: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(p.type_, "https://keel.dev/problems/not_found");
        assert_eq!(p.code, "NOT_FOUND");
        assert_eq!(p.status, 404);
        assert_eq!(p.detail, "There is no model named 'x'.");
        assert_eq!(p.instance.as_deref(), Some("/api/v1/models/x"));
    }
}
