//! The two places a CLI command can act on: the local data directory (embedded
//! mode, like MLflow's local store) or a Keel server (`KEEL_URL`). Both answer
//! with the same `keel-api-model` types, so commands don't care which.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use futures::StreamExt;
use keel_api_model as api;
use keel_api_model::routes::{self, fill};
use keel_core::{Installer, JobOutput, Keel, LogStart};
use keel_types::JobId;
use tokio::io::AsyncWriteExt;

use crate::client::Client;

/// Where the CLI works.
pub enum Backend {
    /// Directly on a data directory; jobs run in this process. Boxed: an
    /// open Keel is far larger than a client.
    Local(Box<Keel>),
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

/// Keel's configuration for the data directory `home`, with the stores the
/// environment names (`KEEL_DATABASE_URL`, `KEEL_ARTIFACTS_URL`) instead of
/// the defaults inside it, and how models get their Python: `KEEL_PYTHON`
/// (one interpreter for every model), `KEEL_BASE_PYTHON` (what platform
/// environments are made from) and `KEEL_UV` (the uv program that builds
/// them, or `off` for pip; by default uv on PATH, else pip), and the most
/// workers one job may start (`KEEL_MAX_WORKERS`), the bytes uploads may
/// hold (`KEEL_UPLOAD_QUOTA_BYTES`), a request body may hold
/// (`KEEL_MAX_BODY_BYTES`) and a job's log may hold (`KEEL_MAX_LOG_BYTES`), whether workers get PID namespaces
/// (`KEEL_CONTAINMENT`: `auto` or `process-group`) and which more of Keel's
/// variables they inherit (`KEEL_WORKER_ENV`, names separated by commas),
/// and how many workers wait warm between jobs (`KEEL_WARM_WORKERS`, none
/// unless set; see [`server_config`]) and for how long
/// (`KEEL_WARM_IDLE_SECONDS`), how long a claim holds its job without a
/// heartbeat (`KEEL_LEASE_SECONDS`) and how long a stopping runner lets its
/// jobs finish (`KEEL_SHUTDOWN_GRACE_SECONDS`), and the OS user embedded mode
/// acts as (`USER`, `LOGNAME`). This module is the only place the
/// environment is read for configuration.
pub fn config(home: &Path) -> anyhow::Result<keel_core::Config> {
    let mut cfg = keel_core::Config::new(home);
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
    if let Some(url) = text("KEEL_DATABASE_URL") {
        cfg.metadata_url = url;
    }
    if let Some(url) = text("KEEL_ARTIFACTS_URL") {
        cfg.artifacts_url = url;
    }
    cfg.python = var("KEEL_PYTHON").map(|v| program(v.as_ref()));
    cfg.base_python = var("KEEL_BASE_PYTHON").map(|v| program(v.as_ref()));
    cfg.installer = installer(var("KEEL_UV").as_deref());
    if let Some(n) = number::<u32>("KEEL_MAX_WORKERS")? {
        cfg.max_workers = n;
        cfg.default_workers = cfg.default_workers.min(n);
    }
    if let Some(n) = number::<u64>("KEEL_UPLOAD_QUOTA_BYTES")? {
        cfg.upload_quota_bytes = n;
    }
    if let Some(n) = number::<u64>("KEEL_MAX_BODY_BYTES")? {
        cfg.max_body_bytes = n;
    }
    if let Some(n) = number::<u64>("KEEL_MAX_LOG_BYTES")? {
        cfg.max_log_bytes = n;
    }
    match text("KEEL_CONTAINMENT").as_deref() {
        None | Some("auto") => {}
        Some("process-group") => cfg.isolation.pid_namespace = false,
        Some(other) => bail!("KEEL_CONTAINMENT must be auto or process-group, not '{other}'"),
    }
    if let Some(n) = number::<usize>("KEEL_WARM_WORKERS")? {
        cfg.warm_workers = n;
    }
    if let Some(s) = number::<u64>("KEEL_WARM_IDLE_SECONDS")? {
        cfg.warm_idle = std::time::Duration::from_secs(s);
    }
    if let Some(s) = number::<u64>("KEEL_LEASE_SECONDS")? {
        // A lease is how long a dead runner's job waits before another
        // runner takes it over: a second at least, an hour at most.
        if !(1..=3600).contains(&s) {
            bail!("KEEL_LEASE_SECONDS must be between 1 and 3600, not {s}");
        }
        cfg.lease = std::time::Duration::from_secs(s);
    }
    if let Some(s) = number::<u64>("KEEL_SHUTDOWN_GRACE_SECONDS")? {
        cfg.shutdown_grace = std::time::Duration::from_secs(s);
    }
    if let Some(user) = text("USER").or_else(|| text("LOGNAME")) {
        cfg.local_user = user;
    }
    if let Some(names) = text("KEEL_WORKER_ENV") {
        cfg.isolation.pass_env = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
    }
    Ok(cfg)
}

/// The configuration of `keel server`: [`config`], keeping
/// [`keel_core::DEFAULT_WARM_WORKERS`] warm workers unless
/// `KEEL_WARM_WORKERS` says otherwise, since a server runs many jobs and
/// the next job of a model should not pay Python's start again.
///
/// A server's clients reach only the local paths under `data_roots` (the
/// `--data-root` flags, then `KEEL_DATA_ROOTS`, a list separated like PATH);
/// with none, only uploads and embedded outputs.
pub fn server_config(home: &Path, data_roots: &[PathBuf]) -> anyhow::Result<keel_core::Config> {
    let mut cfg = config(home)?;
    if std::env::var_os("KEEL_WARM_WORKERS").is_none_or(|v| v.is_empty()) {
        cfg.warm_workers = keel_core::DEFAULT_WARM_WORKERS;
    }
    let mut roots = data_roots.to_vec();
    if let Some(v) = std::env::var_os("KEEL_DATA_ROOTS") {
        roots.extend(split_roots(&v.to_string_lossy()));
    }
    // S3 prefixes are roots too; they name no local directory.
    let (s3, roots): (Vec<PathBuf>, Vec<PathBuf>) = roots
        .into_iter()
        .partition(|r| r.to_string_lossy().starts_with("s3://"));
    for root in s3 {
        let root = root.to_string_lossy();
        let checked = keel_core::check_s3_root(&root, &cfg.artifacts_url)
            .with_context(|| format!("the data root {root} cannot be used"))?;
        cfg.s3_roots.push(checked);
    }
    let mut checked = Vec::with_capacity(roots.len());
    for root in roots {
        let real = root
            .canonicalize()
            .with_context(|| format!("the data root {} cannot be used", root.display()))?;
        if !real.is_dir() {
            bail!("the data root {} is not a directory", root.display());
        }
        let home = cfg.home.canonicalize().unwrap_or_else(|_| cfg.home.clone());
        if real.starts_with(&home) || home.starts_with(&real) {
            bail!(
                "the data root {} holds or is inside Keel's data directory {}; clients must not \
                 reach Keel's own files",
                root.display(),
                cfg.home.display()
            );
        }
        checked.push(real);
    }
    cfg.data_access = keel_core::DataAccess::Roots(checked);
    Ok(cfg)
}

/// The entries of `KEEL_DATA_ROOTS`: separated like PATH, where an S3
/// prefix's `s3://` is no separator.
fn split_roots(v: &str) -> Vec<PathBuf> {
    let mut out: Vec<String> = Vec::new();
    for part in v.split(':') {
        match out.last_mut() {
            Some(last) if last == "s3" && part.starts_with("//") => {
                last.push(':');
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
    }
    out.into_iter()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// The server's protections against slow, greedy and foreign clients:
/// `KEEL_HEADER_TIMEOUT_SECONDS`, `KEEL_REQUEST_TIMEOUT_SECONDS` and
/// `KEEL_MAX_CONNECTIONS`, each defaulting to [`keel_server::Limits`]'s.
///
/// Requests must name a host the server answers to: on a loopback address
/// the loopback names, on any other the bound address (or any host, when
/// none is listed), plus `KEEL_ALLOWED_HOSTS` (names separated by commas);
/// and come from no web origin but the server's own and
/// `KEEL_ALLOWED_ORIGINS`.
pub fn server_limits(bind: &std::net::SocketAddr) -> anyhow::Result<keel_server::Limits> {
    let mut limits = keel_server::Limits::default();
    let list = |name: &str| -> Vec<String> {
        std::env::var(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    };
    let extra = list("KEEL_ALLOWED_HOSTS");
    limits.guard.hosts = if bind.ip().is_loopback() {
        Some(
            keel_server::LOOPBACK_HOSTS
                .iter()
                .map(|h| h.to_string())
                .chain(extra)
                .collect(),
        )
    } else if bind.ip().is_unspecified() && extra.is_empty() {
        None
    } else {
        let mut hosts = extra;
        if !bind.ip().is_unspecified() {
            hosts.push(bind.ip().to_string());
            hosts.push(format!("[{}]", bind.ip()));
        }
        Some(hosts)
    };
    limits.guard.origins = list("KEEL_ALLOWED_ORIGINS");
    if let Some(s) = number::<u64>("KEEL_HEADER_TIMEOUT_SECONDS")? {
        limits.header_timeout = std::time::Duration::from_secs(s.max(1));
    }
    if let Some(s) = number::<u64>("KEEL_REQUEST_TIMEOUT_SECONDS")? {
        limits.request_timeout = std::time::Duration::from_secs(s.max(1));
    }
    if let Some(n) = number::<usize>("KEEL_MAX_CONNECTIONS")? {
        limits.max_connections = n.max(1);
    }
    Ok(limits)
}

/// The API token for the server at `url`: `KEEL_TOKEN`, else the one
/// `keel login` saved for that server.
pub fn token_for(url: &str) -> anyhow::Result<Option<String>> {
    if let Ok(t) = std::env::var("KEEL_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Some(t.trim().to_string()));
    }
    match credentials_path() {
        Some(path) => crate::access::saved_token(&path, url),
        None => Ok(None),
    }
}

/// Where `keel login` keeps tokens: `KEEL_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/keel`, else `~/.config/keel`, in `credentials.json`.
pub fn credentials_path() -> Option<PathBuf> {
    let var = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = var("KEEL_CONFIG_DIR")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("keel")))
        .or_else(|| var("HOME").map(|h| h.join(".config").join("keel")))?;
    Some(dir.join("credentials.json"))
}

/// A whole number from the environment variable `name`, if it is set.
pub fn number<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse() {
            Ok(n) => Ok(Some(n)),
            Err(_) => bail!("{name} must be a whole number, not '{v}'"),
        },
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{name} must be a whole number"),
    }
}

/// What `KEEL_UV` says: unset means uv from PATH or pip, `off` means pip.
fn installer(value: Option<&std::ffi::OsStr>) -> Installer {
    match value {
        None => Installer::Auto,
        Some(v) if v.eq_ignore_ascii_case("off") => Installer::Pip,
        Some(v) => Installer::Uv(program(v.as_ref())),
    }
}

/// A program named in the environment: a bare name (`python3`) is looked up
/// on PATH when it runs, but a relative path (`.venv/bin/python`) is made
/// absolute now, because workers run in their job's directory.
fn program(v: &Path) -> PathBuf {
    if v.is_relative() && v.components().count() > 1 {
        std::path::absolute(v).unwrap_or_else(|_| v.to_path_buf())
    } else {
        v.to_path_buf()
    }
}

impl Backend {
    pub async fn open(url: Option<String>, home: PathBuf) -> anyhow::Result<Backend> {
        match url.filter(|u| !u.is_empty()) {
            Some(url) => {
                let token = token_for(&url)?;
                Ok(Backend::Remote(Client::new(&url, token.as_deref())?))
            }
            None => {
                let keel = Keel::open(config(&home)?).await?;
                // A job whose runner died (kill -9, a lost machine) stops
                // heart-beating; once its lease runs out it goes back to the
                // queue (or fails, out of attempts) rather than look alive.
                keel.expire_leases().await?;
                Ok(Backend::Local(Box::new(keel)))
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
            Backend::Local(k) => Ok(k.register(&k.local_principal(), dir, name, attach).await?),
            Backend::Remote(c) => {
                // Inspect locally first: a bad model fails fast, before any upload.
                let def = Keel::inspect(dir, attach)?;
                let name = name.map(str::to_string).unwrap_or(def.name.clone());
                c.register(dir, &name, attach).await
            }
        }
    }

    /// Registers a directory checked out from git, with its origin. In
    /// remote mode the directory is inspected and sent from here: the
    /// server never runs git.
    pub async fn register_with_origin(
        &self,
        dir: &Path,
        name: Option<&str>,
        origin: &api::Origin,
    ) -> anyhow::Result<api::Registration> {
        match self {
            Backend::Local(k) => Ok(k
                .register_with_origin(&k.local_principal(), dir, name, &[], Some(origin))
                .await?),
            Backend::Remote(c) => {
                let def = Keel::inspect(dir, &[])?;
                let name = name.map(str::to_string).unwrap_or(def.name.clone());
                c.register_with_origin(dir, &name, &[], Some(origin)).await
            }
        }
    }

    pub async fn list_models(&self, q: &api::PageQuery) -> anyhow::Result<api::Page<api::Model>> {
        match self {
            Backend::Local(k) => Ok(k.list_models(q).await?),
            Backend::Remote(c) => c.get_query(routes::MODELS, q).await,
        }
    }

    pub async fn version(&self, r: &str) -> anyhow::Result<api::Version> {
        match self {
            Backend::Local(k) => Ok(k.version(r).await?),
            Backend::Remote(c) => c.get(&fill(routes::VERSION_REF, &[r])).await,
        }
    }

    pub async fn list_versions(
        &self,
        model: &str,
        q: &api::PageQuery,
    ) -> anyhow::Result<api::Page<api::Version>> {
        match self {
            Backend::Local(k) => Ok(k.list_versions(model, q).await?),
            Backend::Remote(c) => c.get_query(&fill(routes::VERSIONS, &[model]), q).await,
        }
    }

    pub async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
    ) -> anyhow::Result<api::Alias> {
        match self {
            Backend::Local(k) => Ok(k
                .set_alias(&k.local_principal(), model, alias, version)
                .await?),
            Backend::Remote(c) => {
                c.put(
                    &fill(routes::ALIAS, &[model, alias]),
                    &api::SetAlias { version },
                )
                .await
            }
        }
    }

