//! Running the git command: never interactive, never steered by the
//! environment of a repository Keel happens to run inside, and with
//! everything it prints redacted before it becomes an error message.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::redact::redact;
use crate::spec::Spec;

/// Variables that point git at a repository other than the one a command
/// names (set, for example, when Keel runs from a git hook).
const REPOSITORY_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_SHALLOW_FILE",
    "GIT_PREFIX",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
];

/// The longest stretch of git's output an error message keeps.
const MAX_MESSAGE: usize = 4000;

/// Runs `git ARGS` (in `cwd` when given) for the repository of `spec`, and
/// returns what it printed on stdout. `command` names the subcommand in
/// messages.
pub(crate) fn git<S: AsRef<OsStr>>(
    spec: &Spec,
    command: &'static str,
    args: &[S],
    cwd: Option<&Path>,
) -> Result<String> {
    let mut cmd = Command::new("git");
    if let Some(dir) = cwd {
        cmd.arg("-C").arg(dir);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Nothing may wait for a password: no terminal prompt, no askpass
        // program (an empty GIT_ASKPASS also hides core.askPass and
        // SSH_ASKPASS from git), no credential manager window, no ssh
        // askpass. Credential helpers still answer, so private
        // repositories work as they do for `git clone`.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS_REQUIRE", "never")
        .env("GCM_INTERACTIVE", "never");
    for var in REPOSITORY_VARS {
        cmd.env_remove(var);
    }
    if spec.ssh() && !ssh_configured() {
        // ssh asks on the terminal (a password, an unknown host key) unless
        // told not to; a user's own ssh command is left alone.
        cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
    }
    let out = cmd
        .output()
        .map_err(|source| Error::GitMissing { source })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut message = redact(stderr.trim(), spec.secrets());
    if message.is_empty() {
        message = format!("git ended with {} and printed nothing", out.status);
    }
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" [...]");
    }
    if wants_credentials(&message) {
        message.push_str(
            " The repository asks for credentials and Keel never prompts: configure a git credential helper or an ssh key, or put a token in the URL (https://user:token@host/...).",
        );
    }
    Err(Error::Git {
        command,
        repository: spec.repository().to_string(),
        message,
    })
}

/// Whether the user chose how git runs ssh (then Keel does not override it).
fn ssh_configured() -> bool {
    if std::env::var_os("GIT_SSH_COMMAND").is_some() || std::env::var_os("GIT_SSH").is_some() {
        return true;
    }
    Command::new("git")
        .args(["config", "--get", "core.sshCommand"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// Whether git failed for want of credentials (English messages only; the
/// hint is a courtesy, nothing depends on it).
fn wants_credentials(message: &str) -> bool {
    [
        "terminal prompts disabled",
        "could not read Username",
        "could not read Password",
        "Authentication failed",
        "Permission denied",
        "Host key verification failed",
    ]
    .iter()
    .any(|m| message.contains(m))
}
