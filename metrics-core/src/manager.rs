//! The event manager and its typed publishers (Safir's `EventManager`/`EventPublisher`).

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::backend::{
    DeliveryReport, EventBackend, EventDescriptor, EventSink, Outgoing, SchemaCheck,
};
use crate::config::MetricsConfig;
use crate::error::{ErrorChain, EventError};
use crate::log_limit::LogLimiter;
use crate::metadata::EventMetadata;
use crate::mock::{MockBackend, MockEvents, MockSink};
use crate::noop::NoopBackend;
use crate::payload::EventPayload;
use crate::policy::FailurePolicy;
use crate::schema::record_schema;
use crate::sensor::SensorDelegate;
use crate::sync::lock;

/// Publishes an application's metrics events: one per application, created at start-up.
///
/// [`initialize`](Self::initialize) it, then create one typed [`EventPublisher`] per event
/// type with [`create_publisher`](Self::create_publisher); at shutdown,
/// [`close`](Self::close) delivers what is still queued.
///
/// ```
/// use metrics_core::{EventManager, EventPayload, MetricsConfig};
///
/// #[derive(EventPayload, Clone, Debug, PartialEq)]
/// struct LoginEvent {
///     username: String,
///     success: bool,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let config = MetricsConfig::builder("myapp").enabled(false).mock(true).build()?;
/// let manager = EventManager::mock(&config);
/// manager.initialize().await?;
/// let logins = manager.create_publisher::<LoginEvent>("login").await?;
///
/// let metadata = logins.publish(LoginEvent { username: "ada".into(), success: true })?;
/// assert_eq!(metadata.application(), "myapp");
///
/// let published = logins.published().expect("the mock backend records events");
/// published.assert_published_all(&[metrics_core::Expected::new()
///     .field("username", "ada")
///     .field("success", true)]);
/// manager.close(std::time::Duration::from_secs(5)).await?;
/// # Ok::<(), metrics_core::EventError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct EventManager {
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    application: Arc<str>,
    topic: Arc<str>,
    policy: FailurePolicy,
    backend: Arc<dyn EventBackend>,
    sensors: Arc<SensorDelegate>,
    closed: AtomicBool,
    state: Mutex<ManagerState>,
    publish_errors: LogLimiter,
}

#[derive(Default)]
struct ManagerState {
    initialized: bool,
    names: HashSet<String>,
}

