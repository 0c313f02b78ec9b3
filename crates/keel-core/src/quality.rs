//! Built-in model-quality metrics in metrics jobs, and champion/challenger
//! comparisons over two such jobs.
//!
//! A metrics job with built-in metrics scores its input through the model,
//! keeps each scored row's record number, label, model output and protected
//! attributes in a small `scores.parquet` beside the job, and computes the
//! metrics document from it with `keel-metrics`. A comparison pairs two such
//! files by record number, so both versions are judged on exactly the same rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use keel_api_model as api;
use keel_data::AvroSchema;
use keel_metrics::column::{self, Columns, Prepared, ProblemType, Spec};
use keel_metrics::compare::{PairedData, Policy};
use keel_store::ComparisonRecord;
use keel_types::{ComparisonId, JobId, JobKind, JobStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{Error, Keel, Result};

/// The record-number column of a scores file.
pub(crate) const RECORD: &str = "_record";

pub(crate) fn scores_key(id: JobId) -> String {
    format!("jobs/{id}/scores.parquet")
}

/// The built-in metrics a metrics job computes, with every column role
/// settled except those only the model's output can tell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Builtin {
    pub problem_type: Option<String>,
    pub label: String,
    pub probability: Option<String>,
    pub prediction: Option<String>,
    pub threshold: f64,
    pub positive_label: Option<String>,
    pub protected: Vec<String>,
    pub reference_groups: BTreeMap<String, String>,
    pub seed: u64,
    pub curve_points: usize,
    /// Jobs recorded before this setting existed used the default, 5.
    #[serde(default = "default_subsamples")]
    pub subsamples: usize,
}

fn default_subsamples() -> usize {
    keel_metrics::Uncertainty::default().subsamples
}

fn role_of<'a>(schema: Option<&'a AvroSchema>, role: &str) -> Option<&'a keel_data::AvroField> {
    schema?.fields.iter().find(|f| {
        f.attributes
            .get("role")
            .and_then(Value::as_str)
            .is_some_and(|r| r.eq_ignore_ascii_case(role))
    })
}

