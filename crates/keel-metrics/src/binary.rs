//! Binary classification metrics with scikit-learn's definitions: the
//! confusion matrix and the metrics derived from it, ROC and precision-recall
//! curves, AUC, average precision, log loss and Brier score, each with its
//! standard deviation over seeded subsamples.
//!
//! The work is one pass over the rows for everything that depends on the
//! predicted labels and the probabilities, one sort of the scores, and one
//! walk over the sorted scores for everything that depends on their order.
//! The pass runs on its own thread while the scores sort. Subsample
//! membership travels as bits next to each row, so the subsample metrics come
//! out of the same pass and the same walk.

use serde::Serialize;

use crate::par::{available_threads, join};
use crate::regression::Sum;
use crate::sample::{self, spread, subsample_count, wants_spread};
use crate::sort::{key, sort_pairs, unkey};
use crate::{Error, Result, Scalar, Uncertainty};

/// The rows of a binary problem, already cleaned of nulls and NaN.
#[derive(Clone, Copy, Debug)]
pub struct BinaryInput<'a> {
    /// The true labels; `true` is the positive class.
    pub actual: &'a [bool],
    /// The predicted labels (from a prediction column, or from a probability
    /// compared with a threshold).
    pub predicted: &'a [bool],
    /// The probability of the positive class, when the model gives one. Without
    /// it, AUC, average precision and the curves are computed over
    /// `predicted` as 0/1 scores, and log loss and Brier score are absent.
    pub score: Option<&'a [f64]>,
    /// The most points each curve keeps; 0 keeps every threshold. See
    /// [`binary`] for how a curve with more thresholds is thinned.
    pub curve_points: usize,
}

/// The confusion matrix of the predicted labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// True positives: actual positive, predicted positive.
    pub tp: u64,
    /// False positives: actual negative, predicted positive.
    pub fp: u64,
    /// True negatives: actual negative, predicted negative.
    pub tn: u64,
    /// False negatives: actual positive, predicted negative.
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// The ROC curve as scikit-learn's `roc_curve` returns it (with
/// `drop_intermediate=True`, or evenly thinned, see [`binary`]): the first
/// point is `(0, 0)` at threshold `+inf`, thresholds then decrease.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RocCurve {
    /// False positive rate at each threshold (all NaN without negatives).
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub false_positive_rates: Vec<f64>,
    /// True positive rate at each threshold (all NaN without positives).
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub true_positive_rates: Vec<f64>,
    /// The score thresholds: a row is predicted positive when its score is at
    /// least the threshold.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub thresholds: Vec<f64>,
}

/// The precision-recall curve as scikit-learn's `precision_recall_curve`
/// returns it (`drop_intermediate=False`, or evenly thinned, see [`binary`]):
/// thresholds ascend, and precisions and recalls have one more entry, the
/// final point `(precision 1, recall 0)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PrCurve {
    /// Precision at each threshold, then 1.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub precisions: Vec<f64>,
    /// Recall at each threshold, then 0 (1 at every threshold when there are
    /// no positives, as in sklearn).
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub recalls: Vec<f64>,
    /// The distinct scores, ascending.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub thresholds: Vec<f64>,
}

/// The indices a curve of `len` points keeps when thinned to `max` points:
/// `round(k (len − 1) / (max − 1))` for `k = 0..max`, rounding half to even
/// as `np.round(np.linspace(0, len − 1, max))` does, so evenly spaced and
/// always the first and the last. `max = 0`, or `len <= max`, keeps all.
pub fn thin_indices(len: usize, max: usize) -> Vec<usize> {
    if max == 0 || len <= max {
        return (0..len).collect();
    }
    if max == 1 {
        return vec![0];
    }
    let step = (len - 1) as f64 / (max - 1) as f64;
    let mut out: Vec<usize> = (0..max)
        .map(|k| ((k as f64 * step).round_ties_even() as usize).min(len - 1))
        .collect();
    out.dedup();
    out
}

