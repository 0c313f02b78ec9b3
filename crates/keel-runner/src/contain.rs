//! Containment of model processes: how workers are confined (a PID namespace
//! each when the machine allows it, a process group always), the environment
//! they get (an allow-list, not Keel's own), and the check after every run
//! that nothing they started is still running.

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

/// The variable every worker gets with its run's own token, so that the
/// check after a run finds what a worker started even outside its namespace.
pub const TOKEN_ENV: &str = "KEEL_WORKER_TOKEN";

/// The variables a worker inherits when Keel has them: what a Python program
/// needs to find its tools, speak the right language and size its thread pools.
const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
];

/// How a deployment wants its workers confined (the defaults confine them
/// as much as the machine allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// Whether each worker gets its own PID namespace when the machine allows.
    pub pid_namespace: bool,
    /// More variables that workers inherit from Keel beyond the allow-list
    /// (proxies, certificate bundles, licence servers).
    pub pass_env: Vec<String>,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation {
            pid_namespace: true,
            pass_env: Vec::new(),
        }
    }
}

impl Isolation {
    /// How workers with this isolation are confined on this machine.
    pub fn containment(&self) -> Containment {
        if !self.pid_namespace {
            return Containment::ProcessGroup {
                reason: "PID namespaces are turned off".into(),
            };
        }
        machine_containment().clone()
    }
}

/// How workers are confined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// Each worker runs as the first process of its own PID namespace: the
    /// kernel ends everything it started when it exits.
    PidNamespace,
    /// Each worker has its own process group only; a process that leaves the
    /// group (with `setsid`) is found by its run's token after the run.
    ProcessGroup {
        /// Why PID namespaces are not used.
        reason: String,
    },
}

impl Containment {
    /// One sentence for the server's start log and `keel doctor`-style output.
    pub fn describe(&self) -> String {
        match self {
            Containment::PidNamespace => {
                "workers run in their own PID namespace and process group; everything a model \
                 starts ends with its worker"
                    .into()
            }
            Containment::ProcessGroup { reason } => format!(
                "workers run in their own process group only ({reason}); a process a model \
                 detaches with setsid is found and killed after its job by the job's token"
            ),
        }
    }
}

/// The most this machine allows: probed once (a child process tries to
/// make a PID namespace).
fn machine_containment() -> &'static Containment {
    static MODE: OnceLock<Containment> = OnceLock::new();
    MODE.get_or_init(|| match sys::probe_pid_namespace() {
        Ok(()) => Containment::PidNamespace,
        Err(e) => Containment::ProcessGroup {
            reason: format!("this process may not make PID namespaces: {e}"),
        },
    })
}

/// A token unique to one run of this process.
pub(crate) fn new_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The workers' temporary directory (`TMPDIR`) inside the working directory,
/// so what a model leaves in it goes with the job's directory.
pub(crate) fn tmp_dir(workdir: &Path) -> std::path::PathBuf {
    workdir.join(".keel-tmp")
}

/// The environment of a worker: the allowed variables Keel has (and those
/// `pass_env` names, and every `LC_*`), then `TMPDIR` inside the working
/// directory, the run's token and the spec's own variables.
pub(crate) fn worker_env(
    workdir: &Path,
    token: &str,
    pass_env: &[String],
    extra: &[(String, String)],
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let named: HashSet<&str> = ALLOWED
        .iter()
        .copied()
        .chain(pass_env.iter().map(String::as_str))
        .collect();
    let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            k.to_str()
                .is_some_and(|k| named.contains(k) || k.starts_with("LC_"))
        })
        .collect();
    env.extend(
        run_env(workdir, token, extra)
            .into_iter()
            .map(|(k, v)| (k.into(), v.into())),
    );
    env
}

/// The variables that belong to one run rather than to the worker: `TMPDIR`
/// inside its working directory, its token and the spec's own. A worker kept
/// for another run gets these anew in that run's hello.
pub(crate) fn run_env(
    workdir: &Path,
    token: &str,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let tmp = std::path::absolute(tmp_dir(workdir)).unwrap_or_else(|_| tmp_dir(workdir));
    let mut env = vec![
        ("TMPDIR".to_string(), tmp.to_string_lossy().into_owned()),
        (TOKEN_ENV.to_string(), token.to_string()),
    ];
    env.extend(extra.iter().cloned());
    env
}

/// What identifies the processes of one run: the PID namespaces its workers
/// made, and its tokens. The run's own token (the first) is in the
/// environment of what its model executes; each worker's own token is in
/// the environment of the worker and of what it forks without executing
/// anything (a forked process shows the environment its program started
/// with, whatever Python changed since).
#[derive(Debug, Default)]
pub(crate) struct RunMark {
    pub tokens: Vec<String>,
    pub namespaces: Vec<String>,
    /// An open handle on each of `namespaces`. The kernel numbers a PID
    /// namespace by an inode that it hands to the next new namespace once
    /// the old one is gone; holding the namespace open keeps its number
    /// from being reused, so a sweep after this run's workers ended can
    /// never mistake another run's fresh namespace (and kill its init) for
    /// one of this run's.
    pins: Vec<std::fs::File>,
}

