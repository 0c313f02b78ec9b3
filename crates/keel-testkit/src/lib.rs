//! Test-only helpers shared by the crates' test binaries: finding the test
//! Python environment and uv that `scripts/test.sh` prepares, skipping loudly (or
//! failing, under `CI=true`) when it is missing, and matching rendered
//! outcomes against the patterns of table-driven tests, and fresh PostgreSQL
//! databases ([`postgres`]) and a real S3-compatible server ([`s3`]).

pub mod postgres;
pub mod s3;

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // This crate lives at crates/keel-testkit, two levels below the root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a server a test
/// starts.
///
/// # Panics
/// When no port can be bound at all.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// True when running under CI, where a skipped test is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// The Python interpreter tests should use: `KEEL_TEST_PYTHON`, else the
/// workspace's `.venv/bin/python`, provided it imports pandas, pyarrow and sklearn.
///
/// Returns `None` (after printing a loud message) when there is none.
///
/// # Panics
/// Under `CI=true`, panics instead of returning `None`: in CI a skip is a failure.
pub fn python() -> Option<PathBuf> {
    importing(
        test_python_path(),
        "pandas, pyarrow, sklearn",
        "pandas, pyarrow and scikit-learn",
        "KEEL_TEST_PYTHON",
    )
}

/// `candidate` when it imports `modules`; else `None`, after a loud skip
/// naming `what` it lacks and the variable `var` that points elsewhere.
fn importing(candidate: PathBuf, modules: &str, what: &str, var: &str) -> Option<PathBuf> {
    let ok = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    skip(&format!(
        "no Python with {what} at {} (run scripts/setup-python.sh or set {var})",
        candidate.display()
    ));
    None
}

/// The Python of the test tools (`.venv-tools`, which
/// `scripts/setup-python.sh` makes with moto and so boto3; or
/// `KEEL_TEST_TOOLS_PYTHON`), for tests that drive Keel as an AWS client does.
///
/// Returns `None` (after printing a loud message) when it has no boto3.
///
/// # Panics
/// Under `CI=true`, panics instead of returning `None`: in CI a skip is a failure.
pub fn tools_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("KEEL_TEST_TOOLS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv-tools/bin/python"));
    importing(candidate, "boto3", "boto3", "KEEL_TEST_TOOLS_PYTHON")
}

/// An interpreter that tests build platform environments from (they need
/// no packages in it): the test Python, provided it starts. Cheaper than
/// [`python`], which imports scikit-learn.
///
/// Returns `None` (after printing a loud message) when there is none.
///
/// # Panics
/// Under `CI=true`, panics instead of returning `None`: in CI a skip is a failure.
pub fn base_python() -> Option<PathBuf> {
    let candidate = test_python_path();
    let ok = std::process::Command::new(&candidate)
        .args(["-S", "-c", "pass"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    skip(&format!(
        "no Python at {} (run scripts/setup-python.sh or set KEEL_TEST_PYTHON)",
        candidate.display()
    ));
    None
}

/// `KEEL_TEST_PYTHON`, else the workspace's `.venv/bin/python`.
fn test_python_path() -> PathBuf {
    std::env::var_os("KEEL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// The uv program tests build platform environments with: `KEEL_TEST_UV`,
/// else the `uv` beside the test Python (`scripts/setup-python.sh` installs
/// it into `.venv`), provided `uv --version` runs.
///
/// Returns `None` (after printing a loud message) when there is none.
///
/// # Panics
/// Under `CI=true`, panics instead of returning `None`: in CI a skip is a failure.
pub fn uv() -> Option<PathBuf> {
    let candidate = std::env::var_os("KEEL_TEST_UV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let py = test_python_path();
            py.parent()
                .map(|bin| bin.join("uv"))
                .unwrap_or_else(|| workspace_root().join(".venv/bin/uv"))
        });
    let ok = std::process::Command::new(&candidate)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    skip(&format!(
        "no uv at {} (run scripts/setup-python.sh or set KEEL_TEST_UV)",
        candidate.display()
    ));
    None
}

/// Prints a loud skip message; panics under CI.
pub fn skip(reason: &str) {
    let msg = format!("\n!!!!!!!! SKIPPED: {reason} !!!!!!!!\n");
    if in_ci() {
        panic!("{msg}(CI=true: a skip is a failure)");
    }
    eprintln!("{msg}");
}

/// Generates the test fixtures (scikit-learn models and data sets) with
/// `tests/fixtures/make_fixtures.py` into `dir`, using `python`.
///
/// # Panics
/// When the generator fails: tests cannot go on without their fixtures.
pub fn make_fixtures(python: &Path, dir: &Path) {
    let script = workspace_root().join("tests/fixtures/make_fixtures.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "fixture generator failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True when `text` is `pattern`, where each `[..]` in the pattern stands for
/// any text (newlines included): the expectations of table-driven tests.
pub fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_documented() {
        for (pattern, text, want) in [
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a[..]c", "abbbc", true),
            ("a[..]c", "ac", true),
            ("a[..]c", "acb", false),
            ("[..]b[..]", "abc", true),
            ("[..]b[..]", "ac", false),
            ("a[..]b[..]c", "a\nc\nb\nc", true),
            ("a[..]b[..]c", "acb", false),
            ("a[..]a", "a", false),
            ("[..]", "", true),
        ] {
            assert_eq!(matches(pattern, text), want, "{pattern:?} on {text:?}");
        }
    }
}
