//! The HTTP client for a Keel server: the `/api/v1` routes, with RFC 9457
//! problem documents turned into readable errors.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use keel_api_model as api;
use keel_types::JobId;
use serde::Serialize;
use serde::de::DeserializeOwned;

use keel_api_model::routes::{self, encode, fill};

use crate::backend::{Fetched, temp_path};

/// A client of one Keel server.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

/// An error answer from the server, kept whole so the CLI can show its code.
#[derive(Debug)]
pub struct ApiError(pub api::Problem);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.0.detail, self.0.code)
    }
}

impl std::error::Error for ApiError {}

impl Client {
    /// A client of the server at `url`, sending `token` (if any) with
    /// every request.
    pub fn new(url: &str, token: Option<&str>) -> anyhow::Result<Client> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("KEEL_URL must start with http:// or https://, not '{url}'");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                    .context("the API token holds characters a header cannot carry")?;
            // Kept out of debug output and logs.
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { base, http })
    }

    /// The server's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn check(&self, resp: reqwest::Response) -> anyhow::Result<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<api::Problem>(&text) {
            Ok(mut p) => {
                if p.code == keel_types::Code::Unauthenticated.as_str() {
                    p.detail.push_str(
                        " Log in with `keel login` (or set KEEL_TOKEN) with a token an admin made with `keel token create`.",
                    );
                }
                Err(ApiError(p).into())
            }
            Err(_) => Err(anyhow!("the server answered {status}: {text}")),
        }
    }

    fn send_err(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow!("cannot reach the Keel server at {}: {e}", self.base)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(|e| self.send_err(e))?;
        Ok(self.check(resp).await?.json().await?)
    }

    pub async fn get_query<T: DeserializeOwned, Q: Serialize>(
        &self,
        path: &str,
        q: &Q,
    ) -> anyhow::Result<T> {
        let query = serde_json::to_value(q)?;
        let pairs: Vec<(String, String)> = query
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| {
                        let s = match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), s)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let qs: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let full = if qs.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", qs.join("&"))
        };
        self.get(&full).await
    }

    pub async fn post<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub async fn put<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    pub async fn patch<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.send_json(reqwest::Method::PATCH, path, body).await
    }

    /// One operation of the SageMaker API (`POST /` with `X-Amz-Target`),
    /// its AWS-shaped error turned into a readable one.
    pub async fn sagemaker(
        &self,
        operation: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let resp = self
            .http
            .post(self.url("/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("SageMaker.{operation}"))
            .body(serde_json::to_vec(body)?)
            .send()
            .await
            .map_err(|e| self.send_err(e))?;
        if resp.status().is_success() {
            return Ok(resp.json().await?);
        }
        let refused_early = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        if refused_early {
            // Refused before it reached the SageMaker API (no token, say):
            // a problem document, read as every other.
            self.check(resp).await?;
            bail!("the server refused the request");
        }
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        bail!(
            "{} ({})",
            v["message"]
                .as_str()
                .unwrap_or("the server refused the request"),
            v["__type"].as_str().unwrap_or(status.as_str())
        )
    }

    /// A `DELETE` whose answer is a JSON document.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .map_err(|e| self.send_err(e))?;
        Ok(self.check(resp).await?.json().await?)
    }

    async fn send_json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let resp = self
            .http
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .map_err(|e| self.send_err(e))?;
        Ok(self.check(resp).await?.json().await?)
    }

    /// Sends a model directory (plus `--attach` files) as a gzip'd tar.
    pub async fn register(
        &self,
        dir: &Path,
        name: &str,
        attach: &[PathBuf],
    ) -> anyhow::Result<api::Registration> {
        self.register_with_origin(dir, name, attach, None).await
    }

    /// Sends a model directory as [`Client::register`] does, with where it
    /// came from (a git commit this process checked out) in the query.
    pub async fn register_with_origin(
        &self,
        dir: &Path,
        name: &str,
        attach: &[PathBuf],
        origin: Option<&api::Origin>,
    ) -> anyhow::Result<api::Registration> {
        let def = keel_core::Keel::inspect(dir, attach)?;
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for f in &def.files {
            // A file Keel made for the model travels like the model's own.
            if let Some((_, text)) = def.generated.iter().find(|(p, _)| *p == f.path) {
                let mut header = tar::Header::new_gnu();
                header.set_size(text.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                builder
                    .append_data(&mut header, &f.path, text.as_bytes())
                    .with_context(|| format!("cannot pack {}", f.path))?;
                continue;
            }
            let src = keel_core::file_origin(dir, attach, &f.path);
            builder
                .append_path_with_name(&src, &f.path)
                .with_context(|| format!("cannot pack {}", src.display()))?;
        }
        let body = builder.into_inner()?.finish()?;
        let mut path = fill(routes::VERSIONS, &[name]);
        if let Some(o) = origin {
            path.push_str(&origin_query(o));
        }
        let resp = self
            .http
            .post(self.url(&path))
            .header("content-type", "application/gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_err(e))?;
        Ok(self.check(resp).await?.json().await?)
    }

    /// Uploads a local data file for use as a job input.
    pub async fn upload(&self, path: &Path) -> anyhow::Result<api::Upload> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("cannot open the input {}", path.display()))?;
        let stream = tokio_util_stream(file);
        let resp = self
            .http
            .post(self.url(&format!("{}?name={}", routes::UPLOADS, encode(name))))
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| self.send_err(e))?;
        Ok(self.check(resp).await?.json().await?)
    }

    /// Downloads a job's output (or rejected records) into a temp file;
    /// with `download`, an output in a bucket too, through the server.
    pub async fn result(
        &self,
        id: JobId,
        rejected: bool,
        download: bool,
    ) -> anyhow::Result<Fetched> {
        let mut path = fill(
            if rejected {
                routes::JOB_REJECTED
            } else {
                routes::JOB_RESULT
            },
            &[&id.to_string()],
        );
        if download {
            path.push_str("?download=true");
        }
        let resp = self
            .http
            .get(self.url(&path))
            .send()
            .await
            .map_err(|e| self.send_err(e))?;
        let resp = self.check(resp).await?;
        let external = resp
            .headers()
            .get("keel-result")
            .and_then(|v| v.to_str().ok())
            == Some("external");
        if external {
            let v: serde_json::Value = resp.json().await?;
            let uri = v["uri"].as_str().unwrap_or_default().to_string();
            return Ok(Fetched::External(uri));
        }
        let name = resp
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("filename=").nth(1))
            .map(|s| s.trim_matches('"').to_string())
            .unwrap_or_else(|| {
                if rejected {
                    "rejected.jsonl".into()
                } else {
                    "result".into()
                }
            });
        let tmp = temp_path(id);
        let bytes = resp.bytes().await?;
        std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        Ok(Fetched::File {
            path: tmp,
            name,
            temp: true,
        })
    }
}

/// The query string that sends an origin with a registration.
fn origin_query(origin: &api::Origin) -> String {
    let q = api::RegisterQuery::of(origin);
    let pairs = [
        ("origin", &q.origin),
        ("repository", &q.repository),
        ("reference", &q.reference),
        ("commit", &q.commit),
        ("subdir", &q.subdir),
    ];
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    format!("?{}", parts.join("&"))
}

/// Streams a file in 1 MiB pieces so big inputs never sit in memory whole.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}
