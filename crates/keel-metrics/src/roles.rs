//! One resolver of column roles for every caller: which column holds the
//! label, the model's probability or prediction, and the protected
//! attributes. A metrics job and `keel metrics` over a file settle them the
//! same way: what the request names first, then the roles ModelOp's extended
//! schemas mark (`role: label|score|prediction`, `protected_class: true`),
//! then, over the scored rows, the usual column names.
//!
//! [`resolve`] settles what can be settled before any scoring, and its
//! [`Roles`] is what a metrics job stores; [`Roles::spec`] finishes the
//! [`Spec`] once the scored rows are there.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use arrow_schema::DataType;

use crate::column::infer_problem_type;
use crate::{Error, ProblemType, Result, Spec};

/// What the caller asked for; every field optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleRequest {
    /// The kind of model; by default binary with a probability, else guessed
    /// from the label.
    pub problem_type: Option<ProblemType>,
    /// The column with the actual label or value.
    pub label: Option<String>,
    /// The column with the probability of the positive class.
    pub probability: Option<String>,
    /// The column with the predicted label or value.
    pub prediction: Option<String>,
    /// A probability strictly above this predicts the positive class.
    pub threshold: Option<f64>,
    /// The positive class.
    pub positive_label: Option<String>,
    /// Columns holding protected attributes.
    pub protected: Vec<String>,
    /// The reference group of each protected attribute that has one.
    pub reference_groups: BTreeMap<String, String>,
    /// The seed of the subsamples behind the standard deviations.
    pub seed: Option<u64>,
    /// Curves keep at most this many points (0 keeps all).
    pub curve_points: Option<usize>,
    /// Subsamples behind each standard deviation (0 to 8).
    pub subsamples: Option<usize>,
}

impl RoleRequest {
    /// Whether the request asks for nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == RoleRequest::default()
    }
}

/// A column as a schema describes it (built by callers from an Avro schema
/// with ModelOp's extended attributes, or from a data file's Arrow schema).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldHint {
    /// The column's name.
    pub name: String,
    /// ModelOp's `role` attribute: label, score, prediction (case-insensitive), if any.
    pub role: Option<String>,
    /// ModelOp's `protected_class: true`.
    pub protected: bool,
    /// Whether the field holds floats (Avro float/double, Arrow Float32/64).
    pub float: bool,
}

/// The roles settled before any scoring: what a metrics job stores.
#[derive(Clone, Debug, PartialEq)]
pub struct Roles {
    /// The kind of model, when the request said.
    pub problem_type: Option<ProblemType>,
    /// The column with the actual label or value.
    pub label: String,
    /// The column with the probability of the positive class, if known yet.
    pub probability: Option<String>,
    /// The column with the predicted label or value, if known yet.
    pub prediction: Option<String>,
    /// A probability strictly above this predicts the positive class.
    pub threshold: f64,
    /// The positive class, when the request named one.
    pub positive_label: Option<String>,
    /// Columns holding protected attributes.
    pub protected: Vec<String>,
    /// The reference group of each protected attribute that has one.
    pub reference_groups: BTreeMap<String, String>,
    /// The seed of the subsamples behind the standard deviations.
    pub seed: u64,
    /// Curves keep at most this many points (0 keeps all).
    pub curve_points: usize,
    /// Subsamples behind each standard deviation.
    pub subsamples: usize,
}

/// Float columns with these names hold the probability, in this order of
/// preference, when nothing else says which column does.
const PROBABILITY_NAMES: [&str; 4] = ["probability", "proba", "score", "prediction_probability"];
/// Columns with these names hold the prediction, in this order of
/// preference, when nothing else says which column does.
const PREDICTION_NAMES: [&str; 4] = ["prediction", "predicted", "pred", "predicted_label"];
/// The record-number column Keel adds to scored rows, left out of messages.
const RECORD: &str = "_record";

/// The first field with the given ModelOp role.
fn role_of<'a>(fields: &'a [FieldHint], role: &str) -> Option<&'a FieldHint> {
    fields.iter().find(|f| {
        f.role
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(role))
    })
}

