//! The registry in SQL, the same on SQLite and PostgreSQL: models, versions,
//! aliases and their history.

use super::Columns;
use super::rows::{parse_id, parse_json, parse_ts, to_u32};
use crate::error::Result;
use crate::formats::decode;
use crate::records::{AliasEvent, AliasRecord, ModelRecord, VersionRecord};

pub(crate) fn model_from_row(r: &impl Columns) -> Result<ModelRecord> {
    Ok(ModelRecord {
        id: parse_id(&r.text("id")?, "models.id")?,
        name: r.text("name")?,
        created_at: parse_ts(&r.text("created_at")?, "models.created_at")?,
        latest_version: to_u32(r.int("latest_version")?, "models.latest_version")?,
    })
}

/// The columns of a version joined with its model's name; the `WHERE` clause
/// is appended with `concat!` so every query stays a static string.
macro_rules! version_select {
    () => {
        "SELECT v.id, v.model_id, m.name AS model_name, v.number, v.created_at, v.content_hash, \
         v.definition, v.files, v.source_job, v.origin FROM versions v \
         JOIN models m ON m.id = v.model_id "
    };
}
pub(crate) use version_select;

pub(crate) fn version_from_row(r: &impl Columns) -> Result<VersionRecord> {
    Ok(VersionRecord {
        id: parse_id(&r.text("id")?, "versions.id")?,
        model_id: parse_id(&r.text("model_id")?, "versions.model_id")?,
        model_name: r.text("model_name")?,
        number: to_u32(r.int("number")?, "versions.number")?,
        created_at: parse_ts(&r.text("created_at")?, "versions.created_at")?,
        content_hash: r.text("content_hash")?,
        definition: decode(&r.text("definition")?, "versions.definition")?,
        files: parse_json(&r.text("files")?, "versions.files")?,
        source_job: r
            .opt_text("source_job")?
            .map(|s| parse_id(&s, "versions.source_job"))
            .transpose()?,
        origin: r
            .opt_text("origin")?
            .map(|s| decode(&s, "versions.origin"))
            .transpose()?,
    })
}

macro_rules! alias_select {
    () => {
        "SELECT a.model_id, a.alias, a.version_id, v.number, a.updated_at \
         FROM aliases a JOIN versions v ON v.id = a.version_id "
    };
}
pub(crate) use alias_select;

/// Locks a model's row until the transaction ends, so that moves of one
/// model's aliases take turns and the history's versions always chain. It
/// changes nothing; on SQLite the write transaction already excludes every
/// other writer, on PostgreSQL this is the lock.
/// It answers the model's name, for the audit log.
pub(crate) const LOCK_MODEL: &str =
    "UPDATE models SET latest_version = latest_version WHERE id = $1 RETURNING name";

pub(crate) fn alias_from_row(r: &impl Columns) -> Result<AliasRecord> {
    Ok(AliasRecord {
        model_id: parse_id(&r.text("model_id")?, "aliases.model_id")?,
        alias: r.text("alias")?,
        version_id: parse_id(&r.text("version_id")?, "aliases.version_id")?,
        version_number: to_u32(r.int("number")?, "versions.number")?,
        updated_at: parse_ts(&r.text("updated_at")?, "aliases.updated_at")?,
    })
}

pub(crate) fn alias_event_from_row(r: &impl Columns) -> Result<AliasEvent> {
    let version =
        |col: &str| -> Result<Option<u32>> { r.opt_int(col)?.map(|v| to_u32(v, col)).transpose() };
    Ok(AliasEvent {
        model_id: parse_id(&r.text("model_id")?, "alias_events.model_id")?,
        alias: r.text("alias")?,
        from_version: version("from_version")?,
        to_version: version("to_version")?,
        at: parse_ts(&r.text("at")?, "alias_events.at")?,
    })
}

