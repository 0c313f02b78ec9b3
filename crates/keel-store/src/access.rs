//! The access aggregate: users, their API tokens, and the audit log every
//! other aggregate writes into. A token's secret never reaches the store:
//! only its SHA-256, which the control plane checks a presented token against.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_types::{AuditAction, Role, TokenId, UserId};

use crate::error::Result;
use crate::page::{Page, Paged};
use crate::records::Actor;

/// A person (or a service) that acts on Keel with a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// The user's id.
    pub id: UserId,
    /// The unique name users and tokens are known by.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The groups the user belongs to (approval tasks are offered to groups).
    pub groups: Vec<String>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the role or groups last changed.
    pub updated_at: DateTime<Utc>,
}

/// A change to a user; `None` keeps what is there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    /// The new role.
    pub role: Option<Role>,
    /// The new groups, replacing the old ones.
    pub groups: Option<Vec<String>>,
}

/// A token to create: its id and the hash of its secret are chosen by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    /// The token's public id.
    pub id: TokenId,
    /// The user it acts as.
    pub user: String,
    /// A label saying what it is for.
    pub name: String,
    /// The lowercase hex SHA-256 of the secret.
    pub secret_hash: String,
    /// When it stops being accepted; never, if `None`.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API token, without its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token's public id.
    pub id: TokenId,
    /// The user it acts as.
    pub user: String,
    /// A label saying what it is for.
    pub name: String,
    /// The lowercase hex SHA-256 of the secret.
    pub secret_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it stops being accepted.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One change, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Its place in the log: later changes have larger numbers.
    pub seq: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor: String,
    /// Where it came from.
    pub source: String,
    /// What kind of change it was.
    pub action: AuditAction,
    /// The model it concerns, if any.
    pub model: Option<String>,
    /// What changed: `fraud:3`, `fraud@champion`, a job, token or user.
    pub target: String,
    /// The change itself, as a JSON object (`{"from": 1, "to": 2}`).
    pub details: serde_json::Value,
}

/// Which audit records to list; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only changes to this model.
    pub model: Option<String>,
    /// Only changes by this user.
    pub actor: Option<String>,
    /// Only this kind of change.
    pub action: Option<AuditAction>,
    /// Only changes made at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Users and their tokens.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Whether any user exists; a server requires tokens once one does.
    async fn any_user(&self) -> Result<bool>;
    /// Creates a user; `AlreadyExists` if the name is taken.
    async fn create_user(
        &self,
        name: &str,
        role: Role,
        groups: &[String],
        by: &Actor,
    ) -> Result<UserRecord>;
    /// Changes a user's role or groups; a change to nothing records nothing.
    async fn update_user(&self, name: &str, change: &UserChange, by: &Actor) -> Result<UserRecord>;
    /// The user named `name`.
    async fn user(&self, name: &str) -> Result<Option<UserRecord>>;
    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
    /// Stores a token for an existing user.
    async fn create_token(&self, new: &NewToken, by: &Actor) -> Result<TokenRecord>;
    /// A token and the user it acts as.
    async fn token(&self, id: TokenId) -> Result<Option<(TokenRecord, UserRecord)>>;
    /// Every token, or one user's, oldest first.
    async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// Revokes a token; revoking it again changes nothing.
    async fn revoke_token(&self, id: TokenId, by: &Actor) -> Result<TokenRecord>;
}

/// The audit log, newest first. It is written by the other stores, in the
/// transactions of the changes it records.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// The changes `filter` selects, newest first.
    async fn list_audit(&self, filter: &AuditFilter, page: &Page) -> Result<Paged<AuditRecord>>;
}
