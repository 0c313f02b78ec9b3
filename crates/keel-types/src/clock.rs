//! The one source of "now" for the stores, the control plane and the executor.
//! Production code uses [`SystemClock`]; tests inject a [`ManualClock`] and
//! move it by hand, so that heartbeats, staleness and timestamps are
//! deterministic.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};

/// Tells the time. Timestamps are truncated to microseconds, which is what
/// every store keeps, so a record read back equals the one written.
pub trait Clock: Send + Sync + Debug {
    /// The current time, to the microsecond.
    fn now(&self) -> DateTime<Utc>;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The wall clock as a shared handle.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(ManualClock {
            now: Mutex::new(start.trunc_subsecs(6)),
        })
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = to.trunc_subsecs(6);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.1234567Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = ManualClock::new(start);
        assert_eq!(
            c.now().timestamp_subsec_nanos(),
            123_456_000,
            "truncated to µs"
        );
        let before = c.now();
        c.advance(chrono::Duration::seconds(30));
        assert_eq!(c.now() - before, chrono::Duration::seconds(30));
        let sys = SystemClock.now();
        assert_eq!(sys.timestamp_subsec_nanos() % 1000, 0);
    }
}
