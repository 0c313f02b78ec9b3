//! The model-quality commands: `keel metrics` and `keel drift` over files
//! that already hold predictions (no model, no server), and `keel compare`
//! for champion/challenger comparisons.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{ArrowPrimitiveType, RecordBatch};
use clap::Args;
use keel_api_model as api;
use keel_metrics::{FieldHint, ProblemType, RoleRequest};
use keel_types::{ComparisonStatus, JobStatus};
use serde_json::{Value, json};

use crate::backend::{Backend, job_id};
use crate::output::{self, Format};

/// Which columns play which role: shared by `keel metrics`, `keel job create
/// metrics` and `keel compare`.
#[derive(Args, Clone, Debug, Default)]
pub struct RoleArgs {
    /// binary | multiclass | regression (default: binary with --probability,
    /// else guessed from the label).
    #[arg(long = "problem-type")]
    pub problem_type: Option<String>,
    /// The column with the actual label or value.
    #[arg(long)]
    pub label: Option<String>,
    /// The column with the probability of the positive class (binary).
    #[arg(long)]
    pub probability: Option<String>,
    /// The column with the predicted label or value.
    #[arg(long)]
    pub prediction: Option<String>,
    /// A probability above this predicts the positive class (default 0.5).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// The positive class (default 1 or true).
    #[arg(long = "positive-label")]
    pub positive_label: Option<String>,
    /// A protected attribute for the fairness metrics (repeatable).
    #[arg(long)]
    pub protected: Vec<String>,
    /// The reference group of a protected attribute, as ATTRIBUTE=GROUP
    /// (default: its largest group).
    #[arg(long = "reference-group", value_name = "ATTRIBUTE=GROUP")]
    pub reference_group: Vec<String>,
    /// Seed of the subsamples behind the standard deviations.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep at most this many points of each curve (0 keeps all; default 1000).
    #[arg(long = "curve-points")]
    pub curve_points: Option<usize>,
    /// Random 80 % subsamples behind each standard deviation (default 5, at
    /// most 8; 0 computes none, which is faster).
    #[arg(long)]
    pub subsamples: Option<usize>,
}

impl RoleArgs {
    fn is_empty(&self) -> bool {
        self.problem_type.is_none()
            && self.label.is_none()
            && self.probability.is_none()
            && self.prediction.is_none()
            && self.threshold.is_none()
            && self.positive_label.is_none()
            && self.protected.is_empty()
            && self.reference_group.is_empty()
            && self.seed.is_none()
            && self.curve_points.is_none()
            && self.subsamples.is_none()
    }

    fn reference_groups(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for r in &self.reference_group {
            let Some((a, g)) = r.split_once('=') else {
                bail!("--reference-group takes ATTRIBUTE=GROUP, such as gender=female, not '{r}'");
            };
            out.insert(a.trim().to_string(), g.trim().to_string());
        }
        Ok(out)
    }

    /// The API's options, or `None` when no role flag was given.
    pub fn options(&self) -> anyhow::Result<Option<api::MetricsOptions>> {
        if self.is_empty() {
            return Ok(None);
        }
        self.all_options().map(Some)
    }

    /// The API's options the flags make, given or not.
    fn all_options(&self) -> anyhow::Result<api::MetricsOptions> {
        Ok(api::MetricsOptions {
            problem_type: self.problem_type.clone(),
            label: self.label.clone(),
            probability: self.probability.clone(),
            prediction: self.prediction.clone(),
            threshold: self.threshold,
            positive_label: self.positive_label.clone(),
            protected: self.protected.clone(),
            reference_groups: self.reference_groups()?,
            seed: self.seed,
            curve_points: self.curve_points,
            subsamples: self.subsamples,
        })
    }

    /// The request the flags make, for the metrics crate's role resolver,
    /// read exactly as a metrics job reads the same options.
    fn request(&self) -> anyhow::Result<RoleRequest> {
        Ok(keel_core::role_request(Some(&self.all_options()?))?)
    }
}

