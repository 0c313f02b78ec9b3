//! The conformance suite every `MetaStore` backend must pass, run here on
//! SQLite files, plus SQLite-specific and artifact-store tests. All tests use
//! real files in temporary directories.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, SubsecRound, Utc};
use keel_types::{
    Code, ComparisonId, JobError, JobErrorKind, JobId, JobKind, JobStatus, ModelId, UploadId,
};
use serde_json::json;

use crate::records::{ComparisonRecord, JobFilter, JobRecord, Page, UploadRecord, VersionFile};
use crate::{ArtifactStore, Error, MetaStore, SqliteStore, blob_key, open, open_sqlite};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Runs every check of the `MetaStore` contract against `store`, which must be
/// empty. A new backend passes when this returns.
pub(crate) async fn conformance(store: Arc<dyn MetaStore>) {
    models(&store).await;
    versions(&store).await;
    aliases(&store).await;
    jobs(&store).await;
    claims_are_exclusive(&store).await;
    stale_jobs(&store).await;
    uploads(&store).await;
    comparisons(&store).await;
}

fn files(tag: &str) -> Vec<VersionFile> {
    vec![
        VersionFile {
            path: "model.py".into(),
            sha256: format!("{tag}01"),
            size: 120,
            role: "source".into(),
        },
        VersionFile {
            path: "assets/weights.bin".into(),
            sha256: format!("{tag}02"),
            size: 4096,
            role: "asset".into(),
        },
    ]
}

async fn models(store: &Arc<dyn MetaStore>) {
    let names = ["m3", "m0", "m6", "m1", "m5", "m2", "m4"];
    for n in names {
        let m = store.create_model(n).await.unwrap();
        assert_eq!(m.name, n);
        assert_eq!(m.latest_version, 0);
        assert_eq!(store.model_by_id(m.id).await.unwrap(), Some(m.clone()));
        assert_eq!(store.model_by_name(n).await.unwrap(), Some(m));
    }
    assert_eq!(store.model_by_name("nope").await.unwrap(), None);
    assert_eq!(store.model_by_id(ModelId::new()).await.unwrap(), None);

    let dup = store.create_model("m1").await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
    assert!(dup.to_string().contains("'m1'"), "{dup}");
    let bad = store.create_model("no spaces").await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");

    // Page through by name, inserting in the middle to check the cursor
    // stays stable: what sorts before it is skipped, what sorts after appears.
    let p1 = store.list_models(&Page::first(3)).await.unwrap();
    let n1: Vec<_> = p1.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(n1, ["m0", "m1", "m2"]);
    let c1 = p1.next_cursor.expect("a second page");
    store.create_model("a-early").await.unwrap();
    store.create_model("m7").await.unwrap();
    let p2 = store.list_models(&Page::after(3, c1)).await.unwrap();
    let n2: Vec<_> = p2.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(n2, ["m3", "m4", "m5"]);
    let p3 = store
        .list_models(&Page::after(3, p2.next_cursor.expect("a third page")))
        .await
        .unwrap();
    let n3: Vec<_> = p3.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(n3, ["m6", "m7"]);
    assert_eq!(p3.next_cursor, None, "the last page has no cursor");

    let all = store.list_models(&Page::default()).await.unwrap();
    assert_eq!(all.items.len(), 9);
    assert_eq!(all.next_cursor, None);

    let bad = store
        .list_models(&Page::after(3, "not-a-cursor"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");
}

async fn versions(store: &Arc<dyn MetaStore>) {
    let model = store.create_model("versioned").await.unwrap();
    let job = JobId::new();
    let def = json!({"functions": {"score": "score"}, "platform": "python3"});
    let v1 = store
        .create_version(model.id, "hash-a", &def, &files("aa"), None)
        .await
        .unwrap();
    let v2 = store
        .create_version(model.id, "hash-b", &json!({}), &files("bb"), Some(job))
        .await
        .unwrap();
    let v3 = store
        .create_version(model.id, "hash-a", &def, &[], None)
        .await
        .unwrap();
    assert_eq!((v1.number, v2.number, v3.number), (1, 2, 3));
    assert_eq!(v1.model_name, "versioned");
    assert_eq!(
        store
            .model_by_id(model.id)
            .await
            .unwrap()
            .unwrap()
            .latest_version,
        3
    );

    assert_eq!(store.version_by_id(v2.id).await.unwrap(), Some(v2.clone()));
    let got = store.version_by_number(model.id, 1).await.unwrap().unwrap();
    assert_eq!(got, v1);
    assert_eq!(got.definition, def);
    assert_eq!(got.files, files("aa"));
    assert_eq!(v2.source_job, Some(job));
    assert_eq!(store.version_by_number(model.id, 4).await.unwrap(), None);
    assert_eq!(
        store.latest_version(model.id).await.unwrap(),
        Some(v3.clone())
    );
    assert_eq!(
        store.version_by_hash(model.id, "hash-a").await.unwrap(),
        Some(v3.clone()),
        "the newest version with the hash wins"
    );
    assert_eq!(store.version_by_hash(model.id, "zzz").await.unwrap(), None);

    let missing = store
        .create_version(ModelId::new(), "h", &def, &[], None)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing}");

    // Concurrent registrations get dense, distinct numbers.
    let busy = store.create_model("busy").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_version(busy.id, &format!("h{i}"), &json!({ "i": i }), &[], None)
                .await
                .map(|v| v.number)
        }));
    }
    let mut numbers = BTreeSet::new();
    for t in tasks {
        numbers.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(numbers, (1..=10).collect::<BTreeSet<u32>>());
    assert_eq!(
        store.latest_version(busy.id).await.unwrap().unwrap().number,
        10
    );

    let mut seen = Vec::new();
    let mut page = Page::first(4);
    let mut pages = 0;
    loop {
        let got = store.list_versions(busy.id, &page).await.unwrap();
        pages += 1;
        seen.extend(got.items.iter().map(|v| v.number));
        match got.next_cursor {
            Some(c) => page = Page::after(4, c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=10).collect::<Vec<u32>>());
    let empty = store
        .list_versions(ModelId::new(), &Page::default())
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());
}

