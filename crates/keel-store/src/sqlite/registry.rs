//! The registry aggregate on SQLite: models, versions, aliases and their history.

use async_trait::async_trait;
use keel_types::{ModelId, VersionId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::rows::{
    check_name, is_unique_violation, parse_id, parse_json, parse_ts, to_json, to_u32, ts,
};
use crate::error::{Error, Result};
use crate::formats::{decode, encode};
use crate::page::{Page, Paged, decode_cursor, paginate};
use crate::records::{AliasEvent, AliasRecord, ModelRecord, NewVersion, VersionRecord};
use crate::registry::RegistryStore;

fn model_from_row(r: &SqliteRow) -> Result<ModelRecord> {
    Ok(ModelRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "models.id")?,
        name: r.try_get("name")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?, "models.created_at")?,
        latest_version: to_u32(r.try_get("latest_version")?, "models.latest_version")?,
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

fn version_from_row(r: &SqliteRow) -> Result<VersionRecord> {
    Ok(VersionRecord {
        id: parse_id(&r.try_get::<String, _>("id")?, "versions.id")?,
        model_id: parse_id(&r.try_get::<String, _>("model_id")?, "versions.model_id")?,
        model_name: r.try_get("model_name")?,
        number: to_u32(r.try_get("number")?, "versions.number")?,
        created_at: parse_ts(
            &r.try_get::<String, _>("created_at")?,
            "versions.created_at",
        )?,
        content_hash: r.try_get("content_hash")?,
        definition: decode(
            &r.try_get::<String, _>("definition")?,
            "versions.definition",
        )?,
        files: parse_json(&r.try_get::<String, _>("files")?, "versions.files")?,
        source_job: r
            .try_get::<Option<String>, _>("source_job")?
            .map(|s| parse_id(&s, "versions.source_job"))
            .transpose()?,
        origin: r
            .try_get::<Option<String>, _>("origin")?
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

fn alias_from_row(r: &SqliteRow) -> Result<AliasRecord> {
    Ok(AliasRecord {
        model_id: parse_id(&r.try_get::<String, _>("model_id")?, "aliases.model_id")?,
        alias: r.try_get("alias")?,
        version_id: parse_id(&r.try_get::<String, _>("version_id")?, "aliases.version_id")?,
        version_number: to_u32(r.try_get("number")?, "versions.number")?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?, "aliases.updated_at")?,
    })
}

fn alias_event_from_row(r: &SqliteRow) -> Result<AliasEvent> {
    let version = |col: &str| -> Result<Option<u32>> {
        r.try_get::<Option<i64>, _>(col)?
            .map(|v| to_u32(v, col))
            .transpose()
    };
    Ok(AliasEvent {
        model_id: parse_id(
            &r.try_get::<String, _>("model_id")?,
            "alias_events.model_id",
        )?,
        alias: r.try_get("alias")?,
        from_version: version("from_version")?,
        to_version: version("to_version")?,
        at: parse_ts(&r.try_get::<String, _>("at")?, "alias_events.at")?,
    })
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn create_model(&self, name: &str) -> Result<ModelRecord> {
        check_name(name, "model name")?;
        let record = ModelRecord {
            id: ModelId::new(),
            name: name.to_string(),
            created_at: self.now(),
            latest_version: 0,
        };
        let inserted = sqlx::query(
            "INSERT INTO models (id, name, created_at, latest_version) VALUES (?, ?, ?, 0)",
        )
        .bind(record.id.to_string())
        .bind(name)
        .bind(ts(record.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(record),
            Err(e) if is_unique_violation(&e) => {
                Err(Error::AlreadyExists(format!("A model named '{name}'")))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn model_by_name(&self, name: &str) -> Result<Option<ModelRecord>> {
        let row =
            sqlx::query("SELECT id, name, created_at, latest_version FROM models WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(model_from_row).transpose()
    }

    async fn model_by_id(&self, id: ModelId) -> Result<Option<ModelRecord>> {
        let row =
            sqlx::query("SELECT id, name, created_at, latest_version FROM models WHERE id = ?")
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
             WHERE name > ? ORDER BY name LIMIT ?",
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

    async fn create_version(&self, new: &NewVersion) -> Result<VersionRecord> {
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Bumping the counter and inserting in one write transaction makes
        // numbering atomic: concurrent registrations get consecutive numbers.
        let bumped = sqlx::query(
            "UPDATE models SET latest_version = latest_version + 1 WHERE id = ? \
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
             files, source_job, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            version_select!(),
            "WHERE v.model_id = ? AND v.content_hash = ? ORDER BY v.number DESC LIMIT 1"
        ))
        .bind(model_id.to_string())
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn version_by_id(&self, id: VersionId) -> Result<Option<VersionRecord>> {
        let row = sqlx::query(concat!(version_select!(), "WHERE v.id = ?"))
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
            version_select!(),
            "WHERE v.model_id = ? AND v.number = ?"
        ))
        .bind(model_id.to_string())
        .bind(i64::from(number))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn latest_version(&self, model_id: ModelId) -> Result<Option<VersionRecord>> {
        let row = sqlx::query(concat!(
            version_select!(),
            "WHERE v.model_id = ? ORDER BY v.number DESC LIMIT 1"
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
            version_select!(),
            "WHERE v.model_id = ? AND v.number > ? ORDER BY v.number LIMIT ?"
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
    ) -> Result<AliasEvent> {
        check_name(alias, "alias")?;
        let now = self.now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let target = sqlx::query("SELECT model_id, number FROM versions WHERE id = ?")
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
             WHERE a.model_id = ? AND a.alias = ?",
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
            "INSERT INTO aliases (model_id, alias, version_id, updated_at) VALUES (?, ?, ?, ?) \
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
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .bind(from.map(i64::from))
        .bind(i64::from(to))
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn alias(&self, model_id: ModelId, alias: &str) -> Result<Option<AliasRecord>> {
        let row = sqlx::query(concat!(
            alias_select!(),
            "WHERE a.model_id = ? AND a.alias = ?"
        ))
        .bind(model_id.to_string())
        .bind(alias)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(alias_from_row).transpose()
    }

    async fn list_aliases(&self, model_id: ModelId) -> Result<Vec<AliasRecord>> {
        let rows = sqlx::query(concat!(
            alias_select!(),
            "WHERE a.model_id = ? ORDER BY a.alias"
        ))
        .bind(model_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_from_row).collect()
    }

    async fn delete_alias(&self, model_id: ModelId, alias: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let from: Option<i64> = sqlx::query_scalar(
            "SELECT v.number FROM aliases a JOIN versions v ON v.id = a.version_id \
             WHERE a.model_id = ? AND a.alias = ?",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(from) = from else {
            tx.rollback().await?;
            return Ok(false);
        };
        sqlx::query("DELETE FROM aliases WHERE model_id = ? AND alias = ?")
            .bind(model_id.to_string())
            .bind(alias)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO alias_events (model_id, alias, from_version, to_version, at) \
             VALUES (?, ?, ?, NULL, ?)",
        )
        .bind(model_id.to_string())
        .bind(alias)
        .bind(from)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn alias_history(&self, model_id: ModelId) -> Result<Vec<AliasEvent>> {
        let rows = sqlx::query(
            "SELECT model_id, alias, from_version, to_version, at FROM alias_events \
             WHERE model_id = ? ORDER BY seq",
        )
        .bind(model_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_event_from_row).collect()
    }
}
