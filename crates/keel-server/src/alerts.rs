//! Handlers for alerts: listing what monitors found, acknowledging and
//! resolving by hand.

use axum::Json;
use axum::extract::State;
use keel_api_model::{Alert, AlertQuery, Page, Problem, routes};
use keel_core::Keel;

use crate::access::Writer;
use crate::error::Result;
use crate::extract::{PathParams, QueryParams, parse_id};

/// Lists alerts, newest first.
#[utoipa::path(
    get,
    path = routes::ALERTS,
    tag = "monitors",
    params(AlertQuery),
    responses(
        (status = 200, description = "One page of alerts.", body = Page<Alert>),
        (status = 400, description = "A filter is malformed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_alerts(
    State(keel): State<Keel>,
    QueryParams(q): QueryParams<AlertQuery>,
) -> Result<Json<Page<Alert>>> {
    Ok(Json(keel.list_alerts(&q).await?))
}

/// Acknowledges an open alert.
#[utoipa::path(
    post,
    path = routes::ALERT_ACK,
    tag = "monitors",
    params(("id" = String, Path, description = "The alert's id (a UUID).")),
    responses(
        (status = 200, description = "The alert, acknowledged.", body = Alert),
        (status = 403, description = "The caller's role may not change alerts.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such alert.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alert is resolved.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn acknowledge(
    State(keel): State<Keel>,
    Writer(me): Writer,
    PathParams(id): PathParams<String>,
) -> Result<Json<Alert>> {
    Ok(Json(
        keel.acknowledge_alert(&me, parse_id(&id, "alert")?).await?,
    ))
}

/// Resolves an alert by hand.
#[utoipa::path(
    post,
    path = routes::ALERT_RESOLVE,
    tag = "monitors",
    params(("id" = String, Path, description = "The alert's id (a UUID).")),
    responses(
        (status = 200, description = "The alert, resolved.", body = Alert),
        (status = 403, description = "The caller's role may not change alerts.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such alert.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resolve(
    State(keel): State<Keel>,
    Writer(me): Writer,
    PathParams(id): PathParams<String>,
) -> Result<Json<Alert>> {
    Ok(Json(
        keel.resolve_alert(&me, parse_id(&id, "alert")?).await?,
    ))
}