async fn aliases(store: &Arc<dyn MetaStore>) {
    let model = store.create_model("aliased").await.unwrap();
    let other = store.create_model("other").await.unwrap();
    let mut v = Vec::new();
    for i in 0..3 {
        v.push(
            store
                .create_version(model.id, &format!("a{i}"), &json!({}), &[], None)
                .await
                .unwrap(),
        );
    }
    let foreign = store
        .create_version(other.id, "f", &json!({}), &[], None)
        .await
        .unwrap();

    let e1 = store
        .set_alias(model.id, "champion", v[0].id)
        .await
        .unwrap();
    assert_eq!((e1.from_version, e1.to_version), (None, Some(1)));
    let e2 = store
        .set_alias(model.id, "champion", v[1].id)
        .await
        .unwrap();
    assert_eq!((e2.from_version, e2.to_version), (Some(1), Some(2)));
    let same = store
        .set_alias(model.id, "champion", v[1].id)
        .await
        .unwrap();
    assert_eq!((same.from_version, same.to_version), (Some(2), Some(2)));
    store
        .set_alias(model.id, "challenger", v[2].id)
        .await
        .unwrap();

    let champ = store.alias(model.id, "champion").await.unwrap().unwrap();
    assert_eq!((champ.version_id, champ.version_number), (v[1].id, 2));
    assert_eq!(store.alias(model.id, "nope").await.unwrap(), None);
    let names: Vec<_> = store
        .list_aliases(model.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.alias, a.version_number))
        .collect();
    assert_eq!(
        names,
        [("challenger".to_string(), 3), ("champion".to_string(), 2)]
    );

    let wrong_model = store
        .set_alias(model.id, "champion", foreign.id)
        .await
        .unwrap_err();
    assert_eq!(wrong_model.code(), Code::InvalidArgument, "{wrong_model}");
    let back = store
        .set_alias(model.id, "champion", v[0].id)
        .await
        .unwrap();
    assert_eq!((back.from_version, back.to_version), (Some(2), Some(1)));
    let gone = store
        .set_alias(model.id, "champion", keel_types::VersionId::new())
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone}");
    let bad = store
        .set_alias(model.id, "bad name", v[0].id)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");

    assert!(store.delete_alias(model.id, "champion").await.unwrap());
    assert!(!store.delete_alias(model.id, "champion").await.unwrap());
    assert_eq!(store.alias(model.id, "champion").await.unwrap(), None);

    let history: Vec<_> = store
        .alias_history(model.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.alias, e.from_version, e.to_version))
        .collect();
    let expect = [
        ("champion", None, Some(1)),
        ("champion", Some(1), Some(2)),
        ("challenger", None, Some(3)),
        ("champion", Some(2), Some(1)),
        ("champion", Some(1), None),
    ]
    .map(|(a, f, t)| (a.to_string(), f, t));
    assert_eq!(history, expect);
    assert!(store.alias_history(other.id).await.unwrap().is_empty());
}

