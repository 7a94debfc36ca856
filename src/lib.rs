//! app-metrics: publish application metrics events to Kafka as Confluent-framed Avro,
//! wire-compatible with Python's `safir.metrics`.
//!
//! Define events as plain structs; the derive builds their Avro schema at compile time and
//! refuses, with a compile error, anything InfluxDB cannot store:
//!
//! ```
//! use app_metrics::{EventEnum, EventPayload};
//!
//! #[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
//! #[event(rename_all = "lowercase")]
//! enum QueryType {
//!     Async,
//!     Sync,
//! }
//!
//! /// Information about a user-submitted query.
//! #[derive(EventPayload, Clone, Debug, PartialEq)]
//! struct QueryEvent {
//!     /// The kind of query
//!     r#type: QueryType,
//!     /// How long the query took to run
//!     duration: std::time::Duration,
//!     username: Option<String>,
//!     rows: i64,
//! }
//!
//! let schema = app_metrics::schema::record_schema::<QueryEvent>("query", "lsst.square.metrics.events.app")?;
//! assert!(schema.contains(r#""name":"type","type":{"type":"enum","name":"QueryType""#));
//! # Ok::<(), app_metrics::schema::InvalidNameError>(())
//! ```
//!
//! # Map
//!
//! An application reads its settings ([`Config::from_env`]), builds one sensor hub
//! ([`sensor::SensorDelegate`]), attaches monitoring to it ([`setup_monitoring`]), and
//! gives it to the [`EventManager`] ([`make_manager`]) and to its consumers
//! ([`make_consumer`]). Publishing goes through an [`EventPublisher`] per event type;
//! `flush` and `close` return a [`DeliveryReport`] of what was not delivered and what
//! was dropped, by [`ErrorKind`].
//!
//! | module | for |
//! |---|---|
//! | [`config`] | every settings group and its environment variables |
//! | [`sensor`] | observing the pipeline: the `Sensor` trait, its hooks, the hub |
//! | [`monitoring`] | Faust's monitors: the Monitor, logging, health, Prometheus, StatsD, HTTP |
//! | `kafka` | the Kafka backend: producer, consumer, registry clients, framing |
//! | [`mock`] | assertions on a Mock manager's events in tests |
//! | [`decode`] | events read back, typed |
//! | [`schema`] | Avro record schemas and name rules |
//! | [`field`] | a field type of one's own |
//! | [`backend`] | a backend of one's own |
//!
//! `docs/architecture.md` maps the crates and follows one event through them.

// Lets the derives' generated `::app_metrics::...` paths resolve in this package's own
// tests and examples.
extern crate self as app_metrics;

mod settings;

use std::sync::Arc;

use metrics_core::sensor::SensorDelegate;

pub use metrics_core::{
    ConfigError, DeliveryReport, DroppedEvents, ErrorChain, ErrorKind, EventEnum, EventError,
    EventMaker, EventManager, EventMetadata, EventPayload, EventPublisher,
};
pub use metrics_monitor::setup_monitoring;
pub use settings::Config;

pub mod config {
    //! Settings, one group per source of variables; [`Config`](crate::Config) reads them
    //! all from the environment at once and reports every problem together.
    //!
    //! | group | variables | type |
    //! |---|---|---|
    //! | shared by every backend | `METRICS_*` | [`MetricsConfig`] |
    //! | Kafka cluster and producer | `KAFKA_*` | `KafkaConfig` (feature `kafka`) |
    //! | Schema Registry | `SCHEMA_MANAGER_*` | `RegistryConfig` (feature `kafka`) |
    //! | monitoring | `METRICS_MONITOR_*`, `METRICS_HEALTH_*` | [`MonitoringConfig`] |

    pub use metrics_core::config::{
        BackendKind, Env, EnvVar, MetricsConfig, MetricsConfigBuilder, NotUnicode, metrics_vars,
    };
    #[cfg(feature = "kafka")]
    pub use metrics_kafka::config::{
        CompatibilityLevel, EMBEDDED, ExtraProperties, InvalidRegistryUrl, KafkaConfig,
        KafkaConfigBuilder, RegistryAuth, RegistryConfig, RegistryConfigBuilder, RegistryUrl,
        SaslMechanism, SecurityProtocol, kafka_vars, registry_vars,
    };
    pub use metrics_monitor::{
        LogDetail, LogFormat, LogLevel, MonitoringConfig, MonitoringConfigBuilder, monitoring_vars,
    };
}

