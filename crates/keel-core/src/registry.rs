//! Registering model directories, resolving model references and moving aliases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use keel_api_model as api;
use keel_store::{Page, VersionRecord};
use keel_types::{ModelRef, Permission, valid_name};

use crate::{Error, Keel, Principal, Result, views};

/// Turns an API page query into a store page, refusing a page size out of
/// range rather than silently answering with another size.
pub(crate) fn page(q: &api::PageQuery) -> Result<Page> {
    let limit = q.max_results.unwrap_or(Page::DEFAULT_LIMIT);
    if !(1..=Page::MAX_LIMIT).contains(&limit) {
        return Err(Error::InvalidArgument(format!(
            "`max_results` must be between 1 and {}, not {limit}.",
            Page::MAX_LIMIT
        )));
    }
    Ok(Page {
        limit,
        after: q.page_token.clone(),
    })
}

impl Keel {
    /// Registers a model directory as a new version of the model `name`
    /// (default: the manifest's name, else the directory's). An unchanged
    /// directory creates no new version: the existing one comes back with
    /// `created: false`.
    pub async fn register(
        &self,
        by: &Principal,
        dir: &Path,
        name: Option<&str>,
        attach: &[PathBuf],
    ) -> Result<api::Registration> {
        self.register_with_origin(by, dir, name, attach, None).await
    }

