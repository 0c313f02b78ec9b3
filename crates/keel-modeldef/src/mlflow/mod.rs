//! Recognises an MLflow model directory (an `MLmodel` file at its top) and
//! reads what Keel needs to serve it without any Keel-specific file.
//!
//! [`detect`] returns an [`MlflowModel`]: the [`Flavor`] that serves it
//! (`sklearn`, loaded from its pickle, cloudpickle or skops file without
//! MLflow, else `python_function` through `mlflow.pyfunc.load_model`), the
//! platform (Python version and pip requirements from `python_env.yaml`,
//! `requirements.txt` or `conda.yaml`), the Avro input and output schemas made
//! from the signature, a one-line summary, notes about whatever was left out,
//! and the configuration of the Python adapter `keel_mlflow.py` that
//! `keel-runner` writes beside the worker. Keel never loads the model here:
//! only the text files are read.

pub(crate) mod definition;
mod platform;
mod signature;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{Error, Result};

use signature::{Signature, Spec};
use yaml::{MlModelFile, PyfuncConf, SklearnConf, YamlText};

/// The file that marks an MLflow model directory.
pub const MLMODEL_FILE: &str = "MLmodel";
/// The Python module (written by `keel-runner` into the working directory)
/// that loads and calls MLflow models: its `init()` loads the model, its batch
/// `score(df)` predicts.
pub const ADAPTER_MODULE: &str = "keel_mlflow";
/// The environment variable that carries [`MlflowModel::adapter_config`] to the adapter, as JSON.
pub const ADAPTER_CONFIG_ENV: &str = "KEEL_MLFLOW";

/// What Keel needs to serve an MLflow model.
#[derive(Clone, Debug, PartialEq)]
pub struct MlflowModel {
    /// The flavor that serves the model.
    pub flavor: Flavor,
    /// Every flavor `MLmodel` lists, in file order (such as `python_function, sklearn`).
    pub flavors: Vec<String>,
    /// `mlflow_version`: the MLflow that saved the model.
    pub mlflow_version: Option<String>,
    /// The Python version as major.minor (such as `3.11`), from `python_env.yaml`,
    /// `conda.yaml` or `flavors.python_function.python_version`.
    pub python_version: Option<String>,
    /// The pip requirements, normalised, with the flavor's needs applied (see `docs/mlflow-models.md`).
    pub requirements: Vec<String>,
    /// The environment files read, relative to the directory, in reading order.
    pub platform_files: Vec<String>,
    signature: Option<Signature>,
    input_avsc: Option<String>,
    output_avsc: Option<String>,
    output_names: Option<Vec<String>>,
    notes: Vec<String>,
}

/// The flavor Keel serves an MLflow model through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `flavors.sklearn`: the adapter unpickles the estimator itself, without MLflow.
    Sklearn {
        /// `pickled_model`: the estimator's file, relative to the directory.
        pickled_model: String,
        /// `serialization_format` (pickle when absent, as older MLflow wrote).
        serialization_format: SerializationFormat,
        /// `sklearn_version`: the scikit-learn that saved it.
        sklearn_version: Option<String>,
        /// `code`: a directory of Python modules the estimator's classes live in.
        code: Option<String>,
    },
    /// `flavors.python_function`: the adapter calls `mlflow.pyfunc.load_model`.
    PythonFunction {
        /// `loader_module`, such as `mlflow.pyfunc.model` for a custom `PythonModel`.
        loader_module: String,
        /// `model_path` (or the older `data`), relative to the directory.
        model_path: Option<String>,
        /// `code`: a directory of Python modules the model needs.
        code: Option<String>,
        /// `python_model`: the pickled `PythonModel` of a custom model.
        python_model: Option<String>,
    },
}

/// How an sklearn flavor's estimator is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerializationFormat {
    /// Python's `pickle`.
    Pickle,
    /// `cloudpickle` (older MLflow's default).
    Cloudpickle,
    /// `skops` (recent MLflow's default).
    Skops,
}

impl SerializationFormat {
    /// MLflow's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SerializationFormat::Pickle => "pickle",
            SerializationFormat::Cloudpickle => "cloudpickle",
            SerializationFormat::Skops => "skops",
        }
    }

    fn parse(raw: &str) -> Option<SerializationFormat> {
        Some(match raw.trim() {
            "pickle" => SerializationFormat::Pickle,
            "cloudpickle" => SerializationFormat::Cloudpickle,
            "skops" => SerializationFormat::Skops,
            _ => return None,
        })
    }

    /// The pip package the adapter needs to load this format, beside scikit-learn.
    fn package(self) -> Option<&'static str> {
        match self {
            SerializationFormat::Pickle => None,
            SerializationFormat::Cloudpickle => Some("cloudpickle"),
            SerializationFormat::Skops => Some("skops"),
        }
    }
}

