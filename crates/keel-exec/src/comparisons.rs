//! Deciding champion/challenger comparisons, once, off the request path: the
//! executor takes each PENDING comparison whose two metrics jobs have both
//! finished, pairs their scored rows by record number, runs the paired test
//! of the policy's metric, and stores the verdict with its document.

use std::collections::HashMap;

use arrow_array::UInt64Array;
use keel_metrics::column::{Columns, Prepared};
use keel_metrics::compare::{PairedData, Policy};
use keel_metrics::{Metric, ProblemType, Spec};
use keel_store::formats::ComparePolicy;
use keel_store::{ComparisonRecord, Decided, JobRecord, keys};
use keel_types::{JobStatus, Verdict};
use serde_json::{Map, Value, json};

use crate::Executor;
use crate::error::{Error, Result};
use crate::pipeline::RECORD;

impl Executor {
    /// Decides every comparison whose jobs have both finished. Returns how
    /// many this call decided (another process may decide some first).
    pub async fn settle_comparisons(&self) -> Result<usize> {
        let stores = &self.inner.stores;
        let mut decided = 0;
        for c in stores.comparisons.decidable_comparisons().await? {
            let outcome = match self.decide_one(&c).await {
                Ok((verdict, document)) => Decided::Completed { verdict, document },
                Err(e) => Decided::Failed {
                    error: e.to_string(),
                },
            };
            if stores.comparisons.decide_comparison(c.id, &outcome).await? {
                decided += 1;
                tracing::info!(comparison = %c.id, "comparison decided");
            }
        }
        Ok(decided)
    }

    async fn decide_one(&self, c: &ComparisonRecord) -> Result<(Verdict, Value)> {
        let champion = self.side(c.champion_job, "champion").await?;
        let challenger = self.side(c.challenger_job, "challenger").await?;
        let policy = c.policy.clone();
        tokio::task::spawn_blocking(move || decide(&champion, &challenger, &policy))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
    }

    /// Loads what a comparison needs of one finished metrics job.
    async fn side(&self, id: keel_types::JobId, role: &str) -> Result<Side> {
        let stores = &self.inner.stores;
        let job = stores
            .jobs
            .job(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("The {role}'s job {id} does not exist.")))?;
        if job.status != JobStatus::Completed {
            return Err(Error::InvalidArgument(format!(
                "The {role}'s metrics job {} ended {}{}, so there is nothing to compare.",
                job.id,
                job.status,
                job.error
                    .as_ref()
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default()
            )));
        }
        let doc = job
            .result
            .as_ref()
            .and_then(|r| r.metrics.clone())
            .unwrap_or(Value::Null);
        let spec = spec_of(&doc).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "The {role}'s job {} did not compute Keel's built-in metrics (it ran only the \
                 model's own metrics function); set `label` so it does.",
                job.id
            ))
        })?;
        let key = keys::job_scores(job.id);
        if !stores.artifacts.exists(&key).await? {
            return Err(Error::InvalidArgument(format!(
                "The {role}'s job {} kept no scored rows to pair.",
                job.id
            )));
        }
        // The scores are read from a private local copy, whatever store keeps
        // them; the copy goes with the directory when it is dropped.
        let scratch = tempfile::Builder::new()
            .prefix("compare-")
            .tempdir_in(self.inner.cfg.home.join("work"))
            .map_err(Error::io("cannot create a scratch directory"))?;
        let path = scratch.path().join("scores.parquet");
        stores.artifacts.get_to_file(&key, &path).await?;
        let spec2 = spec.clone();
        let loaded = tokio::task::spawn_blocking(move || load_scores(&path, &spec2))
            .await
            .map_err(|e| Error::Internal(e.to_string()));
        drop(scratch);
        let (prepared, records) = loaded??;
        Ok(Side {
            job,
            doc,
            spec,
            prepared,
            records,
        })
    }
}