impl fmt::Debug for EventManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventManager")
            .field("application", &self.inner.application)
            .field("topic", &self.inner.topic)
            .field("backend", &self.inner.backend)
            .field("policy", &self.inner.policy)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl EventManager {
    /// A manager publishing through `backend`, configured by `config` (application, topic
    /// prefix, strict or resilient mode, log backoff), observed by the application's
    /// `sensors` (the hub it also gives its consumers and `setup_monitoring`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use metrics_core::sensor::SensorDelegate;
    /// use metrics_core::{EventManager, MetricsConfig};
    ///
    /// let sensors = Arc::new(SensorDelegate::new());
    /// let config = MetricsConfig::builder("app").build()?;
    /// let manager = EventManager::new(&config, Arc::new(metrics_core::noop::NoopBackend), Arc::clone(&sensors));
    /// assert!(Arc::ptr_eq(manager.sensors(), &sensors));
    /// # Ok::<(), metrics_core::ConfigError>(())
    /// ```
    pub fn new(
        config: &MetricsConfig,
        backend: Arc<dyn EventBackend>,
        sensors: Arc<SensorDelegate>,
    ) -> Self {
        let policy = FailurePolicy::from_config(config);
        Self {
            inner: Arc::new(ManagerInner {
                application: config.application().into(),
                topic: config.topic().into(),
                publish_errors: policy.log_limiter(),
                policy,
                backend,
                sensors,
                closed: AtomicBool::new(false),
                state: Mutex::new(ManagerState::default()),
            }),
        }
    }

    /// A manager that builds and validates events but sends nothing (`METRICS_ENABLED=false`),
    /// with sensors of its own.
    pub fn noop(config: &MetricsConfig) -> Self {
        Self::new(config, Arc::new(NoopBackend), Arc::default())
    }

    /// A manager that records every event for test assertions (`METRICS_MOCK=true`), with
    /// sensors of its own; see [`EventPublisher::published`].
    pub fn mock(config: &MetricsConfig) -> Self {
        Self::new(config, Arc::new(MockBackend), Arc::default())
    }

    /// The application name (`METRICS_APPLICATION`).
    pub fn application(&self) -> &str {
        &self.inner.application
    }

    /// The topic every event of this application goes to: `{topic_prefix}.{application}`.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The backend events go through.
    pub fn backend(&self) -> &Arc<dyn EventBackend> {
        &self.inner.backend
    }

    /// The sensors that observe this manager's publishers (the hub given to
    /// [`new`](Self::new)). A sensor added at any time sees publishers created earlier too.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use metrics_core::sensor::{Sensor, SensorResult, SendInfo, SendState};
    /// use metrics_core::{EventManager, EventPayload, MetricsConfig};
    ///
    /// #[derive(EventPayload)]
    /// struct Ping { rows: i64 }
    ///
    /// #[derive(Default)]
    /// struct Sent(AtomicU64);
    ///
    /// impl Sensor for Sent {
    ///     fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///         Ok(SendState::at(send.at))
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let manager = EventManager::noop(&MetricsConfig::builder("app").build()?);
    /// let sent = Arc::new(Sent::default());
    /// manager.sensors().add(sent.clone());
    /// manager.initialize().await?;
    /// manager.create_publisher::<Ping>("ping").await?.publish(Ping { rows: 1 })?;
    /// assert_eq!(sent.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), metrics_core::EventError>(())
    /// # }).unwrap();
    /// ```
    pub fn sensors(&self) -> &Arc<SensorDelegate> {
        &self.inner.sensors
    }

    fn state(&self) -> MutexGuard<'_, ManagerState> {
        lock(&self.inner.state)
    }

    fn check_open(&self, name: &str) -> Result<(), EventError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(EventError::Closed {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Prepares the backend (for Kafka: connects and checks the topic). Call once at
    /// start-up, before creating publishers; calling it again does nothing.
    ///
    /// In resilient mode an infrastructure failure is logged and the manager still starts.
    pub async fn initialize(&self) -> Result<(), EventError> {
        self.check_open("")?;
        if self.state().initialized {
            return Ok(());
        }
        if let Err(error) = self.inner.backend.initialize().await {
            if self.inner.policy.surfaces(&error) {
                return Err(error);
            }
            tracing::warn!(error = %ErrorChain(&error), topic = %self.inner.topic, "metrics backend did not initialize; continuing without failing the application");
        }
        self.state().initialized = true;
        Ok(())
    }

    /// Creates the typed publisher of event `name` with payload `P`: validates the name,
    /// registers the schema (Kafka backend) and returns a publisher that only accepts `P`.
    ///
    /// Errors: [`EventError::Uninitialized`] before [`initialize`](Self::initialize),
    /// [`EventError::DuplicateEvent`] for a name already used, [`EventError::InvalidName`],
    /// and the backend's errors (topic, registry).
    pub async fn create_publisher<P: EventPayload>(
        &self,
        name: &str,
    ) -> Result<EventPublisher<P>, EventError> {
        self.check_open(name)?;
        let schema = record_schema::<P>(name, &self.inner.topic)?;
        {
            let mut state = self.state();
            if !state.initialized {
                return Err(EventError::Uninitialized);
            }
            if !state.names.insert(name.to_owned()) {
                return Err(EventError::DuplicateEvent {
                    name: name.to_owned(),
                });
            }
        }
        let descriptor = EventDescriptor {
            name: name.to_owned(),
            topic: Arc::clone(&self.inner.topic),
            sensors: Arc::clone(&self.inner.sensors),
            schema,
        };
        match self.inner.backend.create_sink(&descriptor).await {
            Ok(sink) => Ok(EventPublisher {
                inner: Arc::new(PublisherInner {
                    descriptor,
                    sink,
                    manager: Arc::clone(&self.inner),
                }),
                payload: PhantomData,
            }),
            Err(error) => {
                // Free the name so a later attempt can succeed.
                self.state().names.remove(name);
                Err(error)
            }
        }
    }

    /// Asks the registry whether the schema of event `name` with payload `P` may be
    /// registered, without registering it: the pre-deploy check. Needs no
    /// [`initialize`](Self::initialize) and creates no publisher.
    ///
    /// ```
    /// use metrics_core::backend::SchemaVerdict;
    /// use metrics_core::{EventManager, EventPayload, MetricsConfig};
    ///
    /// #[derive(EventPayload)]
    /// struct QueryEvent { rows: i64 }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let manager = EventManager::noop(&MetricsConfig::builder("myapp").enabled(false).build()?);
    /// let check = manager.check_schema::<QueryEvent>("query").await?;
    /// assert_eq!(check.verdict, SchemaVerdict::NoRegistry);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidName`], [`EventError::Closed`], or the registry cannot be
    /// asked (unreachable, credentials refused).
    pub async fn check_schema<P: EventPayload>(
        &self,
        name: &str,
    ) -> Result<SchemaCheck, EventError> {
        self.check_open(name)?;
        let descriptor = EventDescriptor {
            name: name.to_owned(),
            topic: Arc::clone(&self.inner.topic),
            sensors: Arc::clone(&self.inner.sensors),
            schema: record_schema::<P>(name, &self.inner.topic)?,
        };
        self.inner.backend.check_schema(&descriptor).await
    }

    /// Builds the application's events container once (Safir's `EventMaker`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use metrics_core::{EventError, EventMaker, EventManager, EventPayload, EventPublisher, MetricsConfig};
    ///
    /// #[derive(EventPayload)]
    /// struct QueryEvent { rows: i64 }
    ///
    /// /// Every publisher of the application, built once at start-up.
    /// struct Events {
    ///     query: EventPublisher<QueryEvent>,
    /// }
    ///
    /// impl EventMaker for Events {
    ///     async fn make(manager: &EventManager) -> Result<Self, EventError> {
    ///         Ok(Events { query: manager.create_publisher("query").await? })
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let config = MetricsConfig::builder("myapp").enabled(false).build()?;
    /// let manager = EventManager::noop(&config);
    /// manager.initialize().await?;
    /// let events: Arc<Events> = manager.make_events().await?; // share it, e.g. axum State
    /// events.query.publish(QueryEvent { rows: 3 })?;
    /// # Ok::<(), EventError>(())
    /// # }).unwrap();
    /// ```
    pub async fn make_events<E: EventMaker>(&self) -> Result<Arc<E>, EventError> {
        E::make(self).await.map(Arc::new)
    }

    /// Waits until every queued event is delivered or `timeout` passes.
    ///
    /// Returns how many events are still undelivered; in strict mode, any left is an
    /// [`EventError::Undelivered`] error.
    pub async fn flush(&self, timeout: Duration) -> Result<DeliveryReport, EventError> {
        let result = self.inner.backend.flush(timeout).await;
        self.delivery_outcome(result, timeout, "flush")
    }

    /// Delivers what is queued (waiting at most `timeout`) and closes the clients the
    /// manager owns; afterwards publishing fails with [`EventError::Closed`]. Closing twice
    /// does nothing the second time.
    pub async fn close(&self, timeout: Duration) -> Result<DeliveryReport, EventError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(DeliveryReport::default());
        }
        let result = self.inner.backend.close(timeout).await;
        self.delivery_outcome(result, timeout, "close")
    }

    fn delivery_outcome(
        &self,
        result: Result<DeliveryReport, EventError>,
        timeout: Duration,
        operation: &'static str,
    ) -> Result<DeliveryReport, EventError> {
        let policy = &self.inner.policy;
        match result {
            Ok(report) if report.undelivered > 0 => {
                if policy.raise_on_error() {
                    return Err(EventError::Undelivered {
                        undelivered: report.undelivered,
                        timeout,
                    });
                }
                tracing::warn!(undelivered = report.undelivered, topic = %self.inner.topic, operation, "metrics events were not delivered in time");
                Ok(report)
            }
            Ok(report) => Ok(report),
            Err(error) if policy.surfaces(&error) => Err(error),
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), topic = %self.inner.topic, operation, "metrics backend error");
                Ok(DeliveryReport::default())
            }
        }
    }
}

