//! The alerts aggregate: a monitor's metric out of its constraint, opened
//! by the execution that found it, added to (not duplicated) while it is
//! unresolved, resolved by a later execution back within the constraint or
//! by a person, and acknowledged by a person.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_types::{AlertId, AlertStatus, ExecutionId};

use crate::error::Result;
use crate::page::{Page, Paged};
use crate::records::Actor;

/// An alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRecord {
    /// Its id.
    pub id: AlertId,
    /// The monitoring schedule.
    pub schedule: String,
    /// The metric out of its constraint.
    pub metric: String,
    /// Where it is.
    pub status: AlertStatus,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The execution that last found the violation.
    pub last_execution: ExecutionId,
    /// That execution's words for it.
    pub last_description: String,
    /// How many executions found it.
    pub occurrences: u64,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// Who resolved it (`keel` when an execution did).
    pub resolved_by: Option<String>,
}

/// What changed about alerts after one execution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertChanges {
    /// Alerts opened by this execution, or reopened within the cooldown.
    pub opened: Vec<AlertRecord>,
    /// Unresolved alerts this execution found again.
    pub repeated: Vec<AlertRecord>,
    /// Alerts this execution found back within their constraint.
    pub resolved: Vec<AlertRecord>,
}

/// Alerts.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Records what the execution `execution` of `schedule` found:
    /// `violated` holds each violated metric with the execution's words for
    /// it. An unresolved alert of a violated metric is found again; a
    /// violated metric whose alert was resolved less than `cooldown` ago
    /// reopens it; any other opens a new one. Every unresolved alert of a
    /// metric not violated is resolved by `keel`.
    async fn record_execution(
        &self,
        schedule: &str,
        execution: ExecutionId,
        violated: &[(String, String)],
        cooldown: chrono::Duration,
    ) -> Result<AlertChanges>;
    /// The alert `id`.
    async fn alert(&self, id: AlertId) -> Result<Option<AlertRecord>>;
    /// Alerts, newest first, of one status and one schedule, or all.
    async fn list_alerts(
        &self,
        status: Option<AlertStatus>,
        schedule: Option<&str>,
        page: &Page,
    ) -> Result<Paged<AlertRecord>>;
    /// Acknowledges an open alert; acknowledging it again changes nothing;
    /// `Conflict` for a resolved one.
    async fn acknowledge_alert(&self, id: AlertId, by: &Actor) -> Result<AlertRecord>;
    /// Resolves an alert; resolving it again changes nothing.
    async fn resolve_alert(&self, id: AlertId, by: &Actor) -> Result<AlertRecord>;
}
