//! Multiclass classification metrics with scikit-learn's definitions: the
//! confusion matrix, accuracy, weighted and macro precision, recall and
//! F-scores, and the same metrics for the best constant classifier.
//!
//! Everything derives from confusion matrices, built in one pass over the
//! rows: one matrix per subsample membership pattern when that fits in a few
//! megabytes (so a row costs one increment), otherwise one per subsample.

use serde::Serialize;

use crate::sample::{self, spread, subsample_count, wants_spread};
use crate::{Error, Result, Scalar, Uncertainty};

/// The rows of a multiclass problem, already cleaned of nulls.
#[derive(Clone, Copy, Debug)]
pub struct MulticlassInput<'a> {
    /// The true class of each row, as a dense code in `0..classes`.
    pub actual: &'a [u32],
    /// The predicted class of each row, as a dense code in `0..classes`.
    pub predicted: &'a [u32],
    /// How many classes: the union of the classes in both columns, in the
    /// order sklearn sorts labels. A class may occur in only one column.
    pub classes: usize,
}

/// Per-class counts and scores (sklearn `precision_recall_fscore_support`
/// with `average=None`, `zero_division=0`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    /// Rows whose true class is this one.
    pub support: u64,
    /// Rows predicted as this class.
    pub predicted: u64,
    /// Correct predictions of this class over its predictions; 0 when it is
    /// never predicted.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub precision: f64,
    /// Correct predictions of this class over its support; 0 when it never
    /// occurs.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub recall: f64,
    /// The harmonic mean of precision and recall; 0 when both are 0.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub f1: f64,
}

/// Multiclass classification metrics. Each scalar carries its standard
/// deviation over the seeded subsamples (NaN below
/// [`Uncertainty::min_samples`]).
///
/// "Weighted" averages weigh each class by its support; "macro" averages
/// weigh every class equally, including classes that occur only in the
/// predictions (their recall and F-scores are 0), as sklearn does when given
/// every label.
///
/// The `*_best_constant_classifier` metrics are those of the classifier that
/// predicts the most frequent true class for every row (the lowest code among
/// equally frequent ones). SageMaker's documentation does not define its
/// multiclass baseline, and this constant is the best one for accuracy and
/// for every weighted and macro metric here (macro recall is `1 / classes`
/// for any constant).
#[derive(Clone, Debug, Serialize)]
pub struct MulticlassMetrics {
    /// How many rows.
    pub count: u64,
    /// Row counts by true class (outer) and predicted class (inner).
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Share of rows predicted correctly.
    pub accuracy: Scalar,
    /// Support-weighted mean of per-class recall (equals accuracy).
    pub weighted_recall: Scalar,
    /// Support-weighted mean of per-class precision.
    pub weighted_precision: Scalar,
    /// Support-weighted mean of per-class F0.5.
    pub weighted_f0_5: Scalar,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: Scalar,
    /// Support-weighted mean of per-class F2.
    pub weighted_f2: Scalar,
    /// Unweighted mean of per-class recall.
    pub macro_recall: Scalar,
    /// Unweighted mean of per-class precision.
    pub macro_precision: Scalar,
    /// Unweighted mean of per-class F0.5.
    pub macro_f0_5: Scalar,
    /// Unweighted mean of per-class F1.
    pub macro_f1: Scalar,
    /// Unweighted mean of per-class F2.
    pub macro_f2: Scalar,
    /// Accuracy of the best constant classifier.
    pub accuracy_best_constant_classifier: Scalar,
    /// Weighted recall of the best constant classifier.
    pub weighted_recall_best_constant_classifier: Scalar,
    /// Weighted precision of the best constant classifier.
    pub weighted_precision_best_constant_classifier: Scalar,
    /// Weighted F0.5 of the best constant classifier.
    pub weighted_f0_5_best_constant_classifier: Scalar,
    /// Weighted F1 of the best constant classifier.
    pub weighted_f1_best_constant_classifier: Scalar,
    /// Weighted F2 of the best constant classifier.
    pub weighted_f2_best_constant_classifier: Scalar,
    /// Macro recall of the best constant classifier.
    pub macro_recall_best_constant_classifier: Scalar,
    /// Macro precision of the best constant classifier.
    pub macro_precision_best_constant_classifier: Scalar,
    /// Macro F0.5 of the best constant classifier.
    pub macro_f0_5_best_constant_classifier: Scalar,
    /// Macro F1 of the best constant classifier.
    pub macro_f1_best_constant_classifier: Scalar,
    /// Macro F2 of the best constant classifier.
    pub macro_f2_best_constant_classifier: Scalar,
    /// Counts and scores of each class, in code order.
    pub per_class: Vec<ClassStats>,
}

