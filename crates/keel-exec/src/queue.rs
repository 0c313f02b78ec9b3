//! The job loop: claim PENDING jobs up to a concurrency limit, run each in
//! its own task with its own stop token, decide comparisons whose jobs have
//! finished, and on shutdown stop every running job within a bounded time,
//! recording each as STOPPED.

use std::future::Future;
use std::time::Duration;

use keel_store::{Counts, Finish};
use keel_types::{JobError, JobErrorKind, JobId};
use tokio::task::JoinSet;

use crate::job::{StopReason, StopToken};
use crate::{Executor, FailPoint};

/// How often the loop looks for work when nobody wakes it.
const IDLE_POLL: Duration = Duration::from_millis(500);

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
                .claim_job(None, &self.inner.cfg.runner_name)
                .await?
            else {
                break;
            };
            let token = self.track(job.id);
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

    /// Runs queued jobs, at most `concurrency` at a time, and decides
    /// comparisons as their jobs finish, until `shutdown` completes. Then it
    /// stops every running job and waits for each to record STOPPED, at most
    /// the configured grace period; jobs still running after it are recorded
    /// STOPPED by the loop itself.
    pub async fn run_queue(&self, concurrency: usize, shutdown: impl Future<Output = ()>) {
        let mut running: JoinSet<JobId> = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.tick(&mut running, concurrency).await {
                tracing::warn!(error = %e, "cannot claim a job");
            }
            if let Err(e) = self.settle_comparisons().await {
                tracing::warn!(error = %e, "cannot decide comparisons");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        self.shut_down(running).await;
    }

    /// Stops every running job, waiting at most the grace period.
    async fn shut_down(&self, mut running: JoinSet<JobId>) {
        let tokens = self.running_tokens();
        if tokens.is_empty() {
            return;
        }
        tracing::info!(jobs = tokens.len(), "stopping the running jobs");
        for (_, token) in &tokens {
            token.stop(StopReason::Shutdown);
        }
        let grace = self.inner.cfg.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_ok() {
            return;
        }
        // What is left ignored its stop; its thread may run on, but nothing it
        // does can be recorded once the job is STOPPED.
        running.abort_all();
        for (id, _) in self.running_tokens() {
            let error = JobError::new(
                JobErrorKind::Cancelled,
                format!(
                    "Keel shut down while the job ran and it did not stop within {}s; submit it again to run it.",
                    grace.as_secs()
                ),
            );
            let counts = match self.inner.stores.jobs.job(id).await {
                Ok(Some(j)) => j.counts,
                _ => Counts::default(),
            };
            match self
                .inner
                .stores
                .jobs
                .finish_job(id, &Finish::Stopped { counts, error })
                .await
            {
                Ok(_) => {}
                Err(e) => tracing::error!(job = %id, error = %e, "cannot record a stopped job"),
            }
            self.untrack(id);
        }
    }

    fn track(&self, id: JobId) -> StopToken {
        let token = StopToken::default();
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(id, token.clone());
        }
        token
    }

    fn untrack(&self, id: JobId) {
        if let Ok(mut running) = self.inner.running.lock() {
            running.remove(&id);
        }
    }

    fn running_tokens(&self) -> Vec<(JobId, StopToken)> {
        self.inner
            .running
            .lock()
            .map(|r| r.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default()
    }
}
