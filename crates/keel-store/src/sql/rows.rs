//! Conversions between column values and record fields, shared by
//! every aggregate's queries: fixed-width RFC 3339 timestamps, ids, enums,
//! integers in range, and the store's versioned JSON documents.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use keel_types::valid_name;

use crate::error::{Error, Result};

/// Formats a timestamp as fixed-width RFC 3339 with microseconds, so that text
/// comparison in SQL is time comparison.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str, column: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            Error::Corrupt(format!(
                "{column} holds '{s}', which is not a timestamp ({e})"
            ))
        })
}

pub(crate) fn parse_opt_ts(s: Option<String>, column: &str) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s, column)).transpose()
}

pub(crate) fn parse_id<T: FromStr>(s: &str, column: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Corrupt(format!("{column} holds '{s}', which is not an id")))
}

pub(crate) fn parse_enum<T: FromStr>(s: &str, column: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Corrupt(format!("{column} holds '{s}', which is not a known value")))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(s: &str, column: &str) -> Result<T> {
    serde_json::from_str(s)
        .map_err(|e| Error::Corrupt(format!("{column} holds JSON that does not parse ({e})")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T, what: &str) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| Error::InvalidArgument(format!("The {what} cannot be stored as JSON: {e}.")))
}

pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        Error::InvalidArgument(format!(
            "The {what} {v} is too large to store; it must be at most {}.",
            i64::MAX
        ))
    })
}

pub(crate) fn to_u64(v: i64, column: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("{column} holds the negative number {v}")))
}

pub(crate) fn to_u32(v: i64, column: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Corrupt(format!("{column} holds {v}, out of range")))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// An insert's outcome, with a unique violation (the row exists) answered as
/// `AlreadyExists` naming `what` ("A model named 'fraud'").
pub(crate) fn unique<T>(
    inserted: std::result::Result<T, sqlx::Error>,
    what: impl FnOnce() -> String,
) -> Result<T> {
    match inserted {
        Ok(v) => Ok(v),
        Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists(what())),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

pub(crate) fn check_name(name: &str, what: &str) -> Result<()> {
    valid_name(name)
        .map_err(|reason| Error::InvalidArgument(format!("The {what} is not valid: {reason}.")))
}
