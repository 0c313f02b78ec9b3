//! The executor's own tests, with the fake runtime (no Python) and a manual
//! clock: a deterministic queue harness that steps the loop and injects
//! failures at claim, heartbeat, finish and publish, and the pipelines,
//! training registration and comparison pairing.

mod comparisons;
mod monitoring;
mod pipelines;
mod queue;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_store::formats::{InputRecord, JobRequest, MetricsRolesRecord, OutputRecord};
use keel_store::{JobRecord, NewJob, Stores, VersionRecord};
use keel_types::{JobId, JobKind, ManualClock};
use tempfile::TempDir;
use tokio::task::JoinSet;

use crate::testing::FakeRuntime;
use crate::{ExecConfig, Executor};

/// The actor every change these tests make is made by.
pub(crate) fn by() -> keel_store::Actor {
    keel_store::Actor::new("tester", "test")
}

/// A model source with every function tagged; the fake runtime never runs it.
const SOURCE: &str = "\
# modelop.init
def begin():
    pass

# modelop.score
def action(r):
    yield r

# modelop.metrics
def metrics(df):
    yield {}

# modelop.train
def train(df):
    pass
";

/// An executor over fresh stores in a temporary directory.
pub(crate) struct Harness {
    dir: TempDir,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) stores: Stores,
    pub(crate) exec: Executor,
    pub(crate) runtime: Arc<FakeRuntime>,
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap()
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        for d in ["logs", "work", "envs"] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        let clock = ManualClock::new(start());
        let stores = Stores::open(
            &format!("sqlite://{}", home.join("keel.db").display()),
            &home.join("artifacts").display().to_string(),
            clock.clone(),
        )
        .await
        .unwrap();
        let runtime = FakeRuntime::new();
        let mut cfg = ExecConfig::new(&home, "harness");
        cfg.heartbeat = Duration::from_millis(20);
        cfg.shutdown_grace = Duration::from_millis(400);
        cfg.sweep = Duration::from_millis(20);
        let exec = Executor::new(stores.clone(), cfg, runtime.clone());
        Harness {
            dir,
            clock,
            stores,
            exec,
            runtime,
        }
    }

    /// Registers a model named `name` whose module is `module.py`.
    pub(crate) async fn model(&self, name: &str, module: &str) -> VersionRecord {
        let src = self.dir.path().join("models").join(name);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(format!("{module}.py")), SOURCE).unwrap();
        let def = keel_modeldef::inspect(&src, &[]).unwrap();
        let origins: HashMap<String, PathBuf> = def
            .files
            .iter()
            .map(|f| (f.path.clone(), src.join(&f.path)))
            .collect();
        crate::registration::register(&self.stores, &by(), name, &def, &origins, None)
            .await
            .unwrap()
            .version
    }

    /// Writes a data file and returns its path.
    pub(crate) fn data(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A job request reading `input`.
    pub(crate) fn request(input: &std::path::Path, output: Option<&str>) -> JobRequest {
        JobRequest {
            input: InputRecord::Path {
                uri: input.display().to_string(),
            },
            output: output.map(|name| OutputRecord::Embedded { name: name.into() }),
            format: None,
            workers: 1,
            max_runtime_seconds: None,
            schema_check: true,
            builtin: None,
            baseline: None,
        }
    }

    /// Roles for built-in metrics over a `label` column.
    pub(crate) fn roles() -> MetricsRolesRecord {
        MetricsRolesRecord {
            problem_type: None,
            label: "label".into(),
            probability: None,
            prediction: None,
            threshold: 0.5,
            positive_label: None,
            protected: Vec::new(),
            reference_groups: Default::default(),
            seed: 0,
            curve_points: 1000,
            subsamples: 0,
        }
    }

    /// Queues a job.
    pub(crate) async fn queue(
        &self,
        kind: JobKind,
        version: &VersionRecord,
        request: JobRequest,
    ) -> JobRecord {
        self.stores
            .jobs
            .enqueue(
                &NewJob {
                    kind,
                    model_id: version.model_id,
                    model_name: version.model_name.clone(),
                    version_id: version.id,
                    version_number: version.number,
                    request,
                    max_attempts: keel_store::DEFAULT_MAX_ATTEMPTS,
                },
                &by(),
            )
            .await
            .unwrap()
    }

    /// The job as stored now.
    pub(crate) async fn job(&self, id: JobId) -> JobRecord {
        self.stores.jobs.job(id).await.unwrap().unwrap()
    }

    /// One step of the loop: claims what it can and starts it.
    pub(crate) async fn tick(&self, running: &mut JoinSet<JobId>) -> crate::Result<usize> {
        self.exec.tick(running, 4).await
    }

    /// Starts the job loop (two jobs at a time) in a task of its own; a send
    /// on the sender shuts it down, and the task ends when the loop has.
    pub(crate) fn start_loop(
        &self,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let exec = self.exec.clone();
        let queue = tokio::spawn(async move {
            exec.run_queue(2, async {
                let _ = rx.await;
            })
            .await
        });
        (tx, queue)
    }

    /// Runs one queued job to its end through the loop.
    pub(crate) async fn run_one(&self) -> JobRecord {
        let mut running = JoinSet::new();
        assert_eq!(self.tick(&mut running).await.unwrap(), 1);
        let id = running.join_next().await.unwrap().unwrap();
        self.job(id).await
    }

    /// Waits (a bounded time) until `pred` holds for the stored job.
    pub(crate) async fn until(&self, id: JobId, pred: impl Fn(&JobRecord) -> bool) -> JobRecord {
        for _ in 0..500 {
            let j = self.job(id).await;
            if pred(&j) {
                return j;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "job {id} never reached the awaited state: {:?}",
            self.job(id).await
        );
    }
}
