//! Users, tokens and the audit log through the CLI: the first admin made on
//! the data directory, a server that then needs tokens, `keel login` and
//! `KEEL_TOKEN`, a viewer refused a change, revocation, role changes, and
//! `keel audit list` saying who did what from where.

use std::ffi::OsStr;

use serde_json::Value;

use crate::server::Server;
use crate::support::Env;

fn token(out: &Value) -> String {
    out["token"].as_str().expect("a token").to_string()
}

#[test]
fn the_first_admin_logs_in_and_the_audit_log_says_who_did_what() {
    let Some(mut env) = Env::new() else { return };
    // Embedded mode acts as the local OS user, as an admin.
    let me = env.keel(&["whoami", "-o", "json"]).ok_json();
    assert_eq!(
        (me["auth"].as_str(), me["role"].as_str()),
        (Some("local"), Some("admin"))
    );
    let root = env
        .keel(&[
            "token", "create", "--user", "root", "--role", "admin", "-o", "json",
        ])
        .ok_json();
    let root = token(&root);
    // Without -o json the token is the only thing on stdout.
    let out = env
        .keel(&[
            "token", "create", "--user", "ana", "--role", "viewer", "--group", "risk",
        ])
        .expect(0);
    let ana = out.stdout.trim().to_string();
    assert!(
        ana.starts_with("keel_") && !ana.contains(' '),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("shown only now"), "{}", out.stderr);
    let missing = env.keel(&["token", "create", "--user", "bo"]).expect(1);
    assert!(missing.stderr.contains("--role"), "{}", missing.stderr);

    let _server = Server::start(&mut env);
    // Users exist, so the server wants a token.
    let refused = env.keel(&["model", "list"]).expect(1);
    assert!(
        refused.stderr.contains("requires an API token") && refused.stderr.contains("keel login"),
        "{}",
        refused.stderr
    );
    let as_ana = [("KEEL_TOKEN", OsStr::new(ana.as_str()))];
    let who = env.keel_with(&["whoami", "-o", "json"], &as_ana).ok_json();
    assert_eq!(who["user"], "ana");
    assert_eq!(who["groups"], serde_json::json!(["risk"]));
    env.keel_with(&["model", "list", "-o", "json"], &as_ana)
        .ok_json();
    let forbidden = env
        .keel_with(&["model", "register", "../fraud", "-o", "json"], &as_ana)
        .expect(1);
    assert!(
        forbidden.stderr.contains("has the role viewer") && forbidden.stderr.contains("FORBIDDEN"),
        "{}",
        forbidden.stderr
    );

    // `keel login` keeps root's token for this server.
    env.keel(&["login", "--token", &root]).expect(0);
    assert_eq!(
        env.keel(&["whoami", "-o", "json"]).ok_json()["user"],
        "root"
    );
    let reg = env.register("fraud");
    assert_eq!(reg["version"]["number"], 1);
    env.keel(&["model", "alias", "fraud", "champion", "1", "-o", "json"])
        .ok_json();
    env.keel(&["user", "set", "ana", "--role", "modeler"])
        .expect(0);
    let users = env.keel(&["user", "list", "-o", "json"]).ok_json();
    let roles: Vec<(&str, &str)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("ana", "modeler"), ("root", "admin")]);
    // Ana's role changed under her token.
    env.keel_with(&["model", "alias", "fraud", "challenger", "1"], &as_ana)
        .expect(0);

    let log = env
        .keel(&["audit", "list", "--model", "fraud", "-o", "json"])
        .ok_json();
    let rows: Vec<(&str, &str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("alias.moved", "ana", "fraud@challenger"),
            ("alias.moved", "root", "fraud@champion"),
            ("version.registered", "root", "fraud:1"),
            ("model.created", "root", "fraud"),
        ]
    );
    assert!(
        log["items"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{log}"
    );
    let changed = env
        .keel(&[
            "audit",
            "list",
            "--action",
            "user.changed",
            "--since",
            "1h",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(changed["items"][0]["details"]["role"]["to"], "modeler");
    let bad = env.keel(&["audit", "list", "--since", "soon"]).expect(1);
    assert!(bad.stderr.contains("--since"), "{}", bad.stderr);
    // The table names who did it.
    let table = env.keel(&["audit", "list", "--actor", "ana"]).expect(0);
    assert!(
        table.stdout.contains("fraud@challenger"),
        "{}",
        table.stdout
    );
    // Not an admin: no audit log.
    let denied = env.keel_with(&["audit", "list"], &as_ana).expect(1);
    assert!(denied.stderr.contains("FORBIDDEN"), "{}", denied.stderr);

    // Revoked, ana's token stops working at once.
    let tokens = env
        .keel(&["token", "list", "--user", "ana", "-o", "json"])
        .ok_json();
    let id = tokens[0]["id"].as_str().unwrap().to_string();
    assert_eq!(tokens[0]["status"], "ACTIVE");
    env.keel(&["token", "revoke", &id]).expect(0);
    let gone = env.keel_with(&["model", "list"], &as_ana).expect(1);
    assert!(gone.stderr.contains("was revoked"), "{}", gone.stderr);

    // After `keel logout` the CLI has no token again.
    env.keel(&["logout"]).expect(0);
    env.keel(&["whoami"]).expect(1);
}
