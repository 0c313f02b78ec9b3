//! The paired bootstrap: resamples of the rows drawn by a stateless hash of
//! the seed, the same rows for both models, split over the cores, with the
//! percentile interval of the resample deltas.

use super::pair_state::{
    ApState, BinaryState, MaxState, MeanState, MulticlassState, PairState, R2State, binary_metric,
    class_metric, score_order,
};
use super::{PairedData, PairedTest, binary_lengths, check_confidence, check_lengths};
use crate::metric::PairedTestKind;
use crate::par::{self, PARALLEL_MIN};
use crate::sample::mix;
use crate::{Error, Metric, ProblemType, Result};

/// The golden-ratio increment of splitmix64, which spreads resample numbers
/// over the seed space.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The row index of draw `j` of resample `r`:
/// `(mix(mix(seed ^ (r + 1)·φ) ^ j) · n) >> 64`, where φ is splitmix64's
/// golden-ratio constant. It is stateless, so any draw can be recomputed on
/// its own, and Python can replicate it with integers.
#[inline]
pub fn resample_index(seed: u64, r: u32, j: u64, n: u64) -> u64 {
    let base = mix(seed ^ (r as u64 + 1).wrapping_mul(GOLDEN));
    ((mix(base ^ j) as u128 * n as u128) >> 64) as u64
}

/// The paired bootstrap of `metric` on `data` (which
/// [`compare`](super::compare) calls for every metric but `auc` and
/// `accuracy`).
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
/// Errors: as [`compare`](super::compare), plus [`Error::InvalidInput`] for a
/// metric that is not bootstrapped (`auc`, `accuracy`) or zero resamples.
pub fn paired_bootstrap(
    data: &PairedData,
    metric: Metric,
    confidence: f64,
    resamples: u32,
    seed: u64,
) -> Result<PairedTest> {
    check_confidence(confidence)?;
    if resamples == 0 {
        return Err(Error::InvalidInput(
            "compare: `resamples` must be at least 1".into(),
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
            let lens = binary_lengths(
                champion_predicted,
                challenger_predicted,
                champion_score,
                challenger_score,
            );
            check_lengths("the label", n, &lens)?;
            match metric {
                Metric::LogLoss | Metric::BrierScore | Metric::AveragePrecision => {
                    let (Some(s1), Some(s2)) = (champion_score, challenger_score) else {
                        return Err(Error::InvalidInput(format!(
                            "compare: {metric} needs scores from both models"
                        )));
                    };
                    if metric == Metric::AveragePrecision {
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
                        let loss: fn(bool, f64) -> f64 = if metric == Metric::LogLoss {
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
                m => {
                    let Some(f) = binary_metric(m) else {
                        return Err(not_bootstrapped(metric, ProblemType::Binary));
                    };
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
            let Some((weighted, kind)) = class_metric(metric) else {
                return Err(not_bootstrapped(metric, ProblemType::Multiclass));
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
                weighted,
                kind,
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
                Metric::Mae | Metric::Mse | Metric::Rmse | Metric::Mape => {
                    let f: fn(f64, f64) -> f64 = match metric {
                        Metric::Mae => |y, p| (p - y).abs(),
                        Metric::Mape => |y, p| (y - p).abs() / y.abs().max(f64::EPSILON),
                        _ => |y, p| (y - p) * (y - p),
                    };
                    let (a1, a2) = per_row(f);
                    let mut st = MeanState::new(&a1, &a2, metric == Metric::Rmse);
                    bootstrap(&mut st, n, resamples, seed)
                }
                Metric::MaxError => {
                    let (a1, a2) = per_row(|y, p| (y - p).abs());
                    let mut st = MaxState {
                        a1: &a1,
                        a2: &a2,
                        m1: 0.0,
                        m2: 0.0,
                    };
                    bootstrap(&mut st, n, resamples, seed)
                }
                Metric::R2 => {
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
                _ => return Err(not_bootstrapped(metric, ProblemType::Regression)),
            }
        }
    };
    let mut sorted = deltas;
    sorted.sort_by(f64::total_cmp);
    let r = sorted.len() as f64;
    let le = sorted.iter().filter(|&&d| d <= 0.0).count() as f64 / r;
    let ge = sorted.iter().filter(|&&d| d >= 0.0).count() as f64 / r;
    Ok(PairedTest {
        metric,
        method: PairedTestKind::Bootstrap.as_str().into(),
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

/// The error for a metric the bootstrap does not decide on data of
/// `problem_type`, listing the metrics it does.
fn not_bootstrapped(metric: Metric, problem_type: ProblemType) -> Error {
    Error::InvalidInput(format!(
        "compare: the paired bootstrap does not compute {metric} on {problem_type} data; \
         set `metric` to one of: {}",
        Metric::names(|m| {
            m.applies_to(problem_type) && m.paired_test() == PairedTestKind::Bootstrap
        })
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let got = paired_bootstrap(&data, Metric::BrierScore, 0.9, resamples, seed).unwrap();

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