/// Implements [`RegistryStore`] for `$store`, a backend store with a `pool`, a `now()`
macro_rules! registry_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use keel_types::{ModelId, VersionId};
            use sqlx::Row;
            use $crate::error::{Error, Result};
            use $crate::formats::encode;
            use $crate::page::{Page, Paged, decode_cursor, paginate};
            use keel_types::AuditAction;
            use serde_json::json;
            use $crate::records::{Actor, AliasEvent, AliasRecord, ModelRecord, NewVersion, VersionRecord};
            use $crate::sql::access::audit;
            use $crate::registry::RegistryStore;
            use $crate::sql::registry::{LOCK_MODEL, alias_event_from_row, alias_from_row, model_from_row, version_from_row};
            use $crate::sql::rows::{check_name, parse_id, to_json, to_u32, ts, unique};
            #[async_trait]
            impl RegistryStore for $store {
                async fn create_model(&self, name: &str, by: &Actor) -> Result<ModelRecord> {
                    check_name(name, "model name")?;
                    let record = ModelRecord {
                        id: ModelId::new(),
                        name: name.to_string(),
                        created_at: self.now(),
                        latest_version: 0,
                    };
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO models (id, name, created_at, latest_version) VALUES ($1, $2, $3, 0)",
                    )
                    .bind(record.id.to_string())
                    .bind(name)
                    .bind(ts(record.created_at))
                    .execute(&mut *tx)
                    .await;
                    unique(inserted, || format!("A model named '{name}'"))?;
                    audit!(tx, record.created_at, by, AuditAction::ModelCreated, Some(name), name, json!({}));
                    tx.commit().await?;
                    Ok(record)
                }

                async fn model_by_name(&self, name: &str) -> Result<Option<ModelRecord>> {
                    let row =
                        sqlx::query("SELECT id, name, created_at, latest_version FROM models WHERE name = $1")
                            .bind(name)
                            .fetch_optional(&self.pool)
                            .await?;
                    row.as_ref().map(model_from_row).transpose()
                }

                async fn model_by_id(&self, id: ModelId) -> Result<Option<ModelRecord>> {
                    let row =
                        sqlx::query("SELECT id, name, created_at, latest_version FROM models WHERE id = $1")
                            .bind(id.to_string())
                            .fetch_optional(&self.pool)
                            .await?;
                    row.as_ref().map(model_from_row).transpose()
                }

                async fn list_models(&self, page: &Page) -> Result<Paged<ModelRecord>> {
                    let after = match &page.after {
                        Some(c) => decode_cursor("models", c)?,
                        None => String::new(),
                    };
                    let limit = page.effective_limit();
                    let rows = sqlx::query(
                        "SELECT id, name, created_at, latest_version FROM models \
                         WHERE name > $1 ORDER BY name LIMIT $2",
                    )
                    .bind(after)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows
                        .iter()
                        .map(model_from_row)
                        .collect::<Result<Vec<_>>>()?;
                    Ok(paginate(items, limit, "models", |m| m.name.clone()))
                }

                async fn create_version(&self, new: &NewVersion, by: &Actor) -> Result<VersionRecord> {
                    let NewVersion {
                        model_id,
                        content_hash,
                        definition,
                        files,
                        source_job,
                        origin,
                    } = new;
                    let (model_id, source_job) = (*model_id, *source_job);
                    let definition_json = encode(definition)?;
                    let origin_json = origin.as_ref().map(encode).transpose()?;
                    let files_json = to_json(&files, "file list")?;
                    let id = VersionId::new();
                    let created_at = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    // Bumping the counter and inserting in one write transaction makes
                    // numbering atomic: concurrent registrations get consecutive numbers.
                    let bumped = sqlx::query(
                        "UPDATE models SET latest_version = latest_version + 1 WHERE id = $1 \
                         RETURNING latest_version, name",
                    )
                    .bind(model_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(bumped) = bumped else {
                        return Err(Error::NotFound(format!("The model {model_id}")));
                    };
                    let number = to_u32(bumped.try_get("latest_version")?, "models.latest_version")?;
                    let model_name: String = bumped.try_get("name")?;
                    sqlx::query(
                        "INSERT INTO versions (id, model_id, number, created_at, content_hash, definition, \
                         files, source_job, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(id.to_string())
                    .bind(model_id.to_string())
                    .bind(i64::from(number))
                    .bind(ts(created_at))
                    .bind(content_hash)
                    .bind(definition_json)
                    .bind(files_json)
                    .bind(source_job.map(|j| j.to_string()))
                    .bind(origin_json)
                    .execute(&mut *tx)
                    .await?;
                    audit!(
                        tx,
                        created_at,
                        by,
                        AuditAction::VersionRegistered,
                        Some(model_name.as_str()),
                        format!("{model_name}:{number}"),
                        json!({
                            "version": number,
                            "content_hash": content_hash,
                            "source_job": source_job,
                            "origin": origin,
                        })
                    );
                    tx.commit().await?;
                    Ok(VersionRecord {
                        id,
                        model_id,
                        model_name,
                        number,
                        created_at,
                        content_hash: content_hash.clone(),
                        definition: definition.clone(),
                        files: files.clone(),
                        source_job,
                        origin: origin.clone(),
                    })
                }

                async fn version_by_hash(
                    &self,
                    model_id: ModelId,
                    content_hash: &str,
                ) -> Result<Option<VersionRecord>> {
                    let row = sqlx::query(concat!(
                        $crate::sql::registry::version_select!(),
                        "WHERE v.model_id = $1 AND v.content_hash = $2 ORDER BY v.number DESC LIMIT 1"
                    ))
                    .bind(model_id.to_string())
                    .bind(content_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(version_from_row).transpose()
                }

                async fn version_by_id(&self, id: VersionId) -> Result<Option<VersionRecord>> {
                    let row = sqlx::query(concat!($crate::sql::registry::version_select!(), "WHERE v.id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(version_from_row).transpose()
                }

                async fn version_by_number(
                    &self,
                    model_id: ModelId,
                    number: u32,
                ) -> Result<Option<VersionRecord>> {
                    let row = sqlx::query(concat!(
                        $crate::sql::registry::version_select!(),
                        "WHERE v.model_id = $1 AND v.number = $2"
                    ))
                    .bind(model_id.to_string())
                    .bind(i64::from(number))
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(version_from_row).transpose()
                }

                async fn latest_version(&self, model_id: ModelId) -> Result<Option<VersionRecord>> {
                    let row = sqlx::query(concat!(
                        $crate::sql::registry::version_select!(),
                        "WHERE v.model_id = $1 ORDER BY v.number DESC LIMIT 1"
                    ))
                    .bind(model_id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(version_from_row).transpose()
                }

                async fn list_versions(&self, model_id: ModelId, page: &Page) -> Result<Paged<VersionRecord>> {
                    let after: i64 = match &page.after {
                        Some(c) => {
                            let key = decode_cursor("versions", c)?;
                            key.parse().map_err(|_| {
                                Error::InvalidArgument(format!(
                                    "The page cursor '{c}' is not valid for listing versions; pass the next_cursor of the previous page."
                                ))
                            })?
                        }
                        None => 0,
                    };
                    let limit = page.effective_limit();
                    let rows = sqlx::query(concat!(
                        $crate::sql::registry::version_select!(),
                        "WHERE v.model_id = $1 AND v.number > $2 ORDER BY v.number LIMIT $3"
                    ))
                    .bind(model_id.to_string())
                    .bind(after)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows
                        .iter()
                        .map(version_from_row)
                        .collect::<Result<Vec<_>>>()?;
                    Ok(paginate(items, limit, "versions", |v| v.number.to_string()))
                }

                async fn set_alias(
                    &self,
                    model_id: ModelId,
                    alias: &str,
                    version_id: VersionId,
                    by: &Actor,
                ) -> Result<AliasEvent> {
                    check_name(alias, "alias")?;
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let model_name: Option<String> = sqlx::query_scalar(LOCK_MODEL)
                        .bind(model_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(model_name) = model_name else {
                        return Err(Error::NotFound(format!("The model {model_id}")));
                    };
                    let target = sqlx::query("SELECT model_id, number FROM versions WHERE id = $1")
                        .bind(version_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(target) = target else {
                        return Err(Error::NotFound(format!("The version {version_id}")));
                    };
                    let owner: ModelId = parse_id(
                        &target.try_get::<String, _>("model_id")?,
                        "versions.model_id",
                    )?;
                    if owner != model_id {
                        return Err(Error::InvalidArgument(format!(
                            "Version {version_id} belongs to model {owner}, not to model {model_id}; an alias can only point to a version of its own model."
                        )));
                    }
                    let to = to_u32(target.try_get("number")?, "versions.number")?;
                    let from: Option<i64> = sqlx::query_scalar(
                        "SELECT v.number FROM aliases a JOIN versions v ON v.id = a.version_id \
                         WHERE a.model_id = $1 AND a.alias = $2",
                    )
                    .bind(model_id.to_string())
                    .bind(alias)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let from = from.map(|n| to_u32(n, "versions.number")).transpose()?;
                    let event = AliasEvent {
                        model_id,
                        alias: alias.to_string(),
                        from_version: from,
                        to_version: Some(to),
                        at: now,
                    };
                    if from == Some(to) {
                        // Nothing moves, so history stays free of no-op entries.
                        tx.rollback().await?;
                        return Ok(event);
                    }
                    sqlx::query(
                        "INSERT INTO aliases (model_id, alias, version_id, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (model_id, alias) DO UPDATE \
                         SET version_id = excluded.version_id, updated_at = excluded.updated_at",
                    )
                    .bind(model_id.to_string())
                    .bind(alias)
                    .bind(version_id.to_string())
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO alias_events (model_id, alias, from_version, to_version, at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(model_id.to_string())
                    .bind(alias)
                    .bind(from.map(i64::from))
                    .bind(i64::from(to))
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                    audit!(
                        tx,
                        now,
                        by,
                        AuditAction::AliasMoved,
                        Some(model_name.as_str()),
                        format!("{model_name}@{alias}"),
                        json!({ "alias": alias, "from": from, "to": to })
                    );
                    tx.commit().await?;
                    Ok(event)
                }

                async fn alias(&self, model_id: ModelId, alias: &str) -> Result<Option<AliasRecord>> {
                    let row = sqlx::query(concat!(
                        $crate::sql::registry::alias_select!(),
                        "WHERE a.model_id = $1 AND a.alias = $2"
                    ))
                    .bind(model_id.to_string())
                    .bind(alias)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(alias_from_row).transpose()
                }

                async fn list_aliases(&self, model_id: ModelId) -> Result<Vec<AliasRecord>> {
                    let rows = sqlx::query(concat!(
                        $crate::sql::registry::alias_select!(),
                        "WHERE a.model_id = $1 ORDER BY a.alias"
                    ))
                    .bind(model_id.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(alias_from_row).collect()
                }

                async fn delete_alias(&self, model_id: ModelId, alias: &str, by: &Actor) -> Result<bool> {
                    let now = self.now();
                    let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                    let model_name: Option<String> = sqlx::query_scalar(LOCK_MODEL)
                        .bind(model_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(model_name) = model_name else {
                        tx.rollback().await?;
                        return Ok(false);
                    };
                    let from: Option<i64> = sqlx::query_scalar(
                        "SELECT v.number FROM aliases a JOIN versions v ON v.id = a.version_id \
                         WHERE a.model_id = $1 AND a.alias = $2",
                    )
                    .bind(model_id.to_string())
                    .bind(alias)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(from) = from else {
                        tx.rollback().await?;
                        return Ok(false);
                    };
                    sqlx::query("DELETE FROM aliases WHERE model_id = $1 AND alias = $2")
                        .bind(model_id.to_string())
                        .bind(alias)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO alias_events (model_id, alias, from_version, to_version, at) \
                         VALUES ($1, $2, $3, NULL, $4)",
                    )
                    .bind(model_id.to_string())
                    .bind(alias)
                    .bind(from)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                    audit!(
                        tx,
                        now,
                        by,
                        AuditAction::AliasDeleted,
                        Some(model_name.as_str()),
                        format!("{model_name}@{alias}"),
                        json!({ "alias": alias, "from": from })
                    );
                    tx.commit().await?;
                    Ok(true)
                }

                async fn alias_history(&self, model_id: ModelId) -> Result<Vec<AliasEvent>> {
                    let rows = sqlx::query(
                        "SELECT model_id, alias, from_version, to_version, at FROM alias_events \
                         WHERE model_id = $1 ORDER BY seq",
                    )
                    .bind(model_id.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(alias_event_from_row).collect()
                }
            }
        };
    };
}
pub(crate) use registry_store;
