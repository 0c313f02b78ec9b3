//! Which columns a metrics job's built-in metrics read: the request's
//! options and the roles ModelOp's extended Avro schemas mark, settled by
//! `keel-metrics`' one resolver.

use keel_api_model as api;
use keel_data::{AvroSchema, AvroType};
use keel_metrics::{FieldHint, RoleRequest, Roles};
use serde_json::Value;

use crate::Result;

/// True for `true` and `"true"` (ModelOp's extended schemas use both).
fn truthy(v: &Value) -> bool {
    v.as_bool()
        .or_else(|| v.as_str().map(|s| s.eq_ignore_ascii_case("true")))
        .unwrap_or(false)
}

/// What a schema says about each of its fields, in ModelOp's spelling of
/// the extended attributes (`role`, `protectedClass`) or Keel's
/// (`protected_class`).
fn hints(schema: Option<&AvroSchema>) -> Vec<FieldHint> {
    let Some(schema) = schema else {
        return Vec::new();
    };
    schema
        .fields
        .iter()
        .map(|f| FieldHint {
            name: f.name.clone(),
            role: f
                .attributes
                .get("role")
                .and_then(Value::as_str)
                .map(str::to_string),
            protected: ["protectedClass", "protected_class"]
                .iter()
                .any(|k| f.attributes.get(*k).is_some_and(truthy)),
            float: matches!(f.ty, AvroType::Double | AvroType::Float),
        })
        .collect()
}

/// A request's metrics options in the resolver's terms (`keel metrics` reads
/// its flags through this too, so both read options alike).
pub fn request(opts: Option<&api::MetricsOptions>) -> Result<RoleRequest> {
    let o = opts.cloned().unwrap_or_default();
    Ok(RoleRequest {
        problem_type: o.problem_type.as_deref().map(str::parse).transpose()?,
        label: o.label,
        probability: o.probability,
        prediction: o.prediction,
        threshold: o.threshold,
        positive_label: o.positive_label,
        protected: o.protected,
        reference_groups: o.reference_groups,
        seed: o.seed,
        curve_points: o.curve_points,
        subsamples: o.subsamples,
    })
}

/// Decides whether a metrics job computes built-in metrics, and with which
/// columns. `None` means only the model's own metrics function runs: the
/// request named no roles, the schemas mark no label, and the model has a
/// metrics function of its own.
pub(crate) fn resolve(
    opts: Option<&api::MetricsOptions>,
    input_schema: Option<&AvroSchema>,
    output_schema: Option<&AvroSchema>,
    has_metrics_fn: bool,
) -> Result<Option<Roles>> {
    let req = request(opts)?;
    match keel_metrics::resolve(&req, &hints(input_schema), &hints(output_schema)) {
        Ok(roles) => Ok(Some(roles)),
        Err(keel_metrics::Error::MissingLabel) if opts.is_none() && has_metrics_fn => Ok(None),
        Err(e) => Err(e.into()),
    }
}
