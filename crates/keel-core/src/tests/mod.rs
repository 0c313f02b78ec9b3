//! The control plane's own tests, over real SQLite stores in a temporary
//! directory and the executor's fake runtime (no Python): metrics roles as a
//! table, embedded runs, results, training registration, comparisons and
//! version origins.

mod access;
mod jobs;
mod origins;
mod roles;
mod sweep;

#[test]
fn a_relative_data_directory_becomes_absolute() {
    // A relative interpreter path would be resolved against the job's
    // working directory, where it does not exist.
    let cfg = Config::new(".keel");
    assert!(cfg.home.is_absolute(), "{}", cfg.home.display());
    assert!(cfg.home.ends_with(".keel"));
    let db = cfg.home.join("keel.db");
    assert_eq!(cfg.metadata_url, format!("sqlite://{}", db.display()));
}

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use keel_exec::testing::FakeRuntime;
use keel_types::ManualClock;
use tempfile::TempDir;

use crate::{Config, Keel, Principal};

/// The principal these tests act as: an admin from the test.
pub(crate) fn admin() -> Principal {
    Principal {
        user: "tester".into(),
        role: keel_types::Role::Admin,
        groups: Vec::new(),
        source: "test".into(),
        via: crate::Via::Local,
    }
}

/// A model source with score and train functions, and a metrics function
/// unless `metrics` is false.
fn source(metrics: bool) -> String {
    let mut s = String::from(
        "# modelop.score\ndef action(r):\n    yield r\n\n# modelop.train\ndef train(df):\n    pass\n",
    );
    if metrics {
        s.push_str("\n# modelop.metrics\ndef metrics(df):\n    yield {}\n");
    }
    s
}

/// A Keel over a fresh data directory.
pub(crate) struct Env {
    pub(crate) dir: TempDir,
    pub(crate) keel: Keel,
    pub(crate) runtime: Arc<FakeRuntime>,
    pub(crate) clock: Arc<ManualClock>,
}

impl Env {
    pub(crate) async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let runtime = FakeRuntime::new();
        let mut cfg = Config::new(dir.path().join("home"));
        cfg.default_workers = 2;
        cfg.max_workers = 3;
        let clock = ManualClock::new(start);
        let keel = Keel::open_with(cfg, clock.clone(), runtime.clone())
            .await
            .unwrap();
        Env {
            dir,
            keel,
            runtime,
            clock,
        }
    }

    /// Writes a model directory `name` (module `name.py`) with the given
    /// schemas, and registers it.
    pub(crate) async fn model(
        &self,
        name: &str,
        metrics: bool,
        input_schema: Option<&str>,
        output_schema: Option<&str>,
    ) -> PathBuf {
        let d = self.dir.path().join("models").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{name}.py")), source(metrics)).unwrap();
        if let Some(s) = input_schema {
            std::fs::write(d.join("input_schema.avsc"), s).unwrap();
        }
        if let Some(s) = output_schema {
            std::fs::write(d.join("output_schema.avsc"), s).unwrap();
        }
        self.keel
            .register(&admin(), &d, Some(name), &[])
            .await
            .unwrap();
        d
    }

    /// Writes a data file and returns its path.
    pub(crate) fn data(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}
