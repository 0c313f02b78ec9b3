//! Registering model directories, resolving model references and moving aliases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use keel_api_model as api;
use keel_store::{Page, VersionFile, VersionRecord, blob_key};
use keel_types::{ModelRef, valid_name};

use crate::{Error, Keel, Result, views};

/// Turns an API page query into a store page.
pub(crate) fn page(q: &api::PageQuery) -> Page {
    Page {
        limit: q.max_results.unwrap_or(Page::DEFAULT_LIMIT),
        after: q.page_token.clone(),
    }
}

impl Keel {
    /// Registers a model directory as a new version of the model `name`
    /// (default: the manifest's name, else the directory's). An unchanged
    /// directory creates no new version: the existing one comes back with
    /// `created: false`.
    pub async fn register(
        &self,
        dir: &Path,
        name: Option<&str>,
        attach: &[PathBuf],
    ) -> Result<api::Registration> {
        let def = keel_modeldef::inspect(dir, attach)?;
        let name = name.map(str::to_string).unwrap_or_else(|| def.name.clone());
        valid_name(&name)
            .map_err(|r| Error::InvalidArgument(format!("invalid model name: {r}")))?;
        let origins: HashMap<String, PathBuf> = def
            .files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    keel_modeldef::file_origin(dir, attach, &f.path),
                )
            })
            .collect();
        self.register_def(&name, def, &origins, None).await
    }

    /// Stores a model definition's files and creates the version, unless an
    /// identical one exists.
    pub(crate) async fn register_def(
        &self,
        name: &str,
        def: keel_modeldef::ModelDef,
        origins: &HashMap<String, PathBuf>,
        source_job: Option<keel_types::JobId>,
    ) -> Result<api::Registration> {
        let model = match self.store.model_by_name(name).await? {
            Some(m) => m,
            None => match self.store.create_model(name).await {
                Ok(m) => m,
                // Another registration created it between our read and our write.
                Err(keel_store::Error::AlreadyExists(_)) => {
                    self.store
                        .model_by_name(name)
                        .await?
                        .ok_or_else(|| Error::Internal(format!("model {name} vanished")))?
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(existing) = self
            .store
            .version_by_hash(model.id, &def.content_hash)
            .await?
        {
            let aliases = self.store.list_aliases(model.id).await?;
            let model = self
                .store
                .model_by_id(model.id)
                .await?
                .ok_or_else(|| Error::Internal("model vanished".into()))?;
            return Ok(api::Registration {
                model: views::model(&model, &aliases),
                version: views::version(&existing, &aliases)?,
                created: false,
            });
        }
        let mut files = Vec::with_capacity(def.files.len());
        for f in &def.files {
            let key = blob_key(&f.sha256);
            if !self.artifacts.exists(&key).await? {
                let src = origins.get(&f.path).ok_or_else(|| {
                    Error::Internal(format!("no origin for model file {}", f.path))
                })?;
                self.artifacts.put_file(&key, src).await?;
            }
            files.push(VersionFile {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
                role: serde_json::to_value(f.role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "attachment".into()),
            });
        }
        let definition = serde_json::to_value(&def)
            .map_err(|e| Error::Internal(format!("cannot serialise a model definition: {e}")))?;
        let version = self
            .store
            .create_version(model.id, &def.content_hash, &definition, &files, source_job)
            .await?;
        let model = self
            .store
            .model_by_id(model.id)
            .await?
            .ok_or_else(|| Error::Internal("model vanished".into()))?;
        let aliases = self.store.list_aliases(model.id).await?;
        tracing::info!(model = %model.name, version = version.number, "registered");
        Ok(api::Registration {
            model: views::model(&model, &aliases),
            version: views::version(&version, &aliases)?,
            created: true,
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
                if let Some(v) = self.store.version_by_id((*id).into()).await? {
                    return Ok(v);
                }
                if let Some(m) = self.store.model_by_id((*id).into()).await? {
                    return self.store.latest_version(m.id).await?.ok_or_else(|| {
                        Error::NotFound(format!("Model '{}' has no versions yet.", m.name))
                    });
                }
                Err(Error::NotFound(format!(
                    "No model or version has the id {id}."
                )))
            }
            ModelRef::Latest(name) => {
                let m = self
                    .store
                    .model_by_name(name)
                    .await?
                    .ok_or_else(|| no_model(name))?;
                self.store
                    .latest_version(m.id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("Model '{name}' has no versions yet.")))
            }
            ModelRef::Number(name, n) => {
                let m = self
                    .store
                    .model_by_name(name)
                    .await?
                    .ok_or_else(|| no_model(name))?;
                self.store
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
                    .store
                    .model_by_name(name)
                    .await?
                    .ok_or_else(|| no_model(name))?;
                let a = self.store.alias(m.id, alias).await?.ok_or_else(|| {
                    Error::NotFound(format!(
                        "Model '{name}' has no alias '{alias}'. Set it with `keel model alias {name} {alias} VERSION`."
                    ))
                })?;
                self.store
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
        if let Ok(id) = name_or_id.parse::<uuid::Uuid>()
            && let Some(m) = self.store.model_by_id(id.into()).await?
        {
            return Ok(m);
        }
        self.store.model_by_name(name_or_id).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "There is no model named '{name_or_id}'. `keel model list` shows the registered models."
            ))
        })
    }

    /// One model, by name or id.
    pub async fn model(&self, name_or_id: &str) -> Result<api::Model> {
        let m = self.model_record(name_or_id).await?;
        let aliases = self.store.list_aliases(m.id).await?;
        Ok(views::model(&m, &aliases))
    }

    /// A page of models, by name.
    pub async fn list_models(&self, q: &api::PageQuery) -> Result<api::Page<api::Model>> {
        let p = self.store.list_models(&page(q)).await?;
        let mut items = Vec::with_capacity(p.items.len());
        for m in &p.items {
            let aliases = self.store.list_aliases(m.id).await?;
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
        let aliases = self.store.list_aliases(v.model_id).await?;
        views::version(&v, &aliases)
    }

    /// A page of a model's versions, by number.
    pub async fn list_versions(
        &self,
        model: &str,
        q: &api::PageQuery,
    ) -> Result<api::Page<api::Version>> {
        let m = self.model_record(model).await?;
        let aliases = self.store.list_aliases(m.id).await?;
        let p = self.store.list_versions(m.id, &page(q)).await?;
        let items = p
            .items
            .iter()
            .map(|v| views::version(v, &aliases))
            .collect::<Result<Vec<_>>>()?;
        Ok(api::Page {
            items,
            next_page_token: p.next_cursor,
        })
    }

    /// Points an alias at a version number; the move is recorded.
    pub async fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<api::Alias> {
        valid_name(alias).map_err(|r| Error::InvalidArgument(format!("invalid alias: {r}")))?;
        let m = self.model_record(model).await?;
        let v = self
            .store
            .version_by_number(m.id, version)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "Model '{}' has no version {version}; its latest version is {}.",
                    m.name, m.latest_version
                ))
            })?;
        let ev = self.store.set_alias(m.id, alias, v.id).await?;
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
    pub async fn delete_alias(&self, model: &str, alias: &str) -> Result<()> {
        let m = self.model_record(model).await?;
        if self.store.delete_alias(m.id, alias).await? {
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
            .store
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
            .store
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

    /// Stores a data file for use as a job input.
    pub async fn upload(&self, name: &str, src: &Path) -> Result<api::Upload> {
        let file_name = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && !n.starts_with('.'))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "'{name}' is not a usable upload name; give a plain file name such as input.csv"
                ))
            })?
            .to_string();
        let sha = keel_modeldef::sha256_file(src)?;
        let size = std::fs::metadata(src)
            .map_err(Error::io(format!("cannot read {}", src.display())))?
            .len();
        let rec = keel_store::UploadRecord {
            id: keel_types::UploadId::new(),
            name: file_name,
            size,
            sha256: sha,
            created_at: chrono::Utc::now(),
        };
        self.artifacts.put_file(&upload_key(&rec), src).await?;
        self.store.create_upload(&rec).await?;
        Ok(api::Upload {
            id: rec.id.0,
            name: rec.name,
            size: rec.size,
            sha256: rec.sha256,
            created_at: rec.created_at,
        })
    }
}

/// Where an upload's bytes live in the artifact store.
pub(crate) fn upload_key(u: &keel_store::UploadRecord) -> String {
    format!("uploads/{}/{}", u.id, u.name)
}