/// Looks for an `MLmodel` file at the top of `dir`: `None` when there is none,
/// else the model it describes, or an error naming the file, the key and
/// (where known) the line of what is wrong.
pub fn detect(dir: &Path) -> Result<Option<MlflowModel>> {
    let path = dir.join(MLMODEL_FILE);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("inspect", &path, e)),
    }
    let file = YamlText::read(dir, MLMODEL_FILE)?;
    let conf: MlModelFile = file.parse("an MLmodel file")?;
    let flavors = file.flavor_names();
    let Some(confs) = conf.flavors.filter(|_| !flavors.is_empty()) else {
        return Err(file.error(
            None,
            "the file lists no `flavors`, so Keel cannot tell how to load the model; save it with an MLflow save_model function, which writes them",
        ));
    };
    let mut notes = Vec::new();
    let pyfunc = confs.python_function.unwrap_or_default();
    let flavor = match confs.sklearn {
        Some(sk) => sklearn_flavor(dir, &file, sk, pyfunc.code.as_deref())?,
        None if flavors.iter().any(|f| f == "python_function") => {
            pyfunc_flavor(dir, &file, &pyfunc)?
        }
        None => {
            return Err(file.error(
                Some("flavors"),
                format!(
                    "the model's flavors ({}) include neither sklearn nor python_function; Keel serves every flavor but sklearn through mlflow.pyfunc, which needs the python_function flavor. Save the model with its flavor's MLflow save_model function, which adds python_function",
                    flavors.join(", ")
                ),
            ));
        }
    };

    let found = platform::read(
        dir,
        &file,
        pyfunc.env.as_ref(),
        pyfunc.python_version.as_deref(),
        &mut notes,
    )?;
    let requirements = flavor_requirements(
        &flavor,
        conf.mlflow_version.as_deref(),
        found.requirements,
        &mut notes,
    );

    let signature = match conf.signature {
        None => None,
        Some(s) => {
            let side = |text: Option<&String>, key: &str| -> Result<Option<Spec>> {
                text.map(|t| Spec::parse(t, key).map_err(|m| file.error(Some(key), m)))
                    .transpose()
            };
            Some(Signature {
                inputs: side(s.inputs.as_ref(), "signature.inputs")?,
                outputs: side(s.outputs.as_ref(), "signature.outputs")?,
                has_params: s.params.as_ref().is_some_and(|p| !p.is_null()),
            })
        }
    };
    let input_avsc = signature
        .as_ref()
        .and_then(|s| s.inputs.as_ref())
        .and_then(|spec| signature::input_avsc(spec, &mut notes));
    let (output_avsc, output_names) = match signature.as_ref().and_then(|s| s.outputs.as_ref()) {
        Some(spec) => signature::output_avsc(spec, &mut notes),
        None => (None, None),
    };
    if signature.as_ref().is_some_and(|s| s.has_params) {
        notes.push(
            "The signature declares inference parameters; Keel passes none, so the model uses their defaults.".into(),
        );
    }

    Ok(Some(MlflowModel {
        flavor,
        flavors,
        mlflow_version: conf.mlflow_version,
        python_version: found.python_version,
        requirements,
        platform_files: found.files,
        signature,
        input_avsc,
        output_avsc,
        output_names,
        notes,
    }))
}

impl MlflowModel {
    /// What `keel model inspect` shows, such as "MLflow model, sklearn flavor
    /// (skops), signature with 8 inputs and 1 output".
    pub fn summary(&self) -> String {
        let flavor = match &self.flavor {
            Flavor::Sklearn {
                serialization_format,
                ..
            } => format!("sklearn flavor ({})", serialization_format.as_str()),
            Flavor::PythonFunction {
                loader_module,
                python_model,
                ..
            } => {
                if python_model.is_some() || loader_module == "mlflow.pyfunc.model" {
                    "python_function flavor (custom PythonModel)".to_string()
                } else {
                    format!("python_function flavor ({loader_module})")
                }
            }
        };
        let signature = match &self.signature {
            None => "no signature".to_string(),
            Some(s) => format!(
                "signature with {} and {}",
                s.inputs
                    .as_ref()
                    .map_or("no inputs".into(), |i| i.describe("input")),
                s.outputs
                    .as_ref()
                    .map_or("no outputs".into(), |o| o.describe("output")),
            ),
        };
        format!("MLflow model, {flavor}, {signature}")
    }

