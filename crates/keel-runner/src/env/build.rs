//! Building one platform's environment while holding its lock: a virtual
//! environment made with uv or `python -m venv` in a temporary directory
//! beside its final place, the requirements installed with uv or pip, a check
//! that the interpreter starts and imports what the worker needs, the ready
//! marker, and a rename into place. Until the rename nothing can use it, so a
//! half-built environment is never used; a killed build leaves only a
//! temporary directory, which the next build removes.
//!
//! Virtual environments are not meant to be moved, yet this one is renamed
//! once: both `uv venv` and `python -m venv` write `pyvenv.cfg` with the base
//! interpreter's home, not the environment's own path, and Python derives
//! `sys.prefix` from where `bin/python` is started, so the renamed
//! environment's interpreter finds its own site-packages (the tests check
//! `sys.prefix` after the rename, for both tools). What does keep the old
//! path is the console scripts' `#!` lines (`bin/pip`), and Keel never runs
//! those: it only runs `bin/python -m ...`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::explain::{self, ToolKind};
use super::interp::Interpreter;
use crate::failure::Failure;
use crate::spec::{Control, LogSink};
use crate::sys;

/// The file written last into a finished environment, before the rename. An
/// environment directory without it (left by an older Keel that built in
/// place) is removed and rebuilt.
pub(crate) const READY_MARKER: &str = ".keel-ready";
/// How many lines of an installer's output are kept for the failure message
/// (all of them go to the job's log).
const KEPT_LINES: usize = 10_000;

/// Tells concurrent builds in one process apart (the pid tells processes apart).
static BUILDS: AtomicU64 = AtomicU64::new(0);

/// The program that makes environments and installs into them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tool {
    /// uv, with its version as `uv --version` says it.
    Uv {
        /// The program.
        program: PathBuf,
        /// Such as `uv 0.13.9`.
        version: String,
    },
    /// The base interpreter's venv module and the new environment's pip.
    Pip,
}

impl Tool {
    /// Which tool, for reading its output.
    pub(crate) fn kind(&self) -> ToolKind {
        match self {
            Tool::Uv { .. } => ToolKind::Uv,
            Tool::Pip => ToolKind::Pip,
        }
    }

    /// What the job's log calls it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tool::Uv { version, .. } => version.clone(),
            Tool::Pip => "venv and pip".into(),
        }
    }
}

/// One build: what to install, from which interpreter, with which tool, where.
pub(crate) struct Plan<'a> {
    /// The directory holding every environment.
    pub(crate) envs: &'a Path,
    /// The environment's directory name under `envs`.
    pub(crate) key: &'a str,
    /// The interpreter the environment is made from.
    pub(crate) base: &'a Interpreter,
    /// The tool that makes it and installs into it.
    pub(crate) tool: &'a Tool,
    /// The model's requirements.
    pub(crate) requirements: &'a [String],
    /// The packages Keel's worker needs, installed and imported by the check.
    pub(crate) packages: &'a [&'a str],
    /// The job's cancel flag and deadline: a build stops with them.
    pub(crate) ctl: &'a Control,
}

/// The interpreter of the environment in `dir`.
pub(crate) fn python_in(dir: &Path) -> PathBuf {
    dir.join("bin").join("python")
}

/// What the ready marker of the environment in `dir` says (how it was
/// built), or `None` when the environment is not ready.
pub(crate) fn ready(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(READY_MARKER)).ok()?;
    let field = |name: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.trim_start().strip_prefix('='))
                .map(|v| v.trim().to_string())
        })
    };
    Some(match (field("python"), field("base"), field("tool")) {
        (Some(v), Some(base), Some(tool)) => format!("Python {v} from {base}, built with {tool}"),
        // A marker written by an older Keel says only "ready".
        _ => "built by an earlier Keel".to_string(),
    })
}

/// Removes what killed builds of `key` left: temporary directories, and an
/// environment directory without its ready marker. Call it holding the lock.
pub(crate) fn remove_leftovers(envs: &Path, key: &str, sink: &dyn LogSink) -> Result<(), Failure> {
    let prefix = format!(".{key}.building-");
    let mut doomed: Vec<PathBuf> = std::fs::read_dir(envs)
        .map_err(|e| Failure::RuntimeUnavailable {
            message: format!(
                "The directory of Python environments {} cannot be read: {e}.",
                envs.display()
            ),
        })?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    let dir = envs.join(key);
    if dir.exists() && ready(&dir).is_none() {
        doomed.push(dir);
    }
    for d in doomed {
        sink.note(&format!(
            "removing an unfinished Python environment {}",
            d.display()
        ));
        std::fs::remove_dir_all(&d).map_err(|e| Failure::RuntimeUnavailable {
            message: format!(
                "The unfinished Python environment {} cannot be removed: {e}; remove it by hand.",
                d.display()
            ),
        })?;
    }
    Ok(())
}

/// Builds the environment of `plan` and renames it into `envs/<key>`.
pub(crate) fn build(plan: &Plan<'_>, sink: &dyn LogSink) -> Result<(), Failure> {
    let dir = plan.envs.join(plan.key);
    let tmp = plan.envs.join(format!(
        ".{}.building-{}-{}",
        plan.key,
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    ));
    sink.note(&format!("building the Python environment for this platform in {} with {}, from Python {} ({}, found as {})",
            dir.display(),
            plan.tool.describe(),
            plan.base.version,
            plan.base.executable.display(),
            plan.base.found_as,
        ),
    );
    let started = Instant::now();
    let built = build_in(plan, &tmp, sink).and_then(|()| {
        std::fs::rename(&tmp, &dir).map_err(|e| Failure::RuntimeUnavailable {
            message: format!(
                "The new Python environment {} cannot be renamed to {}: {e}.",
                tmp.display(),
                dir.display()
            ),
        })
    });
    if built.is_err() {
        // The next build would remove it too; this keeps the disk clean now.
        let _ = std::fs::remove_dir_all(&tmp);
        return built;
    }
    sink.note(&format!(
        "the Python environment is ready ({:.1}s): {}",
        started.elapsed().as_secs_f64(),
        python_in(&dir).display()
    ));
    Ok(())
}

