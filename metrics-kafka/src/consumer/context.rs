//! The consumer's client context: rebalances reported to the sensors, client logs through
//! `tracing` (partition EOF is how a reader knows it is done, not an error). Commits are
//! reported where they are made, in `mod.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_core::log_limit::LogLimiter;
use metrics_core::sensor::{
    AssignmentFailure, AssignmentState, Paired, RebalanceState, SensorDelegate,
};
use metrics_core::sync::lock;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Feeds the consumer's rebalance hooks.
pub(crate) struct ConsumerHooks {
    sensors: Arc<SensorDelegate>,
    /// The rebalance under way, from its start to the consumer resuming.
    rebalance: Mutex<Option<Paired<RebalanceState>>>,
    /// The assignment under way, from the group's answer to the consumer taking it.
    assignment: Mutex<Option<Paired<AssignmentState>>>,
    errors: LogLimiter,
}

impl ConsumerHooks {
    /// Hooks reporting to `sensors`, logging a recurring client error once per
    /// `log_interval`.
    pub(crate) fn new(sensors: Arc<SensorDelegate>, log_interval: Duration) -> Self {
        Self {
            sensors,
            rebalance: Mutex::default(),
            assignment: Mutex::default(),
            errors: LogLimiter::new(log_interval),
        }
    }
}

impl ClientContext for ConsumerHooks {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof && let Some(suppressed) = self.errors.should_log() {
            tracing::warn!(target: "librdkafka", %error, reason, suppressed, "kafka consumer error");
        }
    }
}

impl ConsumerContext for ConsumerHooks {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let now = Instant::now();
        let mut current = lock(&self.rebalance);
        match rebalance {
            // Partitions are taken away: the rebalance starts.
            Rebalance::Revoke(_) => {
                if current.is_none() {
                    *current = self.sensors.on_rebalance_start(now);
                }
            }
            // The group answered with the new assignment (the first join starts here).
            Rebalance::Assign(_) => {
                let started = current
                    .take()
                    .or_else(|| self.sensors.on_rebalance_start(now));
                *current = started.map(|s| s.on_rebalance_return(now));
                *lock(&self.assignment) = self.sensors.on_assignment_start(now);
            }
            Rebalance::Error(error) => {
                let started = lock(&self.assignment)
                    .take()
                    .or_else(|| self.sensors.on_assignment_start(now));
                if let Some(started) = started {
                    started.on_assignment_error(&AssignmentFailure { error, at: now });
                }
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(_) | Rebalance::Error(_) => {
                if let Some(assignment) = lock(&self.assignment).take() {
                    assignment.on_assignment_completed(Instant::now());
                }
                // The consumer resumes with its new partitions.
                if let Some(started) = lock(&self.rebalance).take() {
                    started.on_rebalance_end(Instant::now());
                }
            }
            Rebalance::Revoke(_) => {}
        }
    }
}
