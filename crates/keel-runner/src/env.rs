//! Python environments per model platform: one virtual environment per
//! distinct (Python version, requirements) pair, built once and reused.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::failure::Failure;
use crate::spec::LogSink;

/// The file written last into a finished environment; without it the environment is rebuilt.
const READY_MARKER: &str = ".keel-ready";
/// How long to wait for another job that is building the same environment.
const LOCK_WAIT: Duration = Duration::from_secs(30 * 60);
/// Packages every environment needs to run Keel's worker.
const WORKER_PACKAGES: [&str; 2] = ["pandas", "pyarrow"];

/// The Python interpreter for a model platform.
///
/// `KEEL_PYTHON`, when set, is used as is. Otherwise the environment lives in
/// `envs_dir/<sha256 of version and sorted requirements>`; it is created with
/// `KEEL_BASE_PYTHON` (default `python3`, or `python3.X` for version `3.X`)
/// `-m venv`, then `pip install`s the requirements plus pandas and pyarrow.
/// pip's output goes to `sink` as worker 0. A lock file keeps two jobs from
/// building the same environment at once.
pub fn python_for_platform(
    requirements: &[String],
    python_version: Option<&str>,
    envs_dir: &Path,
    sink: &dyn LogSink,
) -> Result<PathBuf, Failure> {
    if let Some(p) = std::env::var_os("KEEL_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("KEEL_BASE_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(default_base_python(python_version)?),
    };
    ensure_env(&base, requirements, python_version, envs_dir, sink)
}

/// `python3`, or `python3.X` for a version such as "3.11" or "3.11.7".
fn default_base_python(version: Option<&str>) -> Result<String, Failure> {
    let Some(v) = version.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok("python3".into());
    };
    let parts: Vec<&str> = v.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !numeric || parts.len() > 3 || parts[0] != "3" {
        return Err(Failure::RuntimeUnavailable {
            message: format!(
                "The model asks for Python version '{v}', which is not a Python 3 version such \
                 as 3.11; fix the platform's python version."
            ),
        });
    }
    Ok(match parts.get(1) {
        Some(minor) => format!("python3.{minor}"),
        None => "python3".into(),
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

/// Returns the environment's interpreter, building the environment first if needed.
fn ensure_env(
    base: &Path,
    requirements: &[String],
    python_version: Option<&str>,
    envs_dir: &Path,
    sink: &dyn LogSink,
) -> Result<PathBuf, Failure> {
    for r in requirements {
        check_requirement(r)?;
    }
    let key = env_key(requirements, python_version);
    let dir = envs_dir.join(&key);
    let python = dir.join("bin").join("python");
    if dir.join(READY_MARKER).is_file() {
        return Ok(python);
    }
    std::fs::create_dir_all(envs_dir).map_err(|e| Failure::RuntimeUnavailable {
        message: format!(
            "The directory for Python environments {} cannot be created: {e}.",
            envs_dir.display()
        ),
    })?;
    let lock_path = envs_dir.join(format!("{key}.lock"));
    let _lock = match Lock::acquire(&lock_path, &dir.join(READY_MARKER))? {
        Some(lock) => lock,
        // Another job finished building it while we waited.
        None => return Ok(python),
    };
    if dir.join(READY_MARKER).is_file() {
        return Ok(python);
    }
    // A directory without the marker is a half-built environment: start over.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Failure::RuntimeUnavailable {
            message: format!(
                "The half-built Python environment {} cannot be removed: {e}.",
                dir.display()
            ),
        })?;
    }
    sink.line(
        0,
        &format!("Creating a Python environment in {}", dir.display()),
    );
    let mut venv = Command::new(base);
    venv.arg("-m").arg("venv").arg(&dir);
    run_logged(venv, sink, "creating the virtual environment", base)?;
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .args(requirements.iter().map(|r| r.trim()))
    .args(WORKER_PACKAGES);
    run_logged(pip, sink, "installing the requirements with pip", base)?;
    std::fs::write(dir.join(READY_MARKER), b"ready\n").map_err(|e| {
        Failure::RuntimeUnavailable {
            message: format!(
                "The Python environment {} cannot be marked ready: {e}.",
                dir.display()
            ),
        }
    })?;
    Ok(python)
}

