//! Model-quality constraints in SageMaker's shape, suggested from a
//! baseline and checked against any statistics.
//!
//! A constraint's `comparison_operator` names the condition that is a
//! violation, as SageMaker's do: `{"f1": {"threshold": 0.8,
//! "comparison_operator": "LessThanThreshold"}}` is violated when f1 is
//! below 0.8.

use std::fmt;

use keel_metrics::Metric;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// How many standard deviations a suggested threshold leaves below (or
/// above, for an error metric) the baseline's value.
pub const DEFAULT_SIGMAS: f64 = 3.0;

/// The version field SageMaker's documents carry.
const VERSION: f64 = 0.0;

/// A model-quality problem type, and the keys of its documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// `binary_classification_metrics` / `binary_classification_constraints`.
    Binary,
    /// `multiclass_classification_metrics` / `multiclass_classification_constraints`.
    Multiclass,
    /// `regression_metrics` / `regression_constraints`.
    Regression,
}

impl Problem {
    const ALL: [Problem; 3] = [Problem::Binary, Problem::Multiclass, Problem::Regression];

    /// The key of the statistics' metrics.
    pub fn metrics_key(self) -> &'static str {
        match self {
            Problem::Binary => "binary_classification_metrics",
            Problem::Multiclass => "multiclass_classification_metrics",
            Problem::Regression => "regression_metrics",
        }
    }

    /// The key of the constraints.
    pub fn constraints_key(self) -> &'static str {
        match self {
            Problem::Binary => "binary_classification_constraints",
            Problem::Multiclass => "multiclass_classification_constraints",
            Problem::Regression => "regression_constraints",
        }
    }

    /// The one problem whose `key` (metrics or constraints) `doc` holds.
    fn of(doc: &Value, what: &str, key: fn(Problem) -> &'static str) -> Result<Problem> {
        let found: Vec<Problem> = Problem::ALL
            .into_iter()
            .filter(|p| doc.get(key(*p)).is_some_and(Value::is_object))
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::InvalidDocument(format!(
                "The {what} hold none of {}: it is not a model-quality {what} document.",
                Problem::ALL.map(key).join(", ")
            ))),
            _ => Err(Error::InvalidDocument(format!(
                "The {what} hold more than one of {}; a document is of one problem type.",
                found.iter().map(|p| key(*p)).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// The condition under which a metric violates its constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// The value is above the threshold (for error metrics such as `rmse`).
    GreaterThanThreshold,
    /// The value is at or above the threshold.
    GreaterThanOrEqualToThreshold,
    /// The value is below the threshold (for metrics where higher is better).
    LessThanThreshold,
    /// The value is at or below the threshold.
    LessThanOrEqualToThreshold,
}

impl Operator {
    /// Whether `value` violates a constraint of this operator at `threshold`.
    pub fn violated(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::GreaterThanThreshold => value > threshold,
            Operator::GreaterThanOrEqualToThreshold => value >= threshold,
            Operator::LessThanThreshold => value < threshold,
            Operator::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Operator::GreaterThanThreshold => "GreaterThanThreshold",
            Operator::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Operator::LessThanThreshold => "LessThanThreshold",
            Operator::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric's constraint.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// The threshold.
    pub threshold: f64,
    /// When the metric violates it.
    pub comparison_operator: Operator,
}

/// A constraints document: one problem type's constraints, in their order.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraints {
    /// The problem type.
    pub problem: Problem,
    /// Each metric's constraint.
    pub metrics: Vec<(String, Constraint)>,
}

impl Constraints {
    /// Reads a `constraints.json` document (Keel's, SageMaker's, or one a
    /// person edited), naming the key at fault when it is malformed.
    pub fn from_document(doc: &Value) -> Result<Constraints> {
        let problem = Problem::of(doc, "constraints", Problem::constraints_key)?;
        let key = problem.constraints_key();
        let mut metrics = Vec::new();
        for (name, c) in doc[key].as_object().into_iter().flatten() {
            let c: Constraint = serde_json::from_value(c.clone()).map_err(|e| {
                Error::InvalidDocument(format!(
                    "The constraint `{key}.{name}` is not {{\"threshold\": NUMBER, \"comparison_operator\": \
                     GreaterThanThreshold | GreaterThanOrEqualToThreshold | LessThanThreshold | \
                     LessThanOrEqualToThreshold}}: {e}."
                ))
            })?;
            if !c.threshold.is_finite() {
                return Err(Error::InvalidDocument(format!(
                    "The constraint `{key}.{name}` has a threshold that is not a finite number."
                )));
            }
            metrics.push((name.clone(), c));
        }
        Ok(Constraints { problem, metrics })
    }

    /// The document, as SageMaker writes it.
    pub fn to_document(&self) -> Value {
        let mut inner = Map::new();
        for (name, c) in &self.metrics {
            inner.insert(
                name.clone(),
                json!({"threshold": c.threshold, "comparison_operator": c.comparison_operator}),
            );
        }
        let mut doc = Map::new();
        doc.insert("version".into(), json!(VERSION));
        doc.insert(self.problem.constraints_key().into(), Value::Object(inner));
        Value::Object(doc)
    }
}

/// A metric's value and standard deviation in a statistics document:
/// numbers, or the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn scalar(entry: &Value) -> Option<(f64, f64)> {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    };
    let value = num(entry.get("value")?)?;
    let sd = entry
        .get("standard_deviation")
        .and_then(num)
        .unwrap_or(f64::NAN);
    Some((value, sd))
}

/// Constraints suggested from a baseline's statistics: for every metric
/// Keel knows the direction of, a threshold `sigmas` standard deviations
/// worse than the baseline's value (the value itself when the baseline had
/// too few rows for a standard deviation), never outside the metric's range.
/// The best-constant-classifier figures describe the data, not the model,
/// and get none; nor do metrics whose baseline value is not a number.
pub fn suggest(statistics: &Value, sigmas: f64) -> Result<Constraints> {
    if !(sigmas.is_finite() && sigmas >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "`sigmas` must be a number of standard deviations, 0 or more, not {sigmas}."
        )));
    }
    let problem = Problem::of(statistics, "statistics", Problem::metrics_key)?;
    let mut metrics = Vec::new();
    for (name, entry) in statistics[problem.metrics_key()]
        .as_object()
        .into_iter()
        .flatten()
    {
        let Ok(metric) = name.parse::<Metric>() else {
            continue;
        };
        let Some((value, sd)) = scalar(entry) else {
            continue;
        };
        if !value.is_finite() {
            continue;
        }
        let margin = if sd.is_finite() { sigmas * sd } else { 0.0 };
        let (threshold, op) = if metric.higher_is_better() {
            let t = value - margin;
            // Rates and scores live in [0, 1]; r2 has no floor.
            let t = if metric == Metric::R2 {
                t
            } else {
                t.clamp(0.0, 1.0)
            };
            (t, Operator::LessThanThreshold)
        } else {
            ((value + margin).max(0.0), Operator::GreaterThanThreshold)
        };
        metrics.push((
            name.clone(),
            Constraint {
                threshold: round6(threshold),
                comparison_operator: op,
            },
        ));
    }
    Ok(Constraints { problem, metrics })
}

