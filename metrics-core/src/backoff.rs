//! Capped exponential backoff, the one schedule every retry loop uses.

use std::time::Duration;

/// Delays between retries: `initial`, doubling, never more than `max`.
///
/// ```
/// use std::time::Duration;
/// use metrics_core::backoff::Backoff;
///
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
/// let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
/// assert_eq!(delays, [100, 200, 300, 300]);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    /// A schedule starting at `initial` (at most `max`) and capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial.min(max),
            max,
            attempts: 0,
        }
    }

    /// The delay before the next retry; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        delay
    }

    /// How many delays were handed out.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<u128> = (0..7).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff.attempts(), 7);
    }

    #[test]
    fn never_overflows() {
        let mut backoff = Backoff::new(Duration::MAX, Duration::MAX);
        for _ in 0..100 {
            assert_eq!(backoff.next_delay(), Duration::MAX);
        }
    }

    #[test]
    fn initial_is_capped_by_max() {
        let mut backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
    }
}
