//! End-to-end tests of the HTTP API: a real server on a loopback port over a
//! temporary data directory, real requests with reqwest, and (when the test
//! Python environment exists) real scoring jobs run by the background loop.

use std::path::Path;
use std::time::{Duration, Instant};

use keel_api_model::{
    Alias, AliasEvent, Job, LogChunk, Model, Page, Problem, Registration, Upload, Version,
};
use keel_core::{Config, Keel};
use reqwest::StatusCode;
use serde_json::json;

#[path = "it/auth.rs"]
mod auth;
#[path = "it/hostile.rs"]
mod hostile;
#[path = "it/sagemaker.rs"]
mod sagemaker;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A server running `serve` on a loopback port, stopped by `stop`.
struct Server {
    base: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _home: tempfile::TempDir,
}

impl Server {
    /// A server on a fresh data directory; `python` runs every model.
    async fn start(python: Option<&Path>) -> Result<Server, Box<dyn std::error::Error>> {
        Server::start_with(python, keel_server::Limits::default(), |_| {}).await
    }

    /// A server as [`Server::start`] makes, within `limits`, with its
    /// configuration changed by `tweak`.
    async fn start_with(
        python: Option<&Path>,
        limits: keel_server::Limits,
        tweak: fn(&mut Config),
    ) -> Result<Server, Box<dyn std::error::Error>> {
        let home = tempfile::tempdir()?;
        let mut cfg = Config::new(home.path());
        cfg.python = python.map(Path::to_path_buf);
        tweak(&mut cfg);
        let keel = Keel::open(cfg).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(keel_server::serve(keel, listener, 2, limits, async move {
            let _ = stopped.await;
        }));
        Ok(Server {
            base,
            http: reqwest::Client::new(),
            stop,
            task,
            _home: home,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.http.get(self.url(path)).send().await
    }

    /// Stops the server and checks that it shut down cleanly and promptly.
    async fn shutdown(self) -> TestResult {
        let _ = self.stop.send(());
        // Timeout, then the task's join, then `serve`'s own result.
        tokio::time::timeout(Duration::from_secs(20), self.task).await???;
        Ok(())
    }
}

/// Reads a problem response, checking its status, media type and code.
async fn expect_problem(
    resp: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> Result<Problem, Box<dyn std::error::Error>> {
    assert_eq!(
        resp.status(),
        status,
        "unexpected status for {}",
        resp.url()
    );
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json");
    let p: Problem = resp.json().await?;
    assert_eq!(p.code, code, "problem: {p:?}");
    assert_eq!(p.status, status.as_u16());
    assert_eq!(
        p.type_,
        format!("https://keel.dev/problems/{}", code.to_ascii_lowercase())
    );
    assert!(!p.detail.is_empty());
    Ok(p)
}

/// A gzip'd tar of a directory's contents, as the CLI sends it.
fn tar_gz(dir: &Path) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all(".", dir)?;
    tar.into_inner()?.finish()
}

/// A gzip'd tar whose only entry tries to escape the extraction directory.
fn escaping_tar_gz() -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let data = b"# modelop.score\ndef score(r):\n    return r\n";
    let mut header = tar::Header::new_old();
    // `set_path` refuses `..`, so write the name bytes directly, as an attacker would.
    let name = b"../evil.py";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append(&header, &data[..])?;
    tar.into_inner()?.finish()
}

/// A request the API must refuse, and the problem it must answer with (whose
/// instance is always the request's path).
struct Refusal {
    /// What is wrong with the request.
    what: &'static str,
    method: reqwest::Method,
    path: &'static str,
    body: Body,
    status: StatusCode,
    code: &'static str,
    /// The problem's detail, where `[..]` matches any text.
    detail: &'static str,
}

/// The body of a refused request.
enum Body {
    /// No body at all.
    Empty,
    /// A JSON document, sent as reqwest's `json` sends it.
    Json(&'static str),
    /// Bytes with the given content type, or none.
    Raw(Option<&'static str>, &'static [u8]),
    /// A gzip'd tar made by the function.
    Archive(fn() -> std::io::Result<Vec<u8>>),
}

const REFUSED: &[Refusal] = &[
    Refusal {
        what: "an unknown model",
        method: reqwest::Method::GET,
        path: "/api/v1/models/nope",
        body: Body::Empty,
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND",
        detail: "[..]nope[..]",
    },
    Refusal {
        what: "an unknown route: also a problem, not an empty 404",
        method: reqwest::Method::GET,
        path: "/api/v1/nothing-here",
        body: Body::Empty,
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND",
        detail: "[..]",
    },
    Refusal {
        what: "a job id that is not a UUID",
        method: reqwest::Method::GET,
        path: "/api/v1/jobs/not-a-uuid",
        body: Body::Empty,
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "[..]not-a-uuid[..]",
    },
    Refusal {
        what: "a well-formed but unknown job id",
        method: reqwest::Method::GET,
        path: "/api/v1/jobs/0190b1a2-7c3d-7e4f-8a5b-6c7d8e9f0a1b",
        body: Body::Empty,
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND",
        detail: "[..]",
    },
    Refusal {
        what: "a job body of the wrong shape",
        method: reqwest::Method::POST,
        path: "/api/v1/jobs",
        body: Body::Json(r#"{"kind": 1}"#),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "[..]kind[..]",
    },
    Refusal {
        what: "a job body of broken JSON",
        method: reqwest::Method::POST,
        path: "/api/v1/jobs",
        body: Body::Raw(Some("application/json"), b"{not json"),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "[..]",
    },
    Refusal {
        what: "a job body without a JSON content type",
        method: reqwest::Method::POST,
        path: "/api/v1/jobs",
        body: Body::Raw(None, b"{}"),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "[..]",
    },
    Refusal {
        what: "a job for a model that does not exist",
        method: reqwest::Method::POST,
        path: "/api/v1/jobs",
        body: Body::Json(
            r#"{
                "kind": "scoring",
                "model": "ghost",
                "input": {"kind": "path", "uri": "in.csv"},
                "output": {"kind": "embedded", "name": "out.csv"}
            }"#,
        ),
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND",
        detail: "[..]",
    },
    Refusal {
        what: "a malformed query value",
        method: reqwest::Method::GET,
        path: "/api/v1/models?max_results=lots",
        body: Body::Empty,
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "[..]",
    },
    Refusal {
        what: "an upload without a name",
        method: reqwest::Method::POST,
        path: "/api/v1/uploads",
        body: Body::Raw(None, b"a,b\n1,2\n"),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "[..]",
    },
    Refusal {
        what: "an archive that escapes its directory",
        method: reqwest::Method::POST,
        path: "/api/v1/models/evil/versions",
        body: Body::Archive(escaping_tar_gz),
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "UNSAFE_ARCHIVE",
        detail: "The archive in the request body is unsafe: its entry '../evil.py'[..]",
    },
    Refusal {
        what: "an empty registration body",
        method: reqwest::Method::POST,
        path: "/api/v1/models/empty/versions",
        body: Body::Raw(Some("application/gzip"), b""),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "[..]",
    },
    Refusal {
        what: "a registration without an archive's content type",
        method: reqwest::Method::POST,
        path: "/api/v1/models/untyped/versions",
        body: Body::Raw(None, b"not read"),
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "UNSUPPORTED_MEDIA_TYPE",
        detail: "A model registration's body is an archive[..]without a Content-Type.",
    },
    Refusal {
        what: "a registration as JSON",
        method: reqwest::Method::POST,
        path: "/api/v1/models/json/versions",
        body: Body::Raw(Some("application/json"), b"{}"),
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "UNSUPPORTED_MEDIA_TYPE",
        detail: "[..]not 'application/json'.",
    },
    Refusal {
        what: "a registration that is not an archive at all",
        method: reqwest::Method::POST,
        path: "/api/v1/models/junk/versions",
        body: Body::Raw(Some("application/gzip"), b"this is not gzip"),
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "INVALID_MODEL",
        detail: "The archive in the request body cannot be read[..]",
    },
    Refusal {
        what: "an origin whose repository carries credentials",
        method: reqwest::Method::POST,
        path: "/api/v1/models/creds/versions?origin=git&repository=https%3A%2F%2Fu%3As3cret%40example.com%2Fr.git&reference=main&commit=0123456789abcdef0123456789abcdef01234567",
        body: Body::Raw(Some("application/gzip"), b"not read"),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "The origin's `repository` is not valid: it carries credentials[..]",
    },
    Refusal {
        what: "an origin without its commit",
        method: reqwest::Method::POST,
        path: "/api/v1/models/partial/versions?origin=git&repository=https%3A%2F%2Fexample.com%2Fr.git&reference=main",
        body: Body::Raw(Some("application/gzip"), b"not read"),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "The query gives `origin` but no `commit`[..]",
    },
    Refusal {
        what: "an origin whose commit is not a commit id",
        method: reqwest::Method::POST,
        path: "/api/v1/models/badsha/versions?origin=git&repository=https%3A%2F%2Fexample.com%2Fr.git&reference=main&commit=HEAD",
        body: Body::Raw(Some("application/gzip"), b"not read"),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "The origin's `commit` is not valid: 'HEAD' is not a full commit id[..]",
    },
    Refusal {
        what: "an origin whose subdirectory climbs out",
        method: reqwest::Method::POST,
        path: "/api/v1/models/climb/versions?origin=git&repository=file%3A%2F%2F%2Fsrv%2Fr.git&reference=v1&commit=0123456789abcdef0123456789abcdef01234567&subdir=..%2Fup",
        body: Body::Raw(Some("application/gzip"), b"not read"),
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_ARGUMENT",
        detail: "The origin's `subdir` is not valid: the subdirectory '../up' holds '.' or '..'[..]",
    },
];

/// Sends the refused request and checks the problem it gets back.
async fn refused(s: &Server, case: &Refusal) -> TestResult {
    let request = s.http.request(case.method.clone(), s.url(case.path));
    let request = match &case.body {
        Body::Empty => request,
        Body::Json(text) => request.json(&serde_json::from_str::<serde_json::Value>(text)?),
        Body::Raw(content_type, bytes) => {
            let request = match content_type {
                Some(ct) => request.header("content-type", *ct),
                None => request,
            };
            request.body(*bytes)
        }
        Body::Archive(make) => request
            .header("content-type", "application/gzip")
            .body(make()?),
    };
    let p = expect_problem(request.send().await?, case.status, case.code).await?;
    assert!(
        keel_testkit::matches(case.detail, &p.detail),
        "{}: the detail {:?} does not match {:?}",
        case.what,
        p.detail,
        case.detail
    );
    assert!(!p.detail.contains("s3cret"), "{}: {}", case.what, p.detail);
    // The instance is the request's path, without its query.
    let path = case.path.split('?').next();
    assert_eq!(p.instance.as_deref(), path, "{}", case.what);
    Ok(())
}

#[tokio::test]
async fn health_openapi_and_problems() -> TestResult {
    let s = Server::start(None).await?;

    let live = s.get("/livez").await?;
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(live.text().await?, "ok");

    let ready = s.get("/readyz").await?;
    assert_eq!(ready.status(), StatusCode::OK);
    let health: serde_json::Value = ready.json().await?;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["checks"]["storage"], "ok");