/// A model with one version, and a factory for pending jobs on it.
async fn job_target(store: &Arc<dyn MetaStore>, name: &str) -> impl Fn(JobKind) -> JobRecord {
    let model = store.create_model(name).await.unwrap();
    let version = store
        .create_version(model.id, "jh", &json!({}), &[], None)
        .await
        .unwrap();
    move |kind| {
        JobRecord::pending(
            kind,
            model.id,
            model.name.clone(),
            version.id,
            version.number,
            json!({"input": "in.csv", "n": 1}),
        )
    }
}

async fn jobs(store: &Arc<dyn MetaStore>) {
    let new_job = job_target(store, "jobbed").await;
    let other_job = job_target(store, "jobbed-too").await;

    let first = new_job(JobKind::Scoring);
    store.create_job(&first).await.unwrap();
    assert_eq!(store.job(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.job(JobId::new()).await.unwrap(), None);
    let dup = store.create_job(&first).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
    let mut orphan = new_job(JobKind::Scoring);
    orphan.model_id = ModelId::new();
    let orphan_err = store.create_job(&orphan).await.unwrap_err();
    assert_eq!(orphan_err.code(), Code::NotFound, "{orphan_err}");

    // Eleven more jobs: ids are time ordered, so newest first is reverse order.
    let mut all = vec![first.clone()];
    for i in 0..11 {
        let job = if i % 3 == 0 {
            other_job(JobKind::Metrics)
        } else {
            new_job(JobKind::Scoring)
        };
        store.create_job(&job).await.unwrap();
        all.push(job);
    }
    let mut listed = Vec::new();
    let mut page = Page::first(5);
    loop {
        let got = store.list_jobs(&JobFilter::default(), &page).await.unwrap();
        listed.extend(got.items.iter().map(|j| j.id));
        match got.next_cursor {
            Some(c) => page = Page::after(5, c),
            None => break,
        }
    }
    let expected: Vec<_> = all.iter().rev().map(|j| j.id).collect();
    assert_eq!(listed, expected);

    let metrics = JobFilter {
        kind: Some(JobKind::Metrics),
        ..JobFilter::default()
    };
    let got = store.list_jobs(&metrics, &Page::default()).await.unwrap();
    assert_eq!(got.items.len(), 4);
    assert!(got.items.iter().all(|j| j.kind == JobKind::Metrics));
    let by_model = JobFilter {
        model_id: Some(first.model_id),
        status: Some(JobStatus::Pending),
        ..JobFilter::default()
    };
    let got = store.list_jobs(&by_model, &Page::default()).await.unwrap();
    assert_eq!(got.items.len(), 8);
    assert!(got.items.iter().all(|j| j.model_id == first.model_id));

    // Claims: the oldest pending first, or a given id.
    let t0 = Utc::now().trunc_subsecs(6);
    let claimed = store
        .claim_job(None, "runner-a", t0)
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
    let last = all[11].id;
    let by_id = store
        .claim_job(Some(last), "runner-b", t0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.id, last);
    assert_eq!(
        store.claim_job(Some(last), "runner-c", t0).await.unwrap(),
        None
    );
    assert_eq!(
        store.claim_job(Some(JobId::new()), "r", t0).await.unwrap(),
        None
    );

    // Heartbeats record progress and report cancellation.
    let t1 = t0 + Duration::seconds(5);
    assert!(!store.heartbeat(first.id, 10, 9, 1, t1).await.unwrap());
    let beat = store.job(first.id).await.unwrap().unwrap();
    assert_eq!(
        (
            beat.records_read,
            beat.records_written,
            beat.records_rejected
        ),
        (10, 9, 1)
    );
    assert_eq!(beat.heartbeat_at, Some(t1));
    let nf = store
        .heartbeat(JobId::new(), 0, 0, 0, t1)
        .await
        .unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");

    // Cancel an in-progress job: flagged, still running, heartbeat says stop.
    let cancelled = store.request_cancel(last, t1).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::InProgress);
    assert!(cancelled.cancel_requested);
    assert!(store.heartbeat(last, 1, 1, 0, t1).await.unwrap());
    let stopped = JobError::new(JobErrorKind::Cancelled, "Cancelled by a user.");
    assert!(
        store
            .finish_job(
                last,
                JobStatus::Stopped,
                (1, 1, 0),
                Some(&stopped),
                None,
                t1
            )
            .await
            .unwrap()
    );
    assert_eq!(store.job(last).await.unwrap().unwrap().error, Some(stopped));

    // Cancel a pending job: stopped at once.
    let pending = all[1].id;
    let now_stopped = store.request_cancel(pending, t1).await.unwrap();
    assert_eq!(now_stopped.status, JobStatus::Stopped);
    assert_eq!(now_stopped.finished_at, Some(t1));
    assert_eq!(
        now_stopped.error.map(|e| e.kind),
        Some(JobErrorKind::Cancelled)
    );
    assert_eq!(store.claim_job(Some(pending), "r", t1).await.unwrap(), None);

    // Finishing: only from IN_PROGRESS, only to a terminal status.
    let not_terminal = store
        .finish_job(first.id, JobStatus::Pending, (0, 0, 0), None, None, t1)
        .await
        .unwrap_err();
    assert_eq!(not_terminal.code(), Code::InvalidArgument, "{not_terminal}");
    let result = json!({"output": "jobs/x/out.csv"});
    let t2 = t1 + Duration::seconds(1);
    assert!(
        store
            .finish_job(
                first.id,
                JobStatus::Completed,
                (100, 98, 2),
                None,
                Some(&result),
                t2
            )
            .await
            .unwrap()
    );
    let done = store.job(first.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        (
            done.records_read,
            done.records_written,
            done.records_rejected
        ),
        (100, 98, 2)
    );
    assert_eq!(done.result, Some(result));
    assert_eq!(done.finished_at, Some(t2));
    assert_eq!(done.error, None);
    assert!(
        !store
            .finish_job(first.id, JobStatus::Failed, (0, 0, 0), None, None, t2)
            .await
            .unwrap(),
        "a finished job cannot finish again"
    );
    assert_eq!(store.job(first.id).await.unwrap().unwrap(), done);
    let still_pending = all[2].id;
    assert!(
        !store
            .finish_job(
                still_pending,
                JobStatus::Completed,
                (0, 0, 0),
                None,
                None,
                t2
            )
            .await
            .unwrap(),
        "a pending job cannot finish"
    );
    assert_eq!(
        store.job(still_pending).await.unwrap().unwrap().status,
        JobStatus::Pending
    );
    let nf = store
        .finish_job(
            JobId::new(),
            JobStatus::Completed,
            (0, 0, 0),
            None,
            None,
            t2,
        )
        .await
        .unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");
    assert!(
        store.heartbeat(first.id, 0, 0, 0, t2).await.unwrap(),
        "a finished job must stop"
    );

    // Cancel a finished job: a conflict that names the status.
    let conflict = store.request_cancel(first.id, t2).await.unwrap_err();
    assert_eq!(conflict.code(), Code::Conflict, "{conflict}");
    assert!(
        conflict
            .to_string()
            .contains("already finished (COMPLETED)"),
        "{conflict}"
    );
    let nf = store.request_cancel(JobId::new(), t2).await.unwrap_err();
    assert_eq!(nf.code(), Code::NotFound, "{nf}");

    // Too-large counts are refused, not wrapped.
    let huge = store
        .heartbeat(all[3].id, u64::MAX, 0, 0, t2)
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::InvalidArgument, "{huge}");

    // Drain what is left so later checks start with no pending jobs.
    while store.claim_job(None, "drain", t2).await.unwrap().is_some() {}
}