/// Decides whether a metrics job computes built-in metrics, and with which
/// columns: the request's options first, then the roles ModelOp's extended
/// schemas mark (`role: label|score|prediction`, `protected_class: true`).
/// `None` means only the model's own metrics function runs.
pub(crate) fn resolve(
    opts: Option<&api::MetricsOptions>,
    input_schema: Option<&AvroSchema>,
    output_schema: Option<&AvroSchema>,
    has_metrics_fn: bool,
    model: &str,
) -> Result<Option<Builtin>> {
    let o = opts.cloned().unwrap_or_default();
    let label = o.label.clone().or_else(|| {
        role_of(input_schema, "label")
            .or_else(|| role_of(output_schema, "label"))
            .map(|f| f.name.clone())
    });
    let Some(label) = label else {
        if opts.is_none() && has_metrics_fn {
            return Ok(None);
        }
        return Err(Error::InvalidArgument(format!(
            "Keel's built-in metrics need to know which column holds the actual label: pass \
             --label COLUMN, or mark the field with \"role\": \"label\" in {model}'s input schema.{}",
            if has_metrics_fn {
                ""
            } else {
                " (The model has no metrics function of its own.)"
            }
        )));
    };
    if let Some(p) = &o.problem_type {
        p.parse::<ProblemType>()
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    }
    let (mut probability, mut prediction) = (o.probability.clone(), o.prediction.clone());
    if probability.is_none() && prediction.is_none() {
        if let Some(f) = role_of(output_schema, "score") {
            if matches!(
                f.ty,
                keel_data::AvroType::Double | keel_data::AvroType::Float
            ) {
                probability = Some(f.name.clone());
            } else {
                prediction = Some(f.name.clone());
            }
        }
        if let Some(f) = role_of(output_schema, "prediction") {
            prediction = Some(f.name.clone());
        }
    }
    let protected = if o.protected.is_empty() {
        input_schema
            .map(|s| {
                s.fields
                    .iter()
                    .filter(|f| {
                        f.attributes
                            .get("protected_class")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    })
                    .map(|f| f.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        o.protected.clone()
    };
    let subsamples = o.subsamples.unwrap_or_else(default_subsamples);
    // Refused here, before any scoring, rather than when the metrics run.
    keel_metrics::sample::check_subsamples(subsamples)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let threshold = o.threshold.unwrap_or(0.5);
    if !threshold.is_finite() {
        return Err(Error::InvalidArgument(
            "--threshold must be a number".into(),
        ));
    }
    Ok(Some(Builtin {
        problem_type: o.problem_type.clone(),
        label,
        probability,
        prediction,
        threshold,
        positive_label: o.positive_label.clone(),
        protected,
        reference_groups: o.reference_groups.clone(),
        seed: o.seed.unwrap_or(0),
        curve_points: o.curve_points.unwrap_or(1000),
        subsamples,
    }))
}

impl Builtin {
    /// The metrics spec over the scored rows, filling in what the output tells.
    pub(crate) fn spec(&self, batches: &[RecordBatch]) -> Result<Spec> {
        let schema = batches
            .first()
            .map(|b| b.schema())
            .ok_or_else(|| Error::InvalidArgument("there are no scored rows".into()))?;
        let has = |c: &str| schema.index_of(c).is_ok();
        let (mut probability, mut prediction) = (self.probability.clone(), self.prediction.clone());
        if probability.is_none() && prediction.is_none() {
            // The model's output did not say; look for the usual names.
            probability = ["probability", "proba", "score", "prediction_probability"]
                .iter()
                .find(|c| {
                    schema.field_with_name(c).is_ok_and(|f| {
                        matches!(f.data_type(), DataType::Float64 | DataType::Float32)
                    })
                })
                .map(|c| c.to_string());
            prediction = ["prediction", "predicted", "pred", "predicted_label"]
                .iter()
                .find(|c| has(c))
                .map(|c| c.to_string());
        }
        if probability.is_none() && prediction.is_none() {
            let names: Vec<&str> = schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .filter(|n| *n != RECORD)
                .collect();
            return Err(Error::InvalidArgument(format!(
                "cannot tell which output column holds the model's prediction (the columns are \
                 {}); pass --probability COLUMN or --prediction COLUMN, or mark the output \
                 schema field with \"role\": \"score\"",
                names.join(", ")
            )));
        }
        let problem_type = match &self.problem_type {
            Some(p) => p
                .parse::<ProblemType>()
                .map_err(|e| Error::InvalidArgument(e.to_string()))?,
            None if probability.is_some() => ProblemType::Binary,
            None => column::infer_problem_type(batches, &self.label)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?,
        };
        let mut spec = Spec::new(problem_type, self.label.clone());
        if problem_type == ProblemType::Binary && probability.is_some() {
            // With a probability, the threshold decides the predicted label,
            // unless a prediction column was named explicitly.
            spec.probability = probability;
            spec.prediction = self.prediction.clone();
        } else {
            spec.prediction = prediction;
        }
        spec.threshold = self.threshold;
        spec.positive_label = self.positive_label.clone();
        spec.protected = self.protected.clone();
        spec.reference_groups = self.reference_groups.clone();
        spec.uncertainty.seed = self.seed;
        spec.curve_points = self.curve_points;
        spec.uncertainty.subsamples = self.subsamples;
        Ok(spec)
    }

    /// The input columns scoring must carry through to the metrics.
    pub(crate) fn input_columns(&self) -> Vec<String> {
        let mut out = vec![self.label.clone()];
        for p in &self.protected {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// Joins one input batch's carried columns (label, protected attributes,
/// record numbers) with the model's output rows for it. The output must have
/// one row per input row; where both have a column, the input's wins for the
/// label and protected attributes, the output's for everything else.
pub(crate) fn join_scored(
    carried: &RecordBatch,
    records: &[u64],
    outputs: &[RecordBatch],
) -> std::result::Result<RecordBatch, String> {
    let out = match outputs {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(
            keel_data::unify(many.to_vec())
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .ok_or("no output rows")?,
        ),
    };
    let out_rows = out.as_ref().map_or(0, |b| b.num_rows());
    if out_rows != carried.num_rows() {
        return Err(format!(
            "Keel's built-in metrics need one output record per input record, but the score \
             function returned {out_rows} record(s) for the {} input record(s) starting at \
             record {}. Return exactly one record for each input record.",
            carried.num_rows(),
            records.first().copied().unwrap_or(0)
        ));
    }
    let mut fields: Vec<Field> = vec![Field::new(RECORD, DataType::UInt64, false)];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(records.to_vec()))];
    let cs = carried.schema();
    for (f, c) in cs.fields().iter().zip(carried.columns()) {
        fields.push(f.as_ref().clone().with_nullable(true));
        cols.push(c.clone());
    }
    if let Some(out) = out {
        let os = out.schema();
        for (f, c) in os.fields().iter().zip(out.columns()) {
            if f.name() == RECORD || cs.index_of(f.name()).is_ok() {
                continue;
            }
            fields.push(f.as_ref().clone().with_nullable(true));
            cols.push(c.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())
}

/// The record numbers of the rows a chunk passed on: its range, minus the
/// records it rejected.
pub(crate) fn good_records(chunk: &keel_data::Chunk) -> Vec<u64> {
    let rejected: std::collections::HashSet<u64> =
        chunk.rejected.iter().map(|r| r.record).collect();
    (chunk.first_record..chunk.first_record + chunk.records_read)
        .filter(|r| !rejected.contains(r))
        .collect()
}

/// The parts of a finished metrics job a comparison needs.
struct Side {
    job: api::Job,
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

impl Keel {
    /// Starts a comparison: of two finished (or running) metrics jobs, or of
    /// two model versions on the same labeled data (two metrics jobs are
    /// queued). The verdict comes once both jobs have finished.
    pub async fn create_comparison(&self, req: api::CreateComparison) -> Result<api::Comparison> {
        let metric = req.policy.metric.trim().to_string();
        if keel_metrics::compare::higher_is_better(&metric).is_none() {
            return Err(Error::InvalidArgument(format!(
                "Keel cannot compare on '{metric}'. Use auc or accuracy, or one of precision, \
                 recall, f0_5, f1, f2, log_loss, brier_score, average_precision, \
                 true_positive_rate, weighted_f1, macro_f1, mae, mse, rmse, r2, mape, max_error."
            )));
        }
        if !(req.policy.confidence > 0.0 && req.policy.confidence < 1.0) {
            return Err(Error::InvalidArgument(format!(
                "--confidence must be between 0 and 1, such as 0.95, not {}.",
                req.policy.confidence
            )));
        }
        if !(1..=100_000).contains(&req.policy.resamples) {
            return Err(Error::InvalidArgument(
                "--resamples must be between 1 and 100000.".into(),
            ));
        }
        if !req.policy.min_delta.is_finite() {
            return Err(Error::InvalidArgument(
                "--min-delta must be a number.".into(),
            ));
        }
        let (a, b) = match (
            req.champion_job,
            req.challenger_job,
            &req.champion,
            &req.challenger,
        ) {
            (Some(a), Some(b), None, None) => {
                for id in [a, b] {
                    let job = self.job(id.into()).await?;
                    if job.kind != JobKind::Metrics.as_str() {
                        return Err(Error::InvalidArgument(format!(
                            "Job {id} is a {} job; a comparison needs two metrics jobs.",
                            job.kind
                        )));
                    }
                }
                (JobId::from(a), JobId::from(b))
            }
            (None, None, Some(champion), Some(challenger)) => {
                let input = req.input.clone().ok_or_else(|| {
                    Error::InvalidArgument(
                        "Comparing two versions needs the labeled data to run both on (--data)."
                            .into(),
                    )
                })?;
                let metrics = Some(req.metrics.clone().unwrap_or_default());
                let mut ids = Vec::new();
                for model in [champion, challenger] {
                    let job = self
                        .create_job(api::CreateJob {
                            kind: "metrics".into(),
                            model: model.clone(),
                            input: input.clone(),
                            output: None,
                            format: req.format.clone(),
                            workers: None,
                            max_runtime_seconds: None,
                            schema_check: None,
                            metrics: metrics.clone(),
                        })
                        .await?;
                    ids.push(JobId::from(job.id));
                }
                (ids[0], ids[1])
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "Name either two model versions (champion and challenger, with the data) or \
                     two metrics jobs (champion_job and challenger_job), not a mix."
                        .into(),
                ));
            }
        };
        let policy = api::ComparePolicy {
            metric,
            ..req.policy
        };
        let rec = ComparisonRecord {
            id: ComparisonId::new(),
            status: "PENDING".into(),
            champion_job: a,
            challenger_job: b,
            policy: serde_json::to_value(&policy)
                .map_err(|e| Error::Internal(format!("cannot store a policy: {e}")))?,
            result: None,
            error: None,
            created_at: chrono::Utc::now(),
            finished_at: None,
        };
        self.store.create_comparison(&rec).await?;
        self.wake.notify_waiters();
        self.comparison(rec.id).await
    }

    /// A comparison. A pending one whose jobs have both finished gets its
    /// verdict now: whoever reads it first computes it, once.
    pub async fn comparison(&self, id: ComparisonId) -> Result<api::Comparison> {
        let rec = self
            .store
            .comparison(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no comparison with id {id}.")))?;
        if rec.status != "PENDING" {
            return view(rec);
        }
        let a = self.job(rec.champion_job).await?;
        let b = self.job(rec.challenger_job).await?;
        let terminal =
            |s: &str| s != JobStatus::Pending.as_str() && s != JobStatus::InProgress.as_str();
        if !terminal(&a.status) || !terminal(&b.status) {
            return view(rec);
        }
        let outcome = self.decide(&rec, a, b).await;
        let now = chrono::Utc::now();
        match outcome {
            Ok(doc) => {
                self.store
                    .finish_comparison(id, "COMPLETED", Some(&doc), None, now)
                    .await?;
            }
            Err(e) => {
                self.store
                    .finish_comparison(id, "FAILED", None, Some(&e.to_string()), now)
                    .await?;
            }
        }
        let rec = self
            .store
            .comparison(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no comparison with id {id}.")))?;
        view(rec)
    }

    /// Comparisons, newest first.
    pub async fn list_comparisons(&self, q: &api::PageQuery) -> Result<api::Page<api::Comparison>> {
        let page = crate::registry::page(q);
        let got = self.store.list_comparisons(&page).await?;
        Ok(api::Page {
            items: got
                .items
                .into_iter()
                .map(view)
                .collect::<Result<Vec<_>>>()?,
            next_page_token: got.next_cursor,
        })
    }

    async fn side(&self, job: api::Job, role: &str) -> Result<Side> {
        if job.status != JobStatus::Completed.as_str() {
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
                 model's own metrics function); run it with --label so it does.",
                job.id
            ))
        })?;
        let key = scores_key(job.id.into());
        let path = self.artifacts.local_path(&key).ok_or_else(|| {
            Error::Internal("the artifact store has no local path for scores".into())
        })?;
        if !path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "The {role}'s job {} kept no scored rows to pair.",
                job.id
            )));
        }
        let spec2 = spec.clone();
        let (prepared, records) = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut batches = Vec::new();
            for chunk in keel_data::open(
                &path,
                &keel_data::ReadOptions {
                    batch_size: 65_536,
                    ..Default::default()
                },
            )? {
                batches.push(chunk?.batch);
            }
            let prepared = column::prepare(&batches, &spec2)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            // The record number of every row, then of the kept rows only, so
            // that they line up with the prepared columns.
            let mut all = Vec::with_capacity(prepared.rows as usize);
            for b in &batches {
                let col = b
                    .column_by_name(RECORD)
                    .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                    .ok_or_else(|| {
                        Error::Internal(format!("the scored rows have no {RECORD} column"))
                    })?;
                all.extend_from_slice(col.values());
            }
            let records: Vec<u64> = prepared.kept_rows().into_iter().map(|i| all[i]).collect();
            Ok((prepared, records))
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        Ok(Side {
            job,
            doc,
            spec,
            prepared,
            records,
        })
    }

    async fn decide(&self, rec: &ComparisonRecord, a: api::Job, b: api::Job) -> Result<Value> {
        let policy: api::ComparePolicy = serde_json::from_value(rec.policy.clone())
            .map_err(|e| Error::Internal(format!("bad stored policy: {e}")))?;
        let champion = self.side(a, "champion").await?;
        let challenger = self.side(b, "challenger").await?;
        tokio::task::spawn_blocking(move || decide(&champion, &challenger, &policy))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
    }
}

