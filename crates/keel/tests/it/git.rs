//! Git-backed models end to end: local bare repositories (`git+file://`)
//! holding the fraud fixture under `models/fraud`, registered from a branch,
//! a tag, a commit and a subdirectory, scored, and synced as commits land;
//! the refusals (unknown ref, missing subdirectory, not a repository,
//! credentials, no git); the same through a `keel server` that has no git
//! at all, since git runs on the client.
//!
//! Every git command, the test's own and keel's, runs with an empty global
//! configuration and its own HOME, so the user's git settings do not
//! matter; keel's temporary directory is the test's, so the test can see
//! that every checkout is removed.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::server::Server;
use crate::support::{Env, Out, counts, job_id};

/// A bare repository `r.git` with a working clone, beside a test's fixtures.
struct Repo {
    root: PathBuf,
}

impl Repo {
    /// Makes the repository and commits the fraud fixture under
    /// `models/fraud`, with a README at the root; pushes `main`.
    fn new(env: &Env) -> Repo {
        let root = env.root().join("git");
        for dir in ["home", "tmp", "nogit"] {
            std::fs::create_dir_all(root.join(dir)).expect("a test directory");
        }
        std::fs::write(root.join("gitconfig"), "").expect("a git config");
        // A client whose git speaks protocol version 0, where a server
        // refuses to send a commit that no branch or tag points at.
        std::fs::write(root.join("gitconfig-v0"), "[protocol]\n\tversion = 0\n")
            .expect("a git config");
        let repo = Repo { root };
        repo.git(
            &repo.root,
            &["init", "--quiet", "--bare", "-b", "main", "r.git"],
        );
        repo.git(&repo.root, &["clone", "--quiet", "r.git", "work"]);
        let model = repo.work().join("models/fraud");
        std::fs::create_dir_all(&model).expect("the model directory");
        for entry in std::fs::read_dir(env.root().join("fraud")).expect("the fraud fixture") {
            let entry = entry.expect("a fixture file");
            std::fs::copy(entry.path(), model.join(entry.file_name())).expect("a copy");
        }
        repo.commit(&[("README.md", "Models.\n")], "the fraud model");
        repo
    }

    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn url(&self) -> String {
        format!("file://{}", self.root.join("r.git").display())
    }

    /// The environment of every git command here, the test's and keel's.
    fn vars(&self, config: &str) -> Vec<(&'static str, OsString)> {
        vec![
            ("GIT_CONFIG_GLOBAL", self.root.join(config).into()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("HOME", self.root.join("home").into()),
            ("TMPDIR", self.root.join("tmp").into()),
            ("GIT_AUTHOR_NAME", "Keel Test".into()),
            ("GIT_AUTHOR_EMAIL", "test@keel.invalid".into()),
            ("GIT_COMMITTER_NAME", "Keel Test".into()),
            ("GIT_COMMITTER_EMAIL", "test@keel.invalid".into()),
        ]
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .envs(self.vars("gitconfig"))
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `files` in the working clone, commits, pushes `main` and
    /// returns the commit.
    fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        let work = self.work();
        for (path, text) in files {
            std::fs::write(work.join(path), text).expect("a file in the working clone");
        }
        self.git(&work, &["add", "-A"]);
        self.git(&work, &["commit", "--quiet", "-m", message]);
        self.git(&work, &["push", "--quiet", "origin", "main"]);
        self.git(&work, &["rev-parse", "HEAD"])
    }

    /// Runs keel with this repository's git environment.
    fn keel(&self, env: &Env, args: &[&str]) -> Out {
        self.keel_config(env, "gitconfig", args)
    }

    fn keel_config(&self, env: &Env, config: &str, args: &[&str]) -> Out {
        let vars = self.vars(config);
        let vars: Vec<(&str, &OsStr)> = vars.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        env.keel_with(args, &vars)
    }

    /// Fails unless every checkout keel made has been removed.
    fn assert_no_checkouts_left(&self) {
        let left: Vec<_> = std::fs::read_dir(self.root.join("tmp"))
            .expect("the temporary directory")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "checkouts left behind: {left:?}");
    }
}

