//! Finding the Python a platform's environment is made from: the configured
//! base interpreter, or, when the platform names a Python version, the first
//! interpreter on PATH whose version matches it.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::failure::Failure;

/// How long an interpreter may take to say its version: a wedged candidate
/// must not stop the search.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// What the probe prints: the interpreter's own path and its exact version
/// (run with `-S`: neither depends on site-packages, and skipping them
/// makes the probe several times faster).
const PROBE: &str = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])";

/// An interpreter that started and said what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interpreter {
    /// How it was named (`python3`, a path on PATH, the configured base), for messages.
    pub(crate) found_as: String,
    /// Its own path (`sys.executable`): environments are made from it, so a
    /// launcher such as a pyenv shim is not in the way later.
    pub(crate) executable: PathBuf,
    /// Its exact version, such as `3.11.7`.
    pub(crate) version: String,
}

/// A Python version a platform asks for: `3`, `3.11` or `3.11.7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionRequest {
    /// The version as written.
    pub(crate) text: String,
    /// Its numeric parts.
    parts: Vec<u32>,
}

impl VersionRequest {
    /// Parses a platform's Python version; Keel's worker needs Python 3.
    pub(crate) fn parse(v: &str) -> Result<VersionRequest, Failure> {
        let text = v.trim().to_string();
        let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
        match parts {
            Some(parts) if (1..=3).contains(&parts.len()) && parts[0] == 3 => {
                Ok(VersionRequest { text, parts })
            }
            _ => Err(Failure::RuntimeUnavailable {
                message: format!(
                    "The model asks for Python version '{}', which is not a Python 3 version \
                     such as 3.11; fix `python` under `[platform]` in the model's keel.toml.",
                    text.escape_debug()
                ),
            }),
        }
    }

    /// True when `actual` (such as `3.11.7`) is this version or a release of it:
    /// `3.11` matches every 3.11.x, `3` every 3.x.
    pub(crate) fn matches(&self, actual: &str) -> bool {
        let actual: Vec<Option<u32>> = actual.trim().split('.').map(|p| p.parse().ok()).collect();
        self.parts.len() <= actual.len()
            && self
                .parts
                .iter()
                .zip(&actual)
                .all(|(want, got)| Some(*want) == *got)
    }

    /// The versioned command name to look for on PATH: `python3.11` for 3.11.x, else `python3`.
    fn command(&self) -> String {
        match self.parts.get(1) {
            Some(minor) => format!("python3.{minor}"),
            None => "python3".into(),
        }
    }
}

/// Runs `program` to learn its path and version; the error says why it did not answer.
pub(crate) fn probe(program: &Path) -> Result<Interpreter, String> {
    let mut child = Command::new(program)
        .args(["-S", "-c", PROBE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "it did not answer within {} seconds",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    };
    // The probe prints two short lines, far below a pipe's buffer, so
    // reading after the exit cannot deadlock.
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let mut lines = out.lines();
    match (status.success(), lines.next(), lines.next()) {
        (true, Some(exe), Some(version)) => Ok(Interpreter {
            found_as: program.display().to_string(),
            executable: if exe.trim().is_empty() {
                program.to_path_buf()
            } else {
                PathBuf::from(exe.trim())
            },
            version: version.trim().to_string(),
        }),
        _ => {
            let first = err.lines().map(str::trim).find(|l| !l.is_empty());
            Err(match first {
                Some(line) => format!("it exited with {status}: {line}"),
                None => format!("it exited with {status}"),
            })
        }
    }
}

/// Where environments come from: `base` (the configured interpreter, else
/// `python3`) when the platform names no version; otherwise the first of
/// `base`, then `python3.X`, `python3` and `python` in each directory of
/// `path_var`, whose version matches, and as a last resort what `uv python
/// find` knows of (never downloading one).
pub(crate) fn find(
    version: Option<&str>,
    base: Option<&Path>,
    path_var: Option<&OsStr>,
    uv: Option<&Path>,
) -> Result<Interpreter, Failure> {
    let Some(version) = version.map(str::trim).filter(|v| !v.is_empty()) else {
        let program = base.unwrap_or(Path::new("python3"));
        return probe(program).map_err(|why| Failure::RuntimeUnavailable {
            message: format!(
                "Keel could not start {} to build the model's Python environment: {why}. \
                 Install Python 3, set KEEL_BASE_PYTHON to an interpreter that builds \
                 environments, or set KEEL_PYTHON to one interpreter for every model.",
                program.display()
            ),
        });
    };
    let asked = VersionRequest::parse(version)?;
    let mut tried: Vec<String> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut consider = |program: &Path, tried: &mut Vec<String>| -> Option<Interpreter> {
        let key = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
        if seen.contains(&key) {
            return None;
        }
        seen.push(key);
        match probe(program) {
            Ok(i) if asked.matches(&i.version) => Some(i),
            Ok(i) => {
                tried.push(format!("{} is Python {}", program.display(), i.version));
                None
            }
            Err(why) => {
                tried.push(format!("{} did not start ({why})", program.display()));
                None
            }
        }
    };
    if let Some(b) = base
        && let Some(i) = consider(b, &mut tried)
    {
        return Ok(i);
    }
    let names = [asked.command(), "python3".into(), "python".into()];
    for dir in path_var.map(std::env::split_paths).into_iter().flatten() {
        for name in &names {
            let candidate = dir.join(name);
            if candidate.is_file()
                && let Some(i) = consider(&candidate, &mut tried)
            {
                return Ok(i);
            }
        }
    }
    if let Some(uv) = uv
        && let Some(path) = uv_find(uv, &asked)
        && let Some(mut i) = consider(&path, &mut tried)
    {
        i.found_as = format!("{} (found by uv)", path.display());
        return Ok(i);
    }
    let found = if tried.is_empty() {
        "no Python interpreter was found on PATH".to_string()
    } else {
        format!("found: {}", tried.join("; "))
    };
    Err(Failure::RuntimeUnavailable {
        message: format!(
            "The model asks for Python {v}, but no interpreter with that version was found \
             ({found}). Install Python {v} so that {cmd} is on PATH, set KEEL_BASE_PYTHON to \
             it, or change `python` under `[platform]` in the model's keel.toml.",
            v = asked.text,
            cmd = asked.command(),
        ),
    })
}

/// The interpreter uv would pick for `asked` among the system's and its own
/// managed ones, without downloading anything; `None` when it knows none.
fn uv_find(uv: &Path, asked: &VersionRequest) -> Option<PathBuf> {
    let out = Command::new(uv)
        .args([
            "python",
            "find",
            "--system",
            "--no-project",
            "--no-python-downloads",
            &asked.text,
        ])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}
