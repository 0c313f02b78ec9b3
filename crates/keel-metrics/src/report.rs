//! The result documents: model quality in SageMaker's statistics shape
//! (`binary_classification_metrics` and so on) plus ModelOp's lists of tests
//! (`performance`, `bias`), and data drift per feature.
//!
//! Documents are `serde_json::Value`s with keys in a fixed order, so the
//! same data always gives byte-identical JSON.

use arrow_array::RecordBatch;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::binary::{BinaryInput, BinaryMetrics};
use crate::column::{self, Columns, Prepared};
use crate::drift::DriftOptions;
use crate::fairness::{Fairness, FairnessInput};
use crate::multiclass::{MulticlassInput, MulticlassMetrics};
use crate::regression::RegressionMetrics;
use crate::{Error, ProblemType, Result, Scalar, Spec};

/// The version field of every document, as SageMaker's files carry one.
const VERSION: f64 = 0.0;

/// Reads the spec's columns from `batches`, computes every metric the
/// problem type has, and returns the document.
pub fn evaluate(batches: &[RecordBatch], spec: &Spec) -> Result<Value> {
    let prepared = column::prepare(batches, spec)?;
    document(&prepared, spec)
}

/// The metrics document of prepared columns.
pub fn document(p: &Prepared, spec: &Spec) -> Result<Value> {
    let u = &spec.uncertainty;
    let mut doc = Map::new();
    doc.insert("version".into(), json!(VERSION));
    doc.insert(
        "problem_type".into(),
        json!(spec.problem_type.sagemaker_name()),
    );
    let dropped: Map<String, Value> = p
        .dropped
        .by_column
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    doc.insert(
        "dataset".into(),
        json!({
            "item_count": p.rows,
            "evaluated_count": p.kept(),
            "dropped_count": p.dropped.total(),
            "dropped_by_column": dropped,
        }),
    );
    let mut settings = Map::new();
    settings.insert("label".into(), json!(spec.label));
    if let Some(c) = &spec.probability {
        settings.insert("probability".into(), json!(c));
    }
    if let Some(c) = &spec.prediction {
        settings.insert("prediction".into(), json!(c));
    }
    let mut performance = Vec::new();
    let mut bias = Vec::new();
    match &p.columns {
        Columns::Binary(b) => {
            if spec.prediction.is_none() {
                settings.insert("threshold".into(), json!(spec.threshold));
            }
            settings.insert("positive_label".into(), json!(b.positive));
            settings.insert("negative_label".into(), json!(b.negative));
            // Scores outside [0, 1] still rank rows (AUC, curves); log loss
            // and the Brier score, which need probabilities, are then left out.
            let score = b.score.as_deref();
            let m = crate::binary::binary(
                &BinaryInput {
                    actual: &b.actual,
                    predicted: &b.predicted,
                    score,
                    curve_points: spec.curve_points,
                },
                u,
            )?;
            doc.insert(
                ProblemType::Binary.metrics_key().into(),
                binary_json(&m, &b.negative, &b.positive, b),
            );
            performance.push(performance_test(
                "classification_metrics",
                "Classification Metrics",
                json!({
                    "accuracy": num(m.accuracy.value),
                    "precision": num(m.precision.value),
                    "recall": num(m.recall.value),
                    "f1_score": num(m.f1.value),
                    "auc": num(m.auc.value),
                    "confusion_matrix": modelop_confusion(
                        &[b.negative.clone(), b.positive.clone()],
                        &[vec![m.confusion.tn, m.confusion.fp], vec![m.confusion.fn_, m.confusion.tp]],
                    ),
                }),
            ));
            let mut fair = Map::new();
            for g in &p.groups {
                let f = crate::fairness::fairness(
                    &FairnessInput {
                        actual: &b.actual,
                        predicted: &b.predicted,
                        groups: &g.codes,
                        group_names: &g.names,
                    },
                    spec.reference_groups.get(&g.attribute).map(String::as_str),
                )?;
                bias.push(bias_test(&g.attribute, &f));
                fair.insert(g.attribute.clone(), to_value(&f)?);
            }
            if !fair.is_empty() {
                doc.insert("fairness".into(), Value::Object(fair));
            }
        }
        Columns::Multiclass(mc) => {
            if !p.groups.is_empty() {
                return Err(Error::InvalidInput(
                    "fairness metrics are defined for binary problems; leave `protected` empty \
                     or use a binary label"
                        .into(),
                ));
            }
            let m = crate::multiclass::multiclass(
                &MulticlassInput {
                    actual: &mc.actual,
                    predicted: &mc.predicted,
                    classes: mc.classes.len(),
                },
                u,
            )?;
            doc.insert(
                ProblemType::Multiclass.metrics_key().into(),
                multiclass_json(&m, &mc.classes),
            );
            performance.push(performance_test(
                "classification_metrics",
                "Classification Metrics",
                json!({
                    "accuracy": num(m.accuracy.value),
                    "weighted_precision": num(m.weighted_precision.value),
                    "weighted_recall": num(m.weighted_recall.value),
                    "weighted_f1_score": num(m.weighted_f1.value),
                    "macro_f1_score": num(m.macro_f1.value),
                    "confusion_matrix": modelop_confusion(&mc.classes, &m.confusion_matrix),
                }),
            ));
        }
        Columns::Regression(r) => {
            if !p.groups.is_empty() {
                return Err(Error::InvalidInput(
                    "fairness metrics are defined for binary problems; leave `protected` empty"
                        .into(),
                ));
            }
            let m = crate::regression::regression(&r.actual, &r.predicted, u)?;
            doc.insert(
                ProblemType::Regression.metrics_key().into(),
                regression_json(&m),
            );
            performance.push(performance_test(
                "regression_metrics",
                "Regression Metrics",
                json!({
                    "mae": num(m.mae.value),
                    "rmse": num(m.rmse.value),
                    "r2_score": num(m.r2.value),
                }),
            ));
        }
    }
    settings.insert(
        "uncertainty".into(),
        json!({
            "subsamples": u.subsamples,
            "fraction": u.fraction,
            "min_samples": u.min_samples,
            "seed": u.seed,
            "enabled": u.enabled,
        }),
    );
    doc.insert("settings".into(), Value::Object(settings));
    doc.insert("performance".into(), Value::Array(performance));
    if !bias.is_empty() {
        doc.insert("bias".into(), Value::Array(bias));
    }
    Ok(Value::Object(doc))
}

