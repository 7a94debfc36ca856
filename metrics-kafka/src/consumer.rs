//! Reads events back: consumes a topic and decodes Confluent-framed Avro through the
//! Schema Registry (schemas cached by id), into apache-avro values or JSON.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use metrics_core::sync::lock;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::framing::{self, FrameError};
use crate::registry::{RegistryError, SchemaRegistry};

/// Why a topic could not be read or an event decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The Kafka consumer failed.
    #[error("kafka consumer error on topic {topic:?}: {reason}")]
    Kafka {
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
    /// The topic was not read to its end in time.
    #[error("topic {topic:?} was not read to its end within {}", humantime::format_duration(*timeout))]
    Timeout {
        /// The topic.
        topic: String,
        /// How long the read waited.
        timeout: Duration,
    },
    /// A message is not Confluent-framed Avro.
    #[error("message is not Confluent-framed Avro")]
    Framing(#[from] FrameError),
    /// The schema of a message could not be fetched.
    #[error("schema {id} of a message could not be fetched: {source}")]
    Registry {
        /// The schema id in the frame.
        id: u32,
        /// The registry's error.
        source: RegistryError,
    },
    /// The Avro body does not match its schema.
    #[error("message with schema {id} could not be decoded: {reason}")]
    Decode {
        /// The schema id in the frame.
        id: u32,
        /// apache-avro's reason.
        reason: String,
    },
}

/// One raw message read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Whether the message had a key (events have none).
    pub has_key: bool,
    /// The value bytes.
    pub payload: Vec<u8>,
}

/// A decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// The schema id from the frame.
    pub schema_id: u32,
    /// The record, as apache-avro decoded it with the registered schema.
    pub value: Value,
}

impl DecodedEvent {
    /// The record as JSON (logical types as their Avro representation).
    pub fn to_json(&self) -> Result<serde_json::Value, ConsumeError> {
        serde_json::Value::try_from(self.value.clone()).map_err(|error| ConsumeError::Decode {
            id: self.schema_id,
            reason: error.to_string(),
        })
    }

    /// Field `name` of the record, if the record has it.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match &self.value {
            Value::Record(fields) => fields
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value),
            _ => None,
        }
    }
}

/// The reader's client context: partition EOF is how the reader knows it is done, not an
/// error to log.
struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::warn!(target: "librdkafka", %error, reason, "kafka consumer error");
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// Consumes event topics and decodes their messages through a Schema Registry.
pub struct EventConsumer {
    consumer: Arc<BaseConsumer<ReaderContext>>,
    registry: Arc<dyn SchemaRegistry>,
    schemas: Mutex<HashMap<u32, Arc<Schema>>>,
}

impl std::fmt::Debug for EventConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConsumer")
            .field("registry", &self.registry.location())
            .finish_non_exhaustive()
    }
}

impl EventConsumer {
    /// A consumer of the cluster `kafka` describes, decoding through `registry`.
    pub fn from_config(
        kafka: &KafkaConfig,
        registry: Arc<dyn SchemaRegistry>,
    ) -> Result<Self, KafkaError> {
        Self::new(&kafka.client_properties(), registry)
    }

    /// A consumer with these Kafka client `properties` (at least `bootstrap.servers`; the
    /// security settings of the cluster), decoding through `registry`.
    pub fn new(
        properties: &BTreeMap<String, String>,
        registry: Arc<dyn SchemaRegistry>,
    ) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("group.id", "app-metrics-reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("allow.auto.create.topics", "false");
        for (key, value) in properties {
            config.set(key, value);
        }
        let consumer = config.create_with_context(ReaderContext)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            registry,
            schemas: Mutex::default(),
        })
    }

    /// Reads every message of `topic` from the beginning to the current end of each
    /// partition (partition EOF, which works where high watermarks are unreliable).
    pub async fn read_to_end(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Vec<RawMessage>, ConsumeError> {
        let consumer = Arc::clone(&self.consumer);
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || read_blocking(&consumer, &topic, timeout))
            .await
            .unwrap_or_else(|error| {
                Err(ConsumeError::Kafka {
                    topic: String::new(),
                    reason: error.to_string(),
                })
            })
    }

    /// Decodes one Confluent-framed message value.
    pub async fn decode(&self, payload: &[u8]) -> Result<DecodedEvent, ConsumeError> {
        let (id, mut body) = framing::split(payload)?;
        let schema = self.schema(id).await?;
        let decode_error = |error: apache_avro::Error| ConsumeError::Decode {
            id,
            reason: error.to_string(),
        };
        let reader = GenericDatumReader::builder(&schema)
            .build()
            .map_err(decode_error)?;
        let value = reader.read_value(&mut body).map_err(decode_error)?;
        if !body.is_empty() {
            return Err(ConsumeError::Decode {
                id,
                reason: format!("{} bytes left after the record", body.len()),
            });
        }
        Ok(DecodedEvent {
            schema_id: id,
            value,
        })
    }

    async fn schema(&self, id: u32) -> Result<Arc<Schema>, ConsumeError> {
        if let Some(schema) = lock(&self.schemas).get(&id) {
            return Ok(Arc::clone(schema));
        }
        let text = self
            .registry
            .schema_by_id(id)
            .await
            .map_err(|source| ConsumeError::Registry { id, source })?;
        let schema = Arc::new(
            Schema::parse_str(&text).map_err(|error| ConsumeError::Decode {
                id,
                reason: error.to_string(),
            })?,
        );
        lock(&self.schemas).insert(id, Arc::clone(&schema));
        Ok(schema)
    }
}

fn read_blocking(
    consumer: &BaseConsumer<ReaderContext>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<RawMessage>, ConsumeError> {
    let kafka = |error: KafkaError| ConsumeError::Kafka {
        topic: topic.to_owned(),
        reason: error.to_string(),
    };
    let deadline = Instant::now() + timeout;
    // A topic just created (or auto-created) may show no partitions for a moment: ask
    // again until it does, within the timeout.
    let partitions = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let metadata = consumer
            .fetch_metadata(Some(topic), remaining.max(Duration::from_millis(100)))
            .map_err(kafka)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if !partitions.is_empty() {
            break partitions;
        }
        if Instant::now() >= deadline {
            return Err(ConsumeError::Kafka {
                topic: topic.to_owned(),
                reason: format!(
                    "the topic has no partitions (waited {})",
                    humantime::format_duration(timeout)
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        assignment
            .add_partition_offset(topic, *partition, Offset::Beginning)
            .map_err(kafka)?;
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let mut at_end = HashSet::new();
    let mut messages = Vec::new();
    while at_end.len() < partitions.len() {
        if Instant::now() >= deadline {
            return Err(ConsumeError::Timeout {
                topic: topic.to_owned(),
                timeout,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => messages.push(RawMessage {
                partition: message.partition(),
                offset: message.offset(),
                has_key: message.key().is_some(),
                payload: message.payload().unwrap_or_default().to_vec(),
            }),
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(error)) => return Err(kafka(error)),
        }
    }
    consumer.unassign().map_err(kafka)?;
    Ok(messages)
}
