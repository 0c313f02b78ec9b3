//! The few libc calls the runner needs: dying with the parent, a PID namespace
//! per worker, killing a whole process group or one process, and naming signals
//! (and, for tests, probing whether a pid lives).
//!
//! This module allows `unsafe` because `pre_exec`, `prctl`, `getppid`,
//! `unshare`, `fork`, `waitpid`, `killpg` and `kill` are only reachable through
//! it; each call is a plain syscall on integers with no memory handed over.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Puts the child in its own process group and makes the kernel SIGKILL it
/// when the spawning thread of this process dies, so a worker can never outlive Keel.
///
/// With `pid_namespace`, the child also makes a PID namespace in which the
/// program runs, so everything the program started (even a double fork that
/// called `setsid`) ends with it; the child Keel knows stays behind only to
/// wait and to exit as the program did (see [`namespace_init`]).
pub fn contain(cmd: &mut Command, pid_namespace: bool) {
    cmd.process_group(0);
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe syscalls (prctl, getppid, unshare, pipe2, fork, and
    // in the relay and init waitpid, read, write, close, kill and _exit); it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent()?;
            // Keel may have died between fork and prctl; then nobody will send
            // the death signal, so refuse to start.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("the parent process exited"));
            }
            // Without the privilege the worker runs unconfined, as the start
            // log says; the leftover check still finds what it leaves.
            if pid_namespace && libc::unshare(libc::CLONE_NEWPID) == 0 {
                namespace_init()?;
            }
            Ok(())
        });
    }
}

/// Asks the kernel to SIGKILL this process when its parent thread exits.
///
/// # Safety
/// Async-signal-safe: one prctl call.
unsafe fn die_with_parent() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs in the process Keel spawned, right after it made a PID namespace,
/// and returns only in the process that goes on to exec the program. Three
/// processes share the work:
///
/// - the *relay* (the process Keel spawned, outside the namespace) waits for
///   the init and then exits exactly as the program did, by the same signal
///   or with the same code, which the init reports through a pipe;
/// - the *init* (pid 1 inside) reaps whatever is orphaned there, and when the
///   program ends reports its status and exits, at which the kernel kills
///   everything else in the namespace (a double fork that called `setsid`
///   included);
/// - the *program* (pid 2 inside) is the worker. It is not pid 1, because the
///   kernel shields pid 1 from signals it sends itself (`abort()` would not
///   end it).
///
/// Each dies with its parent, and all three are in the worker's process
/// group, which Keel kills as one.
///
/// # Safety
/// Runs in a forked child of a threaded process: async-signal-safe calls only.
unsafe fn namespace_init() -> std::io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: every call takes integers or pointers to locals; none allocates.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        let init = libc::fork();
        if init < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if init > 0 {
            relay(init, read_end);
        }
        libc::close(read_end);
        die_with_parent()?;
        let program = libc::fork();
        if program < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if program > 0 {
            init_loop(program, write_end);
        }
        // The program: its end of the pipe closes at exec.
        die_with_parent()
    }
}

/// Closes every file descriptor but `keep`.
///
/// # Safety
/// Async-signal-safe: close_range, or close in a loop where it is missing.
unsafe fn close_all_but(keep: libc::c_int) {
    let keep = keep as u32;
    // SAFETY: closing descriptors takes integers only.
    unsafe {
        let below = keep == 0 || libc::syscall(libc::SYS_close_range, 0u32, keep - 1, 0u32) == 0;
        let above = libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32) == 0;
        if !(below && above) {
            for fd in 0..4096 {
                if fd != keep as libc::c_int {
                    libc::close(fd);
                }
            }
        }
    }
}

/// Waits for `child`, retrying on EINTR; its wait status, or `None` when it
/// cannot be waited for.
///
/// # Safety
/// Async-signal-safe: waitpid only.
unsafe fn wait_for(child: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r == child {
            return Some(status);
        }
        // SAFETY: reading errno.
        if r < 0 && unsafe { *libc::__errno_location() } != libc::EINTR {
            return None;
        }
    }
}

