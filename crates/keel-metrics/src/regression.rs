//! Regression metrics (MAE, MSE, RMSE, R², MAPE, max error) with scikit-learn's
//! definitions, computed in two passes over the rows.
//!
//! Sums use Neumaier's compensated summation, so 10M-row means agree with
//! numpy's pairwise sums far below 1e-9 relative. The per-subsample sums are
//! accumulated per subsample-membership pattern (at most 2^8 patterns), so a
//! row costs one accumulator update however many subsamples there are.

use serde::Serialize;

use crate::par::{PARALLEL_MIN, map_ranges};
use crate::sample::{self, spread, subsample_count, wants_spread};
use crate::{Error, Result, Scalar, Uncertainty};

/// A compensated (Neumaier) running sum: the rounding error of each addition
/// is carried separately, so the result is accurate to about one rounding of
/// the true sum whatever the number of terms.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sum {
    sum: f64,
    comp: f64,
}

impl Sum {
    /// Adds one term.
    #[inline]
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// Adds another running sum.
    #[inline]
    pub(crate) fn merge(&mut self, other: &Sum) {
        self.add(other.sum);
        self.comp += other.comp;
    }

    /// The sum.
    #[inline]
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Regression metrics over one set of rows, each with its standard deviation
/// over the seeded subsamples.
#[derive(Clone, Debug, Serialize)]
pub struct RegressionMetrics {
    /// How many rows the metrics are over.
    pub count: u64,
    /// Mean absolute error (sklearn `mean_absolute_error`).
    pub mae: Scalar,
    /// Mean squared error (sklearn `mean_squared_error`).
    pub mse: Scalar,
    /// Root mean squared error, `sqrt(mse)` (sklearn
    /// `root_mean_squared_error`).
    pub rmse: Scalar,
    /// Coefficient of determination (sklearn `r2_score`, `force_finite=True`).
    pub r2: Scalar,
    /// Mean absolute percentage error as a fraction, not a percentage (sklearn
    /// `mean_absolute_percentage_error`).
    pub mape: Scalar,
    /// The largest absolute error (sklearn `max_error`).
    pub max_error: Scalar,
}

/// The running sums of one group of rows (all rows, or one membership
/// pattern).
#[derive(Clone, Copy, Default)]
struct Acc {
    n: u64,
    abs: Sum,
    sq: Sum,
    pct: Sum,
    y: Sum,
    max: f64,
    y_min: f64,
    y_max: f64,
}

impl Acc {
    fn new() -> Self {
        Acc {
            y_min: f64::INFINITY,
            y_max: f64::NEG_INFINITY,
            ..Acc::default()
        }
    }

    #[inline]
    fn push(&mut self, y: f64, p: f64) {
        let e = (y - p).abs();
        self.n += 1;
        self.abs.add(e);
        self.sq.add(e * e);
        self.pct.add(e / y.abs().max(f64::EPSILON));
        self.y.add(y);
        // `f64::max` ignores NaN; a NaN error is carried by the sums instead.
        self.max = self.max.max(e);
        self.y_min = self.y_min.min(y);
        self.y_max = self.y_max.max(y);
    }

    fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.abs.merge(&o.abs);
        self.sq.merge(&o.sq);
        self.pct.merge(&o.pct);
        self.y.merge(&o.y);
        self.max = self.max.max(o.max);
        self.y_min = self.y_min.min(o.y_min);
        self.y_max = self.y_max.max(o.y_max);
    }
}

/// The second-pass sums around a common centre `c`: `Σ(y - c)` and
/// `Σ(y - c)²`, from which the total sum of squares about any subsample's own
/// mean follows without cancellation (`c` is close to every such mean).
#[derive(Clone, Copy, Default)]
struct Centred {
    d: Sum,
    d2: Sum,
}

impl Centred {
    #[inline]
    fn add(&mut self, d: f64) {
        self.d.add(d);
        self.d2.add(d * d);
    }

    fn merge(&mut self, o: &Centred) {
        self.d.merge(&o.d);
        self.d2.merge(&o.d2);
    }
}

/// The six metric values of one group of rows.
struct Values {
    mae: f64,
    mse: f64,
    rmse: f64,
    r2: f64,
    mape: f64,
    max_error: f64,
}

