//! DeLong's test of two correlated AUCs, in the fast midrank form: one sort
//! of each model's scores gives every row's structural components.

use super::{PairedTest, check_confidence, check_lengths};
use crate::metric::PairedTestKind;
use crate::special::{normal_ppf, normal_sf};
use crate::{Error, Metric, Result, sort};

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
/// score or more than 2³² rows; [`Error::InvalidArgument`] for a confidence
/// outside (0, 1); [`Error::EmptyInput`] for no rows.
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
        metric: Metric::Auc,
        method: PairedTestKind::DeLong.as_str().into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Verdict, decide};

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
}