    let doc: serde_json::Value = s.get("/api/v1/openapi.json").await?.json().await?;
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"]
        .as_object()
        .ok_or("openapi.json has no paths")?;
    for p in [
        "/api/v1/jobs",
        "/api/v1/jobs/{id}/result",
        "/api/v1/models/{model}/versions",
        "/api/v1/uploads",
        "/api/v1/comparisons",
        "/api/v1/comparisons/{id}",
        "/livez",
        "/readyz",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    assert!(doc["paths"]["/api/v1/jobs"]["post"]["responses"]["202"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // Every schema the document refers to is in it (a nested wire type
    // missing from the components would leave clients a dangling $ref).
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x.as_str()) {
                        ("$ref", Some(r)) => out.push(r),
                        _ => refs(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for r in &found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "openapi.json refers to {r}, which it lacks"
        );
    }
    for name in ["Job", "JobAttempt", "AttemptOutcome", "CreateJob"] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "no schema {name}"
        );
    }

    // Requests the API refuses, each answered with its problem document.
    for case in REFUSED {
        refused(&s, case).await?;
    }
    // Nothing refused, the unsafe archive included, left a model behind.
    let models: Page<Model> = s.get("/api/v1/models").await?.json().await?;
    assert!(models.items.is_empty(), "{:?}", models.items);

