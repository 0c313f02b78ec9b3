//! Data drift between a baseline sample and a current sample of one feature:
//! PSI, Kolmogorov–Smirnov, Jensen–Shannon and Wasserstein for numeric
//! features; chi-squared and L-infinity for categorical ones.
//!
//! Every statistic follows a named reference implementation so that the
//! numbers can be checked against it (`golden/stats.py` does): numpy for the
//! bins, scipy for KS, Jensen–Shannon, Wasserstein and chi-squared.

use serde::Serialize;

use crate::special::{chi2_sf, kolmogorov_sf};
use crate::{Error, Result, sort};

/// Settings of [`numeric_drift`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DriftOptions {
    /// How many quantile bins of the baseline PSI and Jensen–Shannon use
    /// (fewer when the baseline has repeated quantiles). Default 10.
    pub bins: usize,
    /// The floor applied to each bin fraction in PSI, so that an empty bin
    /// gives a large but finite term. Default 1e-4.
    pub psi_epsilon: f64,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            bins: 10,
            psi_epsilon: 1e-4,
        }
    }
}

/// Drift of a numeric feature.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NumericDrift {
    /// Values in the baseline sample.
    pub baseline_count: u64,
    /// Values in the current sample.
    pub current_count: u64,
    /// The population stability index over the bins:
    /// `Σ (c − b) ln(c / b)` with both fractions floored at `psi_epsilon`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub psi: f64,
    /// The two-sample Kolmogorov–Smirnov statistic, the largest gap between
    /// the two empirical distribution functions.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub ks_statistic: f64,
    /// The two-sided p-value of the KS statistic, as `scipy.stats.ks_2samp`
    /// computes it with `method='auto'`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub ks_p_value: f64,
    /// The Jensen–Shannon distance (natural log) between the two bin
    /// distributions, as `scipy.spatial.distance.jensenshannon`: in [0,
    /// sqrt(ln 2)].
    #[serde(serialize_with = "crate::serialize_f64")]
    pub jensen_shannon_distance: f64,
    /// The first Wasserstein (earth mover's) distance between the two
    /// samples, as `scipy.stats.wasserstein_distance`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub wasserstein_distance: f64,
    /// The interior bin edges (baseline quantiles, duplicates removed); the
    /// outer bins are open to −∞ and +∞, so there is one more bin than edges.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub bin_edges: Vec<f64>,
    /// The share of baseline values in each bin.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub baseline_fractions: Vec<f64>,
    /// The share of current values in each bin.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub current_fractions: Vec<f64>,
}

/// Compares the distribution of a numeric feature in `current` to `baseline`.
///
/// Definitions:
/// - **Bins.** The interior edges are the baseline's quantiles at
///   `1/bins, …, (bins−1)/bins` with numpy's default linear interpolation
///   (`np.quantile`), duplicates removed. A value `x` goes to bin
///   `np.searchsorted(edges, x, side='right')`: the number of edges `<= x`,
///   so a value equal to an edge lands in the bin on its right.
/// - **PSI** = `Σ (c − b) ln(c / b)` over bins, each fraction floored at
///   `psi_epsilon` (the usual credit-scoring definition).
/// - **Jensen–Shannon distance** = `scipy.spatial.distance.jensenshannon(b,
///   c)`: `sqrt((KL(b‖m) + KL(c‖m)) / 2)` with `m = (b + c)/2`, natural log,
///   no floor.
/// - **Wasserstein distance** = `scipy.stats.wasserstein_distance(baseline,
///   current)`: `∫ |F_b(x) − F_c(x)| dx` over the exact empirical
///   distribution functions.
/// - **KS** = `scipy.stats.ks_2samp(baseline, current)` (two-sided,
///   `method='auto'`). When both samples have at most 10 000 values the
///   p-value is exact (Hodges' lattice-path count; Viehmann's recursion for
///   unequal sizes) and the statistic is rounded to a multiple of
///   `1/lcm(n1, n2)` as scipy rounds it; otherwise it is
///   `kstwo.sf(D, round(n1 n2 / (n1 + n2)))`, see
///   [`kolmogorov_sf`](crate::special::kolmogorov_sf). If the exact count
///   fails numerically, scipy (and this) falls back to the asymptotic one.
///
/// Each sample is sorted once; KS and Wasserstein come from one
/// merge walk over the two sorted samples, and the bins from binary searches.
/// Identical samples give 0 everywhere and a p-value of 1.
///
/// Errors: [`Error::EmptyInput`] when either sample is empty;
/// [`Error::InvalidInput`] when `bins` is 0, `psi_epsilon` is negative or
/// NaN, or a value is NaN.
pub fn numeric_drift(
    baseline: &[f64],
    current: &[f64],
    opts: &DriftOptions,
) -> Result<NumericDrift> {
    if baseline.iter().chain(current).any(|x| x.is_nan()) {
        return Err(Error::InvalidInput("drift: a value is NaN".into()));
    }
    let a: Vec<u64> = baseline.iter().map(|&x| sort::key(x)).collect();
    let b: Vec<u64> = current.iter().map(|&x| sort::key(x)).collect();
    numeric_drift_keys(a, b, opts)
}

