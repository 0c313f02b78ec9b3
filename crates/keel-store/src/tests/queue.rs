//! The job queue part of the conformance suite: enqueueing, listing, atomic
//! claims, heartbeats, cancellation, the fenced finish, and failing jobs
//! whose runner went silent, timed by the store's clock.

use std::collections::HashSet;

use chrono::Duration;
use keel_types::{
    Clock, Code, DataFormat, JobError, JobErrorKind, JobId, JobKind, JobStatus, ManualClock,
    ModelId, VersionId,
};

use super::{counts, job_target};
use crate::formats::{InputRecord, JobResult, OutputRecord};
use crate::{Beat, Counts, Finish, JobFilter, JobRecord, Page, Stores};

pub(super) async fn suite(stores: &Stores, clock: &ManualClock) {
    jobs(stores, clock).await;
    claims_are_exclusive(stores).await;
    stale_jobs(stores, clock).await;
}

async fn jobs(stores: &Stores, clock: &ManualClock) {
    let queue = &stores.jobs;
    let new_job = job_target(stores.registry.as_ref(), "jobbed").await;
    let other_job = job_target(stores.registry.as_ref(), "jobbed-too").await;

    clock.advance(Duration::seconds(1));
    let asked = new_job(JobKind::Scoring);
    let first = queue.enqueue(&asked).await.unwrap();
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
        cancel_requested: false,
        error: None,
        result: None,
    };
    assert_eq!(first, expected);
    assert_eq!(queue.job(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(queue.job(JobId::new()).await.unwrap(), None);
    // A job must name its version consistently: by id, and by model and number.
    let mut orphan = new_job(JobKind::Scoring);
    orphan.model_id = ModelId::new();
    let orphan_err = queue.enqueue(&orphan).await.unwrap_err();
    assert_eq!(orphan_err.code(), Code::InvalidArgument, "{orphan_err}");
    assert!(
        orphan_err.to_string().contains("consistently"),
        "{orphan_err}"
    );
    let mut renumbered = new_job(JobKind::Scoring);
    renumbered.version_number += 1;
    let err = queue.enqueue(&renumbered).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    let mut orphan = new_job(JobKind::Scoring);
    orphan.version_id = VersionId::new();
    let orphan_err = queue.enqueue(&orphan).await.unwrap_err();
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
        let queued = queue.enqueue(&job).await.unwrap();
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
    let claimed = queue.claim_job(None, "runner-a").await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.status, JobStatus::InProgress);
    assert_eq!(claimed.runner.as_deref(), Some("runner-a"));
    assert_eq!(
        (claimed.started_at, claimed.heartbeat_at),
        (Some(t0), Some(t0))
    );
    assert_eq!(claimed.created_at, first.created_at);
    let last = all[11].id;
    let by_id = queue
        .claim_job(Some(last), "runner-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.id, last);
    assert_eq!(by_id.runner.as_deref(), Some("runner-b"));
    assert_eq!(queue.claim_job(Some(last), "runner-c").await.unwrap(), None);
    assert_eq!(
        queue.claim_job(Some(JobId::new()), "r").await.unwrap(),
        None
    );

    // Heartbeats record progress and report cancellation.
    clock.advance(Duration::seconds(5));
    let t1 = clock.now();
    let beat = queue.heartbeat(first.id, counts(10, 9, 1)).await.unwrap();
    assert_eq!(beat, Beat::Continue);
    let beat = queue.job(first.id).await.unwrap().unwrap();
    assert_eq!(beat.counts, counts(10, 9, 1));
    assert_eq!((beat.started_at, beat.heartbeat_at), (Some(t0), Some(t1)));
    let nf = queue
        .heartbeat(JobId::new(), Counts::default())
        .await
        .unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");
    let pending = queue.heartbeat(all[2].id, counts(5, 5, 5)).await.unwrap();
    assert_eq!(pending, Beat::NotRunning, "a pending job is not running");
    let untouched = queue.job(all[2].id).await.unwrap().unwrap();
    assert_eq!(
        untouched, all[2],
        "a beat for a pending job records nothing"
    );

    // Cancel an in-progress job: flagged, still running, heartbeat says stop.
    let cancelled = queue.request_cancel(last).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::InProgress);
    assert!(cancelled.cancel_requested);
    assert_eq!(cancelled.finished_at, None);
    let beat = queue.heartbeat(last, counts(1, 1, 0)).await.unwrap();
    assert_eq!(beat, Beat::CancelRequested);
    let stopped = JobError::new(JobErrorKind::Cancelled, "Cancelled by a user.");
    let stop = Finish::Stopped {
        counts: counts(1, 1, 0),
        error: stopped.clone(),
    };
    assert!(queue.finish_job(last, &stop).await.unwrap());
    let after = queue.job(last).await.unwrap().unwrap();
    assert_eq!(after.error, Some(stopped));
    assert_eq!(
        (after.status, after.counts, after.finished_at, after.result),
        (JobStatus::Stopped, counts(1, 1, 0), Some(t1), None)
    );

    // Cancel a pending job: stopped at once.
    let pending = all[1].id;
    let now_stopped = queue.request_cancel(pending).await.unwrap();
    assert_eq!(now_stopped.status, JobStatus::Stopped);
    assert_eq!(now_stopped.finished_at, Some(t1));
    assert_eq!(
        now_stopped.error.as_ref().map(|e| e.kind),
        Some(JobErrorKind::Cancelled)
    );
    assert_eq!(queue.job(pending).await.unwrap(), Some(now_stopped));
    assert_eq!(queue.claim_job(Some(pending), "r").await.unwrap(), None);

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
    assert!(queue.finish_job(first.id, &complete).await.unwrap());
    let done = queue.job(first.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.counts, counts(100, 98, 2));
    assert_eq!(done.result, Some(result));
    assert_eq!(done.finished_at, Some(t2));
    assert_eq!(done.error, None);
    let late = Finish::Failed {
        counts: Counts::default(),
        error: JobError::new(JobErrorKind::Internal, "Too late."),
    };
    assert!(
        !queue.finish_job(first.id, &late).await.unwrap(),
        "a finished job cannot finish again"
    );
    assert_eq!(queue.job(first.id).await.unwrap().unwrap(), done);
    let still_pending = all[2].id;
    let empty = Finish::Completed {
        counts: Counts::default(),
        result: JobResult::default(),
    };
    assert!(
        !queue.finish_job(still_pending, &empty).await.unwrap(),
        "a pending job cannot finish"
    );
    assert_eq!(queue.job(still_pending).await.unwrap().unwrap(), all[2]);
    let nf = queue.finish_job(JobId::new(), &empty).await.unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");
    let beat = queue.heartbeat(first.id, Counts::default()).await.unwrap();
    assert_eq!(beat, Beat::NotRunning, "a finished job must stop");
    assert_eq!(queue.job(first.id).await.unwrap().unwrap(), done);

    // Cancel a finished job: a conflict that names the status.
    let conflict = queue.request_cancel(first.id).await.unwrap_err();
    assert_eq!(conflict.code(), Code::Conflict, "{conflict}");
    assert!(
        conflict
            .to_string()
            .contains("already finished (COMPLETED)"),
        "{conflict}"
    );
    let nf = queue.request_cancel(JobId::new()).await.unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");

    // Too-large counts are refused, not wrapped.
    let huge = queue
        .heartbeat(all[3].id, counts(u64::MAX, 0, 0))
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::InvalidArgument, "{huge}");
    let running = queue.claim_job(None, "r").await.unwrap().unwrap();
    let huge_finish = Finish::Completed {
        counts: counts(0, 0, u64::MAX),
        result: JobResult::default(),
    };
    let huge = queue
        .finish_job(running.id, &huge_finish)
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
    assert!(queue.finish_job(running.id, &fail).await.unwrap());
    let failed = queue.job(running.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.counts, failed.error, failed.result),
        (JobStatus::Failed, counts(3, 2, 0), Some(raised), None)
    );

    // Drain what is left so later checks start with no pending jobs.
    while queue.claim_job(None, "drain").await.unwrap().is_some() {}
}

