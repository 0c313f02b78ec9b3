//! Upgrading a database the previous Keel wrote: a fresh store is downgraded
//! by hand to before migration 3, filled with the format-0 column texts of
//! `test_data/format0`, reopened (which runs migration 3, backfilling each
//! comparison's verdict, migration 4, giving versions an empty origin, and
//! migration 5, giving jobs their attempts and leases, and migration 6,
//! adding users, tokens and the audit log, migration 7, adding monitors, and
//! migration 8, adding alerts, and migration 9, adding revisions),
//! and read back
//! through the store traits.

use chrono::Duration;
use keel_types::{
    ComparisonId, ComparisonStatus, DataFormat, JobErrorKind, JobId, JobKind, JobStatus,
    ManualClock, ModelId, Verdict, VersionId,
};
use serde_json::{Value, json};

use super::by;
use super::formats::{column, fixture};
use super::{TestResult, sql_ts, start};
use crate::formats::{InputRecord, ModelDefinition, decode};
use crate::{
    ComparisonStore, Decided, JobFilter, JobQueue, Page, RegistryStore, SqliteStore, VersionFile,
};

/// A database written by the previous Keel: a fresh store downgraded by hand
/// to before migration 3 (and so before 4), filled with the fixture rows,
/// and reopened.
struct Upgraded {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    model: ModelId,
    versions: Vec<VersionId>,
    jobs: Vec<JobId>,
    comparisons: Vec<ComparisonId>,
}

