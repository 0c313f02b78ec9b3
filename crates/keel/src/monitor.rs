//! `keel monitor`: model-quality monitoring in SageMaker Model Monitor's
//! files. `baseline` computes a labeled data set's statistics and suggests
//! constraints; `check` compares any statistics with any constraints. Both
//! work on files alone: no data directory, no server.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::output::{self, Format};
use crate::quality::{self, RoleArgs};

/// Exit code of `keel monitor check` when a constraint is violated.
pub const EXIT_VIOLATIONS: i32 = 7;

#[derive(Subcommand)]
pub enum MonitorCmd {
    /// Computes a baseline's statistics from a labeled data set with the
    /// model's predictions, and suggests constraints from them.
    Baseline(BaselineArgs),
    /// Checks statistics (Keel's or SageMaker's) against constraints;
    /// exits 7 when a constraint is violated.
    Check {
        /// statistics.json
        statistics: PathBuf,
        /// constraints.json
        constraints: PathBuf,
        /// Write constraint_violations.json into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct BaselineArgs {
    /// A CSV, JSON lines or Parquet file with the ground truth and the predictions.
    data: PathBuf,
    /// binary | multiclass | regression (SageMaker's BinaryClassification, ... too).
    #[arg(long)]
    problem_type: String,
    /// The column with the model's prediction (a label, or a value).
    #[arg(long)]
    inference_attribute: Option<String>,
    /// The column with the probability of the positive class (binary).
    #[arg(long)]
    probability_attribute: Option<String>,
    /// A probability above this predicts the positive class (default 0.5).
    #[arg(long)]
    probability_threshold: Option<f64>,
    /// The column with the actual label or value.
    #[arg(long)]
    ground_truth_attribute: String,
    /// How many standard deviations worse than the baseline a suggested
    /// threshold is.
    #[arg(long, default_value_t = keel_monitor::DEFAULT_SIGMAS)]
    sigmas: f64,
    /// The directory to write statistics.json and constraints.json into.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(fmt: Format, cmd: MonitorCmd) -> anyhow::Result<i32> {
    match cmd {
        MonitorCmd::Baseline(a) => baseline(fmt, a),
        MonitorCmd::Check {
            statistics,
            constraints,
            out,
        } => check(fmt, &statistics, &constraints, out.as_deref()),
    }
}

fn baseline(fmt: Format, a: BaselineArgs) -> anyhow::Result<i32> {
    if a.inference_attribute.is_none() && a.probability_attribute.is_none() {
        anyhow::bail!(
            "say where the predictions are: --inference-attribute COLUMN, or \
             --probability-attribute COLUMN for binary probabilities"
        );
    }
    let roles = RoleArgs {
        problem_type: Some(a.problem_type.clone()),
        label: Some(a.ground_truth_attribute.clone()),
        probability: a.probability_attribute.clone(),
        prediction: a.inference_attribute.clone(),
        threshold: a.probability_threshold,
        ..RoleArgs::default()
    };
    let statistics = quality::metrics_document(&a.data, &roles)?;
    let constraints = keel_monitor::suggest(&statistics, a.sigmas)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    write_json(&a.out.join("statistics.json"), &statistics)?;
    let doc = constraints.to_document();
    write_json(&a.out.join("constraints.json"), &doc)?;
    if fmt == Format::Json {
        output::json(&doc)?;
    } else {
        let rows: Vec<Vec<String>> = constraints
            .metrics
            .iter()
            .map(|(name, c)| {
                let value = &statistics[constraints.problem.metrics_key()][name]["value"];
                vec![
                    name.clone(),
                    value.to_string(),
                    c.comparison_operator.to_string(),
                    c.threshold.to_string(),
                ]
            })
            .collect();
        output::table(&["METRIC", "BASELINE", "VIOLATED WHEN", "THRESHOLD"], &rows);
        eprintln!(
            "wrote {} and {} (edit the thresholds as you see fit)",
            a.out.join("statistics.json").display(),
            a.out.join("constraints.json").display()
        );
    }
    Ok(0)
}

fn check(
    fmt: Format,
    statistics: &Path,
    constraints: &Path,
    out: Option<&Path>,
) -> anyhow::Result<i32> {
    let stats = read_json(statistics)?;
    let limits = keel_monitor::Constraints::from_document(&read_json(constraints)?)
        .with_context(|| format!("{} is not a constraints file", constraints.display()))?;
    let violations = keel_monitor::check(&stats, &limits)
        .with_context(|| format!("cannot check {}", statistics.display()))?;
    let doc = keel_monitor::violations_document(&violations);
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_json(&dir.join("constraint_violations.json"), &doc)?;
    }
    if fmt == Format::Json {
        output::json(&doc)?;
    } else if violations.is_empty() {
        println!(
            "no constraint is violated ({} checked)",
            limits.metrics.len()
        );
    } else {
        let rows: Vec<Vec<String>> = violations
            .iter()
            .map(|v| {
                vec![
                    v.metric_name.clone(),
                    v.constraint_check_type.clone(),
                    v.description.clone(),
                ]
            })
            .collect();
        output::table(&["METRIC", "CHECK", "DESCRIPTION"], &rows);
    }
    Ok(if violations.is_empty() {
        0
    } else {
        EXIT_VIOLATIONS
    })
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn write_json(path: &Path, doc: &Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(doc)?;
    text.push(b'\n');
    quality::write_atomic(path, &text).with_context(|| format!("cannot write {}", path.display()))
}