fn to_value<T: Serialize>(x: &T) -> Result<Value> {
    serde_json::to_value(x)
        .map_err(|e| Error::InvalidInput(format!("cannot render a metric as JSON: {e}")))
}

/// A plain number, or `"NaN"` when it is not finite.
fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        json!("NaN")
    }
}

fn scalar(s: &Scalar) -> Value {
    json!({"value": num(s.value), "standard_deviation": num(s.standard_deviation)})
}

/// SageMaker's nested confusion matrix: `{actual: {predicted: count}}`.
fn nested_confusion(names: &[String], m: &[Vec<u64>]) -> Value {
    let mut outer = Map::new();
    for (a, row) in names.iter().zip(m) {
        let inner: Map<String, Value> = names
            .iter()
            .zip(row)
            .map(|(p, c)| (p.clone(), json!(c)))
            .collect();
        outer.insert(a.clone(), Value::Object(inner));
    }
    Value::Object(outer)
}

/// ModelOp's confusion matrix: one row object per actual class.
fn modelop_confusion(names: &[String], m: &[Vec<u64>]) -> Value {
    Value::Array(
        names
            .iter()
            .zip(m)
            .map(|(_, row)| {
                Value::Object(
                    names
                        .iter()
                        .zip(row)
                        .map(|(p, c)| (p.clone(), json!(c)))
                        .collect(),
                )
            })
            .collect(),
    )
}

fn nums(xs: &[f64]) -> Value {
    Value::Array(xs.iter().map(|&x| num(x)).collect())
}

