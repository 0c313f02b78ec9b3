//! The PostgreSQL backend: the conformance suite on a fresh database, several
//! processes' stores writing and claiming at once, concurrent first opens,
//! and the errors for an unreachable server and a schema from a newer Keel.
//! Each test makes its own database on the test server and drops it after.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use keel_testkit::postgres::{TestDatabase, database};
use keel_types::{Code, JobKind, ManualClock, SharedClock};

use super::by;
use super::{TestResult, conformance, definition, new_version, request, start, write_concurrently};
use crate::{Error, NewJob, PgStore, Stores};

/// Stores on `db`, with artifacts under `dir`, reading `clock`.
async fn pg_stores(db: &TestDatabase, dir: &std::path::Path, clock: &Arc<ManualClock>) -> Stores {
    let shared: SharedClock = clock.clone();
    Stores::open(&db.url, &format!("file://{}", dir.display()), shared)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_conformance() {
    let Some(db) = database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start());
    let stores = pg_stores(&db, dir.path(), &clock).await;
    conformance(&stores, &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_write_concurrently() -> TestResult {
    let Some(db) = database() else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(start());
    // Three "processes" open a fresh database at once: the migrations take
    // turns under their advisory lock, and every process finds the schema.
    let (a, b, c) = tokio::join!(
        pg_stores(&db, dir.path(), &clock),
        pg_stores(&db, dir.path(), &clock),
        pg_stores(&db, dir.path(), &clock)
    );
    drop(c);
    write_concurrently(&a, &b, &clock).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_take_each_job_once() -> TestResult {
    let Some(db) = database() else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(start());
    let stores = pg_stores(&db, dir.path(), &clock).await;
    let model = stores.registry.create_model("queue", &by()).await?;
    let version = stores
        .registry
        .create_version(
            &new_version(model.id, "h", definition("queue"), vec![], None),
            &by(),
        )
        .await?;
    let mut queued = HashSet::new();
    for _ in 0..60 {
        let job = NewJob {
            kind: JobKind::Scoring,
            model_id: model.id,
            model_name: "queue".into(),
            version_id: version.id,
            version_number: version.number,
            request: request(JobKind::Scoring, "in.csv"),
            max_attempts: crate::DEFAULT_MAX_ATTEMPTS,
        };
        queued.insert(stores.jobs.enqueue(&job, &by()).await?.id);
    }
    // Six claimers, each with its own connections as separate processes
    // would have, claim until the queue is empty.
    let mut claimers = Vec::new();
    for n in 0..6 {
        let own = pg_stores(&db, dir.path(), &clock).await;
        claimers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = own
                .jobs
                .claim_job(None, &format!("claimer-{n}"), chrono::Duration::seconds(30))
                .await?
            {
                assert_eq!(job.runner.as_deref(), Some(format!("claimer-{n}").as_str()));
                got.push(job.id);
            }
            Ok::<_, Error>(got)
        }));
    }
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.extend(c.await??);
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), unique.len(), "a job was claimed twice");
    assert_eq!(unique, queued, "every queued job is claimed");
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let clock: SharedClock = ManualClock::new(start());
    // Port 1 on loopback refuses at once: no PostgreSQL listens there.
    let err = PgStore::open("postgres://keel:secret@127.0.0.1:1/keel", clock.clone())
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert_eq!(err.code(), Code::StorageError);
    let msg = err.to_string();
    for want in [
        "Could not connect to the metadata database postgres://keel@127.0.0.1:1/keel",
        "database server is running",
    ] {
        assert!(msg.contains(want), "{msg} lacks {want:?}");
    }
    assert!(!msg.contains("secret"), "the password leaked: {msg}");
    let err = PgStore::open("postgres://keel@127.0.0.1:notaport/keel", clock)
        .await
        .expect_err("a bad port");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.to_string().contains("postgres://USER"), "{err}");
}

#[tokio::test]
async fn a_schema_from_a_newer_keel_is_refused() -> TestResult {
    let Some(db) = database() else { return Ok(()) };
    let clock: SharedClock = ManualClock::new(start());
    let store = PgStore::open(&db.url, clock.clone()).await?;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .execute(store.pool())
    .await?;
    drop(store);
    let err = PgStore::open(&db.url, clock)
        .await
        .expect_err("newer schema");
    assert!(
        matches!(err, Error::SchemaTooNew { found: 9999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("written by a newer Keel"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_claimer_hears_of_a_job_queued_by_another_process() -> TestResult {
    let Some(db) = database() else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(start());
    let (queuer, claimer) = (
        pg_stores(&db, dir.path(), &clock).await,
        pg_stores(&db, dir.path(), &clock).await,
    );
    let model = queuer.registry.create_model("told", &by()).await?;
    let version = queuer
        .registry
        .create_version(
            &new_version(model.id, "h", definition("told"), vec![], None),
            &by(),
        )
        .await?;
    // The first wait starts listening; with nothing queued it times out.
    let idle = std::time::Instant::now();
    claimer.jobs.wait_for_work(Duration::from_millis(300)).await;
    assert!(idle.elapsed() >= Duration::from_millis(300));
    let waiting = tokio::spawn(async move {
        let t = std::time::Instant::now();
        claimer.jobs.wait_for_work(Duration::from_secs(20)).await;
        t.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    queuer
        .jobs
        .enqueue(
            &NewJob {
                kind: JobKind::Scoring,
                model_id: model.id,
                model_name: "told".into(),
                version_id: version.id,
                version_number: version.number,
                request: request(JobKind::Scoring, "in.csv"),
                max_attempts: 3,
            },
            &by(),
        )
        .await?;
    let waited = waiting.await?;
    assert!(
        waited < Duration::from_secs(5),
        "the claimer waited {waited:?}: it was not told"
    );
    Ok(())
}