async fn claims_are_exclusive(store: &Arc<dyn MetaStore>) {
    let new_job = job_target(store, "claimed").await;
    let mut created = HashSet::new();
    for _ in 0..20 {
        let job = new_job(JobKind::Scoring);
        store.create_job(&job).await.unwrap();
        created.insert(job.id);
    }
    let mut tasks = Vec::new();
    for r in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store
                .claim_job(None, &format!("runner-{r}"), Utc::now())
                .await
                .unwrap()
            {
                assert_eq!(job.runner, Some(format!("runner-{r}")));
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

async fn stale_jobs(store: &Arc<dyn MetaStore>) {
    let new_job = job_target(store, "stale").await;
    let t0 = Utc::now().trunc_subsecs(6) - Duration::hours(1);
    let old = new_job(JobKind::Training);
    let fresh = new_job(JobKind::Training);
    store.create_job(&old).await.unwrap();
    store.create_job(&fresh).await.unwrap();
    store
        .claim_job(Some(old.id), "r", t0)
        .await
        .unwrap()
        .unwrap();
    store
        .claim_job(Some(fresh.id), "r", t0)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store
            .heartbeat(fresh.id, 1, 1, 0, t0 + Duration::minutes(10))
            .await
            .unwrap()
    );

    let n = store
        .requeue_stale(t0 + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let failed = store.job(old.id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let err = failed.error.unwrap();
    assert_eq!(err.kind, JobErrorKind::Crashed);
    assert!(
        err.message.contains("stopped heart-beating"),
        "{}",
        err.message
    );
    assert!(failed.finished_at.is_some());
    assert_eq!(
        store.job(fresh.id).await.unwrap().unwrap().status,
        JobStatus::InProgress
    );
    assert!(
        store.heartbeat(old.id, 2, 2, 0, Utc::now()).await.unwrap(),
        "the runner must stop"
    );
    assert_eq!(
        store
            .requeue_stale(t0 + Duration::minutes(5))
            .await
            .unwrap(),
        0
    );
}

async fn uploads(store: &Arc<dyn MetaStore>) {
    let up = UploadRecord {
        id: UploadId::new(),
        name: "scores.csv".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        created_at: Utc::now().trunc_subsecs(6),
    };
    store.create_upload(&up).await.unwrap();
    assert_eq!(store.upload(up.id).await.unwrap(), Some(up.clone()));
    assert_eq!(store.upload(UploadId::new()).await.unwrap(), None);
    let dup = store.create_upload(&up).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
}

async fn comparisons(store: &Arc<dyn MetaStore>) {
    let new_job = job_target(store, "compared").await;
    let a = new_job(JobKind::Metrics);
    let b = new_job(JobKind::Metrics);
    store.create_job(&a).await.unwrap();
    store.create_job(&b).await.unwrap();
    let mut made = Vec::new();
    for i in 0..3 {
        let c = ComparisonRecord {
            id: ComparisonId::new(),
            status: "PENDING".into(),
            champion_job: a.id,
            challenger_job: b.id,
            policy: json!({"metric": "auc", "min_delta": i}),
            result: None,
            error: None,
            created_at: Utc::now().trunc_subsecs(6),
            finished_at: None,
        };
        store.create_comparison(&c).await.unwrap();
        made.push(c);
    }
    assert_eq!(
        store.comparison(made[0].id).await.unwrap(),
        Some(made[0].clone())
    );
    assert_eq!(store.comparison(ComparisonId::new()).await.unwrap(), None);
    let dup = store.create_comparison(&made[0]).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
    let mut orphan = made[0].clone();
    orphan.id = ComparisonId::new();
    orphan.challenger_job = JobId::new();
    let err = store.create_comparison(&orphan).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");

    // Newest first, page by page.
    let first = store.list_comparisons(&Page::first(2)).await.unwrap();
    assert_eq!(
        first.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![made[2].id, made[1].id]
    );
    let rest = store
        .list_comparisons(&Page::after(2, first.next_cursor.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![made[0].id]
    );
    assert_eq!(rest.next_cursor, None);

    // Finishing happens once; the second finisher changes nothing.
    let now = Utc::now().trunc_subsecs(6);
    let result = json!({"verdict": "challenger_better"});
    assert!(
        store
            .finish_comparison(made[0].id, "COMPLETED", Some(&result), None, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_comparison(made[0].id, "FAILED", None, Some("late"), now)
            .await
            .unwrap()
    );
    let done = store.comparison(made[0].id).await.unwrap().unwrap();
    assert_eq!(done.status, "COMPLETED");
    assert_eq!(done.result, Some(result));
    assert_eq!(done.error, None);
    assert_eq!(done.finished_at, Some(now));
    let bad = store
        .finish_comparison(made[1].id, "PENDING", None, None, now)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");
    let missing = store
        .finish_comparison(ComparisonId::new(), "FAILED", None, Some("x"), now)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing}");
}

// ---------------------------------------------------------------------------
// SQLite.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_sqlite(&dir.path().join("nested/dir/keel.db"))
        .await
        .unwrap();
    conformance(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_write_concurrently() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keel.db");
    // Both "processes" open a fresh file at once, racing on the migrations.
    let (a, b) = tokio::join!(open_sqlite(&path), open_sqlite(&path));
    let (a, b) = (a?, b?);
    let model = a.create_model("shared").await?;
    let version = a
        .create_version(model.id, "h", &json!({}), &[], None)
        .await?;

    let writer = |store: Arc<dyn MetaStore>, tag: &'static str| {
        tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..25 {
                store.create_model(&format!("{tag}-{i}")).await?;
                let v = store
                    .create_version(model.id, &format!("{tag}{i}"), &json!({}), &[], None)
                    .await?;
                numbers.push(v.number);
                let job = JobRecord::pending(
                    JobKind::Scoring,
                    model.id,
                    "shared",
                    version.id,
                    version.number,
                    json!({}),
                );
                store.create_job(&job).await?;
                if let Some(claimed) = store.claim_job(None, tag, Utc::now()).await? {
                    store.heartbeat(claimed.id, 1, 1, 0, Utc::now()).await?;
                    store
                        .finish_job(
                            claimed.id,
                            JobStatus::Completed,
                            (1, 1, 0),
                            None,
                            None,
                            Utc::now(),
                        )
                        .await?;
                }
            }
            Ok::<_, Error>(numbers)
        })
    };
    let ta = writer(a.clone(), "a");
    let tb = writer(b.clone(), "b");
    let mut numbers = ta.await??;
    numbers.extend(tb.await??);
    numbers.sort_unstable();
    assert_eq!(numbers, (2..=51).collect::<Vec<u32>>());
    let models = b.list_models(&Page::first(1000)).await?;
    assert_eq!(models.items.len(), 51);
    let completed = JobFilter {
        status: Some(JobStatus::Completed),
        ..JobFilter::default()
    };
    assert_eq!(
        a.list_jobs(&completed, &Page::first(1000))
            .await?
            .items
            .len(),
        50
    );
    Ok(())
}

#[tokio::test]
async fn open_accepts_sqlite_urls_and_paths() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data/keel.db");
    let url = format!("sqlite://{}", path.display());
    let id = open(&url).await?.create_model("kept").await?.id;
    // Reopening by bare path sees the same data.
    let again = open(&path.display().to_string()).await?;
    assert_eq!(again.model_by_name("kept").await?.map(|m| m.id), Some(id));

    let pg = open("postgres://localhost/keel")
        .await
        .err()
        .ok_or("postgres opened")?;
    assert_eq!(pg.code(), Code::InvalidArgument);
    assert!(
        pg.to_string()
            .contains("PostgreSQL support is not built yet"),
        "{pg}"
    );
    let other = open("mysql://x").await.err().ok_or("mysql opened")?;
    assert_eq!(other.code(), Code::InvalidArgument);
    assert!(open("sqlite://").await.is_err());
    Ok(())
}

