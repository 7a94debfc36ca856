//! The Kafka event backend: schema registration, topic checks, and Confluent-framed Avro
//! publishing through the rdkafka producer, with DESIGN §6's failure policy.
//!
//! In resilient mode (the default) a publisher whose schema cannot be registered yet (the
//! registry or the broker is down) is still created: its events are encoded and held in a
//! bounded buffer while registration retries in the background with capped exponential
//! backoff, then framed with the schema id and sent. An answer that will not change (a
//! missing topic, an incompatible schema) is returned at once when it comes at creation,
//! or reported once and turns the publisher's events into counted drops when it comes
//! later. In strict mode every failure is returned.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use metrics_core::backend::BoxFuture;
use metrics_core::config::{CompatibilityLevel, MetricsConfig};
use metrics_core::log_limit::LogLimiter;
use metrics_core::{
    DeliveryReport, EventBackend, EventDescriptor, EventError, EventSink, OutgoingEvent,
};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};
use tokio::sync::{oneshot, watch};

use crate::producer::{DeliveryStats, EventProducer, KafkaProducer};
use crate::registry::{
    HttpRegistryConfig, HttpSchemaRegistry, MemorySchemaRegistry, RegistryError, SchemaRegistry,
};
use crate::topic::{self, TopicSpec, TopicState};

/// The Confluent wire format's magic byte.
pub const MAGIC_BYTE: u8 = 0;

thread_local! {
    /// Each publishing thread frames into its own reused buffer: no lock, no allocation
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
    /// Resilient mode (`METRICS_RAISE_ON_ERROR=false`): registration that fails for a
    /// transient reason continues in the background instead of failing.
    pub resilient: bool,
    /// In resilient mode, how long publisher creation waits for registration before
    /// continuing in the background.
    pub startup_wait: Duration,
    /// Events held per publisher while its schema id is unknown; more are dropped.
    pub max_held_events: usize,
    /// First delay between background registration attempts (doubled each time).
    pub retry_initial: Duration,
    /// Longest delay between background registration attempts.
    pub retry_max: Duration,
    /// How long a confirmed publish waits for a schema registration still being retried
    /// (the delivery timeout, `KAFKA_DELIVERY_TIMEOUT`).
    pub confirm_timeout: Duration,
    /// At most one log line per this interval for a recurring problem
    /// (`METRICS_BACKOFF_INTERVAL`).
    pub log_interval: Duration,
}

impl KafkaOptions {
    /// The options the configuration implies.
    pub fn from_config(config: &MetricsConfig) -> Self {
        Self {
            create_topic: config.kafka().create_topics().then(TopicSpec::default),
            compatibility: config.schema_manager().compatibility(),
            metadata_timeout: Duration::from_secs(10),
            resilient: !config.raise_on_error(),
            startup_wait: Duration::from_secs(5),
            max_held_events: config.kafka().queue_max_messages(),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            confirm_timeout: config.kafka().delivery_timeout(),
            log_interval: config.backoff_interval(),
        }
    }
}

/// Publishes events to Kafka with schemas in a Schema Registry.
pub struct KafkaBackend {
    inner: Arc<BackendInner>,
}

struct BackendInner {
    /// `None` once closed. Sinks hold a `Weak`, so closing really releases an owned producer.
    producer: Mutex<Option<KafkaProducer>>,
    stats: Arc<DeliveryStats>,
    registry: Arc<dyn SchemaRegistry>,
    topic: String,
    options: KafkaOptions,
    admin_config: ClientConfig,
    owns_producer: bool,
    /// Every sink created, to count and flush what they hold.
    sinks: Mutex<Vec<Weak<KafkaSink>>>,
    /// Set after a transient failure: later publishers skip the start-up wait.
    degraded: AtomicBool,
    closed: AtomicBool,
}

