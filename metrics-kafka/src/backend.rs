//! The Kafka event backend: schema registration, topic checks, and Confluent-framed Avro
//! publishing through the rdkafka producer.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use metrics_core::backend::BoxFuture;
use metrics_core::config::{CompatibilityLevel, MetricsConfig};
use metrics_core::{
    DeliveryReport, EventBackend, EventDescriptor, EventError, EventSink, OutgoingEvent,
};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};
use tokio::sync::oneshot;

use crate::producer::{DeliveryStats, EventProducer, KafkaProducer};
use crate::registry::{
    HttpRegistryConfig, HttpSchemaRegistry, MemorySchemaRegistry, RegistryError, SchemaRegistry,
};
use crate::topic::{self, TopicSpec, TopicState};

/// The Confluent wire format's magic byte.
pub const MAGIC_BYTE: u8 = 0;

thread_local! {
    /// Each publishing thread encodes into its own reused buffer: no lock, no allocation
    /// once it has grown to the largest event.
    static FRAME: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// How the Kafka backend behaves beyond the [`MetricsConfig`].
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Create the topic when it is missing (development; `KAFKA_CREATE_TOPICS`).
    pub create_topic: Option<TopicSpec>,
    /// Compatibility level to set on each subject (`SCHEMA_MANAGER_COMPATIBILITY`).
    pub compatibility: Option<CompatibilityLevel>,
    /// How long a Metadata request may take.
    pub metadata_timeout: Duration,
}

impl KafkaOptions {
    /// The options the configuration implies.
    pub fn from_config(config: &MetricsConfig) -> Self {
        Self {
            create_topic: config.kafka().create_topics().then(TopicSpec::default),
            compatibility: config.schema_manager().compatibility(),
            metadata_timeout: Duration::from_secs(10),
        }
    }
}

/// Publishes events to Kafka with schemas in a Schema Registry.
pub struct KafkaBackend {
    /// `None` once closed. Sinks hold a `Weak`, so closing really releases an owned producer.
    producer: Mutex<Option<KafkaProducer>>,
    stats: Arc<DeliveryStats>,
    registry: Arc<dyn SchemaRegistry>,
    topic: String,
    options: KafkaOptions,
    admin_config: ClientConfig,
    owns_producer: bool,
}

impl fmt::Debug for KafkaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBackend")
            .field("topic", &self.topic)
            .field("registry", &self.registry.location())
            .field("owns_producer", &self.owns_producer)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn admin_config(config: &MetricsConfig) -> ClientConfig {
    let mut admin = ClientConfig::new();
    for (key, value) in config.kafka().librdkafka_properties() {
        // Producer-only settings would make the admin client warn.
        if !matches!(
            key.as_str(),
            "delivery.timeout.ms" | "queue.buffering.max.messages"
        ) {
            admin.set(key, value);
        }
    }
    admin
}

impl KafkaBackend {
    /// The backend the configuration describes: a producer for `KAFKA_BOOTSTRAP_SERVERS`
    /// and the registry at `SCHEMA_MANAGER_REGISTRY_URL`, or, with neither set, the
    /// embedded development stack (an in-process broker and an in-memory registry).
    pub fn from_config(config: &MetricsConfig) -> Result<Self, EventError> {
        let registry: Arc<dyn SchemaRegistry> = match config.schema_manager().registry_url() {
            Some(url) => {
                let manager = config.schema_manager();
                let http = HttpRegistryConfig {
                    url: url.to_owned(),
                    auth: manager.auth().cloned(),
                    ca_path: manager.registry_ca_path().map(ToOwned::to_owned),
                    connect_timeout: manager.connect_timeout(),
                    request_timeout: manager.request_timeout(),
                    max_retries: manager.max_retries(),
                };
                Arc::new(HttpSchemaRegistry::new(http).map_err(|error| {
                    EventError::RegistrySetup {
                        reason: error.to_string(),
                    }
                })?)
            }
            // The configuration allows this only without bootstrap servers: the embedded stack.
            None => Arc::new(MemorySchemaRegistry::new()),
        };
        Self::new(config, registry)
    }

