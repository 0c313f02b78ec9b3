//! The monitors aggregate: monitoring job definitions, the schedules that
//! run them, and their executions, one per schedule and tick.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keel_types::{ExecutionId, ExecutionStatus, MonitorKind, ScheduleStatus};

use crate::error::Result;
use crate::formats::MonitorDocument;
use crate::page::{Page, Paged};
use crate::records::Actor;

/// A monitoring job definition.
#[derive(Clone, Debug, PartialEq)]
pub struct DefinitionRecord {
    /// Its unique name (SageMaker's `JobDefinitionName`).
    pub name: String,
    /// What it monitors.
    pub kind: MonitorKind,
    /// The request that created it.
    pub document: MonitorDocument,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
}

/// A schedule to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSchedule {
    /// Its unique name (SageMaker's `MonitoringScheduleName`).
    pub name: String,
    /// The definition it runs.
    pub definition: String,
    /// When it runs (a checked schedule expression).
    pub expression: String,
    /// The time zone its expression is read in; UTC when `None`.
    pub time_zone: Option<String>,
    /// The request that created it.
    pub document: MonitorDocument,
}

/// A monitoring schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleRecord {
    /// Its unique name.
    pub name: String,
    /// The definition it runs.
    pub definition: String,
    /// What that definition monitors.
    pub kind: MonitorKind,
    /// When it runs.
    pub expression: String,
    /// The time zone its expression is read in.
    pub time_zone: Option<String>,
    /// Whether its ticks run.
    pub status: ScheduleStatus,
    /// The request that created it.
    pub document: MonitorDocument,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// The newest tick that has an execution.
    pub last_tick: Option<DateTime<Utc>>,
}

/// One execution of a schedule, for one tick.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionRecord {
    /// Its id.
    pub id: ExecutionId,
    /// The schedule.
    pub schedule: String,
    /// The tick it is for (SageMaker's `ScheduledTime`).
    pub scheduled_time: DateTime<Utc>,
    /// Where it is.
    pub status: ExecutionStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// How many older ticks it stands for, not run one by one because the
    /// scheduler was down.
    pub skipped: u64,
    /// How many times it ran again because its ground truth changed (0 for
    /// the first run).
    pub revision: u64,
    /// The digest of the ground truth it read, when it read any.
    pub truth_digest: Option<String>,
}

/// Monitoring job definitions, schedules and executions.
#[async_trait]
pub trait MonitorStore: Send + Sync {
    /// Creates a definition; `AlreadyExists` if the name is taken.
    async fn create_definition(
        &self,
        name: &str,
        kind: MonitorKind,
        document: &MonitorDocument,
        by: &Actor,
    ) -> Result<DefinitionRecord>;
    /// The definition named `name`.
    async fn definition(&self, name: &str) -> Result<Option<DefinitionRecord>>;
    /// Definitions of `kind`, by name.
    async fn list_definitions(
        &self,
        kind: MonitorKind,
        page: &Page,
    ) -> Result<Paged<DefinitionRecord>>;
    /// Deletes a definition no schedule uses (`Conflict` while one does);
    /// false when there was none.
    async fn delete_definition(&self, name: &str, by: &Actor) -> Result<bool>;

    /// Creates a schedule over an existing definition, `Scheduled`.
    async fn create_schedule(&self, new: &NewSchedule, by: &Actor) -> Result<ScheduleRecord>;
    /// The schedule named `name`.
    async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>>;
    /// Every schedule, by name.
    async fn list_schedules(&self, page: &Page) -> Result<Paged<ScheduleRecord>>;
    /// Starts or stops a schedule; setting the status it has changes nothing.
    async fn set_schedule_status(
        &self,
        name: &str,
        status: ScheduleStatus,
        by: &Actor,
    ) -> Result<ScheduleRecord>;
    /// Deletes a schedule (its executions stay, for the record); false when
    /// there was none.
    async fn delete_schedule(&self, name: &str, by: &Actor) -> Result<bool>;

    /// Records the execution of `schedule` for `tick`, `Pending`, and moves
    /// the schedule's last tick to it, unless that tick has an execution
    /// already (another server got there first): then `None`.
    async fn claim_tick(
        &self,
        schedule: &str,
        tick: DateTime<Utc>,
        skipped: u64,
    ) -> Result<Option<ExecutionRecord>>;
    /// Ends an execution (once): `Completed`, `CompletedWithViolations`,
    /// `Failed` with a reason, or `Stopped`, with the digest of the ground
    /// truth it read. False when it had ended.
    async fn finish_execution(
        &self,
        id: ExecutionId,
        status: ExecutionStatus,
        failure_reason: Option<&str>,
        truth_digest: Option<&str>,
    ) -> Result<bool>;
    /// Records that an ended execution ran again over changed ground truth,
    /// as revision `revision`, fenced by the revision it had: false when
    /// another runner revised it first.
    async fn revise_execution(
        &self,
        id: ExecutionId,
        revision: u64,
        status: ExecutionStatus,
        failure_reason: Option<&str>,
        truth_digest: Option<&str>,
    ) -> Result<bool>;
    /// The execution `id`.
    async fn execution(&self, id: ExecutionId) -> Result<Option<ExecutionRecord>>;
    /// Executions, newest tick first, of one schedule or all.
    async fn list_executions(
        &self,
        schedule: Option<&str>,
        page: &Page,
    ) -> Result<Paged<ExecutionRecord>>;
}
