//! The model registry from the CLI: inspecting, registering, aliases and
//! versions, a refused archive attachment, and the errors for bad usage and
//! unknown models.

use crate::support::Env;

#[test]
fn registry_register_alias_show_versions() {
    let Some(env) = Env::new() else { return };
    let def = env
        .keel(&["model", "inspect", "../fraud", "-o", "json"])
        .ok_json();
    assert_eq!(def["functions"]["score"]["name"], "action");
    assert_eq!(def["functions"]["init"]["name"], "begin");
    assert_eq!(def["functions"]["metrics"]["name"], "metrics");
    assert_eq!(def["functions"]["train"]["name"], "train");
    assert_eq!(def["input_schema"], "input_schema.avsc");

    let first = env.register("fraud");
    assert_eq!(first["created"], true);
    assert_eq!(first["version"]["number"], 1);
    let second = env.register("fraud");
    assert_eq!(
        second["created"], false,
        "an unchanged directory creates no version"
    );
    assert_eq!(second["version"]["number"], 1);
    assert_eq!(second["version"]["id"], first["version"]["id"]);
    let table = env.keel(&["model", "register", "../fraud"]).expect(0);
    assert!(table.stdout.contains("unchanged"), "{}", table.stdout);

    let list = env.keel(&["model", "list", "-o", "json"]).ok_json();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "fraud");
    assert_eq!(items[0]["latest_version"], 1);

    let missing = env.keel(&["model", "show", "fraud@champion"]).expect(1);
    assert!(missing.stderr.contains("alias"), "{}", missing.stderr);
    assert!(missing.stderr.contains("champion"), "{}", missing.stderr);

    let alias = env
        .keel(&["model", "alias", "fraud", "champion", "1", "-o", "json"])
        .ok_json();
    assert_eq!(alias["version"], 1);
    let shown = env
        .keel(&["model", "show", "fraud@champion", "-o", "json"])
        .ok_json();
    assert_eq!(shown["number"], 1);
    assert_eq!(shown["model_name"], "fraud");
    assert_eq!(shown["aliases"], serde_json::json!(["champion"]));

    let versions = env
        .keel(&["model", "versions", "fraud", "-o", "json"])
        .ok_json();
    let numbers: Vec<u64> = versions["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|v| v["number"].as_u64())
        .collect();
    assert_eq!(numbers, vec![1]);
}

#[test]
fn zip_slip_attachment_is_refused() {
    let Some(env) = Env::new() else { return };
    let out = env.keel(&["model", "register", "../zipslip"]).expect(1);
    assert!(out.stderr.contains("evil"), "{}", out.stderr);
    let mut stack = vec![env.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("readable dir").flatten() {
            let path = e.path();
            assert_ne!(e.file_name(), "evil.txt", "{} was written", path.display());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            }
        }
    }
    let models = env.keel(&["model", "list", "-o", "json"]).ok_json();
    assert_eq!(
        models["items"],
        serde_json::json!([]),
        "nothing is registered"
    );
}

#[test]
fn usage_and_unknown_model_errors() {
    let Some(env) = Env::new() else { return };
    let usage = env.keel(&["job", "create"]).expect(2);
    assert!(
        usage.stderr.to_lowercase().contains("usage"),
        "{}",
        usage.stderr
    );
    env.keel(&["no-such-command"]).expect(2);
    let unknown = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "nosuchmodel",
            "ids.csv",
            "o.csv",
        ])
        .expect(1);
    assert!(unknown.stderr.contains("nosuchmodel"), "{}", unknown.stderr);
    assert!(!unknown.stderr.contains("panicked"), "{}", unknown.stderr);
    let show = env.keel(&["model", "show", "nosuchmodel"]).expect(1);
    assert!(show.stderr.contains("nosuchmodel"), "{}", show.stderr);
    let bad_id = env.keel(&["job", "show", "not-a-uuid"]).expect(1);
    assert!(bad_id.stderr.contains("not a job id"), "{}", bad_id.stderr);
    let missing_input = env
        .keel(&["job", "create", "scoring", "x", "nope.csv", "o.csv"])
        .expect(1);
    assert!(
        missing_input.stderr.contains("nope.csv"),
        "{}",
        missing_input.stderr
    );
}