/// Binary classification metrics. Each scalar carries its standard deviation
/// over the seeded subsamples (NaN below [`Uncertainty::min_samples`]).
///
/// The `*_best_constant_classifier` metrics are those of the classifier that
/// predicts the positive class for every row. That is the classifier
/// SageMaker's documented model-quality example reports (its recall 1,
/// precision and accuracy both the share of positives, and the F-scores that
/// follow), and it is the best constant for recall, precision and every
/// F-score. For accuracy it is not the best constant when positives are the
/// minority; the value is still the all-positive one, to match SageMaker.
#[derive(Clone, Debug, Serialize)]
pub struct BinaryMetrics {
    /// How many rows.
    pub count: u64,
    /// How many rows are actually positive.
    pub positives: u64,
    /// How many rows are actually negative.
    pub negatives: u64,
    /// The confusion matrix of the predicted labels.
    pub confusion: Confusion,
    /// `tp / (tp + fn)`, 0 without positives (sklearn `zero_division=0`).
    pub recall: Scalar,
    /// `tp / (tp + fp)`, 0 without predicted positives (sklearn
    /// `zero_division=0`; not NaN, to match sklearn).
    pub precision: Scalar,
    /// `(tp + tn) / n`.
    pub accuracy: Scalar,
    /// Recall of the all-positive classifier: 1, or 0 without positives.
    pub recall_best_constant_classifier: Scalar,
    /// Precision of the all-positive classifier: the share of positives.
    pub precision_best_constant_classifier: Scalar,
    /// Accuracy of the all-positive classifier: the share of positives.
    pub accuracy_best_constant_classifier: Scalar,
    /// `tp / (tp + fn)`, NaN without positives.
    pub true_positive_rate: Scalar,
    /// `tn / (tn + fp)`, NaN without negatives.
    pub true_negative_rate: Scalar,
    /// `fp / (fp + tn)`, NaN without negatives.
    pub false_positive_rate: Scalar,
    /// `fn / (fn + tp)`, NaN without positives.
    pub false_negative_rate: Scalar,
    /// Area under the ROC curve (sklearn `roc_auc_score`), tied scores
    /// counting half; NaN when only one class is present (sklearn raises).
    pub auc: Scalar,
    /// F-beta with beta 0.5 (sklearn `fbeta_score`, `zero_division=0`).
    pub f0_5: Scalar,
    /// F1 (sklearn `f1_score`, `zero_division=0`).
    pub f1: Scalar,
    /// F-beta with beta 2.
    pub f2: Scalar,
    /// F0.5 of the all-positive classifier.
    pub f0_5_best_constant_classifier: Scalar,
    /// F1 of the all-positive classifier.
    pub f1_best_constant_classifier: Scalar,
    /// F2 of the all-positive classifier.
    pub f2_best_constant_classifier: Scalar,
    /// Average precision (sklearn `average_precision_score`): the step
    /// integral of the PR curve. 0 without positives, as sklearn 1.9 gives.
    pub average_precision: Scalar,
    /// Mean log loss (sklearn `log_loss`, natural log), probabilities clipped
    /// to `[eps, 1 - eps]` with `eps = f64::EPSILON` as sklearn 1.9 does.
    /// Absent without a probability score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<Scalar>,
    /// Mean squared difference between the probability and the 0/1 label
    /// (sklearn `brier_score_loss`). Absent without a probability score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brier_score: Option<Scalar>,
    /// The ROC curve (no standard deviation).
    pub roc: RocCurve,
    /// The precision-recall curve (no standard deviation).
    pub pr: PrCurve,
}

/// The confusion counts indexed by `actual << 1 | predicted`: tn, fp, fn, tp.
type Counts = [u64; 4];

/// Every scalar of one set of rows (all rows, or one subsample).
#[derive(Clone, Copy, Default)]
struct Values {
    recall: f64,
    precision: f64,
    accuracy: f64,
    recall_bc: f64,
    precision_bc: f64,
    accuracy_bc: f64,
    tpr: f64,
    tnr: f64,
    fpr: f64,
    fnr: f64,
    f0_5: f64,
    f1: f64,
    f2: f64,
    f0_5_bc: f64,
    f1_bc: f64,
    f2_bc: f64,
    auc: f64,
    average_precision: f64,
    log_loss: f64,
    brier: f64,
}

/// sklearn's `zero_division=0` division: 0 when the denominator is 0.
fn ratio0(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// A plain ratio that is NaN when the denominator is 0.
fn ratio_nan(num: u64, den: u64) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        num as f64 / den as f64
    }
}