/// [`numeric_drift`] over the samples' order-preserving keys
/// ([`sort::key`]), in any order: callers that read a column straight into
/// keys save a copy of each sample. The keys must not be those of NaN.
pub fn numeric_drift_keys(
    mut a: Vec<u64>,
    mut b: Vec<u64>,
    opts: &DriftOptions,
) -> Result<NumericDrift> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::EmptyInput(format!(
            "drift: the {} sample is empty",
            if a.is_empty() { "baseline" } else { "current" }
        )));
    }
    if opts.bins == 0 {
        return Err(Error::InvalidInput("drift: bins must be at least 1".into()));
    }
    if opts.psi_epsilon.is_nan() || opts.psi_epsilon < 0.0 {
        return Err(Error::InvalidInput(
            "drift: psi_epsilon must be a non-negative number".into(),
        ));
    }
    // Everything below works on the sorted order-preserving keys, which
    // saves converting 2n values back to floats; a key is turned back into
    // its float only where arithmetic needs it.
    sort::sort_keys(&mut a);
    sort::sort_keys(&mut b);
    let (n1, n2) = (a.len(), b.len());

    let edges = quantile_edges(&a, opts.bins);
    let baseline_fractions = bin_fractions(&a, &edges);
    let current_fractions = bin_fractions(&b, &edges);

    let eps = opts.psi_epsilon;
    let psi = baseline_fractions
        .iter()
        .zip(&current_fractions)
        .map(|(&p, &q)| {
            let (p, q) = (p.max(eps), q.max(eps));
            (q - p) * (q / p).ln()
        })
        .sum();
    let jensen_shannon_distance = jensen_shannon(&baseline_fractions, &current_fractions);

    let walk = merge_walk(&a, &b);
    let (ks_statistic, ks_p_value) =
        ks_two_sample(n1 as u64, n2 as u64, walk.max_gap, walk.min_gap);

    Ok(NumericDrift {
        baseline_count: n1 as u64,
        current_count: n2 as u64,
        psi,
        ks_statistic,
        ks_p_value,
        jensen_shannon_distance,
        wasserstein_distance: walk.wasserstein,
        bin_edges: edges,
        baseline_fractions,
        current_fractions,
    })
}

/// The baseline's quantiles at `1/bins .. (bins−1)/bins`, computed as
/// `np.quantile(a, q)` with its default linear method, sorted and deduplicated.
fn quantile_edges(sorted: &[u64], bins: usize) -> Vec<f64> {
    let n = sorted.len();
    let mut edges: Vec<f64> = (1..bins)
        .map(|i| {
            let q = i as f64 / bins as f64;
            let virtual_index = (n - 1) as f64 * q;
            let previous = virtual_index.floor();
            let gamma = virtual_index - previous;
            let lo = (previous as usize).min(n - 1);
            let hi = (lo + 1).min(n - 1);
            lerp(sort::unkey(sorted[lo]), sort::unkey(sorted[hi]), gamma)
        })
        .collect();
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    edges
}

/// numpy's `_lerp`: interpolates from the nearer end so that `t = 1` gives
/// exactly `b`.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// The share of the sorted values in each bin: bin `k` holds the values with
/// `k` edges at or below them.
fn bin_fractions(sorted: &[u64], edges: &[f64]) -> Vec<f64> {
    let n = sorted.len() as f64;
    let mut fractions = Vec::with_capacity(edges.len() + 1);
    let mut below = 0;
    for &e in edges {
        let e = sort::key(e);
        let upto = sorted.partition_point(|&x| x < e);
        fractions.push((upto - below) as f64 / n);
        below = upto;
    }
    fractions.push((sorted.len() - below) as f64 / n);
    fractions
}