/// `keel metrics FILE`: metrics over a file that already holds predictions.
#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// A CSV, JSON lines or Parquet file with the label and the predictions.
    pub file: PathBuf,
    #[command(flatten)]
    pub roles: RoleArgs,
    /// Write the JSON document to this file (atomically) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print how long reading, computing and writing took, as one JSON line on stderr.
    #[arg(long)]
    pub timings: bool,
}

/// `keel drift BASELINE CURRENT`.
#[derive(Args, Debug)]
pub struct DriftArgs {
    /// The baseline (reference) data.
    pub baseline: PathBuf,
    /// The current data.
    pub current: PathBuf,
    /// Only these columns (comma-separated; default: every baseline column).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Bins of PSI and Jensen-Shannon (baseline quantiles).
    #[arg(long, default_value_t = 10)]
    pub bins: usize,
    /// Write the JSON document to this file (atomically) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print how long reading, computing and writing took, as one JSON line on stderr.
    #[arg(long)]
    pub timings: bool,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Reads the named columns of a file (all when `columns` is `None`).
fn read(path: &Path, columns: Option<Vec<String>>) -> anyhow::Result<Vec<RecordBatch>> {
    let chunks = keel_data::open(
        path,
        &keel_data::ReadOptions {
            batch_size: 65_536,
            columns,
            ..Default::default()
        },
    )?;
    let mut batches = Vec::new();
    for chunk in chunks {
        let chunk = chunk?;
        if let Some(r) = chunk.rejected.first() {
            bail!(
                "{}: record {} is malformed: {}",
                path.display(),
                r.record,
                r.reason
            );
        }
        batches.push(chunk.batch);
    }
    Ok(batches)
}

fn column_bytes(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.get_array_memory_size()).sum()
}

/// Sorts a float column once, the yardstick the bench compares the metrics to.
fn sort_once(batches: &[RecordBatch], name: &str) -> Duration {
    let mut values: Vec<f64> = Vec::new();
    for b in batches {
        if let Some(c) = b.column_by_name(name)
            && let Some(a) = c.as_any().downcast_ref::<arrow_array::Float64Array>()
        {
            values.extend(a.values().iter().copied().filter(|x| !x.is_nan()));
        }
    }
    let t = Instant::now();
    let mut keys: Vec<u64> = values.iter().map(|&x| keel_metrics::sort::key(x)).collect();
    keel_metrics::sort::sort_keys(&mut keys);
    std::hint::black_box(&keys);
    t.elapsed()
}

fn write_doc(
    doc: &Value,
    out: &Option<PathBuf>,
    fmt: Format,
    summary: fn(&Value),
) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            let text = serde_json::to_vec_pretty(doc)?;
            write_atomic(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if fmt == Format::Table {
                summary(doc);
            }
            eprintln!("wrote {}", path.display());
        }
        None if fmt == Format::Json => {
            output::out(&format!("{}\n", serde_json::to_string_pretty(doc)?))
        }
        None => summary(doc),
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The hints of a data file's columns: names and whether they hold floats.
/// A data file's Arrow schema carries no ModelOp roles.
fn hints(batches: &[RecordBatch]) -> Vec<FieldHint> {
    let Some(b) = batches.first() else {
        return Vec::new();
    };
    b.schema()
        .fields()
        .iter()
        .map(|f| FieldHint {
            name: f.name().clone(),
            role: None,
            protected: false,
            float: [Float32Type::DATA_TYPE, Float64Type::DATA_TYPE].contains(f.data_type()),
        })
        .collect()
}

/// A metrics document and what computing it took.
struct Evaluated {
    doc: Value,
    read: Duration,
    sort_once: Duration,
    compute: Duration,
    column_bytes: usize,
}

