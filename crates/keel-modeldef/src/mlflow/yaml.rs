//! Reads the YAML files of an MLflow model directory (`MLmodel`, `python_env.yaml`,
//! `conda.yaml`) into typed structs, and finds the line of a key for messages
//! about values that parse but are wrong.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The keys of `MLmodel` Keel reads; MLflow writes many more, which are ignored.
#[derive(Debug, Default, Deserialize)]
pub(super) struct MlModelFile {
    pub flavors: Option<FlavorsConf>,
    pub mlflow_version: Option<String>,
    pub signature: Option<SignatureConf>,
}

/// The two flavors Keel serves by itself; every other flavor is served through
/// `python_function`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FlavorsConf {
    pub python_function: Option<PyfuncConf>,
    pub sklearn: Option<SklearnConf>,
}

/// `flavors.python_function`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PyfuncConf {
    pub loader_module: Option<String>,
    pub model_path: Option<String>,
    /// The older spelling of `model_path`.
    pub data: Option<String>,
    pub code: Option<String>,
    pub python_model: Option<String>,
    pub env: Option<EnvConf>,
    pub python_version: Option<String>,
}

/// `flavors.python_function.env`: one conda file (older MLflow) or a map of
/// environment files by manager.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum EnvConf {
    File(String),
    Map {
        conda: Option<String>,
        virtualenv: Option<String>,
    },
}

/// `flavors.sklearn`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SklearnConf {
    pub pickled_model: Option<String>,
    pub serialization_format: Option<String>,
    pub sklearn_version: Option<String>,
    pub code: Option<String>,
}

/// `signature`: the inputs and outputs are JSON text inside the YAML.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SignatureConf {
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub params: Option<yaml_serde::Value>,
}

/// `python_env.yaml`, as `mlflow` writes it for virtualenv restores.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PythonEnvFile {
    pub python: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

/// `conda.yaml`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CondaFile {
    #[serde(default)]
    pub dependencies: Vec<CondaDep>,
}

/// One entry of a conda file's `dependencies`: a conda package, or the `pip:` list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum CondaDep {
    Package(String),
    Pip { pip: Vec<String> },
}

/// A YAML file of the model, read and kept for line look-ups.
pub(super) struct YamlText {
    /// The file's path relative to the model directory.
    pub rel: String,
    pub text: String,
}

impl YamlText {
    /// Reads `dir/rel`.
    pub fn read(dir: &Path, rel: &str) -> Result<YamlText> {
        let path = dir.join(rel);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Manifest {
                file: rel.to_string(),
                message: "the file is not UTF-8 text; MLflow writes its YAML files as UTF-8, so the directory may be damaged".into(),
            }
        })?;
        Ok(YamlText {
            rel: rel.to_string(),
            text,
        })
    }

    /// Parses the file as `T`. Syntax errors and wrong types come back with the
    /// key path and the line and column the YAML parser gives.
    pub fn parse<T: DeserializeOwned + Default>(&self, what: &str) -> Result<T> {
        // An empty file is an empty mapping to MLflow too.
        if self.text.trim().is_empty() {
            return Ok(T::default());
        }
        // Syntax first, so a broken file is reported as broken rather than as a wrong type.
        yaml_serde::from_str::<yaml_serde::Value>(&self.text)
            .map_err(|e| self.error(None, format!("the file is not valid YAML: {e}")))?;
        yaml_serde::from_str::<T>(&self.text).map_err(|e| {
            self.error(
                None,
                format!("the file is not {what} as MLflow writes it: {e}"),
            )
        })
    }

    /// The flavor names of an `MLmodel` file, in file order.
    pub fn flavor_names(&self) -> Vec<String> {
        let Ok(value) = yaml_serde::from_str::<yaml_serde::Value>(&self.text) else {
            return Vec::new();
        };
        value
            .get("flavors")
            .and_then(yaml_serde::Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An error about this file; `key` (a dotted path) adds the line where the key is.
    pub fn error(&self, key: Option<&str>, message: impl std::fmt::Display) -> Error {
        let line = key.and_then(|k| key_line(&self.text, k));
        Error::Manifest {
            file: self.rel.clone(),
            message: match line {
                Some(line) => format!("line {line}: {message}"),
                None => message.to_string(),
            },
        }
    }
}

/// The 1-based line of a dotted key path (`flavors.sklearn.pickled_model`) in
/// block-style YAML, as MLflow writes it: each key is looked for below its
/// parent, more indented than the parent, and before the parent's block ends.
pub(super) fn key_line(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for segment in path.split('.') {
        found = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let body = line.trim_start();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let indent = line.len() - body.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                // The parent's block ended without this key.
                return None;
            }
            let key = body.trim_start_matches("- ");
            let key = key
                .strip_prefix(segment)
                .or_else(|| {
                    key.strip_prefix('"')
                        .and_then(|k| k.strip_prefix(segment))
                        .and_then(|k| k.strip_prefix('"'))
                })
                .or_else(|| {
                    key.strip_prefix('\'')
                        .and_then(|k| k.strip_prefix(segment))
                        .and_then(|k| k.strip_prefix('\''))
                });
            if key.is_some_and(|rest| rest.starts_with(':')) {
                found = Some((i, indent));
                break;
            }
        }
        let (i, indent) = found?;
        start = i + 1;
        parent_indent = Some(indent);
    }
    found.map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_follow_nesting() {
        let text = "\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
    model_path: model.pkl
  sklearn:
    # a comment
    pickled_model: model.pkl
    'code': null
signature:
  inputs: '[]'
";
        for (path, want) in [
            ("flavors", Some(2)),
            ("flavors.python_function.env.conda", Some(5)),
            ("flavors.python_function.model_path", Some(6)),
            ("flavors.sklearn.pickled_model", Some(9)),
            ("flavors.sklearn.code", Some(10)),
            ("flavors.sklearn.model_path", None),
            ("flavors.sklearn.env", None),
            ("signature.inputs", Some(12)),
            ("signature.outputs", None),
            ("missing", None),
        ] {
            assert_eq!(key_line(text, path), want, "{path}");
        }
    }
}