/// The origin a version shows, as (reference, commit, subdir).
fn origin(version: &Value) -> (String, String, Option<String>) {
    let o = &version["origin"];
    assert_eq!(o["kind"], "git", "{version:#}");
    (
        o["reference"].as_str().unwrap_or_default().to_string(),
        o["commit"].as_str().unwrap_or_default().to_string(),
        o["subdir"].as_str().map(str::to_string),
    )
}

/// `keel model sync MODEL -o json`.
fn sync(repo: &Repo, env: &Env, model: &str) -> Value {
    repo.keel(env, &["model", "sync", model, "-o", "json"])
        .ok_json()
}

/// Sources keel must refuse, in either mode, with what its error says.
fn refusals(repo: &Repo, env: &Env) {
    let url = repo.url();
    let not_a_repo = format!("git+file://{}", env.data().display());
    let cases: Vec<(String, &str)> = vec![
        (
            format!("git+{url}#nope:models/fraud"),
            "error: file://[..]/r.git has no branch or tag named 'nope'. [..]",
        ),
        (
            format!("git+{url}#main:models/nope"),
            "[..]error: The subdirectory 'models/nope' does not exist in file://[..]/r.git at commit [..]",
        ),
        (
            format!("git+{url}#main:../fixtures"),
            "error: 'git+file://[..]/r.git#main:../fixtures' is not a git source: the subdirectory '../fixtures' holds '.' or '..'[..]",
        ),
        (
            not_a_repo,
            "error: `git ls-remote` failed for file://[..]/data: fatal: '[..]/data' does not appear to be a git repository[..]",
        ),
        (
            "git+https://user:s3cret@127.0.0.1:9/r.git#main".into(),
            "error: `git ls-remote` failed for https://127.0.0.1:9/r.git: fatal: unable to access 'https://127.0.0.1:9/r.git/'[..]",
        ),
    ];
    for (source, pattern) in &cases {
        let out = repo.keel(env, &["model", "register", source]).expect(1);
        assert!(
            keel_testkit::matches(pattern, out.stderr.trim()),
            "{source}:\n  got  {}\n  want {pattern}",
            out.stderr.trim()
        );
        assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
        assert!(!out.stdout.contains("s3cret"), "{}", out.stdout);
    }
    let attach = repo
        .keel(
            env,
            &[
                "model",
                "register",
                &format!("git+{url}#main:models/fraud"),
                "--attach",
                "input.csv",
            ],
        )
        .expect(1);
    assert!(
        attach
            .stderr
            .contains("--attach cannot be used with a git source"),
        "{}",
        attach.stderr
    );
    repo.assert_no_checkouts_left();
}

