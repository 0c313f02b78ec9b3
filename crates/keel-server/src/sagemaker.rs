//! The SageMaker API's wire: AWS JSON 1.1 (`POST /`, the operation in
//! `X-Amz-Target: SageMaker.<Operation>`, a JSON body), answered in AWS's
//! shape, errors included (`{"__type": "ResourceNotFound", "message": ...}`
//! with `X-Amzn-ErrorType`), so boto3 reads them as it reads SageMaker's.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_core::Keel;
use keel_types::Code;

use crate::access::Me;

/// The media type of the AWS JSON 1.1 protocol.
const AMZ_JSON: &str = "application/x-amz-json-1.1";

/// One SageMaker operation.
pub(crate) async fn call(
    State(keel): State<Keel>,
    axum::Extension(me): Me,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix("SageMaker.") else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!(
                "The X-Amz-Target header must name a SageMaker operation (SageMaker.CreateMonitoringSchedule, ...), not '{target}'."
            ),
        );
    };
    let req: serde_json::Value = if body.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return aws_error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    &format!("The request body is not JSON: {e}."),
                );
            }
        }
    };
    match keel.sagemaker(&me, operation, req).await {
        Ok(v) => {
            let mut resp =
                (StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default()).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
            resp
        }
        Err(e) => {
            let (status, kind) = match e.code() {
                Code::NotFound if !keel_core::SAGEMAKER_OPERATIONS.contains(&operation) => {
                    (StatusCode::BAD_REQUEST, "UnknownOperationException")
                }
                Code::NotFound => (StatusCode::BAD_REQUEST, "ResourceNotFound"),
                Code::AlreadyExists | Code::Conflict => (StatusCode::BAD_REQUEST, "ResourceInUse"),
                Code::Forbidden => (StatusCode::BAD_REQUEST, "AccessDeniedException"),
                Code::Unauthenticated => (StatusCode::BAD_REQUEST, "UnrecognizedClientException"),
                Code::StorageError | Code::Internal => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure")
                }
                _ => (StatusCode::BAD_REQUEST, "ValidationException"),
            };
            aws_error(status, kind, &e.to_string())
        }
    }
}

/// An error as the AWS JSON protocol writes one.
fn aws_error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    let body = serde_json::json!({"__type": kind, "message": message});
    let mut resp = (status, serde_json::to_vec(&body).unwrap_or_default()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    h.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    resp
}

/// Runs a monitoring schedule's execution for one tick now: a backfill, or
/// a test that should not wait for the hour.
#[utoipa::path(
    post,
    path = keel_api_model::routes::MONITOR_EXECUTIONS,
    tag = "monitors",
    params(("name" = String, Path, description = "The monitoring schedule's name.")),
    request_body = keel_api_model::ExecuteMonitor,
    responses(
        (status = 201, description = "The execution ran; its summary, as ListMonitoringExecutions shows it.", body = Object),
        (status = 403, description = "The caller's role may not run monitors.", body = keel_api_model::Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such schedule.", body = keel_api_model::Problem, content_type = "application/problem+json"),
        (status = 409, description = "That tick has an execution already.", body = keel_api_model::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn execute(
    State(keel): State<Keel>,
    crate::access::Writer(me): crate::access::Writer,
    crate::extract::PathParams(name): crate::extract::PathParams<String>,
    crate::extract::JsonBody(req): crate::extract::JsonBody<keel_api_model::ExecuteMonitor>,
) -> crate::error::Result<(StatusCode, axum::Json<serde_json::Value>)> {
    let summary = keel.execute_monitor(&me, &name, req.scheduled_time).await?;
    Ok((StatusCode::CREATED, axum::Json(summary)))
}