/// Settles the roles before any scoring: the request first, then the
/// schemas' roles. The label is the request's, else the input schema's
/// (else the output schema's) field with role `label`. If the request names
/// neither probability nor prediction, the output schema's `score` field is
/// the probability when it holds floats and the prediction otherwise, and
/// its `prediction` field the prediction. The protected attributes are the
/// input schema's `protected_class` fields when the request names none.
///
/// Errors: [`Error::MissingLabel`] when no label is found anywhere;
/// [`Error::InvalidArgument`] for more than 8 subsamples or a threshold that
/// is not a finite number.
pub fn resolve(req: &RoleRequest, input: &[FieldHint], output: &[FieldHint]) -> Result<Roles> {
    let label = req
        .label
        .clone()
        .or_else(|| {
            role_of(input, "label")
                .or_else(|| role_of(output, "label"))
                .map(|f| f.name.clone())
        })
        .ok_or(Error::MissingLabel)?;
    let (mut probability, mut prediction) = (req.probability.clone(), req.prediction.clone());
    if probability.is_none() && prediction.is_none() {
        if let Some(f) = role_of(output, "score") {
            if f.float {
                probability = Some(f.name.clone());
            } else {
                prediction = Some(f.name.clone());
            }
        }
        if let Some(f) = role_of(output, "prediction") {
            prediction = Some(f.name.clone());
        }
    }
    let protected = if req.protected.is_empty() {
        input
            .iter()
            .filter(|f| f.protected)
            .map(|f| f.name.clone())
            .collect()
    } else {
        req.protected.clone()
    };
    // The defaults are those of a spec, so that there is one place for them.
    let defaults = Spec::new(ProblemType::Binary, String::new());
    let subsamples = req.subsamples.unwrap_or(defaults.uncertainty.subsamples);
    // Refused here, before any scoring, rather than when the metrics run.
    crate::sample::check_subsamples(subsamples)?;
    let threshold = req.threshold.unwrap_or(defaults.threshold);
    if !threshold.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "`threshold` must be a number, not {threshold}"
        )));
    }
    Ok(Roles {
        problem_type: req.problem_type,
        label,
        probability,
        prediction,
        threshold,
        positive_label: req.positive_label.clone(),
        protected,
        reference_groups: req.reference_groups.clone(),
        seed: req.seed.unwrap_or(defaults.uncertainty.seed),
        curve_points: req.curve_points.unwrap_or(defaults.curve_points),
        subsamples,
    })
}

