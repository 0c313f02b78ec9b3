//! The conformance suite every metadata backend must pass, its shared
//! helpers, and the SQLite-specific tests: the suite run on a SQLite file,
//! two pools writing at once, the URL forms `Stores::open` accepts, and
//! corrupt rows. All tests use real files in temporary directories; the
//! PostgreSQL tests ([`postgres`]) use a fresh database each.

mod access;
mod artifacts;
mod comparisons;
mod formats;
mod monitors;
mod postgres;
mod queue;
mod registry;
mod upgrade;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use keel_types::{Clock, Code, JobId, JobKind, ManualClock, ModelId, SharedClock, UploadId};

use crate::formats::{
    AdapterRecord, DefinitionFile, FunctionRecord, FunctionsRecord, InputRecord, JobRequest,
    MetricsRolesRecord, ModelDefinition, OutputRecord, PlatformRecord,
};
use crate::{
    ComparisonStore, Counts, Error, JobFilter, JobQueue, NewComparison, NewJob, NewUpload,
    NewVersion, Page, RegistryStore, SqliteStore, Stores, VersionFile,
};

/// The actor every change of the conformance suite is made by.
pub(crate) fn by() -> crate::Actor {
    crate::Actor::new("tester", "test")
}

pub(crate) type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Runs every aggregate's suite against `stores`, whose metadata store must
/// be empty and whose clock must be `clock`, standing at any instant. A new
/// backend passes when this returns.
pub(crate) async fn conformance(stores: &Stores, clock: &Arc<ManualClock>) {
    let before = stores.clock.now();
    clock.advance(Duration::milliseconds(1));
    assert_eq!(
        stores.clock.now() - before,
        Duration::milliseconds(1),
        "the stores must read the clock the suite moves"
    );
    registry::suite(stores, clock).await;
    queue::suite(stores, clock).await;
    queue::data_formats(stores).await;
    comparisons::suite(stores, clock).await;
    uploads(stores, clock).await;
    access::suite(stores, clock).await;
    monitors::suite(stores, clock).await;
}

/// The instant the conformance run starts at: fixed, with microseconds, so
/// that every timestamp can be asserted exactly.
pub(crate) fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T09:30:00.123456Z")
        .expect("a valid instant")
        .with_timezone(&Utc)
}

/// A timestamp as the SQLite backend stores it, for rows written by hand.
pub(crate) fn sql_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Record counts.
pub(crate) fn counts(read: u64, written: u64, rejected: u64) -> Counts {
    Counts {
        read,
        written,
        rejected,
    }
}

/// Two version files whose hashes start with `tag`.
pub(crate) fn files(tag: &str) -> Vec<VersionFile> {
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
            role: "attachment".into(),
        },
    ]
}

/// A model definition whose every part is set, so that a lost field shows.
pub(crate) fn definition(name: &str) -> ModelDefinition {
    ModelDefinition {
        name: name.into(),
        source: "model.py".into(),
        module: "model".into(),
        functions: FunctionsRecord {
            init: None,
            score: Some(FunctionRecord {
                name: "score".into(),
                file: "model.py".into(),
                line: 7,
                batch: false,
                params: vec!["record".into()],
            }),
            metrics: None,
            train: Some(FunctionRecord {
                name: "fit".into(),
                file: "model.py".into(),
                line: 19,
                batch: true,
                params: vec!["df".into()],
            }),
        },
        input_schema: Some("input.avsc".into()),
        output_schema: None,
        output_column: Some("score".into()),
        platform: PlatformRecord {
            requirements_file: Some("requirements.txt".into()),
            requirements: vec!["pandas".into()],
            python_version: Some("3.12".into()),
            hash: format!("{name}-platform"),
        },
        files: vec![DefinitionFile {
            path: "model.py".into(),
            sha256: format!("{name}-source"),
            size: 120,
            role: "source".into(),
        }],
        content_hash: format!("{name}-content"),
        adapter: Some(AdapterRecord {
            kind: "mlflow".into(),
            summary: "MLflow model, sklearn flavor (skops)".into(),
            notes: vec!["a note".into()],
            config: r#"{"flavor":"sklearn"}"#.into(),
        }),
    }
}

