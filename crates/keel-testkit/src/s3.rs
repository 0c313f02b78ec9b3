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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
