//! Tests of platform environments with real interpreters, real uv and pip and
//! real installs from the package index: the build lock across threads and
//! processes, the rename into place and the removal of leftovers, install
//! failures, and finding an interpreter by version.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use super::interp::{self, VersionRequest};
use super::*;

/// A sink that keeps every line.
#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl LogSink for Lines {
    fn line(&self, _worker: usize, line: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push(line.to_string());
        }
    }
}

impl Lines {
    fn all(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn count(&self, needle: &str) -> usize {
        self.all().iter().filter(|l| l.contains(needle)).count()
    }
}

const BUILDING: &str = "keel: building the Python environment";

/// A Python to build from and uv, or `None` after a loud skip.
fn tools() -> Option<(PathBuf, PathBuf)> {
    Some((keel_testkit::base_python()?, keel_testkit::uv()?))
}

fn setup(envs: &Path, base: &Path, installer: Installer) -> PythonSetup {
    PythonSetup {
        envs: envs.to_path_buf(),
        python: None,
        base_python: Some(base.to_path_buf()),
        installer,
    }
}

/// What is in `dir`, by name, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

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
fn options_are_not_requirements() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), Path::new("python3"), Installer::Pip);
    let err = s
        .python_for(
            &["--index-url=http://evil".into()],
            None,
            &Lines::default(),
            &Control::new(),
        )
        .unwrap_err();
    assert!(matches!(err, Failure::RuntimeUnavailable { .. }));
    assert!(err.to_string().contains("--index-url"), "{err}");
}

#[test]
fn one_interpreter_for_every_model_skips_environments() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = setup(dir.path(), Path::new("/nonexistent/python"), Installer::Pip);
    s.python = Some(PathBuf::from("/opt/python/bin/python3"));
    let py = s
        .python_for(
            &["six".into()],
            Some("3.9"),
            &Lines::default(),
            &Control::new(),
        )
        .unwrap();
    assert_eq!(py, PathBuf::from("/opt/python/bin/python3"));
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_ready_environment_is_reused_without_building() {
    let dir = tempfile::tempdir().unwrap();
    let reqs = vec!["numpy".to_string()];
    let env = dir.path().join(env_key(&reqs, None));
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join(build::READY_MARKER), "ready\n").unwrap();
    let lines = Lines::default();
    // The base Python does not exist, so any build attempt would fail.
    let s = setup(dir.path(), Path::new("/nonexistent/python"), Installer::Pip);
    let py = s.python_for(&reqs, None, &lines, &Control::new()).unwrap();
    assert_eq!(py, env.join("bin/python"));
    assert_eq!(lines.count(BUILDING), 0);
    assert_eq!(
        lines.count("built by an earlier Keel"),
        1,
        "{:?}",
        lines.all()
    );
}

#[test]
fn a_relative_envs_directory_gives_an_absolute_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let reqs: Vec<String> = Vec::new();
    let env = dir.path().join("envs").join(env_key(&reqs, None));
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join(build::READY_MARKER), "ready\n").unwrap();
    let cwd = std::env::current_dir().unwrap();
    let relative = pathdiff(&dir.path().join("envs"), &cwd);
    let s = setup(&relative, Path::new("/nonexistent/python"), Installer::Pip);
    let py = s
        .python_for(&reqs, None, &Lines::default(), &Control::new())
        .unwrap();
    assert!(py.is_absolute(), "{}", py.display());
    assert!(
        py.starts_with(&cwd) || py.starts_with(dir.path()),
        "{}",
        py.display()
    );
}

/// `to` written relative to `from` with `..` steps.
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    let depth = from.components().count().saturating_sub(1);
    let mut p = PathBuf::new();
    for _ in 0..depth {
        p.push("..");
    }
    p.join(to.strip_prefix("/").unwrap_or(to))
}

#[test]
fn a_missing_base_python_is_runtime_unavailable_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(
        dir.path(),
        Path::new("/nonexistent/python3.99"),
        Installer::Pip,
    );
    let err = s
        .python_for(&[], None, &Lines::default(), &Control::new())
        .unwrap_err();
    assert!(matches!(err, Failure::RuntimeUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("KEEL_BASE_PYTHON"), "{err}");
    let key = env_key(&[], None);
    // Only the lock file stays, and nobody holds it.
    assert_eq!(names(dir.path()), vec![format!("{key}.lock")]);
    let f = std::fs::File::open(dir.path().join(format!("{key}.lock"))).unwrap();
    f.try_lock().unwrap();
}