/// Builds every publisher of an application once, at start-up (Safir's `EventMaker`).
///
/// Implement it on a struct holding one [`EventPublisher`] per event, build it with
/// [`EventManager::make_events`], and share the `Arc` (e.g. as axum state).
pub trait EventMaker: Sized + Send + Sync + 'static {
    /// Creates the publishers.
    fn make(manager: &EventManager) -> impl Future<Output = Result<Self, EventError>> + Send;
}

/// Publishes events of one type `P`; cheap to clone, `Send + Sync`.
pub struct EventPublisher<P> {
    inner: Arc<PublisherInner>,
    payload: PhantomData<fn(P)>,
}

struct PublisherInner {
    descriptor: EventDescriptor,
    sink: Arc<dyn EventSink>,
    manager: Arc<ManagerInner>,
}

impl<P> Clone for EventPublisher<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            payload: PhantomData,
        }
    }
}

impl<P> fmt::Debug for EventPublisher<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventPublisher")
            .field("name", &self.inner.descriptor.name)
            .field("topic", &self.inner.descriptor.topic)
            .finish_non_exhaustive()
    }
}

impl<P: EventPayload> EventPublisher<P> {
    /// The event name.
    pub fn name(&self) -> &str {
        &self.inner.descriptor.name
    }

    /// The topic the events go to.
    pub fn topic(&self) -> &str {
        &self.inner.descriptor.topic
    }

