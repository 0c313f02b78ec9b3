//! Paired tests that decide whether a challenger model beats a champion on
//! the same rows: DeLong's test for AUC, McNemar's test for accuracy, and a
//! seeded paired bootstrap for every other metric.
//!
//! "Paired" matters: both models are scored on the same rows, so the test
//! works on the per-row differences, which is far more sensitive than
//! comparing two independent confidence intervals.
//!
//! The rooms: `delong` and `mcnemar` hold their tests; `bootstrap` draws the
//! resamples and reads the interval off their deltas; `pair_state` holds
//! each metric's running state of both models over a (re)sample. This module
//! picks the test from the [`Metric`] and draws the verdict.

mod bootstrap;
mod delong;
mod mcnemar;
mod pair_state;

use serde::Serialize;

pub use self::bootstrap::{paired_bootstrap, resample_index};
pub use self::delong::delong;
pub use self::mcnemar::mcnemar;
/// The decision of a comparison, shared with the rest of Keel.
pub use keel_types::Verdict;

use crate::metric::PairedTestKind;
use crate::{Error, Metric, ProblemType, Result};

/// The outcome of one paired test.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedTest {
    /// The metric compared.
    pub metric: Metric,
    /// How: `"delong"`, `"mcnemar"` or `"paired_bootstrap"`.
    pub method: String,
    /// The champion's metric on all rows.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub champion: f64,
    /// The challenger's metric on all rows.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub challenger: f64,
    /// `challenger − champion`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub delta: f64,
    /// The lower end of the confidence interval of `delta`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub ci_low: f64,
    /// The upper end of the confidence interval of `delta`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub ci_high: f64,
    /// The confidence level of the interval, e.g. 0.95.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub confidence: f64,
    /// The two-sided p-value of "no difference".
    #[serde(serialize_with = "crate::serialize_f64")]
    pub p_value: f64,
    /// The test statistic where there is one: DeLong's z, McNemar's
    /// chi-squared, or the smaller discordant count for exact McNemar.
    pub statistic: Option<f64>,
    /// The number of bootstrap resamples, for the bootstrap.
    pub resamples: Option<u32>,
    /// The rows compared.
    pub count: u64,
}

/// The predictions of both models on the same rows, with the truth.
#[derive(Clone, Copy, Debug)]
pub enum PairedData<'a> {
    /// A binary problem.
    Binary {
        /// The true labels.
        actual: &'a [bool],
        /// The champion's predicted labels.
        champion_predicted: &'a [bool],
        /// The challenger's predicted labels.
        challenger_predicted: &'a [bool],
        /// The champion's scores (probabilities of the positive class for
        /// `log_loss` and `brier_score`), if it has any.
        champion_score: Option<&'a [f64]>,
        /// The challenger's scores, if it has any.
        challenger_score: Option<&'a [f64]>,
    },
    /// A multiclass problem; classes are dense codes below `classes`.
    Multiclass {
        /// The true classes.
        actual: &'a [u32],
        /// The champion's predicted classes.
        champion: &'a [u32],
        /// The challenger's predicted classes.
        challenger: &'a [u32],
        /// The number of classes.
        classes: usize,
    },
    /// A regression problem.
    Regression {
        /// The true values.
        actual: &'a [f64],
        /// The champion's predictions.
        champion: &'a [f64],
        /// The challenger's predictions.
        challenger: &'a [f64],
    },
}

/// How a comparison decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// The smallest improvement that counts (in the metric's units, in the
    /// direction in which the metric improves). Default 0.
    pub min_delta: f64,
    /// The confidence level of the interval. Default 0.95.
    pub confidence: f64,
    /// Bootstrap resamples. Default 1000.
    pub resamples: u32,
    /// The seed of the bootstrap; the same seed gives the same resamples.
    pub seed: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_delta: 0.0,
            confidence: 0.95,
            resamples: 1000,
            seed: 0,
        }
    }
}

/// A paired test with the decision drawn from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The test.
    pub test: PairedTest,
    /// Whether a larger value of the metric is better.
    pub higher_is_better: bool,
    /// The policy's minimum improvement.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub min_delta: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// One sentence that explains the verdict with its numbers.
    pub reason: String,
}

/// Refuses a confidence level outside (0, 1).
fn check_confidence(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "compare: `confidence` must be strictly between 0 and 1, not {confidence}"
        )))
    }
}

/// Refuses columns whose lengths differ from the label's, and no rows.
fn check_lengths(what: &str, n: usize, others: &[(&str, usize)]) -> Result<()> {
    for &(name, len) in others {
        if len != n {
            return Err(Error::InvalidInput(format!(
                "compare: {what} has {n} rows but {name} has {len}"
            )));
        }
    }
    if n == 0 {
        return Err(Error::EmptyInput("compare: no rows".into()));
    }
    Ok(())
}

