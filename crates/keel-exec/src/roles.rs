//! Converts between the metrics roles `keel-metrics` resolves and the record
//! a metrics job stores them in.

use keel_metrics::{ProblemType, Roles};
use keel_store::formats::MetricsRolesRecord;

/// The record of settled roles.
pub fn to_record(r: &Roles) -> MetricsRolesRecord {
    MetricsRolesRecord {
        problem_type: r.problem_type.map(|p| p.to_string()),
        label: r.label.clone(),
        probability: r.probability.clone(),
        prediction: r.prediction.clone(),
        threshold: r.threshold,
        positive_label: r.positive_label.clone(),
        protected: r.protected.clone(),
        reference_groups: r.reference_groups.clone(),
        seed: r.seed,
        curve_points: r.curve_points,
        subsamples: r.subsamples,
    }
}

/// The roles a stored record holds.
pub fn from_record(r: &MetricsRolesRecord) -> keel_metrics::Result<Roles> {
    Ok(Roles {
        problem_type: r
            .problem_type
            .as_deref()
            .map(str::parse::<ProblemType>)
            .transpose()?,
        label: r.label.clone(),
        probability: r.probability.clone(),
        prediction: r.prediction.clone(),
        threshold: r.threshold,
        positive_label: r.positive_label.clone(),
        protected: r.protected.clone(),
        reference_groups: r.reference_groups.clone(),
        seed: r.seed,
        curve_points: r.curve_points,
        subsamples: r.subsamples,
    })
}