    /// The Schema Registry subject of the event's schema, with a backend that registers
    /// schemas (Kafka): `{topic}.{name}{suffix}`.
    pub fn subject(&self) -> Option<&str> {
        self.inner.sink.subject()
    }

    /// The schema id the registry gave the event's schema, once it is registered.
    pub fn schema_id(&self) -> Option<u32> {
        self.inner.sink.schema_id()
    }

    /// The full Avro record schema (metadata, then payload fields).
    pub fn schema(&self) -> &str {
        &self.inner.descriptor.schema
    }

    fn metadata(&self) -> Result<EventMetadata, EventError> {
        let manager = &self.inner.manager;
        if manager.closed.load(Ordering::Acquire) {
            return Err(EventError::Closed {
                name: self.inner.descriptor.name.clone(),
            });
        }
        Ok(EventMetadata::now(Arc::clone(&manager.application)))
    }

    /// Adds metadata to `payload` and queues the event; returns at once with the metadata.
    ///
    /// Never blocks. In resilient mode (the default) a delivery problem is logged (at most
    /// once per `METRICS_BACKOFF_INTERVAL`) and the metadata is still returned; in strict
    /// mode it is returned as an error. Publishing after [`EventManager::close`] is always
    /// an error.
    pub fn publish(&self, payload: P) -> Result<EventMetadata, EventError> {
        let metadata = self.metadata()?;
        match self.inner.sink.send(&Outgoing {
            metadata: &metadata,
            payload: &payload,
        }) {
            Ok(()) => Ok(metadata),
            Err(error) if self.inner.manager.policy.surfaces(&error) => Err(error),
            Err(error) => {
                if let Some(suppressed) = self.inner.manager.publish_errors.should_log() {
                    tracing::warn!(error = %ErrorChain(&error), event = %self.inner.descriptor.name, suppressed, "metrics event dropped");
                }
                Ok(metadata)
            }
        }
    }

    /// Publishes and waits until the broker acknowledged the event.
    ///
    /// The caller asked to know, so delivery errors are returned in every mode.
    pub async fn publish_confirmed(&self, payload: P) -> Result<EventMetadata, EventError> {
        let metadata = self.metadata()?;
        let delivery = self.inner.sink.send_confirmed(&Outgoing {
            metadata: &metadata,
            payload: &payload,
        });
        delivery.await.map(|()| metadata)
    }

    /// The events recorded by the mock backend (`METRICS_MOCK=true`), with Safir-style
    /// assertions; `None` with any other backend.
    pub fn published(&self) -> Option<MockEvents> {
        let sink: &dyn std::any::Any = self.inner.sink.as_ref();
        sink.downcast_ref::<MockSink>().map(MockSink::events)
    }
}
