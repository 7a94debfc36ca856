//! Reads events back: an rdkafka consumer that subscribes with a group (offsets
//! committed) or assigns partitions without one, decodes Confluent-framed Avro through the
//! Schema Registry (`decoder`), renders any schema as JSON (`json`), and feeds the consumer
//! hooks of the sensors. `docs/architecture.md` follows a message through it.

mod builder;
mod context;
mod decoder;
mod json;
mod received;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_core::sensor::{
    Clock as _, PartitionOffset, SensorDelegate, SystemClock, TopicPartition,
};
use metrics_core::sync::lock;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::blocking::{Unanswered, blocking};
use crate::config::KafkaConfig;
use crate::registry::{MemorySchemaRegistry, SchemaRegistry};
use context::ConsumerHooks;

/// How long `recv` waits for a message before it looks at partition ends and due commits
/// again.
const HOUSEKEEPING_TICK: Duration = Duration::from_millis(200);

pub use builder::{EventConsumerBuilder, StartAt};
pub use decoder::{DecodedEvent, EventDecoder, ValueDecodeError, WriterSchema};
pub use received::{MessageError, RawMessage, Received};

/// Why the consumer could not be set up or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The Kafka client refused an operation.
    #[error("kafka consumer: cannot {action}: {source}")]
    Client {
        /// What was attempted.
        action: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// The topic has no partitions (it does not exist) after waiting.
    #[error("topic {topic:?} has no partitions (waited {}): does it exist?", humantime::format_duration(*waited))]
    NoPartitions {
        /// The topic.
        topic: String,
        /// How long the consumer waited for them.
        waited: Duration,
    },
    /// The topic was not read to its end in time.
    #[error("topic {topic:?} was not read to its end within {}", humantime::format_duration(*timeout))]
    Timeout {
        /// The topic.
        topic: String,
        /// How long the read waited.
        timeout: Duration,
    },
    /// The builder's settings do not go together.
    #[error("consumer settings: {0}")]
    Settings(String),
    /// The Kafka or registry settings are invalid.
    #[error(transparent)]
    Config(#[from] metrics_core::ConfigError),
    /// The registry client could not be set up.
    #[error("cannot set up the Schema Registry client: {0}")]
    Registry(#[source] crate::registry::RegistryError),
    /// A blocking Kafka client call panicked or was cancelled.
    #[error("kafka consumer: a blocking client call panicked or was cancelled")]
    Unanswered,
}

fn client_error(action: impl Into<String>) -> impl FnOnce(KafkaError) -> ConsumeError {
    let action = action.into();
    move |source| ConsumeError::Client { action, source }
}

/// Consumes event topics and decodes their messages through a Schema Registry.
///
/// ```no_run
/// use std::sync::Arc;
/// use metrics_kafka::config::KafkaConfig;
/// use metrics_kafka::consumer::{EventConsumer, StartAt};
/// use metrics_kafka::registry::MemorySchemaRegistry;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let kafka = KafkaConfig::builder().bootstrap_servers(["127.0.0.1:9092"]).build()?;
/// let consumer = EventConsumer::builder(&kafka, Arc::new(MemorySchemaRegistry::new()))
///     .topic("lsst.square.metrics.events.myapp")
///     .group("myapp-reader")
///     .start_at(StartAt::Beginning)
///     .build()
///     .await?;
/// while let Some(message) = consumer.recv().await? {
///     match message.decode().await {
///         Ok(event) => println!("{}", event.to_json()),
///         Err(error) => eprintln!("{error}"), // partition, offset and why; the next one follows
///     }
/// } // each message dropped is done: its offset is committed with the next commit
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct EventConsumer {
    inner: Arc<Inner>,
}

struct Inner {
    consumer: StreamConsumer<ConsumerHooks>,
    decoder: EventDecoder,
    sensors: Arc<SensorDelegate>,
    topics: Vec<String>,
    grouped: bool,
    stop_at_end: bool,
    commit_interval: Duration,
    end_offsets_interval: Option<Duration>,
    metadata_timeout: Duration,
    /// Partitions assigned without a group.
    assigned: Mutex<Vec<(String, i32)>>,
    /// Partitions read to their end (and nothing read since).
    at_end: Mutex<HashSet<i32>>,
    timers: Mutex<Timers>,
    committing: AtomicBool,
    /// Messages handed out.
    messages: AtomicU64,
    /// Messages that did not decode.
    pub(crate) decode_failures: AtomicU64,
}

struct Timers {
    committed: Instant,
    end_offsets: Instant,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConsumer")
            .field("topics", &self.topics)
            .field("grouped", &self.grouped)
            .finish_non_exhaustive()
    }
}

impl Unanswered for ConsumeError {
    fn unanswered() -> Self {
        Self::Unanswered
    }
}

impl EventConsumer {
    /// A consumer of the cluster `kafka` describes (TLS and SASL included), decoding
    /// through `registry`.
    pub fn builder(kafka: &KafkaConfig, registry: Arc<dyn SchemaRegistry>) -> EventConsumerBuilder {
        Self::with_properties(kafka.client_properties(), registry)
    }

    /// A consumer with these Kafka client `properties` (at least `bootstrap.servers`),
    /// decoding through `registry`.
    pub fn with_properties(
        properties: BTreeMap<String, String>,
        registry: Arc<dyn SchemaRegistry>,
    ) -> EventConsumerBuilder {
        EventConsumerBuilder::new(properties, registry)
    }

    /// The next message; `None` once every partition is read to its end when the
    /// consumer stops there. Decode it with [`Received::decode`] or
    /// [`Received::decode_as`]; dropping it marks it done (its offset is committed with
    /// the next commit, with a group).
    ///
    /// # Errors
    ///
    /// The Kafka client failed (not a message that does not decode: that is the
    /// message's own error).
    pub async fn recv(&self) -> Result<Option<Received>, ConsumeError> {
        let inner = &self.inner;
        loop {
            inner.housekeeping();
            if inner.stop_at_end && inner.all_at_end() {
                return Ok(None);
            }
            // A message already fetched is taken at once (no timer to set up); otherwise
            // wake now and then while none comes: partition ends arrive as messages do,
            // and the offsets of messages processed meanwhile are committed on their
            // interval, not only when the next message arrives.
            let message = match ready_now(inner.consumer.recv()) {
                Some(message) => message,
                None => {
                    match tokio::time::timeout(HOUSEKEEPING_TICK, inner.consumer.recv()).await {
                        Ok(message) => message,
                        Err(_) => continue,
                    }
                }
            };
            match message {
                Ok(message) => {
                    inner.messages.fetch_add(1, Ordering::Relaxed);
                    if inner.stop_at_end {
                        lock(&inner.at_end).remove(&message.partition());
                    }
                    let raw = RawMessage {
                        topic: message.topic().to_owned(),
                        partition: message.partition(),
                        offset: message.offset(),
                        timestamp: message.timestamp().to_millis(),
                        has_key: message.key().is_some(),
                        payload: message.payload().unwrap_or_default().to_vec(),
                    };
                    return Ok(Some(Received::new(Arc::clone(inner), raw)));
                }
                Err(KafkaError::PartitionEOF(partition)) => {
                    lock(&inner.at_end).insert(partition);
                }
                Err(error) => return Err(client_error("read a message")(error)),
            }
        }
    }

    /// How many messages `recv` handed out.
    pub fn messages(&self) -> u64 {
        self.inner.messages.load(Ordering::Relaxed)
    }

    /// How many decode attempts failed (the sensors count them by kind).
    pub fn decode_failures(&self) -> u64 {
        self.inner.decode_failures.load(Ordering::Relaxed)
    }

    /// The decoder this consumer uses (schemas cached by id).
    pub fn decoder(&self) -> &EventDecoder {
        &self.inner.decoder
    }

    /// Fetches the end offset (high watermark) of each assigned partition and reports it
    /// to the sensors, for the lag figures. Runs every `end_offsets_interval` on its own.
    ///
    /// # Errors
    ///
    /// The Kafka client could not answer.
    pub async fn refresh_end_offsets(&self) -> Result<(), ConsumeError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.end_offsets()).await
    }

    /// Commits the offsets of the messages processed so far, now (with a group; nothing
    /// without one).
    ///
    /// # Errors
    ///
    /// The broker refused the commit.
    pub async fn commit(&self) -> Result<(), ConsumeError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.commit_now()).await
    }

    /// Commits what was processed and leaves the group.
    ///
    /// # Errors
    ///
    /// The final commit failed.
    pub async fn close(self) -> Result<(), ConsumeError> {
        self.commit().await?;
        // Dropping the last handle closes the client, which leaves the group at once (the
        // group need not wait for a session timeout to hand its partitions on).
        let Self { inner } = self;
        let started = Instant::now();
        blocking(move || {
            drop(inner);
            Ok::<(), ConsumeError>(())
        })
        .await?;
        tracing::debug!(took = ?started.elapsed(), "consumer closed");
        Ok(())
    }
}

