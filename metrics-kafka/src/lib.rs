//! Kafka backend of app-metrics: its settings, rdkafka publishing with the failure policy,
//! the Schema Registry clients, Confluent framing, a consumer that decodes events, and the
//! embedded development stack. `docs/architecture.md` maps the modules.

pub mod backend;
pub mod config;
pub mod consumer;
pub mod error;
pub mod framing;
pub mod producer;
mod registration;
pub mod registry;
mod sink;
pub mod topic;

#[cfg(test)]
mod test_support;

use std::sync::Arc;

use metrics_core::config::{BackendKind, MetricsConfig};
use metrics_core::{EventError, EventManager};

pub use backend::{KafkaBackend, KafkaBackendBuilder};
pub use config::{KafkaConfig, RegistryConfig};
pub use consumer::{
    ConsumeError, DecodeFailure, DecodedEvent, EventConsumer, EventDecoder, MessageError,
    RawMessage, Received, StartAt,
};
pub use error::Error;
pub use producer::{DeliveryStats, KafkaProducer};
pub use topic::TopicSpec;

/// The rdkafka crate this backend is built on, for applications that share its producer.
pub use rdkafka;

/// The event manager the settings select, in Safir's order: Mock
/// (`METRICS_ENABLED=false`, `METRICS_MOCK=true`), Noop (`METRICS_ENABLED=false`), else
/// Kafka (the embedded development stack when `KAFKA_BOOTSTRAP_SERVERS` is unset).
///
/// # Errors
///
/// As [`KafkaBackendBuilder::build`], for the Kafka backend.
pub fn make_manager(
    metrics: &MetricsConfig,
    kafka: &KafkaConfig,
    registry: &RegistryConfig,
) -> Result<EventManager, EventError> {
    Ok(match metrics.backend() {
        BackendKind::Mock => EventManager::mock(metrics),
        BackendKind::Noop => EventManager::noop(metrics),
        BackendKind::Kafka => EventManager::with_backend(
            metrics,
            Arc::new(KafkaBackend::from_config(metrics, kafka, registry)?),
        ),
    })
}