    /// Sentences about what Keel left out or changed (conda-only packages,
    /// MLflow in the requirements, unmappable signature parts), in the order found.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The input schema made from the signature (a record named `input`), as
    /// Avro schema JSON text; `None` without a column-based input signature.
    pub fn input_schema_avsc(&self) -> Option<String> {
        self.input_avsc.clone()
    }

    /// The output schema made from the signature (a record named `output`), as
    /// Avro schema JSON text; `None` without an output signature that maps.
    pub fn output_schema_avsc(&self) -> Option<String> {
        self.output_avsc.clone()
    }

    /// True when the adapter needs MLflow in the runtime (every flavor but sklearn).
    pub fn needs_mlflow(&self) -> bool {
        matches!(self.flavor, Flavor::PythonFunction { .. })
    }

    /// Everything `keel_mlflow.py` needs to load and call the model: pass it
    /// as JSON in the environment variable [`ADAPTER_CONFIG_ENV`].
    pub fn adapter_config(&self) -> Value {
        let inputs = self
            .signature
            .as_ref()
            .and_then(|s| s.inputs.as_ref())
            .map_or(Value::Null, signature::adapter_inputs);
        let (flavor, model_file, format, loader, code) = match &self.flavor {
            Flavor::Sklearn {
                pickled_model,
                serialization_format,
                code,
                ..
            } => (
                "sklearn",
                Some(pickled_model),
                Some(serialization_format.as_str()),
                None,
                code,
            ),
            Flavor::PythonFunction {
                loader_module,
                model_path,
                code,
                ..
            } => (
                "python_function",
                model_path.as_ref(),
                None,
                Some(loader_module),
                code,
            ),
        };
        json!({
            "flavor": flavor,
            "model_file": model_file,
            "serialization_format": format,
            "loader_module": loader,
            "code": code,
            "inputs": inputs,
            "outputs": self.output_names,
        })
    }
}

/// Checks a path `MLmodel` names: inside the directory, and present.
fn model_file(dir: &Path, file: &YamlText, key: &str, raw: &str) -> Result<String> {
    let rel = platform::safe_rel(raw).ok_or_else(|| {
        file.error(
            Some(key),
            format!("`{key}` is '{raw}', which is not a relative path inside the model directory"),
        )
    })?;
    if !dir.join(&rel).exists() {
        return Err(file.error(
            Some(key),
            format!("`{key}` names {rel}, which is not in the model directory; register the whole directory MLflow saved"),
        ));
    }
    Ok(rel)
}

fn sklearn_flavor(
    dir: &Path,
    file: &YamlText,
    sk: SklearnConf,
    pyfunc_code: Option<&str>,
) -> Result<Flavor> {
    let key = "flavors.sklearn.pickled_model";
    let Some(raw) = sk.pickled_model else {
        return Err(file.error(
            Some("flavors.sklearn"),
            format!("`{key}` is missing, so Keel cannot tell which file holds the estimator; MLflow writes it as pickled_model: model.pkl"),
        ));
    };
    let pickled_model = model_file(dir, file, key, &raw)?;
    let serialization_format = match sk.serialization_format.as_deref() {
        None => SerializationFormat::Pickle,
        Some(raw) => SerializationFormat::parse(raw).ok_or_else(|| {
            file.error(
                Some("flavors.sklearn.serialization_format"),
                format!("`flavors.sklearn.serialization_format` is '{raw}'; Keel loads pickle, cloudpickle and skops. Save the model again with one of them"),
            )
        })?,
    };
    let code = match sk.code.as_deref().or(pyfunc_code) {
        Some(c) => Some(model_file(dir, file, "flavors.sklearn.code", c)?),
        None => None,
    };
    Ok(Flavor::Sklearn {
        pickled_model,
        serialization_format,
        sklearn_version: sk.sklearn_version,
        code,
    })
}

