//! `HealthMonitor`: turns the Monitor's figures into a health report against thresholds,
//! and calls an alert hook when a check starts or stops failing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Monitor;
use metrics_core::sync::lock;
use serde::Serialize;

use crate::config::MonitoringConfig;

/// The thresholds of the health checks; a zero turns its check off (`max_error_rate` of 1
/// never fails).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthThresholds {
    /// Fraction of events failing between two checks.
    pub max_error_rate: f64,
    /// Events waiting for the broker.
    pub max_queue_depth: u64,
    /// How long nothing may be delivered while events wait.
    pub max_delivery_age: Duration,
    /// Unread messages in a consumed partition.
    pub max_consumer_lag: u64,
    /// Resident memory of the process, in bytes.
    pub max_memory_bytes: u64,
    /// The error rate is measured over the last one to two of these.
    pub window: Duration,
}

impl HealthThresholds {
    /// The thresholds the monitoring settings give.
    pub fn from_config(config: &MonitoringConfig) -> Self {
        Self {
            max_error_rate: config.max_error_rate(),
            max_queue_depth: config.max_queue_depth(),
            max_delivery_age: config.max_delivery_age(),
            max_consumer_lag: config.max_consumer_lag(),
            max_memory_bytes: config.max_memory_mb().saturating_mul(1024 * 1024),
            window: config.health_check_interval(),
        }
    }
}

/// One health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheck {
    /// Too many events fail.
    ErrorRate,
    /// Too many events wait for the broker.
    QueueDepth,
    /// Events wait and nothing was delivered for too long.
    Delivery,
    /// A consumer is too far behind.
    ConsumerLag,
    /// The process uses too much memory.
    Memory,
}

/// A failing check and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthIssue {
    /// The check.
    pub check: HealthCheck,
    /// What is wrong, with the figure and the threshold.
    pub message: String,
}

/// The figures the checks looked at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthFigures {
    /// Fraction of events that failed since the previous check.
    pub error_rate: f64,
    /// Events waiting for the broker.
    pub queue_depth: u64,
    /// Seconds since the broker last acknowledged an event.
    pub seconds_since_last_delivery: Option<f64>,
    /// The largest lag of a consumed partition.
    pub max_consumer_lag: Option<i64>,
    /// Resident memory of the process in bytes, where it can be read.
    pub memory_bytes: Option<u64>,
}

/// The answer of `/health`: healthy or not, the failing checks, the figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// Whether every check passes.
    pub healthy: bool,
    /// The failing checks.
    pub issues: Vec<HealthIssue>,
    /// What the checks looked at.
    pub figures: HealthFigures,
}

/// A check started failing (`failing`) or passes again.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthAlert {
    /// The check.
    pub check: HealthCheck,
    /// Whether it fails now.
    pub failing: bool,
    /// Why it fails, or that it recovered.
    pub message: String,
}

type AlertHook = Box<dyn Fn(&HealthAlert) + Send + Sync>;

/// No events, at start.
fn zero() -> Counts {
    Counts {
        at: Instant::now(),
        sent: 0,
        failed: 0,
    }
}
type MemoryProbe = Box<dyn Fn() -> Option<u64> + Send + Sync>;

/// Sent and failed counts at an instant.
#[derive(Clone, Copy)]
struct Counts {
    at: Instant,
    sent: u64,
    failed: u64,
}

struct State {
    /// The error rate is measured since `older`; `newer` replaces it once it is a window
    /// old, so that the rate covers between one and two windows however often `/health`
    /// is asked.
    older: Counts,
    newer: Counts,
    /// The checks failing at the last check, and why.
    failing: BTreeMap<HealthCheck, String>,
}

