//! The two places a CLI command can act on: the local data directory (embedded
//! mode, like MLflow's local store) or a Keel server (`KEEL_URL`). Both answer
//! with the same `keel-api-model` types, so commands don't care which.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use keel_api_model as api;
use keel_core::{Keel, ResultLocation};
use keel_types::JobId;

use crate::client::Client;

/// Where the CLI works.
pub enum Backend {
    /// Directly on a data directory; jobs run in this process.
    Local(Keel),
    /// Against a server.
    Remote(Client),
}

/// A job's result as the CLI sees it.
pub enum Fetched {
    /// The bytes are in this local file, named `name`.
    File {
        path: PathBuf,
        name: String,
        temp: bool,
    },
    /// The output is elsewhere.
    External(String),
}

impl Backend {
    pub async fn open(url: Option<String>, home: PathBuf) -> anyhow::Result<Backend> {
        match url.filter(|u| !u.is_empty()) {
            Some(url) => Ok(Backend::Remote(Client::new(&url)?)),
            None => {
                let keel = Keel::open(keel_core::Config::new(home)).await?;
                // A job whose runner died (Ctrl-C, kill -9) stops heart-beating;
                // mark such jobs failed so they don't look alive forever.
                keel.requeue_stale(chrono::Duration::seconds(60)).await?;
                Ok(Backend::Local(keel))
            }
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Backend::Local(_))
    }

    pub async fn register(
        &self,
        dir: &Path,
        name: Option<&str>,
        attach: &[PathBuf],
    ) -> anyhow::Result<api::Registration> {
        match self {
            Backend::Local(k) => Ok(k.register(dir, name, attach).await?),
            Backend::Remote(c) => {
                // Inspect locally first: a bad model fails fast, before any upload.
                let def = Keel::inspect(dir, attach)?;
                let name = name.map(str::to_string).unwrap_or(def.name.clone());
                c.register(dir, &name, attach).await
            }
        }
    }

    pub async fn list_models(&self, q: &api::PageQuery) -> anyhow::Result<api::Page<api::Model>> {
        match self {
            Backend::Local(k) => Ok(k.list_models(q).await?),
            Backend::Remote(c) => c.get_query("/api/v1/models", q).await,
        }
    }

    pub async fn version(&self, r: &str) -> anyhow::Result<api::Version> {
        match self {
            Backend::Local(k) => Ok(k.version(r).await?),
            Backend::Remote(c) => c.get(&format!("/api/v1/versions/{}", enc(r))).await,
        }
    }

    pub async fn list_versions(
        &self,
        model: &str,
        q: &api::PageQuery,
    ) -> anyhow::Result<api::Page<api::Version>> {
        match self {
            Backend::Local(k) => Ok(k.list_versions(model, q).await?),
            Backend::Remote(c) => {
                c.get_query(&format!("/api/v1/models/{}/versions", enc(model)), q)
                    .await
            }
        }
    }

