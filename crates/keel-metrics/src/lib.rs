//! Model-quality metrics computed in Rust over Arrow arrays: binary and
//! multiclass classification, regression, fairness, drift, and the paired
//! tests that decide whether a challenger beats a champion.
//!
//! The crate does no IO. Kernels take plain slices (labels as `bool`, classes
//! as dense codes, scores as `f64`); [`column`] turns Arrow arrays into those
//! slices and says which rows it dropped; [`report`] assembles the result
//! document (SageMaker's statistics shape plus ModelOp's tests). A [`Spec`]
//! says which column plays which role; [`roles`] settles those roles from a
//! request and the model's schemas, the same way for every caller. [`Metric`]
//! names the metrics a comparison ([`compare`]) can decide on.
//!
//! Conventions shared by every kernel:
//! - Rows with a null or NaN in a column a metric needs are dropped by
//!   [`column`] before any kernel runs, and counted in the report.
//! - Empty input is [`Error::EmptyInput`], never a division by zero.
//! - A metric that is undefined for the data (AUC with one class, precision
//!   with no predicted positives under sklearn's `zero_division=0`, a ratio
//!   with a zero denominator) is NaN, spelled `"NaN"` in JSON.
//! - Every scalar is a [`Scalar`]: a value and a standard deviation over
//!   seeded subsamples ([`sample`]), NaN below [`Uncertainty::min_samples`].

#![warn(missing_docs)]

pub mod binary;
pub mod column;
pub mod compare;
pub mod drift;
mod error;
pub mod fairness;
pub mod metric;
pub mod multiclass;
pub mod par;
pub mod regression;
pub mod report;
pub mod roles;
pub mod sample;
pub mod sort;
pub mod spec;
pub mod special;

pub use error::{Error, Result};
pub use metric::{Metric, PairedTestKind};
pub use roles::{FieldHint, RoleRequest, Roles, resolve};
pub use spec::{ProblemType, Spec};

use serde::{Serialize, Serializer};

/// One metric value with its uncertainty, as SageMaker's statistics carry it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scalar {
    /// The metric over all rows (NaN when undefined for the data).
    pub value: f64,
    /// The standard deviation of the metric over the seeded subsamples (NaN
    /// when there are too few rows, or when it was not asked for).
    pub standard_deviation: f64,
}

impl Scalar {
    /// A value without a standard deviation.
    pub fn exact(value: f64) -> Self {
        Scalar {
            value,
            standard_deviation: f64::NAN,
        }
    }
}

/// Writes a float as a JSON number, or as the string `"NaN"` (or `"Infinity"`,
/// `"-Infinity"`) when it is not finite: JSON has no NaN, and SageMaker's
/// files use these strings.
pub fn serialize_f64<S: Serializer>(x: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else if x.is_nan() {
        s.serialize_str("NaN")
    } else if *x > 0.0 {
        s.serialize_str("Infinity")
    } else {
        s.serialize_str("-Infinity")
    }
}

/// [`serialize_f64`] for a list of floats.
pub fn serialize_f64s<S: Serializer>(xs: &[f64], s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    struct F(f64);
    impl Serialize for F {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            serialize_f64(&self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(xs.len()))?;
    for &x in xs {
        seq.serialize_element(&F(x))?;
    }
    seq.end()
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct F(f64);
        impl Serialize for F {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                serialize_f64(&self.0, s)
            }
        }
        let mut st = s.serialize_struct("Scalar", 2)?;
        st.serialize_field("value", &F(self.value))?;
        st.serialize_field("standard_deviation", &F(self.standard_deviation))?;
        st.end()
    }
}

/// How the standard deviation of each scalar is estimated: the metric is
/// recomputed on `subsamples` seeded subsamples of about `fraction` of the
/// rows, and the population standard deviation of those values is reported.
/// SageMaker does the same with 5 subsamples of 80 %, from 200 rows up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Uncertainty {
    /// Whether to compute standard deviations at all.
    pub enabled: bool,
    /// The seed of the subsample hash; the same seed gives the same subsamples.
    pub seed: u64,
    /// How many subsamples.
    pub subsamples: usize,
    /// The share of rows each subsample keeps.
    pub fraction: f64,
    /// Below this many rows the standard deviation is NaN.
    pub min_samples: usize,
}

impl Default for Uncertainty {
    fn default() -> Self {
        Uncertainty {
            enabled: true,
            seed: 0,
            subsamples: 5,
            fraction: 0.8,
            min_samples: 200,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_spell_nan_as_sagemaker_does() {
        let s = serde_json::to_string(&Scalar::exact(0.5)).unwrap();
        assert_eq!(s, r#"{"value":0.5,"standard_deviation":"NaN"}"#);
        let s = serde_json::to_string(&Scalar {
            value: f64::NAN,
            standard_deviation: 0.25,
        })
        .unwrap();
        assert_eq!(s, r#"{"value":"NaN","standard_deviation":0.25}"#);
    }
}