fn binary_json(m: &BinaryMetrics, neg: &str, pos: &str, b: &column::BinaryColumns) -> Value {
    let names = [neg.to_string(), pos.to_string()];
    let cm = [
        vec![m.confusion.tn, m.confusion.fp],
        vec![m.confusion.fn_, m.confusion.tp],
    ];
    let mut o = Map::new();
    o.insert("confusion_matrix".into(), nested_confusion(&names, &cm));
    for (k, s) in [
        ("recall", &m.recall),
        ("precision", &m.precision),
        ("accuracy", &m.accuracy),
        (
            "recall_best_constant_classifier",
            &m.recall_best_constant_classifier,
        ),
        (
            "precision_best_constant_classifier",
            &m.precision_best_constant_classifier,
        ),
        (
            "accuracy_best_constant_classifier",
            &m.accuracy_best_constant_classifier,
        ),
        ("true_positive_rate", &m.true_positive_rate),
        ("true_negative_rate", &m.true_negative_rate),
        ("false_positive_rate", &m.false_positive_rate),
        ("false_negative_rate", &m.false_negative_rate),
    ] {
        o.insert(k.into(), scalar(s));
    }
    o.insert(
        "receiver_operating_characteristic_curve".into(),
        json!({
            "false_positive_rates": nums(&m.roc.false_positive_rates),
            "true_positive_rates": nums(&m.roc.true_positive_rates),
        }),
    );
    o.insert(
        "precision_recall_curve".into(),
        json!({
            "precisions": nums(&m.pr.precisions),
            "recalls": nums(&m.pr.recalls),
        }),
    );
    for (k, s) in [
        ("auc", &m.auc),
        ("f0_5", &m.f0_5),
        ("f1", &m.f1),
        ("f2", &m.f2),
        (
            "f0_5_best_constant_classifier",
            &m.f0_5_best_constant_classifier,
        ),
        (
            "f1_best_constant_classifier",
            &m.f1_best_constant_classifier,
        ),
        (
            "f2_best_constant_classifier",
            &m.f2_best_constant_classifier,
        ),
    ] {
        o.insert(k.into(), scalar(s));
    }
    if b.scores_are_probabilities
        && let Some(s) = &m.log_loss
    {
        o.insert("log_loss".into(), scalar(s));
    }
    o.insert("average_precision".into(), scalar(&m.average_precision));
    if b.scores_are_probabilities
        && let Some(s) = &m.brier_score
    {
        o.insert("brier_score".into(), scalar(s));
    }
    Value::Object(o)
}

fn multiclass_json(m: &MulticlassMetrics, classes: &[String]) -> Value {
    let mut o = Map::new();
    o.insert(
        "confusion_matrix".into(),
        nested_confusion(classes, &m.confusion_matrix),
    );
    for (k, s) in [
        ("accuracy", &m.accuracy),
        ("weighted_recall", &m.weighted_recall),
        ("weighted_precision", &m.weighted_precision),
        ("weighted_f0_5", &m.weighted_f0_5),
        ("weighted_f1", &m.weighted_f1),
        ("weighted_f2", &m.weighted_f2),
        ("macro_recall", &m.macro_recall),
        ("macro_precision", &m.macro_precision),
        ("macro_f0_5", &m.macro_f0_5),
        ("macro_f1", &m.macro_f1),
        ("macro_f2", &m.macro_f2),
        (
            "accuracy_best_constant_classifier",
            &m.accuracy_best_constant_classifier,
        ),
        (
            "weighted_recall_best_constant_classifier",
            &m.weighted_recall_best_constant_classifier,
        ),
        (
            "weighted_precision_best_constant_classifier",
            &m.weighted_precision_best_constant_classifier,
        ),
        (
            "weighted_f0_5_best_constant_classifier",
            &m.weighted_f0_5_best_constant_classifier,
        ),
        (
            "weighted_f1_best_constant_classifier",
            &m.weighted_f1_best_constant_classifier,
        ),
        (
            "weighted_f2_best_constant_classifier",
            &m.weighted_f2_best_constant_classifier,
        ),
        (
            "macro_recall_best_constant_classifier",
            &m.macro_recall_best_constant_classifier,
        ),
        (
            "macro_precision_best_constant_classifier",
            &m.macro_precision_best_constant_classifier,
        ),
        (
            "macro_f0_5_best_constant_classifier",
            &m.macro_f0_5_best_constant_classifier,
        ),
        (
            "macro_f1_best_constant_classifier",
            &m.macro_f1_best_constant_classifier,
        ),
        (
            "macro_f2_best_constant_classifier",
            &m.macro_f2_best_constant_classifier,
        ),
    ] {
        o.insert(k.into(), scalar(s));
    }
    let per_class: Map<String, Value> = classes
        .iter()
        .zip(&m.per_class)
        .map(|(c, s)| {
            (
                c.clone(),
                json!({
                    "support": s.support,
                    "predicted": s.predicted,
                    "precision": num(s.precision),
                    "recall": num(s.recall),
                    "f1": num(s.f1),
                }),
            )
        })
        .collect();
    o.insert("per_class".into(), Value::Object(per_class));
    Value::Object(o)
}

