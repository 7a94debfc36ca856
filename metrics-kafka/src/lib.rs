//! Kafka backend of app-metrics: rdkafka publishing, the Schema Registry client, a
//! consumer that decodes events, and the embedded development stack.

pub mod backend;
pub mod consumer;
pub mod producer;
pub mod registry;
pub mod topic;

use std::sync::Arc;

use metrics_core::config::{BackendKind, MetricsConfig};
use metrics_core::{EventError, EventManager};

pub use backend::{KafkaBackend, KafkaOptions, frame_header};
pub use consumer::{ConsumeError, DecodedEvent, EventConsumer, RawMessage};
pub use producer::{DeliveryStats, KafkaProducer};
pub use topic::TopicSpec;

/// The rdkafka crate this backend is built on, for applications that share its producer.
pub use rdkafka;

/// The event manager the configuration selects, in Safir's order: Mock
/// (`METRICS_ENABLED=false`, `METRICS_MOCK=true`), Noop (`METRICS_ENABLED=false`), else
/// Kafka (the embedded development stack when `KAFKA_BOOTSTRAP_SERVERS` is unset).
pub fn make_manager(config: &MetricsConfig) -> Result<EventManager, EventError> {
    Ok(match config.backend() {
        BackendKind::Mock => EventManager::mock(config),
        BackendKind::Noop => EventManager::noop(config),
        BackendKind::Kafka => {
            EventManager::with_backend(config, Arc::new(KafkaBackend::from_config(config)?))
        }
    })
}
