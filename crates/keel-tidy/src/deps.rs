//! No declared-but-unused dependency: every dependency in a crate's
//! `Cargo.toml` is named somewhere in the crate's Rust files.
//!
//! A dependency counts as used when its Rust name (hyphens turned into
//! underscores, or its `package =` rename) appears outside comments
//! - as a path root: `name::…` (also `::name::…`, but not `other::name::…`);
//! - as the root of a `use` or `extern crate` line: `use name;`,
//!   `use name as n;`, `extern crate name;`;
//! - as an attribute: `#[name]`, `#[name(…)]`, `#![name…]`.
//!
//! String contents count too, for paths like `#[serde(with = "hex::serde")]`.
//! A normal or build dependency must be named by the code the crate ships
//! (`src/` outside test code, `build.rs`); one named only by tests, examples
//! or benches belongs in `[dev-dependencies]`. A dev-dependency may be named
//! anywhere in the crate.
//! A derive like `#[derive(ToSchema)]` needs its crate named in a `use` or a
//! path anyway. A dependency that is there only to switch on a feature for
//! the whole build is listed in the crate's `Cargo.toml`:
//!
//! ```toml
//! [package.metadata.tidy]
//! # serde_json's preserve_order, for every crate that prints JSON.
//! feature-only = ["serde_json"]
//! ```

use std::fmt;

/// The section of `Cargo.toml` a dependency is declared in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DepKind {
    Normal,
    Dev,
    Build,
}

impl fmt::Display for DepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DepKind::Normal => "[dependencies]",
            DepKind::Dev => "[dev-dependencies]",
            DepKind::Build => "[build-dependencies]",
        })
    }
}

/// A dependency as a crate declares it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeclaredDep {
    /// The package name, as in `Cargo.toml`.
    pub name: String,
    /// The name code uses: the rename if any, with `-` turned into `_`.
    pub rust_name: String,
    pub kind: DepKind,
}

/// A declared dependency no source names, or a normal one only tests name.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Unused {
    pub krate: String,
    pub dep: String,
    pub kind: DepKind,
    pub manifest: String,
    /// True when only test code names it: it belongs in `[dev-dependencies]`.
    pub only_tests: bool,
}

impl fmt::Display for Unused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.only_tests {
            return write!(
                f,
                "crate {} declares {} in {} but only its tests use it; move it to \
                 [dev-dependencies] in {}",
                self.krate, self.dep, self.kind, self.manifest
            );
        }
        write!(
            f,
            "crate {} declares {} but never uses it; remove it from {} ({}). If it is there \
             only to switch on a feature, list it in `[package.metadata.tidy] feature-only` \
             with a comment saying why",
            self.krate, self.dep, self.manifest, self.kind
        )
    }
}

/// Whether `code` (comments removed) names the crate `rust_name`.
pub fn uses_crate(code: &str, rust_name: &str) -> bool {
    code.match_indices(rust_name).any(|(start, _)| {
        let before = &code[..start];
        let after = &code[start + rust_name.len()..];
        if before.chars().next_back().is_some_and(is_ident_char)
            || after.chars().next().is_some_and(is_ident_char)
        {
            return false;
        }
        if let Some(qualifier) = before.strip_suffix("::") {
            // `other::name::…` is a module of `other`; `::name::…` is the crate.
            return !qualifier.chars().next_back().is_some_and(is_ident_char)
                && after.starts_with("::");
        }
        if after.starts_with("::") {
            return true;
        }
        let before = before.trim_end();
        if before.ends_with("#[") || before.ends_with("#![") {
            return true;
        }
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        is_use_line(&code[line_start..start])
    })
}

