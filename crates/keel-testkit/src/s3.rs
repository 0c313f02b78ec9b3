//! A real S3-compatible server for tests: `moto_server` (from PyPI, which
//! `scripts/setup-python.sh` installs into `.venv-tools`) on a free port of
//! 127.0.0.1, with one bucket, stopped when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every test server has.
pub const BUCKET: &str = "keel-test";

/// A running `moto_server`.
#[derive(Debug)]
pub struct Server {
    port: u16,
    child: Child,
}

/// `KEEL_TEST_MOTO`, else `.venv-tools/bin/moto_server` in the workspace.
fn program() -> PathBuf {
    std::env::var_os("KEEL_TEST_MOTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".venv-tools/bin/moto_server"))
}

impl Server {
    /// Starts a server and makes [`BUCKET`] on it. Returns `None` (after a
    /// loud message) when `moto_server` is not installed.
    ///
    /// # Panics
    /// Under `CI=true`, panics instead of returning `None`; and when an
    /// installed server does not start.
    pub fn start() -> Option<Server> {
        let program = program();
        if !program.exists() {
            crate::skip(&format!(
                "no moto_server at {} (run scripts/setup-python.sh or set KEEL_TEST_MOTO)",
                program.display()
            ));
            return None;
        }
        let port = crate::free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let server = Server { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server.request(&format!("PUT /{BUCKET} HTTP/1.1"));
        Some(server)
    }

    /// The endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://BUCKET/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The AWS variables a Keel process needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ]
    }

    /// The same as `object_store` settings, for a store opened in the test
    /// process itself.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("endpoint", self.endpoint()),
            ("allow_http", "true".into()),
            ("region", "us-east-1".into()),
            ("access_key_id", "testing".into()),
            ("secret_access_key", "testing".into()),
        ]
    }

    /// Stores `body` as the object `key` of [`BUCKET`], as a client other
    /// than Keel would.
    pub fn put(&self, key: &str, body: &[u8]) {
        let (status, _) = self.exchange("PUT", key, body);
        assert_eq!(status, 200, "moto_server refused to store {key}");
    }

    /// The object `key` of [`BUCKET`], or `None` when there is none.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.exchange("GET", key, &[]) {
            (200, body) => Some(body),
            (404, _) => None,
            (status, body) => panic!(
                "moto_server answered {status} for {key}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    /// The keys of [`BUCKET`] that start with `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let (status, body) = self.exchange("GET", &format!("?list-type=2&prefix={prefix}"), &[]);
        assert_eq!(status, 200, "moto_server cannot list {prefix}");
        let text = String::from_utf8_lossy(&body);
        text.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect()
    }

    /// One plain HTTP/1.1 request about `target` (a key, or a query of the
    /// bucket), answering the status and the body (moto does not check
    /// signatures, and its answers here carry a length).
    fn exchange(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("cannot reach moto_server: {e}"));
        let sep = if target.starts_with('?') { "" } else { "/" };
        let head = format!(
            "{method} /{BUCKET}{sep}{target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .unwrap_or_else(|e| panic!("cannot send to moto_server: {e}"));
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("moto_server sent no headers"));
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("moto_server sent no status: {head}"));
        let mut rest = answer[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            rest = unchunk(&rest);
        }
        (status, rest)
    }

    /// Sends one request without a body and checks it succeeds (moto does
    /// not check signatures).
    fn request(&self, line: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("cannot reach moto_server: {e}"));
        let req = format!(
            "{line}\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream
            .write_all(req.as_bytes())
            .unwrap_or_else(|e| panic!("cannot send to moto_server: {e}"));
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "moto_server answered {line}: {answer}"
        );
    }
}

/// The body of a chunked HTTP/1.1 answer.
fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