fn regression_json(m: &RegressionMetrics) -> Value {
    let mut o = Map::new();
    for (k, s) in [
        ("mae", &m.mae),
        ("mse", &m.mse),
        ("rmse", &m.rmse),
        ("r2", &m.r2),
        ("mape", &m.mape),
        ("max_error", &m.max_error),
    ] {
        o.insert(k.into(), scalar(s));
    }
    Value::Object(o)
}

/// One entry of ModelOp's `performance` list.
fn performance_test(kind: &str, name: &str, values: Value) -> Value {
    json!({
        "test_category": "performance",
        "test_name": name,
        "test_type": kind,
        "test_id": format!("performance_{kind}"),
        "values": values,
    })
}

/// One entry of ModelOp's `bias` list: the group metrics of one protected
/// attribute against its reference group.
fn bias_test(attribute: &str, f: &Fairness) -> Value {
    let rows: Vec<Value> = f
        .groups
        .iter()
        .map(|g| {
            json!({
                "attribute_name": attribute,
                "attribute_value": g.group,
                "count": g.count,
                "positive_rate": num(g.positive_rate),
                "true_positive_rate": num(g.true_positive_rate),
                "false_positive_rate": num(g.false_positive_rate),
                "precision": num(g.precision),
                "statistical_parity_difference": num(g.statistical_parity_difference),
                "disparate_impact": num(g.disparate_impact),
                "equal_opportunity_difference": num(g.equal_opportunity_difference),
                "average_odds_difference": num(g.average_odds_difference),
            })
        })
        .collect();
    json!({
        "test_category": "bias",
        "test_name": "Group Fairness",
        "test_type": "group_fairness",
        "test_id": format!("bias_group_fairness_{attribute}"),
        "protected_class": attribute,
        "reference_group": f.reference_group,
        "values": rows,
    })
}

/// Kind of a feature column for drift, with SageMaker's inferred-type names.
fn inferred_type(dt: &arrow_schema::DataType) -> &'static str {
    use arrow_schema::DataType as D;
    match dt {
        D::Float16 | D::Float32 | D::Float64 => "Fractional",
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
            "Integral"
        }
        D::Utf8 | D::LargeUtf8 | D::Utf8View | D::Boolean => "String",
        _ => "Unknown",
    }
}

/// One feature's drift entry and its ModelOp-style test.
type FeatureDrift = (Value, Option<Value>);

