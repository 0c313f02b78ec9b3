//! The Python version and pip requirements of an MLflow model, read the way
//! MLflow restores a virtualenv: `python_env.yaml` (whose `dependencies` may
//! say `-r requirements.txt`), else `requirements.txt`, else the `pip:` list
//! of `conda.yaml`; the files named by `flavors.python_function.env` win over
//! the default names.

use std::path::Path;

use crate::error::{Error, Result};
use crate::inspect::parse_requirements;

use super::yaml::{CondaDep, CondaFile, EnvConf, PythonEnvFile, YamlText};

const PYTHON_ENV: &str = "python_env.yaml";
const CONDA: &str = "conda.yaml";
const REQUIREMENTS: &str = "requirements.txt";
/// How deep `-r` may nest before Keel assumes a loop.
const MAX_INCLUDE_DEPTH: usize = 8;

/// What the environment files say.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Major and minor version, such as "3.11".
    pub python_version: Option<String>,
    pub requirements: Vec<String>,
    /// The files read, relative to the model directory, in reading order.
    pub files: Vec<String>,
}

/// Where `flavors.python_function.env` points, with the key that said so.
struct Named {
    rel: String,
    key: &'static str,
}

/// Reads the platform. `mlmodel` is the `MLmodel` file (for messages about
/// its `env` key) and `mlmodel_python` its `python_function.python_version`.
pub(super) fn read(
    dir: &Path,
    mlmodel: &YamlText,
    env: Option<&EnvConf>,
    mlmodel_python: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<Found> {
    let (conda_named, venv_named) = match env {
        None => (None, None),
        Some(EnvConf::File(f)) => (
            Some(Named {
                rel: f.clone(),
                key: "flavors.python_function.env",
            }),
            None,
        ),
        Some(EnvConf::Map { conda, virtualenv }) => (
            conda.as_ref().map(|f| Named {
                rel: f.clone(),
                key: "flavors.python_function.env.conda",
            }),
            virtualenv.as_ref().map(|f| Named {
                rel: f.clone(),
                key: "flavors.python_function.env.virtualenv",
            }),
        ),
    };
    let venv = existing(dir, mlmodel, venv_named, PYTHON_ENV, notes)?;
    let conda = existing(dir, mlmodel, conda_named, CONDA, notes)?;
    let requirements_txt = dir
        .join(REQUIREMENTS)
        .is_file()
        .then(|| REQUIREMENTS.to_string());

    let mut found = Found::default();
    let mut python: Option<(String, YamlText, &'static str)> = None;
    if let Some(rel) = &venv {
        let file = YamlText::read(dir, rel)?;
        let parsed: PythonEnvFile = file.parse("a python_env.yaml file")?;
        found.files.push(rel.clone());
        for (i, dep) in parsed.dependencies.iter().enumerate() {
            let key = format!("dependencies[{i}]");
            expand(dir, &file, &key, dep, 0, &mut found, notes)?;
        }
        if let Some(v) = parsed.python {
            python = Some((v, file, "python"));
        }
    } else if let Some(rel) = &requirements_txt {
        include(dir, rel, 0, &mut found, notes)?;
    }
    if let Some(rel) = &conda {
        let file = YamlText::read(dir, rel)?;
        let parsed: CondaFile = file.parse("a conda environment file")?;
        let use_pip = venv.is_none() && requirements_txt.is_none();
        found.files.push(rel.clone());
        let mut conda_only = Vec::new();
        let mut conda_python = None;
        for dep in &parsed.dependencies {
            match dep {
                CondaDep::Package(p) => {
                    if let Some(v) = conda_python_version(p) {
                        conda_python = Some(v);
                    } else if p.trim() != "python" && !is_pip(p) {
                        conda_only.push(p.clone());
                    }
                }
                CondaDep::Pip { pip } if use_pip => {
                    for line in pip {
                        expand(dir, &file, "dependencies.pip", line, 0, &mut found, notes)?;
                    }
                }
                CondaDep::Pip { .. } => {}
            }
        }
        if use_pip && !conda_only.is_empty() {
            notes.push(format!(
                "{rel} lists conda packages that pip cannot install ({}); Keel leaves them out. If the model needs them, add their pip names to requirements.txt.",
                conda_only.join(", ")
            ));
        }
        if python.is_none()
            && let Some(v) = conda_python
        {
            python = Some((v, file, "dependencies"));
        }
    }
    found.python_version = match python {
        Some((v, file, key)) => Some(python_version(&v).ok_or_else(|| {
            file.error(
                Some(key),
                format!("`{key}` asks for Python '{v}', which is not a Python version; write it like 3.11.7"),
            )
        })?),
        None => match mlmodel_python {
            Some(v) => Some(python_version(v).ok_or_else(|| {
                mlmodel.error(
                    Some("flavors.python_function.python_version"),
                    format!("`flavors.python_function.python_version` is '{v}', which is not a Python version; write it like 3.11.7"),
                )
            })?),
            None => None,
        },
    };
    Ok(found)
}

/// The environment file to read: the one `MLmodel` names (when it exists; a
/// missing one is noted), else the default name when that file exists.
fn existing(
    dir: &Path,
    mlmodel: &YamlText,
    named: Option<Named>,
    default: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>> {
    match named {
        Some(n) => {
            let rel = safe_rel(&n.rel).ok_or_else(|| {
                mlmodel.error(
                    Some(n.key),
                    format!("`{}` is '{}', which is not a relative path inside the model directory; name a file beside MLmodel", n.key, n.rel),
                )
            })?;
            if dir.join(&rel).is_file() {
                Ok(Some(rel))
            } else {
                notes.push(format!(
                    "MLmodel's `{}` names {rel}, which is not in the model directory; Keel reads the platform from the other environment files.",
                    n.key
                ));
                Ok(None)
            }
        }
        None => Ok(dir.join(default).is_file().then(|| default.to_string())),
    }
}

/// Adds one requirement line from a YAML list, expanding `-r FILE`.
fn expand(
    dir: &Path,
    file: &YamlText,
    key: &str,
    line: &str,
    depth: usize,
    found: &mut Found,
    notes: &mut Vec<String>,
) -> Result<()> {
    for req in parse_requirements(line) {
        match include_target(&req) {
            Some(target) => {
                let rel = safe_rel(target).ok_or_else(|| {
                    file.error(
                        Some(key.split('[').next().unwrap_or(key)),
                        format!("`{key}` includes '{target}', which is not a relative path inside the model directory"),
                    )
                })?;
                if !dir.join(&rel).is_file() {
                    return Err(file.error(
                        Some(key.split('[').next().unwrap_or(key)),
                        format!("`{key}` includes {rel}, which is not in the model directory; copy the whole directory MLflow saved"),
                    ));
                }
                include(dir, &rel, depth + 1, found, notes)?;
            }
            None => push(&req, &file.rel, found, notes),
        }
    }
    Ok(())
}

/// Reads a requirements file, expanding the `-r FILE` lines inside it.
fn include(
    dir: &Path,
    rel: &str,
    depth: usize,
    found: &mut Found,
    notes: &mut Vec<String>,
) -> Result<()> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(Error::Manifest {
            file: rel.to_string(),
            message: format!(
                "requirements files include each other more than {MAX_INCLUDE_DEPTH} levels deep; remove the loop of -r lines"
            ),
        });
    }
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    if !found.files.iter().any(|f| f == rel) {
        found.files.push(rel.to_string());
    }
    for req in parse_requirements(&text) {
        match include_target(&req) {
            Some(target) => {
                let Some(inner) = safe_rel(&join_rel(rel, target)) else {
                    return Err(Error::Manifest {
                        file: rel.to_string(),
                        message: format!(
                            "'{req}' includes a file outside the model directory; keep every requirements file inside it"
                        ),
                    });
                };
                if !dir.join(&inner).is_file() {
                    return Err(Error::Manifest {
                        file: rel.to_string(),
                        message: format!(
                            "'{req}' includes {inner}, which is not in the model directory"
                        ),
                    });
                }
                include(dir, &inner, depth + 1, found, notes)?;
            }
            None => push(&req, rel, found, notes),
        }
    }
    Ok(())
}

/// Adds a requirement unless it is a pip option Keel cannot pass on.
fn push(req: &str, from: &str, found: &mut Found, notes: &mut Vec<String>) {
    if req.starts_with("-c") || req.starts_with("--constraint") {
        notes.push(format!(
            "{from}: the constraints line '{req}' is left out; Keel installs requirements without constraints files."
        ));
    } else if !found.requirements.iter().any(|r| r == req) {
        found.requirements.push(req.to_string());
    }
}

/// The file of a `-r FILE` / `--requirement FILE` line.
fn include_target(req: &str) -> Option<&str> {
    let rest = req
        .strip_prefix("--requirement")
        .or_else(|| req.strip_prefix("-r"))?;
    let target = rest.trim_start_matches('=').trim();
    (!target.is_empty()).then_some(target)
}

/// `target` relative to the directory of the file `from`.
fn join_rel(from: &str, target: &str) -> String {
    match from.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{target}"),
        None => target.to_string(),
    }
}

