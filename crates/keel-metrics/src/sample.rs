//! Seeded subsamples for the standard deviation of every metric, and the
//! spread of the values a metric takes on them.
//!
//! SageMaker reports, next to each metric, the standard deviation of that
//! metric over 5 random 80 % subsamples, from 200 rows up. Keel does the same
//! with a stateless hash instead of a random generator: whether row `i` is in
//! subsample `k` depends only on `(seed, k, i)`, so rows can be tested in any
//! order, kernels can carry the membership as a few bits per row, and the
//! golden scripts can replicate the subsamples exactly in Python.

use crate::Uncertainty;

/// The most subsamples a kernel draws: membership travels as one bit per
/// subsample in a byte. A larger [`Uncertainty::subsamples`] is clamped.
pub const MAX_SUBSAMPLES: usize = 8;

/// The increment of splitmix64 (the golden ratio in 64-bit fixed point).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 finalizer: a bijective 64-bit mix whose outputs look
/// independent for consecutive inputs.
///
/// `z = x + 0x9E3779B97F4A7C15` (wrapping), then
/// `z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9`,
/// `z = (z ^ (z >> 27)) * 0x94D049BB133111EB`, and the result is
/// `z ^ (z >> 31)`, all wrapping.
#[inline]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The per-subsample base of the row hash: `mix(seed ^ ((k + 1) * GOLDEN))`.
#[inline]
fn base(u: &Uncertainty, k: usize) -> u64 {
    mix(u.seed ^ (k as u64 + 1).wrapping_mul(GOLDEN))
}

/// The hash bound below which a row is kept: `fraction * 2^64`, truncated.
/// The float-to-integer cast saturates, so a fraction of 1 or more keeps
/// every row but (with probability 2^-64) one, and a NaN or negative fraction
/// keeps none.
#[inline]
fn bound(u: &Uncertainty) -> u64 {
    (u.fraction * 18_446_744_073_709_551_616.0) as u64
}

/// Whether row `i` belongs to subsample `k`: true iff
/// `mix(mix(seed ^ ((k + 1) * 0x9E3779B97F4A7C15)) ^ i) < fraction * 2^64`.
///
/// The test is stateless, so each row is kept independently with probability
/// `fraction`; a subsample therefore has about, not exactly, `fraction * n`
/// rows.
#[inline]
pub fn in_subsample(u: &Uncertainty, k: usize, i: usize) -> bool {
    mix(base(u, k) ^ i as u64) < bound(u)
}

/// Refuses more subsamples than [`MAX_SUBSAMPLES`], which the kernels would
/// otherwise clamp without a word.
pub fn check_subsamples(subsamples: usize) -> crate::Result<()> {
    if subsamples > MAX_SUBSAMPLES {
        return Err(crate::Error::InvalidArgument(format!(
            "`subsamples` is {subsamples}; it can be at most {MAX_SUBSAMPLES} (or 0 for no \
             standard deviations)"
        )));
    }
    Ok(())
}

/// How many subsamples the kernels draw: [`Uncertainty::subsamples`] clamped
/// to [`MAX_SUBSAMPLES`].
pub fn subsample_count(u: &Uncertainty) -> usize {
    u.subsamples.min(MAX_SUBSAMPLES)
}

/// Whether standard deviations are computed at all for `n` rows: they are
/// when [`Uncertainty::enabled`] is set, there is at least one subsample, and
/// `n` reaches [`Uncertainty::min_samples`]; otherwise every standard
/// deviation is NaN.
pub fn wants_spread(u: &Uncertainty, n: usize) -> bool {
    u.enabled && subsample_count(u) > 0 && n >= u.min_samples
}

/// The membership of rows `0..n`: bit `k` of byte `i` is set when row `i` is
/// in subsample `k` ([`in_subsample`]). At most [`MAX_SUBSAMPLES`]
/// subsamples are drawn; a larger count is clamped, because the bits travel
/// in one byte.
pub fn subsample_bits(u: &Uncertainty, n: usize) -> Vec<u8> {
    let s = subsample_count(u);
    let bases: Vec<u64> = (0..s).map(|k| base(u, k)).collect();
    let bound = bound(u);
    let fill = |start: usize, out: &mut [u8]| {
        for (i, o) in (start..).zip(out.iter_mut()) {
            let mut b = 0u8;
            for (k, &h) in bases.iter().enumerate() {
                b |= u8::from(mix(h ^ i as u64) < bound) << k;
            }
            *o = b;
        }
    };
    let mut out = vec![0u8; n];
    // Each row's bits depend on nothing but its index, so the rows split
    // over the cores; a few hashes per row make it worth it for large n.
    crate::par::fill(&mut out, 1 << 16, fill);
    out
}

/// The population standard deviation (ddof = 0, numpy's default `np.std`) of
/// the values a metric takes on the subsamples.
///
/// ddof = 0 is what numpy computes by default, which is the natural reading of
/// SageMaker's "the standard deviation of those results"; it describes the
/// spread of these few values rather than estimating a population variance.
/// NaN when any value is NaN (a metric undefined on some subsample) or when
/// there are fewer than 2 values.
pub fn spread(values: &[f64]) -> f64 {
    if values.len() < 2 || values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_matches_the_reference_splitmix64() {
        // splitmix64 seeded with 0 yields these first outputs; our `mix(x)` is
        // the output for state x, so mix(0) is the first and mix(GOLDEN) the
        // second.
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(mix(GOLDEN), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn bits_agree_with_the_row_test_and_keep_about_the_fraction() {
        let u = Uncertainty::default();
        let n = 20_000;
        let bits = subsample_bits(&u, n);
        for (i, &b) in bits.iter().enumerate().take(500) {
            for k in 0..5 {
                assert_eq!(b >> k & 1 == 1, in_subsample(&u, k, i));
            }
            assert_eq!(b >> 5, 0);
        }
        for k in 0..5 {
            let kept = bits.iter().filter(|&&b| b >> k & 1 == 1).count();
            let share = kept as f64 / n as f64;
            assert!((share - 0.8).abs() < 0.02, "subsample {k} keeps {share}");
        }
    }

    #[test]
    fn subsample_count_is_clamped_to_a_byte() {
        let u = Uncertainty {
            subsamples: 20,
            ..Uncertainty::default()
        };
        assert_eq!(subsample_count(&u), MAX_SUBSAMPLES);
        assert_eq!(subsample_bits(&u, 3).len(), 3);
    }

    #[test]
    fn spread_is_the_population_standard_deviation() {
        assert_eq!(spread(&[1.0, 3.0]), 1.0);
        assert!(spread(&[1.0]).is_nan());
        assert!(spread(&[1.0, f64::NAN, 2.0]).is_nan());
        assert_eq!(spread(&[2.0; 5]), 0.0);
    }

    #[test]
    fn spread_is_wanted_only_from_min_samples_up() {
        let u = Uncertainty::default();
        assert!(!wants_spread(&u, 199));
        assert!(wants_spread(&u, 200));
        let off = Uncertainty {
            enabled: false,
            ..u
        };
        assert!(!wants_spread(&off, 10_000));
    }
}
