//! The Kafka cluster and producer settings (`KAFKA_*`) and their rules.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use metrics_core::config::{ConfigError, Describe, check, parse};
use secrecy::{ExposeSecret, SecretString};

use super::{LIBRDKAFKA_MAX_INT, address};

metrics_core::settings! {
    /// How to reach the Kafka cluster and how the producer behaves (`KAFKA_*`).
    ///
    /// ```
    /// use metrics_kafka::config::{KafkaConfig, SecurityProtocol};
    ///
    /// let kafka = KafkaConfig::builder()
    ///     .bootstrap_servers(["kafka-1:9092", "kafka-2:9092"])
    ///     .security_protocol(SecurityProtocol::Plaintext)
    ///     .build()?;
    /// assert_eq!(kafka.bootstrap_servers().map(<[String]>::len), Some(2));
    /// # Ok::<(), metrics_core::ConfigError>(())
    /// ```
    pub struct KafkaConfig;
    /// Builds a [`KafkaConfig`] from code; [`build`](Self::build) runs the same checks as
    /// the environment loader.
    builder KafkaConfigBuilder;
    values KafkaValues;
    vars kafka_vars;

    /// Comma-separated `host:port` list of brokers, or `embedded` for an in-process development broker (events never leave the process); required with the Kafka backend
    bootstrap_servers: Option<Vec<String>> = None;
        env BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS";
        parse parse::some(parse::list);
        access {
            set(servers: impl IntoIterator<Item = impl Into<String>>) =>
                Some(servers.into_iter().map(Into::into).collect());
            get(v) -> Option<&[String]> => v.as_deref();
        }
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    security_protocol: SecurityProtocol = SecurityProtocol::Plaintext;
        env SECURITY_PROTOCOL = "KAFKA_SECURITY_PROTOCOL";
        parse parse::choice;
        access { copy }
    /// PEM file with the cluster's CA certificate; required for SSL, optional for SASL_SSL
    cluster_ca_path: Option<PathBuf> = None;
        env CLUSTER_CA_PATH = "KAFKA_CLUSTER_CA_PATH";
        parse parse::some(parse::path);
        access { some_path }
    /// PEM client certificate for TLS client authentication (with KAFKA_CLIENT_KEY_PATH)
    client_cert_path: Option<PathBuf> = None;
        env CLIENT_CERT_PATH = "KAFKA_CLIENT_CERT_PATH";
        parse parse::some(parse::path);
        access { some_path }
    /// PEM client private key for TLS client authentication (with KAFKA_CLIENT_CERT_PATH)
    client_key_path: Option<PathBuf> = None;
        env CLIENT_KEY_PATH = "KAFKA_CLIENT_KEY_PATH";
        parse parse::some(parse::path);
        access { some_path }
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required for SASL_PLAINTEXT and SASL_SSL
    sasl_mechanism: Option<SaslMechanism> = None;
        env SASL_MECHANISM = "KAFKA_SASL_MECHANISM";
        parse parse::some(parse::choice);
        access { some_copy(SaslMechanism) }
    /// SASL username; required for SASL_PLAINTEXT and SASL_SSL
    sasl_username: Option<String> = None;
        env SASL_USERNAME = "KAFKA_SASL_USERNAME";
        parse parse::some(parse::text);
        access { some_text }
    /// SASL password; required for SASL_PLAINTEXT and SASL_SSL
    sasl_password: Option<SecretString> = None;
        env SASL_PASSWORD = "KAFKA_SASL_PASSWORD" [secret];
        parse parse::some(parse::secret);
        access { some_secret }
    /// How long an event may wait for the broker before it is dropped
    delivery_timeout: Duration = Duration::from_secs(120);
        env DELIVERY_TIMEOUT = "KAFKA_DELIVERY_TIMEOUT";
        parse parse::duration;
        access { copy }
    /// Bound of the producer queue, in events; as many more are held per event type while its schema is not registered yet
    queue_max_messages: usize = 100_000;
        env QUEUE_MAX_MESSAGES = "KAFKA_QUEUE_MAX_MESSAGES";
        parse parse::count(1, LIBRDKAFKA_MAX_INT);
        access { copy }
    /// How long a topic check (a Metadata request) may take
    metadata_timeout: Duration = Duration::from_secs(10);
        env METADATA_TIMEOUT = "KAFKA_METADATA_TIMEOUT";
        parse parse::duration;
        access { copy }
    /// Development opt-in: create the events topic if it is missing
    create_topics: bool = false;
        env CREATE_TOPICS = "KAFKA_CREATE_TOPICS";
        parse parse::boolean;
        access { copy }
    /// Extra Kafka client properties as `key=value,key=value` (values cannot contain commas)
    extra_properties: ExtraProperties = ExtraProperties::default();
        env EXTRA_PROPERTIES = "KAFKA_EXTRA_PROPERTIES" [secret];
        parse |s: &str| parse::properties(s).map(ExtraProperties);
        access {
            set(properties: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) =>
                ExtraProperties(properties.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
            get(v) -> &BTreeMap<String, String> => &v.0;
        }
}

/// The `KAFKA_BOOTSTRAP_SERVERS` value that chooses the embedded development broker.
pub const EMBEDDED: &str = "embedded";

impl KafkaConfig {
    /// A builder with every default; no brokers yet: set
    /// [`bootstrap_servers`](KafkaConfigBuilder::bootstrap_servers), or choose
    /// [`embedded_broker`](KafkaConfigBuilder::embedded_broker) for development.
    pub fn builder() -> KafkaConfigBuilder {
        KafkaConfigBuilder::default()
    }

    /// Whether the embedded development broker was chosen (`KAFKA_BOOTSTRAP_SERVERS=embedded`).
    pub fn is_embedded(&self) -> bool {
        self.values.is_embedded()
    }

    /// The brokers of a real cluster: `None` when unset or embedded.
    pub fn brokers(&self) -> Option<&[String]> {
        self.bootstrap_servers().filter(|_| !self.is_embedded())
    }
}

impl KafkaValues {
    fn is_embedded(&self) -> bool {
        matches!(self.bootstrap_servers.as_deref(), Some([only]) if only == EMBEDDED)
    }
}

impl KafkaConfigBuilder {
    /// Chooses the embedded development broker (`KAFKA_BOOTSTRAP_SERVERS=embedded`): an
    /// in-process broker, for examples and tests; events never leave the process.
    pub fn embedded_broker(mut self) -> Self {
        self.values.bootstrap_servers = Some(vec![EMBEDDED.to_owned()]);
        self
    }

    /// One entry of `KAFKA_EXTRA_PROPERTIES`: an extra client property, replacing an
    /// earlier value of the same key. Properties that have a setting of their own are
    /// rejected by [`build`](Self::build).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.values
            .extra_properties
            .0
            .insert(key.into(), value.into());
        self
    }
}

