//! The Kafka client (librdkafka) properties the settings map to.

use std::collections::BTreeMap;

use rdkafka::config::ClientConfig;
use secrecy::ExposeSecret;

use super::{KafkaConfig, SecurityProtocol, kafka_vars};
use metrics_core::config::EnvVar;

/// Properties that have a setting of their own, and that setting.
const TYPED: &[(&str, &EnvVar)] = &[
    ("bootstrap.servers", &kafka_vars::BOOTSTRAP_SERVERS),
    ("metadata.broker.list", &kafka_vars::BOOTSTRAP_SERVERS),
    ("security.protocol", &kafka_vars::SECURITY_PROTOCOL),
    ("ssl.ca.location", &kafka_vars::CLUSTER_CA_PATH),
    ("ssl.certificate.location", &kafka_vars::CLIENT_CERT_PATH),
    ("ssl.key.location", &kafka_vars::CLIENT_KEY_PATH),
    ("sasl.mechanism", &kafka_vars::SASL_MECHANISM),
    ("sasl.mechanisms", &kafka_vars::SASL_MECHANISM),
    ("sasl.username", &kafka_vars::SASL_USERNAME),
    ("sasl.password", &kafka_vars::SASL_PASSWORD),
    ("delivery.timeout.ms", &kafka_vars::DELIVERY_TIMEOUT),
    ("message.timeout.ms", &kafka_vars::DELIVERY_TIMEOUT),
    (
        "queue.buffering.max.messages",
        &kafka_vars::QUEUE_MAX_MESSAGES,
    ),
];

/// Why an extra property key cannot be used: malformed, or set by a typed setting.
pub(super) fn check_extra_key(key: &str) -> Option<String> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_'))
    {
        return Some(format!(
            "key {key:?} is not a Kafka client property name (lowercase letters, digits, '.' and \
             '_', e.g. linger.ms)"
        ));
    }
    TYPED.iter().find(|(k, _)| *k == key).map(|(_, var)| {
        format!(
            "sets {key:?}, which comes from {}: set that instead",
            var.label()
        )
    })
}

impl SecurityProtocol {
    /// The client's spelling for `security.protocol`.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }
}

impl KafkaConfig {
    /// The properties every client of the cluster needs (producer, consumer, admin): the
    /// brokers (when set), security protocol, TLS files, SASL, then the extra properties.
    ///
    /// The result holds the SASL password in clear text, for rdkafka's `ClientConfig`:
    /// never log it.
    pub fn client_properties(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            out.insert(k.to_owned(), v);
        };
        if let Some(servers) = self.brokers() {
            set("bootstrap.servers", servers.join(","));
        }
        set(
            "security.protocol",
            self.security_protocol().as_librdkafka().to_owned(),
        );
        let paths = [
            ("ssl.ca.location", self.cluster_ca_path()),
            ("ssl.certificate.location", self.client_cert_path()),
            ("ssl.key.location", self.client_key_path()),
        ];
        for (key, path) in paths {
            if let Some(path) = path {
                set(key, path.to_string_lossy().into_owned());
            }
        }
        if let Some(mechanism) = self.sasl_mechanism() {
            set("sasl.mechanism", mechanism.to_string());
        }
        if let Some(username) = self.sasl_username() {
            set("sasl.username", username.to_owned());
        }
        if let Some(password) = self.sasl_password() {
            set("sasl.password", password.expose_secret().to_owned());
        }
        for (k, v) in self.extra_properties() {
            set(k, v.clone());
        }
        out
    }

    /// The producer's properties: [`client_properties`](Self::client_properties) plus
    /// `client_id`, idempotence (retries never duplicate), no topic auto-creation (so the
    /// topic check can fail), the delivery timeout and the queue bound. The extra
    /// properties still come last and win; without bootstrap servers, the producer hosts
    /// the embedded development broker.
    pub fn producer_properties(&self, client_id: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::from([
            ("allow.auto.create.topics".to_owned(), "false".to_owned()),
            ("client.id".to_owned(), client_id.to_owned()),
            ("enable.idempotence".to_owned(), "true".to_owned()),
            // Batching for small events: wait up to 5 ms to fill a batch (librdkafka's
            // default, kept explicit: README, "Performance", has the measured trade-offs).
            ("linger.ms".to_owned(), "5".to_owned()),
            (
                "delivery.timeout.ms".to_owned(),
                self.delivery_timeout().as_millis().to_string(),
            ),
            (
                "queue.buffering.max.messages".to_owned(),
                self.queue_max_messages().to_string(),
            ),
        ]);
        if self.is_embedded() {
            out.insert("test.mock.num.brokers".to_owned(), "1".to_owned());
        }
        out.extend(self.client_properties());
        out
    }

    /// A client configuration with [`client_properties`](Self::client_properties), for
    /// consumers and admin clients.
    pub fn client_config(&self) -> ClientConfig {
        to_client_config(self.client_properties())
    }
}

/// An rdkafka configuration holding `properties`.
pub(crate) fn to_client_config(properties: BTreeMap<String, String>) -> ClientConfig {
    properties.into_iter().collect()
}
