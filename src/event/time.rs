//! The run's clock: a wall-clock start for the record and a monotonic elapsed time for every
//! duration, so that a clock change during an incident cannot bend the RTO.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// When the run started, both ways.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) started_at: DateTime<Utc>,
    started: Instant,
}

impl Clock {
    #[must_use]
    pub(crate) fn start() -> Self {
        Self {
            started_at: Utc::now(),
            started: Instant::now(),
        }
    }

    /// The clock of a run that started at `started_at` and is resumed now: it keeps counting
    /// from the original start.
    #[must_use]
    pub(crate) fn resumed(started_at: DateTime<Utc>) -> Self {
        let behind = (Utc::now() - started_at).to_std().unwrap_or_default();
        let now = Instant::now();
        Self {
            started_at,
            started: now.checked_sub(behind).unwrap_or(now),
        }
    }

    /// The monotonic instant of the start.
    #[must_use]
    pub(crate) fn instant(&self) -> Instant {
        self.started
    }

    /// Time since the start.
    #[must_use]
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Milliseconds in a `u64`, saturating.
#[must_use]
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
