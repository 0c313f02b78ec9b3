//! The PostgreSQL backend of every store trait: connecting, its migrations,
//! and the shared SQL of [`crate::sql`] expanded for [`PgStore`].
//!
//! Any number of Keel processes on any number of machines may share one
//! database. Migrations hold PostgreSQL's advisory lock while they run, so
//! processes starting at once take turns; a job claim passes over rows
//! another claimer has locked (`FOR UPDATE SKIP LOCKED`), so claimers never
//! queue behind each other; a queued job is announced with `NOTIFY`, so an
//! idle claimer in any process claims it at once; and alias moves lock their
//! model's row.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_types::SharedClock;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use crate::error::{Error, Result};
use crate::sql::migrate;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long opening waits for the first connection before it reports the
/// database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections one process keeps open at most.
const MAX_CONNECTIONS: u32 = 8;

/// The channel on which a process that queues a job, or puts one back in
/// the queue, tells idle claimers.
const WORK_CHANNEL: &str = "keel_jobs";

/// A metadata store in one PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    clock: SharedClock,
    /// The connection that listens on [`WORK_CHANNEL`], made on the first
    /// wait and made again after it fails.
    listener: Arc<tokio::sync::Mutex<Option<PgListener>>>,
}

impl PgStore {
    /// How a transaction that writes begins. Under PostgreSQL's default
    /// isolation, row locks taken by the statements themselves order
    /// concurrent writers.
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// Connects to the database a `postgres://` URL names and brings its
    /// schema up to date. The database must exist; Keel creates its tables.
    pub async fn open(url: &str, clock: SharedClock) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "The PostgreSQL URL is not valid ({e}); write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE."
                ))
            })?
            .application_name("keel");
        let target = describe(&options);
        // One connection first, so that an unreachable server or a refused
        // login is reported with its own cause rather than as a pool timeout.
        let first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| Error::Connect {
                target: target.clone(),
                source: sqlx::Error::PoolTimedOut,
            })?;
        first
            .map_err(|source| Error::Connect {
                target: target.clone(),
                source,
            })?
            .close()
            .await
            .map_err(|source| Error::Connect {
                target: target.clone(),
                source,
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| Error::Connect { target, source })?;
        migrate(&MIGRATOR, &pool).await?;
        Ok(Self {
            pool,
            clock,
            listener: Arc::default(),
        })
    }

    /// The connection pool, for tests and maintenance.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The current time, from the store's clock.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Tells every listening claimer that a job became claimable. A lost
    /// notification only delays a claim until the claimer's next poll, so a
    /// failure here does not fail the write that came before it.
    async fn notify_work(&self) {
        let _ = sqlx::query("SELECT pg_notify($1, '')")
            .bind(WORK_CHANNEL)
            .execute(&self.pool)
            .await;
    }

    /// Waits for a notification on [`WORK_CHANNEL`], at most `timeout`;
    /// without a listening connection (the database is unreachable) it waits
    /// the whole timeout, so that callers poll.
    async fn listen_for_work(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut guard = match tokio::time::timeout(timeout, self.listener.lock()).await {
            Ok(guard) => guard,
            Err(_) => return,
        };
        if guard.is_none() {
            let listening = async {
                let mut l = PgListener::connect_with(&self.pool).await?;
                l.listen(WORK_CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            match tokio::time::timeout_at(deadline, listening).await {
                Ok(Ok(l)) => *guard = Some(l),
                Ok(Err(_)) => {
                    tokio::time::sleep_until(deadline).await;
                    return;
                }
                Err(_) => return,
            }
        }
        let Some(listener) = guard.as_mut() else {
            return;
        };
        match tokio::time::timeout_at(deadline, listener.recv()).await {
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(_)) => {
                // The connection broke; the next wait listens afresh.
                *guard = None;
                tokio::time::sleep_until(deadline).await;
            }
        }
    }
}

/// The database that connect options name, as `user@host:port/database`,
/// without the password, for messages.
fn describe(options: &PgConnectOptions) -> String {
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_string(),
    };
    format!(
        "postgres://{}@{host}:{}/{}",
        options.get_username(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

crate::sql::registry::registry_store!(PgStore);
crate::sql::queue::job_queue!(PgStore, claim_lock = " FOR UPDATE SKIP LOCKED");
crate::sql::comparisons::comparison_store!(PgStore);
crate::sql::uploads::upload_store!(PgStore);
crate::sql::access::access_store!(PgStore);
crate::sql::monitors::monitor_store!(PgStore);
crate::sql::alerts::alert_store!(PgStore);
