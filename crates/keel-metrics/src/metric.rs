//! The metrics a champion/challenger comparison can decide on: for each, the
//! problem types it applies to, its direction, whether it needs scores, and
//! the paired test that decides it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, ProblemType, Result};

/// A metric a comparison can decide on. Its spelling ([`Metric::as_str`]) is
/// its key in the metrics document and the value of a policy's `metric`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Area under the ROC curve (binary).
    Auc,
    /// The share of rows predicted right (binary and multiclass).
    Accuracy,
    /// Precision of the positive class (binary).
    Precision,
    /// Recall of the positive class (binary).
    Recall,
    /// F-beta with β = 0.5 (binary).
    F0_5,
    /// F1 (binary).
    F1,
    /// F-beta with β = 2 (binary).
    F2,
    /// True positives over actual positives (binary; the same as recall).
    TruePositiveRate,
    /// True negatives over actual negatives (binary).
    TrueNegativeRate,
    /// False positives over actual negatives (binary).
    FalsePositiveRate,
    /// False negatives over actual positives (binary).
    FalseNegativeRate,
    /// Cross-entropy of the probabilities (binary).
    LogLoss,
    /// Mean squared error of the probabilities (binary).
    BrierScore,
    /// Average precision of the scores (binary).
    AveragePrecision,
    /// Recall averaged over the classes, weighted by support (multiclass).
    WeightedRecall,
    /// Precision averaged over the classes, weighted by support (multiclass).
    WeightedPrecision,
    /// F-beta (β = 0.5) averaged over the classes, weighted by support (multiclass).
    WeightedF0_5,
    /// F1 averaged over the classes, weighted by support (multiclass).
    WeightedF1,
    /// F-beta (β = 2) averaged over the classes, weighted by support (multiclass).
    WeightedF2,
    /// Recall averaged over the classes (multiclass).
    MacroRecall,
    /// Precision averaged over the classes (multiclass).
    MacroPrecision,
    /// F-beta (β = 0.5) averaged over the classes (multiclass).
    MacroF0_5,
    /// F1 averaged over the classes (multiclass).
    MacroF1,
    /// F-beta (β = 2) averaged over the classes (multiclass).
    MacroF2,
    /// Mean absolute error (regression).
    Mae,
    /// Mean squared error (regression).
    Mse,
    /// Root mean squared error (regression).
    Rmse,
    /// The coefficient of determination (regression).
    R2,
    /// Mean absolute percentage error (regression).
    Mape,
    /// The largest absolute error (regression).
    MaxError,
}

/// The paired test that decides a comparison on a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairedTestKind {
    /// DeLong's test of two correlated AUCs.
    DeLong,
    /// McNemar's test of two paired accuracies.
    McNemar,
    /// The seeded paired bootstrap.
    Bootstrap,
}

impl PairedTestKind {
    /// The name a test result carries as its `method`: `delong`, `mcnemar`
    /// or `paired_bootstrap`.
    pub fn as_str(self) -> &'static str {
        match self {
            PairedTestKind::DeLong => "delong",
            PairedTestKind::McNemar => "mcnemar",
            PairedTestKind::Bootstrap => "paired_bootstrap",
        }
    }
}

impl fmt::Display for PairedTestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The binary problem type alone.
const BINARY: &[ProblemType] = &[ProblemType::Binary];
/// Both classification problem types.
const CLASSIFICATION: &[ProblemType] = &[ProblemType::Binary, ProblemType::Multiclass];
/// The multiclass problem type alone.
const MULTICLASS: &[ProblemType] = &[ProblemType::Multiclass];
/// The regression problem type alone.
const REGRESSION: &[ProblemType] = &[ProblemType::Regression];

