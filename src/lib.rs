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
//! let schema = app_metrics::record_schema::<QueryEvent>("query", "lsst.square.metrics.events.app")?;
//! assert!(schema.contains(r#""name":"type","type":{"type":"enum","name":"QueryType""#));
//! # Ok::<(), app_metrics::InvalidNameError>(())
//! ```
//!
//! `docs/architecture.md` maps the crates and follows one event through them.

// Lets the derives' generated `::app_metrics::...` paths resolve in this package's own
// tests and examples.
extern crate self as app_metrics;

pub mod config;

pub use config::Config;
pub use metrics_core::*;

/// Monitoring: `setup_monitoring`, the logging sensor, health checks, and (features
/// `prometheus`, `statsd`, `http`) the exporters and the axum router.
pub use metrics_monitor as monitoring;
pub use metrics_monitor::setup_monitoring;

/// The Kafka backend: settings, producer, Schema Registry clients, consumer, embedded stack.
#[cfg(feature = "kafka")]
pub use metrics_kafka as kafka;

/// The event manager the settings select, in Safir's order: Mock
/// (`METRICS_ENABLED=false`, `METRICS_MOCK=true`), Noop (`METRICS_ENABLED=false`), else
/// Kafka (the embedded development stack when `KAFKA_BOOTSTRAP_SERVERS=embedded`).
///
/// # Errors
///
/// For the Kafka backend: a configuration problem, a registry client that cannot be set
/// up, or a producer the Kafka client refuses.
#[cfg(feature = "kafka")]
pub fn make_manager(config: &Config) -> Result<EventManager, EventError> {
    metrics_kafka::make_manager(&config.metrics, &config.kafka, &config.registry)
}

/// A consumer of the application's events topic from the same settings as
/// [`make_manager`], for an application that only reads: the cluster, a registry client,
/// the topic. Add a group, sensors or a start position, then `build()`. (In the process
/// that publishes, [`kafka::consumer_of`] reads the manager's own cluster, the embedded
/// development broker included.)
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = app_metrics::Config::from_env()?;
/// let consumer = app_metrics::make_consumer(&config)?.group("dashboards").build().await?;
/// while let Some(message) = consumer.recv().await? {
///     println!("{}", message.decode().await?.to_json());
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// As [`kafka::make_consumer`].
#[cfg(feature = "kafka")]
pub fn make_consumer(
    config: &Config,
) -> Result<kafka::consumer::EventConsumerBuilder, kafka::consumer::ConsumeError> {
    metrics_kafka::make_consumer(&config.metrics, &config.kafka, &config.registry)
}

/// The event manager the settings select: Mock (`METRICS_ENABLED=false`,
/// `METRICS_MOCK=true`) or Noop (`METRICS_ENABLED=false`).
///
/// # Errors
///
/// [`EventError::Config`] when metrics are enabled: this build has no Kafka backend
/// (enable the `kafka` feature).
#[cfg(not(feature = "kafka"))]
pub fn make_manager(config: &Config) -> Result<EventManager, EventError> {
    match config.metrics.backend() {
        config::BackendKind::Mock => Ok(EventManager::mock(&config.metrics)),
        config::BackendKind::Noop => Ok(EventManager::noop(&config.metrics)),
        config::BackendKind::Kafka => Err(ConfigError::invalid(
            &config::metrics_vars::ENABLED,
            "is true, but this build of app-metrics has no Kafka backend: enable the `kafka` \
             feature, or set METRICS_ENABLED=false",
        )
        .into()),
    }
}

/// Compiles and runs the README's Rust code blocks as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