/// Reads a scores file and prepares its columns, with the record number of
/// each kept row, lined up with the prepared columns.
fn load_scores(path: &std::path::Path, spec: &Spec) -> Result<(Prepared, Vec<u64>)> {
    let mut batches = Vec::new();
    for chunk in keel_data::open(
        path,
        &keel_data::ReadOptions {
            batch_size: 65_536,
            ..Default::default()
        },
    )? {
        batches.push(chunk?.batch);
    }
    let prepared = keel_metrics::column::prepare(&batches, spec)?;
    let mut all = Vec::with_capacity(prepared.rows as usize);
    for b in &batches {
        let col = b
            .column_by_name(RECORD)
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| Error::Internal(format!("the scored rows have no {RECORD} column")))?;
        all.extend_from_slice(col.values());
    }
    let records: Vec<u64> = prepared.kept_rows().into_iter().map(|i| all[i]).collect();
    Ok((prepared, records))
}

/// The parts of a finished metrics job a comparison needs.
pub(crate) struct Side {
    job: JobRecord,
    doc: Value,
    spec: Spec,
    prepared: Prepared,
    records: Vec<u64>,
}

fn problem_type_of(doc: &Value) -> Option<ProblemType> {
    doc.get("problem_type")?.as_str()?.parse().ok()
}

/// Rebuilds the spec a job's metrics document was computed with.
fn spec_of(doc: &Value) -> Option<Spec> {
    let pt = problem_type_of(doc)?;
    let s = doc.get("settings")?;
    let get = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
    let mut spec = Spec::new(pt, get("label")?);
    spec.probability = get("probability");
    spec.prediction = get("prediction");
    spec.positive_label = get("positive_label");
    if let Some(t) = s.get("threshold").and_then(Value::as_f64) {
        spec.threshold = t;
    }
    spec.uncertainty.enabled = false;
    Some(spec)
}

/// Gathers `values[i]` for each index.
fn pick<T: Copy>(values: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| values[i]).collect()
}

