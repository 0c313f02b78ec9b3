//! Shared helpers: running the `keel` binary in a test's own world of
//! fixtures and data directory, and reading what it printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What one run of `keel` produced.
pub(crate) struct Out {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    /// Parses stdout as one JSON document, failing the test with both
    /// streams shown when it is not one.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }

    /// Fails the test, showing both streams, unless the exit code is `code`.
    pub(crate) fn expect(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The exit code must be 0 and stdout JSON.
    pub(crate) fn ok_json(self) -> Value {
        self.expect(0).json()
    }
}

/// One test's world: a temporary directory with the fixtures, its own data
/// directory, and optionally a server URL to talk to.
pub(crate) struct Env {
    tmp: tempfile::TempDir,
    pub(crate) py: PathBuf,
    pub(crate) url: Option<String>,
    /// Set for a first run as a new user makes it: `keel` runs with this uv
    /// and no `KEEL_PYTHON`, so each platform gets its own environment.
    uv: Option<PathBuf>,
}

impl Env {
    /// Generates the fixtures; None (after a loud skip) without Python.
    pub(crate) fn new() -> Option<Env> {
        let py = keel_testkit::python()?;
        let tmp = tempfile::tempdir().expect("cannot create a temporary directory");
        keel_testkit::make_fixtures(&py, tmp.path());
        Some(Env {
            tmp,
            py,
            url: None,
            uv: None,
        })
    }

    /// A world without fixtures where `keel` runs as on a fresh machine: no
    /// `KEEL_PYTHON`, `KEEL_BASE_PYTHON` or `KEEL_HOME`, from the temporary
    /// directory itself, so the data directory is the relative default
    /// `.keel` (that is, [`Env::home`]). Platform environments are built from
    /// `python3` on PATH with the test uv. None (after a loud skip) without uv.
    pub(crate) fn first_run() -> Option<Env> {
        let py = keel_testkit::base_python()?;
        let uv = keel_testkit::uv()?;
        let tmp = tempfile::tempdir().expect("cannot create a temporary directory");
        Some(Env {
            tmp,
            py,
            url: None,
            uv: Some(uv),
        })
    }

    pub(crate) fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.root().join("data")
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.root().join(".keel")
    }

    /// A `keel ARGS` process as a long-running test child (a server, a
    /// worker, a CLI to kill): in the data directory, with the env's data
    /// directory and Python, no `KEEL_URL`, and no output kept.
    pub(crate) fn command(&self, args: &[&str], vars: &[(&str, &std::ffi::OsStr)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
        // Tokens come only from what the test gives, never the machine's.
        cmd.env("KEEL_CONFIG_DIR", self.root().join("config"))
            .env_remove("KEEL_TOKEN");
        cmd.args(args)
            .current_dir(self.data())
            .env("KEEL_HOME", self.home())
            .env("KEEL_PYTHON", &self.py)
            .env_remove("KEEL_URL")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Polls `job show ID` until `pred` holds for the job, at most `limit`.
    pub(crate) fn job_until(
        &self,
        id: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let job = self.keel(&["job", "show", id, "-o", "json"]).ok_json();
            if pred(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "the job never got there within {limit:?}: {job:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `keel ARGS` in the data directory (in the root for a first run).
    pub(crate) fn keel(&self, args: &[&str]) -> Out {
        self.keel_with(args, &[])
    }

    /// Runs `keel ARGS` in the data directory with extra environment variables.
    pub(crate) fn keel_with(&self, args: &[&str], vars: &[(&str, &std::ffi::OsStr)]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
        cmd.env("KEEL_CONFIG_DIR", self.root().join("config"))
            .env_remove("KEEL_TOKEN");
        cmd.envs(vars.iter().copied());
        cmd.args(args)
            .env_remove("KEEL_URL")
            .env_remove("KEEL_OUTPUT")
            .stdin(Stdio::null());
        match &self.uv {
            None => cmd
                .current_dir(self.data())
                .env("KEEL_HOME", self.home())
                .env("KEEL_PYTHON", &self.py),
            Some(uv) => cmd
                .current_dir(self.root())
                .env_remove("KEEL_HOME")
                .env_remove("KEEL_PYTHON")
                .env_remove("KEEL_BASE_PYTHON")
                .env("KEEL_UV", uv),
        };
        if let Some(url) = &self.url {
            cmd.env("KEEL_URL", url);
        }
        let out = cmd.output().expect("cannot run the keel binary");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Registers a fixture model directory and returns the registration.
    pub(crate) fn register(&self, model: &str) -> Value {
        self.keel(&["model", "register", &format!("../{model}"), "-o", "json"])
            .ok_json()
    }

    /// Processes whose command line mentions this test's directory: the
    /// Python workers of its jobs, if any were left behind.
    pub(crate) fn leftover_processes(&self) -> Vec<String> {
        let needle = self.root().to_string_lossy().into_owned();
        let me = std::process::id().to_string();
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == me || !name.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(&needle) {
                found.push(format!("{name}: {cmdline}"));
            }
        }
        found
    }

    /// Fails unless no process of this test is left, allowing a moment for
    /// the kernel to reap ones that are exiting.
    pub(crate) fn assert_no_leftovers(&self, after: &str) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let left = self.leftover_processes();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("processes left behind after {after}:\n{}", left.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Parses JSON lines.
pub(crate) fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

pub(crate) fn job_id(job: &Value) -> String {
    job["id"].as_str().expect("a job has an id").to_string()
}

pub(crate) fn counts(job: &Value) -> (u64, u64, u64) {
    let c = &job["counts"];
    (
        c["read"].as_u64().unwrap_or(u64::MAX),
        c["written"].as_u64().unwrap_or(u64::MAX),
        c["rejected"].as_u64().unwrap_or(u64::MAX),
    )
}