#[tokio::test]
async fn corrupt_rows_are_reported_not_panicked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("keel.db")).await?;
    let model = store.create_model("c").await?;
    let version = store
        .create_version(model.id, "h", &json!({}), &[], None)
        .await?;
    let job = JobRecord::pending(JobKind::Scoring, model.id, "c", version.id, 1, json!({}));
    store.create_job(&job).await?;
    sqlx::query("UPDATE jobs SET status = 'EXPLODED' WHERE id = ?")
        .bind(job.id.to_string())
        .execute(store.pool())
        .await?;
    let err = store
        .job(job.id)
        .await
        .err()
        .ok_or("a corrupt job was read")?;
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(err.code(), Code::Internal);
    assert!(err.to_string().contains("EXPLODED"), "{err}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Artifacts.

/// Bytes that are not all alike, so a misplaced chunk would be noticed.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Names in `dir` (not recursive) that look like leftovers of a write.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.contains('#'))
        .collect()
}

#[tokio::test]
async fn artifacts_round_trip() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(&dir.path().join("artifacts"))?;
    let key = blob_key(&"cd".repeat(32));
    assert!(!store.exists(&key).await?);
    store
        .put_bytes(&key, bytes::Bytes::from_static(b"hello"))
        .await?;
    assert!(store.exists(&key).await?);
    assert_eq!(store.get_bytes(&key).await?.as_ref(), b"hello");
    let on_disk = store.local_path(&key).ok_or("no local path")?;
    assert_eq!(std::fs::read(&on_disk)?, b"hello");
    assert!(on_disk.ends_with(format!("blobs/sha256/cd/{}", "cd".repeat(32))));

    let src = dir.path().join("small.txt");
    std::fs::write(&src, b"small file")?;
    assert_eq!(store.put_file("models/x/small.txt", &src).await?, 10);
    assert_eq!(
        store.get_bytes("models/x/small.txt").await?.as_ref(),
        b"small file"
    );

    store.delete(&key).await?;
    assert!(!store.exists(&key).await?);
    store.delete(&key).await?;
    let missing = store
        .get_bytes(&key)
        .await
        .err()
        .ok_or("missing key read")?;
    assert_eq!(missing.code(), Code::NotFound, "{missing}");

    let no_src = store
        .put_file("models/x/none", &dir.path().join("absent"))
        .await
        .err()
        .ok_or("absent file stored")?;
    assert!(matches!(no_src, Error::Io { .. }), "{no_src}");
    assert!(!store.exists("models/x/none").await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_both_ways() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("artifacts");
    let store = ArtifactStore::local(&root)?;
    let data = pattern(50 * 1024 * 1024 + 17);
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &data)?;
    let key = "uploads/big/big.bin";
    assert_eq!(store.put_file(key, &src).await?, data.len() as u64);
    let stored = store.local_path(key).ok_or("no local path")?;
    assert_eq!(std::fs::metadata(&stored)?.len(), data.len() as u64);
    assert!(leftovers(stored.parent().ok_or("no parent")?).is_empty());

    let dest = dir.path().join("out/big.copy");
    assert_eq!(store.get_to_file(key, &dest).await?, data.len() as u64);
    assert!(
        std::fs::read(&dest)? == data,
        "the copy differs from the original"
    );
    assert!(leftovers(dest.parent().ok_or("no parent")?).is_empty());
    Ok(())
}

