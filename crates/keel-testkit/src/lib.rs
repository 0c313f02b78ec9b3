//! Test-only helpers shared by the crates' test binaries: finding the test
//! Python environment that `scripts/test.sh` prepares, and skipping loudly
//! (or failing, under `CI=true`) when it is missing.

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
    let candidate = std::env::var_os("KEEL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import pandas, pyarrow, sklearn"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    skip(&format!(
        "no Python with pandas, pyarrow and scikit-learn at {} (run scripts/setup-python.sh or set KEEL_TEST_PYTHON)",
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
