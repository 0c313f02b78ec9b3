//! Users, API tokens, the caller's identity, the audit log, and running a
//! monitor now, on the wire.

use chrono::{DateTime, Utc};
use keel_types::{AuditAction, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Who the caller is, as `GET /whoami` answers.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Whoami {
    /// The user's name.
    pub user: String,
    /// What the user may do.
    pub role: Role,
    /// The user's groups.
    pub groups: Vec<String>,
    /// How the caller was recognised: `token`, `open` (a server with no
    /// users yet, on a loopback address) or `local` (the embedded default,
    /// as the local OS user).
    pub auth: String,
    /// The token the request carried, when it carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<Uuid>,
}

/// A user.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct User {
    /// The unique name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The groups the user belongs to; approval tasks are offered to groups.
    pub groups: Vec<String>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the role or groups last changed.
    pub updated_at: DateTime<Utc>,
}

/// Body of `PATCH /users/{name}`: what to change; absent fields stay.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct UpdateUser {
    /// The new role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The new groups, replacing the old ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// Body of `POST /tokens`: a token for `user`, who is created (with `role`,
/// which is then required) if needed. For an existing user, a `role` or
/// `groups` given replace the user's.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct CreateToken {
    /// The user the token acts as.
    pub user: String,
    /// The user's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The user's groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// A label saying what the token is for (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Days until the token expires: 1 to 3650, or 0 for never (default 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
}

/// Whether a token is still accepted.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatus {
    /// Accepted.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

/// An API token, without its secret.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Token {
    /// The token's public id (the part of the token after `keel_`).
    pub id: Uuid,
    /// The user it acts as.
    pub user: String,
    /// What it is for.
    pub name: String,
    /// Whether it is accepted.
    pub status: TokenStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it expires; never, if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new token: the secret is shown here once and never again.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct CreatedToken {
    /// The whole token, to send as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// The token's record.
    pub info: Token,
    /// The user, as the token acts.
    pub user: User,
}

/// Query of `GET /tokens`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, IntoParams, PartialEq, Eq)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Only this user's tokens.
    pub user: Option<String>,
}

/// One change in the audit log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AuditEntry {
    /// Its place in the log: later changes have larger numbers.
    pub seq: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor: String,
    /// Where it came from: a client's address, `cli@HOST` or `job ID`.
    pub source: String,
    /// What kind of change it was.
    pub action: AuditAction,
    /// The model it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What changed (`fraud:3`, `fraud@champion`, a job id, a user, a token id).
    pub target: String,
    /// The change itself.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// Query of `GET /audit`: every field given must match.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, IntoParams, PartialEq, Eq)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only changes to this model.
    pub model: Option<String>,
    /// Only changes by this user.
    pub actor: Option<String>,
    /// Only this kind of change (`alias.moved`, ...).
    pub action: Option<String>,
    /// Only changes at or after this time: RFC 3339 (`2026-12-01T09:00:00Z`),
    /// a date (`2026-12-01`), or a span back from now (`30m`, `12h`, `7d`).
    pub since: Option<String>,
    /// How many entries to return (1–1000, default 100).
    pub max_results: Option<u32>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Body of `POST /monitors/schedules/{name}/executions`: run the execution
/// for this tick now.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ExecuteMonitor {
    /// The tick (SageMaker's `ScheduledTime`).
    pub scheduled_time: DateTime<Utc>,
}

/// An alert: a monitor's metric out of its constraint.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: Uuid,
    /// The monitoring schedule.
    pub schedule: String,
    /// The metric out of its constraint.
    pub metric: String,
    /// `OPEN`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: keel_types::AlertStatus,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The execution that last found the violation.
    pub last_execution: Uuid,
    /// That execution's words for it.
    pub description: String,
    /// How many executions found it.
    pub occurrences: u64,
    /// Who acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// Who resolved it (`keel` when an execution found the metric back within its constraint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

/// Query of `GET /alerts`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, IntoParams, PartialEq, Eq)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only alerts in this status (`OPEN`, `ACKNOWLEDGED`, `RESOLVED`).
    pub status: Option<String>,
    /// Only this schedule's alerts.
    pub schedule: Option<String>,
    /// How many to return (1–1000, default 100).
    pub max_results: Option<u32>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}