/// `scipy.spatial.distance.jensenshannon(p, q)` with the natural log: both
/// vectors are normalized to sum 1 first, and `0 ln 0` is 0.
fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    let rel_entr = |x: f64, y: f64| {
        if x > 0.0 && y > 0.0 {
            x * (x / y).ln()
        } else if x == 0.0 && y >= 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    };
    let mut js = 0.0;
    for (&x, &y) in p.iter().zip(q) {
        let (x, y) = (x / sp, y / sq);
        let m = (x + y) / 2.0;
        js += rel_entr(x, m) + rel_entr(y, m);
    }
    (js / 2.0).sqrt()
}

/// What one walk over the two sorted samples yields.
struct Walk {
    /// The largest `F1(x) − F2(x)` over the data.
    max_gap: f64,
    /// The smallest `F1(x) − F2(x)` over the data.
    min_gap: f64,
    /// `∫ |F1 − F2| dx`.
    wasserstein: f64,
}

/// Walks the distinct values of both sorted samples (as keys) in order.
/// After each value both empirical distribution functions are known, `i/n1`
/// and `j/n2` (computed as scipy computes them, by one division each), which
/// gives the KS gaps and the Wasserstein area up to the next value.
fn merge_walk(a: &[u64], b: &[u64]) -> Walk {
    let (n1, n2) = (a.len(), b.len());
    let (f1, f2) = (n1 as f64, n2 as f64);
    // Past the end, a sample reads as u64::MAX, above every key of a number.
    let at = |s: &[u64], i: usize| s.get(i).copied().unwrap_or(u64::MAX);
    let (mut i, mut j) = (0usize, 0usize);
    let mut max_gap = f64::NEG_INFINITY;
    let mut min_gap = f64::INFINITY;
    // Neumaier summation: the area is a sum of up to n1 + n2 small terms.
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    let mut v = at(a, 0).min(at(b, 0));
    while v != u64::MAX {
        while i < n1 && a[i] == v {
            i += 1;
        }
        while j < n2 && b[j] == v {
            j += 1;
        }
        let gap = i as f64 / f1 - j as f64 / f2;
        max_gap = max_gap.max(gap);
        min_gap = min_gap.min(gap);
        let w = at(a, i).min(at(b, j));
        if w != u64::MAX {
            let term = gap.abs() * (sort::unkey(w) - sort::unkey(v));
            let t = sum + term;
            if sum.abs() >= term.abs() {
                comp += (sum - t) + term;
            } else {
                comp += (term - t) + sum;
            }
            sum = t;
        }
        v = w;
    }
    Walk {
        max_gap,
        min_gap,
        wasserstein: sum + comp,
    }
}

