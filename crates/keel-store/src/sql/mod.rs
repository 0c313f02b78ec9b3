//! The SQL both metadata backends share. Both keep ids, times and documents
//! as text and counts as 64-bit integers, and every query numbers its
//! parameters (`$1`), which SQLite and PostgreSQL both read; so each
//! aggregate's queries are written once, in a macro that each backend
//! expands for its own store type (sqlx's types are per database, so a
//! generic function would need a bound for every column type it reads).
//! What differs is given to the macros: how a write transaction begins and
//! how a claim passes over rows that another claimer holds.

pub(crate) mod access;
pub(crate) mod alerts;
pub(crate) mod comparisons;
pub(crate) mod monitors;
pub(crate) mod queue;
pub(crate) mod registry;
pub(crate) mod rows;
pub(crate) mod uploads;

use crate::error::Result;

/// The column reads the shared row decoders need, for any backend's rows.
pub(crate) trait Columns {
    /// A `TEXT NOT NULL` column.
    fn text(&self, column: &str) -> Result<String>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    /// A `BIGINT NOT NULL` column.
    fn int(&self, column: &str) -> Result<i64>;
    /// A nullable `BIGINT` column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
}

impl<R> Columns for R
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    i64: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
{
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
}

/// Brings a database's schema up to date with `migrator`, refusing, with a
/// clear error, a schema that a newer Keel has migrated beyond what this
/// binary knows.
pub(crate) async fn migrate<'a, A>(migrator: &sqlx::migrate::Migrator, conn: A) -> Result<()>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    match migrator.run(conn).await {
        Ok(()) => Ok(()),
        Err(sqlx::migrate::MigrateError::VersionMissing(found)) => {
            Err(crate::error::Error::SchemaTooNew {
                found,
                known: migrator.iter().map(|m| m.version).max().unwrap_or(0),
            })
        }
        Err(e) => Err(e.into()),
    }
}
