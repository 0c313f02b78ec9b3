//! Runs model code in Python worker processes over a versioned pipe protocol
//! carrying Arrow IPC batches (docs/worker-protocol.md), never in Keel's own
//! process. Everything here is blocking: run it on a blocking thread.
//!
//! A run starts workers (`python -u keel_worker.py` in the job's working
//! directory), each in its own process group (and PID namespace, where the
//! machine allows) that dies with Keel, with an allow-listed environment, and
//! kills and reaps every one of them, and anything they started, before it
//! returns, whether it succeeded, failed, timed out or was cancelled. Only
//! after a success may the workers themselves live on, in a [`WarmPool`],
//! for the next run of the same model.

mod contain;
mod env;
mod error;
mod failure;
mod pool;
pub mod protocol;
mod run;
mod spec;
mod sys;
mod warm;

pub use contain::{Containment, Isolation, TOKEN_ENV};
pub use env::{Installer, PythonSetup};
pub use error::{Error, Result};
pub use failure::Failure;
pub use protocol::PROTOCOL_VERSION;
pub use run::{run_metrics, run_scoring, run_training};
pub use spec::{Control, Functions, LogSink, ScoreStats, WorkerSpec};
pub use warm::{Warm, WarmPool};