#[test]
fn versions_match_their_releases() {
    for (asked, actual, want) in [
        ("3", "3.11.7", true),
        ("3.11", "3.11.7", true),
        ("3.11.7", "3.11.7", true),
        ("3.11.7", "3.11.8", false),
        ("3.11", "3.1.11", false),
        ("3.1", "3.11.0", false),
        ("3.12", "3.11.7", false),
        (" 3.11 ", "3.11.0", true),
    ] {
        let r = VersionRequest::parse(asked).unwrap();
        assert_eq!(r.matches(actual), want, "{asked} vs {actual}");
    }
    for bad in ["2.7", "3.x", "python3", "3..1", "3.11.7.1", "", "4"] {
        let err = VersionRequest::parse(bad).unwrap_err();
        assert!(
            err.to_string().contains("not a Python 3 version"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn interpreters_are_found_on_path_by_version() {
    let Some(py) = keel_testkit::base_python() else {
        return;
    };
    let real = interp::probe(&py).unwrap();
    let parts: Vec<u32> = real
        .version
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    let minor = format!("3.{}", parts[1]);
    let other = format!("3.{}", parts[1] + 7);
    let tmp = tempfile::tempdir().unwrap();
    // `a` holds a launcher that fails, as a pyenv shim does for a version
    // that is installed but not selected; `b` holds the real interpreter
    // under three names.
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let shim = a.join("python3");
    std::fs::write(
        &shim,
        "#!/bin/sh\necho 'pyenv: python3: command not found' >&2\nexit 127\n",
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in [
        format!("python3.{}", parts[1]),
        "python3".into(),
        "python".into(),
    ] {
        std::os::unix::fs::symlink(&real.executable, b.join(name)).unwrap();
    }
    let path = std::env::join_paths([&a, &b]).unwrap();
    let (ad, bd) = (a.display().to_string(), b.display().to_string());
    let v = &real.version;
    let cases: Vec<(&str, Option<String>, Option<PathBuf>, String)> = vec![
        (
            "no version: the base",
            None,
            Some(b.join("python")),
            format!("{bd}/python is {v}"),
        ),
        (
            "a minor version: python3.X",
            Some(minor.clone()),
            None,
            format!("{bd}/python3.{} is {v}", parts[1]),
        ),
        (
            "the exact version",
            Some(v.clone()),
            None,
            format!("{bd}/python3.{} is {v}", parts[1]),
        ),
        (
            "only the major version: python3",
            Some("3".into()),
            None,
            format!("{bd}/python3 is {v}"),
        ),
        (
            "the base is tried first",
            Some(minor.clone()),
            Some(b.join("python")),
            format!("{bd}/python is {v}"),
        ),
        (
            "no match: every interpreter found is named",
            Some(other.clone()),
            None,
            format!(
                "The model asks for Python {other}, but no interpreter with that version was \
                 found (found: {ad}/python3 did not start (it exited with exit status: 127: \
                 pyenv: python3: command not found); {bd}/python3 is Python {v}). Install \
                 Python {other} so that python3.{} is on PATH, set KEEL_BASE_PYTHON to it, or \
                 change `python` under `[platform]` in the model's keel.toml.",
                parts[1] + 7
            ),
        ),
        (
            "not a Python 3 version",
            Some("2.7".into()),
            None,
            "The model asks for Python version '2.7', which is not a Python 3 version[..]".into(),
        ),
    ];
    for (name, version, base, want) in cases {
        let got = match interp::find(version.as_deref(), base.as_deref(), Some(&path), None) {
            Ok(i) => format!("{} is {}", i.found_as, i.version),
            Err(e) => e.to_string(),
        };
        assert!(
            keel_testkit::matches(&want, &got),
            "{name}:\n want {want}\n  got {got}"
        );
    }
}

#[test]
fn concurrent_jobs_build_a_platform_once() {
    let Some((py, uv)) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(setup(dir.path(), &py, Installer::Uv(uv)));
    let start = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                let lines = Lines::default();
                start.wait();
                let got = s.ensure(&[], None, &[], &lines, &Control::new());
                (got, lines.all())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let builds = results
        .iter()
        .flat_map(|(_, l)| l)
        .filter(|l| l.contains(BUILDING))
        .count();
    assert_eq!(builds, 1, "{results:#?}");
    let key = env_key(&[], None);
    for (got, lines) in &results {
        assert_eq!(
            got.as_ref().unwrap(),
            &dir.path().join(&key).join("bin/python"),
            "{lines:?}"
        );
    }
    assert_eq!(names(dir.path()), vec![key.clone(), format!("{key}.lock")]);
}

#[test]
fn a_build_waits_for_another_process_and_a_killed_holder_frees_the_lock() {
    let Some((py, uv)) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = env_key(&[], None);
    // Another process holds the platform's lock (Python's flock is the
    // same OS lock as Rust's File::lock on Linux).
    let mut holder = Command::new(&py)
        .args([
            "-c",
            "import fcntl, sys, time\n\
             f = open(sys.argv[1], 'a')\n\
             fcntl.flock(f, fcntl.LOCK_EX)\n\
             print('locked', flush=True)\n\
             time.sleep(120)",
        ])
        .arg(dir.path().join(format!("{key}.lock")))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "locked");

    let s = setup(dir.path(), &py, Installer::Uv(uv));
    let lines = Arc::new(Lines::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = lines.clone();
    std::thread::spawn(move || {
        let _ = tx.send(s.ensure(&[], None, &[], sink.as_ref(), &Control::new()));
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(700)).is_err(),
        "the build did not wait for the lock: {:?}",
        lines.all()
    );
    assert_eq!(lines.count("waiting for it"), 1, "{:?}", lines.all());
    assert_eq!(lines.count(BUILDING), 0);
    // SIGKILL: the holder gets no chance to clean up, and the kernel frees its lock.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let got = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(got.unwrap(), dir.path().join(&key).join("bin/python"));
    assert_eq!(lines.count(BUILDING), 1, "{:?}", lines.all());
}

#[test]
fn builds_are_renamed_into_place_and_leftovers_removed() {
    let Some((py, uv)) = tools() else { return };
    for installer in [Installer::Uv(uv), Installer::Pip] {
        let dir = tempfile::tempdir().unwrap();
        let reqs = vec!["six".to_string()];
        let key = env_key(&reqs, None);
        // A killed build's temporary directory, and an environment an older
        // Keel left half-built in place (no ready marker).
        let leftover = dir.path().join(format!(".{key}.building-1-0"));
        std::fs::create_dir_all(leftover.join("lib")).unwrap();
        std::fs::create_dir_all(dir.path().join(&key).join("bin")).unwrap();
        let lines = Lines::default();
        let s = setup(dir.path(), &py, installer.clone());
        let python = s.ensure(&reqs, None, &[], &lines, &Control::new()).unwrap();
        let what = format!("{installer:?}: {:#?}", lines.all());
        assert_eq!(python, dir.path().join(&key).join("bin/python"), "{what}");
        assert_eq!(
            lines.count("removing an unfinished Python environment"),
            2,
            "{what}"
        );
        assert_eq!(
            names(dir.path()),
            vec![key.clone(), format!("{key}.lock")],
            "{what}"
        );
        assert!(dir.path().join(&key).join("pyvenv.cfg").is_file(), "{what}");

        // The renamed environment is its own: its prefix is the final
        // directory, and what was installed before the rename imports.
        let out = Command::new(&python)
            .args([
                "-c",
                "import six, sys; print(sys.prefix); print(six.__file__)",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut printed = stdout.lines();
        let final_dir = std::fs::canonicalize(dir.path().join(&key)).unwrap();
        let prefix = std::fs::canonicalize(printed.next().unwrap()).unwrap();
        assert_eq!(prefix, final_dir, "{what}");
        assert!(
            std::fs::canonicalize(printed.next().unwrap())
                .unwrap()
                .starts_with(&final_dir),
            "{what}"
        );

        // A second job reuses it, even with no usable base Python.
        let again = Lines::default();
        let s = setup(
            dir.path(),
            Path::new("/nonexistent/python"),
            installer.clone(),
        );
        assert_eq!(
            s.ensure(&reqs, None, &[], &again, &Control::new()).unwrap(),
            python
        );
        assert_eq!(again.count(BUILDING), 0, "{:?}", again.all());
        assert_eq!(
            again.count("keel: using the Python environment"),
            1,
            "{:?}",
            again.all()
        );
    }
}

#[test]
fn a_requirement_that_cannot_be_installed_is_named_with_the_reason() {
    let Some((py, uv)) = tools() else { return };
    let version = interp::probe(&py).unwrap().version;
    for (installer, tool) in [(Installer::Uv(uv), "uv"), (Installer::Pip, "pip")] {
        let dir = tempfile::tempdir().unwrap();
        let reqs = vec!["six==999.0".to_string()];
        let lines = Lines::default();
        let s = setup(dir.path(), &py, installer);
        let err = s
            .ensure(&reqs, None, &[], &lines, &Control::new())
            .unwrap_err();
        assert!(matches!(err, Failure::RuntimeUnavailable { .. }), "{err:?}");
        let want = format!(
            "The requirement 'six==999.0' cannot be installed on Python {version}: \
             [..]six==999.0[..] ({tool}). Pin a version that supports Python {version}[..]"
        );
        assert!(
            keel_testkit::matches(&want, &err.to_string()),
            "{tool}: {err}"
        );
        // The tool's own output is in the log; nothing is left but the lock file.
        assert!(lines.count("six==999.0") >= 1, "{:?}", lines.all());
        let key = env_key(&reqs, None);
        assert_eq!(names(dir.path()), vec![format!("{key}.lock")], "{tool}");
    }
}

#[test]
fn a_job_deadline_or_cancel_stops_a_build_and_a_wait_for_the_lock() {
    let Some((py, uv)) = tools() else { return };
    // A build whose job's deadline has passed: uv is started, then stopped
    // (a cached install can finish in well under a second, so a deadline
    // that has not passed yet would race it).
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), &py, Installer::Uv(uv.clone()));
    let ctl = Control::with_timeout(Duration::ZERO);
    let started = std::time::Instant::now();
    let got = s.ensure(&["six".into()], None, &[], &Lines::default(), &ctl);
    assert!(matches!(got, Err(Failure::Timeout { .. })), "{got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // A job cancelled while another build holds the lock stops waiting.
    let key = env_key(&[], None);
    let lock = std::fs::File::create(dir.path().join(format!("{key}.lock"))).unwrap();
    lock.lock().unwrap();
    let ctl = Control::new();
    let cancel = ctl.cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let got = s.ensure(&[], None, &[], &Lines::default(), &ctl);
    assert!(matches!(got, Err(Failure::Cancelled)), "{got:?}");
    drop(lock);
}
