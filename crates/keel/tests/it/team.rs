//! Keel for a team: two servers and the CLI sharing one PostgreSQL database
//! (and one artifact directory), and the error when the database is down.

use std::ffi::OsStr;

use crate::server::Server;
use crate::support::{Env, counts, job_id};

#[test]
fn two_servers_and_the_cli_share_one_postgres_database() {
    let Some(mut env) = Env::new() else { return };
    let Some(db) = keel_testkit::postgres::database() else {
        return;
    };
    let vars = [("KEEL_DATABASE_URL", OsStr::new(&db.url))];
    let first = Server::start_with(&mut env, &vars);
    let first_url = env.url.clone();
    let reg = env.register("fraud");
    assert_eq!(reg["created"], true);
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud",
            "input.csv",
            "out.csv",
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (569, 569, 0));
    let id = job_id(&job);
    let csv = env.keel(&["job", "result", &id]).expect(0).stdout;
    assert_eq!(csv.lines().count(), 570);

    // A second server on the same database sees the model, the job and its
    // result, and moves an alias the first one then sees.
    let second = Server::start_with(&mut env, &vars);
    let shown = env.keel(&["job", "show", &id, "-o", "json"]).ok_json();
    assert_eq!(shown["status"], "COMPLETED");
    assert_eq!(env.keel(&["job", "result", &id]).expect(0).stdout, csv);
    env.keel(&["model", "alias", "fraud", "champion", "1"])
        .expect(0);
    drop(second);
    env.url = first_url;
    let list = env.keel(&["model", "list", "-o", "json"]).ok_json();
    assert_eq!(list["items"][0]["aliases"]["champion"], 1, "{list:#}");
    drop(first);

    // The CLI on the database itself, with no server, sees the same.
    env.url = None;
    let listed = env
        .keel_with(&["job", "list", "-o", "json"], &vars)
        .ok_json();
    assert_eq!(listed["items"][0]["id"], id.as_str(), "{listed:#}");
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let Some(env) = Env::new() else { return };
    let out = env.keel_with(
        &["model", "list"],
        &[(
            "KEEL_DATABASE_URL",
            OsStr::new("postgres://keel:hunter2@127.0.0.1:1/keel"),
        )],
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "Could not connect to the metadata database postgres://keel@127.0.0.1:1/keel"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
}
