//! Paired tests that decide whether a challenger model beats a champion on
//! the same rows: DeLong's test for AUC, McNemar's test for accuracy, and a
//! seeded paired bootstrap for every other metric.
//!
//! "Paired" matters: both models are scored on the same rows, so the test
//! works on the per-row differences, which is far more sensitive than
//! comparing two independent confidence intervals.

use serde::Serialize;

use crate::par::{self, PARALLEL_MIN};
use crate::regression::Sum;
use crate::sample::mix;
use crate::special::{chi2_sf, normal_ppf, normal_sf};
use crate::{Error, Result, sort};

/// The golden-ratio increment of splitmix64, which spreads resample numbers
/// over the seed space.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The outcome of one paired test.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedTest {
    /// The metric compared.
    pub metric: String,
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

/// The decision of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The whole confidence interval of the improvement lies above
    /// `min_delta`.
    ChallengerBetter,
    /// The whole confidence interval of the improvement lies below
    /// `min_delta`.
    NotBetter,
    /// The interval straddles `min_delta`, or the test is undefined.
    Inconclusive,
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

/// Binary metrics decided by the paired bootstrap.
const BINARY_BOOTSTRAP: [&str; 12] = [
    "precision",
    "recall",
    "f0_5",
    "f1",
    "f2",
    "true_positive_rate",
    "true_negative_rate",
    "false_positive_rate",
    "false_negative_rate",
    "log_loss",
    "brier_score",
    "average_precision",
];
/// Multiclass metrics decided by the paired bootstrap.
const MULTICLASS_BOOTSTRAP: [&str; 10] = [
    "weighted_recall",
    "weighted_precision",
    "weighted_f0_5",
    "weighted_f1",
    "weighted_f2",
    "macro_recall",
    "macro_precision",
    "macro_f0_5",
    "macro_f1",
    "macro_f2",
];
/// Regression metrics, all decided by the paired bootstrap.
const REGRESSION: [&str; 6] = ["mae", "mse", "rmse", "r2", "mape", "max_error"];

/// Whether a larger value of `metric` is better: `Some(false)` for the error
/// metrics (log_loss, brier_score, false_positive_rate, false_negative_rate,
/// mae, mse, rmse, mape, max_error), `Some(true)` for every other metric
/// [`compare`] knows, `None` for an unknown name.
pub fn higher_is_better(metric: &str) -> Option<bool> {
    match metric {
        "log_loss"
        | "brier_score"
        | "false_positive_rate"
        | "false_negative_rate"
        | "mae"
        | "mse"
        | "rmse"
        | "mape"
        | "max_error" => Some(false),
        "auc" | "accuracy" | "r2" => Some(true),
        m if BINARY_BOOTSTRAP.contains(&m) || MULTICLASS_BOOTSTRAP.contains(&m) => Some(true),
        _ => None,
    }
}

fn check_confidence(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "compare: confidence must be strictly between 0 and 1, not {confidence}"
        )))
    }
}

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

