//! Who is acting, and what they may do: the [`Principal`] every mutating use
//! case takes, API tokens (made here, shown once, stored as a SHA-256), the
//! check of a presented token, users, and reading the audit log.
//!
//! Auth is on as soon as one user exists in the store. Until then a server
//! runs open (the binary allows that on loopback addresses only) and every
//! request acts as the OS user the server runs as; embedded mode always acts
//! as the local OS user, as an admin: whoever can open the data directory can
//! change it anyway.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use keel_api_model as api;
use keel_store::{Actor, AuditFilter, NewToken, TokenRecord, UserChange, UserRecord};
use keel_types::{AuditAction, Permission, Role, TokenId};
use sha2::{Digest, Sha256};

use crate::{Error, Keel, Result};

/// How a token begins, so that it is recognisable in a log or a leak scan.
pub const TOKEN_PREFIX: &str = "keel_";

/// The longest a token may live, in days.
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// How long a token lives unless its creator says otherwise, in days.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;

/// How a principal was recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// By an API token.
    Token(TokenId),
    /// By nothing: a server with no users yet.
    Open,
    /// As the local OS user, in embedded mode.
    Local,
}

/// Who is acting, with the role and groups they act with and where the
/// request came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user's name.
    pub user: String,
    /// What the user may do.
    pub role: Role,
    /// The user's groups.
    pub groups: Vec<String>,
    /// Where the request came from (a client address, `cli@HOST`).
    pub source: String,
    /// How the principal was recognised.
    pub via: Via,
}

impl Principal {
    /// Refuses, naming what was needed and which roles would do, unless the
    /// principal's role grants `p`. `what` says what was asked ("register a model").
    pub fn require(&self, p: Permission, what: &str) -> Result<()> {
        if self.role.allows(p) {
            return Ok(());
        }
        let roles: Vec<&str> = Role::granting(p).iter().map(|r| r.as_str()).collect();
        Err(Error::Forbidden(format!(
            "User '{}' has the role {}, which may not {what}: that needs a role that may {} ({}).",
            self.user,
            self.role,
            p.as_str(),
            roles.join(" or ")
        )))
    }

    /// The principal as the audit log records it.
    pub(crate) fn actor(&self) -> Actor {
        Actor::new(&self.user, &self.source)
    }

    /// The principal on the wire.
    pub fn whoami(&self) -> api::Whoami {
        let (auth, token_id) = match &self.via {
            Via::Token(id) => ("token", Some(id.0)),
            Via::Open => ("open", None),
            Via::Local => ("local", None),
        };
        api::Whoami {
            user: self.user.clone(),
            role: self.role,
            groups: self.groups.clone(),
            auth: auth.into(),
            token_id,
        }
    }
}

/// Whether auth is on, remembered once it is: users are never deleted, so
/// once one exists it stays on.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    on: AtomicBool,
}

impl Keel {
    /// The principal of embedded mode: the local OS user, as an admin,
    /// from this host.
    pub fn local_principal(&self) -> Principal {
        Principal {
            user: self.cfg.local_user.clone(),
            role: Role::Admin,
            groups: Vec::new(),
            source: format!("cli@{}", crate::host_name()),
            via: Via::Local,
        }
    }

    /// Whether requests need a token: true once any user exists.
    pub async fn auth_enabled(&self) -> Result<bool> {
        if self.auth.on.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let on = self.stores.access.any_user().await?;
        if on {
            self.auth.on.store(true, Ordering::Relaxed);
        }
        Ok(on)
    }

