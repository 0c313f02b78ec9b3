//! Handlers for champion/challenger comparisons: starting one (its metrics
//! jobs are queued), reading it (the verdict appears once both jobs finish),
//! and listing them.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_api_model::{Comparison, CreateComparison, Page, PageQuery, Problem};
use keel_core::Keel;
use keel_types::ComparisonId;

use keel_api_model::routes;

use crate::access::Writer;
use crate::error::{Error, Result};
use crate::extract::{JsonBody, PathParams, QueryParams, parse_id};

/// Starts a comparison.
#[utoipa::path(
    post,
    path = routes::COMPARISONS,
    tag = "comparisons",
    description = "Either names two model versions (`champion`, `challenger`) and the labeled `input` to run both on, in which case two metrics jobs are queued; or names two metrics jobs (`champion_job`, `challenger_job`). The comparison is PENDING until both jobs finish; then reading it gives the verdict.",
    request_body = CreateComparison,
    responses(
        (status = 201, description = "The comparison exists (PENDING, or COMPLETED when both jobs had finished).", body = Comparison,
            headers(("Location" = String, description = "The comparison's URL, /api/v1/comparisons/{id}."))),
        (status = 400, description = "The request is malformed, or the metric is unknown.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A model, job or upload does not exist.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_comparison(
    State(keel): State<Keel>,
    Writer(me): Writer,
    JsonBody(req): JsonBody<CreateComparison>,
) -> Result<Response> {
    let c = keel.create_comparison(&me, req).await?;
    let location = routes::fill(routes::COMPARISON, &[&c.id.to_string()]);
    let location = HeaderValue::from_str(&location)
        .map_err(|e| Error::Internal(format!("a comparison URL is not a valid header: {e}")))?;
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(c)).into_response())
}

/// Shows one comparison, with its verdict once both jobs have finished.
#[utoipa::path(
    get,
    path = routes::COMPARISON,
    tag = "comparisons",
    params(("id" = String, Path, description = "The comparison's id (a UUID).")),
    responses(
        (status = 200, description = "The comparison.", body = Comparison),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such comparison.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_comparison(
    State(keel): State<Keel>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Comparison>> {
    let id: ComparisonId = parse_id(&id, "comparison")?;
    Ok(Json(keel.comparison(id).await?))
}

/// Lists comparisons, newest first.
#[utoipa::path(
    get,
    path = routes::COMPARISONS,
    tag = "comparisons",
    params(
        ("max_results" = Option<u32>, Query, description = "How many items to return (1-1000, default 100)."),
        ("page_token" = Option<String>, Query, description = "The `next_page_token` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of comparisons.", body = Page<Comparison>),
        (status = 400, description = "A query parameter is malformed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_comparisons(
    State(keel): State<Keel>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<Page<Comparison>>> {
    Ok(Json(keel.list_comparisons(&q).await?))
}