/// Reads `file` and computes its metrics document as `roles` say; with
/// `timings`, also times one sort of the score column.
fn evaluate(file: &Path, roles: &RoleArgs, timings: bool) -> anyhow::Result<Evaluated> {
    let req = roles.request()?;
    // Without a probability or prediction column, the resolver looks for the
    // usual names among every column; otherwise only the named columns are read.
    let columns = if req.probability.is_none() && req.prediction.is_none() {
        None
    } else {
        let mut named: Vec<String> = Vec::new();
        for c in req
            .label
            .iter()
            .chain(req.probability.iter())
            .chain(req.prediction.iter())
            .chain(req.protected.iter())
        {
            if !named.contains(c) {
                named.push(c.clone());
            }
        }
        Some(named)
    };
    let t0 = Instant::now();
    let batches = read(file, columns)?;
    let read_t = t0.elapsed();
    let hints = hints(&batches);
    // The file holds both the model's input (the label) and its output.
    let resolved = keel_metrics::resolve(&req, &hints, &hints)?;
    let spec = resolved.spec(&batches)?;
    let sort_t = if timings {
        match (&spec.probability, spec.problem_type) {
            (Some(p), _) => sort_once(&batches, p),
            (None, ProblemType::Regression) => {
                sort_once(&batches, spec.prediction.as_deref().unwrap_or_default())
            }
            _ => Duration::ZERO,
        }
    } else {
        Duration::ZERO
    };
    let t1 = Instant::now();
    let context = || format!("cannot compute metrics over {}", file.display());
    let prepared = keel_metrics::column::prepare(&batches, &spec).with_context(context)?;
    // The kernels work on the prepared slices: the Arrow columns can go
    // before the sort allocates its own copy.
    let bytes = column_bytes(&batches);
    drop(batches);
    let doc = keel_metrics::report::document(&prepared, &spec).with_context(context)?;
    Ok(Evaluated {
        doc,
        read: read_t,
        sort_once: sort_t,
        compute: t1.elapsed(),
        column_bytes: bytes,
    })
}

/// The metrics document of `file`, as `keel metrics` computes it.
pub fn metrics_document(file: &Path, roles: &RoleArgs) -> anyhow::Result<Value> {
    Ok(evaluate(file, roles, false)?.doc)
}

pub fn metrics(fmt: Format, a: MetricsArgs) -> anyhow::Result<i32> {
    let e = evaluate(&a.file, &a.roles, a.timings)?;
    let t2 = Instant::now();
    write_doc(&e.doc, &a.out, fmt, output::metrics_summary)?;
    if a.timings {
        eprintln!(
            "{}",
            json!({"read_ms": ms(e.read), "sort_once_ms": ms(e.sort_once), "compute_ms": ms(e.compute),
                   "write_ms": ms(t2.elapsed()), "column_bytes": e.column_bytes})
        );
    }
    Ok(0)
}

pub fn drift(fmt: Format, a: DriftArgs) -> anyhow::Result<i32> {
    let cols = if a.columns.is_empty() {
        None
    } else {
        Some(a.columns.clone())
    };
    let t0 = Instant::now();
    // The two files decode at the same time, one per core.
    let (cur, base) = keel_metrics::par::join(
        || read(&a.current, cols.clone()),
        || read(&a.baseline, cols.clone()),
    );
    let (base, cur) = (base?, cur?);
    let read_t = t0.elapsed();
    let mut sort_t = Duration::ZERO;
    if a.timings
        && let Some(b) = base.first()
    {
        for f in b.schema().fields() {
            sort_t += sort_once(&base, f.name()) + sort_once(&cur, f.name());
        }
    }
    let opts = keel_metrics::drift::DriftOptions {
        bins: a.bins,
        ..Default::default()
    };
    let t1 = Instant::now();
    let doc = keel_metrics::report::drift(&base, &cur, cols.as_deref(), &opts)?;
    let compute_t = t1.elapsed();
    let bytes = column_bytes(&base) + column_bytes(&cur);
    drop((base, cur));
    let t2 = Instant::now();
    write_doc(&doc, &a.out, fmt, output::drift_summary)?;
    if a.timings {
        eprintln!(
            "{}",
            json!({"read_ms": ms(read_t), "sort_once_ms": ms(sort_t), "compute_ms": ms(compute_t),
                   "write_ms": ms(t2.elapsed()), "column_bytes": bytes})
        );
    }
    Ok(0)
}