/// F-beta as sklearn computes it from counts: `(1 + b²) tp / (b² (tp + fn) +
/// (tp + fp))`, 0 when the denominator is 0.
fn fbeta(tp: u64, fp: u64, fn_: u64, beta2: f64) -> f64 {
    let den = beta2 * (tp + fn_) as f64 + (tp + fp) as f64;
    if den == 0.0 {
        0.0
    } else {
        (1.0 + beta2) * tp as f64 / den
    }
}

/// The metrics that depend only on the confusion counts.
fn threshold_values(c: &Counts, v: &mut Values) {
    let [tn, fp, fn_, tp] = *c;
    let n = tn + fp + fn_ + tp;
    let pos = tp + fn_;
    let neg = tn + fp;
    v.recall = ratio0(tp, pos);
    v.precision = ratio0(tp, tp + fp);
    v.accuracy = ratio_nan(tp + tn, n);
    v.tpr = ratio_nan(tp, pos);
    v.tnr = ratio_nan(tn, neg);
    v.fpr = ratio_nan(fp, neg);
    v.fnr = ratio_nan(fn_, pos);
    v.f0_5 = fbeta(tp, fp, fn_, 0.25);
    v.f1 = fbeta(tp, fp, fn_, 1.0);
    v.f2 = fbeta(tp, fp, fn_, 4.0);
    // The all-positive classifier: every positive is a true positive, every
    // negative a false positive.
    v.recall_bc = ratio0(pos, pos);
    v.precision_bc = ratio0(pos, n);
    v.accuracy_bc = ratio_nan(pos, n);
    v.f0_5_bc = fbeta(pos, neg, 0, 0.25);
    v.f1_bc = fbeta(pos, neg, 0, 1.0);
    v.f2_bc = fbeta(pos, neg, 0, 4.0);
}

/// The running state of one subsample during the walk over sorted scores.
#[derive(Clone, Copy, Default)]
struct Walk {
    tp: u64,
    n: u64,
    prev_tp: u64,
    prev_fp: u64,
    /// Twice the area under the unnormalised ROC curve: Σ Δfp (tp + tp_prev).
    area2: u128,
    /// Σ Δtp · precision over thresholds; average precision once divided by
    /// the number of positives.
    ap: Sum,
}

impl Walk {
    /// Closes one threshold: adds its trapezoid and its precision step.
    #[inline]
    fn close(&mut self) {
        let fp = self.n - self.tp;
        let dfp = fp - self.prev_fp;
        let dtp = self.tp - self.prev_tp;
        self.area2 += u128::from(dfp) * u128::from(self.tp + self.prev_tp);
        if dtp > 0 {
            self.ap.add(dtp as f64 * (self.tp as f64 / self.n as f64));
        }
        self.prev_tp = self.tp;
        self.prev_fp = fp;
    }

    /// AUC and average precision from the finished walk.
    fn finish(&self) -> (f64, f64) {
        let pos = self.tp;
        let neg = self.n - self.tp;
        let auc = if pos == 0 || neg == 0 {
            f64::NAN
        } else {
            self.area2 as f64 / (2.0 * pos as f64 * neg as f64)
        };
        let ap = if pos == 0 {
            0.0
        } else {
            (self.ap.value() / pos as f64).max(0.0)
        };
        (auc, ap)
    }
}

/// Builds the ROC curve with sklearn's `drop_intermediate` rule while the
/// thresholds stream in: a point is kept when it is the first or the last, or
/// when the curve turns there (a nonzero second difference of fp or tp).
struct RocBuilder {
    pos: f64,
    neg: f64,
    /// The point before `pending`, if any.
    before: Option<(u64, u64)>,
    /// The latest point, not yet known to be kept: (fp, tp, threshold).
    pending: Option<(u64, u64, f64)>,
    curve: RocCurve,
}

impl RocBuilder {
    /// A builder for at most `points` thresholds; reserving them up front
    /// avoids copying a growing curve (pages never written cost nothing).
    fn new(pos: u64, neg: u64, points: usize) -> Self {
        let mut b = RocBuilder {
            pos: pos as f64,
            neg: neg as f64,
            before: None,
            pending: None,
            curve: RocCurve {
                false_positive_rates: Vec::with_capacity(points + 1),
                true_positive_rates: Vec::with_capacity(points + 1),
                thresholds: Vec::with_capacity(points + 1),
            },
        };
        // sklearn prepends (0, 0) at +inf so the curve starts at the origin.
        b.emit(0, 0, f64::INFINITY);
        b
    }