    /// Registers a model directory as [`Keel::register`] does, recording
    /// where it came from (a git commit) on the version it creates. The
    /// origin is checked first, since a client may send it, and is no part
    /// of the content hash: an unchanged directory creates no version, and
    /// the existing version keeps the origin it had.
    pub async fn register_with_origin(
        &self,
        by: &Principal,
        dir: &Path,
        name: Option<&str>,
        attach: &[PathBuf],
        origin: Option<&api::Origin>,
    ) -> Result<api::Registration> {
        by.require(Permission::Write, "register models")?;
        let record = origin.map(crate::git::origin_record).transpose()?;
        let def = keel_modeldef::inspect(dir, attach)?;
        let name = name.map(str::to_string).unwrap_or_else(|| def.name.clone());
        let mut origins: HashMap<String, PathBuf> = def
            .files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    keel_modeldef::file_origin(dir, attach, &f.path),
                )
            })
            .collect();
        // Files Keel made for the model (an MLflow signature's schemas) are
        // stored from a scratch directory like the directory's own files.
        let scratch = tempfile::tempdir()
            .map_err(|e| Error::Internal(format!("cannot create a scratch directory: {e}")))?;
        origins.extend(def.write_generated(scratch.path())?);
        let reg = keel_exec::registration::register_with_origin(
            &self.stores,
            &by.actor(),
            &name,
            &def,
            &origins,
            None,
            record,
        )
        .await?;
        let aliases = self.stores.registry.list_aliases(reg.model.id).await?;
        Ok(api::Registration {
            model: views::model(&reg.model, &aliases),
            version: views::version(&reg.version, &aliases),
            created: reg.created,
        })
    }

    /// Resolves a model reference to a version record.
    pub async fn resolve(&self, r: &ModelRef) -> Result<VersionRecord> {
        let no_model = |name: &str| {
            Error::NotFound(format!(
                "There is no model named '{name}'. `keel model list` shows the registered models."
            ))
        };
        match r {
            ModelRef::Id(id) => {
                if let Some(v) = self.stores.registry.version_by_id((*id).into()).await? {
                    return Ok(v);
                }
                if let Some(m) = self.stores.registry.model_by_id((*id).into()).await? {
                    return self
                        .stores
                        .registry
                        .latest_version(m.id)
                        .await?
                        .ok_or_else(|| {
                            Error::NotFound(format!("Model '{}' has no versions yet.", m.name))
                        });
                }
                Err(Error::NotFound(format!(
                    "No model or version has the id {id}."
                )))
            }
            ModelRef::Latest(name) => {
                let m = self
                    .stores
                    .registry
                    .model_by_name(name)
                    .await?
                    .ok_or_else(|| no_model(name))?;
                self.stores
                    .registry
                    .latest_version(m.id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("Model '{name}' has no versions yet.")))
            }
            ModelRef::Number(name, n) => {
                let m = self
                    .stores
                    .registry
                    .model_by_name(name)
                    .await?
                    .ok_or_else(|| no_model(name))?;
                self.stores
                    .registry
                    .version_by_number(m.id, *n)
                    .await?
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "Model '{name}' has no version {n}; its latest version is {}.",
                            m.latest_version
                        ))
                    })
            }
            ModelRef::Alias(name, alias) => {
                let m = self
                    .stores
                    .registry
                    .model_by_name(name)
                    .await?
                    .ok_or_else(|| no_model(name))?;
                let a = self.stores.registry.alias(m.id, alias).await?.ok_or_else(|| {
                    Error::NotFound(format!(
                        "Model '{name}' has no alias '{alias}'. Set it with `keel model alias {name} {alias} VERSION`."
                    ))
                })?;
                self.stores
                    .registry
                    .version_by_id(a.version_id)
                    .await?
                    .ok_or_else(|| Error::Internal(format!("alias {name}@{alias} points nowhere")))
            }
        }
    }

    /// Parses and resolves a model reference given as text.
    pub async fn resolve_str(&self, r: &str) -> Result<VersionRecord> {
        let r: ModelRef = r
            .parse()
            .map_err(|e: keel_types::ModelRefError| Error::InvalidArgument(e.to_string()))?;
        self.resolve(&r).await
    }

    /// Finds a model by name or id.
    async fn model_record(&self, name_or_id: &str) -> Result<keel_store::ModelRecord> {
        if let Ok(id) = name_or_id.parse::<keel_types::ModelId>()
            && let Some(m) = self.stores.registry.model_by_id(id).await?
        {
            return Ok(m);
        }
        self.stores.registry.model_by_name(name_or_id).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "There is no model named '{name_or_id}'. `keel model list` shows the registered models."
            ))
        })
    }

    /// One model, by name or id.
    pub async fn model(&self, name_or_id: &str) -> Result<api::Model> {
        let m = self.model_record(name_or_id).await?;
        let aliases = self.stores.registry.list_aliases(m.id).await?;
        Ok(views::model(&m, &aliases))
    }

    /// A page of models, by name.
    pub async fn list_models(&self, q: &api::PageQuery) -> Result<api::Page<api::Model>> {
        let p = self.stores.registry.list_models(&page(q)?).await?;
        let mut items = Vec::with_capacity(p.items.len());
        for m in &p.items {
            let aliases = self.stores.registry.list_aliases(m.id).await?;
            items.push(views::model(m, &aliases));
        }
        Ok(api::Page {
            items,
            next_page_token: p.next_cursor,
        })
    }

    /// The version a reference points at.
    pub async fn version(&self, r: &str) -> Result<api::Version> {
        let v = self.resolve_str(r).await?;
        let aliases = self.stores.registry.list_aliases(v.model_id).await?;
        Ok(views::version(&v, &aliases))
    }

    /// A page of a model's versions, by number.
    pub async fn list_versions(
        &self,
        model: &str,
        q: &api::PageQuery,
    ) -> Result<api::Page<api::Version>> {
        let m = self.model_record(model).await?;
        let aliases = self.stores.registry.list_aliases(m.id).await?;
        let p = self.stores.registry.list_versions(m.id, &page(q)?).await?;
        let items = p
            .items
            .iter()
            .map(|v| views::version(v, &aliases))
            .collect();
        Ok(api::Page {
            items,
            next_page_token: p.next_cursor,
        })
    }

    /// Points an alias at a version number; the move is recorded.
    pub async fn set_alias(
        &self,
        by: &Principal,
        model: &str,
        alias: &str,
        version: u32,
    ) -> Result<api::Alias> {
        by.require(Permission::Write, "move aliases")?;
        valid_name(alias)
            .map_err(|r| Error::InvalidArgument(format!("The alias is not valid: {r}.")))?;
        let m = self.model_record(model).await?;
        let v = self
            .stores
            .registry
            .version_by_number(m.id, version)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "Model '{}' has no version {version}; its latest version is {}.",
                    m.name, m.latest_version
                ))
            })?;
        let ev = self
            .stores
            .registry
            .set_alias(m.id, alias, v.id, &by.actor())
            .await?;
        Ok(api::Alias {
            alias: alias.to_string(),
            model_name: m.name.clone(),
            version: v.number,
            version_id: v.id.0,
            updated_at: ev.at,
            previous_version: ev.from_version,
        })
    }

    /// Removes an alias.
    pub async fn delete_alias(&self, by: &Principal, model: &str, alias: &str) -> Result<()> {
        by.require(Permission::Write, "remove aliases")?;
        let m = self.model_record(model).await?;
        if self
            .stores
            .registry
            .delete_alias(m.id, alias, &by.actor())
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound(format!(
                "Model '{}' has no alias '{alias}'.",
                m.name
            )))
        }
    }

    /// Every alias of a model.
    pub async fn list_aliases(&self, model: &str) -> Result<Vec<api::Alias>> {
        let m = self.model_record(model).await?;
        Ok(self
            .stores
            .registry
            .list_aliases(m.id)
            .await?
            .into_iter()
            .map(|a| api::Alias {
                alias: a.alias,
                model_name: m.name.clone(),
                version: a.version_number,
                version_id: a.version_id.0,
                updated_at: a.updated_at,
                previous_version: None,
            })
            .collect())
    }

    /// Every recorded alias move of a model, oldest first.
    pub async fn alias_history(&self, model: &str) -> Result<Vec<api::AliasEvent>> {
        let m = self.model_record(model).await?;
        Ok(self
            .stores
            .registry
            .alias_history(m.id)
            .await?
            .into_iter()
            .map(|e| api::AliasEvent {
                alias: e.alias,
                from_version: e.from_version,
                to_version: e.to_version,
                at: e.at,
            })
            .collect())
    }
}
