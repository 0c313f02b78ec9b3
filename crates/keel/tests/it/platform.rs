//! A first run as a new user makes it: no `KEEL_PYTHON`, the relative
//! default data directory, and a real platform install from the package
//! index with uv. The environment is built once and reused by the next job,
//! and a requirement that cannot be installed fails its job with the
//! requirement and uv's reason.

use std::path::Path;

use crate::support::{Env, counts, job_id, json_lines};

/// A per-record model that imports its one requirement.
const SIXER: &str = "\
import six

# modelop.score
def score(record):
    return {\"x\": record[\"x\"], \"six\": six.__version__}
";

fn write_model(root: &Path, name: &str, requirements: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("model directory");
    std::fs::write(dir.join(format!("{name}.py")), SIXER).expect("model source");
    std::fs::write(dir.join("requirements.txt"), requirements).expect("requirements");
}

/// What the environments directory holds, sorted.
fn envs(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.home().join("envs"))
        .expect("the envs directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn score(env: &Env, model: &str, code: i32) -> serde_json::Value {
    env.keel(&[
        "job",
        "create",
        "scoring",
        model,
        "input.csv",
        "out.jsonl",
        "--wait",
        "-o",
        "json",
    ])
    .expect(code)
    .json()
}

#[test]
fn a_first_run_builds_the_platform_once_and_names_what_cannot_be_installed() {
    let Some(env) = Env::first_run() else { return };
    let root = env.root();
    write_model(root, "sixer", "six\n");
    std::fs::write(root.join("input.csv"), "x\n1\n2\n3\n").expect("input");
    env.keel(&["model", "register", "sixer", "-o", "json"])
        .ok_json();

    // The first job builds the platform's environment, from a relative data
    // directory, and says which Python it used.
    let job = score(&env, "sixer", 0);
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (3, 3, 0));
    let log = env.keel(&["job", "logs", &job_id(&job)]).expect(0).stdout;
    let building = format!(
        "keel: building the Python environment for this platform in {}/envs/",
        env.home().display()
    );
    assert!(log.contains(&building), "{log}");
    assert!(log.contains(" with uv "), "{log}");
    assert!(log.contains(", from Python 3."), "{log}");
    assert!(
        log.contains("keel: the Python environment is ready"),
        "{log}"
    );
    let out = env.keel(&["job", "result", &job_id(&job)]).expect(0).stdout;
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 3, "{out}");
    let six = rows[0]["six"].as_str().unwrap_or_default();
    assert!(
        six.starts_with('1'),
        "six {six} from the environment: {out}"
    );
    let after_first = envs(&env);
    assert_eq!(
        after_first.len(),
        2,
        "one environment and its lock: {after_first:?}"
    );
    let key = &after_first[0];
    assert_eq!(after_first[1], format!("{key}.lock"));
    assert!(
        env.home()
            .join("envs")
            .join(key)
            .join("bin/python")
            .exists()
    );

    // The second job on the same platform reuses it.
    let again = score(&env, "sixer", 0);
    assert_eq!(again["status"], "COMPLETED", "{again:#}");
    let log = env.keel(&["job", "logs", &job_id(&again)]).expect(0).stdout;
    assert!(!log.contains("building the Python environment"), "{log}");
    assert!(
        log.contains(&format!(
            "keel: using the Python environment {}/envs/{key} (Python 3.",
            env.home().display()
        )),
        "{log}"
    );

    // A requirement no release satisfies fails its job, naming it.
    write_model(root, "unpinnable", "six==999.0\n");
    env.keel(&["model", "register", "unpinnable", "-o", "json"])
        .ok_json();
    let failed = score(&env, "unpinnable", 6);
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    assert_eq!(failed["error"]["kind"], "RUNTIME_UNAVAILABLE", "{failed:#}");
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    assert!(
        keel_testkit::matches(
            "The requirement 'six==999.0' cannot be installed on Python 3.[..]: [..]six==999.0[..] (uv). Pin a version that supports[..]",
            message
        ),
        "{message}"
    );
    let log = env
        .keel(&["job", "logs", &job_id(&failed)])
        .expect(0)
        .stdout;
    assert!(
        log.contains("No solution found"),
        "uv's own words are in the log: {log}"
    );
    // Nothing half-built is left: only the first environment and two locks.
    let left = envs(&env);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        left.iter().all(|n| n == key || n.ends_with(".lock")),
        "{left:?}"
    );
}