#[tokio::test]
async fn get_to_file_is_atomic() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(&dir.path().join("artifacts"))?;
    let dest = dir.path().join("dest.csv");
    std::fs::write(&dest, b"old content")?;

    let err = store
        .get_to_file("jobs/none/out.csv", &dest)
        .await
        .err()
        .ok_or("a missing key was fetched")?;
    assert_eq!(err.code(), Code::NotFound, "{err}");
    assert_eq!(
        std::fs::read(&dest)?,
        b"old content",
        "a failed get must not touch dest"
    );
    assert!(leftovers(dir.path()).is_empty());

    store
        .put_bytes("jobs/1/out.csv", bytes::Bytes::from_static(b"a,b\n1,2\n"))
        .await?;
    assert_eq!(store.get_to_file("jobs/1/out.csv", &dest).await?, 8);
    assert_eq!(std::fs::read(&dest)?, b"a,b\n1,2\n");
    assert!(leftovers(dir.path()).is_empty());
    Ok(())
}

#[tokio::test]
async fn artifact_keys_are_validated_everywhere() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(&dir.path().join("artifacts"))?;
    let src = dir.path().join("f");
    std::fs::write(&src, b"x")?;
    for key in ["../escape", "/abs", "a//b", ""] {
        let errs = [
            store.put_bytes(key, bytes::Bytes::new()).await.err(),
            store.put_file(key, &src).await.err(),
            store.get_bytes(key).await.err(),
            store.get_to_file(key, &dir.path().join("o")).await.err(),
            store.exists(key).await.err(),
            store.delete(key).await.err(),
            store.delete_prefix(key).await.err(),
        ];
        for e in errs {
            let e = e.ok_or(format!("{key:?} was accepted"))?;
            assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        }
        assert_eq!(store.local_path(key), None);
    }
    assert!(!dir.path().join("escape").exists());
    Ok(())
}