impl fmt::Debug for KafkaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBackend")
            .field("topic", &self.inner.topic)
            .field("registry", &self.inner.registry.location())
            .field("owns_producer", &self.inner.owns_producer)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn admin_config(config: &MetricsConfig) -> ClientConfig {
    let mut admin = ClientConfig::new();
    for (key, value) in config.kafka().librdkafka_properties() {
        // Producer-only settings would make the admin client warn.
        if !matches!(
            key.as_str(),
            "delivery.timeout.ms" | "queue.buffering.max.messages" | "enable.idempotence"
        ) {
            admin.set(key, value);
        }
    }
    admin
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every value behind these mutexes stays consistent if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The outcome of one attempt to make an event type publishable.
enum Attempt {
    Ready(u32),
    /// May succeed later (outage, timeout).
    Transient(EventError),
    /// Will not change by waiting (missing topic, incompatible schema, closed).
    Permanent(EventError),
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
            inner: Arc::new(BackendInner {
                stats: Arc::clone(producer.stats()),
                producer: Mutex::new(Some(producer)),
                registry,
                topic: config.topic(),
                options: KafkaOptions::from_config(config),
                admin_config: admin_config(config),
                owns_producer: owns,
                sinks: Mutex::default(),
                degraded: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Replaces the options (topic creation, compatibility level, timeouts, buffering).
    ///
    /// Call it right after construction: on a backend already shared (cloned into a
    /// manager) the options are ignored, with a warning.
    pub fn with_options(mut self, options: KafkaOptions) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.options = options,
            None => {
                tracing::warn!("KafkaBackend::with_options called on a shared backend: ignored")
            }
        }
        self
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

    fn open_producer(&self) -> Result<KafkaProducer, EventError> {
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
        self.live_sinks()
            .iter()
            .map(|sink| sink.held() as u64)
            .sum()
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

    /// One attempt: topic check, then schema registration.
    async fn prepare(&self, event: &EventDescriptor) -> Attempt {
        if self.closed.load(Ordering::Acquire) {
            return Attempt::Permanent(EventError::Closed {
                name: event.name.clone(),
            });
        }
        match self.ensure_topic().await {
            Ok(()) => {}
            Err(error @ (EventError::Kafka { .. } | EventError::Enqueue { .. })) => {
                return Attempt::Transient(error);
            }
            Err(error) => return Attempt::Permanent(error),
        }
        match self
            .registry
            .register_checked(&event.subject, &event.schema, self.options.compatibility)
            .await
        {
            Ok(id) => Attempt::Ready(id),
            Err(error) if error.is_transient() => {
                Attempt::Transient(registry_error(&event.subject, error))
            }
            Err(error) => Attempt::Permanent(registry_error(&event.subject, error)),
        }
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
                };
            }
            let step = remaining.min(Duration::from_millis(100));
            match producer {
                Some(producer) if in_flight > 0 => {
                    // Times out quietly: the loop decides when to stop.
                    let _ = producer.producer().flush(step);
                }
                _ => std::thread::sleep(step),
            }
        }
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

/// Retries registration until it succeeds, fails for good, or the backend closes.
async fn register_in_background(
    backend: Weak<BackendInner>,
    sink: Weak<KafkaSink>,
    event: EventDescriptor,
) {
    let Some(options) = backend.upgrade().map(|b| b.options.clone()) else {
        return;
    };
    let mut delay = options.retry_initial;
    let mut attempts = 1u32;
    loop {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(options.retry_max);
        attempts += 1;
        let (Some(backend), Some(sink)) = (backend.upgrade(), sink.upgrade()) else {
            return;
        };
        if backend.closed.load(Ordering::Acquire) {
            return;
        }
        match backend.prepare(&event).await {
            Attempt::Ready(id) => {
                backend.degraded.store(false, Ordering::Relaxed);
                let sent = sink.become_ready(id);
                tracing::info!(event = %event.name, subject = %event.subject, schema_id = id, attempts, sent, "registered event schema after retrying; held events sent");
                return;
            }
            Attempt::Permanent(error) => {
                tracing::error!(%error, event = %event.name, held = sink.held(), "event schema cannot be registered; its events will be dropped");
                sink.fail(error.to_string());
                return;
            }
            Attempt::Transient(error) => {
                if let Some(suppressed) = sink.retry_log.should_log() {
                    tracing::warn!(%error, event = %event.name, attempts, held = sink.held(), suppressed, retry_in = ?delay, "event schema not registered yet; retrying in the background");
                }
            }
        }
    }
}

impl EventBackend for KafkaBackend {
    fn initialize(&self) -> BoxFuture<'_, Result<(), EventError>> {
        Box::pin(async move {
            let inner = &self.inner;
            // Resilient mode: an unreachable broker must not hold up the application's start.
            let result = if inner.options.resilient {
                tokio::time::timeout(inner.options.startup_wait, inner.ensure_topic())
                    .await
                    .unwrap_or_else(|_| {
                        Err(EventError::Kafka {
                            reason: format!("no answer within {:?}", inner.options.startup_wait),
                        })
                    })
            } else {
                inner.ensure_topic().await
            };
            if matches!(result, Err(EventError::Kafka { .. })) {
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
            let sink = KafkaSink::new(&event, &producer, inner);
            let first = if inner.options.resilient {
                if inner.degraded.load(Ordering::Relaxed) {
                    Attempt::Transient(EventError::Kafka {
                        reason: "the broker was unreachable earlier".into(),
                    })
                } else {
                    tokio::time::timeout(inner.options.startup_wait, inner.prepare(&event))
                        .await
                        .unwrap_or_else(|_| {
                            Attempt::Transient(EventError::Kafka {
                                reason: format!(
                                    "no answer within {:?}",
                                    inner.options.startup_wait
                                ),
                            })
                        })
                }
            } else {
                inner.prepare(&event).await
            };
            match first {
                Attempt::Ready(id) => {
                    sink.become_ready(id);
                    tracing::debug!(event = %event.name, subject = %event.subject, schema_id = id, "registered event schema");
                }
                Attempt::Permanent(error) => return Err(error),
                Attempt::Transient(error) if !inner.options.resilient => return Err(error),
                Attempt::Transient(error) => {
                    inner.degraded.store(true, Ordering::Relaxed);
                    tracing::warn!(%error, event = %event.name, "event schema not registered yet: events are held and registration continues in the background");
                    tokio::spawn(register_in_background(
                        Arc::downgrade(inner),
                        Arc::downgrade(&sink),
                        event,
                    ));
                }
            }
            lock(&inner.sinks).push(Arc::downgrade(&sink));
            Ok(sink as Arc<dyn EventSink>)
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
                    if sink.state.load(Ordering::Acquire) == PENDING {
                        sink.fail("the manager closed before the schema was registered".to_owned());
                    }
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

/// The Confluent framing header: magic byte, then the schema id as a big-endian u32.
pub fn frame_header(schema_id: u32) -> [u8; 5] {
    let id = schema_id.to_be_bytes();
    [MAGIC_BYTE, id[0], id[1], id[2], id[3]]
}

const PENDING: u8 = 0;
const READY: u8 = 1;
const FAILED: u8 = 2;

/// The sink of one event type: a pre-built topic, the schema id once known, and the
/// events held until then.
struct KafkaSink {
    name: String,
    topic: String,
    state: AtomicU8,
    schema_id: AtomicU32,
    /// Avro bodies (metadata + payload, unframed) published before the schema id was known.
    held: Mutex<VecDeque<Vec<u8>>>,
    max_held: usize,
    /// Changes when the sink leaves `PENDING`; confirmed publishes wait on it.
    settled: watch::Sender<u8>,
    failure: OnceLock<String>,
    producer: Weak<EventProducer>,
    stats: Arc<DeliveryStats>,
    retry_log: LogLimiter,
    /// How long a confirmed publish waits for the schema id.
    confirm_timeout: Duration,
    /// This sink, for the futures of confirmed publishes.
    me: Weak<KafkaSink>,
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("state", &self.state.load(Ordering::Relaxed))
            .field("schema_id", &self.schema_id.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    fn new(event: &EventDescriptor, producer: &KafkaProducer, inner: &BackendInner) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            name: event.name.clone(),
            topic: event.topic.to_string(),
            state: AtomicU8::new(PENDING),
            schema_id: AtomicU32::new(0),
            held: Mutex::default(),
            max_held: inner.options.max_held_events,
            settled: watch::Sender::new(PENDING),
            failure: OnceLock::new(),
            producer: Arc::downgrade(&producer.inner),
            stats: Arc::clone(&inner.stats),
            retry_log: LogLimiter::new(inner.options.log_interval),
            confirm_timeout: inner.options.confirm_timeout,
            me: me.clone(),
        })
    }

    fn held(&self) -> usize {
        if self.state.load(Ordering::Acquire) == PENDING {
            lock(&self.held).len()
        } else {
            0
        }
    }

    /// The schema id is known: send what was held, in order, then publish directly.
    /// Returns how many held events were queued.
    fn become_ready(&self, schema_id: u32) -> usize {
        let mut held = lock(&self.held);
        self.schema_id.store(schema_id, Ordering::Relaxed);
        let mut sent = 0;
        for body in held.drain(..) {
            if self.enqueue_body(&body, 0).is_ok() {
                sent += 1;
            }
        }
        self.state.store(READY, Ordering::Release);
        drop(held);
        self.settled.send_replace(READY);
        sent
    }

    /// Registration failed for good: drop and count what is held, and all later events.
    fn fail(&self, reason: String) {
        let mut held = lock(&self.held);
        let _ = self.failure.set(reason);
        for _ in held.drain(..) {
            self.stats.count_dropped();
        }
        self.state.store(FAILED, Ordering::Release);
        drop(held);
        self.settled.send_replace(FAILED);
    }

    fn failed_error(&self) -> EventError {
        self.stats.count_dropped();
        EventError::Enqueue {
            name: self.name.clone(),
            reason: format!(
                "its schema could not be registered: {}",
                self.failure.get().map_or("unknown", String::as_str)
            ),
        }
    }

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

    /// Frames `write`'s Avro body with the schema id and enqueues it with `waiter` as its
    /// delivery opaque. Only called once the sink is ready.
    fn enqueue_with(
        &self,
        waiter: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), EventError> {
        let Some(producer) = self.producer.upgrade() else {
            self.stats.count_dropped();
            return Err(EventError::Closed {
                name: self.name.clone(),
            });
        };
        FRAME.with_borrow_mut(|frame| {
            frame.clear();
            frame.extend_from_slice(&frame_header(self.schema_id.load(Ordering::Relaxed)));
            write(frame);
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

    fn enqueue_body(&self, body: &[u8], waiter: usize) -> Result<(), EventError> {
        self.enqueue_with(waiter, |frame| frame.extend_from_slice(body))
    }

    /// Holds an event while the schema id is unknown; `Ok(false)` if the sink became ready
    /// meanwhile (the caller then sends it directly).
    fn hold(&self, event: &dyn OutgoingEvent) -> Result<bool, EventError> {
        let mut held = lock(&self.held);
        match self.state.load(Ordering::Acquire) {
            READY => return Ok(false),
            FAILED => return Err(self.failed_error()),
            _ => {}
        }
        if held.len() >= self.max_held {
            self.stats.count_dropped();
            return Err(EventError::Enqueue {
                name: self.name.clone(),
                reason: format!(
                    "{} events are already held while the schema registration is retried; the registry or broker has been unreachable too long",
                    held.len()
                ),
            });
        }
        let mut body = Vec::with_capacity(128);
        event.encode_avro(&mut body);
        held.push_back(body);
        Ok(true)
    }
}

impl EventSink for KafkaSink {
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        match self.state.load(Ordering::Acquire) {
            READY => self.enqueue_with(0, |frame| event.encode_avro(frame)),
            FAILED => Err(self.failed_error()),
            _ => match self.hold(event)? {
                true => Ok(()),
                false => self.enqueue_with(0, |frame| event.encode_avro(frame)),
            },
        }
    }

    fn send_confirmed(
        &self,
        event: &dyn OutgoingEvent,
    ) -> BoxFuture<'static, Result<(), EventError>> {
        let name = self.name.clone();
        let Some(this) = self.me.upgrade() else {
            return Box::pin(async move { Err(EventError::Closed { name }) });
        };
        // Encode now: the future must not borrow the event.
        let mut body = Vec::with_capacity(128);
        event.encode_avro(&mut body);
        let mut settled = self.settled.subscribe();
        Box::pin(async move {
            // Wait (bounded) for the schema id if registration is still being retried.
            // Map the guard away at once: it must not be held across the awaits below.
            let wait = tokio::time::timeout(
                this.confirm_timeout,
                settled.wait_for(|state| *state != PENDING),
            )
            .await
            .map(|settled| settled.map(|_| ()));
            match wait {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return Err(EventError::Closed { name }),
                Err(_) => {
                    return Err(EventError::Delivery {
                        name,
                        reason: format!(
                            "the schema was not registered within {:?}",
                            this.confirm_timeout
                        ),
                    });
                }
            }
            if this.state.load(Ordering::Acquire) == FAILED {
                return Err(this.failed_error());
            }
            let Some(producer) = this.producer.upgrade() else {
                return Err(EventError::Closed { name });
            };
            let (sender, receiver) = oneshot::channel();
            let waiter = producer.context().add_waiter(sender);
            if let Err(error) = this.enqueue_body(&body, waiter) {
                producer.context().remove_waiter(waiter);
                return Err(error);
            }
            drop(producer);
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