/// Compares champion and challenger on `metric` and decides by `policy`.
///
/// The test depends on the metric: `auc` uses [`delong`] (on the scores, or
/// on the 0/1 predictions of a model without scores); `accuracy` uses
/// [`mcnemar`]; every other metric uses [`paired_bootstrap`]. Metric values
/// follow scikit-learn's definitions with `zero_division=0`.
///
/// The verdict: the improvement is `delta` when higher is better and
/// `−delta` otherwise, and its interval likewise. `ChallengerBetter` when the
/// improvement's lower bound exceeds `min_delta` (for McNemar the p-value
/// must also be below `1 − confidence`), `NotBetter` when its upper bound is
/// below `min_delta`, `Inconclusive` otherwise, including when the test is
/// undefined (NaN, e.g. AUC with one class).
///
/// Errors: [`Error::InvalidInput`] for an unknown metric or one the data
/// cannot support (the message lists the valid names), columns of different
/// lengths, a class code out of range, a probability outside [0, 1] for
/// `log_loss` or `brier_score`, a confidence outside (0, 1) or zero
/// resamples; [`Error::EmptyInput`] when there are no rows.
pub fn compare(data: &PairedData, metric: &str, policy: &Policy) -> Result<Decision> {
    check_confidence(policy.confidence)?;
    let conf = policy.confidence;
    let test = match *data {
        PairedData::Binary {
            actual,
            champion_predicted,
            challenger_predicted,
            champion_score,
            challenger_score,
        } => {
            let n = actual.len();
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
            check_lengths("the label", n, &lens)?;
            match metric {
                "auc" => {
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
                "accuracy" => {
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
                "log_loss" | "brier_score" | "average_precision" => {
                    if champion_score.is_none() || challenger_score.is_none() {
                        return Err(Error::InvalidInput(format!(
                            "compare: {metric} needs scores from both models; without them the \
                             valid metrics are: auc, accuracy, {}",
                            BINARY_BOOTSTRAP[..9].join(", ")
                        )));
                    }
                    paired_bootstrap(data, metric, conf, policy.resamples, policy.seed)?
                }
                m if BINARY_BOOTSTRAP.contains(&m) => {
                    paired_bootstrap(data, metric, conf, policy.resamples, policy.seed)?
                }
                _ => {
                    return Err(unknown(
                        metric,
                        "binary",
                        &[&["auc", "accuracy"], &BINARY_BOOTSTRAP],
                    ));
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
            match metric {
                "accuracy" => {
                    let c1: Vec<bool> = actual.iter().zip(champion).map(|(a, p)| a == p).collect();
                    let c2: Vec<bool> =
                        actual.iter().zip(challenger).map(|(a, p)| a == p).collect();
                    mcnemar(&c1, &c2, conf)?
                }
                m if MULTICLASS_BOOTSTRAP.contains(&m) => {
                    paired_bootstrap(data, metric, conf, policy.resamples, policy.seed)?
                }
                _ => {
                    return Err(unknown(
                        metric,
                        "multiclass",
                        &[&["accuracy"], &MULTICLASS_BOOTSTRAP],
                    ));
                }
            }
        }
        PairedData::Regression { .. } => {
            if !REGRESSION.contains(&metric) {
                return Err(unknown(metric, "regression", &[&REGRESSION]));
            }
            paired_bootstrap(data, metric, conf, policy.resamples, policy.seed)?
        }
    };
    let higher = higher_is_better(metric).unwrap_or(true);
    Ok(decide(test, higher, policy.min_delta))
}

fn unknown(metric: &str, kind: &str, lists: &[&[&str]]) -> Error {
    let names: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    Error::InvalidInput(format!(
        "compare: unknown metric {metric:?} for {kind} data; valid metrics are: {}",
        names.join(", ")
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
    let (verdict, reason) = if lo > min_delta && (test.method != "mcnemar" || test.p_value < alpha)
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

/// DeLong's test of two correlated AUCs (DeLong, DeLong & Clarke-Pearson
/// 1988) in the fast midrank form of Sun & Xu (2014).
///
/// Each positive row gets the share of negatives scored below it (ties count
/// half) and each negative row the share of positives scored above it; the
/// AUC is the mean of either. The variance of the AUC difference is
/// `var(V10₁ − V10₂)/m + var(V01₁ − V01₂)/n` over the m positives and n
/// negatives (sample variances), which is `l S lᵀ` of the usual covariance
/// form. `z = delta / se`, the p-value is two-sided from the normal
/// distribution, and the interval is `delta ± Φ⁻¹((1 + confidence)/2) · se`.
///
/// With a single class the AUCs are undefined and every number is NaN; with
/// one positive or one negative the variance is NaN. When the variance is 0
/// (the models rank every pair alike) the interval is the point `delta` and
/// the p-value is 1 if `delta` is 0, else 0.
///
/// Errors: [`Error::InvalidInput`] for columns of different lengths, a NaN
/// score, more than 2³² rows, or a confidence outside (0, 1);
/// [`Error::EmptyInput`] for no rows.
pub fn delong(
    actual: &[bool],
    champion: &[f64],
    challenger: &[f64],
    confidence: f64,
) -> Result<PairedTest> {
    check_confidence(confidence)?;
    check_lengths(
        "the label",
        actual.len(),
        &[
            ("the champion's scores", champion.len()),
            ("the challenger's scores", challenger.len()),
        ],
    )?;
    if champion.iter().chain(challenger).any(|x| x.is_nan()) {
        return Err(Error::InvalidInput("compare: a score is NaN".into()));
    }
    if actual.len() > u32::MAX as usize {
        return Err(Error::InvalidInput(
            "compare: DeLong supports at most 2^32 rows".into(),
        ));
    }
    let n = actual.len();
    let pos = actual.iter().filter(|&&a| a).count();
    let neg = n - pos;
    let mut test = PairedTest {
        metric: "auc".into(),
        method: "delong".into(),
        champion: f64::NAN,
        challenger: f64::NAN,
        delta: f64::NAN,
        ci_low: f64::NAN,
        ci_high: f64::NAN,
        confidence,
        p_value: f64::NAN,
        statistic: None,
        resamples: None,
        count: n as u64,
    };
    if pos == 0 || neg == 0 {
        return Ok(test);
    }
    let v1 = structural_components(actual, champion, pos, neg);
    let v2 = structural_components(actual, challenger, pos, neg);
    let (mut a1, mut a2) = (0.0, 0.0);
    for ((&a, &x), &y) in actual.iter().zip(&v1).zip(&v2) {
        if a {
            a1 += x;
            a2 += y;
        }
    }
    let (auc1, auc2) = (a1 / pos as f64, a2 / pos as f64);
    let delta = auc2 - auc1;
    // Sample variances of the per-row differences, by class.
    let (mut mean_p, mut mean_n) = (0.0, 0.0);
    for ((&a, &x), &y) in actual.iter().zip(&v1).zip(&v2) {
        if a {
            mean_p += x - y;
        } else {
            mean_n += x - y;
        }
    }
    mean_p /= pos as f64;
    mean_n /= neg as f64;
    let (mut ss_p, mut ss_n) = (0.0, 0.0);
    for ((&a, &x), &y) in actual.iter().zip(&v1).zip(&v2) {
        if a {
            ss_p += (x - y - mean_p).powi(2);
        } else {
            ss_n += (x - y - mean_n).powi(2);
        }
    }
    let var = if pos < 2 || neg < 2 {
        f64::NAN
    } else {
        ss_p / (pos - 1) as f64 / pos as f64 + ss_n / (neg - 1) as f64 / neg as f64
    };
    let se = var.sqrt();
    let zc = normal_ppf((1.0 + confidence) / 2.0);
    let (z, p) = if se == 0.0 {
        if delta == 0.0 {
            (0.0, 1.0)
        } else {
            (delta.signum() * f64::INFINITY, 0.0)
        }
    } else {
        let z = delta / se;
        (z, (2.0 * normal_sf(z.abs())).min(1.0))
    };
    test.champion = auc1;
    test.challenger = auc2;
    test.delta = delta;
    test.ci_low = delta - zc * se;
    test.ci_high = delta + zc * se;
    test.p_value = p;
    test.statistic = Some(z);
    Ok(test)
}

/// Per row: for a positive, the share of negatives scored below it; for a
/// negative, the share of positives scored above it (ties count half). One
/// sort of the scores with the row number as payload.
fn structural_components(actual: &[bool], scores: &[f64], pos: usize, neg: usize) -> Vec<f64> {
    let n = scores.len();
    let mut pairs: Vec<(u64, u32)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (sort::key(s), i as u32))
        .collect();
    sort::sort_pairs(&mut pairs, crate::par::available_threads());
    let mut v = vec![0.0; n];
    let (m, nn) = (pos as f64, neg as f64);
    let (mut pos_before, mut neg_before) = (0usize, 0usize);
    let mut start = 0;
    while start < n {
        let mut end = start;
        let (mut p, mut q) = (0usize, 0usize);
        while end < n && pairs[end].0 == pairs[start].0 {
            if actual[pairs[end].1 as usize] {
                p += 1;
            } else {
                q += 1;
            }
            end += 1;
        }
        let v10 = (neg_before as f64 + 0.5 * q as f64) / nn;
        let v01 = 1.0 - (pos_before as f64 + 0.5 * p as f64) / m;
        for &(_, r) in &pairs[start..end] {
            v[r as usize] = if actual[r as usize] { v10 } else { v01 };
        }
        pos_before += p;
        neg_before += q;
        start = end;
    }
    v
}

/// McNemar's test of two paired accuracies.
///
/// With `b` the rows only the champion gets right and `c` the rows only the
/// challenger gets right: when `b + c < 25` the p-value is the exact
/// two-sided binomial one, `min(1, 2 · Pr(Bin(b + c, 1/2) <= min(b, c)))`, and
/// the statistic is `min(b, c)`; otherwise the statistic is the
/// continuity-corrected `(|b − c| − 1)² / (b + c)` with a chi-squared(1)
/// p-value. That is the choice statsmodels' `mcnemar` makes
/// (`exact=True` below 25 discordant pairs), and the formulas are its own.
/// The interval is the Wald interval of the paired difference of
/// proportions, `(c − b)/n ± z · sqrt(b + c − (c − b)²/n) / n`.
///
/// With no discordant pairs the p-value is 1 and the interval the point 0.
///
/// Errors: [`Error::InvalidInput`] for columns of different lengths or a
/// confidence outside (0, 1); [`Error::EmptyInput`] for no rows.
pub fn mcnemar(
    champion_correct: &[bool],
    challenger_correct: &[bool],
    confidence: f64,
) -> Result<PairedTest> {
    check_confidence(confidence)?;
    check_lengths(
        "the champion",
        champion_correct.len(),
        &[("the challenger", challenger_correct.len())],
    )?;
    let n = champion_correct.len();
    let (mut right1, mut right2, mut b, mut c) = (0u64, 0u64, 0u64, 0u64);
    for (&x, &y) in champion_correct.iter().zip(challenger_correct) {
        right1 += u64::from(x);
        right2 += u64::from(y);
        b += u64::from(x && !y);
        c += u64::from(!x && y);
    }
    let nf = n as f64;
    let (bf, cf) = (b as f64, c as f64);
    let delta = (cf - bf) / nf;
    let se = (bf + cf - (cf - bf).powi(2) / nf).max(0.0).sqrt() / nf;
    let zc = normal_ppf((1.0 + confidence) / 2.0);
    let (statistic, p_value) = if b + c < 25 {
        let k = b.min(c);
        let total = b + c;
        // Exact: the binomial coefficients of fewer than 25 trials are exact
        // in f64, and so is the power of two.
        let mut coef = 1.0f64;
        let mut cdf = 0.0f64;
        for i in 0..=k {
            if i > 0 {
                coef = coef * (total - i + 1) as f64 / i as f64;
            }
            cdf += coef;
        }
        let p = (2.0 * cdf / 2f64.powi(total as i32)).min(1.0);
        (k as f64, p)
    } else {
        let stat = ((bf - cf).abs() - 1.0).powi(2) / (bf + cf);
        (stat, chi2_sf(stat, 1.0))
    };
    Ok(PairedTest {
        metric: "accuracy".into(),
        method: "mcnemar".into(),
        champion: right1 as f64 / nf,
        challenger: right2 as f64 / nf,
        delta,
        ci_low: delta - zc * se,
        ci_high: delta + zc * se,
        confidence,
        p_value,
        statistic: Some(statistic),
        resamples: None,
        count: n as u64,
    })
}

/// The row index of draw `j` of resample `r`:
/// `(mix(mix(seed ^ (r + 1)·φ) ^ j) · n) >> 64`, where φ is splitmix64's
/// golden-ratio constant. It is stateless, so any draw can be recomputed on
/// its own, and Python can replicate it with integers.
#[inline]
pub fn resample_index(seed: u64, r: u32, j: u64, n: u64) -> u64 {
    let base = mix(seed ^ (r as u64 + 1).wrapping_mul(GOLDEN));
    ((mix(base ^ j) as u128 * n as u128) >> 64) as u64
}

/// A metric of both models, accumulated row by row over a (re)sample.
trait PairState {
    /// Forgets every row added so far.
    fn reset(&mut self);
    /// Adds row `i` with weight `w`, the number of times it was drawn (0
    /// must leave the state unchanged).
    fn add(&mut self, i: usize, w: u32);
    /// The metric of the champion and of the challenger over the rows added.
    fn values(&self) -> (f64, f64);
}

/// The paired bootstrap of `metric` on `data` (which [`compare`] calls for
/// every metric but `auc` and `accuracy`).
///
/// Each of `resamples` resamples draws the n row indices with replacement
/// by [`resample_index`], the same rows for both models; the metric of each
/// model is computed on the resample (rows weighted by how often they were
/// drawn, counted in one buffer that every resample reuses), and the
/// resample's delta is `challenger − champion`. The interval is the
/// percentile interval of the deltas at `(1 − confidence)/2` and
/// `(1 + confidence)/2`, with numpy's default linear interpolation; the
/// p-value is `min(1, 2 · min(share of deltas <= 0, share of deltas >= 0))`,
/// the usual two-sided bootstrap p-value. `champion`, `challenger` and
/// `delta` are the values on all rows.
///
/// Metric definitions follow scikit-learn with `zero_division=0`: binary
/// `precision`, `recall` (= `true_positive_rate`), `f0_5`, `f1`, `f2`
/// (F-beta of the positive class), `true_negative_rate`,
/// `false_positive_rate`, `false_negative_rate` (a rate with a zero
/// denominator is 0), `log_loss` (probabilities clipped to [ε, 1 − ε], ε the
/// f64 machine epsilon) and `brier_score`; multiclass `weighted_*` and
/// `macro_*` recall, precision, f0_5, f1, f2 over the classes present in
/// the truth or that model's predictions of the (re)sample, as scikit-learn
/// infers labels; regression `mae`, `mse`, `rmse`, `r2` (1 for a constant
/// truth predicted exactly, 0 for a constant truth otherwise), `mape`
/// (relative to `max(|y|, ε)`) and `max_error`. Binary `average_precision`
/// is scikit-learn's `average_precision_score` on the scores (0 for a
/// resample without positives); each model's rows are sorted by score once,
/// and each resample walks that order with the draw counts as weights, so a
/// resample costs one pass, not a sort.
///
/// Errors: as [`compare`], plus [`Error::InvalidInput`] for a metric that is
/// not bootstrapped (`auc`, `accuracy`) or zero resamples.
pub fn paired_bootstrap(
    data: &PairedData,
    metric: &str,
    confidence: f64,
    resamples: u32,
    seed: u64,
) -> Result<PairedTest> {
    check_confidence(confidence)?;
    if resamples == 0 {
        return Err(Error::InvalidInput(
            "compare: resamples must be at least 1".into(),
        ));
    }
    let (champion, challenger, deltas, n) = match *data {
        PairedData::Binary {
            actual,
            champion_predicted,
            challenger_predicted,
            champion_score,
            challenger_score,
        } => {
            let n = actual.len();
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
            check_lengths("the label", n, &lens)?;
            match metric {
                "log_loss" | "brier_score" | "average_precision" => {
                    let (Some(s1), Some(s2)) = (champion_score, challenger_score) else {
                        return Err(Error::InvalidInput(format!(
                            "compare: {metric} needs scores from both models"
                        )));
                    };
                    if metric == "average_precision" {
                        if s1.iter().chain(s2).any(|s| s.is_nan()) {
                            return Err(Error::InvalidInput(
                                "compare: average_precision needs scores; a score is NaN".into(),
                            ));
                        }
                        if n >= 1 << 31 {
                            return Err(Error::InvalidInput(
                                "compare: average_precision handles at most 2^31 rows".into(),
                            ));
                        }
                        let order1 = score_order(actual, s1);
                        let order2 = score_order(actual, s2);
                        let mut st = ApState {
                            order1: &order1,
                            order2: &order2,
                            weights: vec![0; n],
                        };
                        bootstrap(&mut st, n, resamples, seed)
                    } else if s1.iter().chain(s2).any(|p| !(0.0..=1.0).contains(p)) {
                        return Err(Error::InvalidInput(format!(
                            "compare: {metric} needs probabilities in [0, 1]; a score is outside"
                        )));
                    } else {
                        let loss: fn(bool, f64) -> f64 = if metric == "log_loss" {
                            |a, p| {
                                let eps = f64::EPSILON;
                                let q = if a { p } else { 1.0 - p };
                                -q.clamp(eps, 1.0 - eps).ln()
                            }
                        } else {
                            |a, p| {
                                let y = f64::from(u8::from(a));
                                (y - p) * (y - p)
                            }
                        };
                        let l1: Vec<f64> =
                            actual.iter().zip(s1).map(|(&a, &p)| loss(a, p)).collect();
                        let l2: Vec<f64> =
                            actual.iter().zip(s2).map(|(&a, &p)| loss(a, p)).collect();
                        let mut st = MeanState::new(&l1, &l2, false);
                        bootstrap(&mut st, n, resamples, seed)
                    }
                }
                m if BINARY_BOOTSTRAP.contains(&m) => {
                    let f = binary_metric(m);
                    let codes: Vec<u8> = actual
                        .iter()
                        .zip(champion_predicted)
                        .zip(challenger_predicted)
                        .map(|((&a, &p1), &p2)| {
                            (u8::from(a) << 2) | (u8::from(p1) << 1) | u8::from(p2)
                        })
                        .collect();
                    let mut st = BinaryState {
                        codes: &codes,
                        hist: [0; 8],
                        metric: f,
                    };
                    bootstrap(&mut st, n, resamples, seed)
                }
                _ => {
                    return Err(unknown(metric, "binary (bootstrap)", &[&BINARY_BOOTSTRAP]));
                }
            }
        }
        PairedData::Multiclass {
            actual,
            champion,
            challenger,
            classes,
        } => {
            let n = actual.len();
            check_lengths(
                "the label",
                n,
                &[
                    ("the champion", champion.len()),
                    ("the challenger", challenger.len()),
                ],
            )?;
            if let Some(&bad) = actual
                .iter()
                .chain(champion)
                .chain(challenger)
                .find(|&&c| c as usize >= classes)
            {
                return Err(Error::InvalidInput(format!(
                    "compare: class code {bad} is out of range for {classes} classes"
                )));
            }
            let Some((average, which)) = metric
                .split_once('_')
                .filter(|_| MULTICLASS_BOOTSTRAP.contains(&metric))
            else {
                return Err(unknown(
                    metric,
                    "multiclass (bootstrap)",
                    &[&MULTICLASS_BOOTSTRAP],
                ));
            };
            let mut st = MulticlassState {
                actual,
                p1: champion,
                p2: challenger,
                true_count: vec![0; classes],
                pred1: vec![0; classes],
                pred2: vec![0; classes],
                tp1: vec![0; classes],
                tp2: vec![0; classes],
                weighted: average == "weighted",
                kind: class_metric(which),
            };
            bootstrap(&mut st, n, resamples, seed)
        }
        PairedData::Regression {
            actual,
            champion,
            challenger,
        } => {
            let n = actual.len();
            check_lengths(
                "the label",
                n,
                &[
                    ("the champion", champion.len()),
                    ("the challenger", challenger.len()),
                ],
            )?;
            if actual
                .iter()
                .chain(champion)
                .chain(challenger)
                .any(|x| !x.is_finite())
            {
                return Err(Error::InvalidInput(
                    "compare: a value is NaN or infinite".into(),
                ));
            }
            let per_row = |f: fn(f64, f64) -> f64| -> (Vec<f64>, Vec<f64>) {
                (
                    actual
                        .iter()
                        .zip(champion)
                        .map(|(&y, &p)| f(y, p))
                        .collect(),
                    actual
                        .iter()
                        .zip(challenger)
                        .map(|(&y, &p)| f(y, p))
                        .collect(),
                )
            };
            match metric {
                "mae" | "mse" | "rmse" | "mape" => {
                    let f: fn(f64, f64) -> f64 = match metric {
                        "mae" => |y, p| (p - y).abs(),
                        "mape" => |y, p| (y - p).abs() / y.abs().max(f64::EPSILON),
                        _ => |y, p| (y - p) * (y - p),
                    };
                    let (a1, a2) = per_row(f);
                    let mut st = MeanState::new(&a1, &a2, metric == "rmse");
                    bootstrap(&mut st, n, resamples, seed)
                }
                "max_error" => {
                    let (a1, a2) = per_row(|y, p| (y - p).abs());
                    let mut st = MaxState {
                        a1: &a1,
                        a2: &a2,
                        m1: 0.0,
                        m2: 0.0,
                    };
                    bootstrap(&mut st, n, resamples, seed)
                }
                "r2" => {
                    let (e1, e2) = per_row(|y, p| (y - p) * (y - p));
                    // Sums of squares about the full-data mean: a resample's
                    // mean is close to it, so the one-pass form loses little.
                    let center = actual.iter().sum::<f64>() / n as f64;
                    let yc: Vec<f64> = actual.iter().map(|&y| y - center).collect();
                    let mut st = R2State {
                        e1: &e1,
                        e2: &e2,
                        y: actual,
                        yc: &yc,
                        s1: 0.0,
                        s2: 0.0,
                        sy: 0.0,
                        syy: 0.0,
                        count: 0,
                        lo: f64::INFINITY,
                        hi: f64::NEG_INFINITY,
                    };
                    bootstrap(&mut st, n, resamples, seed)
                }
                _ => return Err(unknown(metric, "regression", &[&REGRESSION])),
            }
        }
    };
    let mut sorted = deltas;
    sorted.sort_by(f64::total_cmp);
    let r = sorted.len() as f64;
    let le = sorted.iter().filter(|&&d| d <= 0.0).count() as f64 / r;
    let ge = sorted.iter().filter(|&&d| d >= 0.0).count() as f64 / r;
    Ok(PairedTest {
        metric: metric.into(),
        method: "paired_bootstrap".into(),
        champion,
        challenger,
        delta: challenger - champion,
        ci_low: percentile(&sorted, (1.0 - confidence) / 2.0),
        ci_high: percentile(&sorted, (1.0 + confidence) / 2.0),
        confidence,
        p_value: (2.0 * le.min(ge)).min(1.0),
        statistic: None,
        resamples: Some(resamples),
        count: n,
    })
}

/// Runs the metric on all rows and on every resample: returns the champion's
/// and challenger's full-data values, the resample deltas and n.
/// It is generic so that the hot loop is compiled for each state type.
///
/// Each resample first counts how often each row is drawn (one reused
/// buffer of bytes, small enough to stay in the cache at 10M rows), then adds the rows in order with those counts as weights: the
/// random accesses touch only the counts, and the per-row data are read
/// sequentially, which matters once they no longer fit in cache.
///
/// Resamples are split over the cores, each thread with its own copy of the
/// state and its own counts; a resample's rows depend only on the seed and
/// its number, so the deltas are the same however many threads run.
fn bootstrap<S: PairState + Clone + Sync>(
    st: &mut S,
    n: usize,
    resamples: u32,
    seed: u64,
) -> (f64, f64, Vec<f64>, u64) {
    st.reset();
    for i in 0..n {
        st.add(i, 1);
    }
    let (full1, full2) = st.values();
    let nn = n as u128;
    let template: &S = st;
    // Threads pay off once the resamples draw enough rows in all.
    let min = if n.saturating_mul(resamples as usize) >= PARALLEL_MIN {
        2
    } else {
        usize::MAX
    };
    let parts = par::map_ranges(resamples as usize, min, |range| {
        let mut st = template.clone();
        let mut counts = vec![0u8; n];
        let mut deltas = Vec::with_capacity(range.len());
        for r in range {
            counts.iter_mut().for_each(|c| *c = 0);
            let base = mix(seed ^ (r as u64 + 1).wrapping_mul(GOLDEN));
            let draw = |j: u64| ((mix(base ^ j) as u128 * nn) >> 64) as usize;
            let mut wrapped = false;
            for j in 0..n as u64 {
                let c = &mut counts[draw(j)];
                *c = c.wrapping_add(1);
                wrapped |= *c == 0;
            }
            st.reset();
            if wrapped {
                // A row drawn 256 times or more (a chance far below 1e-100
                // for any n): count this resample again, wide.
                let mut wide = vec![0u32; n];
                for j in 0..n as u64 {
                    wide[draw(j)] += 1;
                }
                for (i, &w) in wide.iter().enumerate() {
                    st.add(i, w);
                }
            } else {
                for (i, &w) in counts.iter().enumerate() {
                    st.add(i, u32::from(w));
                }
            }
            let (m1, m2) = st.values();
            deltas.push(m2 - m1);
        }
        deltas
    });
    (full1, full2, parts.concat(), n as u64)
}

/// numpy's default (linear) percentile of sorted values at quantile `q`.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let vi = (n - 1) as f64 * q;
    let prev = vi.floor();
    let gamma = vi - prev;
    let lo = (prev.max(0.0) as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

fn ratio0(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// F-beta from counts as scikit-learn computes it:
/// `(1 + β²) tp / (β² (tp + fn) + (tp + fp))`, 0 when the denominator is 0.
fn fbeta(beta2: f64, tp: u64, true_sum: u64, pred_sum: u64) -> f64 {
    let den = beta2 * true_sum as f64 + pred_sum as f64;
    if den == 0.0 {
        0.0
    } else {
        (1.0 + beta2) * tp as f64 / den
    }
}

/// A binary metric from (tp, fp, fn, tn).
type BinaryMetric = fn(u64, u64, u64, u64) -> f64;

fn binary_metric(name: &str) -> BinaryMetric {
    match name {
        "precision" => |tp, fp, _, _| ratio0(tp, tp + fp),
        "recall" | "true_positive_rate" => |tp, _, fn_, _| ratio0(tp, tp + fn_),
        "true_negative_rate" => |_, fp, _, tn| ratio0(tn, tn + fp),
        "false_positive_rate" => |_, fp, _, tn| ratio0(fp, fp + tn),
        "false_negative_rate" => |tp, _, fn_, _| ratio0(fn_, fn_ + tp),
        "f0_5" => |tp, fp, fn_, _| fbeta(0.25, tp, tp + fn_, tp + fp),
        "f2" => |tp, fp, fn_, _| fbeta(4.0, tp, tp + fn_, tp + fp),
        _ => |tp, fp, fn_, _| fbeta(1.0, tp, tp + fn_, tp + fp),
    }
}

/// Binary counts: each row is one of 8 cells (label, champion, challenger).
#[derive(Clone)]
struct BinaryState<'a> {
    codes: &'a [u8],
    hist: [u64; 8],
    metric: BinaryMetric,
}

impl PairState for BinaryState<'_> {
    fn reset(&mut self) {
        self.hist = [0; 8];
    }
    #[inline]
    fn add(&mut self, i: usize, w: u32) {
        self.hist[(self.codes[i] & 7) as usize] += u64::from(w);
    }
    fn values(&self) -> (f64, f64) {
        let h = &self.hist;
        // Bits: label << 2 | champion << 1 | challenger.
        let (tp1, fn1, fp1, tn1) = (h[6] + h[7], h[4] + h[5], h[2] + h[3], h[0] + h[1]);
        let (tp2, fn2, fp2, tn2) = (h[5] + h[7], h[4] + h[6], h[1] + h[3], h[0] + h[2]);
        (
            (self.metric)(tp1, fp1, fn1, tn1),
            (self.metric)(tp2, fp2, fn2, tn2),
        )
    }
}

/// The mean of a per-row quantity (optionally its square root).
#[derive(Clone)]
struct MeanState<'a> {
    a1: &'a [f64],
    a2: &'a [f64],
    s1: f64,
    s2: f64,
    count: u64,
    sqrt: bool,
}

impl<'a> MeanState<'a> {
    fn new(a1: &'a [f64], a2: &'a [f64], sqrt: bool) -> Self {
        MeanState {
            a1,
            a2,
            s1: 0.0,
            s2: 0.0,
            count: 0,
            sqrt,
        }
    }
}

/// Each row's `(score key, row number · 2 + label)`, sorted by score once
/// for every resample of [`ApState`]. The label rides in the payload so that
/// the walk reads only the weights out of row order.
fn score_order(actual: &[bool], scores: &[f64]) -> Vec<(u64, u32)> {
    let mut pairs: Vec<(u64, u32)> = scores
        .iter()
        .zip(actual)
        .enumerate()
        .map(|(i, (&x, &a))| (sort::key(x), (i as u32) << 1 | u32::from(a)))
        .collect();
    sort::sort_pairs(&mut pairs, crate::par::available_threads());
    pairs
}

/// Average precision of both models. `add` only records a row's weight;
/// `values` walks each model's score order (see [`score_order`]) from the
/// highest score down, one threshold per distinct score.
#[derive(Clone)]
struct ApState<'a> {
    order1: &'a [(u64, u32)],
    order2: &'a [(u64, u32)],
    weights: Vec<u32>,
}

impl ApState<'_> {
    /// Σ Δtp · precision over the thresholds, divided by the positives: the
    /// step integral scikit-learn's `average_precision_score` computes.
    fn average_precision(&self, order: &[(u64, u32)]) -> f64 {
        let (mut tp, mut seen, mut prev_tp) = (0u64, 0u64, 0u64);
        let mut sum = Sum::default();
        let mut end = order.len();
        while end > 0 {
            let key = order[end - 1].0;
            while end > 0 && order[end - 1].0 == key {
                let payload = order[end - 1].1;
                let w = u64::from(self.weights[(payload >> 1) as usize]);
                seen += w;
                tp += w * u64::from(payload & 1);
                end -= 1;
            }
            if tp > prev_tp {
                sum.add((tp - prev_tp) as f64 * (tp as f64 / seen as f64));
                prev_tp = tp;
            }
        }
        if tp == 0 {
            0.0
        } else {
            (sum.value() / tp as f64).max(0.0)
        }
    }
}

impl PairState for ApState<'_> {
    fn reset(&mut self) {
        self.weights.iter_mut().for_each(|w| *w = 0);
    }

    fn add(&mut self, i: usize, w: u32) {
        self.weights[i] += w;
    }

    fn values(&self) -> (f64, f64) {
        (
            self.average_precision(self.order1),
            self.average_precision(self.order2),
        )
    }
}

impl PairState for MeanState<'_> {
    fn reset(&mut self) {
        (self.s1, self.s2, self.count) = (0.0, 0.0, 0);
    }
    #[inline]
    fn add(&mut self, i: usize, w: u32) {
        // The per-row values are finite, so a zero weight adds exactly 0.
        let wf = f64::from(w);
        self.s1 += wf * self.a1[i];
        self.s2 += wf * self.a2[i];
        self.count += u64::from(w);
    }
    fn values(&self) -> (f64, f64) {
        let c = self.count as f64;
        let (m1, m2) = (self.s1 / c, self.s2 / c);
        if self.sqrt {
            (m1.sqrt(), m2.sqrt())
        } else {
            (m1, m2)
        }
    }
}

/// The maximum of a per-row quantity.
#[derive(Clone)]
struct MaxState<'a> {
    a1: &'a [f64],
    a2: &'a [f64],
    m1: f64,
    m2: f64,
}

