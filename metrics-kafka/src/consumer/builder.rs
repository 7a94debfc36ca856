//! Building an [`EventConsumer`]: its cluster, registry, topics, group and sensors, then
//! the subscription (with a group) or the assignment of every partition (without one).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_core::sensor::SensorDelegate;
use rdkafka::consumer::{Consumer, StreamConsumer};

use super::context::ConsumerHooks;
use super::{ConsumeError, EventConsumer, EventDecoder, Inner, Timers, client_error};
use crate::blocking::blocking;
use crate::config::to_client_config;
use crate::registry::SchemaRegistry;

/// Where a consumer starts in a partition it has no committed offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartAt {
    /// The oldest message kept.
    Beginning,
    /// After the newest message: only what is written from now on.
    End,
    /// The last `n` messages of each partition (without a group; with one, like `End`).
    Last(u32),
}

/// Builds an [`EventConsumer`]: its cluster, registry, topics, group and sensors.
#[must_use = "call .build() to get the consumer"]
pub struct EventConsumerBuilder {
    properties: BTreeMap<String, String>,
    registry: Arc<dyn SchemaRegistry>,
    sensors: Arc<SensorDelegate>,
    topics: Vec<String>,
    group: Option<String>,
    start: StartAt,
    stop_at_end: bool,
    commit_interval: Duration,
    end_offsets_interval: Option<Duration>,
    metadata_timeout: Duration,
    log_interval: Duration,
}

impl std::fmt::Debug for EventConsumerBuilder {
    /// The client properties by name only: their values may hold a SASL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConsumerBuilder")
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field("topics", &self.topics)
            .field("group", &self.group)
            .field("start", &self.start)
            .field("stop_at_end", &self.stop_at_end)
            .field("commit_interval", &self.commit_interval)
            .finish_non_exhaustive()
    }
}

impl EventConsumerBuilder {
    /// The defaults: no group, start at the end, wait for new messages, no sensors.
    pub(super) fn new(
        properties: BTreeMap<String, String>,
        registry: Arc<dyn SchemaRegistry>,
    ) -> Self {
        Self {
            properties,
            registry,
            sensors: Arc::new(SensorDelegate::new()),
            topics: Vec::new(),
            group: None,
            start: StartAt::End,
            stop_at_end: false,
            commit_interval: Duration::from_secs(5),
            end_offsets_interval: Some(Duration::from_secs(10)),
            metadata_timeout: Duration::from_secs(10),
            log_interval: Duration::from_secs(300),
        }
    }

    /// Reads `topic` (call again for more topics).
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Reads `topic` instead of the topics given so far: another application's topic
    /// with the settings `make_consumer` read.
    pub fn only_topic(mut self, topic: impl Into<String>) -> Self {
        self.topics = vec![topic.into()];
        self
    }

    /// Joins consumer group `group`: the group shares out the partitions, and offsets
    /// are committed every [`commit_interval`](Self::commit_interval) once the
    /// application is done with a message. Without a group, the consumer reads every
    /// partition and commits nothing.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Where to start without a committed offset (default: [`StartAt::End`]).
    pub fn start_at(mut self, start: StartAt) -> Self {
        self.start = start;
        self
    }

    /// Stop (`recv` answers `None`) once every partition is read to its current end,
    /// instead of waiting for new messages. One topic only.
    pub fn stop_at_end(mut self, stop: bool) -> Self {
        self.stop_at_end = stop;
        self
    }

    /// Reports to the application's sensor hub, as given to `make_manager` and
    /// `setup_monitoring` (default: a private, empty hub).
    pub fn sensors(mut self, sensors: Arc<SensorDelegate>) -> Self {
        self.sensors = sensors;
        self
    }

    /// How often processed offsets are committed, with a group (default 5 s).
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// How often the end offsets of the assigned partitions are fetched for the lag
    /// figures (default 10 s; `None`: only by [`EventConsumer::refresh_end_offsets`]).
    pub fn end_offsets_interval(mut self, interval: Option<Duration>) -> Self {
        self.end_offsets_interval = interval;
        self
    }

    /// How long to wait for a topic's partitions (default 10 s).
    pub fn metadata_timeout(mut self, timeout: Duration) -> Self {
        self.metadata_timeout = timeout;
        self
    }

    /// Sets a Kafka client property (e.g. `session.timeout.ms`).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Creates the consumer and subscribes (with a group) or assigns every partition of
    /// the topics (without one, after waiting up to the metadata timeout for them).
    ///
    /// # Errors
    ///
    /// No topic, `stop_at_end` with several topics, a client the Kafka library refuses, a
    /// topic without partitions.
    pub async fn build(self) -> Result<EventConsumer, ConsumeError> {
        if self.topics.is_empty() {
            return Err(ConsumeError::Settings(
                "no topic to read: call .topic(...)".into(),
            ));
        }
        if self.stop_at_end && self.topics.len() > 1 {
            return Err(ConsumeError::Settings(
                "stop_at_end reads one topic: partition ends do not name their topic".into(),
            ));
        }
        let group = self.group.clone();
        let start = match self.start {
            StartAt::Beginning => "earliest",
            StartAt::End | StartAt::Last(_) => "latest",
        };
        let mut properties: BTreeMap<String, String> = [
            (
                "group.id",
                group
                    .as_deref()
                    .unwrap_or("app-metrics-reader-without-group"),
            ),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
            ("allow.auto.create.topics", "false"),
            ("auto.offset.reset", start),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // The application's properties come last and win.
        properties.extend(self.properties);
        let hooks = ConsumerHooks::new(Arc::clone(&self.sensors), self.log_interval);
        let consumer: StreamConsumer<ConsumerHooks> = to_client_config(properties)
            .create_with_context(hooks)
            .map_err(client_error("create the consumer"))?;
        let inner = Arc::new(Inner {
            consumer,
            decoder: EventDecoder::with_sensors(self.registry, Arc::clone(&self.sensors)),
            sensors: self.sensors,
            topics: self.topics,
            grouped: group.is_some(),
            stop_at_end: self.stop_at_end,
            commit_interval: self.commit_interval,
            end_offsets_interval: self.end_offsets_interval,
            metadata_timeout: self.metadata_timeout,
            assigned: Mutex::default(),
            at_end: Mutex::default(),
            timers: Mutex::new(Timers {
                committed: Instant::now(),
                end_offsets: Instant::now(),
            }),
            committing: AtomicBool::new(false),
            messages: AtomicU64::new(0),
            decode_failures: AtomicU64::new(0),
        });
        if inner.grouped {
            let topics: Vec<&str> = inner.topics.iter().map(String::as_str).collect();
            inner
                .consumer
                .subscribe(&topics)
                .map_err(client_error(format!("subscribe to {topics:?}")))?;
        } else {
            let assign = Arc::clone(&inner);
            let start = self.start;
            blocking(move || assign.assign_all(start)).await?;
        }
        Ok(EventConsumer { inner })
    }
}