/// Checks the pipeline's health against [`HealthThresholds`].
///
/// [`check`](Self::check) computes a fresh [`HealthReport`] and calls the alert hook once
/// for each check that turned bad and once for each that cleared;
/// [`spawn`](Self::spawn) runs it every `check_interval`.
///
/// ```
/// use std::sync::Arc;
/// use metrics_monitor::Monitor;
/// use metrics_monitor::{HealthMonitor, HealthThresholds};
///
/// use std::time::Duration;
///
/// let thresholds = HealthThresholds {
///     max_error_rate: 0.1,
///     max_queue_depth: 1000,
///     max_delivery_age: Duration::from_secs(60),
///     max_consumer_lag: 0,
///     max_memory_bytes: 0,
///     window: Duration::from_secs(10),
/// };
/// let health = HealthMonitor::new(Arc::new(Monitor::new()), thresholds);
/// health.on_change(|alert| eprintln!("{:?} failing: {}", alert.check, alert.failing));
/// assert!(health.check().healthy);
/// ```
pub struct HealthMonitor {
    monitor: Arc<Monitor>,
    thresholds: HealthThresholds,
    started: Instant,
    state: Mutex<State>,
    /// Taken before `state` by `check` and `on_change`: a hook added while a check runs
    /// sees each change once.
    hooks: Mutex<Vec<AlertHook>>,
    memory: MemoryProbe,
}

impl std::fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthMonitor")
            .field("thresholds", &self.thresholds)
            .finish_non_exhaustive()
    }
}

impl HealthMonitor {
    /// Checks the figures of `monitor` against `thresholds`.
    pub fn new(monitor: Arc<Monitor>, thresholds: HealthThresholds) -> Self {
        Self {
            monitor,
            thresholds,
            started: Instant::now(),
            state: Mutex::new(State {
                older: zero(),
                newer: zero(),
                failing: BTreeMap::new(),
            }),
            hooks: Mutex::new(Vec::new()),
            memory: Box::new(|| memory_stats::memory_stats().map(|m| m.physical_mem as u64)),
        }
    }

    /// Reads the process's memory with `probe` instead (tests).
    pub fn with_memory_probe(
        mut self,
        probe: impl Fn() -> Option<u64> + Send + Sync + 'static,
    ) -> Self {
        self.memory = Box::new(probe);
        self
    }

    /// Calls `hook` when a check starts or stops failing, after the hooks added before
    /// it. A check already failing is reported to the new hook at once, so a hook added
    /// after the checks started does not miss a failure that began earlier.
    pub fn on_change(&self, hook: impl Fn(&HealthAlert) + Send + Sync + 'static) {
        let mut hooks = lock(&self.hooks);
        for (check, message) in &lock(&self.state).failing {
            hook(&HealthAlert {
                check: *check,
                failing: true,
                message: message.clone(),
            });
        }
        hooks.push(Box::new(hook));
    }