impl PairState for MaxState<'_> {
    fn reset(&mut self) {
        (self.m1, self.m2) = (0.0, 0.0);
    }
    #[inline]
    fn add(&mut self, i: usize, w: u32) {
        if w > 0 {
            self.m1 = self.m1.max(self.a1[i]);
            self.m2 = self.m2.max(self.a2[i]);
        }
    }
    fn values(&self) -> (f64, f64) {
        (self.m1, self.m2)
    }
}

/// R²: squared errors of both models and the spread of the truth.
#[derive(Clone)]
struct R2State<'a> {
    e1: &'a [f64],
    e2: &'a [f64],
    y: &'a [f64],
    yc: &'a [f64],
    s1: f64,
    s2: f64,
    sy: f64,
    syy: f64,
    count: u64,
    lo: f64,
    hi: f64,
}

impl PairState for R2State<'_> {
    fn reset(&mut self) {
        (self.s1, self.s2, self.sy, self.syy, self.count) = (0.0, 0.0, 0.0, 0.0, 0);
        (self.lo, self.hi) = (f64::INFINITY, f64::NEG_INFINITY);
    }
    #[inline]
    fn add(&mut self, i: usize, w: u32) {
        let wf = f64::from(w);
        self.s1 += wf * self.e1[i];
        self.s2 += wf * self.e2[i];
        let d = self.yc[i];
        self.sy += wf * d;
        self.syy += wf * d * d;
        self.count += u64::from(w);
        if w > 0 {
            let y = self.y[i];
            self.lo = self.lo.min(y);
            self.hi = self.hi.max(y);
        }
    }
    fn values(&self) -> (f64, f64) {
        // A constant truth has no spread; scikit-learn then scores 1 for a
        // perfect prediction and 0 otherwise (force_finite).
        let sst = if self.lo == self.hi {
            0.0
        } else {
            (self.syy - self.sy * self.sy / self.count as f64).max(0.0)
        };
        let r2 = |sse: f64| {
            if sst == 0.0 {
                if sse == 0.0 { 1.0 } else { 0.0 }
            } else {
                1.0 - sse / sst
            }
        };
        (r2(self.s1), r2(self.s2))
    }
}