    fn emit(&mut self, fp: u64, tp: u64, threshold: f64) {
        // 0 / 0 is NaN: without negatives every rate is NaN, as in sklearn.
        self.curve.false_positive_rates.push(fp as f64 / self.neg);
        self.curve.true_positive_rates.push(tp as f64 / self.pos);
        self.curve.thresholds.push(threshold);
    }

    fn push(&mut self, fp: u64, tp: u64, threshold: f64) {
        if let Some((pfp, ptp, pthr)) = self.pending {
            let keep = match self.before {
                None => true,
                Some((bfp, btp)) => bfp + fp != 2 * pfp || btp + tp != 2 * ptp,
            };
            if keep {
                self.emit(pfp, ptp, pthr);
            }
            self.before = Some((pfp, ptp));
        }
        self.pending = Some((fp, tp, threshold));
    }

    fn finish(mut self) -> RocCurve {
        if let Some((fp, tp, thr)) = self.pending.take() {
            self.emit(fp, tp, thr);
        }
        self.curve.false_positive_rates.shrink_to_fit();
        self.curve.true_positive_rates.shrink_to_fit();
        self.curve.thresholds.shrink_to_fit();
        self.curve
    }
}

/// Binary classification metrics, matching scikit-learn 1.9 (see each field
/// of [`BinaryMetrics`] for its definition and its value in degenerate cases).
///
/// - Empty input is [`Error::EmptyInput`]; slices of different lengths, or a
///   score outside `[0, 1]`, are [`Error::InvalidInput`].
/// - A single class: AUC is NaN (sklearn raises), the ROC rates of the
///   missing class are NaN, average precision is 0 without positives and 1
///   without negatives, recall and precision fall back to 0 as sklearn's
///   `zero_division=0` does, and the true/false positive/negative rates whose
///   denominator is 0 are NaN.
/// - Ties: rows with equal scores form one threshold; in AUC a tied
///   positive-negative pair counts half (the trapezoid rule over the full ROC
///   curve, as `roc_auc_score` integrates it).
/// - NaN scores are dropped by the column adapter; one that slips in makes
///   log loss and Brier score NaN, and in the curves it sorts as its own
///   threshold at one end (above `+inf` for a positive-signed NaN); nothing
///   panics.
///
/// - Curves: with `curve_points` 0, or no more distinct scores than
///   `curve_points − 1`, the curves are sklearn's, exactly. Otherwise each
///   is thinned to the `curve_points` points at [`thin_indices`] of the
///   curve sklearn returns with `drop_intermediate=False` (`d + 1` points for
///   `d` distinct scores), so its first and last points are always kept. The
///   full curves are never held in memory.
///
/// Without a score, the predicted labels serve as 0/1 scores, which gives what
/// `roc_auc_score(y, y_pred)` gives.
pub fn binary(input: &BinaryInput, u: &Uncertainty) -> Result<BinaryMetrics> {
    let n = input.actual.len();
    if input.predicted.len() != n {
        return Err(Error::InvalidInput(format!(
            "actual has {n} rows but predicted has {}",
            input.predicted.len()
        )));
    }
    if let Some(score) = input.score
        && score.len() != n
    {
        return Err(Error::InvalidInput(format!(
            "actual has {n} rows but score has {}",
            score.len()
        )));
    }
    if n == 0 {
        return Err(Error::EmptyInput(
            "no rows to compute binary metrics on".into(),
        ));
    }
    if let Some(score) = input.score
        && let Some(i) = score
            .iter()
            .position(|p| !(0.0..=1.0).contains(p) && !p.is_nan())
    {
        return Err(Error::InvalidInput(format!(
            "score {} at row {i} is not a probability in [0, 1]",
            score[i]
        )));
    }
    let spread_on = wants_spread(u, n);
    let s = if spread_on { subsample_count(u) } else { 0 };
    let bits = if spread_on {
        sample::subsample_bits(u, n)
    } else {
        Vec::new()
    };
    let bits = bits.as_slice();

    // The row pass (confusion counts, losses) runs beside the sort and walk.
    // It is the shorter of the two, so the sort still splits over every
    // core: once the row pass is done, the sort has them all.
    let threads = available_threads();
    let ((counts, losses), (all, subs, roc, pr)) = join(
        || row_pass(input, bits, 1usize << s),
        || sorted_walk(input, bits, s, threads),
    );
    let positives = all.tp;
    let negatives = n as u64 - positives;

    let sum_counts = |k: Option<usize>| {
        let mut c = [0u64; 4];
        for (pat, pc) in counts.iter().enumerate() {
            if k.is_none_or(|k| pat >> k & 1 == 1) {
                for (t, v) in c.iter_mut().zip(pc) {
                    *t += v;
                }
            }
        }
        c
    };
    let sum_loss = |sums: &[Sum], k: Option<usize>| {
        let mut t = Sum::default();
        for (pat, ps) in sums.iter().enumerate() {
            if k.is_none_or(|k| pat >> k & 1 == 1) {
                t.merge(ps);
            }
        }
        t.value()
    };
    let values = |k: Option<usize>, w: &Walk| {
        let c = sum_counts(k);
        let mut v = Values::default();
        threshold_values(&c, &mut v);
        (v.auc, v.average_precision) = w.finish();
        if let Some((ll, br)) = &losses {
            let m = c.iter().sum::<u64>() as f64;
            v.log_loss = sum_loss(ll, k) / m;
            v.brier = sum_loss(br, k) / m;
        }
        v
    };
    let full = values(None, &all);
    let confusion_counts = sum_counts(None);
    let sub_values: Vec<Values> = subs
        .iter()
        .enumerate()
        .map(|(k, w)| values(Some(k), w))
        .collect();
    let scalar = |f: fn(&Values) -> f64| Scalar {
        value: f(&full),
        standard_deviation: if spread_on {
            spread(&sub_values.iter().map(f).collect::<Vec<f64>>())
        } else {
            f64::NAN
        },
    };
    let has_score = input.score.is_some();
    Ok(BinaryMetrics {
        count: n as u64,
        positives,
        negatives,
        confusion: Confusion {
            tn: confusion_counts[0],
            fp: confusion_counts[1],
            fn_: confusion_counts[2],
            tp: confusion_counts[3],
        },
        recall: scalar(|v| v.recall),
        precision: scalar(|v| v.precision),
        accuracy: scalar(|v| v.accuracy),
        recall_best_constant_classifier: scalar(|v| v.recall_bc),
        precision_best_constant_classifier: scalar(|v| v.precision_bc),
        accuracy_best_constant_classifier: scalar(|v| v.accuracy_bc),
        true_positive_rate: scalar(|v| v.tpr),
        true_negative_rate: scalar(|v| v.tnr),
        false_positive_rate: scalar(|v| v.fpr),
        false_negative_rate: scalar(|v| v.fnr),
        auc: scalar(|v| v.auc),
        f0_5: scalar(|v| v.f0_5),
        f1: scalar(|v| v.f1),
        f2: scalar(|v| v.f2),
        f0_5_best_constant_classifier: scalar(|v| v.f0_5_bc),
        f1_best_constant_classifier: scalar(|v| v.f1_bc),
        f2_best_constant_classifier: scalar(|v| v.f2_bc),
        average_precision: scalar(|v| v.average_precision),
        log_loss: has_score.then(|| scalar(|v| v.log_loss)),
        brier_score: has_score.then(|| scalar(|v| v.brier)),
        roc,
        pr,
    })
}

