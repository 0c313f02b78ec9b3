//! Parses the optional `keel.toml` manifest, which names a model's primary
//! source, functions, schemas and platform explicitly (and wins over smart tags).

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::tags::Kind;

/// The file name of the manifest at the top of a model directory.
pub(crate) const MANIFEST_FILE: &str = "keel.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub name: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    #[serde(default)]
    pub functions: ManifestFunctions,
    #[serde(default)]
    pub schemas: ManifestSchemas,
    #[serde(default)]
    pub platform: ManifestPlatform,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestFunctions {
    pub init: Option<Spanned<String>>,
    pub score: Option<Spanned<String>>,
    pub score_batch: Option<bool>,
    pub metrics: Option<Spanned<String>>,
    pub train: Option<Spanned<String>>,
}

impl ManifestFunctions {
    pub(crate) fn get(&self, kind: Kind) -> Option<&Spanned<String>> {
        match kind {
            Kind::Init => self.init.as_ref(),
            Kind::Score => self.score.as_ref(),
            Kind::Metrics => self.metrics.as_ref(),
            Kind::Train => self.train.as_ref(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestSchemas {
    pub input: Option<Spanned<String>>,
    pub output: Option<Spanned<String>>,
    pub output_column: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestPlatform {
    /// Also spelled `python_version`, as MLflow's python_env.yaml and issue
    /// writers say it.
    #[serde(alias = "python_version")]
    pub python: Option<Spanned<String>>,
    pub requirements: Option<Spanned<String>>,
}

/// A parsed manifest together with its text, so errors can cite lines.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub manifest: Manifest,
    text: String,
}

impl Loaded {
    /// Parses manifest text. Unknown keys and wrong types are errors that carry toml's line and column.
    pub(crate) fn parse(text: &str) -> Result<Loaded> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| Error::Manifest {
            file: MANIFEST_FILE.to_string(),
            message: format!(
                "the manifest is not valid: {}. The accepted keys are name, source, [functions] init/score/score_batch/metrics/train, [schemas] input/output/output_column and [platform] python (or python_version)/requirements.",
                e.to_string().trim_end()
            ),
        })?;
        Ok(Loaded {
            manifest,
            text: text.to_string(),
        })
    }

    /// The 1-based line where a value starts.
    pub(crate) fn line<T>(&self, value: &Spanned<T>) -> usize {
        let start = value.span().start.min(self.text.len());
        self.text.as_bytes()[..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// An error about a value, citing its line.
    pub(crate) fn error<T>(&self, value: &Spanned<T>, message: impl std::fmt::Display) -> Error {
        Error::Manifest {
            file: MANIFEST_FILE.to_string(),
            message: format!("line {}: {message}", self.line(value)),
        }
    }

    /// Normalises a path the manifest names (strips `./`) and rejects ones that
    /// could leave the model directory.
    pub(crate) fn rel_path(&self, key: &str, value: &Spanned<String>) -> Result<String> {
        let raw = value.get_ref().trim();
        let parts: Vec<&str> = raw
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if raw.starts_with('/') || raw.contains('\\') || parts.is_empty() || parts.contains(&"..") {
            return Err(self.error(
                value,
                format!(
                    "{key} = \"{raw}\" must be a relative path inside the model directory, written with '/' and without '..'."
                ),
            ));
        }
        Ok(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_manifest_parses_with_lines() {
        let text = r#"name = "fraud"
source = "fraud.py"

[functions]
init = "begin"
score = "action"
score_batch = false
metrics = "metrics"
train = "train"

[schemas]
input = "./schemas/input_schema.avsc"
output = "output_schema.avsc"

[platform]
python = "3.11"
requirements = "requirements.txt"
"#;
        let loaded = Loaded::parse(text).unwrap();
        let m = &loaded.manifest;
        assert_eq!(m.name.as_ref().unwrap().get_ref(), "fraud");
        let score = m.functions.get(Kind::Score).unwrap();
        assert_eq!(score.get_ref(), "action");
        assert_eq!(loaded.line(score), 6);
        assert_eq!(m.functions.score_batch, Some(false));
        assert_eq!(m.functions.get(Kind::Init).unwrap().get_ref(), "begin");
        assert_eq!(m.functions.get(Kind::Train).unwrap().get_ref(), "train");
        let input = m.schemas.input.as_ref().unwrap();
        assert_eq!(
            loaded.rel_path("schemas.input", input).unwrap(),
            "schemas/input_schema.avsc"
        );
        assert_eq!(m.platform.python.as_ref().unwrap().get_ref(), "3.11");
    }

    #[test]
    fn python_version_is_a_spelling_of_python() {
        let loaded = Loaded::parse("[platform]\npython_version = \"3.12\"\n").unwrap();
        let v = loaded.manifest.platform.python.as_ref().unwrap();
        assert_eq!((v.get_ref().as_str(), loaded.line(v)), ("3.12", 2));
    }

    #[test]
    fn empty_manifest_is_fine() {
        let loaded = Loaded::parse("").unwrap();
        assert!(loaded.manifest.source.is_none());
        assert!(loaded.manifest.functions.get(Kind::Score).is_none());
    }

    #[test]
    fn unknown_keys_are_errors_naming_key_and_line() {
        let err = Loaded::parse("name = \"x\"\n[functions]\nscorer = \"s\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("keel.toml: "), "{msg}");
        assert!(msg.contains("scorer"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        let err = Loaded::parse("colour = \"red\"\n").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = Loaded::parse("[functions]\nscore_batch = \"yes\"\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn escaping_paths_are_rejected() {
        let loaded = Loaded::parse("source = \"../x.py\"\n").unwrap();
        let source = loaded.manifest.source.as_ref().unwrap();
        let err = loaded.rel_path("source", source).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(err.to_string().contains("without '..'"), "{err}");
    }
}
