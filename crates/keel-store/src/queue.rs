//! The job queue aggregate: jobs as a durable queue with atomic claims,
//! heartbeats, cancellation and a fenced finish.

use async_trait::async_trait;
use keel_types::JobId;

use crate::error::Result;
use crate::page::{Page, Paged};
use crate::records::{Beat, Counts, Finish, JobFilter, JobRecord, NewJob};

/// Jobs. Every method is safe to call from several processes sharing one
/// database; times come from the store's clock.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Queues a new PENDING job with zero counts. The model and version must exist.
    async fn enqueue(&self, job: &NewJob) -> Result<JobRecord>;
    /// The job with this id.
    async fn job(&self, id: JobId) -> Result<Option<JobRecord>>;
    /// Jobs matching the filter, newest first.
    async fn list_jobs(&self, filter: &JobFilter, page: &Page) -> Result<Paged<JobRecord>>;
    /// Moves one job from PENDING to IN_PROGRESS atomically: the oldest pending
    /// job, or the job `id` if it is pending. Sets `started_at`, `heartbeat_at`
    /// and `runner`. Two concurrent claimers never get the same job. `None`
    /// when there is nothing to claim.
    async fn claim_job(&self, id: Option<JobId>, runner: &str) -> Result<Option<JobRecord>>;
    /// Records progress of an IN_PROGRESS job and says whether to go on.
    /// `NotFound` when the job does not exist.
    async fn heartbeat(&self, id: JobId, counts: Counts) -> Result<Beat>;
    /// Moves an IN_PROGRESS job to the terminal status `finish` names, with
    /// its counts and its result or error. Returns false, changing nothing,
    /// when the job was not IN_PROGRESS (someone else finished or failed it
    /// first); `NotFound` when it does not exist.
    async fn finish_job(&self, id: JobId, finish: &Finish) -> Result<bool>;
    /// Cancels a job: a PENDING job becomes STOPPED at once (error kind
    /// Cancelled); an IN_PROGRESS job gets `cancel_requested` and its runner
    /// stops it; a finished job is a `Conflict`. Returns the job afterwards.
    async fn request_cancel(&self, id: JobId) -> Result<JobRecord>;
    /// Fails (kind Crashed) every IN_PROGRESS job whose last heartbeat is
    /// older than `silent_for`; returns how many.
    async fn fail_stale_jobs(&self, silent_for: chrono::Duration) -> Result<u64>;
}
