//! Group fairness of a binary classifier: per-group rates and their gaps to a
//! reference group (statistical parity, disparate impact, equal opportunity,
//! average odds).
//!
//! The definitions are those of AIF360's `ClassificationMetric`
//! (`statistical_parity_difference`, `disparate_impact`,
//! `equal_opportunity_difference`, `average_odds_difference`) and of
//! Aequitas' group disparities, with the reference group in the role of
//! AIF360's privileged group: each is computed for every group against the
//! reference, so the reference's own row is 0 (or 1 for the ratio).

use serde::Serialize;

use crate::{Error, Result};

/// The rows of a binary classification with a protected attribute.
#[derive(Clone, Copy, Debug)]
pub struct FairnessInput<'a> {
    /// The true labels (`true` = positive).
    pub actual: &'a [bool],
    /// The predicted labels (`true` = positive).
    pub predicted: &'a [bool],
    /// The group of each row, as an index into `group_names`.
    pub groups: &'a [u32],
    /// The names of the groups, in code order.
    pub group_names: &'a [String],
}

/// The rates of one group and its gaps to the reference group. A rate whose
/// denominator is zero (no rows, no positives, no negatives, no predicted
/// positives) is NaN, and so is every gap built from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupMetrics {
    /// The group's name.
    pub group: String,
    /// The group's rows.
    pub count: u64,
    /// The group's actual positives.
    pub positives: u64,
    /// The group's predicted positives.
    pub predicted_positives: u64,
    /// The predicted positive rate, `predicted_positives / count`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub positive_rate: f64,
    /// The true positive rate (recall), `TP / positives`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub true_positive_rate: f64,
    /// The false positive rate, `FP / negatives`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub false_positive_rate: f64,
    /// The precision, `TP / predicted_positives`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub precision: f64,
    /// `positive_rate(group) − positive_rate(reference)`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub statistical_parity_difference: f64,
    /// `positive_rate(group) / positive_rate(reference)`; NaN when the
    /// reference's rate is 0.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub disparate_impact: f64,
    /// `TPR(group) − TPR(reference)`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub equal_opportunity_difference: f64,
    /// `((FPR(group) − FPR(reference)) + (TPR(group) − TPR(reference))) / 2`.
    #[serde(serialize_with = "crate::serialize_f64")]
    pub average_odds_difference: f64,
}

/// Fairness over all groups of one protected attribute.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fairness {
    /// The group every gap is measured against.
    pub reference_group: String,
    /// One entry per name in `group_names`, in that order, including groups
    /// with no rows (whose rates are NaN).
    pub groups: Vec<GroupMetrics>,
}

/// Per-group counts, gathered in one pass over the rows.
#[derive(Clone, Copy, Default)]
struct Counts {
    count: u64,
    positives: u64,
    predicted_positives: u64,
    true_positives: u64,
    false_positives: u64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        num as f64 / den as f64
    }
}

