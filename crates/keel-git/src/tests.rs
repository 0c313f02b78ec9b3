//! The grammar as one table of sources, redaction as one table of texts
//! (git's real error output among them), and checkouts of real local
//! repositories made with the git command: branches, tags, commits,
//! subdirectories and the ways a subdirectory is refused.
//!
//! The repositories are made with an empty global configuration and a fixed
//! identity; the library's own git runs inherit the test's environment, as
//! they inherit the user's in the CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

use keel_types::Code;

use crate::{Origin, RefState, Spec, checkout, redact, remote_commit};

/// What a source parses to: (repository, reference, subdir), or a piece of
/// the error.
type Parsed = Result<(&'static str, Option<&'static str>, Option<&'static str>), &'static str>;

fn check_spec(text: &str, want: Parsed) {
    let got = Spec::parse(text);
    match (got, want) {
        (Ok(spec), Ok((repository, reference, subdir))) => {
            assert_eq!(
                (spec.repository(), spec.reference(), spec.subdir()),
                (repository, reference, subdir),
                "{text}"
            );
            // What is shown and debugged never holds the credentials.
            for shown in [spec.to_string(), format!("{spec:?}")] {
                assert!(!shown.contains("s3cret"), "{text}: {shown}");
            }
        }
        (Err(e), Err(piece)) => {
            let msg = e.to_string();
            assert_eq!(e.code(), Code::InvalidArgument, "{text}: {msg}");
            assert!(msg.contains(piece), "{text}: {msg}");
            assert!(!msg.contains("s3cret"), "{text}: {msg}");
        }
        (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn sources_parse_as_the_grammar_says() {
    let cases: &[(&str, Parsed)] = &[
        (
            "git+https://example.com/org/repo.git",
            Ok(("https://example.com/org/repo.git", None, None)),
        ),
        (
            "git+https://example.com/org/repo.git#main",
            Ok(("https://example.com/org/repo.git", Some("main"), None)),
        ),
        (
            "git+https://example.com/r.git#v1.2.0:models/fraud",
            Ok((
                "https://example.com/r.git",
                Some("v1.2.0"),
                Some("models/fraud"),
            )),
        ),
        (
            "git+https://example.com/r.git#:models/fraud/",
            Ok(("https://example.com/r.git", None, Some("models/fraud"))),
        ),
        (
            "git+https://example.com/r.git#feature/x",
            Ok(("https://example.com/r.git", Some("feature/x"), None)),
        ),
        (
            "git+https://example.com/r.git#refs/pull/7/head",
            Ok(("https://example.com/r.git", Some("refs/pull/7/head"), None)),
        ),
        (
            "git+https://example.com/r.git#0123abcd",
            Ok(("https://example.com/r.git", Some("0123abcd"), None)),
        ),
        (
            "git+http://127.0.0.1:8080/r",
            Ok(("http://127.0.0.1:8080/r", None, None)),
        ),
        // Credentials are for git only.
        (
            "git+https://user:s3cret@example.com/r.git#main",
            Ok(("https://example.com/r.git", Some("main"), None)),
        ),
        (
            "git+https://s3cret@example.com/r.git",
            Ok(("https://example.com/r.git", None, None)),
        ),
        (
            "git+HTTPS://u:s3cret@example.com/r.git",
            Ok(("https://example.com/r.git", None, None)),
        ),
        (
            "git+ssh://git@example.com/org/repo.git#main:m",
            Ok((
                "ssh://git@example.com/org/repo.git",
                Some("main"),
                Some("m"),
            )),
        ),
        (
            "git+ssh://example.com:2222/repo.git",
            Ok(("ssh://example.com:2222/repo.git", None, None)),
        ),
        (
            "git+git@github.com:org/repo.git",
            Ok(("git@github.com:org/repo.git", None, None)),
        ),
        (
            "git+git@github.com:org/repo.git#v2:models/a",
            Ok(("git@github.com:org/repo.git", Some("v2"), Some("models/a"))),
        ),
        (
            "git+file:///srv/git/r.git",
            Ok(("file:///srv/git/r.git", None, None)),
        ),
        (
            "git+file://localhost/srv/git/r.git#main",
            Ok(("file://localhost/srv/git/r.git", Some("main"), None)),
        ),
        // What the grammar refuses.
        ("https://example.com/r.git", Err("starts with `git+`")),
        ("git+", Err("names no repository")),
        ("git+/srv/git/r.git", Err("is not a URL")),
        ("git+./r.git", Err("is not a URL")),
        ("git+user:s3cret@host:r.git", Err("is not a URL")),
        (
            "git+ftp://example.com/r.git",
            Err("'ftp://' is not supported"),
        ),
        (
            "git+git://example.com/r.git",
            Err("'git://' is not supported"),
        ),
        ("git+ext::sh -c evil", Err("contains the character ' '")),
        ("git+https://example.com", Err("no repository path")),
        ("git+https:///r.git", Err("names no host")),
        ("git+file://server/r.git", Err("not on the host 'server'")),
        (
            "git+file://me:s3cret@localhost/r.git",
            Err("has no user or password"),
        ),
        (
            "git+ssh://git:s3cret@example.com/r.git",
            Err("cannot carry a password"),
        ),
        ("git+https://example.com/r.git#", Err("nothing follows `#`")),
        (
            "git+https://example.com/r.git#main:",
            Err("after `:` is empty"),
        ),
        ("git+https://example.com/r.git#:", Err("after `:` is empty")),
        (
            "git+https://example.com/r.git#-upload-pack=x",
            Err("starts with '-'"),
        ),
        ("git+https://example.com/r.git#a..b", Err("holds '..'")),
        ("git+https://example.com/r.git#a~1", Err("holds '~'")),
        (
            "git+https://example.com/r.git#main.lock",
            Err("ends with '.' or '.lock'"),
        ),
        (
            "git+https://example.com/r.git#main:../up",
            Err("holds '.' or '..'"),
        ),
        (
            "git+https://example.com/r.git#main:a/../../up",
            Err("holds '.' or '..'"),
        ),
        (
            "git+https://example.com/r.git#main:/etc",
            Err("is absolute"),
        ),
        ("git+https://example.com/r.git#main:a//b", Err("empty part")),
        (
            "git+https://example.com/r.git#main:.git",
            Err("git's own directory"),
        ),
        ("git+https://example.com/r.git#main:a\\b", Err("backslash")),
        ("git+https://example.com/my repo.git", Err("percent-encode")),
    ];
    for (text, want) in cases {
        check_spec(text, *want);
    }
    let long = format!("git+https://example.com/{}", "a".repeat(3000));
    check_spec(&long, Err("at most 2048"));
}

#[test]
fn refused_sources_hide_the_user_information_they_hold() {
    let e = Spec::parse("git+ssh://git:s3cret@example.com/r.git").unwrap_err();
    assert!(
        e.to_string().contains("'git+ssh://***@example.com/r.git'"),
        "{e}"
    );
    let e = Spec::parse("git+user:s3cret@host:r.git").unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn display_writes_the_source_back_without_credentials() {
    for (text, shown) in [
        ("git+https://u:s3cret@h/r.git", "git+https://h/r.git"),
        ("git+https://h/r.git#main", "git+https://h/r.git#main"),
        ("git+https://h/r.git#:m/a", "git+https://h/r.git#:m/a"),
        ("git+https://h/r.git#v1:m/a/", "git+https://h/r.git#v1:m/a"),
    ] {
        assert_eq!(Spec::parse(text).unwrap().to_string(), shown);
    }
}

#[test]
fn redaction_removes_credentials_from_text() {
    let secrets = Spec::parse("git+https://deploy-bot:p%40ss-s3cret-word@h/r.git")
        .unwrap()
        .secrets()
        .to_vec();
    let cases = [
        // As git before 2.23 printed it.
        (
            "fatal: unable to access 'https://deploy-bot:p%40ss-s3cret-word@h/r.git/': Could not resolve host: h",
            "fatal: unable to access 'https://h/r.git/': Could not resolve host: h",
        ),
        (
            "remote: Invalid username or password.\nfatal: Authentication failed for 'https://deploy-bot@h/r.git/'",
            "remote: Invalid username or password.\nfatal: Authentication failed for 'https://h/r.git/'",
        ),
        // A credential outside a URL, decoded or not.
        (
            "password p@ss-s3cret-word rejected",
            "password *** rejected",
        ),
        ("user deploy-bot:p%40ss-s3cret-word", "user ***"),
        // Any URL's user information goes, even one git was not given.
        (
            "see http://a:b@other.example/x and ssh://git@h/r",
            "see http://other.example/x and ssh://h/r",
        ),
        (
            "git clone https://[::1]:8080/r.git",
            "git clone https://[::1]:8080/r.git",
        ),
        ("no urls here", "no urls here"),
    ];
    for (text, want) in cases {
        assert_eq!(redact(text, &secrets), want, "{text}");
    }
    // Short secrets are removed from URLs but not masked everywhere else.
    let short = Spec::parse("git+https://ab:cd@h/r.git").unwrap();
    assert_eq!(
        redact("cd into https://ab:cd@h/r", short.secrets()),
        "cd into https://h/r"
    );
}

#[test]
fn git_errors_never_show_the_credentials_of_the_url() {
    // Port 9 (discard) refuses at once on the loopback interface, so git
    // fails fast with its real message.
    let spec = Spec::parse("git+https://user:s3cret@127.0.0.1:9/r.git#main").unwrap();
    for e in [
        remote_commit(&spec).unwrap_err(),
        checkout(&spec).unwrap_err(),
    ] {
        let msg = e.to_string();
        assert_eq!(e.code(), Code::GitFailed, "{msg}");
        assert!(msg.contains("https://127.0.0.1:9/r.git"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
        assert!(!format!("{e:?}").contains("s3cret"), "{e:?}");
    }
}

#[test]
fn origins_sent_by_clients_are_checked() {
    let good = Origin {
        repository: "https://example.com/r.git".into(),
        reference: "main".into(),
        commit: "a".repeat(40),
        subdir: Some("models/fraud".into()),
    };
    assert!(good.check().is_ok());
    let cases: Vec<(Origin, &str)> = vec![
        (
            Origin {
                repository: "https://u:s3cret@example.com/r.git".into(),
                ..good.clone()
            },
            "`repository`",
        ),
        (
            Origin {
                repository: "/srv/r.git".into(),
                ..good.clone()
            },
            "`repository`",
        ),
        (
            Origin {
                repository: "x".repeat(5000),
                ..good.clone()
            },
            "at most 2048",
        ),
        (
            Origin {
                reference: String::new(),
                ..good.clone()
            },
            "`reference`",
        ),
        (
            Origin {
                reference: "a b".into(),
                ..good.clone()
            },
            "`reference`",
        ),
        (
            Origin {
                commit: "abc".into(),
                ..good.clone()
            },
            "`commit`",
        ),
        (
            Origin {
                commit: "A".repeat(40),
                ..good.clone()
            },
            "`commit`",
        ),
        (
            Origin {
                subdir: Some("../up".into()),
                ..good.clone()
            },
            "`subdir`",
        ),
        (
            Origin {
                subdir: Some("m/".into()),
                ..good.clone()
            },
            "normal form",
        ),
    ];
    for (origin, piece) in cases {
        let e = origin.check().unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let msg = e.to_string();
        assert!(msg.contains(piece), "{origin:?}: {msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }
}

/// A bare repository with a working clone, both in a temporary directory,
/// driven by git with no user or system configuration.
struct Repo {
    tmp: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::write(repo.tmp.path().join("gitconfig"), "").unwrap();
        repo.git(
            repo.tmp.path(),
            &["init", "--quiet", "--bare", "-b", "main", "r.git"],
        );
        repo.git(repo.tmp.path(), &["clone", "--quiet", "r.git", "work"]);
        repo
    }

    fn work(&self) -> PathBuf {
        self.tmp.path().join("work")
    }

    fn url(&self) -> String {
        format!("file://{}", self.tmp.path().join("r.git").display())
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", self.tmp.path().join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.tmp.path())
            .env("GIT_AUTHOR_NAME", "Keel Test")
            .env("GIT_AUTHOR_EMAIL", "test@keel.invalid")
            .env("GIT_COMMITTER_NAME", "Keel Test")
            .env("GIT_COMMITTER_EMAIL", "test@keel.invalid")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `files` in the working clone, commits and pushes every ref
    /// named in `push`; returns the commit.
    fn commit(&self, files: &[(&str, &str)], push: &[&str]) -> String {
        let work = self.work();
        for (path, text) in files {
            let p = work.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        self.git(&work, &["add", "-A"]);
        self.git(
            &work,
            &["commit", "--quiet", "--allow-empty", "-m", "change"],
        );
        let mut args = vec!["push", "--quiet", "--force", "origin"];
        args.extend(push);
        self.git(&work, &args);
        self.git(&work, &["rev-parse", "HEAD"])
    }

    fn spec(&self, fragment: &str) -> Spec {
        Spec::parse(&format!("git+{}{fragment}", self.url())).unwrap()
    }
}

#[test]
fn checkouts_land_on_the_commit_asked_for() {
    let repo = Repo::new();
    let first = repo.commit(&[("m/a.py", "1"), ("top.txt", "t")], &["main"]);
    repo.git(&repo.work(), &["tag", "-a", "v1", "-m", "one"]);
    repo.git(&repo.work(), &["tag", "light"]);
    repo.git(&repo.work(), &["push", "--quiet", "origin", "v1", "light"]);
    let second = repo.commit(&[("m/a.py", "2")], &["main"]);
    // A branch whose name ends like another's must not be taken for it.
    repo.git(&repo.work(), &["checkout", "--quiet", "-b", "feature/main"]);
    let feature = repo.commit(&[("m/a.py", "3")], &["feature/main"]);

    let at = |c: &str| format!("#{c}");
    let cases: Vec<(String, &str, &str, &str)> = vec![
        // fragment, recorded reference, commit, m/a.py
        (String::new(), "main", &second, "2"),
        ("#main".into(), "main", &second, "2"),
        ("#feature/main".into(), "feature/main", &feature, "3"),
        ("#v1".into(), "v1", &first, "1"),
        ("#light".into(), "light", &first, "1"),
        (
            "#refs/heads/feature/main".into(),
            "refs/heads/feature/main",
            &feature,
            "3",
        ),
        ("#refs/tags/v1".into(), "refs/tags/v1", &first, "1"),
        (at(&first), &first, &first, "1"),
        (at(&first[..10]), &first[..10], &first, "1"),
    ];
    for (fragment, reference, commit, content) in cases {
        let co = checkout(&repo.spec(&fragment)).unwrap_or_else(|e| panic!("{fragment}: {e}"));
        assert_eq!(co.origin().reference, reference, "{fragment}");
        assert_eq!(co.origin().commit, commit, "{fragment}");
        assert_eq!(co.origin().repository, repo.url());
        let text = std::fs::read_to_string(co.model_dir().join("m/a.py")).unwrap();
        assert_eq!(text, content, "{fragment}");
        // The checkout is named after the repository.
        assert_eq!(co.model_dir().file_name().unwrap(), "r");
        let root = co.root().to_path_buf();
        drop(co);
        assert!(!root.exists(), "{fragment}: the checkout is removed");
    }

    let sub = checkout(&repo.spec("#v1:m")).unwrap();
    assert_eq!(sub.origin().subdir.as_deref(), Some("m"));
    assert!(sub.model_dir().join("a.py").is_file());
    assert!(!sub.model_dir().join("top.txt").exists());

    assert_eq!(
        remote_commit(&repo.spec("#main")).unwrap(),
        RefState::At(second.clone())
    );
    assert_eq!(
        remote_commit(&repo.spec("#v1")).unwrap(),
        RefState::At(first.clone())
    );
    assert_eq!(remote_commit(&repo.spec("")).unwrap(), RefState::At(second));
    assert_eq!(
        remote_commit(&repo.spec(&format!("#{first}"))).unwrap(),
        RefState::Pinned
    );
}

/// Renders a failed checkout as code and message, for matching.
fn failure(spec: &Spec) -> String {
    match checkout(spec) {
        Ok(co) => format!("checked out {}", co.origin().commit),
        Err(e) => format!("{}: {e}", e.code()),
    }
}

#[test]
fn checkouts_refuse_what_they_cannot_use() {
    let repo = Repo::new();
    repo.commit(&[("m/a.py", "1"), ("file.txt", "x")], &["main"]);
    let work = repo.work();
    std::os::unix::fs::symlink("/etc", work.join("out")).unwrap();
    std::os::unix::fs::symlink("m", work.join("inside")).unwrap();
    std::os::unix::fs::symlink(".git", work.join("gitdir")).unwrap();
    std::os::unix::fs::symlink("nowhere", work.join("dangling")).unwrap();
    repo.commit(&[], &["main"]);
    let empty = tempfile::tempdir().unwrap();
    repo.git(empty.path(), &["init", "--quiet", "--bare", "e.git"]);

    let cases = [
        (
            repo.spec("#nope"),
            "NOT_FOUND: [..] has no branch or tag named 'nope'. `git ls-remote [..]` lists its branches and tags.",
        ),
        (
            repo.spec("#abcdef1"),
            "NOT_FOUND: [..] has no branch, tag or commit named 'abcdef1'.[..]",
        ),
        (
            repo.spec("#main:missing"),
            "NOT_FOUND: The subdirectory 'missing' does not exist in file://[..]/r.git at commit [..]",
        ),
        (
            repo.spec("#main:out"),
            "INVALID_ARGUMENT: The subdirectory 'out' of [..] leaves the checkout through a symbolic link.",
        ),
        (
            repo.spec("#main:gitdir"),
            "INVALID_ARGUMENT: [..] leads into git's own directory through a symbolic link.",
        ),
        (
            repo.spec("#main:dangling"),
            "INVALID_ARGUMENT: [..] is a symbolic link to nothing.",
        ),
        (
            repo.spec("#main:file.txt"),
            "INVALID_ARGUMENT: [..] is a file, not a directory.",
        ),
        (
            Spec::parse(&format!(
                "git+file://{}/nothing.git",
                empty.path().display()
            ))
            .unwrap(),
            "GIT_FAILED: `git ls-remote` failed for file://[..]/nothing.git: [..]",
        ),
        (
            Spec::parse(&format!("git+file://{}/e.git", empty.path().display())).unwrap(),
            "NOT_FOUND: [..] has no commits (its HEAD points at nothing).[..]",
        ),
    ];
    for (spec, pattern) in cases {
        let got = failure(&spec);
        assert!(
            keel_testkit::matches(pattern, &got),
            "{spec}:\n  got  {got}\n  want {pattern}"
        );
    }
    // A link that stays inside the checkout is followed.
    let co = checkout(&repo.spec("#main:inside")).unwrap();
    assert!(co.model_dir().join("a.py").is_file());
}
