//! Keel's HTTP server: the REST API under /api/v1, OpenAPI document, health checks. The only crate that knows HTTP.
//!
//! [`router`] builds every route over a [`keel_core::Keel`]; [`serve`] runs it
//! on a listener together with the background loop that executes queued jobs.
//! Handlers are thin: they parse the request, call one `Keel` use case and
//! turn its answer (or its error, via [`Error`]) into a response. Every error
//! is an RFC 9457 `application/problem+json` document carrying Keel's stable
//! machine code; `error.rs` is the one place codes become statuses.
//!
//! Request bodies that can be large (model archives, data uploads) are
//! streamed to scratch files under the data directory, never held in memory,
//! and may be up to `Config::max_body_bytes` (`KEEL_MAX_BODY_BYTES`, 8 GiB by default); JSON bodies keep axum's 2 MB limit.

mod access;
mod alerts;
mod comparisons;
mod error;
mod extract;
mod guard;
mod health;
mod jobs;
mod models;
mod sagemaker;
mod serving;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;
use keel_core::Keel;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{Error, Result, problem, status_of};
pub use guard::{Guard, LOOPBACK_HOSTS};
pub use serving::{Limits, Peer};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keel",
        version = "1",
        description = "Keel's REST API: register Python models, run batch scoring, metrics and training jobs on them, and fetch their results. Errors are RFC 9457 problem documents (application/problem+json) with a stable machine `code`."
    ),
    tags(
        (name = "models", description = "Models, versions and aliases."),
        (name = "uploads", description = "Data files for job inputs."),
        (name = "jobs", description = "Batch jobs and their results."),
        (name = "comparisons", description = "Champion/challenger comparisons of two metrics jobs."),
        (name = "access", description = "Who the caller is; users, API tokens and the audit log (admins)."),
        (name = "monitors", description = "Monitoring schedules (the rest of the monitoring API is SageMaker's, at /)."),
        (name = "health", description = "Liveness and readiness probes."),
    )
)]
struct ApiDoc;

/// Every documented route, with its OpenAPI description.
fn api() -> OpenApiRouter<Keel> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(models::list_models))
        .routes(routes!(models::get_model))
        .routes(routes!(models::list_versions, models::register))
        .routes(routes!(models::get_version))
        .routes(routes!(models::get_version_ref))
        .routes(routes!(models::list_aliases))
        .routes(routes!(models::set_alias, models::delete_alias))
        .routes(routes!(models::alias_events))
        .routes(routes!(models::upload))
        .routes(routes!(models::delete_upload))
        .routes(routes!(jobs::list_jobs, jobs::create_job))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(jobs::job_result))
        .routes(routes!(jobs::job_rejected))
        .routes(routes!(jobs::job_logs))
        .routes(routes!(
            comparisons::list_comparisons,
            comparisons::create_comparison
        ))
        .routes(routes!(comparisons::get_comparison))
        .routes(routes!(access::whoami))
        .routes(routes!(access::list_users))
        .routes(routes!(access::get_user, access::update_user))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(access::audit))
        .routes(routes!(sagemaker::execute))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::resolve))
}

/// The OpenAPI 3.1 document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// Every route of the API over `keel`, with request tracing, the request
/// timeout, the host and origin checks of `limits`, the caller's
/// authentication, and problem
/// documents for every error, the HTTP layer's own included.
pub fn router(keel: Keel, limits: &Limits) -> Router {
    let (routes, doc) = api().split_for_parts();
    let doc = Arc::new(doc);
    let routes = routes
        .route("/", axum::routing::post(sagemaker::call))
        .route(
            keel_api_model::routes::OPENAPI,
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        );
    serving::with_request_timeout(routes.with_state(keel.clone()), limits.request_timeout)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            keel,
            access::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(limits.guard.clone()),
            guard::check,
        ))
        .layer(axum::middleware::from_fn(serving::problems))
        .layer(axum::middleware::from_fn(trace))
}

/// The answer for paths no route matches.
async fn not_found(uri: Uri) -> Error {
    Error::NotFound(format!(
        "There is no endpoint at {}; the API is described at {}/openapi.json.",
        uri.path(),
        keel_api_model::API_PREFIX
    ))
}

/// Logs each request with its status and duration, and makes the request
/// path available to problem documents as their `instance`.
async fn trace(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let resp = error::REQUEST_PATH.scope(path.clone(), next.run(req)).await;
    let status = resp.status().as_u16();
    let ms = start.elapsed().as_millis() as u64;
    // Probes arrive every few seconds; keep them out of the default log level.
    if path == "/livez" || path == "/readyz" {
        tracing::debug!(%method, path, status, ms, "request");
    } else {
        tracing::info!(%method, path, status, ms, "request");
    }
    resp
}

/// Serves the API on `listener` and runs queued jobs in the background, at
/// most `job_concurrency` at a time, within `limits`, until `shutdown`
/// completes. Then it stops
/// accepting connections, lets in-flight requests finish, and stops the job
/// loop (which stops the jobs it still runs, recording them STOPPED) before
/// returning.
pub async fn serve(
    keel: Keel,
    listener: tokio::net::TcpListener,
    job_concurrency: usize,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // The sender stays alive in this function until the loop has stopped: a
    // dropped sender would make the loop's `changed()` fail at once, forever.
    let stop_tx = Arc::new(stop_tx);
    let queue = {
        let keel = keel.clone();
        tokio::spawn(async move {
            let stopped = async move {
                while !*stop_rx.borrow() {
                    if stop_rx.changed().await.is_err() {
                        break;
                    }
                }
            };
            keel.run_queue(job_concurrency, stopped).await
        })
    };
    let signal = {
        let stop_tx = stop_tx.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        }
    };
    serving::accept(listener, router(keel, &limits), &limits, signal).await;
    // However the server ended, stop the jobs too.
    let _ = stop_tx.send(true);
    if let Err(e) = queue.await {
        tracing::error!(error = %e, "the job loop ended abnormally");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_every_route_with_problems() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 30, "{:?}", paths.keys().collect::<Vec<_>>());
        // Every documented path is a route template the client builds from,
        // and every template but the document itself is served.
        for path in paths.keys() {
            assert!(
                keel_api_model::routes::ALL.contains(&path.as_str()),
                "{path} is not in keel_api_model::routes"
            );
        }
        for template in keel_api_model::routes::ALL {
            assert!(
                template == keel_api_model::routes::OPENAPI || paths.contains_key(template),
                "{template} is not served"
            );
        }
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                if path.starts_with("/api/v1/") {
                    let problems = responses
                        .values()
                        .filter(|r| r["content"]["application/problem+json"].is_object())
                        .count();
                    assert!(
                        problems > 0,
                        "{method} {path} documents no problem response"
                    );
                }
            }
        }
        // Binary bodies are documented by media type, not as arrays of integers.
        let result =
            &doc["paths"]["/api/v1/jobs/{id}/result"]["get"]["responses"]["200"]["content"];
        assert!(result["text/csv"].is_object());
        assert!(result["text/csv"]["schema"].is_null());
        assert_eq!(
            result["application/json"]["schema"]["$ref"],
            "#/components/schemas/ExternalResult"
        );
    }
}