/// Everything before the rename, in `tmp`.
fn build_in(plan: &Plan<'_>, tmp: &Path, sink: &dyn LogSink) -> Result<(), Failure> {
    let base = &plan.base.executable;
    let mut venv = match plan.tool {
        Tool::Uv { program, .. } => {
            let mut c = Command::new(program);
            c.arg("venv").arg("--python").arg(base).arg(tmp);
            c
        }
        Tool::Pip => {
            let mut c = Command::new(base);
            c.args(["-m", "venv"]).arg(tmp);
            c
        }
    };
    venv.current_dir(plan.envs);
    let made = run_logged(venv, sink, &plan.tool.describe(), plan.ctl)?;
    if !made.ok {
        return Err(Failure::RuntimeUnavailable {
            message: format!(
                "The virtual environment could not be created from Python {} ({}) with {} \
                 ({}): {}. Install the interpreter's venv module (on Debian and Ubuntu, the \
                 python3-venv package) or uv.",
                plan.base.version,
                base.display(),
                plan.tool.describe(),
                made.status,
                explain::tail(&made.lines)
            ),
        });
    }
    let python = python_in(tmp);
    let wanted: Vec<String> = plan
        .requirements
        .iter()
        .map(|r| r.trim().to_string())
        .chain(plan.packages.iter().map(|p| p.to_string()))
        .collect();
    if !wanted.is_empty() {
        let mut install = match plan.tool {
            Tool::Uv { program, .. } => {
                let mut c = Command::new(program);
                // pip compiles bytecode at install and uv does not by default;
                // without it, where PYTHONDONTWRITEBYTECODE is set (as in many
                // container images) every worker recompiles pandas and the
                // model's libraries each time it starts.
                c.args(["pip", "install", "--compile-bytecode", "--python"])
                    .arg(&python);
                c
            }
            Tool::Pip => {
                let mut c = Command::new(&python);
                c.args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                ]);
                c
            }
        };
        install.args(&wanted).current_dir(plan.envs);
        let installed = run_logged(install, sink, plan.tool.kind().name(), plan.ctl)?;
        if !installed.ok {
            let why = explain::explain(plan.tool.kind(), &installed.lines, &wanted);
            return Err(Failure::RuntimeUnavailable {
                message: explain::message(&why, plan.tool.kind(), &plan.base.version),
            });
        }
    }
    check(&python, plan)?;
    let marker = format!(
        "python = {}\nbase = {}\ntool = {}\n",
        plan.base.version,
        base.display(),
        plan.tool.describe()
    );
    std::fs::write(tmp.join(READY_MARKER), marker).map_err(|e| Failure::RuntimeUnavailable {
        message: format!(
            "The Python environment {} cannot be marked ready: {e}.",
            tmp.display()
        ),
    })
}

/// Starts the new interpreter and imports the worker's packages.
fn check(python: &Path, plan: &Plan<'_>) -> Result<(), Failure> {
    let mut code = String::from("import sys");
    for p in plan.packages {
        code.push_str(", ");
        code.push_str(p);
    }
    let out = Command::new(python)
        .args(["-c", &code])
        .current_dir(plan.envs)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failure::RuntimeUnavailable {
            message: format!(
                "The new Python environment's interpreter {} cannot be started: {e}.",
                python.display()
            ),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect();
    Err(Failure::RuntimeUnavailable {
        message: format!(
            "The new Python environment was built, but its interpreter cannot import {} \
             ({}): {}. Keel's worker needs them; check that the model's requirements do not \
             pin versions of them that break on Python {}.",
            if plan.packages.is_empty() {
                "sys".to_string()
            } else {
                plan.packages.join(" and ")
            },
            out.status,
            explain::tail(&stderr),
            plan.base.version
        ),
    })
}

/// How a logged command ended.
struct Ran {
    ok: bool,
    status: String,
    /// Its last output lines, stdout and stderr interleaved as they came.
    lines: Vec<String>,
}

/// Runs `cmd`, sending every line it prints to the sink. A command that
/// cannot be started is an error, and so is one that `ctl` stops (it is
/// killed); a failing one is `Ran { ok: false }`.
fn run_logged(
    mut cmd: Command,
    sink: &dyn LogSink,
    what: &str,
    ctl: &Control,
) -> Result<Ran, Failure> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Like a worker, an installer must not outlive Keel.
    sys::contain(&mut cmd, false);
    let mut child = cmd.spawn().map_err(|e| Failure::RuntimeUnavailable {
        message: format!(
            "Keel could not start {} ({what}) to build the model's Python environment: {e}.",
            cmd.get_program().to_string_lossy()
        ),
    })?;
    let (tx, rx) = mpsc::channel::<String>();
    let readers: Vec<Box<dyn std::io::Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for r in readers {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut kept = VecDeque::new();
    loop {
        if let Some(stop) = ctl.stop() {
            sys::kill_group(child.id());
            let _ = child.wait();
            return Err(stop);
        }
        let line = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        sink.line(0, &line);
        if kept.len() == KEPT_LINES {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    let status = child.wait().map_err(|e| Failure::RuntimeUnavailable {
        message: format!("Keel lost track of {what} while it built the environment: {e}."),
    })?;
    Ok(Ran {
        ok: status.success(),
        status: status.to_string(),
        lines: kept.into(),
    })
}
