//! McNemar's test of two paired accuracies, on the rows only one of the two
//! models gets right.

use super::{PairedTest, check_confidence, check_lengths};
use crate::metric::PairedTestKind;
use crate::special::{chi2_sf, normal_ppf};
use crate::{Metric, Result};

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
/// Errors: [`Error::InvalidInput`](crate::Error::InvalidInput) for columns of
/// different lengths, [`Error::InvalidArgument`](crate::Error::InvalidArgument)
/// for a confidence outside (0, 1), [`Error::EmptyInput`](crate::Error::EmptyInput)
/// for no rows.
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
        metric: Metric::Accuracy,
        method: PairedTestKind::McNemar.as_str().into(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