/// Runs a command, sending its stdout and stderr lines to the sink.
fn run_logged(
    mut cmd: Command,
    sink: &dyn LogSink,
    what: &str,
    base: &Path,
) -> Result<(), Failure> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Failure::RuntimeUnavailable {
        message: format!(
            "Keel could not start {:?} while {what}: {e}. Install that Python or set \
             KEEL_BASE_PYTHON (or KEEL_PYTHON) to one that exists.",
            cmd.get_program()
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
                if tx
                    .send(String::from_utf8_lossy(&line).trim_end().to_string())
                    .is_err()
                {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut tail = std::collections::VecDeque::new();
    for line in rx {
        sink.line(0, &line);
        if tail.len() == 15 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait().map_err(|e| Failure::RuntimeUnavailable {
        message: format!("Keel lost track of the process {what}: {e}."),
    })?;
    if status.success() {
        return Ok(());
    }
    Err(Failure::RuntimeUnavailable {
        message: format!(
            "The model's Python environment could not be prepared: {what} failed ({status}) \
             using base Python {}. Check the model's requirements and Python version. Last \
             output:\n{}",
            base.display(),
            tail.into_iter().collect::<Vec<_>>().join("\n")
        ),
    })
}

/// A lock file, created exclusively and removed on drop.
struct Lock(PathBuf);

impl Lock {
    /// Takes the lock; returns `None` if `ready` appeared while waiting for it.
    fn acquire(path: &Path, ready: &Path) -> Result<Option<Lock>, Failure> {
        let started = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Some(Lock(path.to_path_buf())));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Failure::RuntimeUnavailable {
                        message: format!(
                            "The lock file {} cannot be created: {e}.",
                            path.display()
                        ),
                    });
                }
            }
            if ready.is_file() {
                return Ok(None);
            }
            // A lock whose owner died would block every job forever.
            if lock_is_stale(path) {
                let _ = std::fs::remove_file(path);
                continue;
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(Failure::RuntimeUnavailable {
                    message: format!(
                        "Another job has been building the Python environment for {} minutes \
                         (lock file {}); if no job is building it, delete the lock file.",
                        LOCK_WAIT.as_secs() / 60,
                        path.display()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// True when the lock names a process that no longer exists.
fn lock_is_stale(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match text.trim().parse::<u32>() {
        Ok(pid) => !crate::sys::pid_alive(pid),
        // The owner may not have written its pid yet.
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn key_ignores_requirement_order_but_not_version() {
        let a = env_key(&["b==1".into(), "a".into()], Some("3.11"));
        let b = env_key(&["a".into(), " b==1".into()], Some("3.11"));
        assert_eq!(a, b);
        assert_ne!(a, env_key(&["a".into(), "b==1".into()], Some("3.12")));
        assert_ne!(a, env_key(&["a".into()], Some("3.11")));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn base_python_follows_the_version() {
        assert_eq!(default_base_python(None).unwrap(), "python3");
        assert_eq!(default_base_python(Some("3.11.7")).unwrap(), "python3.11");
        assert_eq!(default_base_python(Some("3")).unwrap(), "python3");
        assert!(default_base_python(Some("2.7")).is_err());
        assert!(default_base_python(Some("3.x; rm")).is_err());
    }

    #[test]
    fn options_are_not_requirements() {
        let dir = tempfile::tempdir().unwrap();
        let sink = |_: usize, _: &str| {};
        let err = ensure_env(
            Path::new("python3"),
            &["--index-url=http://evil".into()],
            None,
            dir.path(),
            &sink,
        )
        .unwrap_err();
        assert!(matches!(err, Failure::RuntimeUnavailable { .. }));
        assert!(err.to_string().contains("--index-url"), "{err}");
    }

    #[test]
    fn a_ready_environment_is_reused_without_building() {
        let dir = tempfile::tempdir().unwrap();
        let reqs = vec!["numpy".to_string()];
        let env = dir.path().join(env_key(&reqs, None));
        std::fs::create_dir_all(&env).unwrap();
        std::fs::write(env.join(READY_MARKER), "ready").unwrap();
        let sink = |_: usize, _: &str| {};
        // The base Python does not exist, so any build attempt would fail.
        let py = ensure_env(
            Path::new("/nonexistent/python"),
            &reqs,
            None,
            dir.path(),
            &sink,
        )
        .unwrap();
        assert_eq!(py, env.join("bin/python"));
    }

    #[test]
    fn a_missing_base_python_is_runtime_unavailable_and_releases_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lines = Mutex::new(Vec::new());
        let sink = |_: usize, l: &str| lines.lock().unwrap().push(l.to_string());
        let err = ensure_env(
            Path::new("/nonexistent/python3.99"),
            &[],
            None,
            dir.path(),
            &sink,
        )
        .unwrap_err();
        assert!(matches!(err, Failure::RuntimeUnavailable { .. }), "{err:?}");
        assert!(err.to_string().contains("KEEL_BASE_PYTHON"), "{err}");
        let key = env_key(&[], None);
        assert!(!dir.path().join(format!("{key}.lock")).exists());
        assert!(!dir.path().join(&key).join(READY_MARKER).exists());
    }

    #[test]
    fn stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("k.lock");
        // Pid 0x7fff_fff0 is above the kernel's pid limit, so nobody owns it.
        std::fs::write(&lock, "2147483632\n").unwrap();
        let got = Lock::acquire(&lock, &dir.path().join("ready")).unwrap();
        assert!(got.is_some());
        let mine = std::fs::read_to_string(&lock).unwrap();
        assert_eq!(mine.trim(), std::process::id().to_string());
        drop(got);
        assert!(!lock.exists());
    }
}
