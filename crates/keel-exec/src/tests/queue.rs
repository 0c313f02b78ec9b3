//! The queue harness: step the loop, inject a failure at claim, heartbeat,
//! finish or publish, and look at the stored state.

use std::time::Duration;

use keel_store::keys;
use keel_types::{AttemptOutcome, Clock, JobErrorKind, JobKind, JobStatus};
use tokio::task::JoinSet;

use super::Harness;
use crate::FailPoint;
use crate::testing::{Behaviour, Gate};

const CSV: &str = "x,label\n0.9,1\n0.2,0\n0.7,1\n";

async fn scoring_job(h: &Harness) -> keel_store::JobRecord {
    let v = h.model("m", "m").await;
    let input = h.data("in.csv", CSV);
    h.queue(
        JobKind::Scoring,
        &v,
        Harness::request(&input, Some("out.csv")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_claim_leaves_the_job_pending_for_the_next_step() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    h.exec.fail_at(FailPoint::Claim, 1);
    let mut running = JoinSet::new();
    assert!(h.tick(&mut running).await.is_err());
    assert_eq!(h.job(job.id).await.status, JobStatus::Pending);
    assert!(running.is_empty());
    let done = h.run_one().await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    assert_eq!(done.counts.read, 3);
    assert_eq!(done.counts.written, 3);
    assert_eq!(done.started_at, Some(h.clock.now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_job_loses_its_lease_and_that_attempt_cannot_publish() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    let gate = Gate::default();
    h.runtime.set(Behaviour::Gate(gate.clone()));
    // Every heartbeat fails, as when the database is unreachable from this
    // runner: the lease is never renewed.
    h.exec.fail_at(FailPoint::Heartbeat, u32::MAX);
    let mut running = JoinSet::new();
    assert_eq!(h.tick(&mut running).await.unwrap(), 1);
    let claimed = h.until(job.id, |j| j.status == JobStatus::InProgress).await;
    assert_eq!(
        claimed.lease_until,
        Some(h.clock.now() + chrono::Duration::seconds(10))
    );
    h.clock.advance(chrono::Duration::seconds(11));
    // Another process sweeps: the lease ran out, so the job goes back to
    // the queue for a second attempt.
    let swept = h.stores.jobs.expire_leases().await.unwrap();
    assert_eq!(swept.retried, 1);
    gate.open();
    running.join_next().await.unwrap().unwrap();
    let after = h.job(job.id).await;
    assert_eq!((after.status, after.attempt), (JobStatus::Pending, 1));
    assert!(
        !h.stores
            .artifacts
            .exists(&keys::job_output(job.id, "out.csv"))
            .await
            .unwrap(),
        "an attempt that lost its lease must not publish its output"
    );
    // The second attempt runs it to the end.
    h.exec.fail_at(FailPoint::Heartbeat, 0);
    let done = h.run_one().await;
    assert_eq!(
        (done.status, done.attempt),
        (JobStatus::Completed, 2),
        "{:?}",
        done.error
    );
    let outcomes: Vec<_> = h
        .stores
        .jobs
        .attempts(job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, [AttemptOutcome::Lost, AttemptOutcome::Completed]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_retries_a_job_whose_runner_died() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    // A runner in another process claims the job and dies at once.
    let lease = chrono::Duration::seconds(10);
    h.stores
        .jobs
        .claim_job(Some(job.id), "died", lease)
        .await
        .unwrap()
        .unwrap();
    let (tx, queue) = h.start_loop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        h.job(job.id).await.runner.as_deref(),
        Some("died"),
        "the lease holds"
    );
    h.clock.advance(lease + chrono::Duration::seconds(1));
    let done = h.until(job.id, |j| j.status.is_terminal()).await;
    assert_eq!(
        (done.status, done.attempt),
        (JobStatus::Completed, 2),
        "{:?}",
        done.error
    );
    assert_eq!(done.runner.as_deref(), Some("harness"));
    tx.send(()).unwrap();
    queue.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_finish_is_retried() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    h.exec.fail_at(FailPoint::Finish, 2);
    let done = h.run_one().await;
    assert_eq!(done.id, job.id);
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    assert_eq!(done.finished_at, Some(h.clock.now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecordable_finish_stops_the_heartbeat_so_the_lease_runs_out() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    h.exec.fail_at(FailPoint::Finish, u32::MAX);
    let after = h.run_one().await;
    assert_eq!(after.status, JobStatus::InProgress);
    let beat = after.heartbeat_at;
    // Were the heartbeat still beating, it would record the moved clock.
    h.clock.advance(chrono::Duration::seconds(1));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(h.job(job.id).await.heartbeat_at, beat);
    h.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(h.stores.jobs.expire_leases().await.unwrap().retried, 1);
    let swept = h.job(job.id).await;
    assert_eq!((swept.status, swept.attempt), (JobStatus::Pending, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_are_recorded_failed_internal_and_stop_the_heartbeat() {
    let h = Harness::new().await;
    // A panic on the job's thread (in a runtime or a pipeline).
    let job = scoring_job(&h).await;
    h.runtime.set(Behaviour::Panic);
    let after = h.run_one().await;
    assert_eq!(after.id, job.id);
    assert_eq!(after.status, JobStatus::Failed);
    let e = after.error.unwrap();
    assert_eq!(e.kind, JobErrorKind::Internal);
    assert!(e.message.contains("panicked"), "{}", e.message);

    // A panic in Keel's own async code, just before publishing.
    h.runtime.set(Behaviour::Echo);
    let v = h.model("m", "m").await;
    let input = h.data("in2.csv", CSV);
    let job = h
        .queue(
            JobKind::Scoring,
            &v,
            Harness::request(&input, Some("out.csv")),
        )
        .await;
    h.exec.fail_at(FailPoint::Publish, 1);
    let after = h.run_one().await;
    assert_eq!(after.status, JobStatus::Failed);
    let e = after.error.unwrap();
    assert_eq!(e.kind, JobErrorKind::Internal);
    assert!(e.message.contains("injected panic"), "{}", e.message);
    assert!(
        !h.stores
            .artifacts
            .exists(&keys::job_output(job.id, "out.csv"))
            .await
            .unwrap()
    );
    let beat = after.heartbeat_at;
    h.clock.advance(chrono::Duration::seconds(5));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.job(job.id).await.heartbeat_at, beat);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_the_running_job() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    h.runtime.set(Behaviour::UntilStopped);
    let mut running = JoinSet::new();
    h.tick(&mut running).await.unwrap();
    h.until(job.id, |j| j.status == JobStatus::InProgress).await;
    let flagged = h
        .stores
        .jobs
        .request_cancel(job.id, &crate::tests::by())
        .await
        .unwrap();
    assert!(flagged.cancel_requested);
    running.join_next().await.unwrap().unwrap();
    let after = h.job(job.id).await;
    assert_eq!(after.status, JobStatus::Stopped);
    assert_eq!(after.error.unwrap().kind, JobErrorKind::Cancelled);
}

/// Runs the job loop until `job` runs, then shuts it down and waits for the
/// loop to end (it must, within the grace period and a margin).
async fn run_then_shut_down(h: &Harness, job: keel_types::JobId) {
    let (tx, queue) = h.start_loop();
    h.until(job, |j| j.status == JobStatus::InProgress).await;
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), queue)
        .await
        .expect("the loop ends within the grace period")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_a_running_job_back_to_the_queue() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    h.runtime.set(Behaviour::UntilStopped);
    run_then_shut_down(&h, job.id).await;
    let after = h.job(job.id).await;
    assert_eq!((after.status, after.attempt), (JobStatus::Pending, 1));
    assert_eq!((after.runner, after.error), (None, None));
    let attempts = h.stores.jobs.attempts(job.id).await.unwrap();
    assert_eq!(attempts[0].outcome, AttemptOutcome::HandedBack);
    // Another runner picks it up where the queue has it.
    h.runtime.set(Behaviour::Echo);
    let done = h.run_one().await;
    assert_eq!((done.status, done.attempt), (JobStatus::Completed, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_job_finish_within_the_grace_period() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    let gate = Gate::default();
    h.runtime.set(Behaviour::Gate(gate.clone()));
    let opener = {
        let gate = gate.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            gate.open();
        })
    };
    run_then_shut_down(&h, job.id).await;
    opener.await.unwrap();
    let after = h.job(job.id).await;
    assert_eq!(after.status, JobStatus::Completed, "{:?}", after.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_back_a_job_that_ignores_its_stop() {
    let h = Harness::new().await;
    let job = scoring_job(&h).await;
    let gate = Gate::default();
    h.runtime.set(Behaviour::Gate(gate.clone()));
    run_then_shut_down(&h, job.id).await;
    let after = h.job(job.id).await;
    assert_eq!(
        after.status,
        JobStatus::Pending,
        "the loop itself gives it back"
    );
    // The stubborn thread may go on, but nothing it does is recorded.
    gate.open();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.job(job.id).await.status, JobStatus::Pending);
    assert!(
        !h.stores
            .artifacts
            .exists(&keys::job_output(job.id, "out.csv"))
            .await
            .unwrap()
    );
}
