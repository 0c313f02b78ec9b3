//! Failure points for the queue harness: a test arms a point with a count,
//! and the next that many passes through it fail (or panic) as a broken store
//! or a bug would. Unarmed points cost one atomic load.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::Error;

/// A place in the executor where a failure can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// Claiming the next job from the queue.
    Claim,
    /// A job's heartbeat.
    Heartbeat,
    /// Recording a job's outcome.
    Finish,
    /// Just before a job's outputs are published (a panic here is a bug in
    /// Keel's own code, not in the model's).
    Publish,
}

/// The armed failure points of one executor.
#[derive(Debug, Default)]
pub(crate) struct FailPoints {
    claim: AtomicU32,
    heartbeat: AtomicU32,
    finish: AtomicU32,
    publish: AtomicU32,
}

impl FailPoints {
    fn counter(&self, point: FailPoint) -> &AtomicU32 {
        match point {
            FailPoint::Claim => &self.claim,
            FailPoint::Heartbeat => &self.heartbeat,
            FailPoint::Finish => &self.finish,
            FailPoint::Publish => &self.publish,
        }
    }

    /// Makes the next `times` passes through `point` fail.
    #[cfg(test)]
    pub(crate) fn arm(&self, point: FailPoint, times: u32) {
        self.counter(point).store(times, Ordering::SeqCst);
    }

    /// Takes one armed failure of `point`, if any.
    fn take(&self, point: FailPoint) -> bool {
        self.counter(point)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// An injected store failure at `point`, if one is armed.
    pub(crate) fn hit(&self, point: FailPoint) -> Option<keel_store::Error> {
        self.take(point)
            .then(|| keel_store::Error::Corrupt(format!("injected failure at {point:?}")))
    }

    /// An injected panic message at `point`, if one is armed.
    pub(crate) fn panic_at(&self, point: FailPoint) -> Option<String> {
        self.take(point)
            .then(|| format!("injected panic at {point:?}"))
    }

    /// An injected executor error at `point`, if one is armed.
    pub(crate) fn error(&self, point: FailPoint) -> Option<Error> {
        self.hit(point).map(Error::from)
    }
}
