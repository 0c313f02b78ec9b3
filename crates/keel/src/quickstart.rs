//! `keel quickstart`: builds an example scikit-learn model from a data set that
//! ships with scikit-learn, registers it, and runs a scoring, a metrics and a
//! training job on the embedded default (SQLite and local files).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use keel_api_model as api;
use keel_core::Keel;
use keel_types::{ComparisonStatus, JobKind, JobStatus};

/// The generator of the example models and data (also used by the tests).
const MAKE_EXAMPLE: &str = include_str!("../../../tests/fixtures/make_fixtures.py");

/// The example model's platform: `tests/fixtures/make_fixtures.py` writes
/// this `requirements.txt` beside it, so its jobs reuse the environment the
/// quickstart prepares for the generator.
const EXAMPLE_REQUIREMENTS: [&str; 2] = ["scikit-learn", "pandas"];

fn python_ok(p: &Path) -> bool {
    std::process::Command::new(p)
        .args(["-c", "import pandas, pyarrow, sklearn"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The Python that generates the example: `KEEL_PYTHON` when set, otherwise
/// the example model's own platform environment, built under the data
/// directory the way a job builds it.
async fn example_python(cfg: &keel_core::Config) -> anyhow::Result<PathBuf> {
    if let Some(p) = &cfg.python {
        if !python_ok(p) {
            bail!(
                "KEEL_PYTHON={} cannot import pandas, pyarrow and scikit-learn, which the example needs; install them there, or unset KEEL_PYTHON and Keel builds the example's own environment",
                p.display()
            );
        }
        println!("1. using KEEL_PYTHON={}", p.display());
        return Ok(p.clone());
    }
    println!(
        "1. preparing the example model's Python environment ({} and Keel's worker's pyarrow) in {}",
        EXAMPLE_REQUIREMENTS.join(", "),
        cfg.home.join("envs").display()
    );
    let requirements = EXAMPLE_REQUIREMENTS.map(String::from);
    let cfg = cfg.clone();
    let python =
        tokio::task::spawn_blocking(move || keel_core::platform_python(&cfg, &requirements, None))
            .await??;
    Ok(python)
}

async fn run_job(keel: &Keel, req: api::CreateJob) -> anyhow::Result<api::Job> {
    let job = keel.create_job(&keel.local_principal(), req).await?;
    let job = keel.run_job(job.id.into()).await?;
    if job.status != JobStatus::Completed {
        let (message, traceback) = job
            .error
            .clone()
            .map(|e| (e.message, e.traceback.unwrap_or_default()))
            .unwrap_or_default();
        bail!(
            "job {} ended {}: {message}\n{traceback}",
            job.id,
            job.status
        );
    }
    Ok(job)
}

fn rate(job: &api::Job) -> String {
    match (job.started_at, job.finished_at) {
        (Some(s), Some(f)) => {
            let secs = (f - s).num_milliseconds().max(1) as f64 / 1000.0;
            format!(
                "{} records in {secs:.2}s ({:.0} records/s)",
                job.counts.read,
                job.counts.read as f64 / secs
            )
        }
        _ => String::new(),
    }
}

fn path_input(p: &Path) -> api::Input {
    api::Input::Path {
        uri: p.to_string_lossy().into_owned(),
    }
}

pub async fn run(dir: &Path) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    let cfg = crate::backend::config(&dir.join(".keel"))?;
    let python = example_python(&cfg).await?;
    let script = dir.join("make_example.py");
    std::fs::write(&script, MAKE_EXAMPLE)?;
    println!(
        "   building the example model and data with {}",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&dir)
        .output()
        .context("cannot run the example generator")?;
    if !out.status.success() {
        bail!(
            "the example generator failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let platform = Keel::inspect(&dir.join("fraud"), &[])?.platform;
    if cfg.python.is_none() && platform.requirements != EXAMPLE_REQUIREMENTS {
        // Not fatal: the jobs would build the model's own environment.
        eprintln!(
            "note: the example model asks for {:?}, not the {:?} prepared above; its jobs build their own environment",
            platform.requirements, EXAMPLE_REQUIREMENTS
        );
    }
    let keel = Keel::open(cfg).await?;
    let data = dir.join("data");

    let reg = keel
        .register(
            &keel.local_principal(),
            &dir.join("fraud"),
            Some("fraud"),
            &[],
        )
        .await?;
    println!(
        "2. registered model '{}' version {} ({} files; score function {})",
        reg.model.name,
        reg.version.number,
        reg.version.files.len(),
        reg.version
            .functions
            .score
            .as_ref()
            .map(|f| f.name.as_str())
            .unwrap_or("-")
    );
    keel.set_alias(
        &keel.local_principal(),
        "fraud",
        "champion",
        reg.version.number,
    )
    .await?;
    println!("   fraud@champion -> version {}", reg.version.number);

    let scoring = run_job(
        &keel,
        api::CreateJob {
            kind: JobKind::Scoring,
            model: "fraud@champion".into(),
            input: path_input(&data.join("input.csv")),
            output: Some(api::Output::Embedded {
                name: "scores.parquet".into(),
            }),
            format: None,
            workers: None,
            max_runtime_seconds: Some(600),
            max_attempts: None,
            schema_check: None,
            metrics: None,
            baseline: None,
        },
    )
    .await?;
    println!(
        "3. scoring job {}: {}, {} written to scores.parquet",
        scoring.id,
        rate(&scoring),
        scoring.counts.written
    );

    let metrics = run_job(
        &keel,
        api::CreateJob {
            kind: JobKind::Metrics,
            model: "fraud:1".into(),
            input: path_input(&data.join("labeled.parquet")),
            output: Some(api::Output::Embedded {
                name: "metrics.json".into(),
            }),
            format: None,
            workers: None,
            max_runtime_seconds: Some(600),
            max_attempts: None,
            schema_check: None,
            metrics: Some(labeled_roles()),
            baseline: None,
        },
    )
    .await?;
    let m = metrics
        .result
        .as_ref()
        .and_then(|r| r.metrics.clone())
        .unwrap_or_default();
    let b = &m["binary_classification_metrics"];
    let v = |k: &str| b[k]["value"].as_f64().unwrap_or(f64::NAN);
    println!(
        "4. metrics job {}: built-in auc {:.4}, f1 {:.4}, accuracy {:.4}; the model's own metrics function says auc {:.4}",
        metrics.id,
        v("auc"),
        v("f1"),
        v("accuracy"),
        m["model_metrics"]["auc"].as_f64().unwrap_or(f64::NAN)
    );

    let training = run_job(
        &keel,
        api::CreateJob {
            kind: JobKind::Training,
            model: "fraud".into(),
            input: path_input(&data.join("labeled.jsonl")),
            output: None,
            format: None,
            workers: None,
            max_runtime_seconds: Some(600),
            max_attempts: None,
            schema_check: None,
            metrics: None,
            baseline: None,
        },
    )
    .await?;
    let new_version = training
        .result
        .as_ref()
        .and_then(|r| r.produced_version)
        .unwrap_or(0);
    keel.set_alias(&keel.local_principal(), "fraud", "challenger", new_version)
        .await?;
    println!(
        "5. training job {}: {}; created fraud version {new_version} (fraud@challenger)",
        training.id,
        rate(&training)
    );
    let mut cmp = keel
        .create_comparison(
            &keel.local_principal(),
            api::CreateComparison {
                champion: Some("fraud@champion".into()),
                challenger: Some("fraud@challenger".into()),
                input: Some(path_input(&data.join("labeled.parquet"))),
                format: None,
                metrics: Some(labeled_roles()),
                champion_job: None,
                challenger_job: None,
                policy: api::ComparePolicy {
                    metric: "auc".into(),
                    min_delta: 0.0,
                    confidence: 0.95,
                    resamples: 1000,
                    seed: 0,
                },
            },
        )
        .await?;
    for job in [cmp.champion_job, cmp.challenger_job] {
        keel.run_job(job.into()).await?;
    }
    cmp = keel.comparison(cmp.id.into()).await?;
    if cmp.status != ComparisonStatus::Completed {
        anyhow::bail!(
            "the comparison {} ended {}: {}",
            cmp.id,
            cmp.status,
            cmp.error.unwrap_or_default()
        );
    }
    let r = cmp.result.clone().unwrap_or_default();
    println!(
        "6. comparison {}: champion auc {:.4} vs challenger {:.4} (DeLong p = {:.3}): {}",
        cmp.id,
        r["test"]["champion"].as_f64().unwrap_or(f64::NAN),
        r["test"]["challenger"].as_f64().unwrap_or(f64::NAN),
        r["test"]["p_value"].as_f64().unwrap_or(f64::NAN),
        cmp.verdict.map_or("-", |v| v.as_str())
    );
    println!(
        "\ndone in {:.1}s. Try, with KEEL_HOME={}:\n  keel model list\n  keel model versions fraud\n  keel job list\n  keel job result {} | head\n  keel job result {}\n  keel comparison show {}",
        t0.elapsed().as_secs_f64(),
        dir.join(".keel").display(),
        scoring.id,
        metrics.id,
        cmp.id
    );
    Ok(0)
}

/// The labeled data's roles: the label column and the model's probability output.
fn labeled_roles() -> api::MetricsOptions {
    api::MetricsOptions {
        label: Some("flagged".into()),
        probability: Some("probability".into()),
        ..Default::default()
    }
}