impl RunMark {
    /// The mark of a run whose token is `token`, before it has workers.
    pub fn new(token: String) -> Self {
        RunMark {
            tokens: vec![token],
            namespaces: Vec::new(),
            pins: Vec::new(),
        }
    }

    /// The run's own token.
    pub fn token(&self) -> &str {
        self.tokens.first().map_or("", String::as_str)
    }

    /// Remembers worker `pid`, started with token `token`, and the PID
    /// namespace it made for its program.
    pub fn add_worker(&mut self, pid: u32, token: &str) {
        self.tokens.push(token.to_string());
        let link = format!("/proc/{pid}/ns/pid_for_children");
        // Pinned first, then named: the name read after the pin is the
        // namespace the pin holds.
        let Ok(pin) = std::fs::File::open(&link) else {
            return;
        };
        if let Ok(ns) = std::fs::read_link(&link) {
            let ns = ns.to_string_lossy().into_owned();
            let own = std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if ns != own {
                self.namespaces.push(ns);
                self.pins.push(pin);
            }
        }
    }

    /// Kills every live process of this run that is still running after its
    /// workers were reaped, and answers how many there were.
    pub fn sweep(&self) -> usize {
        self.sweep_except(&HashSet::new())
    }

    /// Like [`RunMark::sweep`], sparing the processes in `spare` (the
    /// workers a warm pool keeps).
    pub fn sweep_except(&self, spare: &HashSet<u32>) -> usize {
        let mut seen = HashSet::new();
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            let mut found = self.find();
            found.retain(|pid| !spare.contains(pid));
            if found.is_empty() || Instant::now() >= until {
                return seen.len();
            }
            for pid in found {
                sys::kill_pid(pid);
                seen.insert(pid);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The live processes (zombies left out) in this run's namespaces or
    /// with its token in their environment.
    fn find(&self) -> Vec<u32> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let me = std::process::id();
        let needles: Vec<Vec<u8>> = self
            .tokens
            .iter()
            .map(|t| format!("{TOKEN_ENV}={t}").into_bytes())
            .collect();
        let mut found = Vec::new();
        for entry in dir.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == me || !running(pid) {
                continue;
            }
            let in_namespace = !self.namespaces.is_empty()
                && std::fs::read_link(entry.path().join("ns/pid"))
                    .is_ok_and(|ns| self.namespaces.iter().any(|n| *n == *ns.to_string_lossy()));
            let marked = || {
                std::fs::read(entry.path().join("environ")).is_ok_and(|env| {
                    env.split(|b| *b == 0)
                        .any(|v| needles.iter().any(|n| v == n))
                })
            };
            if in_namespace || marked() {
                found.push(pid);
            }
        }
        found
    }
}

/// True while `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// A `sleep` contained as a worker is, in a PID namespace of its own.
    fn contained_sleep() -> Child {
        let mut cmd = Command::new("sleep");
        cmd.arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        sys::contain(&mut cmd, true);
        cmd.spawn().unwrap()
    }

    fn namespace_of(child: &Child) -> String {
        std::fs::read_link(format!("/proc/{}/ns/pid_for_children", child.id()))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_sweep_after_its_run_ended_spares_other_runs_workers() {
        if sys::probe_pid_namespace().is_err() {
            eprintln!("no PID namespaces here; nothing to check");
            return;
        }
        // A run's worker ends; its mark remembers its namespace.
        let mut first = contained_sleep();
        let mut mark = RunMark::new("a-run".into());
        mark.add_worker(first.id(), "a-run.w0");
        let theirs = mark.namespaces.clone();
        assert_eq!(theirs.len(), 1, "the worker made a namespace");
        first.kill().unwrap();
        first.wait().unwrap();
        // Other runs make namespaces meanwhile. The ended run's sweep must
        // find none of their processes, by token or by namespace. (Whether
        // the kernel would have reused the ended namespace's number without
        // the pin depends on its timing; on the machines seen so far it hands
        // out new numbers first, so this does not catch a missing pin.)
        let mut others: Vec<Child> = (0..8).map(|_| contained_sleep()).collect();
        for other in &others {
            assert!(
                !theirs.contains(&namespace_of(other)),
                "a namespace number was reused"
            );
        }
        assert_eq!(mark.sweep(), 0, "the sweep found another run's processes");
        for other in &mut others {
            assert!(
                other.try_wait().unwrap().is_none(),
                "another run's worker was killed"
            );
            other.kill().unwrap();
            other.wait().unwrap();
        }
    }
}