/// The averaged scores of one classifier on one set of rows.
#[derive(Clone, Copy, Default)]
struct Averages {
    weighted: [f64; 5],
    macro_: [f64; 5],
}

/// The index of each score in [`Averages`]: recall, precision, F0.5, F1, F2.
const RECALL: usize = 0;
const PRECISION: usize = 1;
const F0_5: usize = 2;
const F1: usize = 3;
const F2: usize = 4;

/// sklearn's `zero_division=0` division.
fn ratio0(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

/// The per-class recall, precision, F0.5, F1 and F2 from the diagonal count,
/// the predicted count and the support, as sklearn computes them.
fn class_scores(tp: u64, pred: u64, support: u64) -> [f64; 5] {
    let (tp, pred, support) = (tp as f64, pred as f64, support as f64);
    let f = |beta2: f64| ratio0((1.0 + beta2) * tp, beta2 * support + pred);
    [
        ratio0(tp, support),
        ratio0(tp, pred),
        f(0.25),
        f(1.0),
        f(4.0),
    ]
}

/// Weighted and macro averages over classes given per-class (tp, predicted,
/// support). The weighted average is NaN when no row has support (an empty
/// subsample), as `np.average` with zero weights would fail.
fn averages(stats: impl Iterator<Item = (u64, u64, u64)>) -> Averages {
    let mut a = Averages::default();
    let mut total = 0u64;
    let mut classes = 0usize;
    for (tp, pred, support) in stats {
        let s = class_scores(tp, pred, support);
        for ((w, m), x) in a.weighted.iter_mut().zip(&mut a.macro_).zip(s) {
            *w += x * support as f64;
            *m += x;
        }
        total += support;
        classes += 1;
    }
    for (w, m) in a.weighted.iter_mut().zip(&mut a.macro_) {
        *w /= total as f64;
        *m /= classes as f64;
    }
    a
}

/// Every scalar of one set of rows.
#[derive(Clone, Copy, Default)]
struct Values {
    accuracy: f64,
    model: Averages,
    accuracy_bc: f64,
    constant: Averages,
}

/// The scalars from one confusion matrix (row-major, `c × c`).
fn values(cm: &[u64], c: usize) -> Values {
    let mut support = vec![0u64; c];
    let mut pred = vec![0u64; c];
    let mut correct = 0u64;
    for a in 0..c {
        for p in 0..c {
            let x = cm[a * c + p];
            support[a] += x;
            pred[p] += x;
        }
        correct += cm[a * c + a];
    }
    let n: u64 = support.iter().sum();
    let model = averages((0..c).map(|k| (cm[k * c + k], pred[k], support[k])));
    // The best constant predicts the most frequent true class; `max_by_key`
    // keeps the last maximum, so scan in reverse to keep the lowest code.
    let best = (0..c).rev().max_by_key(|&k| support[k]).unwrap_or(0);
    let constant = averages((0..c).map(|k| {
        if k == best {
            (support[k], n, support[k])
        } else {
            (0, 0, support[k])
        }
    }));
    Values {
        accuracy: correct as f64 / n as f64,
        model,
        accuracy_bc: support.get(best).copied().unwrap_or(0) as f64 / n as f64,
        constant,
    }
}

/// Above this many counters the per-pattern matrices give way to one matrix
/// per subsample.
const PATTERN_CELLS: usize = 1 << 20;

/// Multiclass metrics matching scikit-learn 1.9's `accuracy_score` and
/// `precision_recall_fscore_support(labels=0..classes, zero_division=0)` with
/// `average="weighted"` and `"macro"`.
///
/// - Empty input is [`Error::EmptyInput`]; slices of different lengths, or a
///   code not below `classes`, are [`Error::InvalidInput`].
/// - A single class: every metric is well defined (accuracy, weighted and
///   macro scores of that class alone); a class that is never predicted has
///   precision 0 and a class that never occurs has recall 0
///   (`zero_division=0`), and both still count in macro averages.
/// - Ties: in the best constant classifier, equally frequent classes resolve
///   to the lowest code; every metric reported for it has the same value
///   whichever of them is chosen. Predictions have no scores, so nothing
///   else ties.
pub fn multiclass(input: &MulticlassInput, u: &Uncertainty) -> Result<MulticlassMetrics> {
    let n = input.actual.len();
    if input.predicted.len() != n {
        return Err(Error::InvalidInput(format!(
            "actual has {n} rows but predicted has {}",
            input.predicted.len()
        )));
    }
    if n == 0 {
        return Err(Error::EmptyInput(
            "no rows to compute multiclass metrics on".into(),
        ));
    }
    let c = input.classes;
    let cells = c
        .checked_mul(c)
        .ok_or_else(|| Error::InvalidInput(format!("{c} classes are too many")))?;
    let spread_on = wants_spread(u, n);
    let s = if spread_on { subsample_count(u) } else { 0 };
    let bits = if spread_on {
        sample::subsample_bits(u, n)
    } else {
        Vec::new()
    };
    let by_pattern = s == 0
        || cells
            .checked_mul(1 << s)
            .is_some_and(|x| x <= PATTERN_CELLS);
    // With per-pattern matrices, slot b holds the rows whose membership is b;
    // otherwise slot 0 holds all rows and slot 1 + k subsample k.
    let slots = if by_pattern { 1usize << s } else { 1 + s };
    let mut m = vec![0u64; slots * cells];
    for (i, (&a, &p)) in input.actual.iter().zip(input.predicted).enumerate() {
        let (a, p) = (a as usize, p as usize);
        if a >= c || p >= c {
            return Err(Error::InvalidInput(format!(
                "row {i} has class code {} but there are {c} classes",
                a.max(p)
            )));
        }
        let cell = a * c + p;
        if by_pattern {
            let b = if spread_on { bits[i] as usize } else { 0 };
            m[b * cells + cell] += 1;
        } else {
            m[cell] += 1;
            let mut b = bits[i];
            while b != 0 {
                let k = b.trailing_zeros() as usize;
                m[(1 + k) * cells + cell] += 1;
                b &= b - 1;
            }
        }
    }
    // The matrix of all rows, and one per subsample.
    let (full, subs): (Vec<u64>, Vec<Vec<u64>>) = if by_pattern {
        let sum = |k: Option<usize>| {
            let mut t = vec![0u64; cells];
            for (pat, pm) in m.chunks_exact(cells).enumerate() {
                if k.is_none_or(|k| pat >> k & 1 == 1) {
                    for (x, y) in t.iter_mut().zip(pm) {
                        *x += y;
                    }
                }
            }
            t
        };
        (sum(None), (0..s).map(|k| sum(Some(k))).collect())
    } else {
        let mut chunks = m.chunks_exact(cells).map(<[u64]>::to_vec);
        let full = chunks.next().unwrap_or_default();
        (full, chunks.collect())
    };

    let all = values(&full, c);
    let sub_values: Vec<Values> = subs.iter().map(|sm| values(sm, c)).collect();
    let scalar = |f: &dyn Fn(&Values) -> f64| Scalar {
        value: f(&all),
        standard_deviation: if spread_on {
            spread(&sub_values.iter().map(f).collect::<Vec<f64>>())
        } else {
            f64::NAN
        },
    };
    let w = |j: usize| scalar(&|v: &Values| v.model.weighted[j]);
    let mac = |j: usize| scalar(&|v: &Values| v.model.macro_[j]);
    let wc = |j: usize| scalar(&|v: &Values| v.constant.weighted[j]);
    let mc = |j: usize| scalar(&|v: &Values| v.constant.macro_[j]);

    let confusion_matrix: Vec<Vec<u64>> =
        full.chunks_exact(c.max(1)).map(<[u64]>::to_vec).collect();
    let per_class = (0..c)
        .map(|k| {
            let support: u64 = confusion_matrix[k].iter().sum();
            let predicted: u64 = confusion_matrix.iter().map(|row| row[k]).sum();
            let s = class_scores(confusion_matrix[k][k], predicted, support);
            ClassStats {
                support,
                predicted,
                precision: s[PRECISION],
                recall: s[RECALL],
                f1: s[F1],
            }
        })
        .collect();
    Ok(MulticlassMetrics {
        count: n as u64,
        confusion_matrix,
        accuracy: scalar(&|v: &Values| v.accuracy),
        weighted_recall: w(RECALL),
        weighted_precision: w(PRECISION),
        weighted_f0_5: w(F0_5),
        weighted_f1: w(F1),
        weighted_f2: w(F2),
        macro_recall: mac(RECALL),
        macro_precision: mac(PRECISION),
        macro_f0_5: mac(F0_5),
        macro_f1: mac(F1),
        macro_f2: mac(F2),
        accuracy_best_constant_classifier: scalar(&|v: &Values| v.accuracy_bc),
        weighted_recall_best_constant_classifier: wc(RECALL),
        weighted_precision_best_constant_classifier: wc(PRECISION),
        weighted_f0_5_best_constant_classifier: wc(F0_5),
        weighted_f1_best_constant_classifier: wc(F1),
        weighted_f2_best_constant_classifier: wc(F2),
        macro_recall_best_constant_classifier: mc(RECALL),
        macro_precision_best_constant_classifier: mc(PRECISION),
        macro_f0_5_best_constant_classifier: mc(F0_5),
        macro_f1_best_constant_classifier: mc(F1),
        macro_f2_best_constant_classifier: mc(F2),
        per_class,
    })
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

    fn run(actual: &[u32], predicted: &[u32], classes: usize) -> MulticlassMetrics {
        multiclass(
            &MulticlassInput {
                actual,
                predicted,
                classes,
            },
            &off(),
        )
        .unwrap()
    }

    #[test]
    fn empty_mismatched_and_out_of_range_inputs_are_errors() {
        let e = multiclass(
            &MulticlassInput {
                actual: &[],
                predicted: &[],
                classes: 3,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::EmptyInput(_))));
        let e = multiclass(
            &MulticlassInput {
                actual: &[0],
                predicted: &[0, 1],
                classes: 3,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::InvalidInput(_))));
        let e = multiclass(
            &MulticlassInput {
                actual: &[0, 3],
                predicted: &[0, 1],
                classes: 3,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::InvalidInput(_))));
        let e = multiclass(
            &MulticlassInput {
                actual: &[0],
                predicted: &[0],
                classes: 0,
            },
            &off(),
        );
        assert!(matches!(e, Err(Error::InvalidInput(_))));
    }

    #[test]
    fn sklearn_docstring_example() {
        // precision_recall_fscore_support's example, labels cat=0, dog=1, pig=2.
        let m = run(&[0, 1, 2, 0, 1, 2], &[0, 2, 1, 0, 0, 1], 3);
        assert!((m.macro_precision.value - 0.222_222_222_222_222_2).abs() < 1e-15);
        assert!((m.macro_recall.value - 0.333_333_333_333_333_3).abs() < 1e-15);
        assert!((m.macro_f1.value - 0.266_666_666_666_666_6).abs() < 1e-15);
        assert!((m.weighted_f0_5.value - 0.238_095_238_095_238_1).abs() < 1e-15);
        assert_eq!(
            m.confusion_matrix,
            vec![vec![2, 0, 0], vec![1, 0, 1], vec![0, 2, 0]]
        );
        // Every class has support 2, so the constant is class 0.
        assert!((m.accuracy_best_constant_classifier.value - 1.0 / 3.0).abs() < 1e-15);
        assert!((m.macro_recall_best_constant_classifier.value - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn a_single_class_is_perfect_when_always_right() {
        let m = run(&[0, 0, 0], &[0, 0, 0], 1);
        assert_eq!(m.accuracy.value, 1.0);
        assert_eq!(m.macro_f1.value, 1.0);
        assert_eq!(m.weighted_f1_best_constant_classifier.value, 1.0);
    }

    #[test]
    fn a_class_only_in_predictions_counts_in_macro_averages() {
        let m = run(&[0, 0, 1, 1], &[0, 2, 1, 1], 3);
        assert_eq!(m.per_class[2].support, 0);
        assert_eq!(m.per_class[2].recall, 0.0);
        assert_eq!(m.macro_recall.value, (0.5 + 1.0) / 3.0);
        assert_eq!(m.weighted_recall.value, 0.75);
    }

    #[test]
    fn per_subsample_matrices_agree_with_per_pattern_ones() {
        let n = 3000;
        let c = 300; // 300² cells << 5 patterns exceeds the per-pattern budget
        let actual: Vec<u32> = (0..n).map(|i| (i * 7 % c) as u32).collect();
        let predicted: Vec<u32> = (0..n)
            .map(|i| (i * 7 % c + i % 3) as u32 % c as u32)
            .collect();
        let u = Uncertainty::default();
        let big = multiclass(
            &MulticlassInput {
                actual: &actual,
                predicted: &predicted,
                classes: c,
            },
            &u,
        )
        .unwrap();
        assert!(big.accuracy.standard_deviation > 0.0);
        // The same rows folded into two classes, right and wrong where they
        // were, take the per-pattern path; accuracy does not depend on the
        // class count, so both paths must agree on it and on its spread.
        let same = actual.iter().zip(&predicted).map(|(a, p)| a == p);
        let fa: Vec<u32> = actual.iter().map(|&a| a % 2).collect();
        let fp: Vec<u32> = fa
            .iter()
            .zip(same)
            .map(|(&a, s)| if s { a } else { 1 - a })
            .collect();
        let small = multiclass(
            &MulticlassInput {
                actual: &fa,
                predicted: &fp,
                classes: 2,
            },
            &u,
        )
        .unwrap();
        assert_eq!(big.accuracy.value, small.accuracy.value);
        assert_eq!(
            big.accuracy.standard_deviation,
            small.accuracy.standard_deviation
        );
    }
}
