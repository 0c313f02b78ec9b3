//! The job queue aggregate: jobs as a durable queue with atomic claims,
//! leases that heartbeats renew, attempts that fence every write of a
//! claim's outcome, cancellation, and retries of jobs whose runner is gone.

use async_trait::async_trait;
use chrono::Duration;
use keel_types::JobId;

use crate::error::Result;
use crate::page::{Page, Paged};
use crate::records::{
    Actor, AttemptRecord, Beat, Counts, Expired, Finish, JobFilter, JobRecord, Lease, NewJob,
};

/// Jobs. Every method is safe to call from several processes sharing one
/// database; times come from the store's clock.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Queues a new PENDING job with zero counts. The model and version must
    /// exist; `max_attempts` must be at least 1.
    async fn enqueue(&self, job: &NewJob, by: &Actor) -> Result<JobRecord>;
    /// The job with this id.
    async fn job(&self, id: JobId) -> Result<Option<JobRecord>>;
    /// Jobs matching the filter, newest first.
    async fn list_jobs(&self, filter: &JobFilter, page: &Page) -> Result<Paged<JobRecord>>;
    /// Moves one job from PENDING to IN_PROGRESS atomically as its next
    /// attempt: the oldest pending job, or the job `id` if it is pending.
    /// Sets `runner`, `started_at` and `heartbeat_at` to now, and the lease to
    /// run out after `lease_for`. Two concurrent claimers never get the same
    /// job. `None` when there is nothing to claim.
    async fn claim_job(
        &self,
        id: Option<JobId>,
        runner: &str,
        lease_for: Duration,
    ) -> Result<Option<JobRecord>>;
    /// Records the progress of the attempt holding `lease`, renews its lease
    /// for `lease_for`, and says whether to go on. `NotFound` when the job
    /// does not exist.
    async fn heartbeat(&self, lease: Lease, counts: Counts, lease_for: Duration) -> Result<Beat>;
    /// Moves the job to the terminal status `finish` names, with its counts
    /// and its result or error, if the attempt `lease` still holds it.
    /// Returns false, changing nothing, when it does not (its lease ran out,
    /// or the job was finished another way); `NotFound` when the job does not
    /// exist.
    async fn finish_job(&self, lease: Lease, finish: &Finish) -> Result<bool>;
    /// Gives a job back to the queue (PENDING, for another runner) from the
    /// attempt `lease` when its runner shuts down. The attempt is recorded
    /// HANDED_BACK and does not count as lost. False, changing nothing, when
    /// the attempt no longer holds the job.
    async fn hand_back(&self, lease: Lease) -> Result<bool>;
    /// Cancels a job: a PENDING job, or an IN_PROGRESS one whose lease has
    /// run out (its runner is gone), becomes STOPPED at once (error kind
    /// Cancelled); a running one gets `cancel_requested` and its runner stops
    /// it; a finished job is a `Conflict`. Returns the job afterwards.
    async fn request_cancel(&self, id: JobId, by: &Actor) -> Result<JobRecord>;
    /// Ends every attempt whose lease has run out as LOST: its job goes back
    /// to PENDING, or is FAILED (kind Crashed) when it has lost
    /// `max_attempts` attempts, or STOPPED when someone asked to cancel it.
    async fn expire_leases(&self) -> Result<Expired>;
    /// Every attempt at a job, oldest first.
    async fn attempts(&self, id: JobId) -> Result<Vec<AttemptRecord>>;
    /// Waits until a job may have become claimable (queued, or put back in
    /// the queue) by any process, or `timeout` passed: a hint that lets an
    /// idle claimer claim at once, never a promise (claim to find out).
    async fn wait_for_work(&self, timeout: std::time::Duration);
}