#[tokio::test]
async fn delete_prefix_removes_whole_segments_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(&dir.path().join("artifacts"))?;
    for key in [
        "jobs/1/a.csv",
        "jobs/1/sub/b.csv",
        "jobs/10/c.csv",
        "jobs/2/d.csv",
    ] {
        store
            .put_bytes(key, bytes::Bytes::from_static(b"x"))
            .await?;
    }
    store.delete_prefix("jobs/1").await?;
    assert!(!store.exists("jobs/1/a.csv").await?);
    assert!(!store.exists("jobs/1/sub/b.csv").await?);
    assert!(store.exists("jobs/10/c.csv").await?);
    assert!(store.exists("jobs/2/d.csv").await?);
    store.delete_prefix("jobs/2/").await?;
    assert!(!store.exists("jobs/2/d.csv").await?);
    store.delete_prefix("never/was").await?;
    assert!(store.exists("jobs/10/c.csv").await?);
    Ok(())
}

#[test]
fn artifact_futures_are_send() -> TestResult {
    // Callers spawn these futures on a multi-threaded runtime (HTTP handlers),
    // so they must be Send; this fails to compile if one is not.
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(dir.path())?;
    let src = dir.path().join("f");
    send(&store.put_file("k", &src));
    send(&store.put_bytes("k", bytes::Bytes::new()));
    send(&store.get_to_file("k", &src));
    send(&store.get_bytes("k"));
    send(&store.exists("k"));
    send(&store.delete("k"));
    send(&store.delete_prefix("k"));
    Ok(())
}