/// Computes per-group rates and the gaps of every group to `reference`.
///
/// The reference group defaults to the largest group (ties go to the first in
/// `group_names` order). With a single group, every difference is 0 and the
/// ratio 1 (or NaN when its rate is 0).
///
/// Errors: [`Error::EmptyInput`] when there are no rows or no group names;
/// [`Error::InvalidInput`] when the slices differ in length, a group code is
/// out of range, or `reference` names no group (the message lists them).
pub fn fairness(input: &FairnessInput, reference: Option<&str>) -> Result<Fairness> {
    let n = input.actual.len();
    if input.predicted.len() != n || input.groups.len() != n {
        return Err(Error::InvalidInput(format!(
            "fairness: actual, predicted and group columns differ in length ({}, {}, {})",
            n,
            input.predicted.len(),
            input.groups.len()
        )));
    }
    if n == 0 {
        return Err(Error::EmptyInput("fairness: no rows".into()));
    }
    let k = input.group_names.len();
    if k == 0 {
        return Err(Error::EmptyInput("fairness: no groups".into()));
    }
    let mut counts = vec![Counts::default(); k];
    for ((&a, &p), &g) in input.actual.iter().zip(input.predicted).zip(input.groups) {
        let c = counts.get_mut(g as usize).ok_or_else(|| {
            Error::InvalidInput(format!(
                "fairness: group code {g} is out of range for {k} group names"
            ))
        })?;
        c.count += 1;
        c.positives += u64::from(a);
        c.predicted_positives += u64::from(p);
        c.true_positives += u64::from(a && p);
        c.false_positives += u64::from(!a && p);
    }
    let reference_index = match reference {
        Some(name) => input
            .group_names
            .iter()
            .position(|g| g == name)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "fairness: reference group {name:?} is not one of the groups: {}",
                    input.group_names.join(", ")
                ))
            })?,
        None => {
            // The largest group; `max_by_key` keeps the last maximum, so
            // search for the first one explicitly.
            let largest = counts.iter().map(|c| c.count).max().unwrap_or(0);
            counts.iter().position(|c| c.count == largest).unwrap_or(0)
        }
    };
    let rates = |c: &Counts| {
        (
            ratio(c.predicted_positives, c.count),
            ratio(c.true_positives, c.positives),
            ratio(c.false_positives, c.count - c.positives),
            ratio(c.true_positives, c.predicted_positives),
        )
    };
    let (ref_pr, ref_tpr, ref_fpr, _) = rates(&counts[reference_index]);
    let groups = counts
        .iter()
        .zip(input.group_names)
        .map(|(c, name)| {
            let (pr, tpr, fpr, precision) = rates(c);
            GroupMetrics {
                group: name.clone(),
                count: c.count,
                positives: c.positives,
                predicted_positives: c.predicted_positives,
                positive_rate: pr,
                true_positive_rate: tpr,
                false_positive_rate: fpr,
                precision,
                statistical_parity_difference: pr - ref_pr,
                disparate_impact: if ref_pr == 0.0 { f64::NAN } else { pr / ref_pr },
                equal_opportunity_difference: tpr - ref_tpr,
                average_odds_difference: ((fpr - ref_fpr) + (tpr - ref_tpr)) / 2.0,
            }
        })
        .collect();
    Ok(Fairness {
        reference_group: input.group_names[reference_index].clone(),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn gaps_are_measured_against_the_largest_group() {
        let actual = [true, false, true, false, true, false, true];
        let predicted = [true, true, false, false, true, false, false];
        let groups = [0, 0, 0, 0, 1, 1, 1];
        let group_names = names(&["a", "b"]);
        let f = fairness(
            &FairnessInput {
                actual: &actual,
                predicted: &predicted,
                groups: &groups,
                group_names: &group_names,
            },
            None,
        )
        .unwrap();
        assert_eq!(f.reference_group, "a");
        let a = &f.groups[0];
        let b = &f.groups[1];
        assert_eq!((a.count, a.positives, a.predicted_positives), (4, 2, 2));
        assert_eq!(a.positive_rate, 0.5);
        assert_eq!(a.true_positive_rate, 0.5);
        assert_eq!(a.false_positive_rate, 0.5);
        assert_eq!(a.statistical_parity_difference, 0.0);
        assert_eq!(a.disparate_impact, 1.0);
        assert_eq!(b.positive_rate, 1.0 / 3.0);
        assert_eq!(b.true_positive_rate, 0.5);
        assert_eq!(b.false_positive_rate, 0.0);
        assert_eq!(b.disparate_impact, (1.0 / 3.0) / 0.5);
        assert_eq!(b.average_odds_difference, -0.25);
    }

    #[test]
    fn zero_denominators_are_nan_and_ties_pick_the_first_group() {
        // Group b has no positives and no predicted positives.
        let actual = [true, false, false, false];
        let predicted = [false, false, false, false];
        let groups = [0, 0, 1, 1];
        let group_names = names(&["a", "b", "empty"]);
        let input = FairnessInput {
            actual: &actual,
            predicted: &predicted,
            groups: &groups,
            group_names: &group_names,
        };
        let f = fairness(&input, None).unwrap();
        assert_eq!(f.reference_group, "a");
        assert!(f.groups[1].true_positive_rate.is_nan());
        assert!(f.groups[1].precision.is_nan());
        assert!(f.groups[1].disparate_impact.is_nan(), "reference rate is 0");
        assert!(f.groups[2].positive_rate.is_nan());
        assert_eq!(f.groups[2].count, 0);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains(r#""precision":"NaN""#));
    }

    #[test]
    fn bad_input_is_an_error() {
        let group_names = names(&["a", "b"]);
        let input = FairnessInput {
            actual: &[true],
            predicted: &[true],
            groups: &[0],
            group_names: &group_names,
        };
        let e = fairness(&input, Some("c")).unwrap_err();
        assert!(e.to_string().contains("a, b"), "{e}");
        let bad = FairnessInput {
            actual: &[true],
            predicted: &[true],
            groups: &[2],
            group_names: &group_names,
        };
        assert!(matches!(fairness(&bad, None), Err(Error::InvalidInput(_))));
        let short = FairnessInput {
            actual: &[true],
            predicted: &[],
            groups: &[0],
            group_names: &group_names,
        };
        assert!(matches!(
            fairness(&short, None),
            Err(Error::InvalidInput(_))
        ));
        let empty = FairnessInput {
            actual: &[],
            predicted: &[],
            groups: &[],
            group_names: &group_names,
        };
        assert!(matches!(fairness(&empty, None), Err(Error::EmptyInput(_))));
    }
}
