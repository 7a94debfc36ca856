//! The Kafka event backend: construction, the [`EventBackend`] operations, flush and
//! close. Registration lives in `registration`, the per-event sink in `sink`; the failure
//! policy they follow is described in `docs/architecture.md`.

// Registration belongs to the backend: it works on the backend's state.
#[path = "registration.rs"]
mod registration;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use metrics_core::backend::{BoxFuture, SchemaCheck};
use metrics_core::config::MetricsConfig;
use metrics_core::policy::FailurePolicy;
use metrics_core::sync::lock;
use metrics_core::{
    DeliveryReport, ErrorChain, EventBackend, EventDescriptor, EventError, EventSink,
};

use crate::blocking::blocking;
use crate::config::{self, KafkaConfig, RegistryConfig};
use crate::consumer::{ConsumeError, EventConsumer, EventConsumerBuilder};
use crate::error::Error;
use crate::producer::{DeliveryStats, KafkaProducer};
use crate::registry::{self, SchemaRegistry};
use crate::sink::{KafkaSink, Settled, SinkParts};
use registration::retry_in_background;

/// Publishes events to Kafka with schemas in a Schema Registry.
///
/// ```no_run
/// use std::sync::Arc;
/// use metrics_core::{EventManager, MetricsConfig};
/// use metrics_kafka::KafkaBackend;
/// use metrics_kafka::config::{KafkaConfig, RegistryConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let metrics = MetricsConfig::builder("myapp").build()?;
/// let kafka = KafkaConfig::builder().bootstrap_servers(["kafka:9092"]).build()?;
/// let registry = RegistryConfig::builder().url("http://registry:8081").build()?;
/// let backend = KafkaBackend::from_config(&metrics, &kafka, &registry)?;
/// let manager = EventManager::new(&metrics, Arc::new(backend), Arc::default());
/// manager.initialize().await?;
/// # Ok(()) }
/// ```
pub struct KafkaBackend {
    inner: Arc<BackendInner>,
}

pub(crate) struct BackendInner {
    /// `None` once closed. Sinks hold a `Weak`, so closing really releases an owned producer.
    producer: Mutex<Option<KafkaProducer>>,
    stats: Arc<DeliveryStats>,
    pub(crate) registry: Arc<dyn SchemaRegistry>,
    pub(crate) topic: String,
    pub(crate) policy: FailurePolicy,
    pub(crate) kafka: KafkaConfig,
    /// The registry settings: subject names and the compatibility level to set.
    pub(crate) registry_settings: RegistryConfig,
    owns_producer: bool,
    /// Every sink created, to count and flush what they hold.
    sinks: Mutex<Vec<Weak<KafkaSink>>>,
    /// Set after a transient start-up failure: later publishers skip the start-up wait.
    degraded: AtomicBool,
    pub(crate) closed: AtomicBool,
}

impl fmt::Debug for KafkaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBackend")
            .field("topic", &self.inner.topic)
            .field("registry", &self.inner.registry.location())
            .field("owns_producer", &self.inner.owns_producer)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`KafkaBackend`]: its settings, and optionally a registry client or a
/// producer the application owns.
#[must_use = "call .build() to get the backend"]
pub struct KafkaBackendBuilder {
    metrics: MetricsConfig,
    kafka: KafkaConfig,
    registry: RegistryConfig,
    client: Option<Arc<dyn SchemaRegistry>>,
    producer: Option<KafkaProducer>,
}

impl KafkaBackendBuilder {
    /// The Kafka settings (default: the embedded development broker).
    pub fn kafka(mut self, kafka: &KafkaConfig) -> Self {
        self.kafka = kafka.clone();
        self
    }

    /// The registry settings (default: the embedded in-memory registry).
    pub fn registry(mut self, registry: &RegistryConfig) -> Self {
        self.registry = registry.clone();
        self
    }

    /// A registry client to use instead of the one the registry settings describe.
    pub fn registry_client(mut self, client: Arc<dyn SchemaRegistry>) -> Self {
        self.client = Some(client);
        self
    }

    /// A producer the application owns: closing the manager flushes it but leaves it open
    /// (Safir's `manage_kafka_broker`).
    pub fn producer(mut self, producer: KafkaProducer) -> Self {
        self.producer = Some(producer);
        self
    }