    /// Who a request is, from its `Authorization` header (`Bearer TOKEN`)
    /// and the address it came from. With no users yet, every request acts
    /// as the server's OS user, as an admin.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        source: &str,
    ) -> Result<Principal> {
        if !self.auth_enabled().await? {
            return Ok(Principal {
                user: self.cfg.local_user.clone(),
                role: Role::Admin,
                groups: Vec::new(),
                source: source.to_string(),
                via: Via::Open,
            });
        }
        let Some(header) = authorization.map(str::trim).filter(|h| !h.is_empty()) else {
            return Err(Error::Unauthenticated(
                "This Keel requires an API token: send it in the `Authorization` header as `Bearer keel_...`; an admin can create one.".into(),
            ));
        };
        let token = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => {
                return Err(Error::Unauthenticated(
                    "The `Authorization` header must be `Bearer TOKEN`, with a Keel API token."
                        .into(),
                ));
            }
        };
        let (id, secret) = parse_token(token)?;
        let invalid = || {
            Error::Unauthenticated(
                "The API token is not valid: Keel has no such token, or its secret is wrong. Ask an admin for a new one.".into(),
            )
        };
        let Some((record, user)) = self.stores.access.token(id).await? else {
            return Err(invalid());
        };
        if !constant_time_eq(
            hash_secret(secret).as_bytes(),
            record.secret_hash.as_bytes(),
        ) {
            return Err(invalid());
        }
        if let Some(at) = record.revoked_at {
            return Err(Error::Unauthenticated(format!(
                "The API token {id} was revoked at {}; ask an admin for a new one.",
                at.to_rfc3339()
            )));
        }
        if let Some(at) = record.expires_at
            && at <= self.stores.clock.now()
        {
            return Err(Error::Unauthenticated(format!(
                "The API token {id} expired at {}; ask an admin for a new one.",
                at.to_rfc3339()
            )));
        }
        Ok(Principal {
            user: user.name,
            role: user.role,
            groups: user.groups,
            source: source.to_string(),
            via: Via::Token(id),
        })
    }

    /// Creates a token for a user, creating the user first when it does
    /// not exist (which needs `role`), and setting the role and groups given
    /// for one that does. The secret is in the answer only.
    pub async fn create_token(
        &self,
        by: &Principal,
        req: api::CreateToken,
    ) -> Result<api::CreatedToken> {
        by.require(Permission::Admin, "create API tokens")?;
        let actor = by.actor();
        let days = req.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS);
        if days > MAX_TOKEN_DAYS {
            return Err(Error::InvalidArgument(format!(
                "`expires_in_days` must be 0 (never) or 1 to {MAX_TOKEN_DAYS}, not {days}."
            )));
        }
        let access = &self.stores.access;
        let user = match access.user(&req.user).await? {
            Some(_) => {
                let change = UserChange {
                    role: req.role,
                    groups: req.groups.clone(),
                };
                access.update_user(&req.user, &change, &actor).await?
            }
            None => {
                let Some(role) = req.role else {
                    return Err(Error::InvalidArgument(format!(
                        "There is no user '{}' yet; give `role` (viewer, modeler, approver or admin) to create it.",
                        req.user
                    )));
                };
                let groups = req.groups.clone().unwrap_or_default();
                access.create_user(&req.user, role, &groups, &actor).await?
            }
        };
        let id = TokenId::new();
        let secret = new_secret()?;
        let now = self.stores.clock.now();
        let new = NewToken {
            id,
            user: user.name.clone(),
            name: req.name.clone().unwrap_or_else(|| "default".into()),
            secret_hash: hash_secret(&secret),
            expires_at: (days > 0).then(|| now + Duration::days(i64::from(days))),
        };
        let record = access.create_token(&new, &actor).await?;
        self.auth.on.store(true, Ordering::Relaxed);
        Ok(api::CreatedToken {
            token: format!("{TOKEN_PREFIX}{}_{secret}", id.0.simple()),
            info: token_view(&record, now),
            user: user_view(&user),
        })
    }

    /// Every token, or one user's, without secrets.
    pub async fn list_tokens(
        &self,
        by: &Principal,
        q: &api::TokenQuery,
    ) -> Result<Vec<api::Token>> {
        by.require(Permission::Admin, "list API tokens")?;
        let now = self.stores.clock.now();
        let tokens = self.stores.access.list_tokens(q.user.as_deref()).await?;
        Ok(tokens.iter().map(|t| token_view(t, now)).collect())
    }

    /// Revokes a token: requests carrying it are refused from now on.
    pub async fn revoke_token(&self, by: &Principal, id: TokenId) -> Result<api::Token> {
        by.require(Permission::Admin, "revoke API tokens")?;
        let record = self.stores.access.revoke_token(id, &by.actor()).await?;
        Ok(token_view(&record, self.stores.clock.now()))
    }

    /// Every user.
    pub async fn list_users(&self, by: &Principal) -> Result<Vec<api::User>> {
        by.require(Permission::Admin, "list users")?;
        let users = self.stores.access.list_users().await?;
        Ok(users.iter().map(user_view).collect())
    }

    /// One user.
    pub async fn user(&self, by: &Principal, name: &str) -> Result<api::User> {
        if by.user != name {
            by.require(Permission::Admin, "read other users")?;
        }
        match self.stores.access.user(name).await? {
            Some(u) => Ok(user_view(&u)),
            None => Err(Error::NotFound(format!("There is no user '{name}'."))),
        }
    }

    /// Changes a user's role or groups.
    pub async fn update_user(
        &self,
        by: &Principal,
        name: &str,
        change: api::UpdateUser,
    ) -> Result<api::User> {
        by.require(Permission::Admin, "change users")?;
        let change = UserChange {
            role: change.role,
            groups: change.groups,
        };
        let user = self
            .stores
            .access
            .update_user(name, &change, &by.actor())
            .await?;
        Ok(user_view(&user))
    }

    /// The audit log, newest first, filtered as `q` says.
    pub async fn audit(
        &self,
        by: &Principal,
        q: &api::AuditQuery,
    ) -> Result<api::Page<api::AuditEntry>> {
        by.require(Permission::Admin, "read the audit log")?;
        let now = self.stores.clock.now();
        let action = q
            .action
            .as_deref()
            .map(|a| {
                a.parse::<AuditAction>()
                    .map_err(|e| Error::InvalidArgument(format!("`action`: {e}.")))
            })
            .transpose()?;
        let filter = AuditFilter {
            model: q.model.clone(),
            actor: q.actor.clone(),
            action,
            since: q.since.as_deref().map(|s| since(s, now)).transpose()?,
        };
        let page = crate::registry::page(&api::PageQuery {
            max_results: q.max_results,
            page_token: q.page_token.clone(),
        })?;
        let got = self.stores.audit.list_audit(&filter, &page).await?;
        Ok(api::Page {
            items: got
                .items
                .into_iter()
                .map(|r| api::AuditEntry {
                    seq: r.seq,
                    at: r.at,
                    actor: r.actor,
                    source: r.source,
                    action: r.action,
                    model: r.model,
                    target: r.target,
                    details: r.details,
                })
                .collect(),
            next_page_token: got.next_cursor,
        })
    }
}