/// What registering a version of `model_id` with this content takes.
pub(crate) fn new_version(
    model_id: ModelId,
    content_hash: &str,
    definition: ModelDefinition,
    files: Vec<VersionFile>,
    source_job: Option<JobId>,
) -> NewVersion {
    NewVersion {
        model_id,
        content_hash: content_hash.into(),
        definition,
        files,
        source_job,
        origin: None,
    }
}

/// A job request reading `uri`; metrics jobs carry their built-in metrics.
pub(crate) fn request(kind: JobKind, uri: &str) -> JobRequest {
    let builtin = (kind == JobKind::Metrics).then(|| MetricsRolesRecord {
        problem_type: Some("binary".into()),
        label: "flagged".into(),
        probability: Some("probability".into()),
        prediction: None,
        threshold: 0.5,
        positive_label: Some("1".into()),
        protected: vec!["gender".into()],
        reference_groups: [("gender".to_string(), "f".to_string())].into(),
        seed: 7,
        curve_points: 1000,
        subsamples: 5,
    });
    JobRequest {
        input: InputRecord::Path { uri: uri.into() },
        output: Some(OutputRecord::Embedded {
            name: "out.csv".into(),
        }),
        format: None,
        workers: 2,
        max_runtime_seconds: Some(600),
        schema_check: true,
        builtin,
        baseline: (kind == JobKind::Metrics).then(|| InputRecord::Path {
            uri: "baseline.csv".into(),
        }),
    }
}

/// A model named `name` with one version, and a factory for jobs to queue on it.
pub(crate) async fn job_target(
    registry: &dyn RegistryStore,
    name: &str,
) -> impl Fn(JobKind) -> NewJob + use<> {
    let model = registry.create_model(name, &by()).await.unwrap();
    let version = registry
        .create_version(
            &new_version(model.id, "jh", definition(name), vec![], None),
            &by(),
        )
        .await
        .unwrap();
    move |kind| NewJob {
        kind,
        model_id: model.id,
        model_name: model.name.clone(),
        version_id: version.id,
        version_number: version.number,
        request: request(kind, "in.csv"),
        max_attempts: crate::DEFAULT_MAX_ATTEMPTS,
    }
}

async fn uploads(stores: &Stores, clock: &ManualClock) {
    let store = &stores.uploads;
    let new = NewUpload {
        id: UploadId::new(),
        name: "scores.csv".into(),
        size: 1234,
        sha256: "ab".repeat(32),
    };
    let up = store.create_upload(&new, &by()).await.unwrap();
    assert_eq!(up.created_at, clock.now());
    assert_eq!((up.id, up.size), (new.id, 1234));
    assert_eq!(store.upload(up.id).await.unwrap(), Some(up.clone()));
    assert_eq!(store.upload(UploadId::new()).await.unwrap(), None);
    let dup = store.create_upload(&new, &by()).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
    // The quota counts every upload's bytes, and a deleted one no longer.
    let other = NewUpload {
        id: UploadId::new(),
        size: 10,
        ..new.clone()
    };
    store.create_upload(&other, &by()).await.unwrap();
    assert_eq!(store.upload_bytes().await.unwrap(), 1244);
    assert_eq!(
        store.delete_upload(up.id, &by()).await.unwrap(),
        Some(up.clone())
    );
    assert_eq!(store.delete_upload(up.id, &by()).await.unwrap(), None);
    assert_eq!(store.upload(up.id).await.unwrap(), None);
    assert_eq!(store.upload_bytes().await.unwrap(), 10);
}

