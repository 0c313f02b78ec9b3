//! Users, tokens and the audit log in SQL, the same on SQLite and
//! PostgreSQL, and [`audit!`], the one statement by which every change of
//! every aggregate records itself in the transaction that makes it.

use super::Columns;
use super::rows::{parse_enum, parse_id, parse_json, parse_opt_ts, parse_ts};
use crate::access::{AuditRecord, TokenRecord, UserRecord};
use crate::error::Result;

pub(crate) fn user_from_row(r: &impl Columns) -> Result<UserRecord> {
    Ok(UserRecord {
        id: parse_id(&r.text("id")?, "users.id")?,
        name: r.text("name")?,
        role: parse_enum(&r.text("role")?, "users.role")?,
        groups: parse_json(&r.text("groups")?, "users.groups")?,
        created_at: parse_ts(&r.text("created_at")?, "users.created_at")?,
        updated_at: parse_ts(&r.text("updated_at")?, "users.updated_at")?,
    })
}

/// A token's columns with its user's name, for [`token_from_row`].
macro_rules! token_select {
    () => {
        "SELECT t.id, u.name AS user_name, t.name, t.secret_hash, t.created_at, t.created_by, \
         t.expires_at, t.revoked_at FROM tokens t JOIN users u ON u.id = t.user_id "
    };
}
pub(crate) use token_select;

pub(crate) fn token_from_row(r: &impl Columns) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: parse_id(&r.text("id")?, "tokens.id")?,
        user: r.text("user_name")?,
        name: r.text("name")?,
        secret_hash: r.text("secret_hash")?,
        created_at: parse_ts(&r.text("created_at")?, "tokens.created_at")?,
        created_by: r.text("created_by")?,
        expires_at: parse_opt_ts(r.opt_text("expires_at")?, "tokens.expires_at")?,
        revoked_at: parse_opt_ts(r.opt_text("revoked_at")?, "tokens.revoked_at")?,
    })
}

pub(crate) fn audit_from_row(r: &impl Columns) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.int("seq")?,
        at: parse_ts(&r.text("at")?, "audit.at")?,
        actor: r.text("actor")?,
        source: r.text("source")?,
        action: parse_enum(&r.text("action")?, "audit.action")?,
        model: r.opt_text("model")?,
        target: r.text("target")?,
        details: parse_json(&r.text("details")?, "audit.details")?,
    })
}