/// The lengths of a binary problem's columns, to check against the label's.
fn binary_lengths(
    champion_predicted: &[bool],
    challenger_predicted: &[bool],
    champion_score: Option<&[f64]>,
    challenger_score: Option<&[f64]>,
) -> Vec<(&'static str, usize)> {
    let mut lens = vec![
        ("the champion's predictions", champion_predicted.len()),
        ("the challenger's predictions", challenger_predicted.len()),
    ];
    if let Some(s) = champion_score {
        lens.push(("the champion's scores", s.len()));
    }
    if let Some(s) = challenger_score {
        lens.push(("the challenger's scores", s.len()));
    }
    lens
}

/// Compares champion and challenger on `metric` and decides by `policy`.
///
/// The test is the metric's [`Metric::paired_test`]: `auc` uses [`delong`]
/// (on the scores, or on the 0/1 predictions of a model without scores);
/// `accuracy` uses [`mcnemar`]; every other metric uses
/// [`paired_bootstrap`]. Metric values follow scikit-learn's definitions
/// with `zero_division=0`.
///
/// The verdict: the improvement is `delta` when higher is better and
/// `−delta` otherwise, and its interval likewise. `ChallengerBetter` when the
/// improvement's lower bound exceeds `min_delta` (for McNemar the p-value
/// must also be below `1 − confidence`), `NotBetter` when its upper bound is
/// below `min_delta`, `Inconclusive` otherwise, including when the test is
/// undefined (NaN, e.g. AUC with one class).
///
/// Errors: [`Error::InvalidInput`] for a metric the data cannot support (one
/// of another problem type, or one that needs scores the models lack; the
/// message lists the valid names), columns of different lengths, a class
/// code out of range, a probability outside [0, 1] for `log_loss` or
/// `brier_score`, or zero resamples; [`Error::InvalidArgument`] for a
/// confidence outside (0, 1); [`Error::EmptyInput`] when there are no rows.
pub fn compare(data: &PairedData, metric: Metric, policy: &Policy) -> Result<Decision> {
    check_confidence(policy.confidence)?;
    let conf = policy.confidence;
    let by_bootstrap = || paired_bootstrap(data, metric, conf, policy.resamples, policy.seed);
    let test = match *data {
        PairedData::Binary {
            actual,
            champion_predicted,
            challenger_predicted,
            champion_score,
            challenger_score,
        } => {
            let lens = binary_lengths(
                champion_predicted,
                challenger_predicted,
                champion_score,
                challenger_score,
            );
            check_lengths("the label", actual.len(), &lens)?;
            if !metric.applies_to(ProblemType::Binary) {
                return Err(not_for(metric, ProblemType::Binary));
            }
            match metric.paired_test() {
                PairedTestKind::DeLong => {
                    let as_scores = |s: Option<&[f64]>, p: &[bool]| -> Vec<f64> {
                        match s {
                            Some(s) => s.to_vec(),
                            None => p.iter().map(|&b| f64::from(u8::from(b))).collect(),
                        }
                    };
                    let s1 = as_scores(champion_score, champion_predicted);
                    let s2 = as_scores(challenger_score, challenger_predicted);
                    delong(actual, &s1, &s2, conf)?
                }
                PairedTestKind::McNemar => {
                    let c1: Vec<bool> = actual
                        .iter()
                        .zip(champion_predicted)
                        .map(|(a, p)| a == p)
                        .collect();
                    let c2: Vec<bool> = actual
                        .iter()
                        .zip(challenger_predicted)
                        .map(|(a, p)| a == p)
                        .collect();
                    mcnemar(&c1, &c2, conf)?
                }
                PairedTestKind::Bootstrap => {
                    if metric.needs_scores()
                        && (champion_score.is_none() || challenger_score.is_none())
                    {
                        return Err(Error::InvalidInput(format!(
                            "compare: {metric} needs scores from both models; without them the \
                             valid metrics are: {}",
                            Metric::names(
                                |m| m.applies_to(ProblemType::Binary) && !m.needs_scores()
                            )
                        )));
                    }
                    by_bootstrap()?
                }
            }
        }
        PairedData::Multiclass {
            actual,
            champion,
            challenger,
            ..
        } => {
            check_lengths(
                "the label",
                actual.len(),
                &[
                    ("the champion", champion.len()),
                    ("the challenger", challenger.len()),
                ],
            )?;
            if !metric.applies_to(ProblemType::Multiclass) {
                return Err(not_for(metric, ProblemType::Multiclass));
            }
            match metric.paired_test() {
                PairedTestKind::McNemar => {
                    let c1: Vec<bool> = actual.iter().zip(champion).map(|(a, p)| a == p).collect();
                    let c2: Vec<bool> =
                        actual.iter().zip(challenger).map(|(a, p)| a == p).collect();
                    mcnemar(&c1, &c2, conf)?
                }
                // No multiclass metric is decided by DeLong; the bootstrap
                // refuses any metric it does not know.
                PairedTestKind::DeLong | PairedTestKind::Bootstrap => by_bootstrap()?,
            }
        }
        PairedData::Regression { .. } => {
            if !metric.applies_to(ProblemType::Regression) {
                return Err(not_for(metric, ProblemType::Regression));
            }
            by_bootstrap()?
        }
    };
    Ok(decide(test, metric.higher_is_better(), policy.min_delta))
}