    pub async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
    ) -> anyhow::Result<api::Alias> {
        match self {
            Backend::Local(k) => Ok(k.set_alias(model, alias, version).await?),
            Backend::Remote(c) => {
                c.put(
                    &format!("/api/v1/models/{}/aliases/{}", enc(model), enc(alias)),
                    &api::SetAlias { version },
                )
                .await
            }
        }
    }

    pub async fn list_aliases(&self, model: &str) -> anyhow::Result<Vec<api::Alias>> {
        match self {
            Backend::Local(k) => Ok(k.list_aliases(model).await?),
            Backend::Remote(c) => {
                c.get(&format!("/api/v1/models/{}/aliases", enc(model)))
                    .await
            }
        }
    }

    pub async fn alias_history(&self, model: &str) -> anyhow::Result<Vec<api::AliasEvent>> {
        match self {
            Backend::Local(k) => Ok(k.alias_history(model).await?),
            Backend::Remote(c) => {
                c.get(&format!("/api/v1/models/{}/alias-events", enc(model)))
                    .await
            }
        }
    }

    /// Creates a job. Local input paths are uploaded first in remote mode.
    pub async fn create_job(&self, mut req: api::CreateJob) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.create_job(req).await?),
            Backend::Remote(c) => {
                if let api::Input::Path { uri } = &req.input
                    && !uri.contains("://")
                {
                    let up = c.upload(Path::new(uri)).await?;
                    req.input = api::Input::Upload {
                        upload_id: up.id,
                        name: up.name,
                    };
                }
                c.post("/api/v1/jobs", &req).await
            }
        }
    }

    pub async fn job(&self, id: JobId) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.job(id).await?),
            Backend::Remote(c) => c.get(&format!("/api/v1/jobs/{id}")).await,
        }
    }

    pub async fn list_jobs(&self, q: &api::JobQuery) -> anyhow::Result<api::Page<api::Job>> {
        match self {
            Backend::Local(k) => Ok(k.list_jobs(q).await?),
            Backend::Remote(c) => c.get_query("/api/v1/jobs", q).await,
        }
    }

    pub async fn cancel(&self, id: JobId) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.cancel_job(id).await?),
            Backend::Remote(c) => {
                c.post(&format!("/api/v1/jobs/{id}/cancel"), &serde_json::json!({}))
                    .await
            }
        }
    }

    pub async fn logs(&self, id: JobId, offset: u64) -> anyhow::Result<api::LogChunk> {
        match self {
            Backend::Local(k) => Ok(k.job_logs(id, offset).await?),
            Backend::Remote(c) => {
                c.get_query(
                    &format!("/api/v1/jobs/{id}/logs"),
                    &api::LogQuery {
                        offset: Some(offset),
                    },
                )
                .await
            }
        }
    }

    pub async fn result(&self, id: JobId, rejected: bool) -> anyhow::Result<Fetched> {
        match self {
            Backend::Local(k) => match k.job_result(id, rejected).await? {
                ResultLocation::File(f) => Ok(Fetched::File {
                    path: f.path,
                    name: f.name,
                    temp: false,
                }),
                ResultLocation::External(uri) => Ok(Fetched::External(uri)),
            },
            Backend::Remote(c) => c.result(id, rejected).await,
        }
    }

    /// Starts a comparison. Local data is uploaded first in remote mode.
    pub async fn create_comparison(
        &self,
        mut req: api::CreateComparison,
    ) -> anyhow::Result<api::Comparison> {
        match self {
            Backend::Local(k) => Ok(k.create_comparison(req).await?),
            Backend::Remote(c) => {
                if let Some(api::Input::Path { uri }) = &req.input
                    && !uri.contains("://")
                {
                    let up = c.upload(Path::new(uri)).await?;
                    req.input = Some(api::Input::Upload {
                        upload_id: up.id,
                        name: up.name,
                    });
                }
                c.post("/api/v1/comparisons", &req).await
            }
        }
    }

    pub async fn comparison(&self, id: uuid::Uuid) -> anyhow::Result<api::Comparison> {
        match self {
            Backend::Local(k) => Ok(k.comparison(id.into()).await?),
            Backend::Remote(c) => c.get(&format!("/api/v1/comparisons/{id}")).await,
        }
    }

    pub async fn list_comparisons(
        &self,
        q: &api::PageQuery,
    ) -> anyhow::Result<api::Page<api::Comparison>> {
        match self {
            Backend::Local(k) => Ok(k.list_comparisons(q).await?),
            Backend::Remote(c) => c.get_query("/api/v1/comparisons", q).await,
        }
    }

    /// Runs a pending job in this process (embedded mode only).
    pub async fn run_local(&self, id: JobId) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.run_job(id).await?),
            Backend::Remote(_) => bail!("jobs run on the server in remote mode"),
        }
    }
}

/// Percent-encodes a path segment.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parses a job id given on the command line.
pub fn job_id(s: &str) -> anyhow::Result<JobId> {
    s.trim().parse().with_context(|| {
        format!("'{s}' is not a job id (a UUID such as those `keel job list` prints)")
    })
}