async fn claims_are_exclusive(stores: &Stores) {
    let new_job = job_target(stores.registry.as_ref(), "claimed").await;
    let mut created = HashSet::new();
    for _ in 0..20 {
        let job = stores
            .jobs
            .enqueue(&new_job(JobKind::Scoring))
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
            while let Some(job) = queue.claim_job(None, &runner).await.unwrap() {
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

async fn stale_jobs(stores: &Stores, clock: &ManualClock) {
    let queue = &stores.jobs;
    // Jobs the earlier checks left running fall silent an hour on, and are
    // all failed at once.
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
    let n = queue.fail_stale_jobs(Duration::minutes(30)).await.unwrap();
    assert_eq!(n, running.items.len() as u64);
    let left = queue
        .list_jobs(&in_progress, &Page::default())
        .await
        .unwrap();
    assert!(left.items.is_empty());

    let new_job = job_target(stores.registry.as_ref(), "stale").await;
    let waiting = queue.enqueue(&new_job(JobKind::Scoring)).await.unwrap();
    let old = queue.enqueue(&new_job(JobKind::Training)).await.unwrap();
    let fresh = queue.enqueue(&new_job(JobKind::Training)).await.unwrap();
    queue.claim_job(Some(old.id), "r").await.unwrap().unwrap();
    queue.claim_job(Some(fresh.id), "r").await.unwrap().unwrap();

    // Thirty seconds on, only `fresh` has beaten since.
    clock.advance(Duration::seconds(30));
    let beat = queue.heartbeat(fresh.id, counts(1, 1, 0)).await.unwrap();
    assert_eq!(beat, Beat::Continue);
    let t1 = clock.now();
    let n = queue.fail_stale_jobs(Duration::seconds(20)).await.unwrap();
    assert_eq!(n, 1);
    let failed = queue.job(old.id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let err = failed.error.unwrap();
    assert_eq!(err.kind, JobErrorKind::Crashed);
    assert!(
        err.message.contains("stopped heart-beating"),
        "{}",
        err.message
    );
    assert_eq!(failed.finished_at, Some(t1));
    assert_eq!(failed.counts, Counts::default());
    assert_eq!(
        queue.job(fresh.id).await.unwrap().unwrap().status,
        JobStatus::InProgress
    );
    let beat = queue.heartbeat(old.id, counts(2, 2, 0)).await.unwrap();
    assert_eq!(beat, Beat::NotRunning, "the runner must stop");
    let old_now = queue.job(old.id).await.unwrap().unwrap();
    assert_eq!(
        old_now.counts,
        Counts::default(),
        "a late beat records nothing"
    );
    assert_eq!(
        queue.fail_stale_jobs(Duration::seconds(20)).await.unwrap(),
        0
    );

    // Silent for exactly the limit is not yet stale; a microsecond more is.
    clock.advance(Duration::seconds(20));
    assert_eq!(
        queue.fail_stale_jobs(Duration::seconds(20)).await.unwrap(),
        0
    );
    clock.advance(Duration::microseconds(1));
    assert_eq!(
        queue.fail_stale_jobs(Duration::seconds(20)).await.unwrap(),
        1
    );
    assert_eq!(
        queue.job(fresh.id).await.unwrap().unwrap().status,
        JobStatus::Failed
    );

    // A job nobody claimed is never stale, however old.
    assert_eq!(queue.job(waiting.id).await.unwrap(), Some(waiting.clone()));
    let stopped = queue.request_cancel(waiting.id).await.unwrap();
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
        let queued = stores.jobs.enqueue(&job).await.unwrap();
        let read = stores.jobs.job(queued.id).await.unwrap().unwrap();
        assert_eq!(read.request, job.request, "{format:?}");
    }
}