pub(crate) fn decide(a: &Side, b: &Side, policy: &ComparePolicy) -> Result<(Verdict, Value)> {
    if a.spec.problem_type != b.spec.problem_type {
        return Err(Error::InvalidArgument(format!(
            "The champion's job computed {} metrics and the challenger's {}; compare jobs of \
             the same problem type.",
            a.spec.problem_type, b.spec.problem_type
        )));
    }
    // Pair rows by record number: both jobs read the same data, but each may
    // have dropped or rejected different rows.
    let index_b: HashMap<u64, usize> = b.records.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    let mut ia = Vec::with_capacity(a.records.len());
    let mut ib = Vec::with_capacity(a.records.len());
    for (i, r) in a.records.iter().enumerate() {
        if let Some(&j) = index_b.get(r) {
            ia.push(i);
            ib.push(j);
        }
    }
    if ia.is_empty() {
        return Err(Error::InvalidArgument(
            "The two jobs share no scored records; run both on the same data.".into(),
        ));
    }
    let mismatch = |what: &str| {
        Error::InvalidArgument(format!(
            "The two jobs' {what} differ on the same records, so they did not run on the same \
             data; compare jobs that read the same labeled file."
        ))
    };
    let metric: Metric = policy.metric.parse()?;
    let p = Policy {
        min_delta: policy.min_delta,
        confidence: policy.confidence,
        resamples: policy.resamples,
        seed: policy.seed,
    };
    let decision = match (&a.prepared.columns, &b.prepared.columns) {
        (Columns::Binary(x), Columns::Binary(y)) => {
            let actual = pick(&x.actual, &ia);
            if actual != pick(&y.actual, &ib) || x.positive != y.positive {
                return Err(mismatch("labels"));
            }
            let (pa, pb) = (pick(&x.predicted, &ia), pick(&y.predicted, &ib));
            let sa = x.score.as_ref().map(|s| pick(s, &ia));
            let sb = y.score.as_ref().map(|s| pick(s, &ib));
            keel_metrics::compare::compare(
                &PairedData::Binary {
                    actual: &actual,
                    champion_predicted: &pa,
                    challenger_predicted: &pb,
                    champion_score: sa.as_deref(),
                    challenger_score: sb.as_deref(),
                },
                metric,
                &p,
            )
        }
        (Columns::Multiclass(x), Columns::Multiclass(y)) => {
            // Codes depend on each file's classes; map both onto one class list.
            let mut classes: Vec<String> = x.classes.clone();
            for c in &y.classes {
                if !classes.contains(c) {
                    classes.push(c.clone());
                }
            }
            let code = |names: &[String], c: u32| -> u32 {
                let n = &names[c as usize];
                classes.iter().position(|k| k == n).unwrap_or(0) as u32
            };
            let actual: Vec<u32> = ia.iter().map(|&i| code(&x.classes, x.actual[i])).collect();
            let actual_b: Vec<u32> = ib.iter().map(|&i| code(&y.classes, y.actual[i])).collect();
            if actual != actual_b {
                return Err(mismatch("labels"));
            }
            let pa: Vec<u32> = ia
                .iter()
                .map(|&i| code(&x.classes, x.predicted[i]))
                .collect();
            let pb: Vec<u32> = ib
                .iter()
                .map(|&i| code(&y.classes, y.predicted[i]))
                .collect();
            keel_metrics::compare::compare(
                &PairedData::Multiclass {
                    actual: &actual,
                    champion: &pa,
                    challenger: &pb,
                    classes: classes.len(),
                },
                metric,
                &p,
            )
        }
        (Columns::Regression(x), Columns::Regression(y)) => {
            let actual = pick(&x.actual, &ia);
            if actual != pick(&y.actual, &ib) {
                return Err(mismatch("actual values"));
            }
            keel_metrics::compare::compare(
                &PairedData::Regression {
                    actual: &actual,
                    champion: &pick(&x.predicted, &ia),
                    challenger: &pick(&y.predicted, &ib),
                },
                metric,
                &p,
            )
        }
        _ => return Err(mismatch("problem types")),
    }?;

    let side_by_side = side_by_side(&a.doc, &b.doc, a.spec.problem_type);
    let test = serde_json::to_value(&decision.test)
        .map_err(|e| Error::Internal(format!("cannot render the test: {e}")))?;
    let verdict = decision.verdict;
    Ok((
        verdict,
        json!({
            "metric": policy.metric,
            "verdict": verdict,
            "reason": decision.reason,
            "higher_is_better": decision.higher_is_better,
            "policy": {
                "min_delta": policy.min_delta,
                "confidence": policy.confidence,
                "resamples": policy.resamples,
                "seed": policy.seed,
            },
            "test": test,
            "paired_records": ia.len(),
            "problem_type": a.spec.problem_type.sagemaker_name(),
            "champion": side_summary(a),
            "challenger": side_summary(b),
            "metrics": side_by_side,
        }),
    ))
}

fn side_summary(s: &Side) -> Value {
    json!({
        "job_id": s.job.id,
        "model": s.job.model_name,
        "version": s.job.version_number,
        "evaluated_count": s.prepared.kept(),
    })
}

/// Every scalar both documents have, with the challenger's delta.
fn side_by_side(a: &Value, b: &Value, pt: ProblemType) -> Vec<Value> {
    let key = pt.metrics_key();
    let (Some(ma), Some(mb)) = (
        a.get(key).and_then(Value::as_object),
        b.get(key).and_then(Value::as_object),
    ) else {
        return Vec::new();
    };
    let value =
        |m: &Map<String, Value>, k: &str| -> Option<f64> { m.get(k)?.get("value")?.as_f64() };
    let mut rows = Vec::new();
    for (k, v) in ma {
        if v.get("value").is_none() {
            continue;
        }
        let (x, y) = (value(ma, k), value(mb, k));
        rows.push(json!({
            "name": k,
            "champion": x,
            "challenger": y,
            "delta": match (x, y) { (Some(x), Some(y)) => Some(y - x), _ => None },
            "higher_is_better": k.parse::<Metric>().ok().map(Metric::higher_is_better),
        }));
    }
    rows
}
