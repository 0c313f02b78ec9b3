//! Who a request is, and the routes of users, tokens and the audit log.
//!
//! [`authenticate`] runs before routing, after the guard: it turns the
//! `Authorization` header and the client's address into a
//! [`keel_core::Principal`] (401 when a token is needed and missing or not
//! accepted) and hands it to the handlers as a request extension. Handlers of
//! changes pass it to the use case, which decides what the role allows (403).
//! The probes and the OpenAPI document need no token.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_api_model::{
    AuditEntry, AuditQuery, CreateToken, CreatedToken, Page, Problem, Token, TokenQuery,
    UpdateUser, User, Whoami, routes,
};
use keel_core::{Keel, Principal};
use keel_types::Permission;

use crate::error::Result;
use crate::extract::{JsonBody, PathParams, QueryParams, parse_id};
use crate::serving::Peer;

/// The acting principal, as handlers of reads extract it.
pub(crate) type Me = axum::Extension<Principal>;

/// Extractors of the acting principal that refuse (403) a principal whose
/// role lacks a permission. They run before the body is read or parsed, so
/// a refused request costs no upload and gets its 403 whatever it sent; the
/// use case checks again, for callers that are not this server.
macro_rules! principal_with {
    ($(#[$doc:meta])* $name:ident, $perm:expr, $what:literal) => {
        $(#[$doc])*
        pub(crate) struct $name(pub(crate) Principal);

        impl<S: Send + Sync> axum::extract::FromRequestParts<S> for $name {
            type Rejection = crate::Error;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                _: &S,
            ) -> Result<Self> {
                let me = parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
                    crate::Error::Internal("the request reached a handler unauthenticated".into())
                })?;
                me.require($perm, $what)?;
                Ok($name(me))
            }
        }
    };
}

principal_with!(
    /// A principal that may change models and run jobs.
    Writer,
    Permission::Write,
    "change models, data or jobs"
);
principal_with!(
    /// An admin.
    Admin,
    Permission::Admin,
    "administer users, tokens and the audit log"
);

/// Paths anyone may read: the probes and the API's description.
const PUBLIC: [&str; 3] = [routes::LIVEZ, routes::READYZ, routes::OPENAPI];

/// Recognises the caller, or answers 401.
pub(crate) async fn authenticate(
    State(keel): State<Keel>,
    mut req: Request,
    next: Next,
) -> Response {
    if PUBLIC.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let source = req
        .extensions()
        .get::<Peer>()
        .map(|p| p.0.to_string())
        .unwrap_or_else(|| "unknown".into());
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    match keel.authenticate(header, &source).await {
        Ok(me) => {
            req.extensions_mut().insert(me);
            next.run(req).await
        }
        Err(e) => crate::Error::Core(e).into_response(),
    }
}

/// Who the caller is.
#[utoipa::path(
    get,
    path = routes::WHOAMI,
    tag = "access",
    responses(
        (status = 200, description = "The caller's user, role and groups.", body = Whoami),
        (status = 401, description = "A token is needed, or the one sent is not accepted.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn whoami(axum::Extension(me): Me) -> Json<Whoami> {
    Json(me.whoami())
}

/// Every user (admins only).
#[utoipa::path(
    get,
    path = routes::USERS,
    tag = "access",
    responses(
        (status = 200, description = "Every user, by name.", body = [User]),
        (status = 403, description = "The caller is not an admin.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_users(
    State(keel): State<Keel>,
    Admin(me): Admin,
) -> Result<Json<Vec<User>>> {
    Ok(Json(keel.list_users(&me).await?))
}

/// One user (admins, or the user itself).
#[utoipa::path(
    get,
    path = routes::USER,
    tag = "access",
    params(("name" = String, Path, description = "The user's name.")),
    responses(
        (status = 200, description = "The user.", body = User),
        (status = 403, description = "The caller is neither an admin nor this user.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such user.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_user(
    State(keel): State<Keel>,
    axum::Extension(me): Me,
    PathParams(name): PathParams<String>,
) -> Result<Json<User>> {
    Ok(Json(keel.user(&me, &name).await?))
}

/// Changes a user's role or groups (admins only).
#[utoipa::path(
    patch,
    path = routes::USER,
    tag = "access",
    params(("name" = String, Path, description = "The user's name.")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The user, changed.", body = User),
        (status = 403, description = "The caller is not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such user.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_user(
    State(keel): State<Keel>,
    Admin(me): Admin,
    PathParams(name): PathParams<String>,
    JsonBody(change): JsonBody<UpdateUser>,
) -> Result<Json<User>> {
    Ok(Json(keel.update_user(&me, &name, change).await?))
}

/// Creates a token, and its user if needed (admins only). The secret is in
/// this answer and nowhere else.
#[utoipa::path(
    post,
    path = routes::TOKENS,
    tag = "access",
    request_body = CreateToken,
    responses(
        (status = 201, description = "The token, with its secret, shown once.", body = CreatedToken),
        (status = 400, description = "A new user needs a role, or the expiry is out of range.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_token(
    State(keel): State<Keel>,
    Admin(me): Admin,
    JsonBody(req): JsonBody<CreateToken>,
) -> Result<Response> {
    let made = keel.create_token(&me, req).await?;
    tracing::info!(user = %made.user.name, token = %made.info.id, by = %me.user, "token created");
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

/// Every token, or one user's, without secrets (admins only).
#[utoipa::path(
    get,
    path = routes::TOKENS,
    tag = "access",
    params(TokenQuery),
    responses(
        (status = 200, description = "The tokens, oldest first.", body = [Token]),
        (status = 403, description = "The caller is not an admin.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_tokens(
    State(keel): State<Keel>,
    Admin(me): Admin,
    QueryParams(q): QueryParams<TokenQuery>,
) -> Result<Json<Vec<Token>>> {
    Ok(Json(keel.list_tokens(&me, &q).await?))
}

/// Revokes a token (admins only).
#[utoipa::path(
    delete,
    path = routes::TOKEN,
    tag = "access",
    params(("id" = String, Path, description = "The token's id (a UUID).")),
    responses(
        (status = 200, description = "The token, revoked.", body = Token),
        (status = 403, description = "The caller is not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no such token.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_token(
    State(keel): State<Keel>,
    Admin(me): Admin,
    PathParams(id): PathParams<String>,
) -> Result<Json<Token>> {
    Ok(Json(keel.revoke_token(&me, parse_id(&id, "token")?).await?))
}

/// The audit log, newest first (admins only).
#[utoipa::path(
    get,
    path = routes::AUDIT,
    tag = "access",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of changes, newest first.", body = Page<AuditEntry>),
        (status = 400, description = "A filter is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn audit(
    State(keel): State<Keel>,
    Admin(me): Admin,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>> {
    Ok(Json(keel.audit(&me, &q).await?))
}