/// The largest sample size for which `ks_2samp(method='auto')` is exact.
const KS_MAX_EXACT_N: u64 = 10_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `ks_2samp`'s statistic and two-sided p-value from the extreme gaps of the
/// empirical distribution functions, following scipy's code path.
fn ks_two_sample(n1: u64, n2: u64, max_gap: f64, min_gap: f64) -> (f64, f64) {
    let min_s = (-min_gap).clamp(0.0, 1.0);
    let mut d = if min_s > max_gap { min_s } else { max_gap };
    if n1.max(n2) <= KS_MAX_EXACT_N {
        let g = gcd(n1, n2);
        let lcm = (n1 / g) * n2;
        let h = (d * lcm as f64).round_ties_even() as i64;
        d = h as f64 / lcm as f64;
        if h == 0 {
            return (d, 1.0);
        }
        let prob = if n1 == n2 {
            Some(prob_outside_square(n1 as i64, h))
        } else {
            outer_prob_inside(n1 as i64, n2 as i64, g as i64, h)
        };
        if let Some(p) = prob
            && (0.0..=1.0).contains(&p)
        {
            return (d, p);
        }
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = m * n / (m + n);
    let p = kolmogorov_sf(en.round_ties_even() as u64, d);
    (d, p.clamp(0.0, 1.0))
}

/// `Pr(D_{n,n} >= h/n)`: the share of lattice paths that leave the band
/// `|x − y| < h`, by the alternating reflection sum evaluated Horner-style
/// (scipy's `_compute_prob_outside_square`).
fn prob_outside_square(n: i64, h: i64) -> f64 {
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// The share of lattice paths from (0, 0) to (m, n) that do not stay strictly
/// inside `|x/m − y/n| < h/lcm(m, n)`, computed directly as `1 − inside` by
/// Viehmann's (2021) recursion over a sliding column (scipy's
/// `_compute_outer_prob_inside_method`). `None` if an index would leave the
/// window, which scipy would treat as a failed exact computation.
fn outer_prob_inside(m: i64, n: i64, g: i64, h: i64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let mg = m / g;
    let ng = n / g;
    let ceil_div = |a: i64, b: i64| -((-a).div_euclid(b));
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for x in a.iter_mut().take(maxj as usize) {
        *x = 0.0;
    }
    for i in 1..=m {
        let lastminj = minj;
        let lastlen = curlen;
        minj = ((ng * i - h).div_euclid(mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for jj in 0..(maxj - minj) {
            let j = (jj + minj) as f64;
            let prev = *a.get((jj + minj - lastminj) as usize)?;
            val = (prev * fi + val * j) / (fi + j);
            *a.get_mut(jj as usize)? = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(len_a);
            for x in a.iter_mut().take(end).skip(start) {
                *x = 1.0;
            }
        }
    }
    a.get((maxj - minj - 1) as usize).copied()
}

/// Drift of a categorical feature.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CategoricalDrift {
    /// Values in the baseline sample.
    pub baseline_count: u64,
    /// Values in the current sample.
    pub current_count: u64,
    /// Pearson's chi-squared statistic of homogeneity of the 2 × k table.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub chi_squared: f64,
    /// Its p-value from the chi-squared distribution.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub chi_squared_p_value: f64,
    /// Categories seen in either sample, minus one.
    pub degrees_of_freedom: u64,
    /// The largest absolute difference of a category's share between the
    /// samples (Deequ's and SageMaker's L-infinity).
    #[serde(serialize_with = "crate::serialize_f64")]
    pub l_infinity: f64,
    /// The share of each category in the baseline, one per category code.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub baseline_fractions: Vec<f64>,
    /// The share of each category in the current sample, one per code.
    #[serde(serialize_with = "crate::serialize_f64s")]
    pub current_fractions: Vec<f64>,
}

/// Compares the category distribution of `current` to `baseline`; both hold
/// category codes below `categories`.
///
/// The chi-squared test is the test of homogeneity on the 2 × k contingency
/// table of counts (rows: baseline, current) without continuity correction,
/// as `scipy.stats.chi2_contingency(table, correction=False)`; categories
/// with no value in either sample are dropped from the table first. With a
/// single category left there is nothing to test: the statistic is 0, the
/// degrees of freedom 0 and the p-value 1, as scipy returns.
///
/// Errors: [`Error::EmptyInput`] when either sample is empty;
/// [`Error::InvalidInput`] when a code is not below `categories`.
pub fn categorical_drift(
    baseline: &[u32],
    current: &[u32],
    categories: usize,
) -> Result<CategoricalDrift> {
    if baseline.is_empty() {
        return Err(Error::EmptyInput(
            "drift: the baseline sample is empty".into(),
        ));
    }
    if current.is_empty() {
        return Err(Error::EmptyInput(
            "drift: the current sample is empty".into(),
        ));
    }
    let count = |xs: &[u32]| -> Result<Vec<u64>> {
        let mut c = vec![0u64; categories];
        for &x in xs {
            *c.get_mut(x as usize).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "drift: category code {x} is out of range for {categories} categories"
                ))
            })? += 1;
        }
        Ok(c)
    };
    let bc = count(baseline)?;
    let cc = count(current)?;
    let (n1, n2) = (baseline.len() as f64, current.len() as f64);
    let total = n1 + n2;
    let mut chi_squared = 0.0;
    let mut kept = 0u64;
    for (&o1, &o2) in bc.iter().zip(&cc) {
        if o1 + o2 == 0 {
            continue;
        }
        kept += 1;
        let col = (o1 + o2) as f64;
        let e1 = n1 * col / total;
        let e2 = n2 * col / total;
        chi_squared += (o1 as f64 - e1).powi(2) / e1 + (o2 as f64 - e2).powi(2) / e2;
    }
    let dof = kept.saturating_sub(1);
    let (chi_squared, chi_squared_p_value) = if dof == 0 {
        (0.0, 1.0)
    } else {
        (chi_squared, chi2_sf(chi_squared, dof as f64))
    };
    let baseline_fractions: Vec<f64> = bc.iter().map(|&c| c as f64 / n1).collect();
    let current_fractions: Vec<f64> = cc.iter().map(|&c| c as f64 / n2).collect();
    let l_infinity = baseline_fractions
        .iter()
        .zip(&current_fractions)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    Ok(CategoricalDrift {
        baseline_count: baseline.len() as u64,
        current_count: current.len() as u64,
        chi_squared,
        chi_squared_p_value,
        degrees_of_freedom: dof,
        l_infinity,
        baseline_fractions,
        current_fractions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_do_not_drift() {
        let xs: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64).collect();
        let d = numeric_drift(&xs, &xs, &DriftOptions::default()).unwrap();
        assert_eq!(d.psi, 0.0);
        assert_eq!(d.ks_statistic, 0.0);
        assert_eq!(d.ks_p_value, 1.0);
        assert_eq!(d.jensen_shannon_distance, 0.0);
        assert_eq!(d.wasserstein_distance, 0.0);
        assert_eq!(d.bin_edges.len(), 9);
        assert_eq!(d.baseline_fractions.len(), 10);
    }

    #[test]
    fn a_constant_baseline_has_one_edge_and_two_bins() {
        let d = numeric_drift(&[2.0; 50], &[1.0, 2.0, 3.0], &DriftOptions::default()).unwrap();
        assert_eq!(d.bin_edges, vec![2.0]);
        // A value equal to the edge goes to the right-hand bin.
        assert_eq!(d.baseline_fractions, vec![0.0, 1.0]);
        assert_eq!(d.current_fractions, vec![1.0 / 3.0, 2.0 / 3.0]);
        // One bin: no interior edges.
        let d = numeric_drift(
            &[1.0, 2.0],
            &[3.0],
            &DriftOptions {
                bins: 1,
                psi_epsilon: 1e-4,
            },
        )
        .unwrap();
        assert!(d.bin_edges.is_empty());
        assert_eq!(d.psi, 0.0);
    }

    #[test]
    fn shifted_samples_are_fully_separated() {
        let a: Vec<f64> = (0..20).map(f64::from).collect();
        let b: Vec<f64> = (100..120).map(f64::from).collect();
        let d = numeric_drift(&a, &b, &DriftOptions::default()).unwrap();
        assert_eq!(d.ks_statistic, 1.0);
        assert_eq!(d.wasserstein_distance, 100.0);
        // Two samples of 20 fully separated: 2 / C(40, 20).
        assert!((d.ks_p_value - 2.0 / 137_846_528_820.0).abs() < 1e-22);
    }

    #[test]
    fn bad_input_is_an_error() {
        let o = DriftOptions::default();
        assert!(matches!(
            numeric_drift(&[], &[1.0], &o),
            Err(Error::EmptyInput(_))
        ));
        assert!(matches!(
            numeric_drift(&[1.0], &[], &o),
            Err(Error::EmptyInput(_))
        ));
        assert!(matches!(
            numeric_drift(&[f64::NAN], &[1.0], &o),
            Err(Error::InvalidInput(_))
        ));
        let zero = DriftOptions {
            bins: 0,
            psi_epsilon: 1e-4,
        };
        assert!(matches!(
            numeric_drift(&[1.0], &[1.0], &zero),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            categorical_drift(&[], &[0], 1),
            Err(Error::EmptyInput(_))
        ));
        assert!(matches!(
            categorical_drift(&[3], &[0], 2),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn one_category_has_nothing_to_test() {
        let d = categorical_drift(&[1, 1], &[1], 3).unwrap();
        assert_eq!(
            (d.chi_squared, d.chi_squared_p_value, d.degrees_of_freedom),
            (0.0, 1.0, 0)
        );
        assert_eq!(d.l_infinity, 0.0);
        assert_eq!(d.baseline_fractions, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn chi_squared_of_a_small_table() {
        // [[10, 20], [20, 10]]: expected 15 everywhere, chi2 = 4 * 25/15.
        let b: Vec<u32> = [vec![0; 10], vec![1; 20]].concat();
        let c: Vec<u32> = [vec![0; 20], vec![1; 10]].concat();
        let d = categorical_drift(&b, &c, 2).unwrap();
        assert!((d.chi_squared - 100.0 / 15.0).abs() < 1e-12);
        assert_eq!(d.degrees_of_freedom, 1);
        assert!((d.l_infinity - 1.0 / 3.0).abs() < 1e-15);
    }
}