async fn upgraded() -> Result<Upgraded, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keel.db");
    let clock = ManualClock::new(start());
    let store = SqliteStore::open(&path, clock.clone()).await?;
    let pool = store.pool().clone();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version >= 3")
        .execute(&pool)
        .await?;
    sqlx::query("ALTER TABLE comparisons DROP COLUMN verdict")
        .execute(&pool)
        .await?;
    sqlx::query("ALTER TABLE versions DROP COLUMN origin")
        .execute(&pool)
        .await?;
    // Migration 5's leases and attempts.
    for undo in [
        "DROP TABLE job_attempts",
        "DROP INDEX jobs_by_lease",
        "ALTER TABLE jobs DROP COLUMN attempt",
        "ALTER TABLE jobs DROP COLUMN max_attempts",
        "ALTER TABLE jobs DROP COLUMN lease_until",
        // Migration 6's users, tokens and audit log.
        "DROP TABLE tokens",
        "DROP TABLE users",
        "DROP TABLE audit",
        "ALTER TABLE jobs DROP COLUMN created_by",
        // Migration 7's monitors.
        "DROP TABLE monitor_executions",
        "DROP TABLE monitor_schedules",
        "DROP TABLE monitor_definitions",
        // Migration 8's alerts.
        "DROP TABLE alerts",
        // Migration 9 only adds columns to a table the undo of 7 dropped.
    ] {
        sqlx::query(undo).execute(&pool).await?;
    }
    let at = |minutes: i64| sql_ts(start() - Duration::days(30) + Duration::minutes(minutes));

    let model = ModelId::new();
    sqlx::query(
        "INSERT INTO models (id, name, created_at, latest_version) VALUES (?, 'fraud', ?, 3)",
    )
    .bind(model.to_string())
    .bind(at(0))
    .execute(&pool)
    .await?;
    let mut versions = Vec::new();
    for (n, row) in fixture("versions").iter().enumerate() {
        let id = VersionId::new();
        let definition = column(row, "definition").unwrap();
        let hash: Value = serde_json::from_str(definition)?;
        sqlx::query(
            "INSERT INTO versions (id, model_id, number, created_at, content_hash, definition, \
             files, source_job) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(id.to_string())
        .bind(model.to_string())
        .bind(n as i64 + 1)
        .bind(at(n as i64))
        .bind(hash["content_hash"].as_str())
        .bind(definition)
        .bind(column(row, "files"))
        .execute(&pool)
        .await?;
        versions.push(id);
    }
    let mut jobs = Vec::new();
    for (n, row) in fixture("jobs").iter().enumerate() {
        let id = JobId::new();
        let (started, finished) = (at(10 + n as i64), at(11 + n as i64));
        sqlx::query(
            "INSERT INTO jobs (id, kind, status, model_id, model_name, version_id, version_number, \
             spec, records_read, records_written, records_rejected, created_at, started_at, \
             finished_at, heartbeat_at, runner, error, result) \
             VALUES (?, ?, ?, ?, 'fraud', ?, 1, ?, 569, 569, 0, ?, ?, ?, ?, 'cli', ?, ?)",
        )
        .bind(id.to_string())
        .bind(column(row, "kind"))
        .bind(column(row, "status"))
        .bind(model.to_string())
        .bind(versions[0].to_string())
        .bind(column(row, "spec"))
        .bind(at(10 + n as i64))
        .bind(&started)
        .bind(&finished)
        .bind(&finished)
        .bind(column(row, "error"))
        .bind(column(row, "result"))
        .execute(&pool)
        .await?;
        jobs.push(id);
    }
    // The completed comparison pairs the two completed metrics jobs; the
    // failed ones pair failed metrics jobs.
    let pairs = [(jobs[3], jobs[4]), (jobs[8], jobs[9]), (jobs[10], jobs[11])];
    let mut comparisons = Vec::new();
    for (n, (row, (champion, challenger))) in fixture("comparisons").iter().zip(pairs).enumerate() {
        let id = ComparisonId::new();
        sqlx::query(
            "INSERT INTO comparisons (id, status, champion_job, challenger_job, policy, result, \
             error, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(column(row, "status"))
        .bind(champion.to_string())
        .bind(challenger.to_string())
        .bind(column(row, "policy"))
        .bind(column(row, "result"))
        .bind(column(row, "error"))
        .bind(at(30 + n as i64))
        .bind(at(40 + n as i64))
        .execute(&pool)
        .await?;
        comparisons.push(id);
    }
    pool.close().await;
    drop(store);
    let store = SqliteStore::open(&path, clock).await?;
    Ok(Upgraded {
        _dir: dir,
        store,
        model,
        versions,
        jobs,
        comparisons,
    })
}

#[tokio::test]
async fn upgrade_backfills_verdicts_and_reads_format0_rows() -> TestResult {
    let db = upgraded().await?;
    let store = &db.store;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await?;
    assert_eq!(applied, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let verdicts: Vec<Option<String>> =
        sqlx::query_scalar("SELECT verdict FROM comparisons ORDER BY id")
            .fetch_all(store.pool())
            .await?;
    assert_eq!(verdicts, [Some("inconclusive".to_string()), None, None]);

    let rows = fixture("comparisons");
    let done = store
        .comparison(db.comparisons[0])
        .await?
        .ok_or("no comparison")?;
    assert_eq!(
        (done.status, done.verdict),
        (ComparisonStatus::Completed, Some(Verdict::Inconclusive))
    );
    let document: Value = serde_json::from_str(column(&rows[0], "result").unwrap())?;
    assert_eq!(done.result.as_ref(), Some(&document));
    assert_eq!(
        done.result.as_ref().map(|d| d["verdict"].clone()),
        Some(json!("inconclusive"))
    );
    assert_eq!(
        (done.champion_job, done.challenger_job),
        (db.jobs[3], db.jobs[4])
    );
    assert_eq!(
        (done.policy.metric.as_str(), done.policy.resamples),
        ("auc", 1000)
    );
    assert_eq!(done.error, None);
    let then = start() - Duration::days(30);
    assert_eq!(
        (done.created_at, done.finished_at),
        (
            then + Duration::minutes(30),
            Some(then + Duration::minutes(40))
        )
    );
    for (n, id) in db.comparisons.iter().enumerate().skip(1) {
        let failed = store.comparison(*id).await?.ok_or("no comparison")?;
        assert_eq!(
            (failed.status, failed.verdict, failed.result),
            (ComparisonStatus::Failed, None, None)
        );
        assert_eq!(failed.error.as_deref(), column(&rows[n], "error"));
    }
    let listed = store.list_comparisons(&Page::default()).await?;
    let ids: Vec<_> = listed.items.iter().rev().map(|c| c.id).collect();
    assert_eq!(ids, db.comparisons);
    assert!(store.decidable_comparisons().await?.is_empty());
    let late = Decided::Failed {
        error: "late".into(),
    };
    assert!(!store.decide_comparison(db.comparisons[0], &late).await?);
    assert_eq!(store.comparison(db.comparisons[0]).await?, Some(done));

    let model = store.model_by_name("fraud").await?.ok_or("no model")?;
    assert_eq!((model.id, model.latest_version), (db.model, 3));
    let versions = store.list_versions(db.model, &Page::default()).await?.items;
    let ids: Vec<_> = versions.iter().map(|v| v.id).collect();
    assert_eq!(ids, db.versions);
    let defs = fixture("versions");
    for (v, row) in versions.iter().zip(&defs) {
        let def: ModelDefinition = decode(column(row, "definition").unwrap(), "d")?;
        let files: Vec<VersionFile> = serde_json::from_str(column(row, "files").unwrap())?;
        assert_eq!(
            (&v.definition, &v.files, &v.content_hash),
            (&def, &files, &def.content_hash)
        );
        assert_eq!(v.origin, None, "versions from before origins have none");
    }
    let trained = store
        .version_by_hash(db.model, &versions[1].content_hash)
        .await?;
    assert_eq!(trained.as_ref(), Some(&versions[1]));
    // The upgraded database takes new versions where the old numbering ended.
    let next = super::new_version(db.model, "new", super::definition("fraud"), vec![], None);
    assert_eq!(store.create_version(&next, &by()).await?.number, 4);
    Ok(())
}

#[tokio::test]
async fn upgrade_reads_format0_jobs() -> TestResult {
    let db = upgraded().await?;
    let store = &db.store;
    let listed = store
        .list_jobs(&JobFilter::default(), &Page::default())
        .await?;
    let ids: Vec<_> = listed.items.iter().rev().map(|j| j.id).collect();
    assert_eq!(ids, db.jobs);
    let jobs = fixture("jobs");
    for (job, row) in listed.items.iter().rev().zip(&jobs) {
        assert_eq!(Some(job.kind.as_str()), column(row, "kind"));
        assert_eq!(Some(job.status.as_str()), column(row, "status"));
        assert_eq!((job.counts.read, job.runner.as_deref()), (569, Some("cli")));
        // A job claimed before leases existed ran once, and holds no lease
        // once it finished.
        let once = u32::from(job.started_at.is_some());
        assert_eq!((job.attempt, job.max_attempts), (once, 3), "{}", job.id);
        if job.status.is_terminal() {
            assert_eq!(job.lease_until, None);
        }
    }
    let upload = store.job(db.jobs[7]).await?.ok_or("no job")?;
    assert_eq!(
        (upload.kind, upload.request.format),
        (JobKind::Scoring, Some(DataFormat::Csv))
    );
    assert!(
        matches!(&upload.request.input, InputRecord::Upload { name, .. } if name == "input.csv")
    );
    let raised = store.job(db.jobs[5]).await?.ok_or("no job")?;
    assert_eq!(raised.status, JobStatus::Failed);
    let error = raised.error.ok_or("no error")?;
    assert_eq!(error.kind, JobErrorKind::UserError);
    assert!(
        error
            .traceback
            .is_some_and(|t| t.contains("record 3 is cursed"))
    );
    let trained = store.job(db.jobs[2]).await?.ok_or("no job")?;
    assert_eq!(trained.result.and_then(|r| r.produced_version), Some(2));
    Ok(())
}
