//! The tidy test: every check, run over the real workspace. Each test fails
//! with all of its findings at once, each saying where and how to fix it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::workspace::{self, Workspace};
use crate::{boundaries, code_map, deps, source};

const ARCHITECTURE: &str = "ARCHITECTURE.md";

/// The workspace root: two levels above this crate.
fn root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or_else(|| panic!("{} has no grandparent", manifest_dir.display()))
}

/// `cargo metadata`, run once for all the tests.
fn workspace() -> &'static Workspace {
    static WORKSPACE: OnceLock<Result<Workspace, String>> = OnceLock::new();
    let ws = WORKSPACE.get_or_init(|| {
        workspace::cargo_metadata(root()).and_then(|metadata| workspace::from_metadata(&metadata))
    });
    match ws {
        Ok(ws) => {
            assert!(
                ws.members.len() > 1,
                "cargo metadata found no workspace members"
            );
            ws
        }
        Err(error) => panic!("{error}"),
    }
}

/// Whether a file under `src` holds only test code: a `tests.rs`, or a file
/// under a `tests/` directory.
fn is_test_file(src: &Path, path: &Path) -> bool {
    let in_tests_dir = path
        .strip_prefix(src)
        .ok()
        .and_then(Path::parent)
        .is_some_and(|dir| dir.components().any(|c| c.as_os_str() == "tests"));
    in_tests_dir || path.file_name().is_some_and(|name| name == "tests.rs")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    workspace::rust_files(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
}

/// `path` relative to the workspace root, with `/` separators.
fn shown(path: &Path) -> String {
    let relative = path.strip_prefix(root()).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Fails with every finding of one rule.
fn assert_clean(rule: &str, findings: &[String]) {
    assert!(
        findings.is_empty(),
        "tidy: {rule}: {} problem(s):\n\n{}\n",
        findings.len(),
        findings.join("\n\n")
    );
}

#[test]
fn boundaries_in_architecture_md_hold() {
    let markdown = read(&root().join(ARCHITECTURE));
    let block = boundaries::fenced_block(&markdown, "boundaries").unwrap_or_else(|| {
        panic!("{ARCHITECTURE} has no ```boundaries block; the Boundaries section holds the rules")
    });
    let rules = match boundaries::parse_rules(&block, ARCHITECTURE) {
        Ok(rules) => rules,
        Err(errors) => return assert_clean("boundaries (grammar)", &errors),
    };
    assert!(
        !rules.is_empty(),
        "{ARCHITECTURE}'s boundaries block has no rules"
    );
    assert_clean(
        "boundaries in ARCHITECTURE.md",
        &boundaries::check(&rules, &workspace().graph, ARCHITECTURE),
    );
}

#[test]
fn code_map_lists_every_crate() {
    let markdown = read(&root().join(ARCHITECTURE));
    let bullets = code_map::bullets(&markdown)
        .unwrap_or_else(|| panic!("{ARCHITECTURE} has no `## Code map` section"));
    let members: Vec<&str> = workspace()
        .members
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_clean(
        "the code map matches the workspace",
        &code_map::check(&bullets, &members, ARCHITECTURE),
    );
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let files = rust_files(&root().join("crates"));
    assert!(!files.is_empty(), "no .rs files under crates/");
    let findings: Vec<String> = files
        .iter()
        .filter(|path| !source::opens_with_module_doc(&read(path)))
        .map(|path| {
            format!(
                "{}: does not open with a `//!` line; start the file with a `//!` comment \
                 saying what it is for",
                shown(path)
            )
        })
        .collect();
    assert_clean("every .rs file opens with //!", &findings);
}

/// The most lines a source file may have: a longer one is several rooms.
const MAX_LINES: usize = 1000;

#[test]
fn no_rust_file_is_over_the_line_limit() {
    let findings: Vec<String> = rust_files(&root().join("crates"))
        .iter()
        .filter_map(|path| {
            let lines = read(path).lines().count();
            (lines > MAX_LINES).then(|| {
                format!(
                    "{}: has {lines} lines, more than {MAX_LINES}; split it into modules, one \
                     concern each",
                    shown(path)
                )
            })
        })
        .collect();
    assert_clean("no .rs file is over the line limit", &findings);
}

#[test]
fn no_unwrap_or_expect_outside_tests() {
    let mut findings = Vec::new();
    let mut scanned = 0;
    for member in &workspace().members {
        let src = root().join(&member.dir).join("src");
        if !src.is_dir() {
            continue;
        }
        for path in rust_files(&src) {
            if is_test_file(&src, &path) {
                continue;
            }
            scanned += 1;
            let file = shown(&path);
            for (line, text) in source::unwrap_offenders(&read(&path)) {
                findings.push(format!(
                    "{file}:{line}: `{text}` panics outside tests; return an error that names \
                     what went wrong instead (test code goes under #[cfg(test)] or in tests.rs)"
                ));
            }
        }
    }
    assert!(scanned > 0, "no source files scanned under crates/*/src");
    assert_clean("no unwrap()/expect( outside tests", &findings);
}

#[test]
fn no_unused_dependencies() {
    let mut findings = Vec::new();
    for member in &workspace().members {
        let dir = root().join(&member.dir);
        let all: Vec<String> = rust_files(&dir)
            .iter()
            .map(|path| source::strip(&read(path), source::Keep::Strings))
            .collect();
        let shipped: Vec<String> = rust_files(&dir.join("src"))
            .into_iter()
            .filter(|path| !is_test_file(&dir.join("src"), path))
            .chain(Some(dir.join("build.rs")).filter(|p| p.is_file()))
            .map(|path| source::outside_tests(&read(&path), source::Keep::Strings))
            .collect();
        let (unused, errors) = deps::check_crate(
            &member.name,
            &member.manifest,
            &member.deps,
            &member.feature_only,
            &shipped,
            &all,
        );
        findings.extend(errors);
        findings.extend(unused.iter().map(ToString::to_string));
    }
    assert_clean("no unused dependencies", &findings);
}
