//! The consumer's client context: rebalances reported to the sensors, client logs through
//! `tracing` (partition EOF is how a reader knows it is done, not an error), and the
//! offsets stored for the next commit, committed on the interval and before a rebalance
//! takes partitions away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_core::log_limit::LogLimiter;
use metrics_core::sensor::{
    AssignmentFailure, AssignmentState, CommitDone, Paired, PartitionOffset, RebalanceState,
    SensorDelegate, TopicPartition,
};
use metrics_core::sync::lock;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Feeds the consumer's rebalance hooks, and keeps the offsets stored for the next commit
/// (committed on the interval by `mod.rs`, and here before partitions are revoked).
pub(crate) struct ConsumerHooks {
    sensors: Arc<SensorDelegate>,
    /// The rebalance under way, from its start to the consumer resuming.
    rebalance: Mutex<Option<Paired<RebalanceState>>>,
    /// The assignment under way, from the group's answer to the consumer taking it.
    assignment: Mutex<Option<Paired<AssignmentState>>>,
    errors: LogLimiter,
    /// Offsets stored for the next commit (the next offset to read), by partition.
    pub(crate) stored: Mutex<HashMap<(String, i32), i64>>,
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
            stored: Mutex::default(),
        }
    }

    /// Commits the stored offsets synchronously (nothing if none are stored), reporting the
    /// commit to the sensors; offsets not committed stay stored for the next commit.
    pub(crate) fn commit_stored<C: Consumer<Self>>(&self, consumer: &C) -> KafkaResult<()> {
        let stored = std::mem::take(&mut *lock(&self.stored));
        if stored.is_empty() {
            return Ok(());
        }
        let started = self.sensors.on_commit_initiated(Instant::now());
        let result = match consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing new to commit since the last commit (the messages' offsets were
            // committed already): no failure.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            other => other,
        };
        if let Some(started) = started {
            started.on_commit_completed(&CommitDone {
                ok: result.is_ok(),
                at: Instant::now(),
            });
        }
        if result.is_ok() {
            let committed: Vec<PartitionOffset<'_>> = stored
                .iter()
                .map(|((topic, partition), offset)| PartitionOffset {
                    tp: TopicPartition {
                        topic,
                        partition: *partition,
                    },
                    offset: *offset,
                })
                .collect();
            self.sensors.on_tp_commit(&committed);
        } else {
            let mut pending = lock(&self.stored);
            for (key, offset) in stored {
                pending.entry(key).or_insert(offset);
            }
        }
        result
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
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let now = Instant::now();
        let mut current = lock(&self.rebalance);
        match rebalance {
            // Partitions are taken away: the rebalance starts. What was processed of them
            // is committed first, so that their next owner does not process it again.
            Rebalance::Revoke(revoked) => {
                if current.is_none() {
                    *current = self.sensors.on_rebalance_start(now);
                }
                drop(current);
                if let Err(error) = self.commit_stored(consumer) {
                    tracing::warn!(%error, "committing processed offsets before a rebalance failed; their next owner processes them again");
                }
                // Offsets of partitions this consumer no longer reads can never be
                // committed by it: drop them, so that no later commit reports them.
                let mut stored = lock(&self.stored);
                for gone in revoked.elements() {
                    stored.remove(&(gone.topic().to_owned(), gone.partition()));
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
