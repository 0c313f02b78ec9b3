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