/// `keel compare`: two versions on the same data, or two finished metrics jobs.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The champion: NAME@champion, NAME:3, ... (omit with --jobs).
    pub champion: Option<String>,
    /// The challenger: NAME@challenger, NAME:4, ... (omit with --jobs).
    pub challenger: Option<String>,
    /// The labeled data both versions are scored on.
    #[arg(long)]
    pub data: Option<String>,
    /// Compare two finished metrics jobs instead: CHAMPION_JOB CHALLENGER_JOB.
    #[arg(long, num_args = 2, value_names = ["CHAMPION_JOB", "CHALLENGER_JOB"])]
    pub jobs: Vec<String>,
    /// The metric the verdict rests on: auc (DeLong), accuracy (McNemar), or
    /// f1, precision, recall, log_loss, rmse, mae, r2, ... (paired bootstrap).
    #[arg(long, default_value = "auc")]
    pub metric: String,
    /// The challenger must be better by more than this, in the metric's units.
    #[arg(long = "min-delta", default_value_t = 0.0)]
    pub min_delta: f64,
    /// Confidence of the interval of the difference.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 1000)]
    pub resamples: u32,
    /// Bootstrap seed.
    #[arg(long = "bootstrap-seed", default_value_t = 0)]
    pub bootstrap_seed: u64,
    /// The input format, when the extension does not say it.
    #[arg(long)]
    pub format: Option<keel_types::DataFormat>,
    #[command(flatten)]
    pub roles: RoleArgs,
}

pub async fn compare(b: &Backend, fmt: Format, a: CompareArgs) -> anyhow::Result<i32> {
    let policy = api::ComparePolicy {
        metric: a.metric.clone(),
        min_delta: a.min_delta,
        confidence: a.confidence,
        resamples: a.resamples,
        seed: a.bootstrap_seed,
    };
    let req = if a.jobs.is_empty() {
        let (Some(champion), Some(challenger)) = (&a.champion, &a.challenger) else {
            bail!(
                "name the champion and the challenger (such as fraud@champion fraud@challenger), or two metrics jobs with --jobs"
            );
        };
        let Some(data) = &a.data else {
            bail!("name the labeled data both versions run on: --data FILE");
        };
        let input = crate::input_of(data)?;
        api::CreateComparison {
            champion: Some(champion.clone()),
            challenger: Some(challenger.clone()),
            input: Some(input),
            format: a.format,
            metrics: Some(a.roles.options()?.unwrap_or_default()),
            champion_job: None,
            challenger_job: None,
            policy,
        }
    } else {
        if a.champion.is_some() || a.data.is_some() {
            bail!("--jobs compares two finished metrics jobs; do not also name versions or --data");
        }
        api::CreateComparison {
            champion: None,
            challenger: None,
            input: None,
            format: None,
            metrics: None,
            champion_job: Some(job_id(&a.jobs[0])?.0),
            challenger_job: Some(job_id(&a.jobs[1])?.0),
            policy,
        }
    };
    let c = b.create_comparison(req).await?;
    let id = c.id;
    if b.is_local() {
        // Embedded mode: run the comparison's pending jobs here, now.
        for job in [c.champion_job, c.challenger_job] {
            let j = b.job(job.into()).await?;
            if j.status == JobStatus::Pending {
                eprintln!(
                    "running {} job {} on {} version {}",
                    j.kind, j.id, j.model_name, j.version
                );
                b.run_local(job.into()).await?;
            }
        }
    }
    let c = loop {
        // In embedded mode nothing else decides the comparison.
        b.settle_comparisons().await?;
        let c = b.comparison(id).await?;
        if c.status != ComparisonStatus::Pending {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    output::comparison(fmt, &c)?;
    Ok(if c.status == ComparisonStatus::Failed {
        1
    } else {
        0
    })
}