    // An upload with a name is stored with its size and hash.
    let resp = s
        .http
        .post(s.url("/api/v1/uploads?name=small.csv"))
        .body("a,b\n1,2\n")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let up: Upload = resp.json().await?;
    assert_eq!(up.name, "small.csv");
    assert_eq!(up.size, 8);
    assert_eq!(up.sha256.len(), 64);

    s.shutdown().await
}

#[tokio::test]
async fn register_score_and_fetch_result() -> TestResult {
    let Some(py) = keel_testkit::python() else {
        return Ok(());
    };
    let fixtures = tempfile::tempdir()?;
    keel_testkit::make_fixtures(&py, fixtures.path());
    let s = Server::start(Some(&py)).await?;

    // Register fraud: 201 the first time, 200 with created=false when unchanged.
    let archive = tar_gz(&fixtures.path().join("fraud"))?;
    let resp = s
        .http
        .post(s.url("/api/v1/models/fraud/versions"))
        .header("content-type", "application/gzip")
        .body(archive.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let reg: Registration = resp.json().await?;
    assert!(reg.created);
    assert_eq!(reg.model.name, "fraud");
    assert_eq!(reg.version.number, 1);
    assert!(reg.version.functions.score.is_some());
    assert!(reg.version.files.iter().any(|f| f.path == "model.pkl"));
    let resp = s
        .http
        .post(s.url("/api/v1/models/fraud/versions"))
        .header("content-type", "application/gzip")
        .body(archive)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let again: Registration = resp.json().await?;
    assert!(!again.created);
    assert_eq!(again.version.id, reg.version.id);

    // List and show.
    let models: Page<Model> = s.get("/api/v1/models").await?.json().await?;
    assert_eq!(models.items.len(), 1);
    assert_eq!(models.items[0].name, "fraud");
    let model: Model = s.get("/api/v1/models/fraud").await?.json().await?;
    assert_eq!(model.latest_version, 1);
    let by_id: Model = s
        .get(&format!("/api/v1/models/{}", model.id))
        .await?
        .json()
        .await?;
    assert_eq!(by_id.name, "fraud");
    let versions: Page<Version> = s.get("/api/v1/models/fraud/versions").await?.json().await?;
    assert_eq!(versions.items.len(), 1);
    let v1: Version = s
        .get("/api/v1/models/fraud/versions/1")
        .await?
        .json()
        .await?;
    assert_eq!(v1.id, reg.version.id);
    expect_problem(
        s.get("/api/v1/models/fraud/versions/7").await?,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await?;
    expect_problem(
        s.get("/api/v1/models/fraud/versions/seven").await?,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    )
    .await?;

    // Aliases.
    let resp = s
        .http
        .put(s.url("/api/v1/models/fraud/aliases/champion"))
        .json(&json!({"version": 1}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let alias: Alias = resp.json().await?;
    assert_eq!((alias.alias.as_str(), alias.version), ("champion", 1));
    let aliases: Vec<Alias> = s.get("/api/v1/models/fraud/aliases").await?.json().await?;
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].alias, "champion");
    let champ: Version = s
        .get("/api/v1/versions/fraud%40champion")
        .await?
        .json()
        .await?;
    assert_eq!(champ.id, reg.version.id);
    assert_eq!(champ.aliases, vec!["champion".to_string()]);
    let by_number: Version = s.get("/api/v1/versions/fraud:1").await?.json().await?;
    assert_eq!(by_number.number, 1);

    // Upload the input.
    let input = std::fs::read(fixtures.path().join("data/input.csv"))?;
    let resp = s
        .http
        .post(s.url("/api/v1/uploads?name=input.csv"))
        .header("content-type", "text/csv")
        .body(input.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let up: Upload = resp.json().await?;
    assert_eq!(up.size, input.len() as u64);

    // Create a scoring job: 202 with a Location header.
    let resp = s
        .http
        .post(s.url("/api/v1/jobs"))
        .json(&json!({
            "kind": "scoring",
            "model": "fraud@champion",
            "input": {"kind": "upload", "upload_id": up.id},
            "output": {"kind": "embedded", "name": "out.csv"},
            "workers": 2
        }))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Location header")?
        .to_string();
    let job: Job = resp.json().await?;
    assert_eq!(location, format!("/api/v1/jobs/{}", job.id));
    assert_eq!(job.version, 1);

    // The background loop runs it.
    let start = Instant::now();
    let done = loop {
        let j: Job = s.get(&location).await?.json().await?;
        match j.status.as_str() {
            "COMPLETED" => break j,
            "FAILED" | "STOPPED" => {
                return Err(format!("the job ended {}: {:?}", j.status, j.error).into());
            }
            _ if start.elapsed() > Duration::from_secs(90) => {
                return Err(format!("the job is still {} after 90 s", j.status).into());
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert_eq!(done.counts.read, 569);
    assert_eq!(done.counts.written, 569);

    // The result: the CSV itself, streamed.
    let resp = s.get(&format!("{location}/result")).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(header("keel-result"), "embedded");
    assert_eq!(header("content-type"), "text/csv");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"out.csv\""
    );
    let text = resp.text().await?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 570, "expected a header and 569 rows");
    assert!(lines[0].contains("probability"), "header: {}", lines[0]);

    // No records were rejected, so there is nothing to fetch.
    expect_problem(
        s.get(&format!("{location}/rejected")).await?,
        StatusCode::NOT_FOUND,
        "NO_RESULT",
    )
    .await?;

    // Logs and lists.
    let logs: LogChunk = s
        .get(&format!("{location}/logs?offset=0"))
        .await?
        .json()
        .await?;
    assert!(logs.finished);
    assert!(logs.next_offset >= logs.content.len() as u64);
    let jobs: Page<Job> = s
        .get("/api/v1/jobs?status=COMPLETED&model=fraud")
        .await?
        .json()
        .await?;
    assert_eq!(
        jobs.items.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![job.id]
    );
    let none: Page<Job> = s.get("/api/v1/jobs?status=FAILED").await?.json().await?;
    assert!(none.items.is_empty());
    expect_problem(
        s.get("/api/v1/jobs?status=SIDEWAYS").await?,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    )
    .await?;

    // Comparisons need two metrics jobs and a metric Keel knows.
    let compare =
        |body: serde_json::Value| s.http.post(s.url("/api/v1/comparisons")).json(&body).send();
    let p = expect_problem(
        compare(serde_json::json!({
            "champion_job": job.id, "challenger_job": job.id, "policy": {"metric": "auc"}
        }))
        .await?,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    )
    .await?;
    assert!(p.detail.contains("scoring job"), "{}", p.detail);
    expect_problem(
        compare(serde_json::json!({
            "champion_job": job.id, "challenger_job": job.id, "policy": {"metric": "vibes"}
        }))
        .await?,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    )
    .await?;
    expect_problem(
        compare(serde_json::json!({
            "champion_job": uuid::Uuid::now_v7(), "challenger_job": job.id,
            "policy": {"metric": "auc"}
        }))
        .await?,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await?;
    expect_problem(
        s.get(&format!("/api/v1/comparisons/{}", uuid::Uuid::now_v7()))
            .await?,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await?;
    let none: Page<serde_json::Value> = s.get("/api/v1/comparisons").await?.json().await?;
    assert!(none.items.is_empty());

    // Cancelling a finished job conflicts.
    let resp = s
        .http
        .post(s.url(&format!("{location}/cancel")))
        .send()
        .await?;
    expect_problem(resp, StatusCode::CONFLICT, "CONFLICT").await?;

    // Deleting the alias: 204, then the reference no longer resolves.
    let resp = s
        .http
        .delete(s.url("/api/v1/models/fraud/aliases/champion"))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_problem(
        s.get("/api/v1/versions/fraud%40champion").await?,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await?;
    let events: Vec<AliasEvent> = s
        .get("/api/v1/models/fraud/alias-events")
        .await?
        .json()
        .await?;
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].from_version, events[0].to_version),
        (None, Some(1))
    );
    assert_eq!(
        (events[1].from_version, events[1].to_version),
        (Some(1), None)
    );

    s.shutdown().await
}
