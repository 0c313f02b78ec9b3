//! Liveness and readiness probes for orchestrators and load balancers.

use keel_api_model::routes;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_api_model::Health;
use keel_core::Keel;

/// Answers while the process serves requests at all.
#[utoipa::path(
    get,
    path = routes::LIVEZ,
    tag = "health",
    responses((status = 200, description = "The process is alive.", body = String, content_type = "text/plain"))
)]
pub(crate) async fn livez() -> &'static str {
    "ok"
}

/// Answers 200 when the metadata and artifact stores respond, else 503.
#[utoipa::path(
    get,
    path = routes::READYZ,
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve.", body = Health),
        (status = 503, description = "A store does not answer; `checks` says which and why.", body = Health),
    )
)]
pub(crate) async fn readyz(State(keel): State<Keel>) -> (StatusCode, Json<Health>) {
    let (status, outcome, code) = match keel.ready().await {
        Ok(()) => ("ok", "ok".to_string(), StatusCode::OK),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                "unavailable",
                e.to_string(),
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    };
    let checks = BTreeMap::from([("storage".to_string(), outcome)]);
    (
        code,
        Json(Health {
            status: status.to_string(),
            checks,
        }),
    )
}