fn values(a: &Acc, c: &Centred) -> Values {
    let n = a.n as f64;
    let mse = a.sq.value() / n;
    // The total sum of squares about this group's own mean m:
    // Σ(y - m)² = Σ(y - c)² - (Σ(y - c))² / n.
    let d = c.d.value();
    let sst = (c.d2.value() - d * d / n).max(0.0);
    let sse = a.sq.value();
    let r2 = if a.n < 2 || sse.is_nan() || sst.is_nan() {
        f64::NAN
    } else if a.y_min == a.y_max || sst == 0.0 {
        // A constant target is detected exactly, so rounding in the mean
        // cannot make it look variable; sklearn's force_finite rule then
        // gives 1 for a perfect prediction and 0 otherwise.
        if sse == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - sse / sst
    };
    Values {
        mae: a.abs.value() / n,
        mse,
        rmse: mse.sqrt(),
        r2,
        mape: a.pct.value() / n,
        max_error: if a.n == 0 { f64::NAN } else { a.max },
    }
}

/// Regression metrics of `predicted` against `actual`, as scikit-learn 1.9
/// defines them:
///
/// - `mae = mean(|y - ŷ|)`, `mse = mean((y - ŷ)²)`, `rmse = sqrt(mse)`;
/// - `r2 = 1 - Σ(y - ŷ)² / Σ(y - mean(y))²`, with `force_finite`: a constant
///   `y` gives 1.0 when the prediction is perfect and 0.0 otherwise; NaN with
///   a single row (sklearn warns and returns NaN). Unlike numpy, a constant
///   `y` is recognised exactly (its minimum equals its maximum), so a mean
///   that rounds away from the constant cannot produce a huge negative R²;
/// - `mape = mean(|y - ŷ| / max(|y|, f64::EPSILON))`, a fraction (zeros in `y`
///   give very large terms, as in sklearn);
/// - `max_error = max |y - ŷ|`.
///
/// Ties have no special meaning here. Empty input is [`Error::EmptyInput`];
/// slices of different lengths are [`Error::InvalidInput`]. The column
/// adapter drops NaN before calling; a NaN that slips in makes every metric
/// but `max_error` NaN (which skips it) and does not panic.
///
/// Standard deviations: when [`wants_spread`] holds, each metric is
/// recomputed on the seeded subsamples of [`crate::sample`] and the spread of
/// those values is reported; otherwise they are NaN.
pub fn regression(actual: &[f64], predicted: &[f64], u: &Uncertainty) -> Result<RegressionMetrics> {
    if actual.len() != predicted.len() {
        return Err(Error::InvalidInput(format!(
            "actual has {} rows but predicted has {}",
            actual.len(),
            predicted.len()
        )));
    }
    let n = actual.len();
    if n == 0 {
        return Err(Error::EmptyInput(
            "no rows to compute regression metrics on".into(),
        ));
    }
    let spread_on = wants_spread(u, n);
    let s = if spread_on { subsample_count(u) } else { 0 };
    let patterns = 1usize << s;
    let bits = if spread_on {
        sample::subsample_bits(u, n)
    } else {
        Vec::new()
    };

    // First pass: the error sums and the sum of y, per membership pattern.
    // Rows split over the cores; the per-range sums merge in row order.
    let mut by_pattern = vec![Acc::new(); patterns];
    for part in map_ranges(n, PARALLEL_MIN, |r| {
        let mut acc = vec![Acc::new(); patterns];
        let rows = actual[r.clone()].iter().zip(&predicted[r.clone()]);
        if spread_on {
            for ((&y, &p), &b) in rows.zip(&bits[r]) {
                acc[b as usize].push(y, p);
            }
        } else {
            let a = &mut acc[0];
            for (&y, &p) in rows {
                a.push(y, p);
            }
        }
        acc
    }) {
        for (a, b) in by_pattern.iter_mut().zip(&part) {
            a.merge(b);
        }
    }
    let mut all = Acc::new();
    for a in &by_pattern {
        all.merge(a);
    }

    // Second pass: sums of y about the overall mean, per pattern.
    let centre = all.y.value() / n as f64;
    let mut centred = vec![Centred::default(); patterns];
    for part in map_ranges(n, PARALLEL_MIN, |r| {
        let mut cs = vec![Centred::default(); patterns];
        let ys = &actual[r.clone()];
        if spread_on {
            for (&y, &b) in ys.iter().zip(&bits[r]) {
                cs[b as usize].add(y - centre);
            }
        } else {
            let c = &mut cs[0];
            for &y in ys {
                c.add(y - centre);
            }
        }
        cs
    }) {
        for (a, b) in centred.iter_mut().zip(&part) {
            a.merge(b);
        }
    }
    let mut all_c = Centred::default();
    for c in &centred {
        all_c.merge(c);
    }
    let full = values(&all, &all_c);

    let subs: Vec<Values> = (0..s)
        .map(|k| {
            let mut a = Acc::new();
            let mut c = Centred::default();
            for (pat, (pa, pc)) in by_pattern.iter().zip(&centred).enumerate() {
                if pat >> k & 1 == 1 {
                    a.merge(pa);
                    c.merge(pc);
                }
            }
            values(&a, &c)
        })
        .collect();
    let scalar = |f: fn(&Values) -> f64| Scalar {
        value: f(&full),
        standard_deviation: if spread_on {
            spread(&subs.iter().map(f).collect::<Vec<f64>>())
        } else {
            f64::NAN
        },
    };
    Ok(RegressionMetrics {
        count: n as u64,
        mae: scalar(|v| v.mae),
        mse: scalar(|v| v.mse),
        rmse: scalar(|v| v.rmse),
        r2: scalar(|v| v.r2),
        mape: scalar(|v| v.mape),
        max_error: scalar(|v| v.max_error),
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

    #[test]
    fn empty_and_mismatched_inputs_are_errors() {
        assert!(matches!(
            regression(&[], &[], &off()),
            Err(Error::EmptyInput(_))
        ));
        assert!(matches!(
            regression(&[1.0], &[1.0, 2.0], &off()),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn small_case_matches_hand_computation() {
        let m = regression(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0], &off()).unwrap();
        assert_eq!(m.mae.value, 0.5);
        assert_eq!(m.mse.value, 0.375);
        assert!((m.r2.value - 0.948_608_137_044_967_9).abs() < 1e-15);
        assert_eq!(m.max_error.value, 1.0);
        assert!(m.mae.standard_deviation.is_nan());
    }

    #[test]
    fn constant_target_follows_force_finite() {
        let y = [0.1; 3];
        assert_eq!(regression(&y, &y, &off()).unwrap().r2.value, 1.0);
        assert_eq!(
            regression(&y, &[0.1, 0.2, 0.1], &off()).unwrap().r2.value,
            0.0
        );
    }

    #[test]
    fn a_single_row_has_no_r2() {
        let m = regression(&[1.0], &[2.0], &off()).unwrap();
        assert!(m.r2.value.is_nan());
        assert_eq!(m.mae.value, 1.0);
    }

    #[test]
    fn zeros_in_the_target_use_the_epsilon_floor() {
        let m = regression(&[0.0, 1.0], &[1.0, 1.0], &off()).unwrap();
        assert_eq!(m.mape.value, 0.5 / f64::EPSILON);
    }

    #[test]
    fn compensated_sums_are_exact_where_naive_sums_drift() {
        let mut s = Sum::default();
        for _ in 0..10 {
            s.add(0.1);
        }
        assert_eq!(s.value(), 1.0);
        let mut s = Sum::default();
        s.add(1e100);
        s.add(1.0);
        s.add(-1e100);
        assert_eq!(s.value(), 1.0);
    }

    #[test]
    fn rows_split_over_threads_give_the_one_pass_sums() {
        // Past PARALLEL_MIN rows the sums come from per-range partial sums;
        // they must match one sequential compensated pass to the last bits.
        let n = 300_000;
        let actual: Vec<f64> = (0..n)
            .map(|i| 100.0 + (i as f64 * 0.37).sin() * 50.0)
            .collect();
        let predicted: Vec<f64> = actual
            .iter()
            .enumerate()
            .map(|(i, y)| y + (i as f64 * 1.3).cos())
            .collect();
        let m = regression(&actual, &predicted, &off()).unwrap();
        let (mut abs, mut sq, mut y) = (Sum::default(), Sum::default(), Sum::default());
        for (a, p) in actual.iter().zip(&predicted) {
            abs.add((a - p).abs());
            sq.add((a - p) * (a - p));
            y.add(*a);
        }
        let mean = y.value() / n as f64;
        let mut tss = Sum::default();
        for a in &actual {
            tss.add((a - mean) * (a - mean));
        }
        let close = |x: f64, w: f64| (x - w).abs() <= 1e-12 * w.abs();
        assert!(
            close(m.mae.value, abs.value() / n as f64),
            "{}",
            m.mae.value
        );
        assert!(close(m.mse.value, sq.value() / n as f64), "{}", m.mse.value);
        assert!(
            close(m.r2.value, 1.0 - sq.value() / tss.value()),
            "{}",
            m.r2.value
        );
    }

    #[test]
    fn spreads_come_with_enough_rows() {
        let y: Vec<f64> = (0..500).map(|i| (i % 17) as f64).collect();
        let p: Vec<f64> = (0..500).map(|i| (i % 13) as f64).collect();
        let m = regression(&y, &p, &Uncertainty::default()).unwrap();
        assert!(m.mae.standard_deviation > 0.0);
        assert!(m.r2.standard_deviation.is_finite());
    }
}