/// Whether a line up to a name is the head of a `use` or `extern crate`
/// item, with nothing but `{`, `,` and other roots between.
fn is_use_line(head: &str) -> bool {
    let mut head = head.trim_start();
    if let Some(rest) = head.strip_prefix("pub") {
        head = rest.trim_start();
        if head.starts_with('(') {
            match head.find(')') {
                Some(close) => head = head[close + 1..].trim_start(),
                None => return false,
            }
        }
    }
    let Some(rest) = head
        .strip_prefix("use ")
        .or_else(|| head.strip_prefix("extern crate "))
    else {
        return false;
    };
    let rest = rest.trim_start().trim_start_matches("::");
    // `use name`, `use {a, name}`: the name is a root, not inside a path.
    rest.is_empty() || (rest.starts_with('{') && !rest.contains("::"))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The declared dependencies of one crate that its sources do not name as
/// their kind needs, and the problems with its `feature-only` list: a name
/// that is not declared, or one that is used. `shipped` is the code the crate
/// ships (comments and test code removed); `all` is every Rust file of it.
pub fn check_crate(
    krate: &str,
    manifest: &str,
    deps: &[DeclaredDep],
    feature_only: &[String],
    shipped: &[String],
    all: &[String],
) -> (Vec<Unused>, Vec<String>) {
    let named = |sources: &[String], dep: &DeclaredDep| {
        sources.iter().any(|text| uses_crate(text, &dep.rust_name))
    };
    let used = |dep: &DeclaredDep| named(all, dep);
    let mut unused = Vec::new();
    for dep in deps {
        if feature_only.contains(&dep.name) {
            continue;
        }
        let in_tests = used(dep);
        let needed = match dep.kind {
            DepKind::Dev => in_tests,
            DepKind::Normal | DepKind::Build => named(shipped, dep),
        };
        if !needed {
            unused.push(Unused {
                krate: krate.to_string(),
                dep: dep.name.clone(),
                kind: dep.kind,
                manifest: manifest.to_string(),
                only_tests: in_tests,
            });
        }
    }
    let mut errors = Vec::new();
    for name in feature_only {
        let declared: Vec<&DeclaredDep> = deps.iter().filter(|d| &d.name == name).collect();
        if declared.is_empty() {
            errors.push(format!(
                "{manifest}: `[package.metadata.tidy] feature-only` lists {name}, which {krate} \
                 does not declare; remove it from the list"
            ));
        } else if declared.iter().any(|d| used(d)) {
            errors.push(format!(
                "{manifest}: `[package.metadata.tidy] feature-only` lists {name}, but {krate} \
                 uses it; remove it from the list"
            ));
        }
    }
    (unused, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_crate_table() {
        // (code, rust name, used)
        let cases: &[(&str, &str, bool)] = &[
            ("let v = serde_json::to_string(&x)?;", "serde_json", true),
            ("use serde_json::Value;", "serde_json", true),
            ("use tokio;", "tokio", true),
            ("use hex as h;", "hex", true),
            ("pub use arrow_array;", "arrow_array", true),
            ("pub(crate) use {hex, sha2};", "sha2", true),
            ("extern crate libc;", "libc", true),
            ("#[async_trait]\nimpl Store for S {}", "async_trait", true),
            ("#[tokio::test]\nasync fn t() {}", "tokio", true),
            (
                "#![doc = \"x\"]\n#[serde(rename_all = \"camelCase\")]",
                "serde",
                true,
            ),
            ("#[derive(Debug, utoipa::ToSchema)]", "utoipa", true),
            ("#[serde(with = \"hex::serde\")]", "hex", true),
            ("let x = ::bytes::Bytes::new();", "bytes", true),
            ("let n = tracing::info!(\"x\");", "tracing", true),
            // Not uses.
            ("let bytes = read(path)?;", "bytes", false),
            ("fn write(bytes: &[u8]) {}", "bytes", false),
            ("let v = my_serde_json::x();", "serde_json", false),
            ("let v = serde_json_ext::x();", "serde_json", false),
            ("use crate::hex::encode;", "hex", false),
            ("use super::{hex, other};", "hex", false),
            ("let t = self::tar::pack();", "tar", false),
            ("#[derive(ToSchema)]", "utoipa", false),
            ("let s = \"tar\";", "tar", false),
            ("use std::{fmt, tar};", "tar", false),
            ("", "tokio", false),
        ];
        for (code, name, want) in cases {
            assert_eq!(uses_crate(code, name), *want, "{name} in {code:?}");
        }
    }

    fn dep(name: &str, kind: DepKind) -> DeclaredDep {
        DeclaredDep {
            name: name.to_string(),
            rust_name: name.replace('-', "_"),
            kind,
        }
    }

    /// Sources, feature-only list, the unused dependencies expected, and
    /// fragments of the feature-only errors expected.
    type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str]);

    #[test]
    fn check_crate_table() {
        let deps = [
            dep("serde_json", DepKind::Normal),
            dep("async-trait", DepKind::Normal),
            dep("bytes", DepKind::Normal),
            dep("tempfile", DepKind::Dev),
            dep("cc", DepKind::Build),
        ];
        let lib = "use async_trait::async_trait;\nfn f() -> serde_json::Value { todo() }\n";
        let tests = "let d = tempfile::tempdir();\nlet b = bytes::Bytes::new();\n";
        let build = "fn main() { cc::Build::new(); }\n";
        let cases: &[Case] = &[
            (&[lib, tests, build], &[], &[], &[]),
            (&[lib], &[], &["bytes", "tempfile", "cc"], &[]),
            (
                &[],
                &["serde_json"],
                &["async-trait", "bytes", "tempfile", "cc"],
                &[],
            ),
            (
                &[lib, tests, build],
                &["serde_json"],
                &[],
                &["lists serde_json, but k uses it"],
            ),
            (
                &[lib, tests, build],
                &["toml"],
                &[],
                &["lists toml, which k does not declare"],
            ),
        ];
        for (sources, feature_only, want_unused, want_errors) in cases {
            let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
            let feature_only: Vec<String> = feature_only.iter().map(|s| s.to_string()).collect();
            let (unused, errors) = check_crate(
                "k",
                "crates/k/Cargo.toml",
                &deps,
                &feature_only,
                &sources,
                &sources,
            );
            let names: Vec<&str> = unused.iter().map(|u| u.dep.as_str()).collect();
            assert_eq!(names, *want_unused, "{sources:?} {feature_only:?}");
            assert_eq!(errors.len(), want_errors.len(), "{errors:#?}");
            for (error, fragment) in errors.iter().zip(want_errors.iter()) {
                assert!(
                    error.contains(fragment),
                    "{error}\nshould contain\n{fragment}"
                );
            }
        }
    }

    #[test]
    fn a_normal_dependency_only_tests_use_belongs_in_dev_dependencies() {
        let deps = [
            dep("chrono", DepKind::Normal),
            dep("tempfile", DepKind::Dev),
        ];
        let shipped = vec!["fn f() {}\n".to_string()];
        let all = vec![
            "fn f() {}\n".to_string(),
            "let t = chrono::Utc::now(); let d = tempfile::tempdir();\n".to_string(),
        ];
        let (unused, errors) = check_crate("k", "crates/k/Cargo.toml", &deps, &[], &shipped, &all);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(unused.len(), 1, "{unused:?}");
        assert!(unused[0].only_tests);
        assert!(
            unused[0]
                .to_string()
                .contains("chrono in [dependencies] but only its tests use it; move it"),
            "{}",
            unused[0]
        );
    }

    #[test]
    fn unused_message_names_crate_dependency_and_manifest() {
        let unused = Unused {
            krate: "keel-core".to_string(),
            dep: "bytes".to_string(),
            kind: DepKind::Dev,
            manifest: "crates/keel-core/Cargo.toml".to_string(),
            only_tests: false,
        };
        assert!(unused.to_string().starts_with(
            "crate keel-core declares bytes but never uses it; remove it from \
             crates/keel-core/Cargo.toml ([dev-dependencies])"
        ));
    }
}
