//! The PostgreSQL backend of every store trait: connecting, its migrations,
//! and the shared SQL of [`crate::sql`] expanded for [`PgStore`].
//!
//! Any number of Keel processes on any number of machines may share one
//! database. Migrations hold PostgreSQL's advisory lock while they run, so
//! processes starting at once take turns; a job claim passes over rows
//! another claimer has locked (`FOR UPDATE SKIP LOCKED`), so claimers never
//! queue behind each other; and alias moves lock their model's row.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_types::SharedClock;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::error::{Error, Result};
use crate::sql::migrate;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long opening waits for the first connection before it reports the
/// database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections one process keeps open at most.
const MAX_CONNECTIONS: u32 = 8;

/// A metadata store in one PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    clock: SharedClock,
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
        Ok(Self { pool, clock })
    }

    /// The connection pool, for tests and maintenance.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The current time, from the store's clock.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
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
