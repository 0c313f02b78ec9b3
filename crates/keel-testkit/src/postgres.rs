//! Fresh PostgreSQL databases for tests: each test gets a database of its
//! own on the server `KEEL_TEST_POSTGRES_URL` names (by default the one every
//! machine of this project runs on 127.0.0.1:5432), dropped when the test
//! ends. `psql` does the work, so that blocking and async tests alike can
//! use it. Each database collates text as `en-US` does (ICU), not by bytes.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The server tests create their databases on, as a URL to a database that
/// exists there.
pub fn admin_url() -> String {
    std::env::var("KEEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// The prefix of every test database's name; the rest is the creating
/// process's id and a counter, so that databases a killed test run left
/// behind can be told apart and dropped.
const PREFIX: &str = "keel_test_";

/// A database made for one test, dropped (with any connections still open to
/// it) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to connect to it with.
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Creates an empty database for a test, first dropping those that test
/// processes which have since ended left behind.
///
/// Returns `None` (after printing a loud message) when no PostgreSQL server
/// answers.
///
/// # Panics
/// Under `CI=true`, panics instead of returning `None`: in CI a skip is a failure.
pub fn database() -> Option<TestDatabase> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    if let Err(e) = psql("SELECT 1") {
        crate::skip(&format!(
            "no PostgreSQL server answers at {} ({e}); start one or set KEEL_TEST_POSTGRES_URL",
            admin_url()
        ));
        return None;
    }
    drop_leftovers();
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    // A collation that is not byte order (as most production databases
    // have), so that a query relying on byte order shows.
    let create = format!(
        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' \
         LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    );
    if let Err(e) = psql(&create) {
        crate::skip(&format!(
            "cannot create a test database on {}: {e}",
            admin_url()
        ));
        return None;
    }
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    Some(TestDatabase {
        url: format!("{base}/{name}"),
        name,
    })
}

/// Drops the test databases whose creating process is gone.
fn drop_leftovers() {
    let Ok(names) = psql(&format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"
    )) else {
        return;
    };
    for name in names.lines().map(str::trim) {
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Runs one SQL command on the admin database; its output, unaligned and
/// without headers.
fn psql(sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(admin_url())
        .args(["-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// A PostgreSQL server of a test's own, in a temporary directory on a free
/// port, for tests that must stop and restart the database (which the
/// shared server must never be). Made with the machine's `initdb` and
/// `postgres`, run as the `postgres` user when the test runs as root (the
/// server refuses to run as root). Stopped when dropped.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
    server: Option<std::process::Child>,
}

impl Cluster {
    /// Makes and starts a cluster. Returns `None` (after a loud message)
    /// when the PostgreSQL server programs are not installed.
    ///
    /// # Panics
    /// Under `CI=true`, panics instead of returning `None`; and when a
    /// cluster that could be made does not start.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = server_programs() else {
            crate::skip(
                "no PostgreSQL server programs (initdb, postgres) under /usr/lib/postgresql",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap_or_else(|e| panic!("the cluster's directory: {e}"));
        if is_root() {
            for path in [dir.path(), data.as_path()] {
                let chowned = Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(path)
                    .status();
                assert!(
                    chowned.is_ok_and(|s| s.success()),
                    "cannot chown {}",
                    path.display()
                );
            }
        }
        let out = as_postgres(&bin.join("initdb"))
            .args([
                "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale", "C.UTF-8", "-D",
            ])
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = crate::free_port();
        let mut cluster = Cluster {
            dir,
            port,
            bin,
            server: None,
        };
        cluster.up();
        Some(cluster)
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (a fast shutdown: every connection is cut) and
    /// starts it again on the same port after `down_for`.
    pub fn restart(&mut self, down_for: std::time::Duration) {
        self.down();
        std::thread::sleep(down_for);
        self.up();
    }

    fn up(&mut self) {
        let data = self.dir.path().join("data");
        let log = std::fs::File::create(self.dir.path().join(format!("server-{}.log", self.port)))
            .unwrap_or_else(|e| panic!("the server's log: {e}"));
        let child = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(self.dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start postgres: {e}"));
        self.server = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "postgres is not ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn down(&mut self) {
        if let Some(mut child) = self.server.take() {
            // A fast shutdown: connections are cut, the cluster stays sound.
            let stopped = as_postgres(&self.bin.join("pg_ctl"))
                .args(["stop", "-m", "fast", "-w", "-D"])
                .arg(self.dir.path().join("data"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            if !stopped.is_ok_and(|s| s.success()) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.down();
    }
}

/// The directory of the newest installed PostgreSQL server programs.
fn server_programs() -> Option<std::path::PathBuf> {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// A command that runs `program` as the `postgres` user when this process
/// is root, and as itself otherwise.
fn as_postgres(program: &std::path::Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}
