//! The failure policy in one place: which errors reach the caller, which are retried in
//! the background, and how long start-up waits. The manager and every backend ask it;
//! see `docs/architecture.md` ("Failure policy").

use std::time::Duration;

use crate::backoff::Backoff;
use crate::config::MetricsConfig;
use crate::error::EventError;
use crate::log_limit::LogLimiter;

/// The first wait between background retries; later waits double up to
/// `METRICS_RETRY_MAX_BACKOFF`.
const RETRY_INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Resilient (the default) or strict (`METRICS_RAISE_ON_ERROR=true`) handling of failures.
///
/// ```
/// use metrics_core::config::MetricsConfig;
/// use metrics_core::policy::FailurePolicy;
/// use metrics_core::{BackendError, ErrorKind, EventError};
///
/// let config = MetricsConfig::builder("app").build()?;
/// let policy = FailurePolicy::from_config(&config);
/// let outage: EventError =
///     BackendError::new(ErrorKind::Unavailable, std::io::Error::other("registry down")).into();
/// assert!(!policy.surfaces(&outage));
/// assert!(policy.retries_in_background(&outage));
/// # Ok::<(), metrics_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FailurePolicy {
    raise_on_error: bool,
    backoff_interval: Duration,
    startup_timeout: Duration,
    retry_max_backoff: Duration,
}

impl FailurePolicy {
    /// The policy the settings describe.
    pub fn from_config(config: &MetricsConfig) -> Self {
        Self {
            raise_on_error: config.raise_on_error(),
            backoff_interval: config.backoff_interval(),
            startup_timeout: config.startup_timeout(),
            retry_max_backoff: config.retry_max_backoff(),
        }
    }

    /// Strict mode: every error is returned.
    pub fn raise_on_error(&self) -> bool {
        self.raise_on_error
    }

    /// Whether the caller gets `error` back: always in strict mode, and for usage errors
    /// in every mode. Otherwise it is logged (rate-limited) and counted.
    pub fn surfaces(&self, error: &EventError) -> bool {
        self.raise_on_error || error.is_usage_error()
    }

    /// Whether a failed start-up step (topic check, schema registration) carries on in the
    /// background instead of failing: in resilient mode, for transient errors.
    pub fn retries_in_background(&self, error: &EventError) -> bool {
        !self.raise_on_error && error.is_transient()
    }

    /// How long a start-up step may wait before carrying on in the background; `None` in
    /// strict mode, which waits for the real answer.
    pub fn startup_wait(&self) -> Option<Duration> {
        (!self.raise_on_error).then_some(self.startup_timeout)
    }

    /// The schedule of background retries.
    pub fn retry_backoff(&self) -> Backoff {
        Backoff::new(RETRY_INITIAL_BACKOFF, self.retry_max_backoff)
    }

    /// A limiter for one recurring problem: one log line per `METRICS_BACKOFF_INTERVAL`.
    pub fn log_limiter(&self) -> LogLimiter {
        LogLimiter::new(self.backoff_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{BackendError, ErrorKind};

    fn error(kind: ErrorKind) -> EventError {
        BackendError::new(kind, std::io::Error::other("x")).into()
    }

    fn policy(strict: bool) -> FailurePolicy {
        let config = MetricsConfig::builder("app")
            .raise_on_error(strict)
            .build()
            .unwrap();
        FailurePolicy::from_config(&config)
    }

    #[test]
    fn resilient_mode_hides_infrastructure_errors_and_retries_outages() {
        let p = policy(false);
        assert!(!p.surfaces(&error(ErrorKind::Unavailable)));
        assert!(!p.surfaces(&error(ErrorKind::Delivery)));
        assert!(p.surfaces(&error(ErrorKind::Schema)));
        assert!(p.retries_in_background(&error(ErrorKind::Unavailable)));
        assert!(!p.retries_in_background(&error(ErrorKind::Topic)));
        assert_eq!(p.startup_wait(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn strict_mode_surfaces_everything_and_retries_nothing() {
        let p = policy(true);
        for kind in ErrorKind::ALL {
            assert!(p.surfaces(&error(kind)));
            assert!(!p.retries_in_background(&error(kind)));
        }
        assert_eq!(p.startup_wait(), None);
    }

    #[test]
    fn retries_start_at_half_a_second() {
        let mut backoff = policy(false).retry_backoff();
        assert_eq!(backoff.next_delay(), Duration::from_millis(500));
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
    }
}