/// The drift of one feature, and its ModelOp-style test.
fn feature_drift(
    baseline: &[RecordBatch],
    current: &[RecordBatch],
    name: &str,
    opts: &DriftOptions,
) -> Result<FeatureDrift> {
    let mut test = None;
    let b = column::gather(baseline, name)
        .map_err(|e| Error::InvalidInput(format!("baseline: {e}")))?;
    let c = column::gather(current, name)
        .map_err(|e| Error::InvalidInput(format!("current data: {e}")))?;
    let kind = b
        .first()
        .map(|a| inferred_type(a.data_type()))
        .unwrap_or("Unknown");
    let mut f = Map::new();
    f.insert("name".into(), json!(name));
    f.insert("inferred_type".into(), json!(kind));
    if kind == "Fractional" || kind == "Integral" {
        let (bk, b_missing) = column::keys_without_missing(&b, name)?;
        let (ck, c_missing) = column::keys_without_missing(&c, name)?;
        f.insert("baseline_missing".into(), json!(b_missing));
        f.insert("current_missing".into(), json!(c_missing));
        if bk.is_empty() || ck.is_empty() {
            f.insert(
                "error".into(),
                json!("no values to compare: the column is empty or all null"),
            );
        } else {
            let d = crate::drift::numeric_drift_keys(bk, ck, opts)?;
            for (k, v) in [
                ("psi", d.psi),
                ("ks_statistic", d.ks_statistic),
                ("ks_p_value", d.ks_p_value),
                ("jensen_shannon_distance", d.jensen_shannon_distance),
                ("wasserstein_distance", d.wasserstein_distance),
            ] {
                f.insert(k.into(), num(v));
            }
            test = Some(json!({
                "test_category": "data_drift",
                "test_name": "Numerical Drift",
                "test_type": "numerical_drift",
                "test_id": format!("data_drift_numerical_{name}"),
                "feature": name,
                "values": {
                    "psi": num(d.psi),
                    "ks_statistic": num(d.ks_statistic),
                    "ks_p_value": num(d.ks_p_value),
                    "jensen_shannon_distance": num(d.jensen_shannon_distance),
                    "wasserstein_distance": num(d.wasserstein_distance),
                },
            }));
            f.insert(
                "bins".into(),
                json!({
                    "edges": Value::Array(d.bin_edges.iter().map(|&x| num(x)).collect()),
                    "baseline_fractions": Value::Array(d.baseline_fractions.iter().map(|&x| num(x)).collect()),
                    "current_fractions": Value::Array(d.current_fractions.iter().map(|&x| num(x)).collect()),
                }),
            );
        }
    } else {
        let mut enc = column::CategoryEncoder::default();
        let bcodes = enc.encode(&b, name)?;
        let ccodes = enc.encode(&c, name)?;
        let categories = enc.names();
        let bk: Vec<u32> = bcodes.iter().copied().filter(|&x| x != u32::MAX).collect();
        let ck: Vec<u32> = ccodes.iter().copied().filter(|&x| x != u32::MAX).collect();
        f.insert("baseline_missing".into(), json!(bcodes.len() - bk.len()));
        f.insert("current_missing".into(), json!(ccodes.len() - ck.len()));
        if bk.is_empty() || ck.is_empty() {
            f.insert(
                "error".into(),
                json!("no values to compare: the column is empty or all null"),
            );
        } else {
            let d = crate::drift::categorical_drift(&bk, &ck, categories.len())?;
            f.insert("chi_squared".into(), num(d.chi_squared));
            f.insert("chi_squared_p_value".into(), num(d.chi_squared_p_value));
            f.insert("degrees_of_freedom".into(), json!(d.degrees_of_freedom));
            f.insert("l_infinity".into(), num(d.l_infinity));
            test = Some(json!({
                "test_category": "data_drift",
                "test_name": "Categorical Drift",
                "test_type": "categorical_drift",
                "test_id": format!("data_drift_categorical_{name}"),
                "feature": name,
                "values": {
                    "chi_squared": num(d.chi_squared),
                    "chi_squared_p_value": num(d.chi_squared_p_value),
                    "l_infinity": num(d.l_infinity),
                },
            }));
            let bf: Map<String, Value> = categories
                .iter()
                .zip(&d.baseline_fractions)
                .map(|(k, &v)| (k.clone(), num(v)))
                .collect();
            let cf: Map<String, Value> = categories
                .iter()
                .zip(&d.current_fractions)
                .map(|(k, &v)| (k.clone(), num(v)))
                .collect();
            f.insert(
                "categories".into(),
                json!({"baseline_fractions": bf, "current_fractions": cf}),
            );
        }
    }
    Ok((Value::Object(f), test))
}

/// Data drift of every feature between a baseline and a current sample.
/// `columns` picks the features; by default every column of the baseline,
/// each of which the current sample must also have. Numeric columns get PSI,
/// KS, Jensen-Shannon and Wasserstein; text and boolean columns get
/// chi-squared and L-infinity. Nulls and NaN are left out of each column and
/// counted as missing.
pub fn drift(
    baseline: &[RecordBatch],
    current: &[RecordBatch],
    columns: Option<&[String]>,
    opts: &DriftOptions,
) -> Result<Value> {
    let schema = match baseline.first() {
        Some(b) => b.schema(),
        None => return Err(Error::EmptyInput("the baseline has no rows".into())),
    };
    let names: Vec<String> = match columns {
        Some(c) => c.to_vec(),
        None => schema.fields().iter().map(|f| f.name().clone()).collect(),
    };
    let base_rows: usize = baseline.iter().map(|b| b.num_rows()).sum();
    let cur_rows: usize = current.iter().map(|b| b.num_rows()).sum();
    if base_rows == 0 {
        return Err(Error::EmptyInput("the baseline has no rows".into()));
    }
    if cur_rows == 0 {
        return Err(Error::EmptyInput("the current data has no rows".into()));
    }
    // Features are independent: spread them over the cores (each feature's
    // two sorts dominate the cost).
    let results = crate::par::map_ranges(names.len(), 2, |r| {
        r.map(|i| feature_drift(baseline, current, &names[i], opts))
            .collect::<Vec<_>>()
    });
    let mut features = Vec::with_capacity(names.len());
    let mut tests = Vec::new();
    for r in results.into_iter().flatten() {
        let (f, t) = r?;
        features.push(f);
        tests.extend(t);
    }
    Ok(json!({
        "version": VERSION,
        "dataset": {"baseline_item_count": base_rows, "current_item_count": cur_rows},
        "settings": {"bins": opts.bins, "psi_epsilon": opts.psi_epsilon},
        "features": features,
        "data_drift": tests,
    }))
}