/// The error for a metric that does not apply to the data's problem type,
/// listing the metrics that do.
fn not_for(metric: Metric, problem_type: ProblemType) -> Error {
    Error::InvalidInput(format!(
        "compare: {metric} is not a metric for {problem_type} data; set `metric` to one of: {}",
        Metric::names(|m| m.applies_to(problem_type))
    ))
}

/// Draws the verdict from a test.
fn decide(test: PairedTest, higher: bool, min_delta: f64) -> Decision {
    let (imp, lo, hi) = if higher {
        (test.delta, test.ci_low, test.ci_high)
    } else {
        (-test.delta, -test.ci_high, -test.ci_low)
    };
    let alpha = 1.0 - test.confidence;
    let pct = (test.confidence * 100.0 * 1e6).round() / 1e6;
    let detail = format!(
        "{} changes by {:.6} (challenger {:.6}, champion {:.6}); the {pct}% interval of the \
         improvement is [{lo:.6}, {hi:.6}] against a minimum of {min_delta}, p = {:.4e} ({})",
        test.metric, test.delta, test.challenger, test.champion, test.p_value, test.method
    );
    let (verdict, reason) = if lo > min_delta
        && (test.method != PairedTestKind::McNemar.as_str() || test.p_value < alpha)
    {
        (
            Verdict::ChallengerBetter,
            format!("The challenger is better: {detail}."),
        )
    } else if hi < min_delta {
        (
            Verdict::NotBetter,
            format!("The challenger is not better: {detail}."),
        )
    } else if imp.is_nan() || lo.is_nan() || hi.is_nan() {
        (
            Verdict::Inconclusive,
            format!("The test is undefined for this data: {detail}."),
        )
    } else {
        (
            Verdict::Inconclusive,
            format!("The difference is inconclusive: {detail}."),
        )
    };
    Decision {
        test,
        higher_is_better: higher,
        min_delta,
        verdict,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clearly_better_challenger_wins_and_a_worse_one_loses() {
        let n = 400;
        let actual: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
        let good: Vec<f64> = actual
            .iter()
            .enumerate()
            .map(|(i, y)| y + ((i % 7) as f64 - 3.0) * 0.1)
            .collect();
        let bad: Vec<f64> = actual
            .iter()
            .enumerate()
            .map(|(i, y)| y + ((i % 5) as f64 - 2.0) * 2.0)
            .collect();
        let policy = Policy {
            resamples: 200,
            ..Policy::default()
        };
        let data = PairedData::Regression {
            actual: &actual,
            champion: &bad,
            challenger: &good,
        };
        let d = compare(&data, Metric::Mae, &policy).unwrap();
        assert_eq!(d.verdict, Verdict::ChallengerBetter, "{}", d.reason);
        assert!(!d.higher_is_better);
        let data = PairedData::Regression {
            actual: &actual,
            champion: &good,
            challenger: &bad,
        };
        let d = compare(&data, Metric::R2, &policy).unwrap();
        assert_eq!(d.verdict, Verdict::NotBetter, "{}", d.reason);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["verdict"], "not_better");
    }

    #[test]
    fn bad_requests_are_errors() {
        let y = [true, false];
        let p = [true, true];
        let data = PairedData::Binary {
            actual: &y,
            champion_predicted: &p,
            challenger_predicted: &p,
            champion_score: None,
            challenger_score: None,
        };
        let e = compare(&data, Metric::LogLoss, &Policy::default()).unwrap_err();
        assert!(e.to_string().contains("f1"), "{e}");
        let e = compare(&data, Metric::Mae, &Policy::default()).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)));
        let short = PairedData::Binary {
            actual: &y,
            champion_predicted: &p[..1],
            challenger_predicted: &p,
            champion_score: None,
            challenger_score: None,
        };
        assert!(matches!(
            compare(&short, Metric::F1, &Policy::default()),
            Err(Error::InvalidInput(_))
        ));
        let empty = PairedData::Regression {
            actual: &[],
            champion: &[],
            challenger: &[],
        };
        assert!(matches!(
            compare(&empty, Metric::Mae, &Policy::default()),
            Err(Error::EmptyInput(_))
        ));
        let mc = PairedData::Multiclass {
            actual: &[0, 3],
            champion: &[0, 1],
            challenger: &[0, 1],
            classes: 3,
        };
        assert!(matches!(
            compare(&mc, Metric::MacroF1, &Policy::default()),
            Err(Error::InvalidInput(_))
        ));
        let zero = Policy {
            resamples: 0,
            ..Policy::default()
        };
        let r = PairedData::Regression {
            actual: &[1.0],
            champion: &[1.0],
            challenger: &[2.0],
        };
        assert!(matches!(
            compare(&r, Metric::Mae, &zero),
            Err(Error::InvalidInput(_))
        ));
    }
}