/// How the Kafka client connects to the brokers (`KAFKA_SECURITY_PROTOCOL`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
pub enum SecurityProtocol {
    /// No TLS, no authentication (`PLAINTEXT`).
    #[default]
    Plaintext,
    /// TLS, optionally with a client certificate (`SSL`).
    Ssl,
    /// SASL authentication without TLS (`SASL_PLAINTEXT`).
    SaslPlaintext,
    /// SASL authentication over TLS (`SASL_SSL`).
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether the connection uses TLS (`SSL`, `SASL_SSL`).
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether the connection uses SASL (`SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// The SASL mechanism (`KAFKA_SASL_MECHANISM`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::Display, strum::VariantNames,
)]
#[strum(ascii_case_insensitive)]
pub enum SaslMechanism {
    /// `PLAIN`.
    #[strum(serialize = "PLAIN")]
    Plain,
    /// `SCRAM-SHA-256`.
    #[strum(serialize = "SCRAM-SHA-256")]
    ScramSha256,
    /// `SCRAM-SHA-512` (Safir's default, and Strimzi's usual choice).
    #[strum(serialize = "SCRAM-SHA-512")]
    ScramSha512,
}

metrics_core::describe_with_display!(SecurityProtocol, SaslMechanism);

/// Extra client properties; `Debug` shows the keys and redacts values of keys that look
/// sensitive (passwords, secrets, keys and tokens).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtraProperties(pub BTreeMap<String, String>);

impl ExtraProperties {
    fn is_sensitive(key: &str) -> bool {
        [
            "password",
            "secret",
            "token",
            "pem",
            "ssl_key",
            "jaas",
            "oauthbearer.config",
        ]
        .iter()
        .any(|word| key.contains(word))
    }
}

impl fmt::Debug for ExtraProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.0 {
            if Self::is_sensitive(k) {
                map.entry(k, &format_args!("[REDACTED]"));
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

impl Describe for ExtraProperties {
    fn describe(&self) -> String {
        self.0.describe()
    }
}

impl KafkaValues {
    fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        self.check_values(&mut problems);
        self.check_combinations(&mut problems);
        for (var, path) in [
            (&kafka_vars::CLUSTER_CA_PATH, &self.cluster_ca_path),
            (&kafka_vars::CLIENT_CERT_PATH, &self.client_cert_path),
            (&kafka_vars::CLIENT_KEY_PATH, &self.client_key_path),
        ] {
            if let Some(path) = path {
                problems.extend(check::readable_file(var, path));
            }
        }
        problems
    }

    fn check_values(&self, p: &mut Vec<ConfigError>) {
        if let Some(servers) = self
            .bootstrap_servers
            .as_ref()
            .filter(|_| !self.is_embedded())
        {
            if servers.is_empty() {
                p.push(ConfigError::invalid(
                    &kafka_vars::BOOTSTRAP_SERVERS,
                    format!(
                        "is an empty list: list at least one broker as host:port, or set it to \
                         {EMBEDDED} for the in-process development broker"
                    ),
                ));
            }
            if servers.len() > 1 && servers.iter().any(|s| s == EMBEDDED) {
                p.push(ConfigError::invalid(
                    &kafka_vars::BOOTSTRAP_SERVERS,
                    format!("{EMBEDDED} stands alone: it is not a broker to list with others"),
                ));
            }
            for server in servers.iter().filter(|s| *s != EMBEDDED) {
                if let Err(why) = address::check_server(server) {
                    p.push(ConfigError::invalid(
                        &kafka_vars::BOOTSTRAP_SERVERS,
                        format!(
                            "entry {server:?} is not valid: {why}; expected a comma-separated list \
                             of host:port, e.g. kafka-1:9092,kafka-2:9092"
                        ),
                    ));
                }
            }
        }

        let ms = self.delivery_timeout.as_millis();
        let shown = humantime::format_duration(self.delivery_timeout);
        if ms == 0 {
            p.push(ConfigError::invalid(
                &kafka_vars::DELIVERY_TIMEOUT,
                format!(
                    "is {shown}: it must be at least 1ms (e.g. {})",
                    kafka_vars::DELIVERY_TIMEOUT.default_text()
                ),
            ));
        } else if ms > u128::from(LIBRDKAFKA_MAX_INT) {
            p.push(ConfigError::invalid(
                &kafka_vars::DELIVERY_TIMEOUT,
                format!(
                    "is {shown}: it must be at most {LIBRDKAFKA_MAX_INT}ms (about 24 days), the \
                     Kafka client's limit"
                ),
            ));
        }
        p.extend(check::positive(
            &kafka_vars::METADATA_TIMEOUT,
            self.metadata_timeout,
        ));

        if self.queue_max_messages == 0 || self.queue_max_messages as u64 > LIBRDKAFKA_MAX_INT {
            p.push(ConfigError::invalid(
                &kafka_vars::QUEUE_MAX_MESSAGES,
                format!(
                    "is {}: it must be a whole number between 1 and {LIBRDKAFKA_MAX_INT} (the \
                     queue is always bounded; the default is {})",
                    self.queue_max_messages,
                    kafka_vars::QUEUE_MAX_MESSAGES.default_text()
                ),
            ));
        }

        for key in self.extra_properties.0.keys() {
            if let Some(problem) = super::librdkafka::check_extra_key(key) {
                p.push(ConfigError::invalid(&kafka_vars::EXTRA_PROPERTIES, problem));
            }
        }

        if let Some(user) = &self.sasl_username
            && user.chars().any(char::is_control)
        {
            p.push(ConfigError::invalid(
                &kafka_vars::SASL_USERNAME,
                "contains a control character (such as a trailing newline): remove it",
            ));
        }
        if let Some(password) = &self.sasl_password {
            p.extend(check::no_control_chars_in_secret(
                &kafka_vars::SASL_PASSWORD,
                password.expose_secret(),
            ));
        }
    }

    fn check_combinations(&self, p: &mut Vec<ConfigError>) {
        use kafka_vars::*;
        let protocol = self.security_protocol;
        let is = format!("{} is {protocol}", SECURITY_PROTOCOL.label());

        if self.is_embedded() && protocol != SecurityProtocol::Plaintext {
            p.push(ConfigError::combination(
                &[&SECURITY_PROTOCOL, &BOOTSTRAP_SERVERS],
                format!(
                    "{is} but {} is {EMBEDDED}, and the embedded development broker only speaks \
                     PLAINTEXT: set {} to your cluster's brokers, or unset {}",
                    BOOTSTRAP_SERVERS.label(),
                    BOOTSTRAP_SERVERS.name,
                    SECURITY_PROTOCOL.name
                ),
            ));
            return;
        }

        let tls_set: Vec<_> = [
            (&CLUSTER_CA_PATH, self.cluster_ca_path.is_some()),
            (&CLIENT_CERT_PATH, self.client_cert_path.is_some()),
            (&CLIENT_KEY_PATH, self.client_key_path.is_some()),
        ]
        .into_iter()
        .filter_map(|(var, set)| set.then_some(var))
        .collect();
        if !protocol.uses_tls() && !tls_set.is_empty() {
            p.push(ConfigError::ignored(
                &tls_set,
                &SECURITY_PROTOCOL,
                format_args!("{is}, which does not use TLS"),
                format_args!("set {} to SSL or SASL_SSL", SECURITY_PROTOCOL.name),
            ));
        }
        if protocol == SecurityProtocol::Ssl && self.cluster_ca_path.is_none() {
            p.push(ConfigError::requires(
                &SECURITY_PROTOCOL,
                &is,
                &[&CLUSTER_CA_PATH],
                " to the path of the PEM file with the CA certificate of the Kafka cluster",
            ));
        }
        if protocol.uses_tls() {
            let cert = self.client_cert_path.is_some();
            let key = self.client_key_path.is_some();
            if cert != key {
                let (has, lacks) = if cert {
                    (&CLIENT_CERT_PATH, &CLIENT_KEY_PATH)
                } else {
                    (&CLIENT_KEY_PATH, &CLIENT_CERT_PATH)
                };
                p.push(ConfigError::both_or_neither(
                    has,
                    lacks,
                    "TLS client authentication (the certificate and the key)",
                ));
            }
        }

        let sasl = [
            (&SASL_MECHANISM, self.sasl_mechanism.is_some()),
            (&SASL_USERNAME, self.sasl_username.is_some()),
            (&SASL_PASSWORD, self.sasl_password.is_some()),
        ];
        if protocol.uses_sasl() {
            let missing: Vec<_> = sasl
                .iter()
                .filter(|(_, set)| !set)
                .map(|(v, _)| *v)
                .collect();
            if !missing.is_empty() {
                let hint = if self.sasl_mechanism.is_none() {
                    format!(
                        " ({} takes one of {}; Safir's default was SCRAM-SHA-512)",
                        SASL_MECHANISM.name,
                        <SaslMechanism as strum::VariantNames>::VARIANTS.join(", ")
                    )
                } else {
                    String::new()
                };
                p.push(ConfigError::requires(
                    &SECURITY_PROTOCOL,
                    &is,
                    &missing,
                    hint,
                ));
            }
        } else {
            let set: Vec<_> = sasl
                .iter()
                .filter(|(_, set)| *set)
                .map(|(v, _)| *v)
                .collect();
            if !set.is_empty() {
                p.push(ConfigError::ignored(
                    &set,
                    &SECURITY_PROTOCOL,
                    format_args!("{is}, which does not use SASL"),
                    format_args!(
                        "set {} to SASL_PLAINTEXT or SASL_SSL",
                        SECURITY_PROTOCOL.name
                    ),
                ));
            }
        }
    }
}