    /// A backend that creates (and so owns, and closes) its producer.
    pub fn new(
        config: &MetricsConfig,
        registry: Arc<dyn SchemaRegistry>,
    ) -> Result<Self, EventError> {
        let client_id = format!("app-metrics-{}", config.application());
        let producer =
            KafkaProducer::from_config(config.kafka(), &client_id, config.backoff_interval())
                .map_err(|error| EventError::Kafka {
                    reason: format!("cannot create the Kafka producer: {error}"),
                })?;
        Ok(Self::build(config, producer, registry, true))
    }

    /// A backend publishing through a producer the application owns: closing the manager
    /// flushes it but leaves it open.
    pub fn with_producer(
        config: &MetricsConfig,
        producer: KafkaProducer,
        registry: Arc<dyn SchemaRegistry>,
    ) -> Self {
        Self::build(config, producer, registry, false)
    }

    fn build(
        config: &MetricsConfig,
        producer: KafkaProducer,
        registry: Arc<dyn SchemaRegistry>,
        owns: bool,
    ) -> Self {
        Self {
            stats: Arc::clone(producer.stats()),
            producer: Mutex::new(Some(producer)),
            registry,
            topic: config.topic(),
            options: KafkaOptions::from_config(config),
            admin_config: admin_config(config),
            owns_producer: owns,
        }
    }

    /// Replaces the options (topic creation, compatibility level, metadata timeout).
    pub fn with_options(mut self, options: KafkaOptions) -> Self {
        self.options = options;
        self
    }

    /// Delivery counters.
    pub fn stats(&self) -> &Arc<DeliveryStats> {
        &self.stats
    }

    /// The Schema Registry the backend registers schemas in.
    pub fn registry(&self) -> &Arc<dyn SchemaRegistry> {
        &self.registry
    }

    /// The producer, until the backend is closed.
    pub fn producer(&self) -> Option<KafkaProducer> {
        self.producer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn open_producer(&self) -> Result<KafkaProducer, EventError> {
        self.producer().ok_or(EventError::Closed {
            name: String::new(),
        })
    }

    /// Checks the topic, creating it first when that is allowed (always on the embedded
    /// broker, a development stack).
    async fn ensure_topic(&self) -> Result<(), EventError> {
        let producer = self.open_producer()?;
        let topic = self.topic.clone();
        let timeout = self.options.metadata_timeout;
        let state = blocking({
            let (producer, topic) = (producer.clone(), topic.clone());
            move || topic::topic_state(&producer, &topic, timeout)
        })
        .await?;
        if state == TopicState::Ready {
            return Ok(());
        }
        let spec = match (self.options.create_topic, producer.is_embedded()) {
            (Some(spec), _) => spec,
            (None, true) => TopicSpec::default(),
            (None, false) => return Err(topic::missing_topic(&topic)),
        };
        topic::create_topic(&producer, &self.admin_config, &topic, spec).await?;
        blocking(move || topic::await_topic(&producer, &topic, timeout)).await
    }
}

/// Runs blocking rdkafka work (metadata, flush) off the async worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EventError> + Send + 'static,
) -> Result<T, EventError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| {
            Err(EventError::Kafka {
                reason: format!("a blocking Kafka task failed: {error}"),
            })
        })
}

fn registry_error(subject: &str, error: RegistryError) -> EventError {
    match error {
        RegistryError::Incompatible {
            subject, messages, ..
        } => EventError::IncompatibleSchema { subject, messages },
        other => EventError::Registry {
            subject: subject.to_owned(),
            reason: other.to_string(),
        },
    }
}

