//! The SQLite backend of every store trait: opening the file, its
//! migrations, and the shared SQL of [`crate::sql`] expanded for
//! [`SqliteStore`].
//!
//! Several processes (a CLI and a server) may share one database file, so the
//! database runs in WAL mode with a 10 s busy timeout, multi-statement writes
//! start with `BEGIN IMMEDIATE` (taking the write lock up front, which the busy
//! timeout can wait for, instead of failing when a read lock is upgraded), and
//! the job claim is a single `UPDATE ... RETURNING` statement.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_types::SharedClock;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Error, Result};
use crate::sql::migrate;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many times opening retries the migrations. SQLite migrations take no
/// lock, so two processes opening a fresh database at once can race; the loser
/// rolls back and, on retry, finds the schema already in place.
const MIGRATION_ATTEMPTS: u32 = 5;

/// How many times opening retries the first connection when the file is
/// locked; with the growing back-off this waits about 10 s in all.
const CONNECT_ATTEMPTS: u32 = 30;

/// Whether an error is SQLite's "database is locked" or "table is locked"
/// (SQLITE_BUSY or SQLITE_LOCKED, with any extended code), which another
/// process holding the file causes and which go away on retry.
fn is_busy(e: &sqlx::Error) -> bool {
    let Some(code) = e.as_database_error().and_then(|d| d.code()) else {
        return false;
    };
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// A metadata store in one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    clock: SharedClock,
}

impl SqliteStore {
    /// How a transaction that writes begins: taking the write lock up front,
    /// which the busy timeout can wait for.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// Opens (creating the file and its parent directories if needed) the
    /// database at `path` and brings its schema up to date.
    pub async fn open(path: &Path, clock: SharedClock) -> Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Error::io(parent, e))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Turning a fresh file into WAL mode needs an exclusive lock that the
        // busy timeout does not wait for, so a process that opens the file
        // while another is doing so gets SQLITE_BUSY at once; it backs off and
        // tries again, and by then the file is in WAL mode and needs no lock.
        let mut attempt = 1;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && attempt < CONNECT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let mut attempt = 1;
        loop {
            match migrate(&MIGRATOR, &pool).await {
                Ok(()) => break,
                Err(e @ Error::SchemaTooNew { .. }) => return Err(e),
                Err(_) if attempt < MIGRATION_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Self { pool, clock })
    }

    /// The connection pool, for tests and maintenance.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The current time, from the store's clock.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// SQLite cannot tell other processes that a job was queued; they poll.
    async fn notify_work(&self) {}

    /// Waits the whole timeout: SQLite has no notifications.
    async fn listen_for_work(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }
}

crate::sql::registry::registry_store!(SqliteStore);
crate::sql::queue::job_queue!(SqliteStore, claim_lock = "");
crate::sql::comparisons::comparison_store!(SqliteStore);
crate::sql::uploads::upload_store!(SqliteStore);
crate::sql::access::access_store!(SqliteStore);
crate::sql::monitors::monitor_store!(SqliteStore);
crate::sql::alerts::alert_store!(SqliteStore);