pub mod sensor {
    //! Sensors observe publishing, consuming and serving, the way Faust's sensors do: the
    //! [`Sensor`] trait with its hooks and their argument types, and the
    //! [`SensorDelegate`], the application's one sensor hub, given to the event manager, to
    //! its consumers and to [`setup_monitoring`](crate::setup_monitoring).

    pub use metrics_core::sensor::{
        AssignmentFailure, AssignmentState, Clock, CommitDone, CommitState, CustomKind,
        CustomMetric, DecodeErrorKind, DecodeFailure, DecodeState, Decoded, Delivered, Encoded,
        EventKey, ManualClock, MessageIn, MessageState, Paired, PartitionOffset, RebalanceState,
        RegistryCall, RegistryOperation, SendFailure, SendInfo, SendState, Sensor, SensorDelegate,
        SensorError, SensorId, SensorResult, StreamEvent, StreamEventState, SystemClock,
        TopicPartition, WebRequest, WebRequestState, WebResponse,
    };
}

pub mod monitoring {
    //! Monitoring, Faust's monitors in Rust: [`setup_monitoring`](crate::setup_monitoring)
    //! attaches them to the application's sensor hub.
    //!
    //! - [`Monitor`]: keeps every count, latency, offset and rate in memory (`/stats`).
    //! - [`LoggingSensor`]: logs what happens, through `tracing`.
    //! - [`CustomSensor`]: the application's own counters, gauges and histograms.
    //! - [`HealthMonitor`]: checks the Monitor's figures against thresholds (`/health`).
    //! - `PrometheusMonitor` (feature `prometheus`): exports the Monitor (`/metrics`).
    //! - `StatsdMonitor` (feature `statsd`): sends every figure to a StatsD daemon.
    //! - `Monitoring::router` and `WebSensorLayer` (feature `http`): the endpoints, and an
    //!   axum application's own requests.

    #[cfg(feature = "statsd")]
    pub use metrics_monitor::StatsdMonitor;
    pub use metrics_monitor::{
        BySensor, CustomHistogramSnapshot, CustomSensor, CustomSnapshot, DEFAULT_BUCKETS,
        HealthAlert, HealthCheck, HealthFigures, HealthIssue, HealthMonitor, HealthReport,
        HealthThresholds, HistogramSnapshot, LATENCY_BUCKETS, LatencyKind, LoggingSensor, Monitor,
        MonitorOptions, MonitorSnapshot, Monitoring, MonitoringError, MonitoringSetup,
        PartitionSnapshot, Rates, SensorLoggingError, WindowStats, configure_sensor_logging,
    };
    #[cfg(feature = "prometheus")]
    pub use metrics_monitor::{Format, MonitorCollector, PrometheusMonitor, prometheus_client};
    #[cfg(feature = "http")]
    pub use metrics_monitor::{WebSensorLayer, WebSensorService};
}

/// The Kafka backend: the producer, the consumer, the Schema Registry clients, Confluent
/// framing. Its settings are in [`config`].
#[cfg(feature = "kafka")]
pub mod kafka {
    pub use metrics_kafka::{
        DeliveryStats, Error, EventProducer, KafkaBackend, KafkaBackendBuilder, KafkaProducer,
        MetricsProducerContext, Opaque, TopicSpec, consumer, consumer_of, framing, rdkafka,
        registry,
    };
}

pub mod mock {
    //! Assertions on the events a Mock manager (`METRICS_MOCK=true`) recorded: see
    //! [`EventPublisher::published`](crate::EventPublisher::published).

    pub use metrics_core::mock::{
        ANY, Expected, IntoMatcher, Matcher, MockAssertionError, MockEvents, NOT_NONE,
        PublishedEvent,
    };
}

pub mod decode {
    //! Reading events back: a payload type that derives `EventPayload` decodes as an
    //! [`Event`] of its own type.

    pub use metrics_core::decode::{AvroDecodeError, DecodeError, Event, EventDecode};
}

pub mod schema {
    //! Avro schemas and names: a payload's record schema, the rules its names follow,
    //! and their evolution: [`SchemaSnapshots`] checks in `cargo test` that a change is
    //! compatible, and [`EventManager::check_schema`](crate::EventManager::check_schema)
    //! asks the live registry before deploy.

    pub use metrics_core::backend::{SchemaCheck, SchemaVerdict};
    pub use metrics_core::metadata::RESERVED_FIELD_NAMES;
    pub use metrics_core::schema::{
        InvalidNameError, NameKind, avsc, record_schema, validate_name,
    };
    #[cfg(feature = "kafka")]
    pub use metrics_kafka::{
        SNAPSHOTS_VAR, SchemaSnapshots, SnapshotError, SnapshotOutcome, SnapshotProblem,
        SnapshotReport,
    };
}