impl EventBackend for KafkaBackend {
    fn initialize(&self) -> BoxFuture<'_, Result<(), EventError>> {
        Box::pin(self.ensure_topic())
    }

    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
        let event = event.clone();
        Box::pin(async move {
            self.ensure_topic().await?;
            let schema_id = self
                .registry
                .register_checked(&event.subject, &event.schema, self.options.compatibility)
                .await
                .map_err(|error| registry_error(&event.subject, error))?;
            tracing::debug!(event = %event.name, subject = %event.subject, schema_id, "registered event schema");
            let producer = self.open_producer()?;
            Ok(Arc::new(KafkaSink {
                name: event.name,
                topic: event.topic.to_string(),
                header: frame_header(schema_id),
                schema_id,
                producer: Arc::downgrade(&producer.inner),
                stats: Arc::clone(&self.stats),
            }) as Arc<dyn EventSink>)
        })
    }

    fn flush(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        let producer = self.producer();
        Box::pin(async move {
            let Some(producer) = producer else {
                return Ok(DeliveryReport::default());
            };
            blocking(move || Ok(flush(&producer, timeout))).await
        })
    }

    fn close(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        let producer = self
            .producer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let owned = self.owns_producer;
        Box::pin(async move {
            let Some(producer) = producer else {
                return Ok(DeliveryReport::default());
            };
            blocking(move || {
                let report = flush(&producer, timeout);
                if owned {
                    // Dropping the last handle stops the polling thread and closes the
                    // connections; a producer handed in by the application stays open.
                    drop(producer);
                }
                Ok(report)
            })
            .await
        })
    }
}

fn flush(producer: &KafkaProducer, timeout: Duration) -> DeliveryReport {
    if let Err(error) = producer.producer().flush(timeout) {
        tracing::debug!(%error, "flush did not complete");
    }
    DeliveryReport {
        undelivered: producer.in_flight(),
    }
}

/// The Confluent framing header: magic byte, then the schema id as a big-endian u32.
pub fn frame_header(schema_id: u32) -> [u8; 5] {
    let id = schema_id.to_be_bytes();
    [MAGIC_BYTE, id[0], id[1], id[2], id[3]]
}

/// The sink of one event type: a pre-built topic and framing header.
struct KafkaSink {
    name: String,
    topic: String,
    header: [u8; 5],
    schema_id: u32,
    producer: Weak<EventProducer>,
    stats: Arc<DeliveryStats>,
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("schema_id", &self.schema_id)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    fn enqueue_error(&self, error: &KafkaError) -> EventError {
        let reason = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::QueueFull) => {
                "the producer queue is full (KAFKA_QUEUE_MAX_MESSAGES); the broker is unreachable or too slow".to_owned()
            }
            _ => error.to_string(),
        };
        EventError::Enqueue {
            name: self.name.clone(),
            reason,
        }
    }

    /// Frames and enqueues one event with `waiter` as its delivery opaque.
    fn enqueue(&self, event: &dyn OutgoingEvent, waiter: usize) -> Result<(), EventError> {
        let Some(producer) = self.producer.upgrade() else {
            self.stats.count_dropped();
            return Err(EventError::Closed {
                name: self.name.clone(),
            });
        };
        FRAME.with_borrow_mut(|frame| {
            frame.clear();
            frame.extend_from_slice(&self.header);
            event.encode_avro(frame);
            let record = BaseRecord::<(), [u8], usize>::with_opaque_to(&self.topic, waiter)
                .payload(frame.as_slice());
            match producer.send(record) {
                Ok(()) => {
                    self.stats.count_enqueued();
                    Ok(())
                }
                Err((error, _)) => {
                    self.stats.count_dropped();
                    Err(self.enqueue_error(&error))
                }
            }
        })
    }
}

impl EventSink for KafkaSink {
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        self.enqueue(event, 0)
    }

    fn send_confirmed(
        &self,
        event: &dyn OutgoingEvent,
    ) -> BoxFuture<'static, Result<(), EventError>> {
        let name = self.name.clone();
        let Some(producer) = self.producer.upgrade() else {
            return Box::pin(async move { Err(EventError::Closed { name }) });
        };
        let (sender, receiver) = oneshot::channel();
        let waiter = producer.context().add_waiter(sender);
        if let Err(error) = self.enqueue(event, waiter) {
            producer.context().remove_waiter(waiter);
            return Box::pin(async move { Err(error) });
        }
        Box::pin(async move {
            match receiver.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(reason)) => Err(EventError::Delivery { name, reason }),
                Err(_) => Err(EventError::Delivery {
                    name,
                    reason: "the producer closed before the broker answered".into(),
                }),
            }
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
