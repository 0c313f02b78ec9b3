//! The running state of a metric for both models over a (re)sample: rows
//! are added with the number of times they were drawn, and the state gives
//! the metric of the champion and of the challenger. One state type per
//! kind of metric: binary counts, average precision, means, maxima, R² and
//! multiclass averages.

use crate::regression::Sum;
use crate::{Metric, sort};

/// A metric of both models, accumulated row by row over a (re)sample.
pub(super) trait PairState {
    /// Forgets every row added so far.
    fn reset(&mut self);
    /// Adds row `i` with weight `w`, the number of times it was drawn (0
    /// must leave the state unchanged).
    fn add(&mut self, i: usize, w: u32);
    /// The metric of the champion and of the challenger over the rows added.
    fn values(&self) -> (f64, f64);
}

/// `num / den`, 0 when the denominator is 0.
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
pub(super) type BinaryMetric = fn(u64, u64, u64, u64) -> f64;

/// The binary metrics computed from counts alone; `None` for every other.
pub(super) fn binary_metric(metric: Metric) -> Option<BinaryMetric> {
    let f: BinaryMetric = match metric {
        Metric::Precision => |tp, fp, _, _| ratio0(tp, tp + fp),
        Metric::Recall | Metric::TruePositiveRate => |tp, _, fn_, _| ratio0(tp, tp + fn_),
        Metric::TrueNegativeRate => |_, fp, _, tn| ratio0(tn, tn + fp),
        Metric::FalsePositiveRate => |_, fp, _, tn| ratio0(fp, fp + tn),
        Metric::FalseNegativeRate => |tp, _, fn_, _| ratio0(fn_, fn_ + tp),
        Metric::F0_5 => |tp, fp, fn_, _| fbeta(0.25, tp, tp + fn_, tp + fp),
        Metric::F1 => |tp, fp, fn_, _| fbeta(1.0, tp, tp + fn_, tp + fp),
        Metric::F2 => |tp, fp, fn_, _| fbeta(4.0, tp, tp + fn_, tp + fp),
        _ => return None,
    };
    Some(f)
}

/// Binary counts: each row is one of 8 cells (label, champion, challenger).
#[derive(Clone)]
pub(super) struct BinaryState<'a> {
    pub(super) codes: &'a [u8],
    pub(super) hist: [u64; 8],
    pub(super) metric: BinaryMetric,
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
pub(super) struct MeanState<'a> {
    pub(super) a1: &'a [f64],
    pub(super) a2: &'a [f64],
    pub(super) s1: f64,
    pub(super) s2: f64,
    pub(super) count: u64,
    pub(super) sqrt: bool,
}

impl<'a> MeanState<'a> {
    /// A state over the per-row values of both models, reporting the square
    /// root of the mean when `sqrt` is set.
    pub(super) fn new(a1: &'a [f64], a2: &'a [f64], sqrt: bool) -> Self {
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
pub(super) fn score_order(actual: &[bool], scores: &[f64]) -> Vec<(u64, u32)> {
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
pub(super) struct ApState<'a> {
    pub(super) order1: &'a [(u64, u32)],
    pub(super) order2: &'a [(u64, u32)],
    pub(super) weights: Vec<u32>,
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
pub(super) struct MaxState<'a> {
    pub(super) a1: &'a [f64],
    pub(super) a2: &'a [f64],
    pub(super) m1: f64,
    pub(super) m2: f64,
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
pub(super) struct R2State<'a> {
    pub(super) e1: &'a [f64],
    pub(super) e2: &'a [f64],
    pub(super) y: &'a [f64],
    pub(super) yc: &'a [f64],
    pub(super) s1: f64,
    pub(super) s2: f64,
    pub(super) sy: f64,
    pub(super) syy: f64,
    pub(super) count: u64,
    pub(super) lo: f64,
    pub(super) hi: f64,
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
pub(super) enum ClassMetric {
    Recall,
    Precision,
    FBeta(f64),
}

/// Whether a multiclass metric is weighted by support (else a macro
/// average), and which per-class metric it averages; `None` for every
/// metric that is not such an average.
pub(super) fn class_metric(metric: Metric) -> Option<(bool, ClassMetric)> {
    Some(match metric {
        Metric::WeightedRecall => (true, ClassMetric::Recall),
        Metric::WeightedPrecision => (true, ClassMetric::Precision),
        Metric::WeightedF0_5 => (true, ClassMetric::FBeta(0.25)),
        Metric::WeightedF1 => (true, ClassMetric::FBeta(1.0)),
        Metric::WeightedF2 => (true, ClassMetric::FBeta(4.0)),
        Metric::MacroRecall => (false, ClassMetric::Recall),
        Metric::MacroPrecision => (false, ClassMetric::Precision),
        Metric::MacroF0_5 => (false, ClassMetric::FBeta(0.25)),
        Metric::MacroF1 => (false, ClassMetric::FBeta(1.0)),
        Metric::MacroF2 => (false, ClassMetric::FBeta(4.0)),
        _ => return None,
    })
}

/// Per-class counts of both models: true counts are shared; predicted
/// counts and true positives are per model.
#[derive(Clone)]
pub(super) struct MulticlassState<'a> {
    pub(super) actual: &'a [u32],
    pub(super) p1: &'a [u32],
    pub(super) p2: &'a [u32],
    pub(super) true_count: Vec<u64>,
    pub(super) pred1: Vec<u64>,
    pub(super) pred2: Vec<u64>,
    pub(super) tp1: Vec<u64>,
    pub(super) tp2: Vec<u64>,
    pub(super) weighted: bool,
    pub(super) kind: ClassMetric,
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
