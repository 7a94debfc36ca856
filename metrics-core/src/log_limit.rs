//! Logs a recurring problem at most once per interval, without a lock on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Decides whether a recurring problem should be logged now (at most once per interval)
/// and counts how many occurrences were suppressed in between.
#[derive(Debug)]
pub struct LogLimiter {
    origin: Instant,
    interval: Duration,
    /// Milliseconds after `origin` of the last log, plus one (0 = never logged).
    last_logged: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    /// A limiter that allows one log per `interval` (`METRICS_BACKOFF_INTERVAL`).
    pub fn new(interval: Duration) -> Self {
        Self {
            origin: Instant::now(),
            interval,
            last_logged: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` if the caller should log now, where `n` occurrences were suppressed since
    /// the previous log; `None` if this occurrence should only be counted.
    pub fn should_log(&self) -> Option<u64> {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let last = self.last_logged.load(Ordering::Relaxed);
        let interval = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        let due = last == 0 || now.saturating_sub(last) >= interval;
        if due
            && self
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_interval_and_counts_the_rest() {
        let limiter = LogLimiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.should_log(), Some(0));
        assert_eq!(limiter.should_log(), None);
        assert_eq!(limiter.should_log(), None);
        assert_eq!(limiter.suppressed.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn logs_again_after_the_interval() {
        let limiter = LogLimiter::new(Duration::ZERO);
        assert_eq!(limiter.should_log(), Some(0));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(limiter.should_log(), Some(0));
    }
}