/// A path inside the model directory, `/`-separated and without `.` parts,
/// or `None` when it is absolute or climbs out.
pub(super) fn safe_rel(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.starts_with('/') || raw.contains('\\') {
        return None;
    }
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
}

/// The Python version of a conda dependency such as `python=3.11.7` or `python==3.8`.
fn conda_python_version(dep: &str) -> Option<String> {
    let rest = dep.trim().strip_prefix("python")?;
    let version = rest.trim_start_matches(['=', ' ', '>', '<', '~']);
    (version.len() < rest.len() && !version.is_empty()).then(|| version.to_string())
}

/// True for conda's own `pip` dependency (such as `pip<=23.0`), which is tooling.
fn is_pip(dep: &str) -> bool {
    let dep = dep.trim();
    dep == "pip"
        || dep
            .strip_prefix("pip")
            .is_some_and(|rest| rest.starts_with(['=', '<', '>', '~', '!', ' ']))
}

/// The major.minor part of a Python version ("3.11.7" gives "3.11"): patch
/// releases are compatible, and one environment per minor version is enough.
fn python_version(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let parts: Vec<&str> = raw.split('.').collect();
    let numeric = (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    numeric.then(|| parts.iter().take(2).copied().collect::<Vec<_>>().join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_parsers() {
        assert_eq!(python_version("3.11.7").as_deref(), Some("3.11"));
        assert_eq!(python_version("3.8").as_deref(), Some("3.8"));
        assert_eq!(python_version("3.x"), None);
        assert_eq!(
            conda_python_version("python=3.11.7").as_deref(),
            Some("3.11.7")
        );
        assert_eq!(conda_python_version("python==3.8").as_deref(), Some("3.8"));
        assert_eq!(conda_python_version("python-dateutil=2.8"), None);
        assert!(is_pip("pip<=23.0"));
        assert!(is_pip("pip"));
        assert!(!is_pip("pipx"));
        assert_eq!(
            include_target("-r requirements.txt"),
            Some("requirements.txt")
        );
        assert_eq!(include_target("--requirement=base.txt"), Some("base.txt"));
        assert_eq!(include_target("-rreqs.txt"), Some("reqs.txt"));
        assert_eq!(include_target("requests"), None);
        assert_eq!(safe_rel("./a/b.txt").as_deref(), Some("a/b.txt"));
        assert_eq!(safe_rel("../x"), None);
        assert_eq!(safe_rel("/etc/passwd"), None);
        assert_eq!(join_rel("reqs/base.txt", "more.txt"), "reqs/more.txt");
    }
}
