//! Kafka backend of app-metrics: its settings, rdkafka publishing with the failure policy,
//! the Schema Registry clients, Confluent framing, a consumer that decodes events, and the
//! embedded development stack. `docs/architecture.md` maps the modules.

mod backend;
mod blocking;
pub mod config;
pub mod consumer;
mod error;
pub mod framing;
mod producer;
pub mod registry;
mod sink;
mod snapshots;
mod topic;

#[cfg(test)]
mod test_support;

use std::sync::Arc;

use metrics_core::config::{BackendKind, MetricsConfig};
use metrics_core::mock::MockBackend;
use metrics_core::noop::NoopBackend;
use metrics_core::sensor::SensorDelegate;
use metrics_core::{EventError, EventManager};

use consumer::EventConsumerBuilder;

pub use backend::{KafkaBackend, KafkaBackendBuilder};
pub use error::Error;
pub use producer::{DeliveryStats, EventProducer, KafkaProducer, MetricsProducerContext, Opaque};
pub use snapshots::{
    SNAPSHOTS_VAR, SchemaSnapshots, SnapshotError, SnapshotOutcome, SnapshotProblem, SnapshotReport,
};
pub use topic::TopicSpec;

use config::{KafkaConfig, RegistryConfig};
use consumer::{ConsumeError, EventConsumer};

/// The rdkafka crate this backend is built on, for applications that share its producer.
pub use rdkafka;

/// The event manager the settings select, in Safir's order: Mock
/// (`METRICS_ENABLED=false`, `METRICS_MOCK=true`), Noop (`METRICS_ENABLED=false`), else
/// Kafka (the embedded development stack when `KAFKA_BOOTSTRAP_SERVERS=embedded`),
/// observed by the application's `sensors`.
///
/// # Errors
///
/// As [`KafkaBackendBuilder::build`], for the Kafka backend.
pub fn make_manager(
    metrics: &MetricsConfig,
    kafka: &KafkaConfig,
    registry: &RegistryConfig,
    sensors: &Arc<SensorDelegate>,
) -> Result<EventManager, EventError> {
    let backend: Arc<dyn metrics_core::EventBackend> = match metrics.backend() {
        BackendKind::Mock => Arc::new(MockBackend),
        BackendKind::Noop => Arc::new(NoopBackend),
        BackendKind::Kafka => Arc::new(KafkaBackend::from_config(metrics, kafka, registry)?),
    };
    Ok(EventManager::new(metrics, backend, Arc::clone(sensors)))
}

/// A consumer of the application's events topic (`{prefix}.{application}`) from the same
/// settings as [`make_manager`]: the cluster (`KAFKA_*`, TLS and SASL included) and a
/// Schema Registry client (`SCHEMA_MANAGER_*`), reporting to the application's `sensors`.
/// Add a group or a start position, then `build()`.
///
/// ```
/// use metrics_core::MetricsConfig;
/// use metrics_kafka::config::{KafkaConfig, RegistryConfig};
///
/// let sensors = std::sync::Arc::default();
/// let metrics = MetricsConfig::builder("myapp").build()?;
/// let kafka = KafkaConfig::builder().bootstrap_servers(["kafka:9092"]).build()?;
/// let registry = RegistryConfig::builder().url("http://registry:8081").build()?;
/// let consumer = metrics_kafka::make_consumer(&metrics, &kafka, &registry, &sensors)?.group("dashboards");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The settings are invalid, the registry client cannot be set up, or the settings choose
/// the embedded development broker: it lives inside the process that publishes (use
/// [`consumer_of`] with that process's manager).
pub fn make_consumer(
    metrics: &MetricsConfig,
    kafka: &KafkaConfig,
    registry: &RegistryConfig,
    sensors: &Arc<SensorDelegate>,
) -> Result<EventConsumerBuilder, ConsumeError> {
    config::check(kafka, registry)?;
    if kafka.is_embedded() {
        return Err(ConsumeError::Settings(format!(
            "KAFKA_BOOTSTRAP_SERVERS is {}: the embedded development broker lives inside \
             the process that publishes; build the consumer there with consumer_of(&manager)",
            config::EMBEDDED
        )));
    }
    let client = registry::connect(registry).map_err(ConsumeError::Registry)?;
    Ok(EventConsumer::builder(kafka, client)
        .topic(metrics.topic())
        .sensors(Arc::clone(sensors)))
}

/// A consumer of `manager`'s events topic on the manager's own cluster (the embedded
/// development broker included), decoding through the manager's registry client and
/// reporting to the manager's sensors.
///
/// # Errors
///
/// The manager has no Kafka backend (Noop, Mock: nothing is published to read), or it
/// was closed.
pub fn consumer_of(manager: &EventManager) -> Result<EventConsumerBuilder, ConsumeError> {
    let backend: &dyn std::any::Any = manager.backend().as_ref();
    let backend = backend.downcast_ref::<KafkaBackend>().ok_or_else(|| {
        ConsumeError::Settings(
            "the manager has no Kafka backend (METRICS_ENABLED=false): nothing is published \
                 to consume"
                .into(),
        )
    })?;
    Ok(backend.consumer()?.sensors(Arc::clone(manager.sensors())))
}
