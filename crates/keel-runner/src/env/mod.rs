//! Python environments per model platform: one virtual environment per
//! distinct (Python version, requirements) pair under `envs/<key>`, built once
//! and reused, or one interpreter for every model.
//!
//! A build holds the platform's OS file lock (`lock`), so concurrent jobs and
//! several Keel processes build each environment once; it happens in a
//! temporary directory that is renamed into place when finished (`build`),
//! with uv when there is one and pip otherwise, from an interpreter whose
//! version matches the platform's (`interp`). An install that fails is
//! explained in one sentence from the tool's output (`explain`).

mod build;
mod explain;
mod interp;
mod lock;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::failure::Failure;
use crate::spec::{Control, LogSink};
use build::{Plan, Tool};

/// Packages every environment needs to run Keel's worker.
const WORKER_PACKAGES: [&str; 2] = ["pandas", "pyarrow"];

/// Which tool builds platform environments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Installer {
    /// uv when a `uv` program is on PATH, pip otherwise.
    #[default]
    Auto,
    /// This uv program.
    Uv(PathBuf),
    /// The base interpreter's venv module and pip, even when uv is on PATH.
    Pip,
}

/// How Keel finds the Python interpreter of a model's platform.
#[derive(Debug, Clone)]
pub struct PythonSetup {
    /// Where per-platform environments are built (`HOME/envs`).
    pub envs: PathBuf,
    /// One interpreter for every model, instead of per-platform environments.
    pub python: Option<PathBuf>,
    /// The interpreter environments are made from (default `python3` on
    /// PATH). When a platform names a Python version it is tried first, then
    /// `python3.X`, `python3` and `python` on PATH.
    pub base_python: Option<PathBuf>,
    /// Which tool builds environments.
    pub installer: Installer,
}

impl PythonSetup {
    /// Per-platform environments under `envs`, made from `python3` with uv
    /// when it is on PATH.
    pub fn new(envs: impl Into<PathBuf>) -> PythonSetup {
        PythonSetup {
            envs: envs.into(),
            python: None,
            base_python: None,
            installer: Installer::Auto,
        }
    }

    /// The interpreter for a platform: `python` when set; otherwise the
    /// platform's environment, built first if it is not ready (waiting while
    /// another job builds it). Which environment and Python are used, and
    /// every line of the build, go to `sink` as worker 0.
    pub fn python_for(
        &self,
        requirements: &[String],
        python_version: Option<&str>,
        sink: &dyn LogSink,
        ctl: &Control,
    ) -> Result<PathBuf, Failure> {
        match &self.python {
            Some(p) => Ok(p.clone()),
            None => self.ensure(requirements, python_version, &WORKER_PACKAGES, sink, ctl),
        }
    }

    /// Returns the environment's interpreter, building the environment first
    /// if needed, with `packages` beside the requirements (tests install fewer).
    fn ensure(
        &self,
        requirements: &[String],
        python_version: Option<&str>,
        packages: &[&str],
        sink: &dyn LogSink,
        ctl: &Control,
    ) -> Result<PathBuf, Failure> {
        for r in requirements {
            check_requirement(r)?;
        }
        // Workers run in their job's directory, so the interpreter's path
        // must not depend on the directory Keel was started in.
        let envs = std::path::absolute(&self.envs).unwrap_or_else(|_| self.envs.clone());
        let key = env_key(requirements, python_version);
        let dir = envs.join(&key);
        let python = build::python_in(&dir);
        if let Some(how) = build::ready(&dir) {
            sink.note(&format!(
                "using the Python environment {} ({how})",
                dir.display()
            ));
            return Ok(python);
        }
        std::fs::create_dir_all(&envs).map_err(|e| Failure::RuntimeUnavailable {
            message: format!(
                "The directory for Python environments {} cannot be created: {e}.",
                envs.display()
            ),
        })?;
        let _lock = lock::BuildLock::acquire(
            &envs.join(format!("{key}.lock")),
            lock::LOCK_WAIT,
            sink,
            ctl,
        )?;
        if let Some(how) = build::ready(&dir) {
            sink.note(&format!(
                "using the Python environment {} that another job has just built ({how})",
                dir.display()
            ));
            return Ok(python);
        }
        build::remove_leftovers(&envs, &key, sink)?;
        let path_var = std::env::var_os("PATH");
        let tool = self.tool(path_var.as_deref(), sink)?;
        let uv = match &tool {
            Tool::Uv { program, .. } => Some(program.as_path()),
            Tool::Pip => None,
        };
        let base = interp::find(
            python_version,
            self.base_python.as_deref(),
            path_var.as_deref(),
            uv,
        )?;
        build::build(
            &Plan {
                envs: &envs,
                key: &key,
                base: &base,
                tool: &tool,
                requirements,
                packages,
                ctl,
            },
            sink,
        )?;
        Ok(python)
    }

    /// The tool that builds: the configured uv, uv from PATH, or pip.
    fn tool(&self, path_var: Option<&OsStr>, sink: &dyn LogSink) -> Result<Tool, Failure> {
        match &self.installer {
            Installer::Pip => Ok(Tool::Pip),
            Installer::Uv(program) => uv_version(program)
                .map(|version| Tool::Uv {
                    program: program.clone(),
                    version,
                })
                .map_err(|why| Failure::RuntimeUnavailable {
                    message: format!(
                        "Keel could not run uv at {} ({why}); point KEEL_UV at a working uv, \
                         or set it to `off` to build environments with pip.",
                        program.display()
                    ),
                }),
            Installer::Auto => {
                let Some(program) = on_path("uv", path_var) else {
                    return Ok(Tool::Pip);
                };
                match uv_version(&program) {
                    Ok(version) => Ok(Tool::Uv { program, version }),
                    Err(why) => {
                        sink.note(&format!(
                            "{} does not run ({why}); building with pip instead",
                            program.display()
                        ));
                        Ok(Tool::Pip)
                    }
                }
            }
        }
    }
}

/// `uv --version`'s first two words, such as `uv 0.13.9`.
fn uv_version(program: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    if out.status.success() && words.len() == 2 {
        Ok(words.join(" "))
    } else {
        Err(format!("`--version` exited with {}", out.status))
    }
}

/// The first executable file called `name` in the directories of `path_var`.
fn on_path(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path_var
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The directory name of an environment: order-insensitive in the requirements.
fn env_key(requirements: &[String], python_version: Option<&str>) -> String {
    let mut reqs: Vec<&str> = requirements.iter().map(|r| r.trim()).collect();
    reqs.sort_unstable();
    reqs.dedup();
    let mut h = Sha256::new();
    h.update(python_version.unwrap_or("").trim().as_bytes());
    for r in reqs {
        h.update(b"\n");
        h.update(r.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Checks that a requirement is a package spec, not a pip option.
fn check_requirement(req: &str) -> Result<(), Failure> {
    let r = req.trim();
    if r.is_empty() || r.starts_with('-') || r.contains(['\n', '\r', '\0']) {
        return Err(Failure::RuntimeUnavailable {
            message: format!(
                "The requirement '{}' is not a package specification such as 'scikit-learn==1.5'; \
                 options and empty lines are not allowed in a model's requirements.",
                req.escape_debug()
            ),
        });
    }
    Ok(())
}