    pub async fn list_aliases(&self, model: &str) -> anyhow::Result<Vec<api::Alias>> {
        match self {
            Backend::Local(k) => Ok(k.list_aliases(model).await?),
            Backend::Remote(c) => c.get(&fill(routes::ALIASES, &[model])).await,
        }
    }

    pub async fn alias_history(&self, model: &str) -> anyhow::Result<Vec<api::AliasEvent>> {
        match self {
            Backend::Local(k) => Ok(k.alias_history(model).await?),
            Backend::Remote(c) => c.get(&fill(routes::ALIAS_EVENTS, &[model])).await,
        }
    }

    /// Creates a job. Local input paths are uploaded first in remote mode.
    pub async fn create_job(&self, mut req: api::CreateJob) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.create_job(&k.local_principal(), req).await?),
            Backend::Remote(c) => {
                // Local files go to the server as uploads.
                for input in std::iter::once(&mut req.input).chain(req.baseline.as_mut()) {
                    if let api::Input::Path { uri } = input
                        && !uri.contains("://")
                    {
                        let up = c.upload(Path::new(uri)).await?;
                        *input = api::Input::Upload {
                            upload_id: up.id,
                            name: up.name,
                        };
                    }
                }
                c.post(routes::JOBS, &req).await
            }
        }
    }

    pub async fn job(&self, id: JobId) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.job(id).await?),
            Backend::Remote(c) => c.get(&fill(routes::JOB, &[&id.to_string()])).await,
        }
    }

    pub async fn list_jobs(&self, q: &api::JobQuery) -> anyhow::Result<api::Page<api::Job>> {
        match self {
            Backend::Local(k) => Ok(k.list_jobs(q).await?),
            Backend::Remote(c) => c.get_query(routes::JOBS, q).await,
        }
    }

    pub async fn cancel(&self, id: JobId) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.cancel_job(&k.local_principal(), id).await?),
            Backend::Remote(c) => {
                c.post(
                    &fill(routes::JOB_CANCEL, &[&id.to_string()]),
                    &serde_json::json!({}),
                )
                .await
            }
        }
    }

    pub async fn logs(&self, id: JobId, from: LogStart) -> anyhow::Result<api::LogChunk> {
        match self {
            Backend::Local(k) => Ok(k.job_logs(id, from).await?),
            Backend::Remote(c) => {
                let (offset, tail) = match from {
                    LogStart::Offset(o) => (Some(o), None),
                    LogStart::Tail(t) => (None, Some(t)),
                };
                c.get_query(
                    &fill(routes::JOB_LOGS, &[&id.to_string()]),
                    &api::LogQuery { offset, tail },
                )
                .await
            }
        }
    }

    pub async fn result(&self, id: JobId, rejected: bool) -> anyhow::Result<Fetched> {
        match self {
            Backend::Local(k) => fetched(id, k.job_result(id, rejected).await?).await,
            Backend::Remote(c) => c.result(id, rejected, false).await,
        }
    }

    /// A job's output as a local file, an output in a bucket included
    /// (fetched by the server in remote mode, with its credentials).
    pub async fn download(&self, id: JobId) -> anyhow::Result<Fetched> {
        match self {
            Backend::Local(k) => fetched(id, k.job_result_download(id).await?).await,
            Backend::Remote(c) => c.result(id, false, true).await,
        }
    }

    /// Starts a comparison. Local data is uploaded first in remote mode.
    pub async fn create_comparison(
        &self,
        mut req: api::CreateComparison,
    ) -> anyhow::Result<api::Comparison> {
        match self {
            Backend::Local(k) => Ok(k.create_comparison(&k.local_principal(), req).await?),
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
                c.post(routes::COMPARISONS, &req).await
            }
        }
    }

    pub async fn comparison(&self, id: uuid::Uuid) -> anyhow::Result<api::Comparison> {
        match self {
            Backend::Local(k) => Ok(k.comparison(id.into()).await?),
            Backend::Remote(c) => c.get(&fill(routes::COMPARISON, &[&id.to_string()])).await,
        }
    }

    pub async fn list_comparisons(
        &self,
        q: &api::PageQuery,
    ) -> anyhow::Result<api::Page<api::Comparison>> {
        match self {
            Backend::Local(k) => Ok(k.list_comparisons(q).await?),
            Backend::Remote(c) => c.get_query(routes::COMPARISONS, q).await,
        }
    }

    /// Decides, in this process, the comparisons whose jobs have finished
    /// (embedded mode; a server decides its own).
    pub async fn settle_comparisons(&self) -> anyhow::Result<()> {
        if let Backend::Local(k) = self {
            k.settle_comparisons().await?;
        }
        Ok(())
    }

    /// Puts back in the queue the jobs whose runner died (embedded mode; a
    /// server and its workers sweep for their own).
    pub async fn expire_leases(&self) -> anyhow::Result<()> {
        if let Backend::Local(k) = self {
            k.expire_leases().await?;
        }
        Ok(())
    }

    /// Runs a pending job in this process (embedded mode only).
    pub async fn run_local(&self, id: JobId) -> anyhow::Result<api::Job> {
        match self {
            Backend::Local(k) => Ok(k.run_job(id).await?),
            Backend::Remote(_) => bail!("jobs run on the server in remote mode"),
        }
    }
}