/// Opens stores on a SQLite file and a local directory under `dir`, reading `clock`.
pub(crate) async fn sqlite_stores(dir: &Path, clock: &Arc<ManualClock>) -> Stores {
    let shared: SharedClock = clock.clone();
    Stores::open(
        &format!("sqlite://{}", dir.join("nested/dir/keel.db").display()),
        &format!("file://{}", dir.join("artifacts").display()),
        shared,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start());
    let stores = sqlite_stores(dir.path(), &clock).await;
    conformance(&stores, &clock).await;
}

#[tokio::test]
async fn open_accepts_sqlite_urls_and_paths() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = || -> SharedClock { ManualClock::new(start()) };
    let path = dir.path().join("data/keel.db");
    let artifacts = dir.path().join("artifacts");
    let url = format!("sqlite://{}", path.display());
    let file_url = format!("file://{}", artifacts.display());
    let stores = Stores::open(&url, &file_url, clock()).await?;
    let id = stores.registry.create_model("kept", &by()).await?.id;
    stores.ready().await?;
    // Reopening by `sqlite:` and by bare path sees the same data.
    for form in [
        format!("sqlite:{}", path.display()),
        path.display().to_string(),
    ] {
        let again = Stores::open(&form, &artifacts.display().to_string(), clock()).await?;
        let kept = again.registry.model_by_name("kept").await?;
        assert_eq!(kept.map(|m| m.id), Some(id), "{form}");
    }

    let refused = |what: &str, e: Option<Error>| -> std::result::Result<String, String> {
        let e = e.ok_or(format!("{what} was opened"))?;
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        Ok(e.to_string())
    };
    let msg = refused(
        "mysql",
        Stores::open("mysql://x", &file_url, clock()).await.err(),
    )?;
    assert!(msg.contains("scheme 'mysql' is not supported"), "{msg}");
    assert!(msg.contains("postgres://"), "{msg}");
    for empty in ["sqlite://", "sqlite:", " "] {
        let msg = refused(empty, Stores::open(empty, &file_url, clock()).await.err())?;
        assert!(msg.contains("names no database file"), "{msg}");
    }
    let msg = refused("s3", Stores::open(&url, "s3://", clock()).await.err())?;
    assert!(msg.contains("names no bucket"), "{msg}");
    let msg = refused("gs", Stores::open(&url, "gs://b", clock()).await.err())?;
    assert!(msg.contains("scheme 'gs' is not supported"), "{msg}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_write_concurrently() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("keel.db").display());
    let artifacts = format!("file://{}", dir.path().join("artifacts").display());
    let clock = ManualClock::new(start());
    let shared: SharedClock = clock.clone();
    // Both "processes" open a fresh file at once, racing on the migrations.
    let (a, b) = tokio::join!(
        Stores::open(&url, &artifacts, shared.clone()),
        Stores::open(&url, &artifacts, shared)
    );
    write_concurrently(&a?, &b?, &clock).await
}