pub mod field {
    //! Adding a field type of one's own: a scalar encodes itself ([`EventScalar`]) and
    //! decodes itself ([`DecodeScalar`]); `docs/architecture.md` has the recipe.

    pub use metrics_core::avro::{
        write_bool, write_double, write_float, write_int, write_long, write_str, write_union_branch,
    };
    pub use metrics_core::decode::{AvroReader, DecodeScalar};
    pub use metrics_core::payload::{EventField, EventScalar, FieldValue, write_uuid};
}

pub mod backend {
    //! Writing a backend of one's own: what the event manager calls, and the sensors'
    //! view of one event type's sends.

    pub use metrics_core::backend::{
        BoxFuture, EventBackend, EventDescriptor, EventSink, OutgoingEvent,
    };
    pub use metrics_core::error::BackendError;
    pub use metrics_core::sensor::{ENCODE_TIMING_SAMPLE, SinkSensors, Started};
}

/// Support for the derives' generated code; not a public API.
#[doc(hidden)]
pub use metrics_core::__private;

/// The event manager the settings select, in Safir's order: Mock
/// (`METRICS_ENABLED=false`, `METRICS_MOCK=true`), Noop (`METRICS_ENABLED=false`), else
/// Kafka (the embedded development stack when `KAFKA_BOOTSTRAP_SERVERS=embedded`),
/// observed by the application's `sensors`: the one hub it also gives its consumers and
/// [`setup_monitoring`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use app_metrics::sensor::SensorDelegate;
///
/// let config = app_metrics::Config::from_env()?;
/// let sensors = Arc::new(SensorDelegate::new());
/// let monitoring = app_metrics::setup_monitoring(&sensors, config.metrics.application(), &config.monitoring)?;
/// let manager = app_metrics::make_manager(&config, &sensors)?;
/// manager.initialize().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// For the Kafka backend: a configuration problem, a registry client that cannot be set
/// up, or a producer the Kafka client refuses.
#[cfg(feature = "kafka")]
pub fn make_manager(
    config: &Config,
    sensors: &Arc<SensorDelegate>,
) -> Result<EventManager, EventError> {
    metrics_kafka::make_manager(&config.metrics, &config.kafka, &config.registry, sensors)
}

/// A consumer of the application's events topic from the same settings as
/// [`make_manager`], for an application that only reads: the cluster, a registry client,
/// the topic, the application's `sensors`. Add a group or a start position, then
/// `build()`. (In the process that publishes, [`kafka::consumer_of`] reads the manager's
/// own cluster, the embedded development broker included.)
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = app_metrics::Config::from_env()?;
/// let sensors = std::sync::Arc::default();
/// let consumer = app_metrics::make_consumer(&config, &sensors)?.group("dashboards").build().await?;
/// while let Some(message) = consumer.recv().await? {
///     println!("{}", message.decode().await?.to_json());
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The settings are invalid, the registry client cannot be set up, or the settings choose
/// the embedded development broker, which lives inside the process that publishes (use
/// [`kafka::consumer_of`] there).
#[cfg(feature = "kafka")]
pub fn make_consumer(
    config: &Config,
    sensors: &Arc<SensorDelegate>,
) -> Result<kafka::consumer::EventConsumerBuilder, kafka::consumer::ConsumeError> {
    metrics_kafka::make_consumer(&config.metrics, &config.kafka, &config.registry, sensors)
}

/// The event manager the settings select: Mock (`METRICS_ENABLED=false`,
/// `METRICS_MOCK=true`) or Noop (`METRICS_ENABLED=false`).
///
/// # Errors
///
/// [`EventError::Config`] when metrics are enabled: this build has no Kafka backend
/// (enable the `kafka` feature).
#[cfg(not(feature = "kafka"))]
pub fn make_manager(
    config: &Config,
    sensors: &Arc<SensorDelegate>,
) -> Result<EventManager, EventError> {
    let backend: Arc<dyn metrics_core::EventBackend> = match config.metrics.backend() {
        config::BackendKind::Mock => Arc::new(metrics_core::mock::MockBackend),
        config::BackendKind::Noop => Arc::new(metrics_core::noop::NoopBackend),
        config::BackendKind::Kafka => {
            return Err(ConfigError::invalid(
                &config::metrics_vars::ENABLED,
                "is true, but this build of app-metrics has no Kafka backend: enable the `kafka` \
             feature, or set METRICS_ENABLED=false",
            )
            .into());
        }
    };
    Ok(EventManager::new(
        &config.metrics,
        backend,
        Arc::clone(sensors),
    ))
}

/// Compiles and runs the README's Rust code blocks as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