impl Roles {
    /// The input columns scoring must carry through to the metrics (label,
    /// then protected, no duplicates).
    pub fn carried_columns(&self) -> Vec<String> {
        let mut out = vec![self.label.clone()];
        for p in &self.protected {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }

    /// The metrics spec over scored rows (the schema of the joined scored
    /// batches), filling in what only the model's output can tell.
    ///
    /// When neither probability nor prediction is settled, the probability
    /// is the first float column named `probability`, `proba`, `score` or
    /// `prediction_probability`, and the prediction the first column named
    /// `prediction`, `predicted`, `pred` or `predicted_label`. The problem
    /// type is the requested one, else binary with a probability, else
    /// guessed from the label column ([`infer_problem_type`]). A binary
    /// problem with a probability predicts by the threshold, unless the
    /// request named a prediction column.
    ///
    /// Errors: [`Error::InvalidArgument`] when no column holds the model's
    /// output; [`Error::EmptyInput`] when there are no batches to look for
    /// one in; the errors of [`infer_problem_type`].
    pub fn spec(&self, batches: &[RecordBatch]) -> Result<Spec> {
        let (mut probability, mut prediction) = (self.probability.clone(), self.prediction.clone());
        if probability.is_none() && prediction.is_none() {
            // The request and the schemas did not say; look for the usual names.
            let schema = batches
                .first()
                .map(|b| b.schema())
                .ok_or_else(|| Error::EmptyInput("there are no scored rows".into()))?;
            probability = PROBABILITY_NAMES
                .iter()
                .find(|c| {
                    schema.field_with_name(c).is_ok_and(|f| {
                        matches!(f.data_type(), DataType::Float64 | DataType::Float32)
                    })
                })
                .map(|c| c.to_string());
            prediction = PREDICTION_NAMES
                .iter()
                .find(|c| schema.index_of(c).is_ok())
                .map(|c| c.to_string());
            if probability.is_none() && prediction.is_none() {
                let names: Vec<&str> = schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .filter(|n| *n != RECORD)
                    .collect();
                return Err(Error::InvalidArgument(format!(
                    "cannot tell which output column holds the model's prediction (the columns \
                     are {}); set `probability` or `prediction`, or mark the output schema \
                     field with \"role\": \"score\"",
                    names.join(", ")
                )));
            }
        }
        let problem_type = match self.problem_type {
            Some(p) => p,
            None if probability.is_some() => ProblemType::Binary,
            None => infer_problem_type(batches, &self.label)?,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn hint(name: &str, role: Option<&str>, protected: bool, float: bool) -> FieldHint {
        FieldHint {
            name: name.into(),
            role: role.map(str::to_string),
            protected,
            float,
        }
    }

    fn floats(v: &[f64]) -> ArrayRef {
        Arc::new(Float64Array::from(v.to_vec()))
    }

    fn ints(v: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(v.to_vec()))
    }

    fn texts(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    /// What a case expects.
    enum Want {
        /// `resolve` fails with this kind of error, its message holding the text.
        ResolveErr(fn(&Error) -> bool, &'static str),
        /// `Roles::spec` fails with this kind of error, its message holding the text.
        SpecErr(fn(&Error) -> bool, &'static str),
        /// The spec's problem type, probability, prediction and protected columns.
        Spec(
            ProblemType,
            Option<&'static str>,
            Option<&'static str>,
            &'static [&'static str],
        ),
    }

    struct Case {
        name: &'static str,
        req: RoleRequest,
        input: Vec<FieldHint>,
        output: Vec<FieldHint>,
        /// The columns of the scored rows.
        scored: Vec<(&'static str, ArrayRef)>,
        want: Want,
    }

    fn req(label: Option<&str>) -> RoleRequest {
        RoleRequest {
            label: label.map(str::to_string),
            ..RoleRequest::default()
        }
    }

    fn cases() -> Vec<Case> {
        let y = || ("y", ints(&[0, 1, 1, 0]));
        let p = || ("p", floats(&[0.1, 0.9, 0.6, 0.4]));
        vec![
            Case {
                name: "request only",
                req: RoleRequest {
                    probability: Some("p".into()),
                    protected: vec!["g".into()],
                    ..req(Some("y"))
                },
                input: vec![hint("g2", None, true, false)],
                output: vec![hint("s", Some("score"), false, true)],
                scored: vec![y(), p(), ("g", texts(&["a", "b", "a", "b"]))],
                want: Want::Spec(ProblemType::Binary, Some("p"), None, &["g"]),
            },
            Case {
                name: "schema roles, output score float",
                req: req(None),
                input: vec![
                    hint("x", None, false, true),
                    hint("y", Some("LABEL"), false, false),
                ],
                output: vec![hint("p", Some("score"), false, true)],
                scored: vec![y(), p()],
                want: Want::Spec(ProblemType::Binary, Some("p"), None, &[]),
            },
            Case {
                name: "label from the output schema, output score not float",
                req: req(None),
                input: vec![],
                output: vec![
                    hint("y", Some("label"), false, false),
                    hint("c", Some("Score"), false, false),
                ],
                scored: vec![y(), ("c", ints(&[0, 1, 0, 0]))],
                want: Want::Spec(ProblemType::Binary, None, Some("c"), &[]),
            },
            Case {
                name: "a prediction role wins over a non-float score",
                req: req(Some("y")),
                input: vec![],
                output: vec![
                    hint("c", Some("score"), false, false),
                    hint("d", Some("prediction"), false, false),
                ],
                scored: vec![y(), ("c", ints(&[0, 1, 0, 0])), ("d", ints(&[1, 1, 0, 0]))],
                want: Want::Spec(ProblemType::Binary, None, Some("d"), &[]),
            },
            Case {
                name: "explicit prediction wins over the schema and the threshold",
                req: RoleRequest {
                    prediction: Some("yhat".into()),
                    ..req(Some("y"))
                },
                input: vec![],
                output: vec![hint("p", Some("score"), false, true)],
                scored: vec![y(), p(), ("yhat", ints(&[0, 1, 0, 0]))],
                want: Want::Spec(ProblemType::Binary, None, Some("yhat"), &[]),
            },
            Case {
                name: "explicit probability and prediction are both kept",
                req: RoleRequest {
                    probability: Some("p".into()),
                    prediction: Some("yhat".into()),
                    ..req(Some("y"))
                },
                input: vec![],
                output: vec![],
                scored: vec![y(), p(), ("yhat", ints(&[0, 1, 0, 0]))],
                want: Want::Spec(ProblemType::Binary, Some("p"), Some("yhat"), &[]),
            },
            Case {
                name: "usual names found",
                req: req(Some("y")),
                input: vec![],
                output: vec![],
                // A text column named like a probability does not count.
                scored: vec![
                    y(),
                    ("probability", texts(&["a", "b", "c", "d"])),
                    ("score", floats(&[0.1, 0.9, 0.6, 0.4])),
                    ("pred", ints(&[0, 1, 1, 0])),
                ],
                want: Want::Spec(ProblemType::Binary, Some("score"), None, &[]),
            },
            Case {
                name: "a usual prediction name alone",
                req: req(Some("y")),
                input: vec![],
                output: vec![],
                scored: vec![y(), ("predicted_label", ints(&[0, 1, 1, 0]))],
                want: Want::Spec(ProblemType::Binary, None, Some("predicted_label"), &[]),
            },
            Case {
                name: "nothing found",
                req: req(Some("y")),
                input: vec![],
                output: vec![],
                scored: vec![
                    ("_record", ints(&[1, 2, 3, 4])),
                    y(),
                    ("out", floats(&[0.1, 0.9, 0.6, 0.4])),
                ],
                want: Want::SpecErr(
                    |e| matches!(e, Error::InvalidArgument(m) if !m.contains("_record")),
                    "the columns are y, out); set `probability` or `prediction`",
                ),
            },
            Case {
                name: "missing label",
                req: RoleRequest {
                    probability: Some("p".into()),
                    ..req(None)
                },
                input: vec![hint("y", Some("score"), false, false)],
                output: vec![hint("p", Some("score"), false, true)],
                scored: vec![],
                want: Want::ResolveErr(|e| matches!(e, Error::MissingLabel), "`label`"),
            },
            Case {
                name: "protected from the input schema",
                req: req(Some("y")),
                input: vec![
                    hint("g", None, true, false),
                    hint("h", Some("label"), true, false),
                ],
                output: vec![hint("p", Some("score"), false, true)],
                scored: vec![
                    y(),
                    p(),
                    ("g", texts(&["a", "b", "a", "b"])),
                    ("h", texts(&["a", "a", "a", "b"])),
                ],
                want: Want::Spec(ProblemType::Binary, Some("p"), None, &["g", "h"]),
            },
            Case {
                name: "multiclass inferred from the label",
                req: req(Some("y")),
                input: vec![],
                output: vec![],
                scored: vec![
                    ("y", ints(&[0, 1, 2, 1])),
                    ("prediction", ints(&[0, 2, 2, 1])),
                ],
                want: Want::Spec(ProblemType::Multiclass, None, Some("prediction"), &[]),
            },
            Case {
                name: "regression inferred from the label",
                req: req(Some("y")),
                input: vec![],
                output: vec![],
                scored: vec![
                    ("y", floats(&[0.5, 1.0, 2.25, 1.0])),
                    ("prediction", floats(&[0.4, 1.1, 2.0, 1.0])),
                ],
                want: Want::Spec(ProblemType::Regression, None, Some("prediction"), &[]),
            },
            Case {
                name: "the requested problem type wins, and drops the probability",
                req: RoleRequest {
                    problem_type: Some(ProblemType::Multiclass),
                    probability: Some("p".into()),
                    prediction: Some("yhat".into()),
                    ..req(Some("y"))
                },
                input: vec![],
                output: vec![],
                scored: vec![y(), p(), ("yhat", ints(&[0, 1, 0, 0]))],
                want: Want::Spec(ProblemType::Multiclass, None, Some("yhat"), &[]),
            },
            Case {
                name: "subsamples out of range",
                req: RoleRequest {
                    subsamples: Some(9),
                    ..req(Some("y"))
                },
                input: vec![],
                output: vec![],
                scored: vec![],
                want: Want::ResolveErr(
                    |e| matches!(e, Error::InvalidArgument(_)),
                    "`subsamples` is 9; it can be at most 8",
                ),
            },
            Case {
                name: "non-finite threshold",
                req: RoleRequest {
                    threshold: Some(f64::INFINITY),
                    ..req(Some("y"))
                },
                input: vec![],
                output: vec![],
                scored: vec![],
                want: Want::ResolveErr(
                    |e| matches!(e, Error::InvalidArgument(_)),
                    "`threshold` must be a number",
                ),
            },
        ]
    }

    #[test]
    fn roles_resolve_as_the_table_says() {
        for case in cases() {
            let name = case.name;
            let roles = resolve(&case.req, &case.input, &case.output);
            let roles = match (&case.want, roles) {
                (Want::ResolveErr(kind, text), Err(e)) => {
                    assert!(kind(&e), "{name}: {e:?}");
                    assert!(e.to_string().contains(text), "{name}: {e}");
                    assert!(!e.to_string().contains("--"), "{name}: {e}");
                    continue;
                }
                (Want::ResolveErr(..), Ok(r)) => panic!("{name}: resolved to {r:?}"),
                (_, Err(e)) => panic!("{name}: {e}"),
                (_, Ok(r)) => r,
            };
            let batch = RecordBatch::try_from_iter(case.scored).unwrap();
            match (&case.want, roles.spec(&[batch])) {
                (Want::SpecErr(kind, text), Err(e)) => {
                    assert!(kind(&e), "{name}: {e:?}");
                    assert!(e.to_string().contains(text), "{name}: {e}");
                }
                (Want::Spec(pt, probability, prediction, protected), Ok(spec)) => {
                    assert_eq!(spec.problem_type, *pt, "{name}");
                    assert_eq!(spec.probability.as_deref(), *probability, "{name}");
                    assert_eq!(spec.prediction.as_deref(), *prediction, "{name}");
                    assert_eq!(spec.protected, *protected, "{name}");
                    spec.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
                }
                (_, got) => panic!("{name}: {got:?}"),
            }
        }
    }

    #[test]
    fn settings_reach_the_spec_and_carried_columns_are_label_then_protected() {
        let mut groups = BTreeMap::new();
        groups.insert("g".to_string(), "a".to_string());
        let req = RoleRequest {
            label: Some("y".into()),
            probability: Some("p".into()),
            threshold: Some(0.3),
            positive_label: Some("1".into()),
            protected: vec!["g".into(), "y".into(), "g".into()],
            reference_groups: groups.clone(),
            seed: Some(7),
            curve_points: Some(10),
            subsamples: Some(0),
            ..RoleRequest::default()
        };
        assert!(!req.is_empty());
        assert!(RoleRequest::default().is_empty());
        let roles = resolve(&req, &[], &[]).unwrap();
        assert_eq!(roles.carried_columns(), ["y", "g"]);
        // Explicit roles need no rows to settle the spec.
        let spec = roles.spec(&[]).unwrap();
        assert_eq!(spec.threshold, 0.3);
        assert_eq!(spec.positive_label.as_deref(), Some("1"));
        assert_eq!(spec.reference_groups, groups);
        assert_eq!(spec.uncertainty.seed, 7);
        assert_eq!(spec.uncertainty.subsamples, 0);
        assert_eq!(spec.curve_points, 10);

        let defaults = resolve(
            &RoleRequest {
                label: Some("y".into()),
                ..RoleRequest::default()
            },
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(
            (
                defaults.threshold,
                defaults.seed,
                defaults.curve_points,
                defaults.subsamples
            ),
            (0.5, 0, 1000, 5)
        );
        // Looking for the usual names needs rows.
        assert!(matches!(defaults.spec(&[]), Err(Error::EmptyInput(_))));
    }
}