    /// Runs every check now.
    pub fn check(&self) -> HealthReport {
        let t = &self.thresholds;
        let snapshot = self.monitor.snapshot();
        let hooks = lock(&self.hooks);
        let mut state = lock(&self.state);
        let now = Counts {
            at: Instant::now(),
            sent: snapshot.messages_sent,
            failed: snapshot.send_errors,
        };
        if now.at.saturating_duration_since(state.newer.at) >= t.window {
            state.older = state.newer;
            state.newer = now;
        }
        let attempts = now.sent.saturating_sub(state.older.sent);
        let failures = now.failed.saturating_sub(state.older.failed);
        let figures = HealthFigures {
            error_rate: if attempts == 0 {
                0.0
            } else {
                failures as f64 / attempts as f64
            },
            queue_depth: snapshot.messages_in_flight,
            seconds_since_last_delivery: snapshot.seconds_since_last_delivery,
            max_consumer_lag: snapshot.partitions.iter().filter_map(|p| p.lag).max(),
            memory_bytes: (self.memory)(),
        };

        let mut issues = Vec::new();
        if t.max_error_rate < 1.0 && figures.error_rate > t.max_error_rate {
            issues.push(HealthIssue {
                check: HealthCheck::ErrorRate,
                message: format!(
                    "{failures} of {attempts} recent events failed ({:.1}%, more than {:.1}%)",
                    figures.error_rate * 100.0,
                    t.max_error_rate * 100.0
                ),
            });
        }
        if t.max_queue_depth > 0 && figures.queue_depth > t.max_queue_depth {
            issues.push(HealthIssue {
                check: HealthCheck::QueueDepth,
                message: format!(
                    "{} events wait for the broker (more than {})",
                    figures.queue_depth, t.max_queue_depth
                ),
            });
        }
        if !t.max_delivery_age.is_zero() && figures.queue_depth > 0 {
            let age = figures
                .seconds_since_last_delivery
                .map_or_else(|| self.started.elapsed(), Duration::from_secs_f64);
            if age > t.max_delivery_age {
                issues.push(HealthIssue {
                    check: HealthCheck::Delivery,
                    message: format!(
                        "{} events wait and nothing was delivered for {:.1}s (more than {:.1}s): is the broker down?",
                        figures.queue_depth,
                        age.as_secs_f64(),
                        t.max_delivery_age.as_secs_f64()
                    ),
                });
            }
        }
        if t.max_consumer_lag > 0
            && let Some(lag) = figures.max_consumer_lag
            && lag as u64 > t.max_consumer_lag
        {
            issues.push(HealthIssue {
                check: HealthCheck::ConsumerLag,
                message: format!(
                    "a consumed partition is {lag} messages behind (more than {})",
                    t.max_consumer_lag
                ),
            });
        }
        if t.max_memory_bytes > 0
            && let Some(bytes) = figures.memory_bytes
            && bytes > t.max_memory_bytes
        {
            issues.push(HealthIssue {
                check: HealthCheck::Memory,
                message: format!(
                    "the process uses {} MiB (more than {} MiB)",
                    bytes / (1024 * 1024),
                    t.max_memory_bytes / (1024 * 1024)
                ),
            });
        }

        let now_failing: BTreeMap<HealthCheck, String> = issues
            .iter()
            .map(|i| (i.check, i.message.clone()))
            .collect();
        let mut alerts = Vec::new();
        for issue in &issues {
            if !state.failing.contains_key(&issue.check) {
                alerts.push(HealthAlert {
                    check: issue.check,
                    failing: true,
                    message: issue.message.clone(),
                });
            }
        }
        for cleared in state.failing.keys() {
            if !now_failing.contains_key(cleared) {
                alerts.push(HealthAlert {
                    check: *cleared,
                    failing: false,
                    message: format!("{cleared:?} is healthy again"),
                });
            }
        }
        state.failing = now_failing;
        drop(state);
        for alert in &alerts {
            if alert.failing {
                tracing::warn!(check = ?alert.check, message = %alert.message, "metrics pipeline unhealthy");
            } else {
                tracing::info!(check = ?alert.check, "metrics pipeline healthy again");
            }
            for hook in hooks.iter() {
                hook(alert);
            }
        }
        drop(hooks);
        HealthReport {
            healthy: issues.is_empty(),
            issues,
            figures,
        }
    }