fn pyfunc_flavor(dir: &Path, file: &YamlText, pf: &PyfuncConf) -> Result<Flavor> {
    let Some(loader_module) = pf.loader_module.clone() else {
        return Err(file.error(
            Some("flavors.python_function"),
            "`flavors.python_function.loader_module` is missing, so mlflow.pyfunc cannot load the model; save it with an MLflow save_model function, which writes it",
        ));
    };
    let checked = |key: &str, raw: Option<&String>| -> Result<Option<String>> {
        raw.map(|r| model_file(dir, file, key, r)).transpose()
    };
    let model_path = match &pf.model_path {
        Some(p) => checked("flavors.python_function.model_path", Some(p))?,
        None => checked("flavors.python_function.data", pf.data.as_ref())?,
    };
    Ok(Flavor::PythonFunction {
        loader_module,
        model_path,
        code: checked("flavors.python_function.code", pf.code.as_ref())?,
        python_model: checked(
            "flavors.python_function.python_model",
            pf.python_model.as_ref(),
        )?,
    })
}

/// A requirement's package name, normalised as pip compares names (lowercase,
/// runs of `-`, `_` and `.` as one `-`), and the byte length of the name as written.
fn requirement_name(line: &str) -> Option<(String, usize)> {
    let len = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    if !line.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut name = String::new();
    for c in line[..len].chars() {
        if matches!(c, '-' | '_' | '.') {
            if !name.ends_with('-') {
                name.push('-');
            }
        } else {
            name.push(c.to_ascii_lowercase());
        }
    }
    Some((name, len))
}

/// Applies what the serving flavor needs to the requirements MLflow wrote.
///
/// The sklearn flavor loads without MLflow, so `mlflow` lines are dropped
/// (installing MLflow would cost minutes and hundreds of megabytes for
/// nothing), and scikit-learn and the format's package are added when
/// missing. Every other flavor needs `mlflow.pyfunc`: `mlflow` becomes
/// `mlflow-skinny` at the same version, which loads models exactly as MLflow
/// does without the tracking server, UI and database layers.
fn flavor_requirements(
    flavor: &Flavor,
    mlflow_version: Option<&str>,
    requirements: Vec<String>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let has = |reqs: &[String], want: &str| {
        reqs.iter()
            .any(|r| requirement_name(r).is_some_and(|(n, _)| n == want))
    };
    let pinned = |name: &str, version: Option<&str>| match version {
        Some(v) => format!("{name}=={v}"),
        None => name.to_string(),
    };
    let mut out = Vec::with_capacity(requirements.len() + 2);
    match flavor {
        Flavor::Sklearn {
            serialization_format,
            sklearn_version,
            ..
        } => {
            let mut dropped = Vec::new();
            for r in requirements {
                match requirement_name(&r) {
                    Some((n, _)) if n == "mlflow" || n == "mlflow-skinny" => dropped.push(r),
                    _ => out.push(r),
                }
            }
            if !dropped.is_empty() {
                notes.push(format!(
                    "Keel loads the sklearn flavor without MLflow, so the platform leaves out {}.",
                    dropped.join(", ")
                ));
            }
            if !has(&out, "scikit-learn") {
                let req = pinned("scikit-learn", sklearn_version.as_deref());
                notes.push(format!(
                    "The requirements do not name scikit-learn; Keel adds {req}."
                ));
                out.push(req);
            }
            if let Some(package) = serialization_format.package()
                && !has(&out, package)
            {
                notes.push(format!(
                    "The requirements do not name {package}, which loading the {} format needs; Keel adds it.",
                    serialization_format.as_str()
                ));
                out.push(package.to_string());
            }
        }
        Flavor::PythonFunction { .. } => {
            let mut replaced = Vec::new();
            for r in requirements {
                match requirement_name(&r) {
                    Some((n, len)) if n == "mlflow" => {
                        let mut rest = &r[len..];
                        // MLflow's extras (such as [extras]) pull in the server's
                        // dependencies; mlflow-skinny has no use for them.
                        if rest.starts_with('[')
                            && let Some(end) = rest.find(']')
                        {
                            rest = &rest[end + 1..];
                        }
                        let skinny = format!("mlflow-skinny{rest}");
                        replaced.push(format!("{r} as {skinny}"));
                        if !out.contains(&skinny) {
                            out.push(skinny);
                        }
                    }
                    _ => out.push(r),
                }
            }
            if !replaced.is_empty() {
                notes.push(format!(
                    "The platform installs {}: mlflow-skinny loads models as MLflow does, without MLflow's server and UI.",
                    replaced.join(", ")
                ));
            } else if !has(&out, "mlflow-skinny") {
                let req = pinned("mlflow-skinny", mlflow_version);
                notes.push(format!(
                    "The requirements do not name MLflow, which loading this flavor needs; Keel adds {req}."
                ));
                out.push(req);
            }
        }
    }
    out
}