impl Metric {
    /// Every metric, binary first, then multiclass, then regression.
    pub const ALL: [Metric; 30] = [
        Metric::Auc,
        Metric::Accuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::F0_5,
        Metric::F1,
        Metric::F2,
        Metric::TruePositiveRate,
        Metric::TrueNegativeRate,
        Metric::FalsePositiveRate,
        Metric::FalseNegativeRate,
        Metric::LogLoss,
        Metric::BrierScore,
        Metric::AveragePrecision,
        Metric::WeightedRecall,
        Metric::WeightedPrecision,
        Metric::WeightedF0_5,
        Metric::WeightedF1,
        Metric::WeightedF2,
        Metric::MacroRecall,
        Metric::MacroPrecision,
        Metric::MacroF0_5,
        Metric::MacroF1,
        Metric::MacroF2,
        Metric::Mae,
        Metric::Mse,
        Metric::Rmse,
        Metric::R2,
        Metric::Mape,
        Metric::MaxError,
    ];

    /// The metric's name, such as `f0_5` or `weighted_f1`: its key in the
    /// metrics document.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Auc => "auc",
            Metric::Accuracy => "accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::F0_5 => "f0_5",
            Metric::F1 => "f1",
            Metric::F2 => "f2",
            Metric::TruePositiveRate => "true_positive_rate",
            Metric::TrueNegativeRate => "true_negative_rate",
            Metric::FalsePositiveRate => "false_positive_rate",
            Metric::FalseNegativeRate => "false_negative_rate",
            Metric::LogLoss => "log_loss",
            Metric::BrierScore => "brier_score",
            Metric::AveragePrecision => "average_precision",
            Metric::WeightedRecall => "weighted_recall",
            Metric::WeightedPrecision => "weighted_precision",
            Metric::WeightedF0_5 => "weighted_f0_5",
            Metric::WeightedF1 => "weighted_f1",
            Metric::WeightedF2 => "weighted_f2",
            Metric::MacroRecall => "macro_recall",
            Metric::MacroPrecision => "macro_precision",
            Metric::MacroF0_5 => "macro_f0_5",
            Metric::MacroF1 => "macro_f1",
            Metric::MacroF2 => "macro_f2",
            Metric::Mae => "mae",
            Metric::Mse => "mse",
            Metric::Rmse => "rmse",
            Metric::R2 => "r2",
            Metric::Mape => "mape",
            Metric::MaxError => "max_error",
        }
    }

    /// The problem types the metric is defined for: `accuracy` for binary
    /// and multiclass, every other metric for exactly one.
    pub fn problem_types(self) -> &'static [ProblemType] {
        match self {
            Metric::Accuracy => CLASSIFICATION,
            Metric::Auc
            | Metric::Precision
            | Metric::Recall
            | Metric::F0_5
            | Metric::F1
            | Metric::F2
            | Metric::TruePositiveRate
            | Metric::TrueNegativeRate
            | Metric::FalsePositiveRate
            | Metric::FalseNegativeRate
            | Metric::LogLoss
            | Metric::BrierScore
            | Metric::AveragePrecision => BINARY,
            Metric::WeightedRecall
            | Metric::WeightedPrecision
            | Metric::WeightedF0_5
            | Metric::WeightedF1
            | Metric::WeightedF2
            | Metric::MacroRecall
            | Metric::MacroPrecision
            | Metric::MacroF0_5
            | Metric::MacroF1
            | Metric::MacroF2 => MULTICLASS,
            Metric::Mae
            | Metric::Mse
            | Metric::Rmse
            | Metric::R2
            | Metric::Mape
            | Metric::MaxError => REGRESSION,
        }
    }

    /// Whether the metric is defined for `problem_type`.
    pub fn applies_to(self, problem_type: ProblemType) -> bool {
        self.problem_types().contains(&problem_type)
    }

    /// Whether a larger value is better: false for the error metrics
    /// (`log_loss`, `brier_score`, `false_positive_rate`,
    /// `false_negative_rate`, `mae`, `mse`, `rmse`, `mape`, `max_error`),
    /// true for every other.
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Metric::LogLoss
                | Metric::BrierScore
                | Metric::FalsePositiveRate
                | Metric::FalseNegativeRate
                | Metric::Mae
                | Metric::Mse
                | Metric::Rmse
                | Metric::Mape
                | Metric::MaxError
        )
    }

    /// Whether the metric needs the models' scores: `log_loss`,
    /// `brier_score` and `average_precision` do. `auc` does not strictly:
    /// without scores it ranks the 0/1 predictions.
    pub fn needs_scores(self) -> bool {
        matches!(
            self,
            Metric::LogLoss | Metric::BrierScore | Metric::AveragePrecision
        )
    }

    /// The paired test that decides a comparison on the metric: DeLong for
    /// `auc`, McNemar for `accuracy`, the paired bootstrap for every other.
    pub fn paired_test(self) -> PairedTestKind {
        match self {
            Metric::Auc => PairedTestKind::DeLong,
            Metric::Accuracy => PairedTestKind::McNemar,
            _ => PairedTestKind::Bootstrap,
        }
    }

    /// The names of the metrics `keep` keeps, in [`Metric::ALL`]'s order,
    /// joined by commas: for messages that list the valid choices.
    pub(crate) fn names(keep: impl Fn(Metric) -> bool) -> String {
        Metric::ALL
            .into_iter()
            .filter(|&m| keep(m))
            .map(Metric::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromStr for Metric {
    type Err = Error;
    /// The metric of that exact name; an unknown name is an
    /// [`Error::InvalidArgument`] that lists the valid names.
    fn from_str(s: &str) -> Result<Self> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown metric '{s}'; set `metric` to one of: {}",
                    Metric::names(|_| true)
                ))
            })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_directions() {
        let higher = |name: &str| name.parse::<Metric>().ok().map(Metric::higher_is_better);
        assert_eq!(higher("auc"), Some(true));
        assert_eq!(higher("macro_f1"), Some(true));
        assert_eq!(higher("r2"), Some(true));
        assert_eq!(higher("log_loss"), Some(false));
        assert_eq!(higher("max_error"), Some(false));
        assert_eq!(higher("false_positive_rate"), Some(false));
        assert_eq!(higher("nope"), None);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_argument_errors() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>().unwrap(), m);
            assert_eq!(m.to_string(), m.as_str());
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<Metric>(&json).unwrap(), m);
            assert!(!m.problem_types().is_empty(), "{m}");
        }
        let e = "vibes".parse::<Metric>().unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("`metric`") && msg.contains("average_precision, weighted_recall"),
            "{msg}"
        );
        assert!("AUC".parse::<Metric>().is_err());
    }

    #[test]
    fn each_metric_knows_its_problem_type_scores_and_test() {
        assert!(Metric::Accuracy.applies_to(ProblemType::Binary));
        assert!(Metric::Accuracy.applies_to(ProblemType::Multiclass));
        assert!(!Metric::Accuracy.applies_to(ProblemType::Regression));
        assert!(Metric::Auc.applies_to(ProblemType::Binary));
        assert!(!Metric::Auc.applies_to(ProblemType::Multiclass));
        assert!(Metric::MacroF2.applies_to(ProblemType::Multiclass));
        assert!(Metric::Mape.applies_to(ProblemType::Regression));
        assert!(!Metric::Auc.needs_scores());
        let scored: Vec<Metric> = Metric::ALL
            .into_iter()
            .filter(|m| m.needs_scores())
            .collect();
        assert_eq!(
            scored,
            [
                Metric::LogLoss,
                Metric::BrierScore,
                Metric::AveragePrecision
            ]
        );
        assert_eq!(Metric::Auc.paired_test(), PairedTestKind::DeLong);
        assert_eq!(Metric::Accuracy.paired_test(), PairedTestKind::McNemar);
        assert_eq!(Metric::WeightedF1.paired_test(), PairedTestKind::Bootstrap);
        assert_eq!(PairedTestKind::Bootstrap.as_str(), "paired_bootstrap");
        assert_eq!(
            Metric::names(|m| m.applies_to(ProblemType::Regression)),
            "mae, mse, rmse, r2, mape, max_error"
        );
    }
}
