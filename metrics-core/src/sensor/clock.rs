//! The clock sensors read: the system's, or a manual one that tests move by hand.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// A source of monotonic time, injectable so that rates and health checks can be tested
/// without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Instant;

    /// The current time to within a few milliseconds, for stamps read often and only
    /// compared in seconds (the last delivery): cheaper than [`now`](Self::now) where
    /// the system keeps a coarse clock. The same as `now` by default.
    fn recent(&self) -> Instant {
        self.now()
    }
}

/// The system's monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// Linux's coarse monotonic clock (the time of the last scheduler tick, read without
    /// the hardware counter), placed on `Instant`'s scale: within one tick (at most 10 ms)
    /// of `now`, either side.
    #[cfg(target_os = "linux")]
    fn recent(&self) -> Instant {
        /// An `Instant` and the coarse clock read together, to place later coarse readings.
        static BASE: std::sync::LazyLock<(Instant, Duration)> =
            std::sync::LazyLock::new(|| (Instant::now(), coarse_monotonic()));
        let (instant, coarse) = *BASE;
        instant + coarse_monotonic().saturating_sub(coarse)
    }
}

/// `CLOCK_MONOTONIC_COARSE`: the same clock as `Instant`'s, as of the last tick.
#[cfg(target_os = "linux")]
fn coarse_monotonic() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the call only writes it (through the
    // vDSO: no system call), and cannot fail for this clock id on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// A clock that only moves when told to.
///
/// ```
/// use std::time::Duration;
/// use metrics_core::sensor::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now() - start, Duration::from_secs(2));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Instant>,
}

impl ManualClock {
    /// A clock reading the current time, frozen.
    pub fn new() -> Self {
        Self {
            now: Mutex::new(Instant::now()),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *lock(&self.now)
    }
}