#[tokio::test]
async fn a_schema_from_a_newer_keel_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keel.db");
    let store = SqliteStore::open(&path, ManualClock::new(start())).await?;
    exec(
        &store,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, X'00', 0)",
        &[],
    )
    .await?;
    drop(store);
    let err = SqliteStore::open(&path, ManualClock::new(start()))
        .await
        .expect_err("newer schema");
    assert!(
        matches!(
            err,
            Error::SchemaTooNew {
                found: 9999,
                known: 9
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("written by a newer Keel"), "{err}");
    Ok(())
}

/// Two stores on one database, as two processes hold them, register
/// versions, queue, claim and finish jobs at once: version numbers stay
/// dense and unique, and every job is claimed and finished exactly once.
pub(crate) async fn write_concurrently(
    a: &Stores,
    b: &Stores,
    clock: &Arc<ManualClock>,
) -> TestResult {
    let model = a.registry.create_model("shared", &by()).await?;
    let version = a
        .registry
        .create_version(
            &new_version(model.id, "h", definition("shared"), vec![], None),
            &by(),
        )
        .await?;

    let writer = |stores: Stores, tag: &'static str| {
        let clock = clock.clone();
        tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..25 {
                clock.advance(Duration::milliseconds(1));
                stores
                    .registry
                    .create_model(&format!("{tag}-{i}"), &by())
                    .await?;
                let v = stores
                    .registry
                    .create_version(
                        &new_version(
                            model.id,
                            &format!("{tag}{i}"),
                            definition("shared"),
                            vec![],
                            None,
                        ),
                        &by(),
                    )
                    .await?;
                numbers.push(v.number);
                let job = NewJob {
                    kind: JobKind::Scoring,
                    model_id: model.id,
                    model_name: "shared".into(),
                    version_id: version.id,
                    version_number: version.number,
                    request: request(JobKind::Scoring, "in.csv"),
                    max_attempts: crate::DEFAULT_MAX_ATTEMPTS,
                };
                stores.jobs.enqueue(&job, &by()).await?;
                if let Some(claimed) = stores
                    .jobs
                    .claim_job(None, tag, chrono::Duration::seconds(30))
                    .await?
                {
                    stores
                        .jobs
                        .heartbeat(claimed.lease(), counts(1, 1, 0), Duration::seconds(30))
                        .await?;
                    let done = crate::Finish::Completed {
                        counts: counts(1, 1, 0),
                        result: crate::formats::JobResult::default(),
                    };
                    assert!(stores.jobs.finish_job(claimed.lease(), &done).await?);
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
    let models = b.registry.list_models(&Page::first(1000)).await?;
    assert_eq!(models.items.len(), 51);
    let completed = JobFilter {
        status: Some(keel_types::JobStatus::Completed),
        ..JobFilter::default()
    };
    let done = a.jobs.list_jobs(&completed, &Page::first(1000)).await?;
    assert_eq!(done.items.len(), 50);
    Ok(())
}

/// Asserts that `got` is a `Corrupt` error (code INTERNAL) whose text holds
/// every one of `words`.
fn assert_corrupt<T: std::fmt::Debug>(got: crate::Result<T>, words: &[&str]) {
    let err = got.expect_err("a corrupt row was read");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(err.code(), Code::Internal);
    for w in words {
        assert!(err.to_string().contains(w), "{err} lacks {w:?}");
    }
}

/// Runs `sql` on `store`'s database with `args` bound in order, as a person
/// editing the file by hand would.
async fn exec(store: &SqliteStore, sql: &'static str, args: &[&str]) -> TestResult {
    let mut query = sqlx::query(sql);
    for a in args {
        query = query.bind(a.to_string());
    }
    query.execute(store.pool()).await?;
    Ok(())
}

#[tokio::test]
async fn corrupt_rows_are_reported_not_panicked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("keel.db"), ManualClock::new(start())).await?;
    let model = store.create_model("c", &by()).await?;
    let new = new_version(model.id, "h", definition("c"), files("cc"), None);
    let version = store.create_version(&new, &by()).await?;
    let job = store
        .enqueue(
            &NewJob {
                kind: JobKind::Metrics,
                model_id: model.id,
                model_name: "c".into(),
                version_id: version.id,
                version_number: 1,
                request: request(JobKind::Metrics, "in.csv"),
                max_attempts: 1,
            },
            &by(),
        )
        .await?;
    let (jid, vid, mid) = (
        job.id.to_string(),
        version.id.to_string(),
        model.id.to_string(),
    );
    let spec: String = sqlx::query_scalar("SELECT spec FROM jobs WHERE id = ?")
        .bind(&jid)
        .fetch_one(store.pool())
        .await?;
    let set_spec = "UPDATE jobs SET spec = ? WHERE id = ?";

    exec(
        &store,
        "UPDATE jobs SET status = 'EXPLODED' WHERE id = ?",
        &[&jid],
    )
    .await?;
    assert_corrupt(store.job(job.id).await, &["jobs.status", "EXPLODED"]);
    let listed = store
        .list_jobs(&JobFilter::default(), &Page::default())
        .await;
    assert_corrupt(listed, &["EXPLODED"]);
    exec(
        &store,
        "UPDATE jobs SET status = 'PENDING' WHERE id = ?",
        &[&jid],
    )
    .await?;
    exec(&store, set_spec, &["not json", &jid]).await?;
    assert_corrupt(store.job(job.id).await, &["jobs.spec", "is not JSON"]);
    exec(&store, set_spec, &[r#"{"record_format": 99}"#, &jid]).await?;
    let newer = store.job(job.id).await;
    assert_corrupt(newer, &["jobs.spec", "format 99", "newer Keel"]);
    exec(&store, set_spec, &[r#"{"record_format": 1}"#, &jid]).await?;
    assert_corrupt(store.job(job.id).await, &["jobs.spec", "does not parse"]);
    assert_corrupt(
        store
            .claim_job(None, "r", chrono::Duration::seconds(30))
            .await,
        &["jobs.spec"],
    );
    exec(&store, set_spec, &[&spec, &jid]).await?;
    // The claimed job that could not be read was failed at once, not left
    // IN_PROGRESS for the stale sweep.
    let failed = store.job(job.id).await?.expect("the job exists");
    assert_eq!(failed.status, keel_types::JobStatus::Failed);
    assert!(
        failed
            .error
            .is_some_and(|e| e.message.contains("cannot be read"))
    );
    assert_eq!(failed.request, job.request);
    exec(
        &store,
        "UPDATE jobs SET records_read = -1 WHERE id = ?",
        &[&jid],
    )
    .await?;
    assert_corrupt(store.job(job.id).await, &["jobs.records_read", "negative"]);
    let stamp = "UPDATE jobs SET records_read = 0, created_at = 'now' WHERE id = ?";
    exec(&store, stamp, &[&jid]).await?;
    assert_corrupt(store.job(job.id).await, &["jobs.created_at", "'now'"]);

    exec(
        &store,
        "UPDATE versions SET files = '{' WHERE id = ?",
        &[&vid],
    )
    .await?;
    assert_corrupt(store.version_by_id(version.id).await, &["versions.files"]);
    let def = "UPDATE versions SET files = '[]', definition = '[1]' WHERE id = ?";
    exec(&store, def, &[&vid]).await?;
    let latest = store.latest_version(model.id).await;
    assert_corrupt(latest, &["versions.definition", "is not a JSON object"]);
    let created = "UPDATE models SET created_at = 'yesterday' WHERE id = ?";
    exec(&store, created, &[&mid]).await?;
    let named = store.model_by_name("c").await;
    assert_corrupt(named, &["models.created_at", "yesterday"]);

    // Reading a comparison reads none of its jobs, corrupt as this one is.
    let pair = NewComparison {
        champion_job: job.id,
        challenger_job: job.id,
        policy: serde_json::from_value(serde_json::json!({"metric": "auc"}))?,
    };
    let compared = store.create_comparison(&pair, &by()).await?;
    let cid = compared.id.to_string();
    let verdict = "UPDATE comparisons SET status = 'COMPLETED', verdict = 'maybe' WHERE id = ?";
    exec(&store, verdict, &[&cid]).await?;
    let read = store.comparison(compared.id).await;
    assert_corrupt(read, &["comparisons.verdict", "maybe"]);
    let listed = store.list_comparisons(&Page::default()).await;
    assert_corrupt(listed, &["comparisons.verdict"]);
    let policy = "UPDATE comparisons SET verdict = NULL, policy = '{}' WHERE id = ?";
    exec(&store, policy, &[&cid]).await?;
    let read = store.comparison(compared.id).await;
    assert_corrupt(read, &["comparisons.policy", "comparison policy"]);
    Ok(())
}

#[test]
fn stores_are_shared_across_tasks() {
    // Callers hold the bundle in handlers on a multi-threaded runtime.
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Stores>();
}