/// Records a change in the audit log, inside the transaction `$tx` that
/// makes it, so a change and its record commit or roll back together:
/// `$by` (an `Actor`) did `$action` (an `AuditAction`) at `$at` to `$target`
/// (text) of model `$model` (an `Option<&str>`), and `$details` (a
/// `serde_json::Value` object) says what changed.
macro_rules! audit {
    ($tx:expr, $at:expr, $by:expr, $action:expr, $model:expr, $target:expr, $details:expr) => {
        sqlx::query(
            "INSERT INTO audit (at, actor, source, action, model, target, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($crate::sql::rows::ts($at))
        .bind(&$by.user)
        .bind(&$by.source)
        .bind($action.as_str())
        .bind($model)
        .bind($target)
        .bind($details.to_string())
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use audit;

/// Implements [`crate::AccessStore`] and [`crate::AuditLog`] for `$store`,
/// a backend store with a `pool`, a `now()` and a `BEGIN_WRITE` statement.
macro_rules! access_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use keel_types::{AuditAction, Role, TokenId, UserId};
            use serde_json::json;
            use $crate::access::{
                AccessStore, AuditFilter, AuditLog, AuditRecord, NewToken, TokenRecord,
                UserChange, UserRecord,
            };
            use $crate::error::{Error, Result};
            use $crate::page::{Page, Paged, decode_cursor, paginate};
            use $crate::records::Actor;
            use $crate::sql::access::{audit, audit_from_row, token_from_row, user_from_row};
            use $crate::sql::rows::{check_name, to_json, ts, unique};

            macro_rules! user_select {
                ($rest:literal) => {
                    concat!("SELECT id, name, role, groups, created_at, updated_at FROM users ", $rest)
                };
            }

            #[async_trait]
            impl AccessStore for $store {
                async fn any_user(&self) -> Result<bool> {
                    let found: Option<String> = sqlx::query_scalar("SELECT id FROM users LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(found.is_some())
                }

                async fn create_user(
                    &self,
                    name: &str,
                    role: Role,
                    groups: &[String],
                    by: &Actor,
                ) -> Result<UserRecord> {
                    check_name(name, "user name")?;
                    for g in groups {
                        check_name(g, "group name")?;
                    }
                    let now = self.now();
                    let user = UserRecord {
                        id: UserId::new(),
                        name: name.to_string(),
                        role,
                        groups: groups.to_vec(),
                        created_at: now,
                        updated_at: now,
                    };
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO users (id, name, role, groups, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(user.id.to_string())
                    .bind(name)
                    .bind(role.as_str())
                    .bind(to_json(&user.groups, "group list")?)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await;
                    unique(inserted, || format!("A user named '{name}'"))?;
                    audit!(
                        tx,
                        now,
                        by,
                        AuditAction::UserCreated,
                        None::<&str>,
                        name,
                        json!({ "role": role, "groups": groups })
                    );
                    tx.commit().await?;
                    Ok(user)
                }

                async fn update_user(
                    &self,
                    name: &str,
                    change: &UserChange,
                    by: &Actor,
                ) -> Result<UserRecord> {
                    if let Some(groups) = &change.groups {
                        for g in groups {
                            check_name(g, "group name")?;
                        }
                    }
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    // Locking the row first: two admins changing one user take turns,
                    // and each audit row's `from` is what the other left.
                    sqlx::query("UPDATE users SET name = name WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    let row = sqlx::query(user_select!("WHERE name = $1"))
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else {
                        return Err(Error::NotFound(format!("The user '{name}'")));
                    };
                    let old = user_from_row(&row)?;
                    let mut new = old.clone();
                    let mut details = serde_json::Map::new();
                    if let Some(role) = change.role.filter(|r| *r != old.role) {
                        details.insert("role".into(), json!({ "from": old.role, "to": role }));
                        new.role = role;
                    }
                    if let Some(groups) = change.groups.as_ref().filter(|g| **g != old.groups) {
                        details.insert(
                            "groups".into(),
                            json!({ "from": old.groups, "to": groups }),
                        );
                        new.groups = groups.clone();
                    }
                    if details.is_empty() {
                        tx.rollback().await?;
                        return Ok(old);
                    }
                    new.updated_at = now;
                    sqlx::query("UPDATE users SET role = $1, groups = $2, updated_at = $3 WHERE id = $4")
                        .bind(new.role.as_str())
                        .bind(to_json(&new.groups, "group list")?)
                        .bind(ts(now))
                        .bind(new.id.to_string())
                        .execute(&mut *tx)
                        .await?;
                    audit!(
                        tx,
                        now,
                        by,
                        AuditAction::UserChanged,
                        None::<&str>,
                        name,
                        serde_json::Value::Object(details)
                    );
                    tx.commit().await?;
                    Ok(new)
                }

                async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
                    let row = sqlx::query(user_select!("WHERE name = $1"))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(user_from_row).transpose()
                }

                async fn list_users(&self) -> Result<Vec<UserRecord>> {
                    let rows = sqlx::query(user_select!("ORDER BY name"))
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(user_from_row).collect()
                }

                async fn create_token(&self, new: &NewToken, by: &Actor) -> Result<TokenRecord> {
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let user_id: Option<String> =
                        sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
                            .bind(&new.user)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some(user_id) = user_id else {
                        return Err(Error::NotFound(format!("The user '{}'", new.user)));
                    };
                    sqlx::query(
                        "INSERT INTO tokens (id, user_id, name, secret_hash, created_at, created_by, \
                         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(new.id.to_string())
                    .bind(user_id)
                    .bind(&new.name)
                    .bind(&new.secret_hash)
                    .bind(ts(now))
                    .bind(&by.user)
                    .bind(new.expires_at.map(ts))
                    .execute(&mut *tx)
                    .await?;
                    audit!(
                        tx,
                        now,
                        by,
                        AuditAction::TokenCreated,
                        None::<&str>,
                        new.id.to_string(),
                        json!({ "user": new.user, "name": new.name, "expires_at": new.expires_at })
                    );
                    tx.commit().await?;
                    Ok(TokenRecord {
                        id: new.id,
                        user: new.user.clone(),
                        name: new.name.clone(),
                        secret_hash: new.secret_hash.clone(),
                        created_at: now,
                        created_by: by.user.clone(),
                        expires_at: new.expires_at,
                        revoked_at: None,
                    })
                }

                async fn token(&self, id: TokenId) -> Result<Option<(TokenRecord, UserRecord)>> {
                    let row = sqlx::query(concat!(
                        $crate::sql::access::token_select!(),
                        "WHERE t.id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let token = token_from_row(&row)?;
                    let Some(user) = self.user(&token.user).await? else {
                        return Ok(None);
                    };
                    Ok(Some((token, user)))
                }

                async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>> {
                    let rows = sqlx::query(concat!(
                        $crate::sql::access::token_select!(),
                        "WHERE ($1 = '' OR u.name = $1) ORDER BY t.id"
                    ))
                    .bind(user.unwrap_or(""))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(token_from_row).collect()
                }

                async fn revoke_token(&self, id: TokenId, by: &Actor) -> Result<TokenRecord> {
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let revoked = sqlx::query(
                        "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(ts(now))
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                    let row = sqlx::query(concat!(
                        $crate::sql::access::token_select!(),
                        "WHERE t.id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Err(Error::NotFound(format!("The token {id}")));
                    };
                    let token = token_from_row(&row)?;
                    if revoked.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(token);
                    }
                    audit!(
                        tx,
                        now,
                        by,
                        AuditAction::TokenRevoked,
                        None::<&str>,
                        id.to_string(),
                        json!({ "user": token.user, "name": token.name })
                    );
                    tx.commit().await?;
                    Ok(token)
                }
            }

            #[async_trait]
            impl AuditLog for $store {
                async fn list_audit(
                    &self,
                    filter: &AuditFilter,
                    page: &Page,
                ) -> Result<Paged<AuditRecord>> {
                    let before: i64 = match &page.after {
                        Some(c) => decode_cursor("audit", c)?.parse().map_err(|_| {
                            Error::InvalidArgument(format!(
                                "The page cursor '{c}' is not valid for listing the audit log; pass the next_cursor of the previous page."
                            ))
                        })?,
                        None => i64::MAX,
                    };
                    let limit = page.effective_limit();
                    let rows = sqlx::query(
                        "SELECT seq, at, actor, source, action, model, target, details FROM audit \
                         WHERE seq < $1 AND ($2 = '' OR model = $2) AND ($3 = '' OR actor = $3) \
                         AND ($4 = '' OR action = $4) AND at >= $5 ORDER BY seq DESC LIMIT $6",
                    )
                    .bind(before)
                    .bind(filter.model.as_deref().unwrap_or(""))
                    .bind(filter.actor.as_deref().unwrap_or(""))
                    .bind(filter.action.map(|a| a.as_str()).unwrap_or(""))
                    .bind(filter.since.map(ts).unwrap_or_default())
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows
                        .iter()
                        .map(audit_from_row)
                        .collect::<Result<Vec<_>>>()?;
                    Ok(paginate(items, limit, "audit", |a| a.seq.to_string()))
                }
            }
        };
    };
}
pub(crate) use access_store;
