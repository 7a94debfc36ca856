//! The Kafka backend's settings: the cluster and producer (`KAFKA_*`), the Schema Registry
//! (`SCHEMA_MANAGER_*`), their rules, and the Kafka client properties they map to.

mod address;
mod kafka;
mod librdkafka;

pub(crate) use librdkafka::to_client_config;
mod registry;
mod registry_url;

use metrics_core::ConfigError;

pub use kafka::{
    EMBEDDED, ExtraProperties, KafkaConfig, KafkaConfigBuilder, SaslMechanism, SecurityProtocol,
    kafka_vars,
};
pub use registry::{
    CompatibilityLevel, RegistryAuth, RegistryConfig, RegistryConfigBuilder, registry_vars,
};
pub use registry_url::{InvalidRegistryUrl, RegistryUrl};

/// Largest value the Kafka client accepts for its integer settings (the delivery timeout
/// in milliseconds, the queue bound).
const LIBRDKAFKA_MAX_INT: u64 = i32::MAX as u64;

/// Checks the Kafka backend's settings together: each group's rules, and that a real
/// cluster has a registry (consumers could not decode events otherwise).
///
/// # Errors
///
/// Every problem of both groups, at once.
pub fn check(kafka: &KafkaConfig, registry: &RegistryConfig) -> Result<(), ConfigError> {
    check_with(kafka, registry, true)
}

/// [`check`], without requiring `KAFKA_BOOTSTRAP_SERVERS` when `brokers_required` is false
/// (a producer handed in knows its brokers).
pub(crate) fn check_with(
    kafka: &KafkaConfig,
    registry: &RegistryConfig,
    brokers_required: bool,
) -> Result<(), ConfigError> {
    let servers = &kafka_vars::BOOTSTRAP_SERVERS;
    let brokers = if brokers_required && kafka.bootstrap_servers().is_none() {
        // As in Safir: a deployment that lost this variable must not look healthy while
        // its events go nowhere.
        Err(ConfigError::invalid(
            servers,
            format!(
                "is unset: set it to your Kafka brokers (host:port, comma-separated), or to \
                 {EMBEDDED} to run an in-process development broker (events never leave the \
                 process); or disable the Kafka backend with METRICS_ENABLED=false"
            ),
        ))
    } else {
        Ok(())
    };
    let together = if kafka.brokers().is_some() && !registry.url_is_set() {
        let (servers, url) = (&kafka_vars::BOOTSTRAP_SERVERS, &registry_vars::URL);
        Err(ConfigError::combination(
            &[servers, url],
            format!(
                "{} is set but {} is unset: events on a real cluster need a Schema Registry so \
                 consumers can decode them; set {} (e.g. http://schema-registry:8081)",
                servers.label(),
                url.label(),
                url.name
            ),
        ))
    } else {
        Ok(())
    };
    ConfigError::combine([kafka.validate(), registry.validate(), brokers, together])
}

#[cfg(test)]
#[path = "kafka_tests.rs"]
mod kafka_tests;
#[cfg(test)]
#[path = "registry_tests.rs"]
mod registry_tests;
