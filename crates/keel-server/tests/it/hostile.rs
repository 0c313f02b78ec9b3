//! Hostile clients: numbers out of range, errors the HTTP layer makes itself,
//! names too long for storage, and clients that open connections and never
//! finish their headers.

use std::time::Duration;

use keel_api_model::{Registration, Upload};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Server, TestResult, expect_problem, tar_gz};

/// Registers a model `m` (no Python needed: registration reads text) and
/// uploads a small input; returns the upload's id.
async fn model_and_input(s: &Server) -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("m.py"),
        "# modelop.score\ndef action(r):\n    yield r\n",
    )?;
    let resp = s
        .http
        .post(s.url("/api/v1/models/m/versions"))
        .header("content-type", "application/gzip")
        .body(tar_gz(dir.path())?)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let _: Registration = resp.json().await?;
    let up: Upload = s
        .http
        .post(s.url("/api/v1/uploads?name=in.csv"))
        .body("x\n1\n")
        .send()
        .await?
        .json()
        .await?;
    Ok(up.id.to_string())
}

#[tokio::test]
async fn numbers_out_of_range_are_refused_naming_the_field() -> TestResult {
    let s = Server::start(None).await?;
    let upload = model_and_input(&s).await?;
    let job = |extra: serde_json::Value| {
        let mut body = json!({
            "kind": "scoring",
            "model": "m",
            "input": {"kind": "upload", "upload_id": upload},
            "output": {"kind": "embedded", "name": "o.csv"},
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    let cases = [
        (
            json!({"max_runtime_seconds": u64::MAX}),
            "`max_runtime_seconds` must be between 1 and 2592000",
        ),
        (
            json!({"max_runtime_seconds": 0}),
            "`max_runtime_seconds` must be between 1",
        ),
        (json!({"workers": 256}), "`workers` must be between 1 and "),
        (json!({"workers": 0}), "`workers` must be between 1 and "),
    ];
    for (extra, fragment) in cases {
        let resp = s
            .http
            .post(s.url("/api/v1/jobs"))
            .json(&job(extra.clone()))
            .send()
            .await?;
        let p = expect_problem(resp, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").await?;
        assert!(p.detail.contains(fragment), "{extra}: {}", p.detail);
    }
    for path in ["/api/v1/jobs", "/api/v1/models", "/api/v1/comparisons"] {
        for n in ["0", "5000"] {
            let resp = s.get(&format!("{path}?max_results={n}")).await?;
            let p = expect_problem(resp, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").await?;
            assert!(
                p.detail
                    .contains("`max_results` must be between 1 and 1000"),
                "{path}: {}",
                p.detail
            );
        }
    }
    // Nothing was queued.
    let jobs: serde_json::Value = s.get("/api/v1/jobs").await?.json().await?;
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(0), "{jobs}");
    s.shutdown().await
}

#[tokio::test]
async fn errors_of_the_http_layer_and_bad_names_are_problems() -> TestResult {
    let s = Server::start(None).await?;
    // A method the route does not answer: 405 with Allow, as a problem.
    let resp = s.http.delete(s.url("/api/v1/jobs")).send().await?;
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    expect_problem(resp, StatusCode::METHOD_NOT_ALLOWED, "INVALID_ARGUMENT").await?;

    // An upload name too long for any file system: a 400 naming the field
    // and the limit, without the storage path.
    let long = "a".repeat(300) + ".csv";
    let resp = s
        .http
        .post(s.url(&format!("/api/v1/uploads?name={long}")))
        .body("x\n1\n")
        .send()
        .await?;
    let p = expect_problem(resp, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").await?;
    assert!(
        p.detail.contains("`name`") && p.detail.contains("255 bytes"),
        "{}",
        p.detail
    );
    assert!(!p.detail.contains("uploads/"), "{}", p.detail);

    // A bad model name is refused before the archive is read: the body here
    // is not even an archive.
    let resp = s
        .http
        .post(s.url("/api/v1/models/-bad/versions"))
        .header("content-type", "application/gzip")
        .body("not an archive")
        .send()
        .await?;
    let p = expect_problem(resp, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").await?;
    assert!(p.detail.contains("model name"), "{}", p.detail);
    s.shutdown().await
}

/// Opens a connection and sends half of a request's headers.
async fn half_header(addr: &str) -> std::io::Result<tokio::net::TcpStream> {
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    c.write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await?;
    Ok(c)
}

#[tokio::test]
async fn clients_that_never_finish_their_headers_do_not_stop_the_server() -> TestResult {
    // Many stalled clients under the connection cap: others are answered at once.
    let limits = keel_server::Limits {
        header_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let s = Server::start_with(None, limits, |_| {}).await?;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for _ in 0..300 {
        stalled.push(half_header(&addr).await?);
    }
    let live = tokio::time::timeout(Duration::from_secs(5), s.get("/livez")).await??;
    assert_eq!(live.status(), StatusCode::OK);
    // The server hangs up on each stalled client once the header timeout passes.
    for mut c in stalled.drain(..10) {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a stalled connection stayed open");
    }
    drop(stalled);
    s.shutdown().await?;

    // As many stalled clients as the cap: the next one waits only until the
    // header timeout frees a connection.
    let limits = keel_server::Limits {
        header_timeout: Duration::from_secs(1),
        max_connections: 4,
        ..Default::default()
    };
    let s = Server::start_with(None, limits, |_| {}).await?;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(half_header(&addr).await?);
    }
    let live = tokio::time::timeout(Duration::from_secs(6), s.get("/livez")).await??;
    assert_eq!(live.status(), StatusCode::OK);
    drop(stalled);
    s.shutdown().await
}

#[tokio::test]
async fn uploads_stay_within_the_quota_and_can_be_deleted() -> TestResult {
    let s = Server::start_with(None, keel_server::Limits::default(), |cfg| {
        cfg.upload_quota_bytes = 10;
    })
    .await?;
    let upload = |body: &'static str| {
        s.http
            .post(s.url("/api/v1/uploads?name=in.csv"))
            .body(body)
            .send()
    };
    let first = upload("x\n1\n2\n").await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Upload = first.json().await?;
    // Six bytes used, four left: a six-byte upload is over the quota.
    let p = expect_problem(
        upload("x\n3\n4\n").await?,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await?;
    assert!(p.detail.contains("upload quota"), "{}", p.detail);
    // Deleting the first frees its bytes; deleting it again finds nothing.
    let path = format!("/api/v1/uploads/{}", first.id);
    let gone = s.http.delete(s.url(&path)).send().await?;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let again = s.http.delete(s.url(&path)).send().await?;
    expect_problem(again, StatusCode::NOT_FOUND, "NOT_FOUND").await?;
    let bad = s.http.delete(s.url("/api/v1/uploads/nope")).send().await?;
    expect_problem(bad, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").await?;
    assert_eq!(upload("x\n3\n4\n").await?.status(), StatusCode::CREATED);
    s.shutdown().await
}

#[tokio::test]
async fn an_admin_sets_the_largest_body() -> TestResult {
    let s = Server::start_with(None, keel_server::Limits::default(), |cfg| {
        cfg.max_body_bytes = 64;
    })
    .await?;
    let big = "x\n".repeat(40);
    for (path, content_type) in [
        ("/api/v1/uploads?name=in.csv", "application/octet-stream"),
        ("/api/v1/models/m/versions", "application/gzip"),
    ] {
        let answer = s
            .http
            .post(s.url(path))
            .header("content-type", content_type)
            .body(big.clone())
            .send()
            .await?;
        let p = expect_problem(answer, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await?;
        assert!(p.detail.contains("64 bytes"), "{path}: {}", p.detail);
    }
    let small = s
        .http
        .post(s.url("/api/v1/uploads?name=in.csv"))
        .body("x\n1\n")
        .send()
        .await?;
    assert_eq!(small.status(), StatusCode::CREATED);
    s.shutdown().await
}

#[tokio::test]
async fn the_request_timeout_spares_only_streaming_routes() -> TestResult {
    let limits = keel_server::Limits {
        request_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let s = Server::start_with(None, limits, |_| {}).await?;
    let addr = s.base.trim_start_matches("http://").to_string();
    // A JSON body that never arrives in full holds a request open; the
    // request timeout answers it.
    let mut c = tokio::net::TcpStream::connect(&addr).await?;
    c.write_all(
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\":",
    )
    .await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await??;
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("KEEL_REQUEST_TIMEOUT_SECONDS"), "{answer}");
    // Uploads stream, so a slow one is bounded by its size, not the timeout.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<&'static str, std::io::Error>>(1);
    let slow = s
        .http
        .post(s.url("/api/v1/uploads?name=in.csv"))
        .body(reqwest::Body::wrap_stream(tokio_stream_of(rx)))
        .send();
    let feed = async move {
        let _ = tx.send(Ok("x\n")).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = tx.send(Ok("1\n")).await;
    };
    let (up, ()) = tokio::join!(slow, feed);
    assert_eq!(up?.status(), StatusCode::CREATED);
    s.shutdown().await
}

/// The chunks `rx` receives, as a stream for a request body.
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Result<&'static str, std::io::Error>>,
) -> impl futures::Stream<Item = Result<&'static str, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// Sends raw bytes on a fresh connection and reads the whole answer.
async fn raw(addr: &str, request: &[u8]) -> std::io::Result<String> {
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    c.write_all(request).await?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut answer)).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn answers_hyper_makes_itself_are_problems_too() -> TestResult {
    let s = Server::start(None).await?;
    let addr = s.base.trim_start_matches("http://").to_string();
    let huge_header = format!(
        "GET /api/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(600 << 10)
    );
    let many_headers = format!(
        "GET /api/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let long_uri = format!(
        "GET /api/v1/models?x={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "a".repeat(70_000)
    );
    let cases: [(&[u8], &str); 4] = [
        (b"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 "),
        (long_uri.as_bytes(), "HTTP/1.1 414 "),
        (huge_header.as_bytes(), "HTTP/1.1 431 "),
        (many_headers.as_bytes(), "HTTP/1.1 431 "),
    ];
    for (request, status) in cases {
        let answer = raw(&addr, request).await?;
        assert!(answer.starts_with(status), "{answer}");
        assert!(
            answer.contains("content-type: application/problem+json"),
            "{answer}"
        );
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let doc: serde_json::Value = serde_json::from_str(body)?;
        assert_eq!(
            doc["status"].as_u64(),
            status[9..12].parse::<u64>().ok(),
            "{body}"
        );
        assert!(
            doc["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    // The server still answers afterwards.
    assert_eq!(
        s.http.get(s.url("/livez")).send().await?.status(),
        StatusCode::OK
    );
    s.shutdown().await
}

/// The data roots of a server started by [`Server::start_with`] with
/// [`roots_only`]: a directory beside its data directory.
fn roots_of(s: &Server) -> std::path::PathBuf {
    s._home.path().with_extension("roots")
}

fn roots_only(cfg: &mut keel_core::Config) {
    cfg.data_access = keel_core::DataAccess::Roots(vec![cfg.home.with_extension("roots")]);
    // The jobs this test creates need not run: they fail at once.
    cfg.python = Some("/nonexistent/python3".into());
}

#[tokio::test]
async fn a_server_reads_and_writes_only_under_its_data_roots() -> TestResult {
    let s = Server::start_with(None, keel_server::Limits::default(), roots_only).await?;
    let roots = roots_of(&s);
    std::fs::create_dir_all(&roots)?;
    std::fs::write(roots.join("in.csv"), "x\n1\n")?;
    std::os::unix::fs::symlink("/etc/passwd", roots.join("passwd.csv"))?;
    let upload = model_and_input(&s).await?;
    let home = s._home.path().to_string_lossy().into_owned();
    let inside = roots.join("in.csv").to_string_lossy().into_owned();
    let path_in = |p: &str| json!({"kind": "path", "uri": p});
    let up = json!({"kind": "upload", "upload_id": upload});
    let embedded = json!({"kind": "embedded", "name": "o.csv"});
    let external = |p: &str| json!({"kind": "external", "uri": p});
    // (input, output, refused with: status, code, a fragment of the detail)
    let cases = [
        (
            path_in("/etc/passwd"),
            embedded.clone(),
            Some((403, "FORBIDDEN", "outside the directories")),
        ),
        (
            path_in("file:///etc/passwd"),
            embedded.clone(),
            Some((403, "FORBIDDEN", "outside the directories")),
        ),
        (
            path_in("/etc/no-such-file.csv"),
            embedded.clone(),
            Some((403, "FORBIDDEN", "outside the directories")),
        ),
        (
            path_in(&format!("{}/../../etc/passwd", roots.display())),
            embedded.clone(),
            Some((403, "FORBIDDEN", "'..'")),
        ),
        (
            path_in("in.csv"),
            embedded.clone(),
            Some((403, "FORBIDDEN", "relative")),
        ),
        (
            path_in(&roots.join("passwd.csv").to_string_lossy()),
            embedded.clone(),
            Some((403, "FORBIDDEN", "symbolic link")),
        ),
        (
            up.clone(),
            external("/tmp/keel-hostile-out.csv"),
            Some((403, "FORBIDDEN", "outside the directories")),
        ),
        (
            up.clone(),
            external(&format!("{home}/artifacts/x.csv")),
            Some((403, "FORBIDDEN", "outside the directories")),
        ),
        (path_in(&inside), embedded.clone(), None),
        (
            up.clone(),
            external(&roots.join("o.csv").to_string_lossy()),
            None,
        ),
    ];
    for (input, output, refused) in cases {
        let body = json!({"kind": "scoring", "model": "m", "input": input, "output": output});
        let resp = s
            .http
            .post(s.url("/api/v1/jobs"))
            .json(&body)
            .send()
            .await?;
        match refused {
            Some((status, code, fragment)) => {
                let p = expect_problem(resp, StatusCode::from_u16(status)?, code).await?;
                assert!(p.detail.contains(fragment), "{body}: {}", p.detail);
            }
            None => assert_eq!(resp.status(), StatusCode::ACCEPTED, "{body}"),
        }
    }
    assert!(!std::path::Path::new("/tmp/keel-hostile-out.csv").exists());
    Ok(())
}

#[tokio::test]
async fn foreign_origins_hosts_and_form_bodies_are_refused() -> TestResult {
    let s = Server::start(None).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("m.py"),
        "# modelop.score\ndef action(r):\n    yield r\n",
    )?;
    let archive = tar_gz(dir.path())?;
    let register = |origin: Option<&str>, host: Option<&str>, ct: &str| {
        let mut r = s
            .http
            .post(s.url("/api/v1/models/m/versions"))
            .header("content-type", ct)
            .body(archive.clone());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(h) = host {
            r = r.header("host", h);
        }
        r
    };
    // A page on another site posting a model, as a browser would send it.
    let p = expect_problem(
        register(Some("https://evil.example"), None, "application/gzip")
            .send()
            .await?,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await?;
    assert!(p.detail.contains("evil.example"), "{}", p.detail);
    // The same page rebinding a name of its own to 127.0.0.1.
    expect_problem(
        register(None, Some("rebind.evil.example:7878"), "application/gzip")
            .send()
            .await?,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await?;
    // A form's body type, which needs no CORS preflight.
    expect_problem(
        register(None, None, "text/plain").send().await?,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await?;
    // Nothing was registered; the server's own origin registers.
    let models: serde_json::Value = s
        .http
        .get(s.url("/api/v1/models"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        models["items"].as_array().map(Vec::len),
        Some(0),
        "{models}"
    );
    let own = s.base.clone();
    let resp = register(Some(&own), None, "application/gzip")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    Ok(())
}