/// The namespace's init: reaps every child until the program ends, then
/// writes the program's wait status to `report` and exits.
///
/// # Safety
/// Runs in a forked child of a threaded process: async-signal-safe calls only.
unsafe fn init_loop(program: libc::pid_t, report: libc::c_int) -> ! {
    // SAFETY: every call takes integers or pointers to locals; none allocates.
    unsafe {
        close_all_but(report);
        loop {
            let mut status = 0;
            let r = libc::waitpid(-1, &mut status, 0);
            if r == program {
                let bytes = status.to_ne_bytes();
                libc::write(report, bytes.as_ptr().cast(), bytes.len());
                libc::_exit(0);
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
    }
}

/// The relay: waits for the init, then exits as the program did, as the
/// init reported through `report` (a plain failure when it reported nothing).
///
/// # Safety
/// Runs in a forked child of a threaded process: async-signal-safe calls only.
unsafe fn relay(init: libc::pid_t, report: libc::c_int) -> ! {
    // SAFETY: every call takes integers or pointers to locals; none allocates.
    unsafe {
        // Closing the pipes to Keel here means the program's pipes end when
        // the program ends, and the spawn's exec report sees its end at once.
        close_all_but(report);
        let mut bytes = [0u8; 4];
        let mut got = 0;
        while got < bytes.len() {
            let r = libc::read(report, bytes[got..].as_mut_ptr().cast(), bytes.len() - got);
            if r > 0 {
                got += r as usize;
            } else if r == 0 || *libc::__errno_location() != libc::EINTR {
                break;
            }
        }
        let _ = wait_for(init);
        if got < bytes.len() {
            libc::_exit(127);
        }
        let status = libc::c_int::from_ne_bytes(bytes);
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            // Dying by the program's signal must not also dump this process's core.
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

/// Whether this process may make PID namespaces: a forked child tries and
/// exits with the answer. `Err` holds why not.
pub fn probe_pid_namespace() -> std::io::Result<()> {
    // SAFETY: the child only calls unshare and _exit, which are
    // async-signal-safe; the parent waits for that one child by its pid.
    unsafe {
        let child = libc::fork();
        if child < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if child == 0 {
            let code = if libc::unshare(libc::CLONE_NEWPID) == 0 {
                0
            } else {
                *libc::__errno_location() & 0x7f
            };
            libc::_exit(code);
        }
        let Some(status) = wait_for(child) else {
            return Err(std::io::Error::last_os_error());
        };
        match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
            (true, 0) => Ok(()),
            (true, errno) => Err(std::io::Error::from_raw_os_error(errno)),
            _ => Err(std::io::Error::other("the probe process was killed")),
        }
    }
}

/// Sends SIGKILL to one process; a process that is gone is fine.
pub fn kill_pid(pid: u32) {
    kill_checked(pid, libc::kill);
}

/// Sends SIGKILL to every process in the group `pgid`; a missing group is fine.
pub fn kill_group(pgid: u32) {
    kill_checked(pgid, libc::killpg);
}

/// Sends SIGKILL with `kill` (`kill` or `killpg`) to `id`, never to 0 or 1
/// (which would mean every process, or init).
fn kill_checked(id: u32, kill: unsafe extern "C" fn(libc::pid_t, libc::c_int) -> libc::c_int) {
    let Ok(id) = libc::pid_t::try_from(id) else {
        return;
    };
    if id <= 1 {
        return;
    }
    // SAFETY: kill and killpg take plain integers; a process or group that
    // no longer exists only yields ESRCH.
    unsafe {
        kill(id, libc::SIGKILL);
    }
}

/// The parent of `pid`, from `/proc`, while it exists.
pub fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces and parentheses).
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split(' ').nth(1)?.parse().ok()
}

/// True while a process with this pid exists (zombies included).
#[cfg(test)]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The conventional name of a signal number, such as "SIGABRT".
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(libc::SIGABRT), "SIGABRT");
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(signal_name(200), "signal 200");
    }

    #[test]
    fn contained_child_is_killed_with_its_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        contain(&mut cmd, false);
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        assert!(pid_alive(pid));
        kill_group(pid);
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(!pid_alive(pid));
    }
}
