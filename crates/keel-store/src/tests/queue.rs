//! The job queue part of the conformance suite: enqueueing, listing, atomic
//! claims, heartbeats, cancellation, the finish fenced by the attempt, and
//! leases that run out (retries, the last attempt lost, hand-backs), timed by
//! the store's clock.

use std::collections::HashSet;

use chrono::Duration;
use keel_types::{
    Clock, Code, DataFormat, JobError, JobErrorKind, JobId, JobKind, JobStatus, ManualClock,
    ModelId, VersionId,
};

use super::by;
use super::{counts, job_target};
use crate::formats::{InputRecord, JobResult, OutputRecord};
use crate::{Beat, Counts, Finish, JobFilter, JobRecord, Lease, Page, Stores};
use keel_types::AttemptOutcome;

/// How long the suite's claims hold their job without a heartbeat.
const LEASE: Duration = Duration::seconds(30);

pub(super) async fn suite(stores: &Stores, clock: &ManualClock) {
    jobs(stores, clock).await;
    claims_are_exclusive(stores).await;
    leases(stores, clock).await;
}

async fn jobs(stores: &Stores, clock: &ManualClock) {
    let queue = &stores.jobs;
    let new_job = job_target(stores.registry.as_ref(), "jobbed").await;
    let other_job = job_target(stores.registry.as_ref(), "jobbed-too").await;

    clock.advance(Duration::seconds(1));
    let asked = new_job(JobKind::Scoring);
    let first = queue.enqueue(&asked, &by()).await.unwrap();
    let expected = JobRecord {
        id: first.id,
        kind: asked.kind,
        status: JobStatus::Pending,
        model_id: asked.model_id,
        model_name: asked.model_name.clone(),
        version_id: asked.version_id,
        version_number: asked.version_number,
        request: asked.request.clone(),
        counts: Counts::default(),
        created_at: clock.now(),
        started_at: None,
        finished_at: None,
        heartbeat_at: None,
        runner: None,
        attempt: 0,
        max_attempts: 3,
        lease_until: None,
        cancel_requested: false,
        error: None,
        result: None,
        created_by: Some("tester".into()),
    };
    assert_eq!(first, expected);
    assert_eq!(queue.job(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(queue.job(JobId::new()).await.unwrap(), None);
    // A job must name its version consistently: by id, and by model and number.
    let mut orphan = new_job(JobKind::Scoring);
    orphan.model_id = ModelId::new();
    let orphan_err = queue.enqueue(&orphan, &by()).await.unwrap_err();
    assert_eq!(orphan_err.code(), Code::InvalidArgument, "{orphan_err}");
    assert!(
        orphan_err.to_string().contains("consistently"),
        "{orphan_err}"
    );
    let mut renumbered = new_job(JobKind::Scoring);
    renumbered.version_number += 1;
    let err = queue.enqueue(&renumbered, &by()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    let mut orphan = new_job(JobKind::Scoring);
    orphan.version_id = VersionId::new();
    let orphan_err = queue.enqueue(&orphan, &by()).await.unwrap_err();
    assert_eq!(orphan_err.code(), Code::NotFound, "{orphan_err}");

    // Eleven more jobs: ids are time ordered, so newest first is reverse order.
    let mut all = vec![first.clone()];
    for i in 0..11 {
        let job = if i % 3 == 0 {
            other_job(JobKind::Metrics)
        } else {
            new_job(JobKind::Scoring)
        };
        clock.advance(Duration::milliseconds(10));
        let queued = queue.enqueue(&job, &by()).await.unwrap();
        assert_eq!(
            (queued.created_at, &queued.request),
            (clock.now(), &job.request)
        );
        all.push(queued);
    }
    let mut listed = Vec::new();
    let mut page = Page::first(5);
    loop {
        let got = queue.list_jobs(&JobFilter::default(), &page).await.unwrap();
        listed.extend(got.items);
        match got.next_cursor {
            Some(c) => page = Page::after(5, c),
            None => break,
        }
    }
    let expected: Vec<_> = all.iter().rev().cloned().collect();
    assert_eq!(listed, expected, "listing returns the stored records");

    let metrics = JobFilter {
        kind: Some(JobKind::Metrics),
        ..JobFilter::default()
    };
    let got = queue.list_jobs(&metrics, &Page::default()).await.unwrap();
    assert_eq!(got.items.len(), 4);
    assert!(got.items.iter().all(|j| j.kind == JobKind::Metrics));
    let by_model = JobFilter {
        model_id: Some(first.model_id),
        status: Some(JobStatus::Pending),
        ..JobFilter::default()
    };
    let got = queue.list_jobs(&by_model, &Page::default()).await.unwrap();
    assert_eq!(got.items.len(), 8);
    assert!(got.items.iter().all(|j| j.model_id == first.model_id));
    let bad = queue
        .list_jobs(&JobFilter::default(), &Page::after(5, "zz"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");

    // Claims: the oldest pending first, or a given id; both stamped with now.
    clock.advance(Duration::minutes(1));
    let t0 = clock.now();
    let claimed = queue
        .claim_job(None, "runner-a", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.status, JobStatus::InProgress);
    assert_eq!(claimed.runner.as_deref(), Some("runner-a"));
    assert_eq!(
        (claimed.started_at, claimed.heartbeat_at),
        (Some(t0), Some(t0))
    );
    assert_eq!(claimed.created_at, first.created_at);
    assert_eq!(
        (claimed.attempt, claimed.lease_until),
        (1, Some(t0 + LEASE))
    );
    let last = all[11].id;
    let by_id = queue
        .claim_job(Some(last), "runner-b", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.id, last);
    assert_eq!(by_id.runner.as_deref(), Some("runner-b"));
    assert_eq!(
        queue
            .claim_job(Some(last), "runner-c", LEASE)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        queue
            .claim_job(Some(JobId::new()), "r", LEASE)
            .await
            .unwrap(),
        None
    );

    // Heartbeats record progress and report cancellation.
    clock.advance(Duration::seconds(5));
    let t1 = clock.now();
    let lease = claimed.lease();
    let beat = queue
        .heartbeat(lease, counts(10, 9, 1), LEASE)
        .await
        .unwrap();
    assert_eq!(beat, Beat::Continue);
    let beat = queue.job(first.id).await.unwrap().unwrap();
    assert_eq!(beat.counts, counts(10, 9, 1));
    assert_eq!((beat.started_at, beat.heartbeat_at), (Some(t0), Some(t1)));
    assert_eq!(
        beat.lease_until,
        Some(t1 + LEASE),
        "a beat renews the lease"
    );
    let nowhere = Lease {
        job: JobId::new(),
        attempt: 1,
    };
    let nf = queue
        .heartbeat(nowhere, Counts::default(), LEASE)
        .await
        .unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");
    let pending = queue
        .heartbeat(all[2].lease(), counts(5, 5, 5), LEASE)
        .await
        .unwrap();
    assert_eq!(pending, Beat::NotRunning, "a pending job is not running");
    let untouched = queue.job(all[2].id).await.unwrap().unwrap();
    assert_eq!(
        untouched, all[2],
        "a beat for a pending job records nothing"
    );

    // Cancel an in-progress job: flagged, still running, heartbeat says stop.
    let cancelled = queue.request_cancel(last, &by()).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::InProgress);
    assert!(cancelled.cancel_requested);
    assert_eq!(cancelled.finished_at, None);
    let beat = queue
        .heartbeat(by_id.lease(), counts(1, 1, 0), LEASE)
        .await
        .unwrap();
    assert_eq!(beat, Beat::CancelRequested);
    let stopped = JobError::new(JobErrorKind::Cancelled, "Cancelled by a user.");
    let stop = Finish::Stopped {
        counts: counts(1, 1, 0),
        error: stopped.clone(),
    };
    assert!(queue.finish_job(by_id.lease(), &stop).await.unwrap());
    let after = queue.job(last).await.unwrap().unwrap();
    assert_eq!(after.error, Some(stopped));
    assert_eq!(
        (after.status, after.counts, after.finished_at, after.result),
        (JobStatus::Stopped, counts(1, 1, 0), Some(t1), None)
    );

    // Cancel a pending job: stopped at once.
    let pending = all[1].id;
    let now_stopped = queue.request_cancel(pending, &by()).await.unwrap();
    assert_eq!(now_stopped.status, JobStatus::Stopped);
    assert_eq!(now_stopped.finished_at, Some(t1));
    assert_eq!(
        now_stopped.error.as_ref().map(|e| e.kind),
        Some(JobErrorKind::Cancelled)
    );
    assert_eq!(queue.job(pending).await.unwrap(), Some(now_stopped));
    assert_eq!(
        queue.claim_job(Some(pending), "r", LEASE).await.unwrap(),
        None
    );

    // Finishing: only from IN_PROGRESS, with the result or error it names.
    let result = JobResult {
        output: Some(OutputRecord::Embedded {
            name: "out.csv".into(),
        }),
        output_format: Some(DataFormat::Csv),
        has_rejected: true,
        ..JobResult::default()
    };
    clock.advance(Duration::seconds(1));
    let t2 = clock.now();
    let complete = Finish::Completed {
        counts: counts(100, 98, 2),
        result: result.clone(),
    };
    assert!(queue.finish_job(lease, &complete).await.unwrap());
    let done = queue.job(first.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.counts, counts(100, 98, 2));
    assert_eq!(done.result, Some(result));
    assert_eq!(done.finished_at, Some(t2));
    assert_eq!(done.error, None);
    assert_eq!(done.lease_until, None, "a finished job holds no lease");
    let late = Finish::Failed {
        counts: Counts::default(),
        error: JobError::new(JobErrorKind::Internal, "Too late."),
    };
    assert!(
        !queue.finish_job(lease, &late).await.unwrap(),
        "a finished job cannot finish again"
    );
    assert_eq!(queue.job(first.id).await.unwrap().unwrap(), done);
    let still_pending = all[2].id;
    let empty = Finish::Completed {
        counts: Counts::default(),
        result: JobResult::default(),
    };
    assert!(
        !queue.finish_job(all[2].lease(), &empty).await.unwrap(),
        "a pending job cannot finish"
    );
    assert_eq!(queue.job(still_pending).await.unwrap().unwrap(), all[2]);
    let nf = queue.finish_job(nowhere, &empty).await.unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");
    let beat = queue
        .heartbeat(lease, Counts::default(), LEASE)
        .await
        .unwrap();
    assert_eq!(beat, Beat::NotRunning, "a finished job must stop");
    assert_eq!(queue.job(first.id).await.unwrap().unwrap(), done);

    // Cancel a finished job: a conflict that names the status.
    let conflict = queue.request_cancel(first.id, &by()).await.unwrap_err();
    assert_eq!(conflict.code(), Code::Conflict, "{conflict}");
    assert!(
        conflict
            .to_string()
            .contains("already finished (COMPLETED)"),
        "{conflict}"
    );
    let nf = queue.request_cancel(JobId::new(), &by()).await.unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");

    // Too-large counts are refused, not wrapped.
    let huge = queue
        .heartbeat(all[3].lease(), counts(u64::MAX, 0, 0), LEASE)
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::InvalidArgument, "{huge}");
    let running = queue.claim_job(None, "r", LEASE).await.unwrap().unwrap();
    let huge_finish = Finish::Completed {
        counts: counts(0, 0, u64::MAX),
        result: JobResult::default(),
    };
    let huge = queue
        .finish_job(running.lease(), &huge_finish)
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::InvalidArgument, "{huge}");
    assert_eq!(queue.job(running.id).await.unwrap(), Some(running.clone()));

    // A failure keeps its traceback.
    let raised = JobError {
        kind: JobErrorKind::UserError,
        message: "The score function raised an error on record 3.".into(),
        traceback: Some("Traceback (most recent call last):\nValueError: cursed\n".into()),
    };
    let fail = Finish::Failed {
        counts: counts(3, 2, 0),
        error: raised.clone(),
    };
    assert!(queue.finish_job(running.lease(), &fail).await.unwrap());
    let failed = queue.job(running.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.counts, failed.error, failed.result),
        (JobStatus::Failed, counts(3, 2, 0), Some(raised), None)
    );

    // Drain what is left so later checks start with no pending jobs.
    while queue
        .claim_job(None, "drain", LEASE)
        .await
        .unwrap()
        .is_some()
    {}
}

async fn claims_are_exclusive(stores: &Stores) {
    let new_job = job_target(stores.registry.as_ref(), "claimed").await;
    let mut created = HashSet::new();
    for _ in 0..20 {
        let job = stores
            .jobs
            .enqueue(&new_job(JobKind::Scoring), &by())
            .await
            .unwrap();
        created.insert(job.id);
    }
    let mut tasks = Vec::new();
    for r in 0..8 {
        let queue = stores.jobs.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let runner = format!("runner-{r}");
            while let Some(job) = queue.claim_job(None, &runner, LEASE).await.unwrap() {
                assert_eq!(job.runner.as_deref(), Some(runner.as_str()));
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    assert_eq!(claimed.len(), 20, "every job is claimed exactly once");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), created);
}

async fn leases(stores: &Stores, clock: &ManualClock) {
    let queue = &stores.jobs;
    // Jobs the earlier checks left running fall silent an hour on: each
    // loses its first attempt and goes back to the queue.
    let in_progress = JobFilter {
        status: Some(JobStatus::InProgress),
        ..JobFilter::default()
    };
    let running = queue
        .list_jobs(&in_progress, &Page::first(1000))
        .await
        .unwrap();
    assert!(!running.items.is_empty());
    clock.advance(Duration::hours(1));
    let swept = queue.expire_leases().await.unwrap();
    assert_eq!(swept.retried, running.items.len() as u64, "{swept:?}");
    assert_eq!((swept.failed, swept.stopped), (0, 0));
    let left = queue
        .list_jobs(&in_progress, &Page::default())
        .await
        .unwrap();
    assert!(left.items.is_empty());
    for job in &running.items {
        let back = queue.job(job.id).await.unwrap().unwrap();
        assert_eq!(back.status, JobStatus::Pending);
        assert_eq!(
            (back.attempt, back.runner, back.lease_until),
            (1, None, None)
        );
        assert_eq!(
            back.counts,
            Counts::default(),
            "the next attempt starts afresh"
        );
        queue.request_cancel(job.id, &by()).await.unwrap();
    }

    let new_job = job_target(stores.registry.as_ref(), "leased").await;
    let mut twice = new_job(JobKind::Scoring);
    twice.max_attempts = 2;
    let waiting = queue
        .enqueue(&new_job(JobKind::Scoring), &by())
        .await
        .unwrap();
    let job = queue.enqueue(&twice, &by()).await.unwrap();
    let first = queue
        .claim_job(Some(job.id), "r1", LEASE)
        .await
        .unwrap()
        .unwrap();
    let t0 = clock.now();

    // A beat twenty seconds on renews the lease: thirty seconds from then
    // it has not run out, a microsecond more and it has.
    clock.advance(Duration::seconds(20));
    let beat = queue
        .heartbeat(first.lease(), counts(4, 4, 0), LEASE)
        .await
        .unwrap();
    assert_eq!(beat, Beat::Continue);
    clock.advance(LEASE);
    assert_eq!(queue.expire_leases().await.unwrap(), Default::default());
    clock.advance(Duration::microseconds(1));
    let t1 = clock.now();
    let swept = queue.expire_leases().await.unwrap();
    assert_eq!((swept.retried, swept.failed, swept.stopped), (1, 0, 0));
    let back = queue.job(job.id).await.unwrap().unwrap();
    assert_eq!((back.status, back.attempt), (JobStatus::Pending, 1));

    // The lost attempt can no longer write anything about the job, and the
    // next claim is attempt 2, which the old lease does not fence.
    let late = Finish::Completed {
        counts: counts(9, 9, 0),
        result: JobResult::default(),
    };
    assert!(!queue.finish_job(first.lease(), &late).await.unwrap());
    assert!(!queue.hand_back(first.lease()).await.unwrap());
    let second = queue
        .claim_job(Some(job.id), "r2", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.attempt, 2);
    let beat = queue
        .heartbeat(first.lease(), counts(9, 9, 0), LEASE)
        .await
        .unwrap();
    assert_eq!(beat, Beat::NotRunning, "the first attempt must stop");
    assert!(!queue.finish_job(first.lease(), &late).await.unwrap());
    let held = queue.job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (held.status, held.counts),
        (JobStatus::InProgress, Counts::default())
    );

    // Losing the last allowed attempt fails the job, saying why.
    clock.advance(LEASE + Duration::seconds(1));
    let t2 = clock.now();
    let swept = queue.expire_leases().await.unwrap();
    assert_eq!((swept.retried, swept.failed, swept.stopped), (0, 1, 0));
    let failed = queue.job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.finished_at),
        (JobStatus::Failed, Some(t2))
    );
    let err = failed.error.unwrap();
    assert_eq!(err.kind, JobErrorKind::Crashed);
    for want in [
        "stopped heart-beating",
        "2 of 2 attempts",
        "on r2",
        "max_attempts is 2",
    ] {
        assert!(err.message.contains(want), "{} lacks {want:?}", err.message);
    }
    let attempts = queue.attempts(job.id).await.unwrap();
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, a.runner.as_str(), a.outcome, a.ended_at))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "r1", AttemptOutcome::Lost, Some(t1)),
            (2, "r2", AttemptOutcome::Lost, Some(t2))
        ]
    );
    assert_eq!(attempts[0].started_at, t0);

    // A runner that shuts down hands its job back: that attempt is not lost,
    // so the job still has all its attempts; the one that finishes says so.
    let job = queue.enqueue(&twice, &by()).await.unwrap();
    let a1 = queue
        .claim_job(Some(job.id), "r1", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(queue.hand_back(a1.lease()).await.unwrap());
    assert!(!queue.hand_back(a1.lease()).await.unwrap(), "only once");
    let back = queue.job(job.id).await.unwrap().unwrap();
    assert_eq!((back.status, back.runner), (JobStatus::Pending, None));
    let a2 = queue
        .claim_job(Some(job.id), "r2", LEASE)
        .await
        .unwrap()
        .unwrap();
    clock.advance(LEASE + Duration::seconds(1));
    assert_eq!(queue.expire_leases().await.unwrap().retried, 1);
    let a3 = queue
        .claim_job(Some(job.id), "r3", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a2.attempt, a3.attempt), (2, 3));
    assert!(queue.finish_job(a3.lease(), &late).await.unwrap());
    let outcomes: Vec<_> = queue
        .attempts(job.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::HandedBack,
            AttemptOutcome::Lost,
            AttemptOutcome::Completed
        ]
    );

    // Cancelling a job whose runner is gone stops it at once; a cancel asked
    // of a live runner that then goes silent is carried out by the sweep.
    let gone = queue
        .enqueue(&new_job(JobKind::Scoring), &by())
        .await
        .unwrap();
    queue
        .claim_job(Some(gone.id), "r1", LEASE)
        .await
        .unwrap()
        .unwrap();
    let silent = queue
        .enqueue(&new_job(JobKind::Scoring), &by())
        .await
        .unwrap();
    queue
        .claim_job(Some(silent.id), "r1", LEASE)
        .await
        .unwrap()
        .unwrap();
    let flagged = queue.request_cancel(silent.id, &by()).await.unwrap();
    assert_eq!(
        (flagged.status, flagged.cancel_requested),
        (JobStatus::InProgress, true)
    );
    clock.advance(LEASE + Duration::seconds(1));
    let stopped = queue.request_cancel(gone.id, &by()).await.unwrap();
    assert_eq!(stopped.status, JobStatus::Stopped);
    assert_eq!(stopped.finished_at, Some(clock.now()));
    let err = stopped.error.unwrap();
    assert_eq!(err.kind, JobErrorKind::Cancelled);
    assert!(
        err.message.contains("stopped without it"),
        "{}",
        err.message
    );
    let swept = queue.expire_leases().await.unwrap();
    assert_eq!((swept.retried, swept.failed, swept.stopped), (0, 0, 1));
    assert_eq!(
        queue.job(silent.id).await.unwrap().unwrap().status,
        JobStatus::Stopped
    );

    // One attempt allowed: losing it fails the job; none allowed is refused.
    let mut once = new_job(JobKind::Scoring);
    once.max_attempts = 1;
    let job = queue.enqueue(&once, &by()).await.unwrap();
    queue
        .claim_job(Some(job.id), "r1", LEASE)
        .await
        .unwrap()
        .unwrap();
    clock.advance(LEASE + Duration::seconds(1));
    assert_eq!(queue.expire_leases().await.unwrap().failed, 1);
    let msg = queue
        .job(job.id)
        .await
        .unwrap()
        .unwrap()
        .error
        .unwrap()
        .message;
    assert!(msg.contains("1 of 1 attempts"), "{msg}");
    once.max_attempts = 0;
    let err = queue.enqueue(&once, &by()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.to_string().contains("`max_attempts`"), "{err}");

    // A job nobody claimed never expires, however old.
    assert_eq!(queue.job(waiting.id).await.unwrap(), Some(waiting.clone()));
    let stopped = queue.request_cancel(waiting.id, &by()).await.unwrap();
    assert_eq!(stopped.status, JobStatus::Stopped);
}

/// Jobs keep the data format of their input.
pub(super) async fn data_formats(stores: &Stores) {
    let new_job = job_target(stores.registry.as_ref(), "formatted").await;
    for format in [DataFormat::Csv, DataFormat::Json, DataFormat::Parquet] {
        let mut job = new_job(JobKind::Scoring);
        job.request.format = Some(format);
        job.request.input = InputRecord::Upload {
            upload_id: keel_types::UploadId::new(),
            name: "input.dat".into(),
        };
        let queued = stores.jobs.enqueue(&job, &by()).await.unwrap();
        let read = stores.jobs.job(queued.id).await.unwrap().unwrap();
        assert_eq!(read.request, job.request, "{format:?}");
    }
}