/// Fails if `secret` appears in any file under `dir`.
fn assert_nowhere_in(dir: &Path, secret: &str) {
    let needle = secret.as_bytes();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("a directory").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds the secret",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn git_sources_register_score_and_sync() {
    let Some(env) = Env::new() else { return };
    let repo = Repo::new(&env);
    let url = repo.url();
    let first = repo.git(&repo.work(), &["rev-parse", "HEAD"]);
    repo.git(&repo.work(), &["tag", "-a", "v1", "-m", "first"]);
    repo.git(&repo.work(), &["push", "--quiet", "origin", "v1"]);

    // A branch and a subdirectory: the model is named after the subdirectory.
    let source = format!("git+{url}#main:models/fraud");
    let out = repo
        .keel(&env, &["model", "register", &source, "-o", "json"])
        .expect(0);
    assert!(
        out.stderr
            .contains(&format!("checked out {source} at commit {first}")),
        "{}",
        out.stderr
    );
    let reg = out.json();
    assert_eq!(reg["created"], true, "{reg:#}");
    assert_eq!(reg["model"]["name"], "fraud");
    assert_eq!(reg["version"]["origin"]["repository"], url.as_str());
    assert_eq!(
        origin(&reg["version"]),
        ("main".into(), first.clone(), Some("models/fraud".into()))
    );
    // The same files from a tag or the default branch are no new version.
    for same in [
        format!("git+{url}#v1:models/fraud"),
        format!("git+{url}#:models/fraud"),
    ] {
        let again = repo
            .keel(&env, &["model", "register", &same, "-o", "json"])
            .ok_json();
        assert_eq!(
            (
                again["created"].as_bool(),
                again["version"]["number"].as_u64()
            ),
            (Some(false), Some(1)),
            "{same}"
        );
    }
    // A commit id; the root of the repository is not a model.
    let pinned = format!("git+{url}#{first}:models/fraud");
    let reg = repo
        .keel(
            &env,
            &[
                "model",
                "register",
                &pinned,
                "--name",
                "fraud-pinned",
                "-o",
                "json",
            ],
        )
        .ok_json();
    assert_eq!(
        origin(&reg["version"]),
        (first.clone(), first.clone(), Some("models/fraud".into()))
    );
    let root = repo
        .keel(&env, &["model", "register", &format!("git+{url}")])
        .expect(1);
    assert!(
        root.stderr.contains(&format!(
            "No model function found in the model directory git+{url}#main"
        )),
        "{}",
        root.stderr
    );

    let shown = env.keel(&["model", "show", "fraud"]).expect(0).stdout;
    assert!(
        shown.contains(&format!("origin         {source}")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("commit         {first}")),
        "{shown}"
    );
    let listed = env.keel(&["model", "versions", "fraud"]).expect(0).stdout;
    assert!(
        listed.contains(&format!("main@{}", &first[..12])),
        "{listed}"
    );

    // The git-backed version scores like any other.
    let job = env
        .keel(&[
            "job",
            "create",
            "scoring",
            "fraud:1",
            "input.csv",
            "out.csv",
            "--wait",
            "-o",
            "json",
        ])
        .ok_json();
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(counts(&job), (569, 569, 0));
    assert!(
        env.keel(&["job", "result", &job_id(&job)])
            .expect(0)
            .stdout
            .contains("probability")
    );

    let up = sync(&repo, &env, "fraud");
    assert_eq!(
        (up["status"].as_str(), up["commit"].as_str()),
        (Some("up_to_date"), Some(first.as_str())),
        "{up:#}"
    );
    let line = repo
        .keel(&env, &["model", "sync", "fraud"])
        .expect(0)
        .stdout;
    assert_eq!(
        line.trim(),
        format!("fraud is up to date: main is still at commit {first} (version 1)")
    );

    // A commit outside the subdirectory moves the branch but not the model.
    let readme = repo.commit(&[("README.md", "Models, documented.\n")], "docs");
    let moved = sync(&repo, &env, "fraud");
    assert_eq!(moved["status"], "unchanged", "{moved:#}");
    assert_eq!(
        (moved["previous_commit"].as_str(), moved["commit"].as_str()),
        (Some(first.as_str()), Some(readme.as_str()))
    );
    assert_eq!(moved["version"], 1);

    // A commit that changes the model makes a version recording it.
    let changed = repo.commit(&[("models/fraud/NOTES.md", "Retrained weekly.\n")], "notes");
    let created = sync(&repo, &env, "fraud");
    assert_eq!(created["status"], "created", "{created:#}");
    assert_eq!(
        (created["commit"].as_str(), created["version"].as_u64()),
        (Some(changed.as_str()), Some(2))
    );
    let v2 = env
        .keel(&["model", "show", "fraud:2", "-o", "json"])
        .ok_json();
    assert_eq!(
        origin(&v2),
        ("main".into(), changed.clone(), Some("models/fraud".into()))
    );
    assert!(
        v2["files"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["path"] == "NOTES.md"))
    );
    assert_eq!(sync(&repo, &env, "fraud")["status"], "up_to_date");
    let pinned = sync(&repo, &env, "fraud-pinned");
    assert_eq!(
        (pinned["status"].as_str(), pinned["pinned"].as_bool()),
        (Some("up_to_date"), Some(true)),
        "{pinned:#}"
    );

    // A commit no branch points at any more, from a server that will not
    // send it alone: the shallow fetch is refused and a full clone is made.
    let old = repo
        .keel_config(
            &env,
            "gitconfig-v0",
            &[
                "model",
                "register",
                &format!("git+{url}#{first}:models/fraud"),
                "--name",
                "fraud-old",
                "-o",
                "json",
            ],
        )
        .ok_json();
    assert_eq!(origin(&old["version"]).1, first);
    let short = repo
        .keel(
            &env,
            &[
                "model",
                "register",
                &format!("git+{url}#{}:models/fraud", &first[..8]),
                "--name",
                "fraud-old",
                "-o",
                "json",
            ],
        )
        .ok_json();
    assert_eq!(
        (short["created"].as_bool(), origin(&short["version"]).1),
        (Some(false), first.clone())
    );

    env.register("raises");
    let none = repo.keel(&env, &["model", "sync", "raises"]).expect(1);
    assert!(
        none.stderr
            .contains("model 'raises' has no version registered from git"),
        "{}",
        none.stderr
    );
    let nogit = env
        .keel_with(
            &["model", "register", &source],
            &[("PATH", repo.root.join("nogit").as_os_str())],
        )
        .expect(1);
    assert!(
        nogit.stderr.contains("git cannot be started"),
        "{}",
        nogit.stderr
    );
    assert!(
        nogit.stderr.contains("Install git and put it on PATH"),
        "{}",
        nogit.stderr
    );

    refusals(&repo, &env);
    assert_nowhere_in(&env.home(), "s3cret");
}

