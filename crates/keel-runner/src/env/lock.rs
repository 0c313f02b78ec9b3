//! The build lock of one platform: an OS file lock on `envs/<key>.lock`.
//!
//! The kernel releases the lock when its holder's file is closed, which
//! includes the holder being killed, so a crashed build never leaves a stale
//! lock behind. The file itself stays: removing it would let a process that
//! already opened the old file and one that creates a new file both hold "the"
//! lock at once.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::failure::Failure;
use crate::spec::{Control, LogSink};

/// How long to wait for another job that is building the same environment.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(30 * 60);
/// How often a waiting job tries the lock again.
const RETRY: Duration = Duration::from_millis(100);

/// A held build lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct BuildLock {
    // Closing the file releases the lock.
    _file: File,
}

impl BuildLock {
    /// Takes the lock at `path`, waiting up to `wait` for another holder (in
    /// this process or another) and saying so once in `sink`.
    pub(crate) fn acquire(
        path: &Path,
        wait: Duration,
        sink: &dyn LogSink,
        ctl: &Control,
    ) -> Result<BuildLock, Failure> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Failure::RuntimeUnavailable {
                message: format!("The lock file {} cannot be opened: {e}.", path.display()),
            })?;
        let started = Instant::now();
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(BuildLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(Failure::RuntimeUnavailable {
                        message: format!(
                            "The lock file {} cannot be locked: {e}. Keep Keel's data \
                             directory on a file system that supports file locks.",
                            path.display()
                        ),
                    });
                }
            }
            if !said {
                sink.note(&format!(
                    "another job is building this Python environment; waiting for \
                         it (lock {})",
                    path.display()
                ));
                said = true;
            }
            if let Some(stop) = ctl.stop() {
                return Err(stop);
            }
            if started.elapsed() > wait {
                return Err(Failure::RuntimeUnavailable {
                    message: format!(
                        "Another job has been building this Python environment for more than \
                         {} seconds (it holds the lock {}); try again when it has finished.",
                        wait.as_secs(),
                        path.display()
                    ),
                });
            }
            std::thread::sleep(RETRY);
        }
    }
}
