//! The workspace as the checks see it: members, their declared dependencies
//! and the normal-dependency resolve graph, read from `cargo metadata`, and
//! the Rust files under a directory.
//!
//! This is the only module that touches the disk or runs cargo.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::boundaries::{Graph, Package};
use crate::deps::{DeclaredDep, DepKind};

/// A workspace member.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    /// The crate's directory, relative to the workspace root.
    pub dir: PathBuf,
    /// `Cargo.toml`, relative to the workspace root, with `/` separators.
    pub manifest: String,
    /// Every dependency it declares, in every section.
    pub deps: Vec<DeclaredDep>,
    /// `[package.metadata.tidy] feature-only`.
    pub feature_only: Vec<String>,
}

/// What `cargo metadata` says about the workspace.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// Members, sorted by name.
    pub members: Vec<Member>,
    pub graph: Graph,
}

/// Runs `cargo metadata --format-version 1 --locked` (with the resolve
/// graph) in `root` and returns its JSON.
///
/// Offline first, so the test needs no network once the build has happened.
/// The full graph covers every platform, and its crates for other platforms
/// are downloaded only by `cargo fetch`; when they are missing, the graph
/// for the host platform is read (still offline), and only then is cargo
/// allowed the network. Cargo is `$CARGO` (set by `cargo test`), else
/// `cargo`.
pub fn cargo_metadata(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let attempts: [&[&str]; 3] = [
        &["--offline"],
        &["--offline", "--filter-platform", "host-tuple"],
        &[],
    ];
    let mut failures = Vec::new();
    for extra in attempts {
        let mut command = Command::new(&cargo);
        command
            .args(["metadata", "--format-version", "1", "--locked"])
            .args(extra)
            .current_dir(root);
        let shown = format!(
            "{cargo} metadata --format-version 1 --locked {}",
            extra.join(" ")
        );
        match command.output() {
            Ok(output) if output.status.success() => {
                return serde_json::from_slice(&output.stdout)
                    .map_err(|e| format!("`{shown}` printed JSON that does not parse: {e}"));
            }
            Ok(output) => failures.push(format!(
                "`{shown}` failed:\n{}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(e) => failures.push(format!("`{shown}` did not start: {e}")),
        }
    }
    Err(format!(
        "cannot read the workspace with cargo metadata (if Cargo.lock is out of date, run \
         `cargo metadata` once and commit Cargo.lock):\n{}",
        failures.join("\n")
    ))
}

/// Reads the members and the resolve graph out of `cargo metadata` JSON.
pub fn from_metadata(metadata: &Value) -> Result<Workspace, String> {
    let root = str_at(metadata, "workspace_root")?;
    let member_ids: Vec<&str> = array_at(metadata, "workspace_members")?
        .iter()
        .map(|id| id.as_str().ok_or("a workspace member id is not a string"))
        .collect::<Result<_, _>>()?;
    let mut members = Vec::new();
    let mut graph = Graph::default();
    for package in array_at(metadata, "packages")? {
        let id = str_at(package, "id")?;
        let name = str_at(package, "name")?;
        graph.packages.insert(
            id.to_string(),
            Package {
                name: name.to_string(),
                normal_deps: Vec::new(),
            },
        );
        if !member_ids.contains(&id) {
            continue;
        }
        let manifest_path = Path::new(str_at(package, "manifest_path")?);
        let manifest = manifest_path.strip_prefix(root).map_err(|_| {
            format!(
                "{name}'s manifest {} is not under {root}",
                manifest_path.display()
            )
        })?;
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let manifest = manifest
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        graph
            .members
            .insert(name.to_string(), (id.to_string(), manifest.clone()));
        members.push(Member {
            name: name.to_string(),
            dir,
            manifest,
            deps: declared_deps(package)?,
            feature_only: feature_only(package)?,
        });
    }
    let nodes = metadata
        .get("resolve")
        .and_then(|r| r.get("nodes"))
        .and_then(Value::as_array)
        .ok_or("cargo metadata has no resolve graph; run it without --no-deps")?;
    for node in nodes {
        let id = str_at(node, "id")?;
        let mut normal = Vec::new();
        for dep in array_at(node, "deps")? {
            let is_normal = array_at(dep, "dep_kinds")?
                .iter()
                .any(|kind| kind.get("kind").is_some_and(Value::is_null));
            if is_normal {
                normal.push(str_at(dep, "pkg")?.to_string());
            }
        }
        match graph.packages.get_mut(id) {
            Some(package) => package.normal_deps = normal,
            None => {
                return Err(format!(
                    "the resolve graph names {id}, which is not a package"
                ));
            }
        }
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Workspace { members, graph })
}

fn declared_deps(package: &Value) -> Result<Vec<DeclaredDep>, String> {
    array_at(package, "dependencies")?
        .iter()
        .map(|dep| {
            let name = str_at(dep, "name")?;
            let rename = dep.get("rename").and_then(Value::as_str);
            let kind = match dep.get("kind").and_then(Value::as_str) {
                None => DepKind::Normal,
                Some("dev") => DepKind::Dev,
                Some("build") => DepKind::Build,
                Some(other) => {
                    return Err(format!("{name} has the unknown dependency kind {other}"));
                }
            };
            Ok(DeclaredDep {
                name: name.to_string(),
                rust_name: rename.unwrap_or(name).replace('-', "_"),
                kind,
            })
        })
        .collect()
}

fn feature_only(package: &Value) -> Result<Vec<String>, String> {
    let Some(list) = package
        .get("metadata")
        .and_then(|m| m.get("tidy"))
        .and_then(|t| t.get("feature-only"))
    else {
        return Ok(Vec::new());
    };
    let error = || {
        format!(
            "[package.metadata.tidy] feature-only of {} is not a list of crate names",
            package.get("name").and_then(Value::as_str).unwrap_or("?")
        )
    };
    list.as_array()
        .ok_or_else(error)?
        .iter()
        .map(|name| name.as_str().map(str::to_string).ok_or_else(error))
        .collect()
}

fn str_at<'v>(value: &'v Value, key: &str) -> Result<&'v str, String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("cargo metadata: `{key}` is missing or not a string"))
}

