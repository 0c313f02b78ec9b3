//! What a metrics document is computed over: the kind of model
//! ([`ProblemType`]) and which column plays which role ([`Spec`]).

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::{Error, Result, Uncertainty};

/// The kind of model a metrics document is for, with SageMaker's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    /// Two classes; SageMaker's `BinaryClassification`.
    Binary,
    /// More than two classes; SageMaker's `MulticlassClassification`.
    Multiclass,
    /// A number; SageMaker's `Regression`.
    Regression,
}

impl ProblemType {
    /// SageMaker's name, such as `BinaryClassification`.
    pub fn sagemaker_name(self) -> &'static str {
        match self {
            ProblemType::Binary => "BinaryClassification",
            ProblemType::Multiclass => "MulticlassClassification",
            ProblemType::Regression => "Regression",
        }
    }

    /// The top key of the metrics in SageMaker's statistics document.
    pub fn metrics_key(self) -> &'static str {
        match self {
            ProblemType::Binary => "binary_classification_metrics",
            ProblemType::Multiclass => "multiclass_classification_metrics",
            ProblemType::Regression => "regression_metrics",
        }
    }
}

impl FromStr for ProblemType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let k: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match k.as_str() {
            "binary" | "binaryclassification" => Ok(ProblemType::Binary),
            "multiclass" | "multiclassclassification" => Ok(ProblemType::Multiclass),
            "regression" => Ok(ProblemType::Regression),
            _ => Err(Error::InvalidArgument(format!(
                "unknown problem type '{s}'; set `problem_type` to binary, multiclass or \
                 regression"
            ))),
        }
    }
}

impl std::fmt::Display for ProblemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProblemType::Binary => "binary",
            ProblemType::Multiclass => "multiclass",
            ProblemType::Regression => "regression",
        })
    }
}

/// Which columns play which role, and how to read them.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The kind of model.
    pub problem_type: ProblemType,
    /// The column with the actual value (the ground truth).
    pub label: String,
    /// The column with the probability of the positive class (binary only).
    pub probability: Option<String>,
    /// The column with the predicted label or value.
    pub prediction: Option<String>,
    /// A probability strictly above this predicts the positive class (the rule
    /// scikit-learn's `predict` and ModelOp's examples use).
    pub threshold: f64,
    /// The positive class; `None` means `1`, `true`, or the string `"1"`/`"true"`.
    pub positive_label: Option<String>,
    /// Columns holding protected attributes, for the fairness metrics.
    pub protected: Vec<String>,
    /// The reference group of a protected attribute; by default its largest group.
    pub reference_groups: BTreeMap<String, String>,
    /// How standard deviations are estimated.
    pub uncertainty: Uncertainty,
    /// Curves in the document keep at most this many points (0 keeps all).
    pub curve_points: usize,
}

/// The error for a binary problem without the model's output.
pub(crate) fn no_binary_output() -> Error {
    Error::InvalidArgument(
        "binary metrics need the model's output: set `probability` (with `threshold`) or \
         `prediction`"
            .into(),
    )
}

impl Spec {
    /// A spec with the defaults: threshold 0.5, SageMaker's uncertainty, 1000-point curves.
    pub fn new(problem_type: ProblemType, label: impl Into<String>) -> Self {
        Spec {
            problem_type,
            label: label.into(),
            probability: None,
            prediction: None,
            threshold: 0.5,
            positive_label: None,
            protected: Vec::new(),
            reference_groups: BTreeMap::new(),
            uncertainty: Uncertainty::default(),
            curve_points: 1000,
        }
    }

    /// Checks that the roles fit the problem type.
    pub fn validate(&self) -> Result<()> {
        match self.problem_type {
            ProblemType::Binary => {
                if self.probability.is_none() && self.prediction.is_none() {
                    return Err(no_binary_output());
                }
                if !(self.threshold.is_finite()) {
                    return Err(Error::InvalidArgument(format!(
                        "`threshold` must be a number, not {}",
                        self.threshold
                    )));
                }
            }
            ProblemType::Multiclass | ProblemType::Regression => {
                if self.prediction.is_none() {
                    return Err(Error::InvalidArgument(format!(
                        "{} metrics need the predicted {} column: set `prediction`",
                        self.problem_type,
                        if self.problem_type == ProblemType::Regression {
                            "value"
                        } else {
                            "label"
                        }
                    )));
                }
            }
        }
        crate::sample::check_subsamples(self.uncertainty.subsamples)
    }

    /// Every column the spec reads, without duplicates, label first.
    pub fn columns(&self) -> Vec<String> {
        let mut out = vec![self.label.clone()];
        for c in self
            .probability
            .iter()
            .chain(self.prediction.iter())
            .chain(self.protected.iter())
        {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_types_parse_in_every_spelling_and_refuse_others() {
        for (s, want) in [
            ("binary", ProblemType::Binary),
            ("BinaryClassification", ProblemType::Binary),
            ("multi-class", ProblemType::Multiclass),
            ("MulticlassClassification", ProblemType::Multiclass),
            ("Regression", ProblemType::Regression),
        ] {
            assert_eq!(s.parse::<ProblemType>().unwrap(), want, "{s}");
        }
        let e = "ranking".parse::<ProblemType>().unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert!(e.to_string().contains("`problem_type`"), "{e}");
    }

    #[test]
    fn roles_the_problem_needs_are_argument_errors_naming_fields() {
        let spec = Spec::new(ProblemType::Binary, "y");
        let e = spec.validate().unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert!(
            e.to_string().contains("`probability`") && e.to_string().contains("`prediction`"),
            "{e}"
        );
        let spec = Spec::new(ProblemType::Regression, "y");
        let e = spec.validate().unwrap_err().to_string();
        assert!(e.contains("`prediction`") && !e.contains("--"), "{e}");
        let mut spec = Spec::new(ProblemType::Binary, "y");
        spec.probability = Some("p".into());
        spec.threshold = f64::NAN;
        assert!(matches!(spec.validate(), Err(Error::InvalidArgument(_))));
    }
}