    /// Runs [`check`](Self::check) every `interval` on the current tokio runtime until the
    /// returned task is aborted.
    pub fn spawn(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let health = Arc::clone(self);
        crate::setup::spawn_every(interval, move || {
            health.check();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_core::ErrorKind;
    use metrics_core::sensor::{
        Delivered, MessageIn, PartitionOffset, SendFailure, SendInfo, Sensor, TopicPartition,
    };

    /// One event type for every hook call of these tests.
    static KEY: std::sync::LazyLock<metrics_core::sensor::EventKey> =
        std::sync::LazyLock::new(metrics_core::sensor::EventKey::new);

    fn thresholds() -> HealthThresholds {
        HealthThresholds {
            max_error_rate: 0.2,
            max_queue_depth: 5,
            max_delivery_age: Duration::from_millis(1),
            max_consumer_lag: 10,
            max_memory_bytes: 100 * 1024 * 1024,
            window: Duration::from_millis(200),
        }
    }

    fn send(monitor: &Monitor) -> metrics_core::sensor::SendState {
        monitor
            .on_send_initiated(&SendInfo {
                key: *KEY,
                topic: "t",
                event: "e",
                key_size: 0,
                value_size: 1,
                at: Instant::now(),
            })
            .unwrap()
    }

    #[test]
    fn each_check_fails_beyond_its_threshold_and_alerts_once_each_way() {
        let monitor = Arc::new(Monitor::new());
        let health = HealthMonitor::new(monitor.clone(), thresholds())
            .with_memory_probe(|| Some(200 * 1024 * 1024));
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&alerts);
        health.on_change(move |alert| seen.lock().unwrap().push((alert.check, alert.failing)));

        // Ten events wait (queue depth), for longer than allowed (delivery); half of the
        // next ones fail (error rate); a partition lags; memory is too high.
        let waiting: Vec<_> = (0..10).map(|_| send(&monitor)).collect();
        std::thread::sleep(Duration::from_millis(5));
        let error = std::io::Error::other("timed out");
        for state in &waiting[..5] {
            monitor
                .on_send_error(
                    *state,
                    &SendFailure {
                        key: *KEY,
                        topic: "t",
                        event: "e",
                        kind: ErrorKind::Delivery,
                        error: &error,
                        at: Instant::now(),
                    },
                )
                .unwrap();
        }
        let tp = TopicPartition {
            topic: "t",
            partition: 0,
        };
        monitor
            .on_message_in(&MessageIn {
                tp,
                offset: 4,
                size: 1,
                at: Instant::now(),
            })
            .unwrap();
        monitor
            .track_tp_end_offset(&PartitionOffset { tp, offset: 100 })
            .unwrap();

        let report = health.check();
        assert!(!report.healthy);
        let checks: Vec<HealthCheck> = report.issues.iter().map(|i| i.check).collect();
        assert_eq!(
            checks,
            [
                HealthCheck::ErrorRate,
                HealthCheck::Delivery,
                HealthCheck::ConsumerLag,
                HealthCheck::Memory
            ]
        );
        assert_eq!(report.figures.queue_depth, 5);
        assert_eq!(report.figures.max_consumer_lag, Some(95));
        assert!((report.figures.error_rate - 0.5).abs() < 1e-9);
        health.check();
        assert_eq!(
            alerts.lock().unwrap().len(),
            4,
            "no second alert while still failing"
        );

        // Everything recovers.
        for state in &waiting[5..] {
            monitor
                .on_send_completed(
                    *state,
                    &Delivered {
                        key: *KEY,
                        topic: "t",
                        event: "e",
                        partition: 0,
                        offset: 0,
                        at: Instant::now(),
                    },
                )
                .unwrap();
        }
        monitor
            .on_message_in(&MessageIn {
                tp,
                offset: 99,
                size: 1,
                at: Instant::now(),
            })
            .unwrap();
        let health = health.with_memory_probe(|| Some(1));
        // The failures leave the error-rate window after one to two windows.
        std::thread::sleep(Duration::from_millis(250));
        health.check();
        std::thread::sleep(Duration::from_millis(250));
        let report = health.check();
        assert!(report.healthy, "{report:?}");
        let alerts = alerts.lock().unwrap();
        assert_eq!(
            alerts.iter().filter(|(_, failing)| !failing).count(),
            4,
            "{alerts:?}"
        );
    }

    #[test]
    fn the_queue_depth_check_counts_waiting_events() {
        let monitor = Arc::new(Monitor::new());
        let mut t = thresholds();
        t.max_delivery_age = Duration::ZERO;
        let health = HealthMonitor::new(monitor.clone(), t).with_memory_probe(|| None);
        for _ in 0..6 {
            send(&monitor);
        }
        let report = health.check();
        assert_eq!(report.issues.len(), 1, "{report:?}");
        assert_eq!(report.issues[0].check, HealthCheck::QueueDepth);
        assert!(report.issues[0].message.contains("6 events wait"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["issues"][0]["check"], "queue_depth");
        assert_eq!(json["healthy"], false);
    }

    #[test]
    fn a_hook_added_after_a_failure_began_learns_of_it_at_once() {
        let monitor = Arc::new(Monitor::new());
        let health = HealthMonitor::new(monitor.clone(), thresholds())
            .with_memory_probe(|| Some(200 * 1024 * 1024));
        let early = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&early);
        health.on_change(move |alert| seen.lock().unwrap().push((alert.check, alert.failing)));
        assert!(!health.check().healthy, "memory is over its threshold");

        let late = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&late);
        health.on_change(move |alert| {
            seen.lock()
                .unwrap()
                .push((alert.check, alert.failing, alert.message.clone()))
        });
        {
            let late = late.lock().unwrap();
            assert_eq!(late.len(), 1, "{late:?}");
            assert_eq!((late[0].0, late[0].1), (HealthCheck::Memory, true));
            assert!(late[0].2.contains("200 MiB"), "{}", late[0].2);
        }
        // Still failing: no hook hears it again.
        health.check();
        assert_eq!(late.lock().unwrap().len(), 1);
        assert_eq!(*early.lock().unwrap(), [(HealthCheck::Memory, true)]);
    }
}
