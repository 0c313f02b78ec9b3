//! Which columns a metrics job's built-in metrics read, as one table: the
//! request's options, then the roles of ModelOp's extended schemas.

use keel_api_model as api;
use keel_types::{Code, JobKind};

use super::{Env, admin};

/// An input schema with a label, a protected attribute and a feature.
const INPUT: &str = r#"{"type":"record","name":"in","fields":[
  {"name":"x","type":"double"},
  {"name":"flagged","type":"int","role":"label"},
  {"name":"gender","type":"string","protected_class":true}]}"#;
/// The same in ModelOp's spelling of the extended attributes.
const INPUT_MODELOP: &str = r#"{"type":"record","name":"in","fields":[
  {"name":"x","type":"double","role":"predictor","dataClass":"numerical","driftCandidate":true},
  {"name":"flagged","type":"int","role":"label","dataClass":"categorical"},
  {"name":"gender","type":"string","role":"predictor","protectedClass":true,"specialValues":[]}]}"#;
/// An output schema whose score is a float: a probability.
const OUT_FLOAT: &str = r#"{"type":"record","name":"out","fields":[
  {"name":"p","type":"double","role":"score"}]}"#;
/// An output schema whose score is a label: a prediction.
const OUT_LABEL: &str = r#"{"type":"record","name":"out","fields":[
  {"name":"decision","type":"string","role":"score"}]}"#;

/// What a case expects: the settled roles (label, probability, prediction,
/// protected), none at all (only the model's own metrics), or a refusal
/// with its code and a fragment of its message.
enum Want {
    Roles(
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static [&'static str],
    ),
    ModelMetricsOnly,
    Refused(Code, &'static str),
}

struct Case {
    name: &'static str,
    metrics_fn: bool,
    input: Option<&'static str>,
    output: Option<&'static str>,
    options: Option<api::MetricsOptions>,
    want: Want,
}

fn opts(f: impl FnOnce(&mut api::MetricsOptions)) -> Option<api::MetricsOptions> {
    let mut o = api::MetricsOptions::default();
    f(&mut o);
    Some(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_come_from_the_request_then_the_schemas() {
    let cases = vec![
        Case {
            name: "request_only",
            metrics_fn: false,
            input: None,
            output: None,
            options: opts(|o| o.label = Some("y".into())),
            want: Want::Roles("y", None, None, &[]),
        },
        Case {
            name: "schema_roles",
            metrics_fn: false,
            input: Some(INPUT),
            output: Some(OUT_FLOAT),
            options: None,
            want: Want::Roles("flagged", Some("p"), None, &["gender"]),
        },
        Case {
            name: "schema_roles_in_modelop_spelling",
            metrics_fn: false,
            input: Some(INPUT_MODELOP),
            output: Some(OUT_FLOAT),
            options: None,
            want: Want::Roles("flagged", Some("p"), None, &["gender"]),
        },
        Case {
            name: "score_that_is_a_label",
            metrics_fn: false,
            input: Some(INPUT),
            output: Some(OUT_LABEL),
            options: None,
            want: Want::Roles("flagged", None, Some("decision"), &["gender"]),
        },
        Case {
            name: "request_wins",
            metrics_fn: false,
            input: Some(INPUT),
            output: Some(OUT_FLOAT),
            options: opts(|o| {
                o.prediction = Some("pred".into());
                o.protected = vec!["age".into()];
            }),
            want: Want::Roles("flagged", None, Some("pred"), &["age"]),
        },
        Case {
            name: "no_label_but_a_metrics_function",
            metrics_fn: true,
            input: None,
            output: None,
            options: None,
            want: Want::ModelMetricsOnly,
        },
        Case {
            name: "no_label_and_no_metrics_function",
            metrics_fn: false,
            input: None,
            output: None,
            options: None,
            want: Want::Refused(Code::InvalidArgument, "`label`"),
        },
        Case {
            name: "options_without_a_label",
            metrics_fn: true,
            input: None,
            output: None,
            options: opts(|o| o.probability = Some("p".into())),
            want: Want::Refused(Code::InvalidArgument, "`label`"),
        },
        Case {
            name: "unknown_problem_type",
            metrics_fn: false,
            input: None,
            output: None,
            options: opts(|o| {
                o.label = Some("y".into());
                o.problem_type = Some("ranking".into());
            }),
            want: Want::Refused(Code::InvalidArgument, "ranking"),
        },
        Case {
            name: "too_many_subsamples",
            metrics_fn: false,
            input: None,
            output: None,
            options: opts(|o| {
                o.label = Some("y".into());
                o.subsamples = Some(9);
            }),
            want: Want::Refused(Code::InvalidArgument, "at most 8"),
        },
    ];
    let env = Env::new().await;
    let data = env.data("in.csv", "x,flagged,gender,y\n0.5,1,f,1\n");
    for case in cases {
        env.model(case.name, case.metrics_fn, case.input, case.output)
            .await;
        let got = env
            .keel
            .create_job(
                &admin(),
                api::CreateJob {
                    kind: JobKind::Metrics,
                    model: case.name.into(),
                    input: api::Input::Path {
                        uri: data.display().to_string(),
                    },
                    output: None,
                    format: None,
                    workers: None,
                    max_runtime_seconds: None,
                    max_attempts: None,
                    schema_check: None,
                    metrics: case.options.clone(),
                    baseline: None,
                },
            )
            .await;
        match (case.want, got) {
            (Want::Roles(label, probability, prediction, protected), Ok(job)) => {
                let stored = env.keel.job_record(job.id.into()).await.unwrap();
                let roles = stored
                    .request
                    .builtin
                    .unwrap_or_else(|| panic!("{}: no built-in metrics", case.name));
                assert_eq!(roles.label, label, "{}", case.name);
                assert_eq!(roles.probability.as_deref(), probability, "{}", case.name);
                assert_eq!(roles.prediction.as_deref(), prediction, "{}", case.name);
                assert_eq!(roles.protected, protected, "{}", case.name);
                assert_eq!(
                    stored.request.workers, 2,
                    "{}: scoring uses workers",
                    case.name
                );
            }
            (Want::ModelMetricsOnly, Ok(job)) => {
                let stored = env.keel.job_record(job.id.into()).await.unwrap();
                assert!(stored.request.builtin.is_none(), "{}", case.name);
                assert_eq!(stored.request.workers, 1, "{}", case.name);
            }
            (Want::Refused(code, fragment), Err(e)) => {
                assert_eq!(e.code(), code, "{}: {e}", case.name);
                assert!(e.to_string().contains(fragment), "{}: {e}", case.name);
            }
            (_, got) => panic!("{}: unexpected {:?}", case.name, got.map(|j| j.id)),
        }
    }
}