/// Per subsample membership pattern: the confusion counts (indexed
/// `actual << 1 | predicted`) and the log-loss and Brier sums; a subsample's
/// totals are the sum over the patterns that include it.
type RowPass = (Vec<[u64; 4]>, Option<(Vec<Sum>, Vec<Sum>)>);

/// One pass over the rows for everything that does not depend on their order.
fn row_pass(input: &BinaryInput, bits: &[u8], patterns: usize) -> RowPass {
    let bit = |i: usize| bits.get(i).map_or(0, |&b| b as usize);
    let mut counts = vec![[0u64; 4]; patterns];
    for (i, (&a, &p)) in input.actual.iter().zip(input.predicted).enumerate() {
        counts[bit(i)][(usize::from(a) << 1) | usize::from(p)] += 1;
    }
    let losses = input.score.map(|score| {
        let mut ll = vec![Sum::default(); patterns];
        let mut br = vec![Sum::default(); patterns];
        let eps = f64::EPSILON;
        for (i, (&a, &p)) in input.actual.iter().zip(score).enumerate() {
            let y = f64::from(u8::from(a));
            // sklearn clips the probability of the true class to
            // [eps, 1 - eps] before the logarithm.
            let q = if a { p } else { 1.0 - p };
            let b = bit(i);
            ll[b].add(-q.clamp(eps, 1.0 - eps).ln());
            br[b].add((y - p) * (y - p));
        }
        (ll, br)
    });
    (counts, losses)
}

