//! The auth matrix: every operation of the OpenAPI document (so a new route
//! cannot be forgotten) tried by every role, by no token, by a revoked token
//! and by a malformed one, on a server whose first admin was made through its
//! own API while it ran open. Allowed means anything but 401 and 403 (the
//! dummy arguments may well be refused for other reasons); refused means a
//! 403 problem naming the role, before any body is read.

use std::collections::BTreeMap;

use keel_api_model::{CreatedToken, Whoami};
use keel_types::Role;
use reqwest::StatusCode;
use serde_json::json;

use super::{Server, TestResult, expect_problem, tar_gz};

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Needs {
    /// Anyone, without a token.
    Nothing,
    /// Any user.
    Read,
    /// A modeler or an admin.
    Write,
    /// An admin.
    Admin,
}

/// What each operation needs, by method and route template. Every operation
/// the OpenAPI document lists must be here, and nothing else.
fn expected() -> BTreeMap<(&'static str, &'static str), Needs> {
    use Needs::*;
    use keel_api_model::routes::*;
    BTreeMap::from([
        (("get", LIVEZ), Nothing),
        (("get", READYZ), Nothing),
        (("get", MODELS), Read),
        (("get", MODEL), Read),
        (("get", VERSIONS), Read),
        (("post", VERSIONS), Write),
        (("get", VERSION), Read),
        (("get", VERSION_REF), Read),
        (("get", ALIASES), Read),
        (("put", ALIAS), Write),
        (("delete", ALIAS), Write),
        (("get", ALIAS_EVENTS), Read),
        (("post", UPLOADS), Write),
        (("delete", UPLOAD), Write),
        (("get", JOBS), Read),
        (("post", JOBS), Write),
        (("get", JOB), Read),
        (("post", JOB_CANCEL), Write),
        (("get", JOB_RESULT), Read),
        (("get", JOB_REJECTED), Read),
        (("get", JOB_LOGS), Read),
        (("get", COMPARISONS), Read),
        (("post", COMPARISONS), Write),
        (("get", COMPARISON), Read),
        (("get", WHOAMI), Read),
        (("get", USERS), Admin),
        (("get", USER), Admin),
        (("patch", USER), Admin),
        (("get", TOKENS), Admin),
        (("post", TOKENS), Admin),
        (("delete", TOKEN), Admin),
        (("get", AUDIT), Admin),
        (("post", MONITOR_EXECUTIONS), Write),
        (("get", ALERTS), Read),
        (("post", ALERT_ACK), Write),
        (("post", ALERT_RESOLVE), Write),
    ])
}

/// Every operation of the served OpenAPI document.
async fn operations(s: &Server) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let doc: serde_json::Value = s.get("/api/v1/openapi.json").await?.json().await?;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().ok_or("no paths")? {
        for method in item.as_object().ok_or("no operations")?.keys() {
            ops.push((method.clone(), path.clone()));
        }
    }
    Ok(ops)
}

/// A template with its parameters filled by values that exist where that
/// is cheap (model `m`, version 1, user `someone`) and a fresh UUID elsewhere.
fn concrete(template: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    template
        .replace("{model}", "m")
        .replace("{number}", "1")
        .replace("{ref}", "m:1")
        .replace("{alias}", "champion")
        .replace("{name}", "someone")
        .replace("{id}", &id)
}

async fn call(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut req = s.http.request(method.clone(), s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
        req = req.header("content-type", "application/json").body("{}");
    }
    req.send().await
}

async fn token_for(
    s: &Server,
    admin: Option<&str>,
    user: &str,
    role: Role,
) -> Result<CreatedToken, Box<dyn std::error::Error>> {
    let mut req = s.http.post(s.url("/api/v1/tokens")).json(&json!({
        "user": user, "role": role, "groups": ["risk"], "name": "matrix",
    }));
    if let Some(a) = admin {
        req = req.bearer_auth(a);
    }
    let resp = req.send().await?;
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await?);
    Ok(resp.json().await?)
}

