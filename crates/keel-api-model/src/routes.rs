//! Every route of the REST API, written once. The server declares its
//! handlers with these templates (OpenAPI syntax, `{param}`), and the client
//! builds request paths from the same templates with [`fill`], so the two
//! cannot drift apart.

/// The prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";

/// Liveness probe.
pub const LIVEZ: &str = "/livez";
/// Readiness probe.
pub const READYZ: &str = "/readyz";
/// The OpenAPI document.
pub const OPENAPI: &str = "/api/v1/openapi.json";
/// Models (list).
pub const MODELS: &str = "/api/v1/models";
/// One model.
pub const MODEL: &str = "/api/v1/models/{model}";
/// A model's versions (list, register).
pub const VERSIONS: &str = "/api/v1/models/{model}/versions";
/// One version by number.
pub const VERSION: &str = "/api/v1/models/{model}/versions/{number}";
/// One version by model reference.
pub const VERSION_REF: &str = "/api/v1/versions/{ref}";
/// A model's aliases.
pub const ALIASES: &str = "/api/v1/models/{model}/aliases";
/// One alias (set, delete).
pub const ALIAS: &str = "/api/v1/models/{model}/aliases/{alias}";
/// A model's alias history.
pub const ALIAS_EVENTS: &str = "/api/v1/models/{model}/alias-events";
/// Uploads (create).
pub const UPLOADS: &str = "/api/v1/uploads";
/// One upload (delete).
pub const UPLOAD: &str = "/api/v1/uploads/{id}";
/// Jobs (list, create).
pub const JOBS: &str = "/api/v1/jobs";
/// One job.
pub const JOB: &str = "/api/v1/jobs/{id}";
/// Cancelling a job.
pub const JOB_CANCEL: &str = "/api/v1/jobs/{id}/cancel";
/// A job's output.
pub const JOB_RESULT: &str = "/api/v1/jobs/{id}/result";
/// A job's rejected records.
pub const JOB_REJECTED: &str = "/api/v1/jobs/{id}/rejected";
/// A job's log.
pub const JOB_LOGS: &str = "/api/v1/jobs/{id}/logs";
/// Comparisons (list, create).
pub const COMPARISONS: &str = "/api/v1/comparisons";
/// One comparison.
pub const COMPARISON: &str = "/api/v1/comparisons/{id}";

/// Who the caller is: the user and role its token acts as.
pub const WHOAMI: &str = "/api/v1/whoami";
/// Users (list).
pub const USERS: &str = "/api/v1/users";
/// One user (show, change role and groups).
pub const USER: &str = "/api/v1/users/{name}";
/// API tokens (list, create).
pub const TOKENS: &str = "/api/v1/tokens";
/// One token (revoke).
pub const TOKEN: &str = "/api/v1/tokens/{id}";
/// The audit log.
pub const AUDIT: &str = "/api/v1/audit";
/// Alerts (list).
pub const ALERTS: &str = "/api/v1/alerts";
/// Acknowledging an alert.
pub const ALERT_ACK: &str = "/api/v1/alerts/{id}/ack";
/// Resolving an alert.
pub const ALERT_RESOLVE: &str = "/api/v1/alerts/{id}/resolve";
/// A monitoring schedule's executions (run one now).
pub const MONITOR_EXECUTIONS: &str = "/api/v1/monitors/schedules/{name}/executions";

/// Every route template, for tests that check the server serves each one.
pub const ALL: [&str; 31] = [
    LIVEZ,
    READYZ,
    OPENAPI,
    MODELS,
    MODEL,
    VERSIONS,
    VERSION,
    VERSION_REF,
    ALIASES,
    ALIAS,
    ALIAS_EVENTS,
    UPLOADS,
    UPLOAD,
    JOBS,
    JOB,
    JOB_CANCEL,
    JOB_RESULT,
    JOB_REJECTED,
    JOB_LOGS,
    COMPARISONS,
    COMPARISON,
    WHOAMI,
    USERS,
    USER,
    TOKENS,
    TOKEN,
    AUDIT,
    MONITOR_EXECUTIONS,
    ALERTS,
    ALERT_ACK,
    ALERT_RESOLVE,
];

/// Fills a template's `{param}`s, in order, with percent-encoded `values`.
/// Missing values leave the rest of the template as it is, and extra values
/// are ignored; both are bugs the route tests catch.
pub fn fill(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let Some(value) = values.next() else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&encode(value));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Percent-encodes one path segment or query value (RFC 3986 unreserved
/// characters stay as they are).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_encodes_each_parameter() {
        let cases = [
            (JOB, vec!["0193"], "/api/v1/jobs/0193"),
            (
                ALIAS,
                vec!["fraud", "champion"],
                "/api/v1/models/fraud/aliases/champion",
            ),
            (
                VERSION_REF,
                vec!["fraud@champion"],
                "/api/v1/versions/fraud%40champion",
            ),
            (VERSION_REF, vec!["a b/c"], "/api/v1/versions/a%20b%2Fc"),
            (MODELS, vec![], "/api/v1/models"),
        ];
        for (template, values, want) in cases {
            assert_eq!(fill(template, &values), want, "{template}");
        }
    }

    #[test]
    fn every_template_is_under_the_prefix_or_a_probe() {
        for t in ALL {
            assert!(
                t.starts_with(API_PREFIX) || t == LIVEZ || t == READYZ,
                "{t}"
            );
        }
    }
}