/// Splits a presented token into its id and secret.
fn parse_token(token: &str) -> Result<(TokenId, &str)> {
    let bad = || {
        Error::Unauthenticated(
            "The `Authorization` header does not carry a Keel API token: they look like keel_ followed by 32 and 64 hexadecimal digits, separated by _.".into(),
        )
    };
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let (id, secret) = rest.split_once('_').ok_or_else(bad)?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(id, 32) || !hex(secret, 64) {
        return Err(bad());
    }
    let id = id.parse::<TokenId>().map_err(|_| bad())?;
    Ok((id, secret))
}

/// 32 random bytes from the operating system, as 64 hexadecimal digits.
fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Internal(format!("the OS gave no random bytes for a token: {e}")))?;
    Ok(hex::encode(bytes))
}

/// What the store keeps of a secret. The secret is 256 random bits, so a
/// plain SHA-256 cannot be reversed or guessed; a slow password hash would
/// only slow every request down.
fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.to_ascii_lowercase().as_bytes()))
}

/// Compares two hashes in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The start of an audit query's time span: RFC 3339, a date (midnight UTC),
/// or a span back from `now` (`30m`, `12h`, `7d`, `2w`).
fn since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    let bad = || {
        Error::InvalidArgument(format!(
            "`since` must be a time (2026-12-01T09:00:00Z), a date (2026-12-01) or a span back from now (30m, 12h, 7d, 2w), not '{s}'."
        ))
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let span = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    now.checked_sub_signed(span).ok_or_else(bad)
}

fn user_view(u: &UserRecord) -> api::User {
    api::User {
        name: u.name.clone(),
        role: u.role,
        groups: u.groups.clone(),
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

fn token_view(t: &TokenRecord, now: DateTime<Utc>) -> api::Token {
    let status = if t.revoked_at.is_some() {
        api::TokenStatus::Revoked
    } else if t.expires_at.is_some_and(|at| at <= now) {
        api::TokenStatus::Expired
    } else {
        api::TokenStatus::Active
    };
    api::Token {
        id: t.id.0,
        user: t.user.clone(),
        name: t.name.clone(),
        status,
        created_at: t.created_at,
        created_by: t.created_by.clone(),
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_one_shape() {
        let id = TokenId::new();
        let secret = "a".repeat(64);
        let good = format!("keel_{}_{secret}", id.0.simple());
        assert_eq!(parse_token(&good).unwrap(), (id, secret.as_str()));
        for bad in [
            "".to_string(),
            "keel_".to_string(),
            format!("kee1_{}_{secret}", id.0.simple()),
            format!("keel_{}_{}", id.0.simple(), "a".repeat(63)),
            format!("keel_{}_{}", id.0.simple(), "g".repeat(64)),
            format!("keel_{}_{secret}", id),
            format!("keel_{}{secret}", id.0.simple()),
        ] {
            let e = parse_token(&bad).unwrap_err();
            assert!(matches!(e, Error::Unauthenticated(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn since_reads_times_dates_and_spans() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| since(s, now).unwrap().to_rfc3339();
        assert_eq!(at("2026-12-01T09:00:00Z"), "2026-12-01T09:00:00+00:00");
        assert_eq!(at("2026-12-01"), "2026-12-01T00:00:00+00:00");
        assert_eq!(at("30m"), "2026-12-04T11:30:00+00:00");
        assert_eq!(at("12h"), "2026-12-04T00:00:00+00:00");
        assert_eq!(at("7d"), "2026-11-27T12:00:00+00:00");
        assert_eq!(at("1w"), "2026-11-27T12:00:00+00:00");
        for bad in ["", "d", "7y", "-1d", "yesterday", "99999999999999999w"] {
            let e = since(bad, now).unwrap_err().to_string();
            assert!(e.contains("`since`"), "{bad}: {e}");
        }
    }

    #[test]
    fn hashes_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