impl Inner {
    /// Assigns every partition of the topics, starting at `start`.
    fn assign_all(&self, start: StartAt) -> Result<(), ConsumeError> {
        let mut list = TopicPartitionList::new();
        let mut assigned = Vec::new();
        for topic in &self.topics {
            for partition in self.partitions(topic)? {
                let offset = match start {
                    StartAt::Beginning => Offset::Beginning,
                    StartAt::End => Offset::End,
                    StartAt::Last(n) => Offset::OffsetTail(i64::from(n)),
                };
                list.add_partition_offset(topic, partition, offset)
                    .map_err(client_error(format!("assign {topic} [{partition}]")))?;
                assigned.push((topic.clone(), partition));
            }
        }
        self.consumer
            .assign(&list)
            .map_err(client_error("assign the partitions"))?;
        *lock(&self.assigned) = assigned;
        Ok(())
    }

    /// The partitions of `topic`, waiting (bounded) for a topic just created to show some.
    fn partitions(&self, topic: &str) -> Result<Vec<i32>, ConsumeError> {
        let deadline = Instant::now() + self.metadata_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let metadata = self
                .consumer
                .fetch_metadata(Some(topic), remaining.max(Duration::from_millis(100)))
                .map_err(client_error(format!("read the metadata of {topic}")))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if !partitions.is_empty() {
                return Ok(partitions);
            }
            if Instant::now() >= deadline {
                return Err(ConsumeError::NoPartitions {
                    topic: topic.to_owned(),
                    waited: self.metadata_timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The partitions this consumer reads now.
    fn current_partitions(&self) -> Vec<(String, i32)> {
        if !self.grouped {
            return lock(&self.assigned).clone();
        }
        self.consumer
            .assignment()
            .map(|list| {
                list.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn all_at_end(&self) -> bool {
        // Asked before every read: only look up the partitions once one has ended.
        if lock(&self.at_end).is_empty() {
            return false;
        }
        let partitions = self.current_partitions();
        let at_end = lock(&self.at_end);
        !partitions.is_empty() && partitions.iter().all(|(_, p)| at_end.contains(p))
    }

    /// A message is done: store its offset for the next commit.
    fn done(&self, topic: &str, partition: i32, offset: i64) {
        if !self.grouped {
            return;
        }
        match self.consumer.store_offset(topic, partition, offset) {
            Ok(()) => {
                lock(&self.consumer.context().stored)
                    .insert((topic.to_owned(), partition), offset + 1);
            }
            // The partition was revoked meanwhile: its new owner reads it again.
            Err(error) => tracing::debug!(%error, topic, partition, "offset not stored"),
        }
    }

    /// Commits stored offsets if the interval passed, and refreshes end offsets if due,
    /// in the background.
    fn housekeeping(self: &Arc<Self>) {
        // Intervals of a second or more: the coarse clock is precise enough, and this
        // runs for every message.
        let now = SystemClock.recent();
        let (commit, end_offsets) = {
            let mut timers = lock(&self.timers);
            let commit = self.grouped && now - timers.committed >= self.commit_interval;
            if commit {
                timers.committed = now;
            }
            let end_offsets = self
                .end_offsets_interval
                .is_some_and(|interval| now - timers.end_offsets >= interval);
            if end_offsets {
                timers.end_offsets = now;
            }
            (commit, end_offsets)
        };
        if commit
            && !lock(&self.consumer.context().stored).is_empty()
            && !self.committing.swap(true, Ordering::AcqRel)
        {
            let inner = Arc::clone(self);
            tokio::task::spawn_blocking(move || {
                if let Err(error) = inner.commit_now() {
                    tracing::warn!(%error, "committing consumed offsets failed; retried at the next interval");
                }
            });
        }
        if end_offsets {
            let inner = Arc::clone(self);
            tokio::task::spawn_blocking(move || {
                if let Err(error) = inner.end_offsets() {
                    tracing::debug!(%error, "end offsets not refreshed");
                }
            });
        }
    }

    /// Commits the stored offsets synchronously, reporting the commit to the sensors.
    fn commit_now(&self) -> Result<(), ConsumeError> {
        let result = self
            .consumer
            .context()
            .commit_stored(&self.consumer)
            .map_err(client_error("commit the consumed offsets"));
        self.committing.store(false, Ordering::Release);
        result
    }

    /// Fetches and reports the end offset of each partition read.
    fn end_offsets(&self) -> Result<(), ConsumeError> {
        for (topic, partition) in self.current_partitions() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&topic, partition, self.metadata_timeout)
                .map_err(client_error(format!(
                    "read the end offset of {topic} [{partition}]"
                )))?;
            self.sensors.track_tp_end_offset(&PartitionOffset {
                tp: TopicPartition {
                    topic: &topic,
                    partition,
                },
                offset: high,
            });
        }
        Ok(())
    }
}

/// Every message of `topic` from the beginning to the current end of each partition,
/// undecoded, through a consumer with these client `properties` (without a group).
///
/// # Errors
///
/// The topic has no partitions, the client failed, or the end was not reached within
/// `timeout`.
pub async fn read_to_end(
    properties: BTreeMap<String, String>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<RawMessage>, ConsumeError> {
    let read = async {
        let consumer =
            EventConsumer::with_properties(properties, Arc::new(MemorySchemaRegistry::new()))
                .topic(topic)
                .start_at(StartAt::Beginning)
                .stop_at_end(true)
                .end_offsets_interval(None)
                .metadata_timeout(timeout)
                .build()
                .await?;
        let mut messages = Vec::new();
        while let Some(received) = consumer.recv().await? {
            messages.push(received.message().clone());
        }
        Ok(messages)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| {
            Err(ConsumeError::Timeout {
                topic: topic.to_owned(),
                timeout,
            })
        })
}

/// Polls `future` once: its output if it is ready now, `None` (and the future dropped)
/// otherwise. For a cancel-safe future.
fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}