/// Rounds to six decimals, so a suggested threshold reads as a person
/// would write it and stays a plain decimal.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One violated constraint, as `constraint_violations.json` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The metric.
    pub metric_name: String,
    /// The violated operator, or `missing_metric_check` when the statistics
    /// do not have the metric.
    pub constraint_check_type: String,
    /// What happened, in words.
    pub description: String,
}

/// The violations of `constraints` by `statistics`, in the constraints'
/// order. A metric the statistics lack, or could not compute (`"NaN"`),
/// is a violation too: a monitor must not pass because it could not look.
pub fn check(statistics: &Value, constraints: &Constraints) -> Result<Vec<Violation>> {
    let problem = Problem::of(statistics, "statistics", Problem::metrics_key)?;
    if problem != constraints.problem {
        return Err(Error::InvalidDocument(format!(
            "The statistics are {} and the constraints {}; check statistics against constraints of the same problem type.",
            problem.metrics_key(),
            constraints.problem.constraints_key()
        )));
    }
    let section = &statistics[problem.metrics_key()];
    let mut out = Vec::new();
    for (name, c) in &constraints.metrics {
        let violation = |description: String| Violation {
            metric_name: name.clone(),
            constraint_check_type: c.comparison_operator.to_string(),
            description,
        };
        let Some((value, sd)) = section.get(name).and_then(scalar) else {
            out.push(Violation {
                metric_name: name.clone(),
                constraint_check_type: "missing_metric_check".into(),
                description: format!(
                    "Metric {name} is constrained but not in the statistics' {}.",
                    problem.metrics_key()
                ),
            });
            continue;
        };
        if value.is_nan() {
            out.push(violation(format!(
                "Metric {name} could not be computed (NaN), so it cannot be shown to meet {} {}.",
                c.comparison_operator, c.threshold
            )));
            continue;
        }
        if c.comparison_operator.violated(value, c.threshold) {
            let spread = if sd.is_finite() {
                format!(" +/- {sd}")
            } else {
                String::new()
            };
            out.push(violation(format!(
                "Metric {name} with {value}{spread} was {} {}",
                c.comparison_operator, c.threshold
            )));
        }
    }
    Ok(out)
}