/// Which per-class metric a multiclass average takes.
#[derive(Clone, Copy)]
enum ClassMetric {
    Recall,
    Precision,
    FBeta(f64),
}

fn class_metric(name: &str) -> ClassMetric {
    match name {
        "recall" => ClassMetric::Recall,
        "precision" => ClassMetric::Precision,
        "f0_5" => ClassMetric::FBeta(0.25),
        "f2" => ClassMetric::FBeta(4.0),
        _ => ClassMetric::FBeta(1.0),
    }
}

/// Per-class counts of both models: true counts are shared; predicted
/// counts and true positives are per model.
#[derive(Clone)]
struct MulticlassState<'a> {
    actual: &'a [u32],
    p1: &'a [u32],
    p2: &'a [u32],
    true_count: Vec<u64>,
    pred1: Vec<u64>,
    pred2: Vec<u64>,
    tp1: Vec<u64>,
    tp2: Vec<u64>,
    weighted: bool,
    kind: ClassMetric,
}

impl MulticlassState<'_> {
    fn average(&self, pred: &[u64], tp: &[u64]) -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for ((&t, &p), &hit) in self.true_count.iter().zip(pred).zip(tp) {
            if t + p == 0 {
                // scikit-learn only averages over labels present in the
                // truth or the predictions.
                continue;
            }
            let m = match self.kind {
                ClassMetric::Recall => ratio0(hit, t),
                ClassMetric::Precision => ratio0(hit, p),
                ClassMetric::FBeta(b2) => fbeta(b2, hit, t, p),
            };
            if self.weighted {
                sum += m * t as f64;
                weight += t as f64;
            } else {
                sum += m;
                weight += 1.0;
            }
        }
        if weight == 0.0 { 0.0 } else { sum / weight }
    }
}