/// What the CLI does with a job's output: a stored one is written to a
/// temporary file, an external one is where it is.
async fn fetched(id: JobId, out: JobOutput) -> anyhow::Result<Fetched> {
    match out {
        JobOutput::Stored(mut f) => {
            let path = temp_path(id);
            let mut file = tokio::fs::File::create(&path)
                .await
                .with_context(|| format!("cannot write {}", path.display()))?;
            while let Some(chunk) = f.stream.next().await {
                file.write_all(&chunk?)
                    .await
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            file.flush().await?;
            Ok(Fetched::File {
                path,
                name: f.name,
                temp: true,
            })
        }
        JobOutput::External(uri) => Ok(Fetched::External(uri)),
    }
}

/// A fresh temporary file for a downloaded result.
pub fn temp_path(id: JobId) -> PathBuf {
    std::env::temp_dir().join(format!("keel-{id}-{}", uuid::Uuid::now_v7()))
}

/// Parses a job id given on the command line.
pub fn job_id(s: &str) -> anyhow::Result<JobId> {
    s.trim().parse().with_context(|| {
        format!("'{s}' is not a job id (a UUID such as those `keel job list` prints)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_roots_split_like_path_but_keep_s3_prefixes_whole() {
        let got = split_roots("/data/a:s3://bucket/team::/data/b:s3://other");
        let want: Vec<PathBuf> = ["/data/a", "s3://bucket/team", "/data/b", "s3://other"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn keel_uv_picks_the_installer() {
        assert_eq!(installer(None), Installer::Auto);
        assert_eq!(installer(Some("off".as_ref())), Installer::Pip);
        assert_eq!(installer(Some("OFF".as_ref())), Installer::Pip);
        assert_eq!(
            installer(Some("/opt/uv/bin/uv".as_ref())),
            Installer::Uv("/opt/uv/bin/uv".into())
        );
    }

    #[test]
    fn relative_program_paths_become_absolute_but_names_stay() {
        assert_eq!(program(Path::new("python3")), PathBuf::from("python3"));
        assert_eq!(
            program(Path::new("/usr/bin/python3")),
            PathBuf::from("/usr/bin/python3")
        );
        let p = program(Path::new(".venv/bin/python"));
        assert!(p.is_absolute(), "{}", p.display());
        assert!(p.ends_with(".venv/bin/python"), "{}", p.display());
    }
}