/// The `constraint_violations.json` document.
pub fn violations_document(violations: &[Violation]) -> Value {
    json!({ "violations": violations })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> Value {
        json!({
            "version": 0.0,
            "binary_classification_metrics": {
                "confusion_matrix": {"0": {"0": 5, "1": 1}, "1": {"0": 2, "1": 7}},
                "accuracy": {"value": 0.9, "standard_deviation": 0.01},
                "auc": {"value": 0.99, "standard_deviation": 0.02},
                "f1": {"value": 0.61, "standard_deviation": 0.004},
                "false_positive_rate": {"value": 0.1, "standard_deviation": "NaN"},
                "log_loss": {"value": 0.2, "standard_deviation": 0.05},
                "f1_best_constant_classifier": {"value": 0.5, "standard_deviation": 0.0},
                "precision": {"value": "NaN", "standard_deviation": "NaN"},
                "receiver_operating_characteristic_curve": {"false_positive_rates": [0.0, 1.0]}
            }
        })
    }

    #[test]
    fn suggestions_leave_room_for_the_baselines_spread() {
        let c = suggest(&stats(), DEFAULT_SIGMAS).unwrap();
        assert_eq!(c.problem, Problem::Binary);
        let got: Vec<(&str, f64, Operator)> = c
            .metrics
            .iter()
            .map(|(n, c)| (n.as_str(), c.threshold, c.comparison_operator))
            .collect();
        use Operator::*;
        assert_eq!(
            got,
            [
                ("accuracy", 0.87, LessThanThreshold),
                // 0.99 - 0.06 stays in [0, 1].
                ("auc", 0.93, LessThanThreshold),
                ("f1", 0.598, LessThanThreshold),
                // No spread: the baseline's value itself.
                ("false_positive_rate", 0.1, GreaterThanThreshold),
                ("log_loss", 0.35, GreaterThanThreshold),
            ]
        );
        let doc = c.to_document();
        assert_eq!(
            doc["binary_classification_constraints"]["f1"]["comparison_operator"],
            "LessThanThreshold"
        );
        assert_eq!(Constraints::from_document(&doc).unwrap(), c);
        let e = suggest(&stats(), -1.0).unwrap_err().to_string();
        assert!(e.contains("`sigmas`"), "{e}");
    }

    #[test]
    fn thresholds_stay_inside_each_metrics_range() {
        let s = json!({"regression_metrics": {
            "r2": {"value": 0.1, "standard_deviation": 0.2},
            "rmse": {"value": 1.5, "standard_deviation": 0.5},
            "mae": {"value": 0.0, "standard_deviation": 0.0}
        }});
        let c = suggest(&s, 3.0).unwrap();
        assert_eq!(c.metrics[0].1.threshold, -0.5, "r2 has no floor");
        assert_eq!(c.metrics[1].1.threshold, 3.0);
        assert_eq!(c.metrics[2].1.threshold, 0.0);
        let s = json!({"binary_classification_metrics": {
            "recall": {"value": 0.05, "standard_deviation": 0.1}
        }});
        assert_eq!(suggest(&s, 3.0).unwrap().metrics[0].1.threshold, 0.0);
    }

    /// (operator, value, threshold, violated?)
    #[test]
    fn operators_name_the_violating_condition() {
        use Operator::*;
        for (op, v, t, want) in [
            (LessThanThreshold, 0.5, 0.8, true),
            (LessThanThreshold, 0.8, 0.8, false),
            (LessThanOrEqualToThreshold, 0.8, 0.8, true),
            (GreaterThanThreshold, 0.9, 0.8, true),
            (GreaterThanThreshold, 0.8, 0.8, false),
            (GreaterThanOrEqualToThreshold, 0.8, 0.8, true),
            (GreaterThanOrEqualToThreshold, 0.7, 0.8, false),
        ] {
            assert_eq!(op.violated(v, t), want, "{op} {v} {t}");
        }
    }

    #[test]
    fn check_lists_violations_missing_metrics_and_nans() {
        let constraints = Constraints::from_document(&json!({
            "version": 0.0,
            "binary_classification_constraints": {
                "f1": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"},
                "accuracy": {"threshold": 0.85, "comparison_operator": "LessThanThreshold"},
                "precision": {"threshold": 0.5, "comparison_operator": "LessThanThreshold"},
                "f3": {"threshold": 0.5, "comparison_operator": "LessThanThreshold"},
                "log_loss": {"threshold": 0.1, "comparison_operator": "GreaterThanThreshold"}
            }
        }))
        .unwrap();
        let v = check(&stats(), &constraints).unwrap();
        let got: Vec<(&str, &str)> = v
            .iter()
            .map(|v| (v.metric_name.as_str(), v.constraint_check_type.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("f1", "LessThanThreshold"),
                ("precision", "LessThanThreshold"),
                ("f3", "missing_metric_check"),
                ("log_loss", "GreaterThanThreshold"),
            ]
        );
        assert_eq!(
            v[0].description,
            "Metric f1 with 0.61 +/- 0.004 was LessThanThreshold 0.8"
        );
        assert!(v[1].description.contains("NaN"), "{}", v[1].description);
        let doc = violations_document(&v);
        assert_eq!(doc["violations"][0]["metric_name"], "f1");
    }

    #[test]
    fn malformed_documents_say_what_is_wrong() {
        let cases = [
            (json!({"version": 0.0}), "none of"),
            (
                json!({"regression_constraints": {}, "binary_classification_constraints": {}}),
                "more than one",
            ),
            (
                json!({"regression_constraints": {"mae": {"threshold": 1.0, "comparison_operator": "Above"}}}),
                "`regression_constraints.mae`",
            ),
            (
                json!({"regression_constraints": {"mae": {"comparison_operator": "GreaterThanThreshold"}}}),
                "threshold",
            ),
        ];
        for (doc, words) in cases {
            let e = Constraints::from_document(&doc).unwrap_err().to_string();
            assert!(e.contains(words), "{doc}: {e}");
        }
        let regression =
            Constraints::from_document(&json!({"regression_constraints": {}})).unwrap();
        let e = check(&stats(), &regression).unwrap_err().to_string();
        assert!(e.contains("same problem type"), "{e}");
    }
}