impl PairState for MulticlassState<'_> {
    fn reset(&mut self) {
        for v in [
            &mut self.true_count,
            &mut self.pred1,
            &mut self.pred2,
            &mut self.tp1,
            &mut self.tp2,
        ] {
            v.iter_mut().for_each(|x| *x = 0);
        }
    }
    #[inline]
    fn add(&mut self, i: usize, w: u32) {
        let a = self.actual[i] as usize;
        let (p1, p2) = (self.p1[i] as usize, self.p2[i] as usize);
        let w = u64::from(w);
        self.true_count[a] += w;
        self.pred1[p1] += w;
        self.pred2[p2] += w;
        self.tp1[a] += w * u64::from(a == p1);
        self.tp2[a] += w * u64::from(a == p2);
    }
    fn values(&self) -> (f64, f64) {
        (
            self.average(&self.pred1, &self.tp1),
            self.average(&self.pred2, &self.tp2),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_directions() {
        assert_eq!(higher_is_better("auc"), Some(true));
        assert_eq!(higher_is_better("macro_f1"), Some(true));
        assert_eq!(higher_is_better("r2"), Some(true));
        assert_eq!(higher_is_better("log_loss"), Some(false));
        assert_eq!(higher_is_better("max_error"), Some(false));
        assert_eq!(higher_is_better("false_positive_rate"), Some(false));
        assert_eq!(higher_is_better("nope"), None);
    }

    #[test]
    fn mcnemar_counts_discordant_pairs() {
        // b = 3 (champion only), c = 1 (challenger only), n = 10.
        let c1 = [
            true, true, true, false, true, true, false, false, true, true,
        ];
        let c2 = [
            false, false, false, true, true, true, false, false, true, true,
        ];
        let t = mcnemar(&c1, &c2, 0.95).unwrap();
        assert_eq!(t.statistic, Some(1.0));
        // 2 · (1 + 4) / 16.
        assert_eq!(t.p_value, 0.625);
        assert_eq!(t.delta, -0.2);
        let same = mcnemar(&c1, &c1, 0.95).unwrap();
        assert_eq!((same.p_value, same.ci_low, same.ci_high), (1.0, 0.0, 0.0));
    }

    #[test]
    fn delong_with_one_class_is_undefined_and_identical_models_tie() {
        let t = delong(&[true, true], &[0.1, 0.2], &[0.3, 0.4], 0.95).unwrap();
        assert!(t.champion.is_nan() && t.p_value.is_nan());
        let y = [true, false, true, false, true];
        let s = [0.9, 0.1, 0.4, 0.5, 0.8];
        let t = delong(&y, &s, &s, 0.95).unwrap();
        assert_eq!((t.delta, t.p_value, t.statistic), (0.0, 1.0, Some(0.0)));
        assert!((t.champion - 5.0 / 6.0).abs() < 1e-15);
        let d = decide(t, true, 0.0);
        assert_eq!(d.verdict, Verdict::Inconclusive);
    }

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
        let d = compare(&data, "mae", &policy).unwrap();
        assert_eq!(d.verdict, Verdict::ChallengerBetter, "{}", d.reason);
        assert!(!d.higher_is_better);
        let data = PairedData::Regression {
            actual: &actual,
            champion: &good,
            challenger: &bad,
        };
        let d = compare(&data, "r2", &policy).unwrap();
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
        let e = compare(&data, "log_loss", &Policy::default()).unwrap_err();
        assert!(e.to_string().contains("f1"), "{e}");
        let e = compare(&data, "mae", &Policy::default()).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)));
        let short = PairedData::Binary {
            actual: &y,
            champion_predicted: &p[..1],
            challenger_predicted: &p,
            champion_score: None,
            challenger_score: None,
        };
        assert!(matches!(
            compare(&short, "f1", &Policy::default()),
            Err(Error::InvalidInput(_))
        ));
        let empty = PairedData::Regression {
            actual: &[],
            champion: &[],
            challenger: &[],
        };
        assert!(matches!(
            compare(&empty, "mae", &Policy::default()),
            Err(Error::EmptyInput(_))
        ));
        let mc = PairedData::Multiclass {
            actual: &[0, 3],
            champion: &[0, 1],
            challenger: &[0, 1],
            classes: 3,
        };
        assert!(matches!(
            compare(&mc, "macro_f1", &Policy::default()),
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
            compare(&r, "mae", &zero),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn resample_indices_stay_in_range() {
        for j in 0..1000 {
            assert!(resample_index(7, 3, j, 13) < 13);
        }
    }

    /// Enough rows × resamples to split the resamples over threads: the
    /// deltas must still be those of drawing each resample's rows one by one.
    #[test]
    fn threaded_resamples_match_drawing_rows_one_by_one() {
        let (n, resamples, seed) = (3000usize, 120u32, 11u64);
        assert!(n * resamples as usize >= PARALLEL_MIN);
        let u = |i: usize, k: u64| (mix(i as u64 * 3 + k) >> 11) as f64 / (1u64 << 53) as f64;
        let actual: Vec<bool> = (0..n).map(|i| u(i, 0) < 0.4).collect();
        let s1: Vec<f64> = (0..n)
            .map(|i| 0.3 * f64::from(u8::from(actual[i])) + 0.7 * u(i, 1))
            .collect();
        let s2: Vec<f64> = (0..n)
            .map(|i| 0.4 * f64::from(u8::from(actual[i])) + 0.6 * u(i, 2))
            .collect();
        let p1: Vec<bool> = s1.iter().map(|&s| s >= 0.5).collect();
        let p2: Vec<bool> = s2.iter().map(|&s| s >= 0.5).collect();
        let data = PairedData::Binary {
            actual: &actual,
            champion_predicted: &p1,
            challenger_predicted: &p2,
            champion_score: Some(&s1),
            challenger_score: Some(&s2),
        };
        let got = paired_bootstrap(&data, "brier_score", 0.9, resamples, seed).unwrap();

        let sq = |a: bool, p: f64| (f64::from(u8::from(a)) - p).powi(2);
        let mut deltas: Vec<f64> = (0..resamples)
            .map(|r| {
                let (mut b1, mut b2) = (0.0, 0.0);
                for j in 0..n as u64 {
                    let i = resample_index(seed, r, j, n as u64) as usize;
                    b1 += sq(actual[i], s1[i]);
                    b2 += sq(actual[i], s2[i]);
                }
                (b2 - b1) / n as f64
            })
            .collect();
        deltas.sort_by(f64::total_cmp);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-3);
        assert!(close(got.ci_low, percentile(&deltas, 0.05)), "{got:?}");
        assert!(close(got.ci_high, percentile(&deltas, 0.95)), "{got:?}");
    }
}