    /// Checks the settings, connects the registry client and creates the producer.
    ///
    /// # Errors
    ///
    /// Every configuration problem ([`EventError::Config`]), a registry client that cannot
    /// be set up, or a producer the Kafka client refuses (e.g. an unreadable CA file).
    pub fn build(self) -> Result<KafkaBackend, EventError> {
        // A producer handed in already knows its brokers.
        config::check_with(&self.kafka, &self.registry, self.producer.is_none())?;
        let registry = match self.client {
            Some(client) => client,
            None => registry::connect(&self.registry).map_err(Error::RegistryClient)?,
        };
        let (producer, owns_producer) = match self.producer {
            Some(producer) => (producer, false),
            None => {
                let client_id = format!("app-metrics-{}", self.metrics.application());
                let producer = KafkaProducer::from_config(
                    &self.kafka,
                    &client_id,
                    self.metrics.backoff_interval(),
                )
                .map_err(Error::Producer)?;
                (producer, true)
            }
        };
        Ok(KafkaBackend {
            inner: Arc::new(BackendInner {
                stats: Arc::clone(producer.stats()),
                producer: Mutex::new(Some(producer)),
                registry,
                topic: self.metrics.topic(),
                policy: FailurePolicy::from_config(&self.metrics),
                kafka: self.kafka,
                registry_settings: self.registry,
                owns_producer,
                sinks: Mutex::default(),
                degraded: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
        })
    }
}

impl KafkaBackend {
    /// A builder for `metrics`; give it [`kafka`](KafkaBackendBuilder::kafka) settings
    /// with brokers (or the embedded development broker, chosen explicitly) or a
    /// [`producer`](KafkaBackendBuilder::producer). The registry defaults to the in-memory
    /// one, which only the embedded broker may use.
    pub fn builder(metrics: &MetricsConfig) -> KafkaBackendBuilder {
        KafkaBackendBuilder {
            metrics: metrics.clone(),
            kafka: KafkaConfig::builder().build_unchecked(),
            registry: RegistryConfig::builder().build_unchecked(),
            client: None,
            producer: None,
        }
    }

    /// The backend the settings describe: a producer for `KAFKA_BOOTSTRAP_SERVERS` and the
    /// registry at `SCHEMA_MANAGER_REGISTRY_URL`, or, with `KAFKA_BOOTSTRAP_SERVERS=embedded`
    /// and no registry URL, the embedded development stack (an in-process broker and an
    /// in-memory registry).
    ///
    /// # Errors
    ///
    /// As [`KafkaBackendBuilder::build`].
    pub fn from_config(
        metrics: &MetricsConfig,
        kafka: &KafkaConfig,
        registry: &RegistryConfig,
    ) -> Result<Self, EventError> {
        Self::builder(metrics)
            .kafka(kafka)
            .registry(registry)
            .build()
    }

    /// A consumer of this backend's topic on its cluster (the embedded development broker
    /// included), decoding through its registry client, with its cluster settings. It
    /// reports to no sensor until `.sensors(..)` (`consumer_of` gives it the manager's).
    ///
    /// # Errors
    ///
    /// The backend was closed (its embedded broker with it).
    pub fn consumer(&self) -> Result<EventConsumerBuilder, ConsumeError> {
        let inner = &self.inner;
        let mut kafka = inner.kafka.clone();
        if kafka.is_embedded() {
            let bootstrap = self
                .producer()
                .and_then(|p| p.embedded_bootstrap_servers())
                .ok_or_else(|| {
                    ConsumeError::Settings(
                        "the manager was closed, and its embedded broker with it".into(),
                    )
                })?;
            kafka = kafka.to_builder().bootstrap_servers([bootstrap]).build()?;
        }
        Ok(EventConsumer::builder(&kafka, Arc::clone(&inner.registry)).topic(inner.topic.clone()))
    }

    /// Delivery counters.
    pub fn stats(&self) -> &Arc<DeliveryStats> {
        &self.inner.stats
    }

    /// The Schema Registry the backend registers schemas in.
    pub fn registry(&self) -> &Arc<dyn SchemaRegistry> {
        &self.inner.registry
    }

    /// The producer, until the backend is closed.
    pub fn producer(&self) -> Option<KafkaProducer> {
        self.inner.producer()
    }

    /// Events held by publishers whose schema is not registered yet.
    pub fn held_events(&self) -> u64 {
        self.inner.held_events()
    }
}

impl BackendInner {
    fn producer(&self) -> Option<KafkaProducer> {
        lock(&self.producer).clone()
    }

    pub(crate) fn open_producer(&self) -> Result<KafkaProducer, EventError> {
        self.producer().ok_or(EventError::Closed {
            name: String::new(),
        })
    }

    fn live_sinks(&self) -> Vec<Arc<KafkaSink>> {
        let mut sinks = lock(&self.sinks);
        sinks.retain(|sink| sink.strong_count() > 0);
        sinks.iter().filter_map(Weak::upgrade).collect()
    }

    fn held_events(&self) -> u64 {
        // Asked at every step of a flush: counted under the lock, without a list.
        lock(&self.sinks)
            .iter()
            .filter_map(Weak::upgrade)
            .map(|sink| sink.held() as u64)
            .sum()
    }

    /// Waits until nothing is held or in flight, or `timeout` passes.
    fn flush_blocking(
        &self,
        producer: Option<&KafkaProducer>,
        timeout: Duration,
    ) -> DeliveryReport {
        let deadline = Instant::now() + timeout;
        loop {
            let held = self.held_events();
            let in_flight = producer.map_or(0, KafkaProducer::in_flight);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if held + in_flight == 0 || remaining.is_zero() {
                return DeliveryReport {
                    undelivered: held + in_flight,
                    dropped: self.stats.take_dropped(),
                };
            }
            match producer {
                // Held events become in-flight once registration succeeds: wait in short
                // steps so both are seen. Each step makes the producer send at once
                // (ignoring linger) and serves delivery reports for up to a millisecond;
                // the producer's own thread serves them too, so a longer step would only
                // add idle time after the last acknowledgement.
                Some(producer) if in_flight > 0 => {
                    use rdkafka::producer::Producer as _;
                    let _ = producer.producer().flush(remaining.min(FLUSH_STEP));
                }
                _ => std::thread::sleep(remaining.min(Duration::from_millis(50))),
            }
        }
    }
}

/// How long one step of a flush waits for delivery reports.
const FLUSH_STEP: Duration = Duration::from_millis(1);

impl EventBackend for KafkaBackend {
    fn initialize(&self) -> BoxFuture<'_, Result<(), EventError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let result = inner
                .within_startup_wait("topic check", inner.ensure_topic())
                .await;
            if let Err(error) = &result
                && error.is_transient()
            {
                inner.degraded.store(true, Ordering::Relaxed);
            }
            result
        })
    }

    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
        let event = event.clone();
        Box::pin(async move {
            let inner = &self.inner;
            let producer = inner.open_producer()?;
            let sink = KafkaSink::new(SinkParts {
                event: event.name.clone(),
                topic: event.topic.to_string(),
                subject: inner.registry_settings.subject(&event.topic, &event.name),
                producer: Arc::downgrade(&producer.inner),
                stats: Arc::clone(&inner.stats),
                sensors: Arc::new(event.sink_sensors()),
                max_held: inner.kafka.queue_max_messages(),
                delivery_timeout: inner.kafka.delivery_timeout(),
                retry_log: inner.policy.log_limiter(),
            });
            drop(producer);
            let degraded = inner.degraded.load(Ordering::Relaxed);
            let first = if degraded && inner.policy.startup_wait().is_some() {
                Err(Error::Degraded.into())
            } else {
                inner
                    .within_startup_wait("schema registration", inner.prepare(&sink, &event.schema))
                    .await
            };
            match first {
                Ok(id) => {
                    sink.settle(Settled::Ready(id));
                    tracing::debug!(event = %event.name, subject = %sink.subject_name(), schema_id = id, "registered event schema");
                }
                Err(error) if inner.policy.retries_in_background(&error) => {
                    inner.degraded.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %ErrorChain(&error), event = %event.name, "event schema not registered yet: events are held and registration continues in the background");
                    tokio::spawn(retry_in_background(
                        Arc::downgrade(inner),
                        Arc::downgrade(&sink),
                        event.schema.clone(),
                        inner.policy.retry_backoff(),
                    ));
                }
                Err(error) => return Err(error),
            }
            lock(&inner.sinks).push(Arc::downgrade(&sink));
            Ok(sink as Arc<dyn EventSink>)
        })
    }

    fn check_schema(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<SchemaCheck, EventError>> {
        let subject = self
            .inner
            .registry_settings
            .subject(&event.topic, &event.name);
        let (name, schema) = (event.name.clone(), event.schema.clone());
        Box::pin(async move {
            let verdict = self
                .inner
                .schema_verdict(&subject, &schema)
                .await
                .map_err(|source| Error::Registration {
                    event: name.clone(),
                    subject: subject.clone(),
                    source,
                })?;
            Ok(SchemaCheck {
                event: name,
                subject: Some(subject),
                verdict,
            })
        })
    }

    fn flush(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            blocking(move || {
                let producer = inner.producer();
                Ok(inner.flush_blocking(producer.as_ref(), timeout))
            })
            .await
        })
    }

    fn close(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            blocking(move || {
                let producer = inner.producer();
                let report = inner.flush_blocking(producer.as_ref(), timeout);
                // Stop background registration; what is still held is undelivered, and
                // confirmed publishes waiting for a schema id are told so.
                inner.closed.store(true, Ordering::Release);
                for sink in inner.live_sinks() {
                    sink.settle(Settled::Closed);
                }
                let producer = lock(&inner.producer).take();
                if inner.owns_producer {
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