fn view(rec: ComparisonRecord) -> Result<api::Comparison> {
    let policy: api::ComparePolicy = serde_json::from_value(rec.policy)
        .map_err(|e| Error::Internal(format!("bad stored policy: {e}")))?;
    let verdict = rec
        .result
        .as_ref()
        .and_then(|r| r.get("verdict"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(api::Comparison {
        id: rec.id.0,
        status: rec.status,
        champion_job: rec.champion_job.0,
        challenger_job: rec.challenger_job.0,
        policy,
        created_at: rec.created_at,
        finished_at: rec.finished_at,
        verdict,
        result: rec.result,
        error: rec.error,
    })
}

/// Gathers `values[i]` for each index.
fn pick<T: Copy>(values: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| values[i]).collect()
}

fn decide(a: &Side, b: &Side, policy: &api::ComparePolicy) -> Result<Value> {
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
                &policy.metric,
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
                &policy.metric,
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
                &policy.metric,
                &p,
            )
        }
        _ => return Err(mismatch("problem types")),
    }
    .map_err(|e| Error::InvalidArgument(e.to_string()))?;

    let side_by_side = side_by_side(&a.doc, &b.doc, a.spec.problem_type);
    let test = serde_json::to_value(&decision.test)
        .map_err(|e| Error::Internal(format!("cannot render the test: {e}")))?;
    let verdict = serde_json::to_value(decision.verdict)
        .map_err(|e| Error::Internal(format!("cannot render the verdict: {e}")))?;
    Ok(json!({
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
    }))
}

fn side_summary(s: &Side) -> Value {
    json!({
        "job_id": s.job.id,
        "model": s.job.model_name,
        "version": s.job.version,
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
            "higher_is_better": keel_metrics::compare::higher_is_better(k),
        }));
    }
    rows
}

/// The carried input columns of one batch, for joining with its output.
pub(crate) fn carry(
    batch: &RecordBatch,
    columns: &[String],
) -> std::result::Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut idx = Vec::with_capacity(columns.len());
    for c in columns {
        match schema.index_of(c) {
            Ok(i) => idx.push(i),
            Err(_) => {
                let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(format!(
                    "the input has no column '{c}', which the built-in metrics need; its \
                     columns are: {}",
                    have.join(", ")
                ));
            }
        }
    }
    batch.project(&idx).map_err(|e| e.to_string())
}
