//! The comparisons part of the conformance suite: comparisons are created
//! PENDING, become decidable once both their jobs have finished, and are
//! decided exactly once.

use chrono::Duration;
use keel_types::{
    Clock, Code, ComparisonId, ComparisonStatus, JobError, JobErrorKind, JobId, JobKind,
    ManualClock, Verdict,
};
use serde_json::json;

use super::by;
use super::{counts, job_target};
use crate::formats::{ComparePolicy, JobResult};
use crate::{ComparisonRecord, Decided, Finish, NewComparison, Page, Stores};

/// A policy on `metric` with the defaults Keel uses.
fn policy(metric: &str, min_delta: f64) -> ComparePolicy {
    ComparePolicy {
        metric: metric.into(),
        min_delta,
        confidence: 0.95,
        resamples: 1000,
        seed: 7,
    }
}

fn ids(list: &[ComparisonRecord]) -> Vec<ComparisonId> {
    list.iter().map(|c| c.id).collect()
}

pub(super) async fn suite(stores: &Stores, clock: &ManualClock) {
    let (queue, store) = (&stores.jobs, &stores.comparisons);
    let new_job = job_target(stores.registry.as_ref(), "compared").await;
    let a = queue
        .enqueue(&new_job(JobKind::Metrics), &by())
        .await
        .unwrap();
    let b = queue
        .enqueue(&new_job(JobKind::Metrics), &by())
        .await
        .unwrap();
    let late = queue
        .enqueue(&new_job(JobKind::Metrics), &by())
        .await
        .unwrap();
    let mut made = Vec::new();
    for i in 0..3 {
        clock.advance(Duration::seconds(1));
        let new = NewComparison {
            champion_job: a.id,
            challenger_job: b.id,
            policy: policy("auc", f64::from(i) / 100.0),
        };
        let c = store.create_comparison(&new, &by()).await.unwrap();
        let expected = ComparisonRecord {
            id: c.id,
            status: ComparisonStatus::Pending,
            champion_job: a.id,
            challenger_job: b.id,
            policy: new.policy.clone(),
            verdict: None,
            result: None,
            error: None,
            created_at: clock.now(),
            finished_at: None,
        };
        assert_eq!(c, expected);
        made.push(c);
    }
    assert_eq!(
        store.comparison(made[0].id).await.unwrap(),
        Some(made[0].clone())
    );
    assert_eq!(store.comparison(ComparisonId::new()).await.unwrap(), None);
    for (champion, challenger) in [(a.id, JobId::new()), (JobId::new(), b.id)] {
        let orphan = NewComparison {
            champion_job: champion,
            challenger_job: challenger,
            policy: policy("auc", 0.0),
        };
        let err = store.create_comparison(&orphan, &by()).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err}");
    }

    // Newest first, page by page.
    let first = store.list_comparisons(&Page::first(2)).await.unwrap();
    assert_eq!(ids(&first.items), vec![made[2].id, made[1].id]);
    assert_eq!(
        first.items[0], made[2],
        "listing returns the stored records"
    );
    let rest = store
        .list_comparisons(&Page::after(2, first.next_cursor.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(ids(&rest.items), vec![made[0].id]);
    assert_eq!(rest.next_cursor, None);
    let bad = store
        .list_comparisons(&Page::after(2, "zz"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");

    // A comparison waits until both its jobs have reached a terminal status.
    let waiting = store
        .create_comparison(
            &NewComparison {
                champion_job: a.id,
                challenger_job: late.id,
                policy: policy("f1", 0.0),
            },
            &by(),
        )
        .await
        .unwrap();
    assert!(store.decidable_comparisons().await.unwrap().is_empty());
    let lease = chrono::Duration::seconds(30);
    let a_claim = queue
        .claim_job(Some(a.id), "r", lease)
        .await
        .unwrap()
        .unwrap();
    let b_claim = queue
        .claim_job(Some(b.id), "r", lease)
        .await
        .unwrap()
        .unwrap();
    assert!(store.decidable_comparisons().await.unwrap().is_empty());
    let completed = Finish::Completed {
        counts: counts(10, 10, 0),
        result: JobResult::default(),
    };
    assert!(queue.finish_job(a_claim.lease(), &completed).await.unwrap());
    assert!(
        store.decidable_comparisons().await.unwrap().is_empty(),
        "one job still runs"
    );
    let failed = Finish::Failed {
        counts: counts(0, 0, 0),
        error: JobError::new(JobErrorKind::InvalidInput, "No label column."),
    };
    assert!(queue.finish_job(b_claim.lease(), &failed).await.unwrap());
    let ready = store.decidable_comparisons().await.unwrap();
    assert_eq!(ready, made, "oldest first, a failed job counts as finished");

    // Deciding happens once; the second decider changes nothing.
    clock.advance(Duration::seconds(1));
    let now = clock.now();
    let document = json!({"metric": "auc", "verdict": "challenger_better", "paired_records": 569});
    let better = Decided::Completed {
        verdict: Verdict::ChallengerBetter,
        document: document.clone(),
    };
    assert!(store.decide_comparison(made[0].id, &better).await.unwrap());
    let too_late = Decided::Failed {
        error: "late".into(),
    };
    assert!(
        !store
            .decide_comparison(made[0].id, &too_late)
            .await
            .unwrap()
    );
    let done = store.comparison(made[0].id).await.unwrap().unwrap();
    let expected = ComparisonRecord {
        status: ComparisonStatus::Completed,
        verdict: Some(Verdict::ChallengerBetter),
        result: Some(document),
        error: None,
        finished_at: Some(now),
        ..made[0].clone()
    };
    assert_eq!(done, expected);

    clock.advance(Duration::seconds(1));
    let why = "The challenger's metrics job ended FAILED: No label column.";
    let no_verdict = Decided::Failed { error: why.into() };
    assert!(
        store
            .decide_comparison(made[1].id, &no_verdict)
            .await
            .unwrap()
    );
    assert!(!store.decide_comparison(made[1].id, &better).await.unwrap());
    let gave_up = store.comparison(made[1].id).await.unwrap().unwrap();
    let expected = ComparisonRecord {
        status: ComparisonStatus::Failed,
        verdict: None,
        result: None,
        error: Some(why.into()),
        finished_at: Some(clock.now()),
        ..made[1].clone()
    };
    assert_eq!(gave_up, expected);
    let ready = store.decidable_comparisons().await.unwrap();
    assert_eq!(ids(&ready), vec![made[2].id]);

    for decided in [&better, &no_verdict] {
        let missing = store
            .decide_comparison(ComparisonId::new(), decided)
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{missing}");
    }

    // A job stopped before it started counts as finished too.
    queue.request_cancel(late.id, &by()).await.unwrap();
    let ready = store.decidable_comparisons().await.unwrap();
    assert_eq!(ids(&ready), vec![made[2].id, waiting.id]);
    let listed = store.list_comparisons(&Page::default()).await.unwrap();
    assert_eq!(
        ids(&listed.items),
        vec![waiting.id, made[2].id, made[1].id, made[0].id]
    );
    assert_eq!(listed.items[2], gave_up);
}