#[tokio::test]
async fn every_route_by_every_role() -> TestResult {
    let s = Server::start(None).await?;
    // Open until a user exists: the first token is made without one.
    let who: Whoami = s.get("/api/v1/whoami").await?.json().await?;
    assert_eq!((who.auth.as_str(), who.role), ("open", Role::Admin));
    let admin = token_for(&s, None, "root", Role::Admin).await?.token;
    // Now a token is needed even to make one.
    let refused = s
        .http
        .post(s.url("/api/v1/tokens"))
        .json(&json!({"user": "sneaky", "role": "admin"}))
        .send()
        .await?;
    assert!(refused.headers().contains_key("www-authenticate"));
    expect_problem(refused, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await?;

    let mut tokens = BTreeMap::new();
    tokens.insert(Role::Admin.as_str(), admin.clone());
    for role in [Role::Viewer, Role::Modeler, Role::Approver] {
        let made = token_for(&s, Some(&admin), &format!("a-{role}"), role).await?;
        assert_eq!(made.user.groups, vec!["risk".to_string()]);
        tokens.insert(role.as_str(), made.token);
    }
    let revoked = token_for(&s, Some(&admin), "gone", Role::Admin).await?;
    let resp = s
        .http
        .delete(s.url(&format!("/api/v1/tokens/{}", revoked.info.id)))
        .bearer_auth(&admin)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    // A model `m` with version 1, so reads of it can succeed.
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("m.py"),
        "# modelop.score\ndef action(r):\n    yield r\n",
    )?;
    let resp = s
        .http
        .post(s.url("/api/v1/models/m/versions"))
        .bearer_auth(&admin)
        .header("content-type", "application/gzip")
        .body(tar_gz(dir.path())?)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CREATED);

    let table = expected();
    let ops = operations(&s).await?;
    let served: Vec<(&str, &str)> = ops.iter().map(|(m, p)| (m.as_str(), p.as_str())).collect();
    let listed: Vec<(&str, &str)> = table.keys().copied().collect();
    let mut sorted = served.clone();
    sorted.sort();
    assert_eq!(
        sorted, listed,
        "the table must list exactly the documented operations"
    );

    let mut checked = 0;
    for (method, template) in served {
        let needs = table[&(method, template)];
        let path = concrete(template);
        for (role, token) in &tokens {
            let role: Role = role.parse()?;
            let resp = call(&s, method, &path, Some(token)).await?;
            let status = resp.status();
            let allowed = match needs {
                Needs::Nothing | Needs::Read => true,
                Needs::Write => matches!(role, Role::Modeler | Role::Admin),
                Needs::Admin => role == Role::Admin,
            };
            if allowed {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{role} {method} {path}: allowed, but got {status}: {}",
                    resp.text().await?
                );
            } else {
                let p = expect_problem(resp, StatusCode::FORBIDDEN, "FORBIDDEN").await?;
                assert!(
                    p.detail.contains(&format!("has the role {role}")),
                    "{}",
                    p.detail
                );
            }
            checked += 1;
        }
        for (what, token) in [
            ("no token", None),
            ("a revoked token", Some(revoked.token.as_str())),
            ("a malformed token", Some("keel_not-a-token")),
        ] {
            let resp = call(&s, method, &path, token).await?;
            if needs == Needs::Nothing {
                assert!(
                    resp.status().is_success(),
                    "{method} {path} with {what}: {}",
                    resp.status()
                );
            } else {
                assert!(
                    resp.headers().contains_key("www-authenticate"),
                    "{method} {path}"
                );
                expect_problem(resp, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await?;
            }
            checked += 1;
        }
    }
    assert!(checked >= 36 * 7, "{checked} calls checked");

    // The SageMaker API at `/` (not in the OpenAPI document): reads for every
    // role, changes for modelers and admins, nothing without a token.
    let amz = |op: &str, token: Option<&str>| {
        let mut req = s
            .http
            .post(s.url("/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("SageMaker.{op}"))
            .body("{}");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for (role, token) in &tokens {
        let role: Role = role.parse()?;
        let read = amz("ListMonitoringSchedules", Some(token)).await?;
        assert_eq!(read.status(), StatusCode::OK, "{role} lists schedules");
        let change = amz("DeleteMonitoringSchedule", Some(token)).await?;
        let kind = change
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        // A missing name is a ValidationException for those who may change,
        // and a refusal for those who may not.
        let want = if matches!(role, Role::Modeler | Role::Admin) {
            "ValidationException"
        } else {
            "AccessDeniedException"
        };
        assert_eq!(kind, want, "{role} deletes a schedule");
    }
    let anonymous = amz("ListMonitoringSchedules", None).await?;
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await?;

    // The changes above are in the audit log, with who made them.
    let log: serde_json::Value = s
        .http
        .get(s.url("/api/v1/audit?action=token.created"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let actors: Vec<&str> = log["items"]
        .as_array()
        .ok_or("no items")?
        .iter()
        .filter_map(|e| e["actor"].as_str())
        .collect();
    assert!(actors.contains(&"root"), "{log}");
    assert!(
        log["items"][0]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("127.0.0.1:")),
        "{log}"
    );
    s.shutdown().await
}
