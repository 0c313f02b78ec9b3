//! Warm workers: worker processes kept after a successful run so the next
//! run of the same model skips starting Python and importing pyarrow,
//! pandas and the model's libraries, which costs more than scoring a million
//! rows with many models.
//!
//! A kept worker serves only runs with the same key (the caller's name for
//! one model version on one interpreter with one environment), so one model's
//! code never sees another model's data. Each run still imports the model's
//! own modules afresh and calls `init` again in the new working directory
//! (docs/worker-protocol.md). A pool keeps at most `max_idle` workers, ends a
//! worker idle for longer than `idle_for`, and ends every worker it holds
//! when it is dropped.

use std::process::{Child, Command};
use std::sync::mpsc::{self, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::contain::RunMark;
use crate::pool::Worker;

/// How often the pool's thread looks for workers idle for too long.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// Workers kept between runs; cheap to clone (clones share the workers).
#[derive(Clone)]
pub struct WarmPool {
    shared: Arc<Shared>,
}

/// Where a run may take warm workers from and leave its own: a pool, and the
/// key of the model version the run is for.
#[derive(Clone, Debug)]
pub struct Warm {
    /// The pool.
    pub pool: WarmPool,
    /// Runs share workers only when their keys are equal.
    pub key: String,
}

struct Shared {
    max_idle: usize,
    idle_for: Duration,
    idle: Mutex<Vec<Idle>>,
    /// Starts worker processes on the pool's own thread, which lives as long
    /// as the pool: the kernel kills a worker when the thread that started
    /// it ends, and a run's thread ends long before a warm worker should.
    launcher: Mutex<Option<Sender<Launch>>>,
}

/// A request to the pool's thread to start a process.
type Launch = (Command, SyncSender<std::io::Result<Child>>);

/// One kept worker.
struct Idle {
    key: String,
    worker: Worker,
    since: Instant,
    /// The last run's mark, to find what the worker starts while idle.
    mark: RunMark,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool")
            .field("max_idle", &self.shared.max_idle)
            .field("idle_for", &self.shared.idle_for)
            .field("idle", &self.idle())
            .finish()
    }
}

impl WarmPool {
    /// A pool keeping at most `max_idle` workers, each for at most `idle_for`
    /// without a run.
    pub fn new(max_idle: usize, idle_for: Duration) -> Self {
        WarmPool {
            shared: Arc::new(Shared {
                max_idle,
                idle_for,
                idle: Mutex::new(Vec::new()),
                launcher: Mutex::new(None),
            }),
        }
    }

    /// How many workers the pool holds now.
    pub fn idle(&self) -> usize {
        self.shared.lock().len()
    }

    /// The process ids of the Python programs the pool holds (for tests
    /// and reports).
    pub fn idle_pids(&self) -> Vec<u32> {
        self.shared
            .lock()
            .iter()
            .map(|i| i.worker.ready.as_ref().map_or(i.worker.pid, |r| r.pid))
            .collect()
    }

    /// Takes up to `n` live workers kept under `key`, the most recent first.
    pub(crate) fn take(&self, key: &str, n: usize) -> Vec<Worker> {
        let mut dead = Vec::new();
        let mut taken = Vec::new();
        {
            let mut idle = self.shared.lock();
            let mut i = idle.len();
            while i > 0 && taken.len() < n {
                i -= 1;
                if idle[i].key != key {
                    continue;
                }
                let mut entry = idle.remove(i);
                if entry.worker.alive() {
                    taken.push(entry.worker);
                } else {
                    dead.push(entry);
                }
            }
        }
        for entry in dead {
            end(entry);
        }
        taken
    }

    /// Keeps `worker` under `key`; `mark` is the mark of the run it just
    /// finished. The oldest kept worker makes room when the pool is full.
    pub(crate) fn put(&self, key: &str, worker: Worker, mark: RunMark) {
        let entry = Idle {
            key: key.to_string(),
            worker,
            since: Instant::now(),
            mark,
        };
        if self.shared.max_idle == 0 {
            end(entry);
            return;
        }
        let evicted = {
            let mut idle = self.shared.lock();
            idle.push(entry);
            let over = idle.len().saturating_sub(self.shared.max_idle);
            idle.drain(..over).collect::<Vec<_>>()
        };
        evicted.into_iter().for_each(end);
        // The pool's thread is what ends idle workers; without it they end
        // with the pool, which is all that is lost.
        let _ = self.ensure_thread();
    }

    /// Starts `cmd` on the pool's thread (starting the thread first if needed).
    pub(crate) fn launch(&self, cmd: Command) -> std::io::Result<Child> {
        let tx = self.ensure_thread()?;
        let (reply, answer) = mpsc::sync_channel(1);
        tx.send((cmd, reply))
            .map_err(|_| std::io::Error::other("the warm pool's thread has stopped"))?;
        answer
            .recv()
            .map_err(|_| std::io::Error::other("the warm pool's thread has stopped"))?
    }

    /// The sender to the pool's thread, started on first use. The thread
    /// starts processes and, between requests, ends workers idle too long;
    /// it stops when the pool is gone.
    fn ensure_thread(&self) -> std::io::Result<Sender<Launch>> {
        let mut launcher = self
            .shared
            .launcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = launcher.as_ref() {
            return Ok(tx.clone());
        }
        let (tx, rx) = mpsc::channel::<Launch>();
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        std::thread::Builder::new()
            .name("keel-warm-pool".into())
            .spawn(move || {
                loop {
                    match rx.recv_timeout(EXPIRY_TICK) {
                        Ok((mut cmd, reply)) => {
                            let _ = reply.send(cmd.spawn());
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let Some(shared) = weak.upgrade() else {
                        return;
                    };
                    shared.expire();
                }
            })?;
        *launcher = Some(tx.clone());
        Ok(tx)
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends every worker idle for longer than `idle_for`.
    fn expire(&self) {
        let old = {
            let mut idle = self.lock();
            let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| i.since.elapsed() >= self.idle_for);
            *idle = keep;
            old
        };
        old.into_iter().for_each(end);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        idle.into_iter().for_each(end);
    }
}

/// Ends a kept worker: kills its process group, reaps it, and kills
/// anything its last run or its idle time left behind.
fn end(mut entry: Idle) {
    entry.worker.kill();
    entry.mark.sweep();
}