/// Sorts the rows by score, carrying the label in bit 0 of a payload and the
/// subsample membership above it, and [`walk`]s them. A byte holds the label
/// and up to 7 subsamples, which keeps the sort's memory traffic low in the
/// common case; 8 subsamples need a second byte.
fn sorted_walk(
    input: &BinaryInput,
    bits: &[u8],
    s: usize,
    threads: usize,
) -> (Walk, Vec<Walk>, RocCurve, PrCurve) {
    let score = |i: usize| match input.score {
        Some(sc) => sc[i],
        None => f64::from(u8::from(input.predicted[i])),
    };
    let payload =
        |i: usize, a: bool| (u16::from(bits.get(i).copied().unwrap_or(0)) << 1) | u16::from(a);
    // Counted over the labels, a byte per row, rather than over the pairs.
    let positives = input.actual.iter().filter(|&&a| a).count() as u64;
    if s < 8 {
        let mut pairs: Vec<(u64, u8)> = input
            .actual
            .iter()
            .enumerate()
            .map(|(i, &a)| (key(score(i)), payload(i, a) as u8))
            .collect();
        sort_pairs(&mut pairs, threads);
        walk(&pairs, s, positives, input.curve_points)
    } else {
        let mut pairs: Vec<(u64, u16)> = input
            .actual
            .iter()
            .enumerate()
            .map(|(i, &a)| (key(score(i)), payload(i, a)))
            .collect();
        sort_pairs(&mut pairs, threads);
        walk(&pairs, s, positives, input.curve_points)
    }
}

/// Which points of a curve of `len` points to keep, visited in ascending or
/// descending order of index.
struct Keep {
    idx: Vec<usize>,
    /// Every point is kept (no thinning).
    all: bool,
}

impl Keep {
    fn new(len: usize, max: usize) -> Self {
        let all = max == 0 || len <= max;
        Keep {
            idx: if all {
                Vec::new()
            } else {
                thin_indices(len, max)
            },
            all,
        }
    }
}