#[test]
fn git_sources_through_a_server_without_git() {
    let Some(mut env) = Env::new() else { return };
    let repo = Repo::new(&env);
    let url = repo.url();
    let first = repo.git(&repo.work(), &["rev-parse", "HEAD"]);
    // The server gets no git at all: the client clones, inspects and uploads.
    let nogit = repo.root.join("nogit");
    let _server = Server::start_with(&mut env, &[("PATH", nogit.as_os_str())]);

    let source = format!("git+{url}#main:models/fraud");
    let reg = repo
        .keel(&env, &["model", "register", &source, "-o", "json"])
        .ok_json();
    assert_eq!(reg["created"], true, "{reg:#}");
    assert_eq!(
        origin(&reg["version"]),
        ("main".into(), first.clone(), Some("models/fraud".into()))
    );
    let shown = env
        .keel(&["model", "show", "fraud", "-o", "json"])
        .ok_json();
    assert_eq!(shown["origin"], reg["version"]["origin"]);
    let again = repo
        .keel(&env, &["model", "register", &source, "-o", "json"])
        .ok_json();
    assert_eq!(again["created"], false);

    assert_eq!(sync(&repo, &env, "fraud")["status"], "up_to_date");
    repo.commit(&[("README.md", "Changed outside the model.\n")], "docs");
    assert_eq!(sync(&repo, &env, "fraud")["status"], "unchanged");
    let changed = repo.commit(&[("models/fraud/NOTES.md", "v2\n")], "notes");
    let created = sync(&repo, &env, "fraud");
    assert_eq!(
        (created["status"].as_str(), created["version"].as_u64()),
        (Some("created"), Some(2)),
        "{created:#}"
    );
    let listed = env
        .keel(&["model", "versions", "fraud", "-o", "json"])
        .ok_json();
    let commits: Vec<_> = listed["items"]
        .as_array()
        .map(|v| v.iter().map(|v| origin(v).1).collect())
        .unwrap_or_default();
    assert_eq!(commits, [first, changed]);

    refusals(&repo, &env);
    assert_nowhere_in(&env.home(), "s3cret");
}
