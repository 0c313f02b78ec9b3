//! The job loop: claim PENDING jobs up to a concurrency limit, run each in
//! its own task with its own stop token, put back or fail the jobs whose
//! lease ran out (their runner, in any process, is gone), decide comparisons
//! whose jobs have finished, and on shutdown let running jobs finish within
//! a grace period, then give the rest back to the queue.

use std::future::Future;
use std::time::{Duration, Instant};

use keel_store::{Expired, Lease};
use keel_types::JobId;
use tokio::task::JoinSet;

use crate::job::{StopReason, StopToken};
use crate::{Executor, FailPoint};

/// How often the loop looks for work when nobody wakes it.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// How long shutdown waits, after the grace period, for the jobs it asked to
/// stop to give themselves back.
const HAND_BACK_WAIT: Duration = Duration::from_secs(2);

impl Executor {
    /// Claims PENDING jobs while fewer than `concurrency` run, and starts each
    /// in `running`. Returns how many it started.
    pub(crate) async fn tick(
        &self,
        running: &mut JoinSet<JobId>,
        concurrency: usize,
    ) -> crate::Result<usize> {
        let mut started = 0;
        while running.len() < concurrency.max(1) {
            if let Some(e) = self.inner.fail.error(FailPoint::Claim) {
                return Err(e);
            }
            let Some(job) = self
                .inner
                .stores
                .jobs
                .claim_job(
                    None,
                    &self.inner.cfg.runner_name,
                    self.inner.cfg.lease_for(),
                )
                .await?
            else {
                break;
            };
            let token = self.track(job.lease());
            let this = self.clone();
            running.spawn(async move {
                let id = job.id;
                this.execute(job, token).await;
                this.untrack(id);
                id
            });
            started += 1;
        }
        Ok(started)
    }

    /// Puts back in the queue, or fails, the jobs whose lease ran out.
    pub async fn expire_leases(&self) -> crate::Result<Expired> {
        let expired = self.inner.stores.jobs.expire_leases().await?;
        if expired != Expired::default() {
            tracing::warn!(
                retried = expired.retried,
                failed = expired.failed,
                stopped = expired.stopped,
                "jobs whose runner stopped heart-beating lost their lease"
            );
        }
        Ok(expired)
    }

    /// Runs queued jobs, at most `concurrency` at a time (none: it only
    /// sweeps), sweeps leases that ran out and decides comparisons as their
    /// jobs finish, until `shutdown` completes. Then it lets the running jobs
    /// finish for the configured grace period, and gives the ones still
    /// running back to the queue.
    pub async fn run_queue(&self, concurrency: usize, shutdown: impl Future<Output = ()>) {
        let mut running: JoinSet<JobId> = JoinSet::new();
        tokio::pin!(shutdown);
        let mut next_sweep = Instant::now();
        let mut next_monitors = Instant::now();
        let mut monitors: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            if Instant::now() >= next_sweep {
                if let Err(e) = self.expire_leases().await {
                    tracing::warn!(error = %e, "cannot sweep for jobs that lost their runner");
                }
                next_sweep = Instant::now() + self.inner.cfg.sweep;
            }
            // Monitors tick on their own task, so a long execution never
            // holds up the claims; one round at a time.
            if Instant::now() >= next_monitors && monitors.as_ref().is_none_or(|m| m.is_finished())
            {
                let me = self.clone();
                monitors = Some(tokio::spawn(async move {
                    if let Err(e) = me.tick_monitors().await {
                        tracing::warn!(error = %e, "cannot run the monitors that are due");
                    }
                }));
                next_monitors = Instant::now() + self.inner.cfg.monitor_tick;
            }
            if concurrency > 0
                && let Err(e) = self.tick(&mut running, concurrency).await
            {
                tracing::warn!(error = %e, "cannot claim a job");
            }
            if let Err(e) = self.settle_comparisons().await {
                tracing::warn!(error = %e, "cannot decide comparisons");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.inner.wake.notified() => {}
                // Another process may queue a job, or put one back; the store
                // says so at once where it can, and this polls otherwise.
                _ = self.inner.stores.jobs.wait_for_work(IDLE_POLL.min(self.inner.cfg.sweep)), if concurrency > 0 && running.len() < concurrency => {}
                _ = tokio::time::sleep(IDLE_POLL.min(self.inner.cfg.sweep)), if concurrency == 0 || running.len() >= concurrency => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        self.shut_down(running).await;
    }

    /// Lets the running jobs finish for the grace period, then asks the rest
    /// to stop and give themselves back to the queue; a job that does not
    /// stop is given back by the loop itself, and whatever its thread does
    /// afterwards is fenced off by its attempt.
    async fn shut_down(&self, mut running: JoinSet<JobId>) {
        let count = self.running_tokens().len();
        if count == 0 {
            return;
        }
        let grace = self.inner.cfg.shutdown_grace;
        tracing::info!(
            jobs = count,
            secs = grace.as_secs_f64(),
            "letting the running jobs finish"
        );
        if drain(&mut running, grace).await {
            return;
        }
        let left = self.running_tokens();
        tracing::info!(
            jobs = left.len(),
            "giving the jobs still running back to the queue"
        );
        for (_, (token, _)) in &left {
            token.stop(StopReason::HandBack);
        }
        if drain(&mut running, HAND_BACK_WAIT).await {
            return;
        }
        running.abort_all();
        for (id, (_, lease)) in self.running_tokens() {
            self.hand_back(lease).await;
            self.untrack(id);
        }
    }

    fn track(&self, lease: Lease) -> StopToken {
        let token = StopToken::default();
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(lease.job, (token.clone(), lease));
        }
        token
    }

    fn untrack(&self, id: JobId) {
        if let Ok(mut running) = self.inner.running.lock() {
            running.remove(&id);
        }
    }

    fn running_tokens(&self) -> Vec<(JobId, (StopToken, Lease))> {
        self.inner
            .running
            .lock()
            .map(|r| r.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default()
    }
}

/// Waits at most `limit` for every task in `running` to end; true when they did.
async fn drain(running: &mut JoinSet<JobId>, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        while running.join_next().await.is_some() {}
    })
    .await
    .is_ok()
}