/// Walks the sorted scores from the highest down, one distinct score (one
/// threshold) at a time: builds both curves for all rows and accumulates AUC
/// and average precision for all rows and for each of the `s` subsamples,
/// whose membership is in bits `1..=s` of each payload (bit 0 is the label).
fn walk<T: Copy + Into<u16>>(
    pairs: &[(u64, T)],
    s: usize,
    positives: u64,
    curve_points: usize,
) -> (Walk, Vec<Walk>, RocCurve, PrCurve) {
    let mut all = Walk::default();
    let mut subs = vec![Walk::default(); s];
    // Counting the thresholds first tells the curves' final length: the PR
    // curve, which sklearn orders by ascending threshold, is filled from the
    // back, and the thinned indices are known before the walk.
    let distinct =
        pairs.windows(2).filter(|w| w[0].0 != w[1].0).count() + usize::from(!pairs.is_empty());
    let negatives = pairs.len() as u64 - positives;
    let keep = Keep::new(distinct + 1, curve_points);
    let size = if keep.all {
        distinct + 1
    } else {
        keep.idx.len()
    };
    let mut roc = RocBuilder::new(positives, negatives, if keep.all { distinct } else { 0 });
    let mut thinned_roc = RocCurve::default();
    if !keep.all {
        // Index 0 of the undropped ROC curve is (0, 0) at +inf, always kept.
        thinned_roc
            .false_positive_rates
            .push(0.0 / negatives as f64);
        thinned_roc.true_positive_rates.push(0.0 / positives as f64);
        thinned_roc.thresholds.push(f64::INFINITY);
    }
    let mut roc_next = 1; // the next kept index after 0, in keep.idx
    let mut pr = PrCurve {
        precisions: vec![0.0; size],
        recalls: vec![0.0; size],
        thresholds: vec![0.0; size - 1],
    };
    pr.precisions[size - 1] = 1.0;
    // PR slots are visited from distinct - 1 down to 0; `pr_next` walks
    // keep.idx from its end (its last entry is the final point, `distinct`).
    let mut pr_next = size - 1;
    let mut t = 0usize; // thresholds visited
    let mut end = pairs.len();
    while end > 0 {
        let k = pairs[end - 1].0;
        let mut start = end;
        let mut touched = 0u16;
        while start > 0 && pairs[start - 1].0 == k {
            start -= 1;
            let v: u16 = pairs[start].1.into();
            let label = u64::from(v & 1);
            all.tp += label;
            let mut m = v >> 1;
            touched |= m;
            for w in subs.iter_mut() {
                let inside = u64::from(m & 1);
                w.tp += inside & label;
                w.n += inside;
                m >>= 1;
            }
        }
        all.n += (end - start) as u64;
        all.close();
        // A subsample without rows at this threshold has nothing to close.
        while touched != 0 {
            subs[touched.trailing_zeros() as usize].close();
            touched &= touched - 1;
        }
        let threshold = unkey(k);
        let fp = all.n - all.tp;
        // sklearn sets recall to 1 at every threshold when there are no
        // positives.
        let pr_point = |tp: u64, n: u64| {
            let recall = if positives == 0 {
                1.0
            } else {
                tp as f64 / positives as f64
            };
            (tp as f64 / n as f64, recall)
        };
        let slot = distinct - 1 - t;
        if keep.all {
            roc.push(fp, all.tp, threshold);
            (pr.precisions[slot], pr.recalls[slot]) = pr_point(all.tp, all.n);
            pr.thresholds[slot] = threshold;
        } else {
            if keep.idx.get(roc_next) == Some(&(t + 1)) {
                thinned_roc
                    .false_positive_rates
                    .push(fp as f64 / negatives as f64);
                thinned_roc
                    .true_positive_rates
                    .push(all.tp as f64 / positives as f64);
                thinned_roc.thresholds.push(threshold);
                roc_next += 1;
            }
            if pr_next > 0 && keep.idx[pr_next - 1] == slot {
                pr_next -= 1;
                (pr.precisions[pr_next], pr.recalls[pr_next]) = pr_point(all.tp, all.n);
                pr.thresholds[pr_next] = threshold;
            }
        }
        t += 1;
        end = start;
    }
    let roc = if keep.all { roc.finish() } else { thinned_roc };
    (all, subs, roc, pr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off() -> Uncertainty {
        Uncertainty {
            enabled: false,
            ..Uncertainty::default()
        }
    }

    fn run(actual: &[bool], score: &[f64]) -> BinaryMetrics {
        let predicted: Vec<bool> = score.iter().map(|&s| s > 0.5).collect();
        let input = BinaryInput {
            actual,
            predicted: &predicted,
            score: Some(score),
            curve_points: 0,
        };
        binary(&input, &off()).unwrap()
    }

    #[test]
    fn empty_and_mismatched_inputs_are_errors() {
        let e = binary(
            &BinaryInput {
                actual: &[],
                predicted: &[],
                score: None,
                curve_points: 0,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::EmptyInput(_))));
        let e = binary(
            &BinaryInput {
                actual: &[true],
                predicted: &[true, false],
                score: None,
                curve_points: 0,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::InvalidInput(_))));
        let e = binary(
            &BinaryInput {
                actual: &[true],
                predicted: &[true],
                score: Some(&[0.5, 0.5]),
                curve_points: 0,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::InvalidInput(_))));
        let e = binary(
            &BinaryInput {
                actual: &[true],
                predicted: &[true],
                score: Some(&[1.5]),
                curve_points: 0,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::InvalidInput(_))));
    }

    #[test]
    fn sklearn_docstring_example() {
        // precision_recall_curve's and roc_auc_score's docstring example.
        let m = run(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]);
        assert_eq!(m.auc.value, 0.75);
        assert_eq!(m.pr.precisions, vec![0.5, 2.0 / 3.0, 0.5, 1.0, 1.0]);
        assert_eq!(m.pr.recalls, vec![1.0, 1.0, 0.5, 0.5, 0.0]);
        assert_eq!(m.pr.thresholds, vec![0.1, 0.35, 0.4, 0.8]);
        assert!((m.average_precision.value - 0.833_333_333_333_333_3).abs() < 1e-15);
        assert_eq!(m.roc.thresholds, vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
        assert_eq!(m.roc.false_positive_rates, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(m.roc.true_positive_rates, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
    }

    #[test]
    fn a_single_class_has_no_auc() {
        let m = run(&[true, true, true], &[0.2, 0.9, 0.9]);
        assert!(m.auc.value.is_nan());
        assert_eq!(m.average_precision.value, 1.0);
        assert!(m.true_negative_rate.value.is_nan());
        assert!(m.roc.false_positive_rates.iter().all(|x| x.is_nan()));
        let m = run(&[false, false], &[0.2, 0.9]);
        assert!(m.auc.value.is_nan());
        assert_eq!(m.average_precision.value, 0.0);
        assert_eq!(m.recall.value, 0.0);
        assert!(m.true_positive_rate.value.is_nan());
        assert_eq!(m.pr.recalls, vec![1.0, 1.0, 0.0]);
    }

    #[test]
    fn all_tied_scores_give_half_auc() {
        let m = run(&[true, false, true, false, false], &[0.3; 5]);
        assert_eq!(m.auc.value, 0.5);
        assert_eq!(m.roc.thresholds.len(), 2);
        assert_eq!(m.average_precision.value, 0.4);
        assert_eq!(m.precision.value, 0.0);
    }

    #[test]
    fn best_constant_is_the_all_positive_classifier() {
        // SageMaker's documented example: 1 positive in 4 rows.
        let actual = [false, false, false, true];
        let predicted = [false, true, true, true];
        let m = binary(
            &BinaryInput {
                actual: &actual,
                predicted: &predicted,
                score: None,
                curve_points: 0,
            },
            &off(),
        )
        .unwrap();
        assert_eq!(m.recall_best_constant_classifier.value, 1.0);
        assert_eq!(m.precision_best_constant_classifier.value, 0.25);
        assert_eq!(m.accuracy_best_constant_classifier.value, 0.25);
        assert_eq!(m.f1_best_constant_classifier.value, 0.4);
        assert_eq!(m.f2_best_constant_classifier.value, 0.625);
        assert!((m.f0_5_best_constant_classifier.value - 0.294_117_647_058_823_54).abs() < 1e-15);
        assert_eq!(m.f1.value, 0.5);
        assert!(m.log_loss.is_none());
    }

    #[test]
    fn probabilities_of_exactly_zero_and_one_are_clipped() {
        let m = run(&[true, false], &[0.0, 0.0]);
        let want = -f64::EPSILON.ln() / 2.0;
        assert!((m.log_loss.unwrap().value - want).abs() < 1e-12);
        assert_eq!(m.brier_score.unwrap().value, 0.5);
    }

    #[test]
    fn a_nan_score_does_not_panic() {
        let m = run(&[true, false, true], &[0.9, f64::NAN, 0.1]);
        assert!(m.log_loss.unwrap().value.is_nan());
        assert_eq!(m.pr.thresholds.len(), 3);
    }

    #[test]
    fn spreads_are_finite_from_min_samples_up() {
        let n = 400;
        let actual: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        let score: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 / 100.0).collect();
        let predicted: Vec<bool> = score.iter().map(|&s| s > 0.5).collect();
        let input = BinaryInput {
            actual: &actual,
            predicted: &predicted,
            score: Some(&score),
            curve_points: 0,
        };
        let m = binary(&input, &Uncertainty::default()).unwrap();
        assert!(m.auc.standard_deviation > 0.0);
        assert!(m.f1.standard_deviation > 0.0);
        assert!(m.log_loss.unwrap().standard_deviation > 0.0);
    }

    #[test]
    fn thinning_keeps_both_ends_and_spreads_evenly() {
        assert_eq!(thin_indices(5, 10), vec![0, 1, 2, 3, 4]);
        assert_eq!(thin_indices(5, 0), vec![0, 1, 2, 3, 4]);
        assert_eq!(
            thin_indices(101, 11),
            (0..=10).map(|k| k * 10).collect::<Vec<_>>()
        );
        let t = thin_indices(1_000_000, 1000);
        assert_eq!(t.len(), 1000);
        assert_eq!((t[0], t[999]), (0, 999_999));
    }
}