fn array_at<'v>(value: &'v Value, key: &str) -> Result<&'v Vec<Value>, String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("cargo metadata: `{key}` is missing or not a list"))
}

/// Every `.rs` file under `dir`, sorted, skipping hidden directories and
/// `target`.
pub fn rust_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `cargo metadata --format-version 1` output, cut down.
    const METADATA: &str = r#"{
        "workspace_root": "/ws",
        "workspace_members": ["path+file:///ws/crates/a#0.0.0", "path+file:///ws/crates/b#0.0.0"],
        "packages": [
            {
                "id": "path+file:///ws/crates/a#0.0.0", "name": "a",
                "manifest_path": "/ws/crates/a/Cargo.toml",
                "dependencies": [
                    {"name": "b", "rename": null, "kind": null},
                    {"name": "serde_json", "rename": null, "kind": null},
                    {"name": "my-dev", "rename": "md", "kind": "dev"},
                    {"name": "cc", "kind": "build"}
                ],
                "metadata": {"tidy": {"feature-only": ["serde_json"]}}
            },
            {
                "id": "path+file:///ws/crates/b#0.0.0", "name": "b",
                "manifest_path": "/ws/crates/b/Cargo.toml",
                "dependencies": [], "metadata": null
            },
            {"id": "registry+x#serde_json@1.0.0", "name": "serde_json", "manifest_path": "/r/Cargo.toml", "dependencies": []},
            {"id": "registry+x#my-dev@1.0.0", "name": "my-dev", "manifest_path": "/r/Cargo.toml", "dependencies": []},
            {"id": "registry+x#cc@1.0.0", "name": "cc", "manifest_path": "/r/Cargo.toml", "dependencies": []}
        ],
        "resolve": {"nodes": [
            {"id": "path+file:///ws/crates/a#0.0.0", "deps": [
                {"pkg": "path+file:///ws/crates/b#0.0.0", "dep_kinds": [{"kind": null, "target": null}]},
                {"pkg": "registry+x#serde_json@1.0.0", "dep_kinds": [{"kind": "dev", "target": null}, {"kind": null, "target": "cfg(unix)"}]},
                {"pkg": "registry+x#my-dev@1.0.0", "dep_kinds": [{"kind": "dev", "target": null}]},
                {"pkg": "registry+x#cc@1.0.0", "dep_kinds": [{"kind": "build", "target": null}]}
            ]},
            {"id": "path+file:///ws/crates/b#0.0.0", "deps": []},
            {"id": "registry+x#serde_json@1.0.0", "deps": []},
            {"id": "registry+x#my-dev@1.0.0", "deps": []},
            {"id": "registry+x#cc@1.0.0", "deps": []}
        ]}
    }"#;

    #[test]
    fn reads_members_declared_deps_and_normal_edges() {
        let metadata: Value = serde_json::from_str(METADATA).expect("test JSON parses");
        let ws = from_metadata(&metadata).expect("metadata reads");
        let names: Vec<&str> = ws.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let a = &ws.members[0];
        assert_eq!(a.dir, Path::new("crates/a"));
        assert_eq!(a.manifest, "crates/a/Cargo.toml");
        assert_eq!(a.feature_only, ["serde_json"]);
        let deps: Vec<(&str, &str, DepKind)> = a
            .deps
            .iter()
            .map(|d| (d.name.as_str(), d.rust_name.as_str(), d.kind))
            .collect();
        assert_eq!(
            deps,
            [
                ("b", "b", DepKind::Normal),
                ("serde_json", "serde_json", DepKind::Normal),
                ("my-dev", "md", DepKind::Dev),
                ("cc", "cc", DepKind::Build),
            ]
        );
        let a_id = &ws.graph.members["a"].0;
        let normal: Vec<&str> = ws.graph.packages[a_id]
            .normal_deps
            .iter()
            .map(|id| ws.graph.packages[id].name.as_str())
            .collect();
        assert_eq!(
            normal,
            ["b", "serde_json"],
            "dev-only and build-only edges are dropped"
        );
    }

    #[test]
    fn without_resolve_graph_is_an_error() {
        let mut metadata: Value = serde_json::from_str(METADATA).expect("test JSON parses");
        metadata["resolve"] = Value::Null;
        let error = from_metadata(&metadata).expect_err("needs the graph");
        assert!(error.contains("no resolve graph"), "{error}");
    }
}
