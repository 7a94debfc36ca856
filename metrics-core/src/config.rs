//! Configuration of the metrics event system: Safir's environment variables, a builder, and validation.
//!
//! A [`MetricsConfig`] is always valid: the only ways to get one are
//! [`MetricsConfig::from_env`], [`MetricsConfig::from_lookup`] and
//! [`MetricsConfigBuilder::build`], and all of them run the same checks. The
//! environment loader parses every variable into the builder and then calls
//! `build`, so a setting made from code is checked exactly like the same
//! setting made through the environment.
//!
//! Error reporting happens in two rounds, each reporting every problem it finds
//! (one [`ConfigError`], or [`ConfigError::Several`]):
//! 1. every environment variable is parsed (booleans, numbers, durations,
//!    enumerations, key=value lists); if any cannot be parsed, those problems
//!    are returned;
//! 2. otherwise every rule is checked (names, ranges, combinations, files).
//!
//! As in Safir, the Kafka and Schema Registry settings are only used by the
//! Kafka backend: when metrics are disabled ([`BackendKind::Noop`] or
//! [`BackendKind::Mock`]), their values are still parsed but their rules and
//! files are not checked.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Default topic prefix (`METRICS_EVENTS_TOPIC_PREFIX`), Safir's.
pub const DEFAULT_TOPIC_PREFIX: &str = "lsst.square.metrics.events";
/// Default interval between repeated logs of the same delivery problem (`METRICS_BACKOFF_INTERVAL`).
pub const DEFAULT_BACKOFF_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default time librdkafka keeps trying to deliver an event (`KAFKA_DELIVERY_TIMEOUT`).
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Default bound of the producer queue, in events (`KAFKA_QUEUE_MAX_MESSAGES`).
pub const DEFAULT_QUEUE_MAX_MESSAGES: usize = 100_000;
/// Default Schema Registry connection timeout (`SCHEMA_MANAGER_CONNECT_TIMEOUT`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default Schema Registry request timeout (`SCHEMA_MANAGER_REQUEST_TIMEOUT`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of retries of a failed Schema Registry request (`SCHEMA_MANAGER_MAX_RETRIES`).
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Largest value librdkafka accepts for its integer properties (`delivery.timeout.ms`,
/// `queue.buffering.max.messages`).
const LIBRDKAFKA_MAX_INT: u64 = i32::MAX as u64;
/// Longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

// ---------------------------------------------------------------------------
// The table of environment variables
// ---------------------------------------------------------------------------

/// One environment variable read by [`MetricsConfig::from_env`]: a row of the README's
/// configuration table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable's name, e.g. `KAFKA_SECURITY_PROTOCOL`.
    pub name: &'static str,
    /// The [`MetricsConfigBuilder`] method that sets the same thing from code.
    pub field: &'static str,
    /// The default, as text the variable accepts, or `(required)`, `(unset)` or `(empty)`.
    pub default: &'static str,
    /// Whether the value may hold a secret: it is never shown in errors or `Debug` output.
    pub sensitive: bool,
    /// One line saying what the variable does.
    pub description: &'static str,
}

/// The environment variables, one constant per variable; [`ENV_VARS`] lists them all.
mod var {
    use super::EnvVar;

    const fn v(
        name: &'static str,
        field: &'static str,
        default: &'static str,
        description: &'static str,
    ) -> EnvVar {
        EnvVar {
            name,
            field,
            default,
            sensitive: false,
            description,
        }
    }

    const fn secret(name: &'static str, field: &'static str, description: &'static str) -> EnvVar {
        EnvVar {
            name,
            field,
            default: "(unset)",
            sensitive: true,
            description,
        }
    }

    pub(super) const APPLICATION: EnvVar = v(
        "METRICS_APPLICATION",
        "application",
        "(required)",
        "Name of the application; an Avro name (letters, digits, `_`), part of the topic and namespace",
    );
    pub(super) const ENABLED: EnvVar = v(
        "METRICS_ENABLED",
        "enabled",
        "true",
        "Whether to publish events to Kafka; `false` selects the Noop (or Mock) backend",
    );
    pub(super) const MOCK: EnvVar = v(
        "METRICS_MOCK",
        "mock",
        "false",
        "With `METRICS_ENABLED=false`, record published events for test assertions",
    );
    pub(super) const TOPIC_PREFIX: EnvVar = v(
        "METRICS_EVENTS_TOPIC_PREFIX",
        "topic_prefix",
        super::DEFAULT_TOPIC_PREFIX,
        "Prefix of the events topic; the topic is `{prefix}.{application}`",
    );
    pub(super) const RAISE_ON_ERROR: EnvVar = v(
        "METRICS_RAISE_ON_ERROR",
        "raise_on_error",
        "false",
        "Strict mode: return every publishing error instead of dropping and counting the event",
    );
    pub(super) const BACKOFF_INTERVAL: EnvVar = v(
        "METRICS_BACKOFF_INTERVAL",
        "backoff_interval",
        "5m",
        "Log a recurring delivery problem at most once per this interval (`300`, `5m`, `1h 30m`)",
    );
    pub(super) const BOOTSTRAP_SERVERS: EnvVar = v(
        "KAFKA_BOOTSTRAP_SERVERS",
        "bootstrap_servers",
        "(unset)",
        "Comma-separated `host:port` list of brokers; unset runs an embedded development broker",
    );
    pub(super) const SECURITY_PROTOCOL: EnvVar = v(
        "KAFKA_SECURITY_PROTOCOL",
        "security_protocol",
        "PLAINTEXT",
        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    );
    pub(super) const CLUSTER_CA_PATH: EnvVar = v(
        "KAFKA_CLUSTER_CA_PATH",
        "cluster_ca_path",
        "(unset)",
        "PEM file with the cluster's CA certificate; required for SSL, optional for SASL_SSL",
    );
    pub(super) const CLIENT_CERT_PATH: EnvVar = v(
        "KAFKA_CLIENT_CERT_PATH",
        "client_cert_path",
        "(unset)",
        "PEM client certificate for TLS client authentication (with KAFKA_CLIENT_KEY_PATH)",
    );
    pub(super) const CLIENT_KEY_PATH: EnvVar = v(
        "KAFKA_CLIENT_KEY_PATH",
        "client_key_path",
        "(unset)",
        "PEM client private key for TLS client authentication (with KAFKA_CLIENT_CERT_PATH)",
    );
    pub(super) const SASL_MECHANISM: EnvVar = v(
        "KAFKA_SASL_MECHANISM",
        "sasl_mechanism",
        "(unset)",
        "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required for SASL_PLAINTEXT and SASL_SSL",
    );
    pub(super) const SASL_USERNAME: EnvVar = v(
        "KAFKA_SASL_USERNAME",
        "sasl_username",
        "(unset)",
        "SASL username; required for SASL_PLAINTEXT and SASL_SSL",
    );
    pub(super) const SASL_PASSWORD: EnvVar = secret(
        "KAFKA_SASL_PASSWORD",
        "sasl_password",
        "SASL password (secret); required for SASL_PLAINTEXT and SASL_SSL",
    );
    pub(super) const DELIVERY_TIMEOUT: EnvVar = v(
        "KAFKA_DELIVERY_TIMEOUT",
        "delivery_timeout",
        "2m",
        "How long an event may wait for the broker before it is dropped (`delivery.timeout.ms`)",
    );
    pub(super) const QUEUE_MAX_MESSAGES: EnvVar = v(
        "KAFKA_QUEUE_MAX_MESSAGES",
        "queue_max_messages",
        "100000",
        "Bound of the producer queue in events (`queue.buffering.max.messages`)",
    );
    pub(super) const CREATE_TOPICS: EnvVar = v(
        "KAFKA_CREATE_TOPICS",
        "create_topics",
        "false",
        "Development opt-in: create the events topic if it is missing",
    );
    pub(super) const EXTRA_PROPERTIES: EnvVar = EnvVar {
        name: "KAFKA_EXTRA_PROPERTIES",
        field: "kafka_property",
        default: "(unset)",
        sensitive: true,
        description: "Extra librdkafka properties as `key=value,key=value` (values cannot contain commas)",
    };
    pub(super) const REGISTRY_URL: EnvVar = v(
        "SCHEMA_MANAGER_REGISTRY_URL",
        "registry_url",
        "(unset)",
        "Schema Registry base URL (http:// or https://); unset uses an embedded in-memory registry",
    );
    pub(super) const SUFFIX: EnvVar = v(
        "SCHEMA_MANAGER_SUFFIX",
        "schema_suffix",
        "(empty)",
        "Suffix appended to every registry subject name (e.g. `_dev`)",
    );
    pub(super) const COMPATIBILITY: EnvVar = v(
        "SCHEMA_MANAGER_COMPATIBILITY",
        "compatibility",
        "(unset)",
        "Compatibility level to set on each subject (NONE, BACKWARD, ..., FULL_TRANSITIVE); unset leaves the registry's",
    );
    pub(super) const REGISTRY_USERNAME: EnvVar = v(
        "SCHEMA_MANAGER_REGISTRY_USERNAME",
        "registry_basic_auth",
        "(unset)",
        "Registry basic-auth username (with SCHEMA_MANAGER_REGISTRY_PASSWORD)",
    );
    pub(super) const REGISTRY_PASSWORD: EnvVar = secret(
        "SCHEMA_MANAGER_REGISTRY_PASSWORD",
        "registry_basic_auth",
        "Registry basic-auth password (secret; with SCHEMA_MANAGER_REGISTRY_USERNAME)",
    );
    pub(super) const REGISTRY_TOKEN: EnvVar = secret(
        "SCHEMA_MANAGER_REGISTRY_TOKEN",
        "registry_bearer_token",
        "Registry bearer token (secret); not together with username and password",
    );
    pub(super) const REGISTRY_CA_PATH: EnvVar = v(
        "SCHEMA_MANAGER_REGISTRY_CA_PATH",
        "registry_ca_path",
        "(unset)",
        "PEM file with the CA certificate of an https:// registry, if not in the system store",
    );
    pub(super) const CONNECT_TIMEOUT: EnvVar = v(
        "SCHEMA_MANAGER_CONNECT_TIMEOUT",
        "connect_timeout",
        "5s",
        "Registry connection timeout",
    );
    pub(super) const REQUEST_TIMEOUT: EnvVar = v(
        "SCHEMA_MANAGER_REQUEST_TIMEOUT",
        "request_timeout",
        "10s",
        "Registry request timeout",
    );
    pub(super) const MAX_RETRIES: EnvVar = v(
        "SCHEMA_MANAGER_MAX_RETRIES",
        "max_retries",
        "3",
        "Retries of a failed registry request",
    );
}

/// Every environment variable the loader reads, in README order: the single source of
/// truth for the README's configuration table.
pub const ENV_VARS: &[EnvVar] = &[
    var::APPLICATION,
    var::ENABLED,
    var::MOCK,
    var::TOPIC_PREFIX,
    var::RAISE_ON_ERROR,
    var::BACKOFF_INTERVAL,
    var::BOOTSTRAP_SERVERS,
    var::SECURITY_PROTOCOL,
    var::CLUSTER_CA_PATH,
    var::CLIENT_CERT_PATH,
    var::CLIENT_KEY_PATH,
    var::SASL_MECHANISM,
    var::SASL_USERNAME,
    var::SASL_PASSWORD,
    var::DELIVERY_TIMEOUT,
    var::QUEUE_MAX_MESSAGES,
    var::CREATE_TOPICS,
    var::EXTRA_PROPERTIES,
    var::REGISTRY_URL,
    var::SUFFIX,
    var::COMPATIBILITY,
    var::REGISTRY_USERNAME,
    var::REGISTRY_PASSWORD,
    var::REGISTRY_TOKEN,
    var::REGISTRY_CA_PATH,
    var::CONNECT_TIMEOUT,
    var::REQUEST_TIMEOUT,
    var::MAX_RETRIES,
];

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A configuration problem. Every message names the environment variable (and, for rule
/// violations, the builder method in parentheses), lists allowed values where there is a
/// fixed set, says how to fix it, and never contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is required: {hint}")]
    Missing {
        /// The environment variable.
        var: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// An environment value could not be parsed as its type.
    #[error("{var}={value:?} is not valid: expected {expected}")]
    InvalidValue {
        /// The environment variable.
        var: &'static str,
        /// The value as given (after trimming).
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// An environment value that may hold a secret could not be parsed; the value is not shown.
    #[error(
        "{var} is not valid: {reason} (the value is not shown because it may contain a secret)"
    )]
    InvalidSensitiveValue {
        /// The environment variable.
        var: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// An environment value is not valid Unicode.
    #[error("{var} is not valid UTF-8: set it to a UTF-8 value")]
    NotUnicode {
        /// The environment variable.
        var: &'static str,
    },
    /// A setting breaks a rule on its own (a name, a range, a format).
    #[error("{var} ({field}) {problem}")]
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// The builder method that sets it.
        field: &'static str,
        /// What is wrong and how to fix it (never contains a secret).
        problem: String,
    },
    /// Settings that are required together, or that would be silently ignored together.
    #[error("{message}")]
    Combination {
        /// The environment variables involved.
        vars: Vec<&'static str>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file named by a setting cannot be used.
    #[error(
        "{var} ({field}) names {path:?}, which {reason}: fix the path or make the file readable by this process"
    )]
    File {
        /// The environment variable.
        var: &'static str,
        /// The builder method that sets it.
        field: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// More than one problem; each is listed on its own line.
    #[error("{}", several(.0))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// The individual problems: the list of [`ConfigError::Several`], or this error alone.
    pub fn problems(&self) -> &[ConfigError] {
        match self {
            ConfigError::Several(all) => all,
            one => std::slice::from_ref(one),
        }
    }

    /// One error for a non-empty list of problems.
    fn from_problems(mut problems: Vec<ConfigError>) -> ConfigError {
        if problems.len() == 1
            && let Some(one) = problems.pop()
        {
            return one;
        }
        ConfigError::Several(problems)
    }

    fn invalid(var: &EnvVar, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            var: var.name,
            field: var.field,
            problem: problem.into(),
        }
    }

    fn combination(vars: &[&EnvVar], message: String) -> ConfigError {
        ConfigError::Combination {
            vars: vars.iter().map(|v| v.name).collect(),
            message,
        }
    }
}

fn several(all: &[ConfigError]) -> String {
    let mut out = format!("{} configuration problems:", all.len());
    for e in all {
        out.push_str("\n  - ");
        out.push_str(&e.to_string());
    }
    out
}

/// `NAME (field)`, how rule violations name a setting.
fn label(v: &EnvVar) -> String {
    format!("{} ({})", v.name, v.field)
}

/// `A, B and C` of the labels.
fn labels(vs: &[&EnvVar]) -> String {
    let all: Vec<String> = vs.iter().map(|v| label(v)).collect();
    match all.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

// ---------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------

/// A value of an enumerated setting could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not valid: expected {expected}")]
pub struct ParseEnumError {
    /// The value given.
    pub value: String,
    /// The accepted spellings, e.g. `one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL`.
    pub expected: String,
}

/// An enumeration parsed from the environment: its values and their environment spellings.
trait Choice: Copy + PartialEq + 'static {
    const CHOICES: &'static [(Self, &'static str)];

    fn expected() -> String {
        let names: Vec<&str> = Self::CHOICES.iter().map(|(_, n)| *n).collect();
        format!("one of {}", names.join(", "))
    }

    /// Case-insensitive, `-` and `_` interchangeable.
    fn parse_choice(s: &str) -> Result<Self, ParseEnumError> {
        fn norm(b: u8) -> u8 {
            if b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            }
        }
        let s = s.trim();
        Self::CHOICES
            .iter()
            .find(|(_, name)| {
                name.len() == s.len()
                    && name.bytes().zip(s.bytes()).all(|(a, b)| norm(a) == norm(b))
            })
            .map(|(v, _)| *v)
            .ok_or_else(|| ParseEnumError {
                value: s.to_owned(),
                expected: Self::expected(),
            })
    }

    fn env_name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("", |(_, n)| *n)
    }
}

/// How the Kafka client connects to the brokers (`KAFKA_SECURITY_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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

impl Choice for SecurityProtocol {
    const CHOICES: &'static [(Self, &'static str)] = &[
        (Self::Plaintext, "PLAINTEXT"),
        (Self::Ssl, "SSL"),
        (Self::SaslPlaintext, "SASL_PLAINTEXT"),
        (Self::SaslSsl, "SASL_SSL"),
    ];
}

impl SecurityProtocol {
    /// librdkafka's spelling for `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext`, `sasl_ssl`.
    pub fn as_librdkafka(&self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    /// The environment spelling: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
    pub fn as_env(&self) -> &'static str {
        self.env_name()
    }

    /// Whether the connection uses TLS (`SSL`, `SASL_SSL`).
    pub fn uses_tls(&self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether the connection uses SASL (`SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn uses_sasl(&self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// The SASL mechanism (`KAFKA_SASL_MECHANISM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN`.
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512` (Safir's default, and Strimzi's usual choice).
    ScramSha512,
}

impl Choice for SaslMechanism {
    const CHOICES: &'static [(Self, &'static str)] = &[
        (Self::Plain, "PLAIN"),
        (Self::ScramSha256, "SCRAM-SHA-256"),
        (Self::ScramSha512, "SCRAM-SHA-512"),
    ];
}

impl SaslMechanism {
    /// librdkafka's spelling for `sasl.mechanism`: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    pub fn as_librdkafka(&self) -> &'static str {
        self.env_name()
    }
}

/// A Schema Registry compatibility level (`SCHEMA_MANAGER_COMPATIBILITY`); the default is
/// Confluent's, `BACKWARD`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CompatibilityLevel {
    /// `NONE`: no check.
    None,
    /// `BACKWARD`: new schema reads data written with the previous one.
    #[default]
    Backward,
    /// `BACKWARD_TRANSITIVE`: new schema reads data written with every previous one.
    BackwardTransitive,
    /// `FORWARD`: previous schema reads data written with the new one.
    Forward,
    /// `FORWARD_TRANSITIVE`: every previous schema reads data written with the new one.
    ForwardTransitive,
    /// `FULL`: backward and forward with the previous schema.
    Full,
    /// `FULL_TRANSITIVE`: backward and forward with every previous schema.
    FullTransitive,
}

impl Choice for CompatibilityLevel {
    const CHOICES: &'static [(Self, &'static str)] = &[
        (Self::None, "NONE"),
        (Self::Backward, "BACKWARD"),
        (Self::BackwardTransitive, "BACKWARD_TRANSITIVE"),
        (Self::Forward, "FORWARD"),
        (Self::ForwardTransitive, "FORWARD_TRANSITIVE"),
        (Self::Full, "FULL"),
        (Self::FullTransitive, "FULL_TRANSITIVE"),
    ];
}

impl CompatibilityLevel {
    /// The Confluent spelling, as sent in `PUT /config/{subject}`: `NONE`, `BACKWARD`, ...
    pub fn as_str(&self) -> &'static str {
        self.env_name()
    }

    /// Whether a new schema is checked against every registered version, not only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    /// Whether the new schema must read data written with the old one.
    pub fn checks_backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether the old schema must read data written with the new one.
    pub fn checks_forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }
}

/// `FromStr` (case-insensitive, `-` and `_` interchangeable) and `Display` (the
/// environment spelling) for the enumerated settings, from their [`Choice`] table.
macro_rules! choice_traits {
    ($($ty:ty),+) => {$(
        impl FromStr for $ty {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse_choice(s)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.env_name())
            }
        }
    )+};
}

choice_traits!(SecurityProtocol, SaslMechanism, CompatibilityLevel);

/// Which event backend the configuration selects (see [`MetricsConfig::backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Publish to Kafka (`METRICS_ENABLED=true`, the default).
    Kafka,
    /// Build and validate events, send nothing (`METRICS_ENABLED=false`).
    Noop,
    /// Record events for test assertions (`METRICS_ENABLED=false`, `METRICS_MOCK=true`).
    Mock,
}

/// Safir's order: Mock first, then Disabled, then Kafka. `mock` without `!enabled` is
/// ignored, as in Safir.
fn backend_of(enabled: bool, mock: bool) -> BackendKind {
    match (enabled, mock) {
        (false, true) => BackendKind::Mock,
        (false, false) => BackendKind::Noop,
        (true, _) => BackendKind::Kafka,
    }
}

// ---------------------------------------------------------------------------
// Configuration types
// ---------------------------------------------------------------------------

/// Credentials for the Schema Registry. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
pub enum RegistryAuth {
    /// HTTP basic authentication (`SCHEMA_MANAGER_REGISTRY_USERNAME` and `_PASSWORD`).
    Basic {
        /// The username.
        username: String,
        /// The password; read it with [`ExposeSecret::expose_secret`].
        password: SecretString,
    },
    /// A bearer token (`SCHEMA_MANAGER_REGISTRY_TOKEN`).
    Bearer {
        /// The token; read it with [`ExposeSecret::expose_secret`].
        token: SecretString,
    },
}

/// Extra librdkafka properties; `Debug` shows the keys and redacts values of keys that
/// look sensitive (passwords, secrets, keys and tokens).
#[derive(Clone, Default, PartialEq, Eq)]
struct ExtraProperties(BTreeMap<String, String>);

fn is_sensitive_property(key: &str) -> bool {
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

impl fmt::Debug for ExtraProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.0 {
            if is_sensitive_property(k) {
                map.entry(k, &format_args!("[REDACTED]"));
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

/// Kafka connection and producer settings (`KAFKA_*`). Part of a validated [`MetricsConfig`].
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    bootstrap_servers: Option<Vec<String>>,
    security_protocol: SecurityProtocol,
    cluster_ca_path: Option<PathBuf>,
    client_cert_path: Option<PathBuf>,
    client_key_path: Option<PathBuf>,
    sasl_mechanism: Option<SaslMechanism>,
    sasl_username: Option<String>,
    sasl_password: Option<SecretString>,
    delivery_timeout: Duration,
    queue_max_messages: usize,
    create_topics: bool,
    extra_properties: ExtraProperties,
}

impl KafkaConfig {
    fn defaults() -> Self {
        Self {
            bootstrap_servers: None,
            security_protocol: SecurityProtocol::Plaintext,
            cluster_ca_path: None,
            client_cert_path: None,
            client_key_path: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            queue_max_messages: DEFAULT_QUEUE_MAX_MESSAGES,
            create_topics: false,
            extra_properties: ExtraProperties::default(),
        }
    }

    /// The brokers as `host:port`, or `None`: run the embedded development broker.
    pub fn bootstrap_servers(&self) -> Option<&[String]> {
        self.bootstrap_servers.as_deref()
    }

    /// The security protocol.
    pub fn security_protocol(&self) -> SecurityProtocol {
        self.security_protocol
    }

    /// PEM file with the cluster's CA certificate.
    pub fn cluster_ca_path(&self) -> Option<&Path> {
        self.cluster_ca_path.as_deref()
    }

    /// PEM client certificate (always together with [`Self::client_key_path`]).
    pub fn client_cert_path(&self) -> Option<&Path> {
        self.client_cert_path.as_deref()
    }

    /// PEM client private key (always together with [`Self::client_cert_path`]).
    pub fn client_key_path(&self) -> Option<&Path> {
        self.client_key_path.as_deref()
    }

    /// The SASL mechanism (set exactly when the protocol uses SASL, with the Kafka backend).
    pub fn sasl_mechanism(&self) -> Option<SaslMechanism> {
        self.sasl_mechanism
    }

    /// The SASL username.
    pub fn sasl_username(&self) -> Option<&str> {
        self.sasl_username.as_deref()
    }

    /// The SASL password; read it with [`ExposeSecret::expose_secret`].
    pub fn sasl_password(&self) -> Option<&SecretString> {
        self.sasl_password.as_ref()
    }

    /// How long librdkafka tries to deliver an event (`delivery.timeout.ms`).
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// Bound of the producer queue in events (`queue.buffering.max.messages`).
    pub fn queue_max_messages(&self) -> usize {
        self.queue_max_messages
    }

    /// Whether to create the events topic when it is missing (development only).
    pub fn create_topics(&self) -> bool {
        self.create_topics
    }

    /// Extra librdkafka properties, applied after the typed settings. Values may be secrets.
    pub fn extra_properties(&self) -> &BTreeMap<String, String> {
        &self.extra_properties.0
    }

    /// Every librdkafka client property this configuration implies: `bootstrap.servers`
    /// (only when set), `security.protocol`, the `ssl.*.location` files, `sasl.mechanism`,
    /// `sasl.username`, `sasl.password`, `delivery.timeout.ms`,
    /// `queue.buffering.max.messages`, then the extra properties.
    ///
    /// The result holds the SASL password in clear text, for handing to rdkafka's
    /// `ClientConfig`: never log it.
    pub fn librdkafka_properties(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            out.insert(k.to_owned(), v);
        };
        if let Some(servers) = &self.bootstrap_servers {
            set("bootstrap.servers", servers.join(","));
        }
        set(
            "security.protocol",
            self.security_protocol.as_librdkafka().to_owned(),
        );
        let paths = [
            ("ssl.ca.location", &self.cluster_ca_path),
            ("ssl.certificate.location", &self.client_cert_path),
            ("ssl.key.location", &self.client_key_path),
        ];
        for (key, path) in paths {
            if let Some(p) = path {
                set(key, p.to_string_lossy().into_owned());
            }
        }
        if let Some(m) = self.sasl_mechanism {
            set("sasl.mechanism", m.as_librdkafka().to_owned());
        }
        if let Some(u) = &self.sasl_username {
            set("sasl.username", u.clone());
        }
        if let Some(p) = &self.sasl_password {
            set("sasl.password", p.expose_secret().to_owned());
        }
        set(
            "delivery.timeout.ms",
            self.delivery_timeout.as_millis().to_string(),
        );
        set(
            "queue.buffering.max.messages",
            self.queue_max_messages.to_string(),
        );
        for (k, v) in &self.extra_properties.0 {
            set(k, v.clone());
        }
        out
    }
}

/// Schema Registry settings (`SCHEMA_MANAGER_*`). Part of a validated [`MetricsConfig`].
#[derive(Debug, Clone)]
pub struct SchemaManagerConfig {
    registry_url: Option<String>,
    suffix: String,
    compatibility: Option<CompatibilityLevel>,
    auth: Option<RegistryAuth>,
    registry_ca_path: Option<PathBuf>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_retries: u32,
}

impl SchemaManagerConfig {
    /// The registry's base URL without a trailing `/`, or `None`: use the embedded
    /// in-memory registry.
    pub fn registry_url(&self) -> Option<&str> {
        self.registry_url.as_deref()
    }

    /// Suffix appended to every subject name (empty by default).
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// Compatibility level to set on each subject; `None` leaves the registry's level.
    pub fn compatibility(&self) -> Option<CompatibilityLevel> {
        self.compatibility
    }

    /// Credentials for the registry, if any.
    pub fn auth(&self) -> Option<&RegistryAuth> {
        self.auth.as_ref()
    }

    /// PEM file with the CA certificate of an `https://` registry.
    pub fn registry_ca_path(&self) -> Option<&Path> {
        self.registry_ca_path.as_deref()
    }

    /// Connection timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Retries of a failed request.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }
}

/// The validated configuration of the metrics event system.
///
/// Get one with [`MetricsConfig::from_env`], [`MetricsConfig::from_lookup`] or
/// [`MetricsConfig::builder`]; change one with [`MetricsConfig::to_builder`]. `Debug`
/// redacts every secret.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    application: String,
    enabled: bool,
    mock: bool,
    topic_prefix: String,
    raise_on_error: bool,
    backoff_interval: Duration,
    kafka: KafkaConfig,
    schema_manager: SchemaManagerConfig,
}

impl MetricsConfig {
    /// Reads the configuration from the process environment (see [`ENV_VARS`]).
    ///
    /// # Errors
    ///
    /// Every value that cannot be parsed, or else every rule violation (see the module docs).
    pub fn from_env() -> Result<Self, ConfigError> {
        load(&|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(NotUnicode),
        })
    }

    /// Reads the configuration through `lookup`, which returns a variable's value or `None`
    /// when it is unset. Tests use it instead of mutating the process environment.
    ///
    /// # Errors
    ///
    /// As [`Self::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        load(&|name| Ok(lookup(name)))
    }

    /// A builder with every default, for the given application name.
    pub fn builder(application: impl Into<String>) -> MetricsConfigBuilder {
        MetricsConfigBuilder::new(application.into())
    }

    /// A builder holding this configuration, to override some settings and build again.
    pub fn to_builder(&self) -> MetricsConfigBuilder {
        let (registry_username, registry_password, registry_token) = match &self.schema_manager.auth
        {
            None => (None, None, None),
            Some(RegistryAuth::Basic { username, password }) => {
                (Some(username.clone()), Some(password.clone()), None)
            }
            Some(RegistryAuth::Bearer { token }) => (None, None, Some(token.clone())),
        };
        let s = &self.schema_manager;
        MetricsConfigBuilder {
            application: self.application.clone(),
            enabled: self.enabled,
            mock: self.mock,
            topic_prefix: self.topic_prefix.clone(),
            raise_on_error: self.raise_on_error,
            backoff_interval: self.backoff_interval,
            kafka: self.kafka.clone(),
            registry_url: s.registry_url.clone(),
            suffix: s.suffix.clone(),
            compatibility: s.compatibility,
            registry_username,
            registry_password,
            registry_token,
            registry_ca_path: s.registry_ca_path.clone(),
            connect_timeout: s.connect_timeout,
            request_timeout: s.request_timeout,
            max_retries: s.max_retries,
        }
    }

    /// Runs the checks again, e.g. to find out at a later time whether the files named by
    /// the configuration are still readable.
    ///
    /// # Errors
    ///
    /// Every rule violation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.to_builder().problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::from_problems(problems))
        }
    }

    /// The backend to run: [`BackendKind::Mock`] if disabled and mocked,
    /// [`BackendKind::Noop`] if disabled, else [`BackendKind::Kafka`] (Safir's order; the
    /// mock flag is ignored while enabled).
    pub fn backend(&self) -> BackendKind {
        backend_of(self.enabled, self.mock)
    }

    /// The application name (a valid Avro name).
    pub fn application(&self) -> &str {
        &self.application
    }

    /// Whether publishing to Kafka is enabled.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the mock backend is requested (effective only when disabled).
    pub fn mock(&self) -> bool {
        self.mock
    }

    /// The topic prefix (dot-separated Avro names).
    pub fn topic_prefix(&self) -> &str {
        &self.topic_prefix
    }

    /// The events topic, `{topic_prefix}.{application}`; also the Avro namespace.
    pub fn topic(&self) -> String {
        format!("{}.{}", self.topic_prefix, self.application)
    }

    /// Strict mode: return every publishing error.
    pub fn raise_on_error(&self) -> bool {
        self.raise_on_error
    }

    /// Interval between repeated logs of the same delivery problem.
    pub fn backoff_interval(&self) -> Duration {
        self.backoff_interval
    }

    /// Kafka settings.
    pub fn kafka(&self) -> &KafkaConfig {
        &self.kafka
    }

    /// Schema Registry settings.
    pub fn schema_manager(&self) -> &SchemaManagerConfig {
        &self.schema_manager
    }
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

/// Builds a [`MetricsConfig`] from code; [`Self::build`] runs the same checks as the
/// environment loader. Every setter has a matching environment variable (see [`ENV_VARS`]).
#[derive(Debug, Clone)]
#[must_use = "call .build() to get a MetricsConfig"]
pub struct MetricsConfigBuilder {
    application: String,
    enabled: bool,
    mock: bool,
    topic_prefix: String,
    raise_on_error: bool,
    backoff_interval: Duration,
    kafka: KafkaConfig,
    registry_url: Option<String>,
    suffix: String,
    compatibility: Option<CompatibilityLevel>,
    registry_username: Option<String>,
    registry_password: Option<SecretString>,
    registry_token: Option<SecretString>,
    registry_ca_path: Option<PathBuf>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_retries: u32,
}

impl MetricsConfigBuilder {
    fn new(application: String) -> Self {
        Self {
            application,
            enabled: true,
            mock: false,
            topic_prefix: DEFAULT_TOPIC_PREFIX.to_owned(),
            raise_on_error: false,
            backoff_interval: DEFAULT_BACKOFF_INTERVAL,
            kafka: KafkaConfig::defaults(),
            registry_url: None,
            suffix: String::new(),
            compatibility: None,
            registry_username: None,
            registry_password: None,
            registry_token: None,
            registry_ca_path: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }

    /// `METRICS_APPLICATION`: the application name.
    pub fn application(mut self, name: impl Into<String>) -> Self {
        self.application = name.into();
        self
    }

    /// `METRICS_ENABLED`: publish to Kafka (`true`) or not.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// `METRICS_MOCK`: with `enabled(false)`, record events for test assertions.
    pub fn mock(mut self, mock: bool) -> Self {
        self.mock = mock;
        self
    }

    /// `METRICS_EVENTS_TOPIC_PREFIX`: the topic prefix.
    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// `METRICS_RAISE_ON_ERROR`: strict mode.
    pub fn raise_on_error(mut self, raise: bool) -> Self {
        self.raise_on_error = raise;
        self
    }

    /// `METRICS_BACKOFF_INTERVAL`: interval between repeated logs of one problem.
    pub fn backoff_interval(mut self, interval: Duration) -> Self {
        self.backoff_interval = interval;
        self
    }

    /// `KAFKA_BOOTSTRAP_SERVERS`: the brokers, each `host:port`.
    pub fn bootstrap_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.kafka.bootstrap_servers = Some(servers.into_iter().map(Into::into).collect());
        self
    }

    /// Unsets `KAFKA_BOOTSTRAP_SERVERS`: run the embedded development broker.
    pub fn embedded_broker(mut self) -> Self {
        self.kafka.bootstrap_servers = None;
        self
    }

    /// `KAFKA_SECURITY_PROTOCOL`.
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.kafka.security_protocol = protocol;
        self
    }

    /// `KAFKA_CLUSTER_CA_PATH`.
    pub fn cluster_ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kafka.cluster_ca_path = Some(path.into());
        self
    }

    /// `KAFKA_CLIENT_CERT_PATH`.
    pub fn client_cert_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kafka.client_cert_path = Some(path.into());
        self
    }

    /// `KAFKA_CLIENT_KEY_PATH`.
    pub fn client_key_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kafka.client_key_path = Some(path.into());
        self
    }

    /// `KAFKA_SASL_MECHANISM`.
    pub fn sasl_mechanism(mut self, mechanism: SaslMechanism) -> Self {
        self.kafka.sasl_mechanism = Some(mechanism);
        self
    }

    /// `KAFKA_SASL_USERNAME`.
    pub fn sasl_username(mut self, username: impl Into<String>) -> Self {
        self.kafka.sasl_username = Some(username.into());
        self
    }

    /// `KAFKA_SASL_PASSWORD`.
    pub fn sasl_password(mut self, password: impl Into<SecretString>) -> Self {
        self.kafka.sasl_password = Some(password.into());
        self
    }

    /// `KAFKA_DELIVERY_TIMEOUT`.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.kafka.delivery_timeout = timeout;
        self
    }

    /// `KAFKA_QUEUE_MAX_MESSAGES`.
    pub fn queue_max_messages(mut self, max: usize) -> Self {
        self.kafka.queue_max_messages = max;
        self
    }

    /// `KAFKA_CREATE_TOPICS`: create a missing events topic (development only).
    pub fn create_topics(mut self, create: bool) -> Self {
        self.kafka.create_topics = create;
        self
    }

    /// One entry of `KAFKA_EXTRA_PROPERTIES`: an extra librdkafka property (replaces an
    /// earlier value of the same key). Properties with a typed setting are rejected by
    /// [`Self::build`].
    pub fn kafka_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.kafka
            .extra_properties
            .0
            .insert(key.into(), value.into());
        self
    }

    /// `SCHEMA_MANAGER_REGISTRY_URL`: the registry's base URL.
    pub fn registry_url(mut self, url: impl Into<String>) -> Self {
        self.registry_url = Some(url.into());
        self
    }

    /// Unsets `SCHEMA_MANAGER_REGISTRY_URL`: use the embedded in-memory registry.
    pub fn embedded_registry(mut self) -> Self {
        self.registry_url = None;
        self
    }

    /// `SCHEMA_MANAGER_SUFFIX`: suffix of every subject name.
    pub fn schema_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = suffix.into();
        self
    }

    /// `SCHEMA_MANAGER_COMPATIBILITY`: level to set on each subject.
    pub fn compatibility(mut self, level: CompatibilityLevel) -> Self {
        self.compatibility = Some(level);
        self
    }

    /// `SCHEMA_MANAGER_REGISTRY_USERNAME` and `SCHEMA_MANAGER_REGISTRY_PASSWORD`.
    pub fn registry_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.registry_username = Some(username.into());
        self.registry_password = Some(password.into());
        self
    }

    /// `SCHEMA_MANAGER_REGISTRY_TOKEN`.
    pub fn registry_bearer_token(mut self, token: impl Into<SecretString>) -> Self {
        self.registry_token = Some(token.into());
        self
    }

    /// Removes registry credentials (basic and bearer).
    pub fn no_registry_auth(mut self) -> Self {
        self.registry_username = None;
        self.registry_password = None;
        self.registry_token = None;
        self
    }

    /// `SCHEMA_MANAGER_REGISTRY_CA_PATH`.
    pub fn registry_ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.registry_ca_path = Some(path.into());
        self
    }

    /// `SCHEMA_MANAGER_CONNECT_TIMEOUT`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// `SCHEMA_MANAGER_REQUEST_TIMEOUT`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// `SCHEMA_MANAGER_MAX_RETRIES`.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Checks every rule and returns the configuration, or every problem found.
    ///
    /// # Errors
    ///
    /// Every rule violation, as one [`ConfigError`] or [`ConfigError::Several`].
    pub fn build(self) -> Result<MetricsConfig, ConfigError> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(ConfigError::from_problems(problems));
        }
        let auth = match (
            self.registry_username,
            self.registry_password,
            self.registry_token,
        ) {
            (Some(username), Some(password), None) => {
                Some(RegistryAuth::Basic { username, password })
            }
            (None, None, Some(token)) => Some(RegistryAuth::Bearer { token }),
            // Unreachable with the Kafka backend (problems() rejects it); unused otherwise.
            _ => None,
        };
        let registry_url = self
            .registry_url
            .map(|u| u.trim_end_matches('/').to_owned());
        Ok(MetricsConfig {
            application: self.application,
            enabled: self.enabled,
            mock: self.mock,
            topic_prefix: self.topic_prefix,
            raise_on_error: self.raise_on_error,
            backoff_interval: self.backoff_interval,
            kafka: self.kafka,
            schema_manager: SchemaManagerConfig {
                registry_url,
                suffix: self.suffix,
                compatibility: self.compatibility,
                auth,
                registry_ca_path: self.registry_ca_path,
                connect_timeout: self.connect_timeout,
                request_timeout: self.request_timeout,
                max_retries: self.max_retries,
            },
        })
    }

    // -- validation, shared by the builder and the environment loader ------------------

    /// Every rule violation; empty when valid.
    fn problems(&self) -> Vec<ConfigError> {
        let mut p = Vec::new();
        self.check_names(&mut p);
        check_positive(&var::BACKOFF_INTERVAL, self.backoff_interval, &mut p);
        if backend_of(self.enabled, self.mock) == BackendKind::Kafka {
            self.check_kafka_values(&mut p);
            self.check_kafka_combinations(&mut p);
            self.check_registry(&mut p);
            let files = [
                (&var::CLUSTER_CA_PATH, &self.kafka.cluster_ca_path),
                (&var::CLIENT_CERT_PATH, &self.kafka.client_cert_path),
                (&var::CLIENT_KEY_PATH, &self.kafka.client_key_path),
                (&var::REGISTRY_CA_PATH, &self.registry_ca_path),
            ];
            for (v, path) in files {
                if let Some(path) = path {
                    check_file(v, path, &mut p);
                }
            }
        }
        p
    }

    fn check_names(&self, p: &mut Vec<ConfigError>) {
        let app = &self.application;
        if app.is_empty() {
            p.push(ConfigError::invalid(
                &var::APPLICATION,
                format!("is required: {APPLICATION_HINT}"),
            ));
        } else if !is_avro_name(app) {
            let fixed = app.replace('-', "_");
            let problem = if app.contains('-') && is_avro_name(&fixed) {
                format!(
                    "= {app:?} is not a valid Avro name: hyphens are not allowed because the \
                     application name becomes part of the Avro namespace of every event; \
                     replace '-' with '_': use {fixed:?}"
                )
            } else {
                format!(
                    "= {app:?} is not a valid Avro name: it must start with a letter or '_' and \
                     contain only letters, digits and '_', because it becomes part of the Avro \
                     namespace of every event (e.g. \"gafaelfawr\")"
                )
            };
            p.push(ConfigError::invalid(&var::APPLICATION, problem));
        }

        let prefix = &self.topic_prefix;
        if let Some(bad) = prefix.split('.').find(|part| !is_avro_name(part)) {
            p.push(ConfigError::invalid(
                &var::TOPIC_PREFIX,
                format!(
                    "= {prefix:?} is not valid: part {bad:?} is not an Avro name; the prefix is a \
                     dot-separated list of names made of letters, digits and '_', each not \
                     starting with a digit (the default is {DEFAULT_TOPIC_PREFIX:?})"
                ),
            ));
        } else {
            let len = prefix.len() + 1 + app.len();
            if len > MAX_TOPIC_LEN {
                p.push(ConfigError::invalid(
                    &var::TOPIC_PREFIX,
                    format!(
                        "makes the topic name {len} characters long with {}, but Kafka allows at \
                         most {MAX_TOPIC_LEN}: shorten the prefix or the application name",
                        var::APPLICATION.name
                    ),
                ));
            }
        }
    }

    fn check_kafka_values(&self, p: &mut Vec<ConfigError>) {
        let k = &self.kafka;
        if let Some(servers) = &k.bootstrap_servers {
            if servers.is_empty() {
                p.push(ConfigError::invalid(
                    &var::BOOTSTRAP_SERVERS,
                    "is an empty list: list at least one broker as host:port, or leave it unset \
                     to run the embedded development broker",
                ));
            }
            for server in servers {
                if let Err(why) = check_server(server) {
                    p.push(ConfigError::invalid(
                        &var::BOOTSTRAP_SERVERS,
                        format!(
                            "entry {server:?} is not valid: {why}; expected a comma-separated list \
                             of host:port, e.g. kafka-1:9092,kafka-2:9092"
                        ),
                    ));
                }
            }
        }

        let ms = k.delivery_timeout.as_millis();
        if ms == 0 {
            p.push(ConfigError::invalid(
                &var::DELIVERY_TIMEOUT,
                format!(
                    "is {}: it must be at least 1ms (e.g. {})",
                    humantime::format_duration(k.delivery_timeout),
                    var::DELIVERY_TIMEOUT.default
                ),
            ));
        } else if ms > u128::from(LIBRDKAFKA_MAX_INT) {
            p.push(ConfigError::invalid(
                &var::DELIVERY_TIMEOUT,
                format!(
                    "is {}: it must be at most {LIBRDKAFKA_MAX_INT}ms (about 24 days), \
                     librdkafka's limit for delivery.timeout.ms",
                    humantime::format_duration(k.delivery_timeout)
                ),
            ));
        }

        if k.queue_max_messages == 0 || k.queue_max_messages as u64 > LIBRDKAFKA_MAX_INT {
            p.push(ConfigError::invalid(
                &var::QUEUE_MAX_MESSAGES,
                format!(
                    "is {}: it must be a whole number between 1 and {LIBRDKAFKA_MAX_INT} (the \
                     queue is always bounded; the default is {DEFAULT_QUEUE_MAX_MESSAGES})",
                    k.queue_max_messages
                ),
            ));
        }

        for key in k.extra_properties.0.keys() {
            if let Some(problem) = check_property_key(key) {
                p.push(ConfigError::invalid(&var::EXTRA_PROPERTIES, problem));
            }
        }

        if let Some(user) = &k.sasl_username
            && user.chars().any(char::is_control)
        {
            p.push(ConfigError::invalid(
                &var::SASL_USERNAME,
                "contains a control character (such as a trailing newline): remove it",
            ));
        }
        if let Some(pass) = &k.sasl_password
            && pass.expose_secret().chars().any(char::is_control)
        {
            p.push(ConfigError::invalid(
                &var::SASL_PASSWORD,
                SECRET_CONTROL_CHAR,
            ));
        }
    }

    fn check_kafka_combinations(&self, p: &mut Vec<ConfigError>) {
        let k = &self.kafka;
        let protocol = k.security_protocol;
        let proto = label(&var::SECURITY_PROTOCOL);

        if k.bootstrap_servers.is_none() && protocol != SecurityProtocol::Plaintext {
            p.push(ConfigError::combination(
                &[&var::SECURITY_PROTOCOL, &var::BOOTSTRAP_SERVERS],
                format!(
                    "{proto} is {protocol} but {} is unset, so the embedded development broker \
                     would be used, and it only speaks PLAINTEXT: set {} to your cluster's \
                     brokers, or unset {}",
                    label(&var::BOOTSTRAP_SERVERS),
                    var::BOOTSTRAP_SERVERS.name,
                    var::SECURITY_PROTOCOL.name
                ),
            ));
            return;
        }
        if k.bootstrap_servers.is_some() && self.registry_url.is_none() {
            p.push(ConfigError::combination(
                &[&var::BOOTSTRAP_SERVERS, &var::REGISTRY_URL],
                format!(
                    "{} is set but {} is unset: events on a real cluster need a Schema Registry so \
                     consumers can decode them; set {} (e.g. http://schema-registry:8081)",
                    label(&var::BOOTSTRAP_SERVERS),
                    label(&var::REGISTRY_URL),
                    var::REGISTRY_URL.name
                ),
            ));
        }

        // TLS files.
        let tls_set: Vec<&EnvVar> = [
            (&var::CLUSTER_CA_PATH, k.cluster_ca_path.is_some()),
            (&var::CLIENT_CERT_PATH, k.client_cert_path.is_some()),
            (&var::CLIENT_KEY_PATH, k.client_key_path.is_some()),
        ]
        .into_iter()
        .filter_map(|(v, set)| set.then_some(v))
        .collect();
        if !protocol.uses_tls() && !tls_set.is_empty() {
            let mut vars = tls_set.clone();
            vars.push(&var::SECURITY_PROTOCOL);
            p.push(ConfigError::combination(
                &vars,
                format!(
                    "{} {} set but {proto} is {protocol}, which does not use TLS, so {} be \
                     ignored: set {} to SSL or SASL_SSL, or unset {}",
                    labels(&tls_set),
                    if tls_set.len() == 1 { "is" } else { "are" },
                    if tls_set.len() == 1 {
                        "it would"
                    } else {
                        "they would"
                    },
                    var::SECURITY_PROTOCOL.name,
                    names(&tls_set)
                ),
            ));
        }
        if protocol == SecurityProtocol::Ssl && k.cluster_ca_path.is_none() {
            p.push(ConfigError::combination(
                &[&var::SECURITY_PROTOCOL, &var::CLUSTER_CA_PATH],
                format!(
                    "{proto} is SSL, which requires {}: set it to the path of the PEM file with \
                     the CA certificate of the Kafka cluster",
                    label(&var::CLUSTER_CA_PATH)
                ),
            ));
        }
        if protocol.uses_tls() {
            let pair = [
                (&var::CLIENT_CERT_PATH, &var::CLIENT_KEY_PATH),
                (&var::CLIENT_KEY_PATH, &var::CLIENT_CERT_PATH),
            ];
            let set = |v: &EnvVar| tls_set.iter().any(|s| s.name == v.name);
            for (has, lacks) in pair {
                if set(has) && !set(lacks) {
                    p.push(ConfigError::combination(
                        &[has, lacks],
                        format!(
                            "{} is set without {}: TLS client authentication needs both the \
                             certificate and the key, set both or neither",
                            label(has),
                            label(lacks)
                        ),
                    ));
                }
            }
        }

        // SASL settings.
        let sasl = [
            (&var::SASL_MECHANISM, k.sasl_mechanism.is_some()),
            (&var::SASL_USERNAME, k.sasl_username.is_some()),
            (&var::SASL_PASSWORD, k.sasl_password.is_some()),
        ];
        if protocol.uses_sasl() {
            let missing: Vec<&EnvVar> = sasl
                .iter()
                .filter(|(_, set)| !set)
                .map(|(v, _)| *v)
                .collect();
            if !missing.is_empty() {
                let mut vars = vec![&var::SECURITY_PROTOCOL];
                vars.extend(&missing);
                let hint = if k.sasl_mechanism.is_none() {
                    format!(
                        " ({} takes {}; Safir's default was SCRAM-SHA-512)",
                        var::SASL_MECHANISM.name,
                        SaslMechanism::expected()
                    )
                } else {
                    String::new()
                };
                p.push(ConfigError::combination(
                    &vars,
                    format!(
                        "{proto} is {protocol}, which requires {}: set {}{hint}",
                        labels(&missing),
                        if missing.len() == 1 { "it" } else { "them" }
                    ),
                ));
            }
        } else {
            let set: Vec<&EnvVar> = sasl
                .iter()
                .filter(|(_, set)| *set)
                .map(|(v, _)| *v)
                .collect();
            if !set.is_empty() {
                let mut vars = set.clone();
                vars.push(&var::SECURITY_PROTOCOL);
                p.push(ConfigError::combination(
                    &vars,
                    format!(
                        "{} {} set but {proto} is {protocol}, which does not use SASL, so {} be \
                         ignored: set {} to SASL_PLAINTEXT or SASL_SSL, or unset {}",
                        labels(&set),
                        if set.len() == 1 { "is" } else { "are" },
                        if set.len() == 1 {
                            "it would"
                        } else {
                            "they would"
                        },
                        var::SECURITY_PROTOCOL.name,
                        names(&set)
                    ),
                ));
            }
        }
    }

    fn check_registry(&self, p: &mut Vec<ConfigError>) {
        let mut https = false;
        if let Some(url) = &self.registry_url {
            match check_url(url) {
                Ok(is_https) => https = is_https,
                Err(problem) => p.push(ConfigError::invalid(&var::REGISTRY_URL, problem)),
            }
        }
        if !self
            .suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            p.push(ConfigError::invalid(
                &var::SUFFIX,
                format!(
                    "= {:?} is not valid: use only letters, digits, '_', '-' and '.' (e.g. \"_dev\")",
                    self.suffix
                ),
            ));
        }
        check_positive(&var::CONNECT_TIMEOUT, self.connect_timeout, p);
        check_positive(&var::REQUEST_TIMEOUT, self.request_timeout, p);

        let user = self.registry_username.is_some();
        let pass = self.registry_password.is_some();
        let token = self.registry_token.is_some();
        if (user || pass) && token {
            p.push(ConfigError::combination(
                &[
                    &var::REGISTRY_USERNAME,
                    &var::REGISTRY_PASSWORD,
                    &var::REGISTRY_TOKEN,
                ],
                format!(
                    "{} / {} (registry_basic_auth) and {} are both set, but the registry takes one \
                     kind of credentials: set either the username and password (basic) or the \
                     token (bearer)",
                    var::REGISTRY_USERNAME.name,
                    var::REGISTRY_PASSWORD.name,
                    label(&var::REGISTRY_TOKEN)
                ),
            ));
        }
        if user != pass {
            let (has, lacks) = if user {
                (&var::REGISTRY_USERNAME, &var::REGISTRY_PASSWORD)
            } else {
                (&var::REGISTRY_PASSWORD, &var::REGISTRY_USERNAME)
            };
            p.push(ConfigError::combination(
                &[has, lacks],
                format!(
                    "{} is set without {}: basic authentication needs both the username and the \
                     password, set both or neither",
                    has.name,
                    label(lacks)
                ),
            ));
        }
        if let Some(u) = &self.registry_username
            && (u.contains(':') || u.chars().any(char::is_control))
        {
            p.push(ConfigError::invalid(
                &var::REGISTRY_USERNAME,
                "contains ':' or a control character, which HTTP basic authentication cannot carry",
            ));
        }
        if let Some(pw) = &self.registry_password
            && pw.expose_secret().chars().any(char::is_control)
        {
            p.push(ConfigError::invalid(
                &var::REGISTRY_PASSWORD,
                SECRET_CONTROL_CHAR,
            ));
        }
        if let Some(t) = &self.registry_token
            && t.expose_secret()
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            p.push(ConfigError::invalid(
                &var::REGISTRY_TOKEN,
                "contains whitespace or a control character (such as a trailing newline), which \
                 an HTTP header cannot carry: remove it (the value is not shown)",
            ));
        }

        if self.registry_url.is_none() {
            let set: Vec<&EnvVar> = [
                (&var::REGISTRY_USERNAME, user),
                (&var::REGISTRY_PASSWORD, pass),
                (&var::REGISTRY_TOKEN, token),
                (&var::REGISTRY_CA_PATH, self.registry_ca_path.is_some()),
            ]
            .into_iter()
            .filter_map(|(v, set)| set.then_some(v))
            .collect();
            if !set.is_empty() {
                let mut vars = set.clone();
                vars.push(&var::REGISTRY_URL);
                p.push(ConfigError::combination(
                    &vars,
                    format!(
                        "{} {} set but {} is unset, so the embedded in-memory registry would be \
                         used and {} ignored: set {} to your registry's URL, or unset {}",
                        labels(&set),
                        if set.len() == 1 { "is" } else { "are" },
                        label(&var::REGISTRY_URL),
                        if set.len() == 1 {
                            "it would be"
                        } else {
                            "they would be"
                        },
                        var::REGISTRY_URL.name,
                        names(&set)
                    ),
                ));
            }
        } else if !https
            && self.registry_ca_path.is_some()
            && p.iter().all(|e| !is_about(e, &var::REGISTRY_URL))
        {
            p.push(ConfigError::combination(
                &[&var::REGISTRY_CA_PATH, &var::REGISTRY_URL],
                format!(
                    "{} is set but {} is an http:// URL, which does not use TLS, so it would be \
                     ignored: use an https:// URL, or unset {}",
                    label(&var::REGISTRY_CA_PATH),
                    label(&var::REGISTRY_URL),
                    var::REGISTRY_CA_PATH.name
                ),
            ));
        }
    }
}

const APPLICATION_HINT: &str = "set it to your application's name (e.g. \"gafaelfawr\")";

const SECRET_CONTROL_CHAR: &str = "contains a control character (such as a trailing newline): \
                                   remove it (the value is not shown because it is a secret)";

/// `A, B and C` of the names alone.
fn names(vs: &[&EnvVar]) -> String {
    let all: Vec<&str> = vs.iter().map(|v| v.name).collect();
    match all.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn is_about(e: &ConfigError, v: &EnvVar) -> bool {
    matches!(e, ConfigError::Invalid { var, .. } if *var == v.name)
}

fn check_positive(v: &EnvVar, d: Duration, p: &mut Vec<ConfigError>) {
    if d.is_zero() {
        p.push(ConfigError::invalid(
            v,
            format!("is 0s: it must be greater than zero (e.g. {})", v.default),
        ));
    }
}

fn check_file(v: &EnvVar, path: &Path, p: &mut Vec<ConfigError>) {
    let reason = if path.to_str().is_none() {
        Some("is not valid UTF-8 (librdkafka and the TLS loader need UTF-8 paths)".to_owned())
    } else {
        match fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some("does not exist".to_owned()),
            Err(e) => Some(format!("cannot be inspected ({e})")),
            Ok(m) if m.is_dir() => Some("is a directory, not a file".to_owned()),
            Ok(_) => match fs::File::open(path) {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    Some("is not readable (permission denied)".to_owned())
                }
                Err(e) => Some(format!("cannot be opened ({e})")),
            },
        }
    };
    if let Some(reason) = reason {
        p.push(ConfigError::File {
            var: v.name,
            field: v.field,
            path: path.to_owned(),
            reason,
        });
    }
}

// ---------------------------------------------------------------------------
// Syntax checks
// ---------------------------------------------------------------------------

/// `^[A-Za-z_][A-Za-z0-9_]*$`.
fn is_avro_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A host name, IPv4 address or bracketed IPv6 address.
fn check_host(host: &str) -> Result<(), String> {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(()),
            _ => Err(format!("{host:?} is not a valid bracketed IPv6 address")),
        };
    }
    if host.is_empty() {
        return Err("the host is missing".to_owned());
    }
    if host.contains(':') {
        return Err("IPv6 addresses must be in brackets, e.g. [::1]:9092".to_owned());
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        Some(c) => Err(format!(
            "the host contains {c:?}, which a host name cannot contain"
        )),
        None => Ok(()),
    }
}

fn check_port(port: &str) -> Result<(), String> {
    match port.parse::<u16>() {
        Ok(n) if n != 0 => Ok(()),
        _ => Err(format!(
            "the port {port:?} is not a number between 1 and 65535"
        )),
    }
}

/// One bootstrap server: `host:port`.
fn check_server(entry: &str) -> Result<(), String> {
    if entry.is_empty() {
        return Err("it is empty (look for a doubled or trailing comma)".to_owned());
    }
    if entry.contains("://") {
        return Err(format!(
            "remove the scheme: write host:port and choose the protocol with {}",
            var::SECURITY_PROTOCOL.name
        ));
    }
    if entry.chars().any(char::is_whitespace) {
        return Err("it contains whitespace".to_owned());
    }
    if entry.contains(',') {
        return Err(
            "it contains a comma: give each server as its own entry (the environment \
                    variable is split at commas, the builder takes a list)"
                .to_owned(),
        );
    }
    let Some((host, port)) = entry.rsplit_once(':') else {
        return Err("the port is missing (e.g. kafka:9092)".to_owned());
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err("IPv6 addresses must be in brackets, e.g. [::1]:9092".to_owned());
    }
    check_host(host)?;
    check_port(port)
}

/// An `http://` or `https://` URL with a host; returns whether it is https. The problem
/// never repeats a URL that holds credentials.
fn check_url(url: &str) -> Result<bool, String> {
    const EXPECTED: &str = "expected http://host[:port][/path] or https://host[:port][/path], \
                            e.g. https://registry.example.org";
    let (rest, https) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (rest, true)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (rest, false)
    } else {
        return Err(format!(
            "= {url:?} is not valid: the scheme must be http or https; {EXPECTED}"
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(format!(
            "holds credentials (the URL is not shown): put them in {} and {}, or {}, and remove \
             them from the URL",
            var::REGISTRY_USERNAME.name,
            var::REGISTRY_PASSWORD.name,
            var::REGISTRY_TOKEN.name
        ));
    }
    let bad = |why: String| format!("= {url:?} is not valid: {why}; {EXPECTED}");
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace".to_owned()));
    }
    if tail.contains(['?', '#']) {
        return Err(bad("a base URL cannot have a query or fragment".to_owned()));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            check_port(port).map_err(&bad)?;
            host
        }
        _ => authority,
    };
    check_host(host).map_err(bad)?;
    Ok(https)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .and_then(|_| s.get(prefix.len()..))
}

/// A librdkafka property name that is well-formed and not managed by a typed setting.
fn check_property_key(key: &str) -> Option<String> {
    const TYPED: &[(&str, &EnvVar)] = &[
        ("bootstrap.servers", &var::BOOTSTRAP_SERVERS),
        ("metadata.broker.list", &var::BOOTSTRAP_SERVERS),
        ("security.protocol", &var::SECURITY_PROTOCOL),
        ("ssl.ca.location", &var::CLUSTER_CA_PATH),
        ("ssl.certificate.location", &var::CLIENT_CERT_PATH),
        ("ssl.key.location", &var::CLIENT_KEY_PATH),
        ("sasl.mechanism", &var::SASL_MECHANISM),
        ("sasl.mechanisms", &var::SASL_MECHANISM),
        ("sasl.username", &var::SASL_USERNAME),
        ("sasl.password", &var::SASL_PASSWORD),
        ("delivery.timeout.ms", &var::DELIVERY_TIMEOUT),
        ("message.timeout.ms", &var::DELIVERY_TIMEOUT),
        ("queue.buffering.max.messages", &var::QUEUE_MAX_MESSAGES),
    ];
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_'))
    {
        return Some(format!(
            "key {key:?} is not a librdkafka property name (lowercase letters, digits, '.' and \
             '_', e.g. linger.ms)"
        ));
    }
    TYPED.iter().find(|(k, _)| *k == key).map(|(_, v)| {
        format!(
            "sets {key:?}, which comes from {}: set that instead",
            label(v)
        )
    })
}

// ---------------------------------------------------------------------------
// Value parsers for the environment
// ---------------------------------------------------------------------------

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => {
            Err("a boolean: true/false, 1/0, yes/no or on/off (any case; also t/f, y/n)".to_owned())
        }
    }
}

/// A bare number of seconds (`300`, `1.5`) or a humantime duration (`5m`, `1h 30m`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    const EXPECTED: &str =
        "a duration: a number of seconds (300) or a human duration (5m, 1h 30m, 500ms)";
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let decimal = s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().filter(|&c| c == '.').count() == 1;
    if decimal {
        return s
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| EXPECTED.to_owned());
    }
    humantime::parse_duration(s).map_err(|e| format!("{EXPECTED}; {e}"))
}

fn parse_count<T: TryFrom<u64>>(min: u64, max: u64) -> impl Fn(&str) -> Result<T, String> {
    move |s| {
        s.parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("a whole number between {min} and {max}"))
    }
}

fn parse_enum<T: Choice>(s: &str) -> Result<T, String> {
    T::parse_choice(s).map_err(|e| e.expected)
}

fn parse_list(s: &str) -> Result<Vec<String>, String> {
    Ok(s.split(',').map(|e| e.trim().to_owned()).collect())
}

/// `key=value,key=value`; errors never repeat a value.
fn parse_properties(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, entry) in s.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!(
                "entry {} has no '=': expected key=value,key=value (values cannot contain \
                 commas; set such properties from code with kafka_property)",
                i + 1
            ));
        };
        let key = key.trim();
        if out
            .insert(key.to_owned(), value.trim().to_owned())
            .is_some()
        {
            return Err(format!(
                "the key {key:?} is given twice: give each property once"
            ));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The environment loader
// ---------------------------------------------------------------------------

/// A variable's value is not valid Unicode.
struct NotUnicode;

type Lookup<'a> = &'a dyn Fn(&str) -> Result<Option<String>, NotUnicode>;

/// Reads variables, collecting parse problems.
struct Reader<'a> {
    lookup: Lookup<'a>,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    /// The value, trimmed unless sensitive; empty counts as unset.
    fn raw(&mut self, v: &EnvVar) -> Option<String> {
        match (self.lookup)(v.name) {
            Err(NotUnicode) => {
                self.errors.push(ConfigError::NotUnicode { var: v.name });
                None
            }
            Ok(None) => None,
            Ok(Some(value)) => {
                let value = if v.sensitive {
                    value
                } else {
                    value.trim().to_owned()
                };
                (!value.is_empty()).then_some(value)
            }
        }
    }

    fn parse<T>(&mut self, v: &EnvVar, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.raw(v)?;
        match parse(&raw) {
            Ok(value) => Some(value),
            Err(expected) => {
                self.errors.push(if v.sensitive {
                    ConfigError::InvalidSensitiveValue {
                        var: v.name,
                        reason: expected,
                    }
                } else {
                    ConfigError::InvalidValue {
                        var: v.name,
                        value: raw,
                        expected,
                    }
                });
                None
            }
        }
    }
}

/// Parses every variable into a builder, then builds (which validates).
fn load(lookup: Lookup<'_>) -> Result<MetricsConfig, ConfigError> {
    let mut r = Reader {
        lookup,
        errors: Vec::new(),
    };

    let before = r.errors.len();
    let application = r.raw(&var::APPLICATION);
    if application.is_none() && r.errors.len() == before {
        r.errors.push(ConfigError::Missing {
            var: var::APPLICATION.name,
            hint: APPLICATION_HINT,
        });
    }
    let mut b = MetricsConfigBuilder::new(application.unwrap_or_default());

    if let Some(v) = r.parse(&var::ENABLED, parse_bool) {
        b.enabled = v;
    }
    if let Some(v) = r.parse(&var::MOCK, parse_bool) {
        b.mock = v;
    }
    if let Some(v) = r.raw(&var::TOPIC_PREFIX) {
        b.topic_prefix = v;
    }
    if let Some(v) = r.parse(&var::RAISE_ON_ERROR, parse_bool) {
        b.raise_on_error = v;
    }
    if let Some(v) = r.parse(&var::BACKOFF_INTERVAL, parse_duration) {
        b.backoff_interval = v;
    }

    let k = &mut b.kafka;
    k.bootstrap_servers = r.parse(&var::BOOTSTRAP_SERVERS, parse_list);
    if let Some(v) = r.parse(&var::SECURITY_PROTOCOL, parse_enum) {
        k.security_protocol = v;
    }
    k.cluster_ca_path = r.raw(&var::CLUSTER_CA_PATH).map(PathBuf::from);
    k.client_cert_path = r.raw(&var::CLIENT_CERT_PATH).map(PathBuf::from);
    k.client_key_path = r.raw(&var::CLIENT_KEY_PATH).map(PathBuf::from);
    k.sasl_mechanism = r.parse(&var::SASL_MECHANISM, parse_enum);
    k.sasl_username = r.raw(&var::SASL_USERNAME);
    k.sasl_password = r.raw(&var::SASL_PASSWORD).map(SecretString::from);
    if let Some(v) = r.parse(&var::DELIVERY_TIMEOUT, parse_duration) {
        k.delivery_timeout = v;
    }
    if let Some(v) = r.parse(&var::QUEUE_MAX_MESSAGES, parse_count(1, LIBRDKAFKA_MAX_INT)) {
        k.queue_max_messages = v;
    }
    if let Some(v) = r.parse(&var::CREATE_TOPICS, parse_bool) {
        k.create_topics = v;
    }
    if let Some(v) = r.parse(&var::EXTRA_PROPERTIES, parse_properties) {
        k.extra_properties = ExtraProperties(v);
    }

    b.registry_url = r.raw(&var::REGISTRY_URL);
    if let Some(v) = r.raw(&var::SUFFIX) {
        b.suffix = v;
    }
    b.compatibility = r.parse(&var::COMPATIBILITY, parse_enum);
    b.registry_username = r.raw(&var::REGISTRY_USERNAME);
    b.registry_password = r.raw(&var::REGISTRY_PASSWORD).map(SecretString::from);
    b.registry_token = r.raw(&var::REGISTRY_TOKEN).map(SecretString::from);
    b.registry_ca_path = r.raw(&var::REGISTRY_CA_PATH).map(PathBuf::from);
    if let Some(v) = r.parse(&var::CONNECT_TIMEOUT, parse_duration) {
        b.connect_timeout = v;
    }
    if let Some(v) = r.parse(&var::REQUEST_TIMEOUT, parse_duration) {
        b.request_timeout = v;
    }
    if let Some(v) = r.parse(&var::MAX_RETRIES, parse_count(0, u64::from(u32::MAX))) {
        b.max_retries = v;
    }

    if !r.errors.is_empty() {
        return Err(ConfigError::from_problems(r.errors));
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Loads from the given variables only.
    fn load_vars(vars: &[(&str, &str)]) -> Result<MetricsConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MetricsConfig::from_lookup(|name| map.get(name).cloned())
    }

    /// Loads with METRICS_APPLICATION=gafaelfawr plus the given variables.
    /// Loads `vars` for application "gafaelfawr". A real cluster needs a registry, so
    /// one is supplied when `vars` name brokers but no registry.
    fn load_app(vars: &[(&str, &str)]) -> Result<MetricsConfig, ConfigError> {
        let mut all = vec![("METRICS_APPLICATION", "gafaelfawr")];
        all.extend_from_slice(vars);
        let has = |name: &str| vars.iter().any(|(var, _)| *var == name);
        if has("KAFKA_BOOTSTRAP_SERVERS") && !has("SCHEMA_MANAGER_REGISTRY_URL") {
            all.push(("SCHEMA_MANAGER_REGISTRY_URL", "http://registry:8081"));
        }
        load_vars(&all)
    }

    fn ok(vars: &[(&str, &str)]) -> MetricsConfig {
        match load_app(vars) {
            Ok(c) => c,
            Err(e) => panic!("expected a valid configuration, got: {e}"),
        }
    }

    fn err(vars: &[(&str, &str)]) -> String {
        match load_app(vars) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_contains(message: &str, parts: &[&str]) {
        for part in parts {
            assert!(
                message.contains(part),
                "{message:?} does not contain {part:?}"
            );
        }
    }

    /// A file under the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(tag: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "app-metrics-config-test-{}-{n}-{tag}.pem",
                std::process::id()
            ));
            fs::write(&path, "-----BEGIN CERTIFICATE-----\n").expect("write temp file");
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("temp path is UTF-8")
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    const BROKERS: (&str, &str) = ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092");

    // -- defaults ----------------------------------------------------------------------

    #[test]
    fn defaults_apply_when_only_the_application_is_set() {
        let c = ok(&[]);
        assert_eq!(c.application(), "gafaelfawr");
        assert!(c.enabled());
        assert!(!c.mock());
        assert_eq!(c.topic_prefix(), "lsst.square.metrics.events");
        assert_eq!(c.topic(), "lsst.square.metrics.events.gafaelfawr");
        assert!(!c.raise_on_error());
        assert_eq!(c.backoff_interval(), Duration::from_secs(300));
        let k = c.kafka();
        assert_eq!(k.bootstrap_servers(), None);
        assert_eq!(k.security_protocol(), SecurityProtocol::Plaintext);
        assert_eq!(k.cluster_ca_path(), None);
        assert_eq!(k.client_cert_path(), None);
        assert_eq!(k.client_key_path(), None);
        assert_eq!(k.sasl_mechanism(), None);
        assert_eq!(k.sasl_username(), None);
        assert!(k.sasl_password().is_none());
        assert_eq!(k.delivery_timeout(), Duration::from_secs(120));
        assert_eq!(k.queue_max_messages(), 100_000);
        assert!(!k.create_topics());
        assert!(k.extra_properties().is_empty());
        let s = c.schema_manager();
        assert_eq!(s.registry_url(), None);
        assert_eq!(s.suffix(), "");
        assert_eq!(s.compatibility(), None);
        assert!(s.auth().is_none());
        assert_eq!(s.registry_ca_path(), None);
        assert_eq!(s.connect_timeout(), Duration::from_secs(5));
        assert_eq!(s.request_timeout(), Duration::from_secs(10));
        assert_eq!(s.max_retries(), 3);
        assert_eq!(c.backend(), BackendKind::Kafka);
    }

    #[test]
    fn builder_defaults_equal_env_defaults() {
        let from_env = ok(&[]);
        let from_code = MetricsConfig::builder("gafaelfawr").build().expect("valid");
        assert_eq!(format!("{from_env:?}"), format!("{from_code:?}"));
    }

    // -- each variable parsed --------------------------------------------------------

    #[test]
    fn application_is_read_and_trimmed() {
        assert_eq!(
            load_vars(&[("METRICS_APPLICATION", " times_square ")])
                .expect("valid")
                .application(),
            "times_square"
        );
    }

    #[test]
    fn topic_prefix_is_read() {
        let c = ok(&[("METRICS_EVENTS_TOPIC_PREFIX", "dev.metrics")]);
        assert_eq!(c.topic(), "dev.metrics.gafaelfawr");
    }

    #[test]
    fn raise_on_error_is_read() {
        assert!(ok(&[("METRICS_RAISE_ON_ERROR", "true")]).raise_on_error());
    }

    #[test]
    fn backoff_interval_is_read() {
        assert_eq!(
            ok(&[("METRICS_BACKOFF_INTERVAL", "10m")]).backoff_interval(),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn bootstrap_servers_are_split_and_trimmed() {
        let c = ok(&[(
            "KAFKA_BOOTSTRAP_SERVERS",
            "kafka-1:9092, kafka-2:9093 ,[::1]:9094,10.0.0.1:9092",
        )]);
        assert_eq!(
            c.kafka().bootstrap_servers(),
            Some(
                &[
                    "kafka-1:9092",
                    "kafka-2:9093",
                    "[::1]:9094",
                    "10.0.0.1:9092"
                ]
                .map(String::from)[..]
            )
        );
    }

    #[test]
    fn security_protocol_parses_case_insensitively() {
        let ca = TempFile::new("ca");
        let cases = [
            ("plaintext", SecurityProtocol::Plaintext),
            ("SSL", SecurityProtocol::Ssl),
            ("ssl", SecurityProtocol::Ssl),
            ("Sasl_Plaintext", SecurityProtocol::SaslPlaintext),
            ("SASL-SSL", SecurityProtocol::SaslSsl),
        ];
        for (text, want) in cases {
            let mut vars = vec![BROKERS, ("KAFKA_SECURITY_PROTOCOL", text)];
            if want.uses_tls() {
                vars.push(("KAFKA_CLUSTER_CA_PATH", ca.path()));
            }
            if want.uses_sasl() {
                vars.extend([
                    ("KAFKA_SASL_MECHANISM", "PLAIN"),
                    ("KAFKA_SASL_USERNAME", "u"),
                    ("KAFKA_SASL_PASSWORD", "p"),
                ]);
            }
            assert_eq!(ok(&vars).kafka().security_protocol(), want, "{text}");
        }
    }

    #[test]
    fn sasl_mechanism_accepts_any_case_and_underscores() {
        for (text, want) in [
            ("PLAIN", SaslMechanism::Plain),
            ("scram-sha-256", SaslMechanism::ScramSha256),
            ("SCRAM_SHA_512", SaslMechanism::ScramSha512),
        ] {
            let c = ok(&[
                BROKERS,
                ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
                ("KAFKA_SASL_MECHANISM", text),
                ("KAFKA_SASL_USERNAME", "metrics"),
                ("KAFKA_SASL_PASSWORD", "hunter2"),
            ]);
            assert_eq!(c.kafka().sasl_mechanism(), Some(want), "{text}");
        }
    }

    #[test]
    fn sasl_credentials_are_read() {
        let c = ok(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("KAFKA_SASL_USERNAME", "metrics"),
            ("KAFKA_SASL_PASSWORD", " pass word "),
        ]);
        assert_eq!(c.kafka().sasl_username(), Some("metrics"));
        // Secrets are not trimmed.
        assert_eq!(
            c.kafka().sasl_password().map(|p| p.expose_secret()),
            Some(" pass word ")
        );
    }

    #[test]
    fn ssl_file_paths_are_read() {
        let (ca, cert, key) = (
            TempFile::new("ca"),
            TempFile::new("cert"),
            TempFile::new("key"),
        );
        let c = ok(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", ca.path()),
            ("KAFKA_CLIENT_CERT_PATH", cert.path()),
            ("KAFKA_CLIENT_KEY_PATH", key.path()),
        ]);
        assert_eq!(c.kafka().cluster_ca_path(), Some(ca.0.as_path()));
        assert_eq!(c.kafka().client_cert_path(), Some(cert.0.as_path()));
        assert_eq!(c.kafka().client_key_path(), Some(key.0.as_path()));
    }

    #[test]
    fn delivery_timeout_is_read() {
        assert_eq!(
            ok(&[("KAFKA_DELIVERY_TIMEOUT", "30s")])
                .kafka()
                .delivery_timeout(),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn queue_max_messages_is_read() {
        assert_eq!(
            ok(&[("KAFKA_QUEUE_MAX_MESSAGES", "5000")])
                .kafka()
                .queue_max_messages(),
            5000
        );
    }

    #[test]
    fn create_topics_is_read() {
        assert!(
            ok(&[("KAFKA_CREATE_TOPICS", "yes")])
                .kafka()
                .create_topics()
        );
    }

    #[test]
    fn extra_properties_are_parsed() {
        let c = ok(&[(
            "KAFKA_EXTRA_PROPERTIES",
            " linger.ms=20, compression.type = zstd ,client.id=a=b,",
        )]);
        let props = c.kafka().extra_properties();
        assert_eq!(props.len(), 3);
        assert_eq!(props["linger.ms"], "20");
        assert_eq!(props["compression.type"], "zstd");
        assert_eq!(props["client.id"], "a=b");
    }

    #[test]
    fn registry_url_is_read_without_trailing_slash() {
        let c = ok(&[(
            "SCHEMA_MANAGER_REGISTRY_URL",
            "https://roundtable.example.org/schema-registry/",
        )]);
        assert_eq!(
            c.schema_manager().registry_url(),
            Some("https://roundtable.example.org/schema-registry")
        );
        let c = ok(&[("SCHEMA_MANAGER_REGISTRY_URL", "http://127.0.0.1:8081")]);
        assert_eq!(
            c.schema_manager().registry_url(),
            Some("http://127.0.0.1:8081")
        );
    }

    #[test]
    fn schema_suffix_is_read() {
        assert_eq!(
            ok(&[("SCHEMA_MANAGER_SUFFIX", "_dev")])
                .schema_manager()
                .suffix(),
            "_dev"
        );
    }

    #[test]
    fn compatibility_level_is_read() {
        for level in CompatibilityLevel::CHOICES.iter().map(|(l, _)| *l) {
            let text = level.as_str().to_ascii_lowercase();
            let c = ok(&[("SCHEMA_MANAGER_COMPATIBILITY", &text)]);
            assert_eq!(c.schema_manager().compatibility(), Some(level));
        }
        assert_eq!(
            CompatibilityLevel::FullTransitive.as_str(),
            "FULL_TRANSITIVE"
        );
    }

    #[test]
    fn registry_basic_auth_is_read() {
        let c = ok(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_USERNAME", "metrics"),
            ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "s3cret"),
        ]);
        match c.schema_manager().auth() {
            Some(RegistryAuth::Basic { username, password }) => {
                assert_eq!(username, "metrics");
                assert_eq!(password.expose_secret(), "s3cret");
            }
            other => panic!("expected basic auth, got {other:?}"),
        }
    }

    #[test]
    fn registry_bearer_token_is_read() {
        let c = ok(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_TOKEN", "gt-abc.def"),
        ]);
        match c.schema_manager().auth() {
            Some(RegistryAuth::Bearer { token }) => assert_eq!(token.expose_secret(), "gt-abc.def"),
            other => panic!("expected a bearer token, got {other:?}"),
        }
    }

    #[test]
    fn registry_ca_path_is_read() {
        let ca = TempFile::new("registry-ca");
        let c = ok(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_CA_PATH", ca.path()),
        ]);
        assert_eq!(c.schema_manager().registry_ca_path(), Some(ca.0.as_path()));
    }

    #[test]
    fn registry_timeouts_and_retries_are_read() {
        let c = ok(&[
            ("SCHEMA_MANAGER_CONNECT_TIMEOUT", "2"),
            ("SCHEMA_MANAGER_REQUEST_TIMEOUT", "1m"),
            ("SCHEMA_MANAGER_MAX_RETRIES", "0"),
        ]);
        let s = c.schema_manager();
        assert_eq!(s.connect_timeout(), Duration::from_secs(2));
        assert_eq!(s.request_timeout(), Duration::from_secs(60));
        assert_eq!(s.max_retries(), 0);
    }

    #[test]
    fn empty_optional_variables_count_as_unset() {
        let names: Vec<&str> = ENV_VARS
            .iter()
            .filter(|v| v.name != "METRICS_APPLICATION")
            .map(|v| v.name)
            .collect();
        let vars: Vec<(&str, &str)> = names.iter().map(|n| (*n, "")).collect();
        let c = ok(&vars);
        assert_eq!(format!("{c:?}"), format!("{:?}", ok(&[])));
    }

    // -- bad values ------------------------------------------------------------------

    #[test]
    fn missing_application_is_reported() {
        let e = load_vars(&[]).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "METRICS_APPLICATION is required: set it to your application's name (e.g. \"gafaelfawr\")"
        );
        let e = load_vars(&[("METRICS_APPLICATION", "  ")]).expect_err("blank");
        assert!(matches!(
            e,
            ConfigError::Missing {
                var: "METRICS_APPLICATION",
                ..
            }
        ));
    }

    #[test]
    fn hyphenated_application_suggests_underscores() {
        let e = load_vars(&[("METRICS_APPLICATION", "times-square")])
            .expect_err("hyphen")
            .to_string();
        assert_contains(
            &e,
            &[
                "METRICS_APPLICATION (application)",
                "\"times-square\"",
                "Avro",
                "hyphens",
                "\"times_square\"",
            ],
        );
    }

    #[test]
    fn application_starting_with_a_digit_is_rejected() {
        let e = load_vars(&[("METRICS_APPLICATION", "3po")])
            .expect_err("digit")
            .to_string();
        assert_contains(
            &e,
            &[
                "METRICS_APPLICATION (application)",
                "\"3po\"",
                "start with a letter or '_'",
            ],
        );
    }

    #[test]
    fn bad_topic_prefix_names_the_bad_part() {
        let e = err(&[("METRICS_EVENTS_TOPIC_PREFIX", "lsst.square-metrics.events")]);
        assert_contains(
            &e,
            &[
                "METRICS_EVENTS_TOPIC_PREFIX (topic_prefix)",
                "part \"square-metrics\"",
            ],
        );
        let e = err(&[("METRICS_EVENTS_TOPIC_PREFIX", "lsst..events")]);
        assert_contains(&e, &["METRICS_EVENTS_TOPIC_PREFIX", "part \"\""]);
    }

    #[test]
    fn overlong_topic_is_rejected() {
        let prefix = ["a"; 130].join(".");
        let e = err(&[("METRICS_EVENTS_TOPIC_PREFIX", &prefix)]);
        assert_contains(
            &e,
            &["METRICS_EVENTS_TOPIC_PREFIX (topic_prefix)", "at most 249"],
        );
    }

    #[test]
    fn bad_security_protocol_lists_allowed_values() {
        assert_eq!(
            err(&[("KAFKA_SECURITY_PROTOCOL", "TLS")]),
            "KAFKA_SECURITY_PROTOCOL=\"TLS\" is not valid: expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
        );
    }

    #[test]
    fn bad_sasl_mechanism_lists_allowed_values() {
        let e = err(&[("KAFKA_SASL_MECHANISM", "GSSAPI")]);
        assert_contains(
            &e,
            &[
                "KAFKA_SASL_MECHANISM=\"GSSAPI\"",
                "one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
            ],
        );
    }

    #[test]
    fn bad_compatibility_lists_allowed_values() {
        let e = err(&[("SCHEMA_MANAGER_COMPATIBILITY", "STRICT")]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_COMPATIBILITY=\"STRICT\"",
                "one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE",
            ],
        );
    }

    #[test]
    fn bad_boolean_lists_accepted_spellings() {
        for name in [
            "METRICS_ENABLED",
            "METRICS_MOCK",
            "METRICS_RAISE_ON_ERROR",
            "KAFKA_CREATE_TOPICS",
        ] {
            let e = err(&[(name, "maybe")]);
            assert_contains(
                &e,
                &[
                    &format!("{name}=\"maybe\""),
                    "true/false, 1/0, yes/no or on/off",
                ],
            );
        }
    }

    #[test]
    fn bad_queue_max_messages_gives_the_range() {
        let e = err(&[("KAFKA_QUEUE_MAX_MESSAGES", "lots")]);
        assert_contains(
            &e,
            &[
                "KAFKA_QUEUE_MAX_MESSAGES=\"lots\"",
                "between 1 and 2147483647",
            ],
        );
        let e = err(&[("KAFKA_QUEUE_MAX_MESSAGES", "0")]);
        assert_contains(
            &e,
            &["KAFKA_QUEUE_MAX_MESSAGES=\"0\"", "between 1 and 2147483647"],
        );
    }

    #[test]
    fn queue_max_messages_from_code_is_range_checked() {
        let e = MetricsConfig::builder("app")
            .queue_max_messages(0)
            .build()
            .expect_err("zero")
            .to_string();
        assert_contains(
            &e,
            &[
                "KAFKA_QUEUE_MAX_MESSAGES (queue_max_messages)",
                "between 1 and 2147483647",
            ],
        );
    }

    #[test]
    fn bad_max_retries_gives_the_range() {
        let e = err(&[("SCHEMA_MANAGER_MAX_RETRIES", "-1")]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_MAX_RETRIES=\"-1\"",
                "between 0 and 4294967295",
            ],
        );
    }

    #[test]
    fn bootstrap_entry_without_port_is_rejected() {
        let e = err(&[("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2")]);
        assert_contains(
            &e,
            &[
                "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers)",
                "\"kafka-2\"",
                "port is missing",
                "host:port",
            ],
        );
    }

    #[test]
    fn bootstrap_entry_with_bad_port_is_rejected() {
        for bad in ["kafka:http", "kafka:0", "kafka:70000"] {
            let e = err(&[("KAFKA_BOOTSTRAP_SERVERS", bad)]);
            assert_contains(
                &e,
                &[
                    "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers)",
                    "between 1 and 65535",
                ],
            );
        }
    }

    #[test]
    fn bootstrap_entry_with_scheme_is_rejected() {
        let e = err(&[("KAFKA_BOOTSTRAP_SERVERS", "PLAINTEXT://kafka:9092")]);
        assert_contains(
            &e,
            &[
                "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers)",
                "remove the scheme",
                "KAFKA_SECURITY_PROTOCOL",
            ],
        );
    }

    #[test]
    fn bootstrap_entry_without_host_or_with_bare_ipv6_is_rejected() {
        assert_contains(
            &err(&[("KAFKA_BOOTSTRAP_SERVERS", ":9092")]),
            &["host is missing"],
        );
        assert_contains(
            &err(&[("KAFKA_BOOTSTRAP_SERVERS", "::1:9092")]),
            &["brackets"],
        );
        assert_contains(&err(&[("KAFKA_BOOTSTRAP_SERVERS", "a:1,,b:2")]), &["empty"]);
    }

    #[test]
    fn empty_bootstrap_list_from_code_is_rejected() {
        let e = MetricsConfig::builder("app")
            .bootstrap_servers(Vec::<String>::new())
            .build()
            .expect_err("empty")
            .to_string();
        assert_contains(
            &e,
            &[
                "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers)",
                "empty list",
                "embedded",
            ],
        );
    }

    #[test]
    fn bad_registry_url_is_rejected() {
        for (url, why) in [
            ("ftp://registry", "scheme must be http or https"),
            ("registry:8081", "scheme must be http or https"),
            ("https://", "host is missing"),
            ("https://registry:port", "between 1 and 65535"),
            ("https://registry/?x=1", "query or fragment"),
        ] {
            let e = err(&[("SCHEMA_MANAGER_REGISTRY_URL", url)]);
            assert_contains(
                &e,
                &[
                    "SCHEMA_MANAGER_REGISTRY_URL (registry_url)",
                    why,
                    "http://host",
                ],
            );
        }
    }

    #[test]
    fn registry_url_with_credentials_is_rejected_without_echo() {
        let e = err(&[(
            "SCHEMA_MANAGER_REGISTRY_URL",
            "https://user:hunter2@registry.example.org",
        )]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_REGISTRY_URL (registry_url)",
                "credentials",
                "SCHEMA_MANAGER_REGISTRY_USERNAME",
            ],
        );
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn bad_schema_suffix_is_rejected() {
        let e = err(&[("SCHEMA_MANAGER_SUFFIX", "dev/test")]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_SUFFIX (schema_suffix)",
                "\"dev/test\"",
                "letters, digits",
            ],
        );
    }

    #[test]
    fn extra_property_without_equals_is_rejected_without_echo() {
        let e = err(&[(
            "KAFKA_EXTRA_PROPERTIES",
            "linger.ms=5,sasl.oauthbearer.client.secret",
        )]);
        assert_contains(
            &e,
            &["KAFKA_EXTRA_PROPERTIES", "entry 2 has no '='", "key=value"],
        );
        assert!(!e.contains("oauthbearer"), "{e}");
    }

    #[test]
    fn duplicate_extra_property_is_rejected() {
        let e = err(&[("KAFKA_EXTRA_PROPERTIES", "linger.ms=5,linger.ms=6")]);
        assert_contains(
            &e,
            &["KAFKA_EXTRA_PROPERTIES", "\"linger.ms\" is given twice"],
        );
    }

    #[test]
    fn extra_property_with_a_typed_setting_is_rejected() {
        let e = err(&[("KAFKA_EXTRA_PROPERTIES", "security.protocol=ssl")]);
        assert_contains(
            &e,
            &[
                "KAFKA_EXTRA_PROPERTIES (kafka_property)",
                "\"security.protocol\"",
                "KAFKA_SECURITY_PROTOCOL (security_protocol)",
            ],
        );
        let e = MetricsConfig::builder("app")
            .kafka_property("Linger MS", "5")
            .build()
            .expect_err("bad key")
            .to_string();
        assert_contains(
            &e,
            &[
                "KAFKA_EXTRA_PROPERTIES (kafka_property)",
                "not a librdkafka property name",
            ],
        );
    }

    #[test]
    fn missing_file_names_the_variable_and_the_path() {
        let path = std::env::temp_dir().join("app-metrics-config-test-does-not-exist.pem");
        let e = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", path.to_str().expect("utf-8")),
        ]);
        assert_contains(
            &e,
            &[
                "KAFKA_CLUSTER_CA_PATH (cluster_ca_path)",
                path.to_str().expect("utf-8"),
                "does not exist",
            ],
        );
    }

    #[test]
    fn directory_instead_of_a_file_is_rejected() {
        let dir = std::env::temp_dir();
        let e = err(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            (
                "SCHEMA_MANAGER_REGISTRY_CA_PATH",
                dir.to_str().expect("utf-8"),
            ),
        ]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_REGISTRY_CA_PATH (registry_ca_path)",
                "is a directory",
            ],
        );
    }

    #[test]
    fn delivery_timeout_above_librdkafkas_limit_is_rejected() {
        let e = err(&[("KAFKA_DELIVERY_TIMEOUT", "30days")]);
        assert_contains(
            &e,
            &[
                "KAFKA_DELIVERY_TIMEOUT (delivery_timeout)",
                "at most 2147483647ms",
            ],
        );
    }

    #[test]
    fn non_unicode_value_is_reported_by_name() {
        let e = load(&|name| {
            if name == "KAFKA_SASL_USERNAME" {
                Err(NotUnicode)
            } else if name == "METRICS_APPLICATION" {
                Ok(Some("gafaelfawr".to_owned()))
            } else {
                Ok(None)
            }
        })
        .expect_err("not unicode");
        assert_eq!(
            e.to_string(),
            "KAFKA_SASL_USERNAME is not valid UTF-8: set it to a UTF-8 value"
        );
    }

    #[test]
    fn parse_problems_are_reported_together() {
        let e = load_vars(&[
            ("METRICS_ENABLED", "perhaps"),
            ("KAFKA_SECURITY_PROTOCOL", "TLS"),
        ])
        .expect_err("bad");
        assert_eq!(e.problems().len(), 3, "{e}");
        assert_contains(
            &e.to_string(),
            &[
                "3 configuration problems:",
                "METRICS_APPLICATION is required",
                "METRICS_ENABLED=\"perhaps\"",
                "KAFKA_SECURITY_PROTOCOL=\"TLS\"",
            ],
        );
    }

    #[test]
    fn rule_problems_are_reported_together() {
        let e = load_app(&[
            ("METRICS_BACKOFF_INTERVAL", "0"),
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            BROKERS,
        ])
        .expect_err("bad");
        assert_eq!(e.problems().len(), 2, "{e}");
    }

    // -- bad combinations -----------------------------------------------------------

    #[test]
    fn ssl_without_cluster_ca_is_rejected() {
        let e = err(&[BROKERS, ("KAFKA_SECURITY_PROTOCOL", "SSL")]);
        assert_contains(
            &e,
            &[
                "KAFKA_SECURITY_PROTOCOL (security_protocol) is SSL",
                "requires KAFKA_CLUSTER_CA_PATH (cluster_ca_path)",
            ],
        );
    }

    #[test]
    fn sasl_ssl_without_cluster_ca_is_accepted() {
        let c = ok(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("KAFKA_SASL_USERNAME", "metrics"),
            ("KAFKA_SASL_PASSWORD", "pw"),
        ]);
        assert_eq!(c.kafka().cluster_ca_path(), None);
    }

    #[test]
    fn client_cert_without_key_is_rejected() {
        let (ca, cert) = (TempFile::new("ca"), TempFile::new("cert"));
        let e = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", ca.path()),
            ("KAFKA_CLIENT_CERT_PATH", cert.path()),
        ]);
        assert_contains(
            &e,
            &[
                "KAFKA_CLIENT_CERT_PATH (client_cert_path) is set without KAFKA_CLIENT_KEY_PATH (client_key_path)",
                "both",
            ],
        );
    }

    #[test]
    fn client_key_without_cert_is_rejected() {
        let (ca, key) = (TempFile::new("ca"), TempFile::new("key"));
        let e = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", ca.path()),
            ("KAFKA_CLIENT_KEY_PATH", key.path()),
        ]);
        assert_contains(
            &e,
            &[
                "KAFKA_CLIENT_KEY_PATH (client_key_path) is set without KAFKA_CLIENT_CERT_PATH (client_cert_path)",
            ],
        );
    }

    #[test]
    fn sasl_without_mechanism_username_and_password_is_rejected() {
        let e = err(&[BROKERS, ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")]);
        assert_contains(
            &e,
            &[
                "KAFKA_SECURITY_PROTOCOL (security_protocol) is SASL_SSL, which requires",
                "KAFKA_SASL_MECHANISM (sasl_mechanism)",
                "KAFKA_SASL_USERNAME (sasl_username)",
                "KAFKA_SASL_PASSWORD (sasl_password)",
                "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
            ],
        );
    }

    #[test]
    fn sasl_without_password_is_rejected() {
        let e = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_SASL_USERNAME", "u"),
        ]);
        assert_contains(
            &e,
            &["is SASL_PLAINTEXT, which requires KAFKA_SASL_PASSWORD (sasl_password): set it"],
        );
        assert!(!e.contains("KAFKA_SASL_USERNAME"), "{e}");
    }

    #[test]
    fn sasl_settings_with_plaintext_are_rejected() {
        let e = err(&[
            BROKERS,
            ("KAFKA_SASL_USERNAME", "u"),
            ("KAFKA_SASL_PASSWORD", "hunter2"),
        ]);
        assert_contains(
            &e,
            &[
                "KAFKA_SASL_USERNAME (sasl_username) and KAFKA_SASL_PASSWORD (sasl_password) are set",
                "is PLAINTEXT, which does not use SASL",
                "SASL_PLAINTEXT or SASL_SSL",
            ],
        );
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn sasl_mechanism_with_ssl_is_rejected() {
        let ca = TempFile::new("ca");
        let e = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", ca.path()),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
        ]);
        assert_contains(
            &e,
            &[
                "KAFKA_SASL_MECHANISM (sasl_mechanism) is set",
                "is SSL, which does not use SASL",
            ],
        );
    }

    #[test]
    fn tls_files_with_plaintext_are_rejected() {
        let ca = TempFile::new("ca");
        let e = err(&[BROKERS, ("KAFKA_CLUSTER_CA_PATH", ca.path())]);
        assert_contains(
            &e,
            &[
                "KAFKA_CLUSTER_CA_PATH (cluster_ca_path) is set",
                "is PLAINTEXT, which does not use TLS",
                "SSL or SASL_SSL",
            ],
        );
    }

    #[test]
    fn tls_files_with_sasl_plaintext_are_rejected() {
        let (cert, key) = (TempFile::new("cert"), TempFile::new("key"));
        let e = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_SASL_USERNAME", "u"),
            ("KAFKA_SASL_PASSWORD", "p"),
            ("KAFKA_CLIENT_CERT_PATH", cert.path()),
            ("KAFKA_CLIENT_KEY_PATH", key.path()),
        ]);
        assert_contains(
            &e,
            &[
                "KAFKA_CLIENT_CERT_PATH (client_cert_path) and KAFKA_CLIENT_KEY_PATH (client_key_path) are set",
                "is SASL_PLAINTEXT, which does not use TLS",
            ],
        );
    }

    #[test]
    fn secure_protocol_without_bootstrap_servers_is_rejected() {
        let ca = TempFile::new("ca");
        let e = err(&[
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", ca.path()),
        ]);
        assert_contains(
            &e,
            &[
                "KAFKA_SECURITY_PROTOCOL (security_protocol) is SSL",
                "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers) is unset",
                "embedded",
                "PLAINTEXT",
            ],
        );
    }

    #[test]
    fn a_comma_inside_one_builder_entry_is_explained() {
        let e = MetricsConfig::builder("app")
            .bootstrap_servers(["a:1,b:2"])
            .registry_url("http://registry:8081")
            .build()
            .unwrap_err()
            .to_string();
        assert_contains(
            &e,
            &[
                "KAFKA_BOOTSTRAP_SERVERS",
                "contains a comma",
                "its own entry",
            ],
        );
    }

    #[test]
    fn bootstrap_servers_without_registry_url_are_rejected() {
        let e = load_vars(&[
            ("METRICS_APPLICATION", "app"),
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
        ])
        .unwrap_err()
        .to_string();
        assert_contains(
            &e,
            &[
                "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers) is set",
                "SCHEMA_MANAGER_REGISTRY_URL (registry_url) is unset",
                "consumers can decode",
            ],
        );
    }

    #[test]
    fn registry_basic_and_bearer_together_are_rejected() {
        let e = err(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
            ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "pw"),
            ("SCHEMA_MANAGER_REGISTRY_TOKEN", "tok"),
        ]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_REGISTRY_USERNAME",
                "SCHEMA_MANAGER_REGISTRY_TOKEN (registry_bearer_token)",
                "both set",
                "either",
            ],
        );
    }

    #[test]
    fn registry_username_without_password_is_rejected() {
        let e = err(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
        ]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_REGISTRY_USERNAME is set without SCHEMA_MANAGER_REGISTRY_PASSWORD",
                "both",
            ],
        );
    }

    #[test]
    fn registry_password_without_username_is_rejected() {
        let e = err(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "pw"),
        ]);
        assert_contains(
            &e,
            &["SCHEMA_MANAGER_REGISTRY_PASSWORD is set without SCHEMA_MANAGER_REGISTRY_USERNAME"],
        );
    }

    #[test]
    fn registry_auth_without_url_is_rejected() {
        let e = err(&[("SCHEMA_MANAGER_REGISTRY_TOKEN", "tok")]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_REGISTRY_TOKEN (registry_bearer_token) is set",
                "SCHEMA_MANAGER_REGISTRY_URL (registry_url) is unset",
                "embedded",
            ],
        );
    }

    #[test]
    fn registry_ca_with_http_url_is_rejected() {
        let ca = TempFile::new("registry-ca");
        let e = err(&[
            ("SCHEMA_MANAGER_REGISTRY_URL", "http://registry:8081"),
            ("SCHEMA_MANAGER_REGISTRY_CA_PATH", ca.path()),
        ]);
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_REGISTRY_CA_PATH (registry_ca_path) is set",
                "http:// URL",
                "https://",
            ],
        );
    }

    #[test]
    fn kafka_rules_are_not_checked_when_disabled() {
        let c = ok(&[
            ("METRICS_ENABLED", "false"),
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka"),
            ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
        ]);
        assert_eq!(c.backend(), BackendKind::Noop);
        // Unparsable values are still errors.
        let e = err(&[
            ("METRICS_ENABLED", "false"),
            ("KAFKA_SECURITY_PROTOCOL", "TLS"),
        ]);
        assert_contains(&e, &["KAFKA_SECURITY_PROTOCOL=\"TLS\""]);
        // Application rules always apply.
        assert!(
            load_vars(&[("METRICS_APPLICATION", "a-b"), ("METRICS_ENABLED", "false")]).is_err()
        );
    }

    // -- backend selection -----------------------------------------------------------

    #[test]
    fn backend_is_kafka_when_enabled() {
        assert_eq!(
            ok(&[("METRICS_ENABLED", "true")]).backend(),
            BackendKind::Kafka
        );
    }

    #[test]
    fn backend_is_noop_when_disabled() {
        assert_eq!(
            ok(&[("METRICS_ENABLED", "false")]).backend(),
            BackendKind::Noop
        );
    }

    #[test]
    fn backend_is_mock_when_disabled_and_mocked() {
        assert_eq!(
            ok(&[("METRICS_ENABLED", "false"), ("METRICS_MOCK", "true")]).backend(),
            BackendKind::Mock
        );
    }

    #[test]
    fn mock_is_ignored_while_enabled() {
        assert_eq!(
            ok(&[("METRICS_MOCK", "true")]).backend(),
            BackendKind::Kafka
        );
        assert_eq!(
            MetricsConfig::builder("app")
                .mock(true)
                .build()
                .expect("valid")
                .backend(),
            BackendKind::Kafka
        );
    }

    // -- durations --------------------------------------------------------------------

    fn backoff(text: &str) -> Result<Duration, String> {
        load_app(&[("METRICS_BACKOFF_INTERVAL", text)])
            .map(|c| c.backoff_interval())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn bare_number_is_seconds() {
        assert_eq!(backoff("300"), Ok(Duration::from_secs(300)));
        assert_eq!(backoff("1.5"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn human_durations_are_accepted() {
        assert_eq!(backoff("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(backoff("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(backoff("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn unknown_duration_unit_is_rejected() {
        let e = backoff("5 parsecs").expect_err("bad unit");
        assert_contains(
            &e,
            &[
                "METRICS_BACKOFF_INTERVAL=\"5 parsecs\" is not valid",
                "300",
                "5m",
                "1h 30m",
                "unknown time unit \"parsecs\"",
            ],
        );
    }

    #[test]
    fn negative_duration_is_rejected() {
        assert_contains(
            &backoff("-5").expect_err("negative"),
            &["METRICS_BACKOFF_INTERVAL=\"-5\""],
        );
    }

    #[test]
    fn zero_backoff_is_rejected() {
        for zero in ["0", "0s"] {
            let e = backoff(zero).expect_err("zero");
            assert_contains(
                &e,
                &[
                    "METRICS_BACKOFF_INTERVAL (backoff_interval)",
                    "greater than zero",
                ],
            );
        }
    }

    #[test]
    fn zero_timeouts_are_rejected() {
        for name in [
            "KAFKA_DELIVERY_TIMEOUT",
            "SCHEMA_MANAGER_CONNECT_TIMEOUT",
            "SCHEMA_MANAGER_REQUEST_TIMEOUT",
        ] {
            let e = err(&[(name, "0")]);
            assert_contains(&e, &[name]);
        }
        let e = MetricsConfig::builder("app")
            .request_timeout(Duration::ZERO)
            .build()
            .expect_err("zero")
            .to_string();
        assert_contains(
            &e,
            &[
                "SCHEMA_MANAGER_REQUEST_TIMEOUT (request_timeout)",
                "greater than zero",
            ],
        );
    }

    // -- booleans ----------------------------------------------------------------------

    #[test]
    fn booleans_accept_pydantic_spellings() {
        for t in [
            "true", "TRUE", "True", "1", "yes", "YES", "on", "On", "t", "y",
        ] {
            assert!(ok(&[("METRICS_RAISE_ON_ERROR", t)]).raise_on_error(), "{t}");
        }
        for f in ["false", "FALSE", "0", "no", "No", "off", "OFF", "f", "n"] {
            assert!(!ok(&[("METRICS_ENABLED", f)]).enabled(), "{f}");
        }
    }

    // -- secrets -----------------------------------------------------------------------

    #[test]
    fn debug_redacts_secrets() {
        let config = MetricsConfig::builder("app")
            .bootstrap_servers(["kafka:9092"])
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_mechanism(SaslMechanism::ScramSha512)
            .sasl_username("metrics")
            .sasl_password("kafka-password-1")
            .kafka_property("sasl.oauthbearer.client.secret", "oauth-secret-2")
            .kafka_property("linger.ms", "7")
            .registry_url("https://registry.example.org")
            .registry_basic_auth("metrics", "registry-password-3");
        let bearer = config
            .clone()
            .no_registry_auth()
            .registry_bearer_token("registry-token-4");
        let texts = [
            format!("{config:?}"),
            format!("{:?}", config.clone().build().expect("valid")),
            format!("{:?}", bearer.clone().build().expect("valid")),
            format!("{bearer:?}"),
        ];
        for text in &texts {
            for secret in [
                "kafka-password-1",
                "oauth-secret-2",
                "registry-password-3",
                "registry-token-4",
            ] {
                assert!(!text.contains(secret), "{secret} leaked in {text}");
            }
            assert!(text.contains("REDACTED"), "{text}");
            assert!(text.contains("\"linger.ms\": \"7\""), "{text}");
        }
    }

    #[test]
    fn errors_never_echo_secrets() {
        let e = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_SASL_USERNAME", "u"),
            ("KAFKA_SASL_PASSWORD", "kafka-password-1\n"),
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_TOKEN", "registry token-2"),
            ("KAFKA_EXTRA_PROPERTIES", "sasl.oauthbearer.client.secret"),
        ]);
        assert_contains(&e, &["KAFKA_EXTRA_PROPERTIES", "not shown"]);
        let e2 = err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_SASL_USERNAME", "u"),
            ("KAFKA_SASL_PASSWORD", "kafka-password-1\n"),
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_TOKEN", "registry token-2"),
        ]);
        assert_contains(
            &e2,
            &[
                "KAFKA_SASL_PASSWORD (sasl_password) contains a control character",
                "SCHEMA_MANAGER_REGISTRY_TOKEN (registry_bearer_token) contains whitespace",
            ],
        );
        for text in [&e, &e2] {
            assert!(
                !text.contains("kafka-password-1")
                    && !text.contains("token-2")
                    && !text.contains("oauthbearer"),
                "{text}"
            );
        }
    }

    #[test]
    fn secrets_are_exposed_only_through_expose_secret() {
        let c = MetricsConfig::builder("app")
            .bootstrap_servers(["kafka:9092"])
            .registry_url("http://registry:8081")
            .security_protocol(SecurityProtocol::SaslSsl)
            .sasl_mechanism(SaslMechanism::Plain)
            .sasl_username("u")
            .sasl_password(String::from("pw"))
            .build()
            .expect("valid");
        let pw: &SecretString = c.kafka().sasl_password().expect("set");
        assert_eq!(pw.expose_secret(), "pw");
    }

    // -- ENV_VARS ------------------------------------------------------------------------

    #[test]
    fn loader_reads_exactly_the_documented_variables() {
        let seen = RefCell::new(BTreeSet::new());
        let _ = MetricsConfig::from_lookup(|name| {
            seen.borrow_mut().insert(name.to_owned());
            None
        });
        let documented: BTreeSet<String> = ENV_VARS.iter().map(|v| v.name.to_owned()).collect();
        assert_eq!(seen.into_inner(), documented);
        assert_eq!(
            documented.len(),
            ENV_VARS.len(),
            "a variable is listed twice"
        );
    }

    #[test]
    fn documented_defaults_match_the_loader() {
        let explicit: Vec<(&str, &str)> = ENV_VARS
            .iter()
            .filter(|v| !v.default.starts_with('('))
            .map(|v| (v.name, v.default))
            .collect();
        assert!(explicit.len() >= 10);
        assert_eq!(format!("{:?}", ok(&explicit)), format!("{:?}", ok(&[])));
        for v in ENV_VARS {
            assert!(
                !v.default.starts_with('(')
                    || ["(required)", "(unset)", "(empty)"].contains(&v.default),
                "{}: {}",
                v.name,
                v.default
            );
            assert!(
                !v.description.is_empty() && !v.field.is_empty(),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn env_var_fields_are_builder_methods() {
        // Each `field` names a builder setter; checked against the list of setters here so
        // a rename fails this test.
        let setters = [
            "application",
            "enabled",
            "mock",
            "topic_prefix",
            "raise_on_error",
            "backoff_interval",
            "bootstrap_servers",
            "security_protocol",
            "cluster_ca_path",
            "client_cert_path",
            "client_key_path",
            "sasl_mechanism",
            "sasl_username",
            "sasl_password",
            "delivery_timeout",
            "queue_max_messages",
            "create_topics",
            "kafka_property",
            "registry_url",
            "schema_suffix",
            "compatibility",
            "registry_basic_auth",
            "registry_bearer_token",
            "registry_ca_path",
            "connect_timeout",
            "request_timeout",
            "max_retries",
        ];
        for v in ENV_VARS {
            assert!(setters.contains(&v.field), "{} -> {}", v.name, v.field);
        }
    }

    // -- builder -------------------------------------------------------------------------

    #[test]
    fn builder_validation_equals_env_validation() {
        let ca = TempFile::new("ca");
        let cases: Vec<(Vec<(&str, &str)>, MetricsConfigBuilder)> = vec![
            (
                vec![("METRICS_APPLICATION", "my-app")],
                MetricsConfig::builder("my-app"),
            ),
            (
                vec![
                    ("METRICS_APPLICATION", "app"),
                    ("METRICS_BACKOFF_INTERVAL", "0"),
                ],
                MetricsConfig::builder("app").backoff_interval(Duration::ZERO),
            ),
            (
                vec![
                    ("METRICS_APPLICATION", "app"),
                    BROKERS,
                    ("KAFKA_SECURITY_PROTOCOL", "SSL"),
                ],
                MetricsConfig::builder("app")
                    .bootstrap_servers(["kafka:9092"])
                    .security_protocol(SecurityProtocol::Ssl),
            ),
            (
                vec![
                    ("METRICS_APPLICATION", "app"),
                    BROKERS,
                    ("KAFKA_CLUSTER_CA_PATH", ca.path()),
                    ("KAFKA_SASL_USERNAME", "u"),
                ],
                MetricsConfig::builder("app")
                    .bootstrap_servers(["kafka:9092"])
                    .cluster_ca_path(ca.path())
                    .sasl_username("u"),
            ),
            (
                vec![
                    ("METRICS_APPLICATION", "app"),
                    ("SCHEMA_MANAGER_REGISTRY_URL", "https://r"),
                    ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
                    ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "p"),
                    ("SCHEMA_MANAGER_REGISTRY_TOKEN", "t"),
                ],
                MetricsConfig::builder("app")
                    .registry_url("https://r")
                    .registry_basic_auth("u", "p")
                    .registry_bearer_token("t"),
            ),
            (
                vec![
                    ("METRICS_APPLICATION", "app"),
                    ("KAFKA_BOOTSTRAP_SERVERS", "kafka"),
                ],
                MetricsConfig::builder("app").bootstrap_servers(["kafka"]),
            ),
        ];
        for (env, builder) in cases {
            let from_env = load_vars(&env).expect_err("env must fail").to_string();
            let from_code = builder.build().expect_err("builder must fail").to_string();
            assert_eq!(from_env, from_code);
        }
    }

    #[test]
    fn builder_sets_every_field() {
        let ca = TempFile::new("ca");
        let c = MetricsConfig::builder("first")
            .application("app")
            .enabled(true)
            .mock(true)
            .topic_prefix("dev.events")
            .raise_on_error(true)
            .backoff_interval(Duration::from_secs(1))
            .bootstrap_servers(["a:1", "b:2"])
            .registry_url("http://registry:8081")
            .security_protocol(SecurityProtocol::SaslSsl)
            .cluster_ca_path(ca.path())
            .sasl_mechanism(SaslMechanism::ScramSha256)
            .sasl_username("u")
            .sasl_password("p")
            .delivery_timeout(Duration::from_secs(9))
            .queue_max_messages(10)
            .create_topics(true)
            .kafka_property("linger.ms", "1")
            .registry_url("https://r.example.org:8443/base")
            .schema_suffix("_dev")
            .compatibility(CompatibilityLevel::Forward)
            .registry_bearer_token("t")
            .registry_ca_path(ca.path())
            .connect_timeout(Duration::from_secs(2))
            .request_timeout(Duration::from_secs(3))
            .max_retries(7)
            .build()
            .expect("valid");
        assert_eq!(c.topic(), "dev.events.app");
        assert!(c.raise_on_error() && c.mock() && c.kafka().create_topics());
        assert_eq!(c.kafka().bootstrap_servers().map(<[String]>::len), Some(2));
        assert_eq!(c.kafka().queue_max_messages(), 10);
        assert_eq!(
            c.schema_manager().registry_url(),
            Some("https://r.example.org:8443/base")
        );
        assert_eq!(
            c.schema_manager().compatibility(),
            Some(CompatibilityLevel::Forward)
        );
        assert_eq!(c.schema_manager().max_retries(), 7);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn to_builder_round_trips_and_keeps_validation() {
        let c = ok(&[
            (
                "SCHEMA_MANAGER_REGISTRY_URL",
                "https://registry.example.org",
            ),
            ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
            ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "p"),
        ]);
        let again = c.to_builder().build().expect("valid");
        assert_eq!(format!("{c:?}"), format!("{again:?}"));
        let changed = c.to_builder().max_retries(9).build().expect("valid");
        assert_eq!(changed.schema_manager().max_retries(), 9);
        let e = c
            .to_builder()
            .application("bad-name")
            .build()
            .expect_err("invalid");
        assert_contains(
            &e.to_string(),
            &["METRICS_APPLICATION (application)", "\"bad_name\""],
        );
    }

    #[test]
    fn validate_notices_a_file_that_disappeared() {
        let ca = TempFile::new("ca");
        let c = MetricsConfig::builder("app")
            .bootstrap_servers(["kafka:9092"])
            .registry_url("http://registry:8081")
            .security_protocol(SecurityProtocol::Ssl)
            .cluster_ca_path(ca.path())
            .build()
            .expect("valid");
        assert!(c.validate().is_ok());
        drop(ca);
        let e = c.validate().expect_err("gone").to_string();
        assert_contains(
            &e,
            &["KAFKA_CLUSTER_CA_PATH (cluster_ca_path)", "does not exist"],
        );
    }

    #[test]
    fn empty_application_from_code_is_rejected() {
        let e = MetricsConfig::builder("")
            .build()
            .expect_err("empty")
            .to_string();
        assert_eq!(
            e,
            "METRICS_APPLICATION (application) is required: set it to your application's name (e.g. \"gafaelfawr\")"
        );
    }

    // -- librdkafka ---------------------------------------------------------------------

    #[test]
    fn enums_spell_librdkafka_values() {
        let spellings: Vec<&str> = SecurityProtocol::CHOICES
            .iter()
            .map(|(p, _)| p.as_librdkafka())
            .collect();
        assert_eq!(
            spellings,
            ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]
        );
        let spellings: Vec<&str> = SaslMechanism::CHOICES
            .iter()
            .map(|(m, _)| m.as_librdkafka())
            .collect();
        assert_eq!(spellings, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
        assert_eq!(
            "sasl-ssl".parse::<SecurityProtocol>(),
            Ok(SecurityProtocol::SaslSsl)
        );
        assert_eq!(SecurityProtocol::SaslSsl.to_string(), "SASL_SSL");
        assert!("tls".parse::<SecurityProtocol>().is_err());
    }

    #[test]
    fn librdkafka_properties_map_every_setting() {
        let ca = TempFile::new("ca");
        let c = MetricsConfig::builder("app")
            .bootstrap_servers(["a:1", "b:2"])
            .registry_url("http://registry:8081")
            .security_protocol(SecurityProtocol::SaslSsl)
            .cluster_ca_path(ca.path())
            .sasl_mechanism(SaslMechanism::ScramSha512)
            .sasl_username("u")
            .sasl_password("p")
            .delivery_timeout(Duration::from_secs(30))
            .queue_max_messages(500)
            .kafka_property("linger.ms", "5")
            .build()
            .expect("valid");
        let props = c.kafka().librdkafka_properties();
        let get = |k: &str| props.get(k).map(String::as_str);
        assert_eq!(get("bootstrap.servers"), Some("a:1,b:2"));
        assert_eq!(get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(get("ssl.ca.location"), Some(ca.path()));
        assert_eq!(get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(get("sasl.username"), Some("u"));
        assert_eq!(get("sasl.password"), Some("p"));
        assert_eq!(get("delivery.timeout.ms"), Some("30000"));
        assert_eq!(get("queue.buffering.max.messages"), Some("500"));
        assert_eq!(get("linger.ms"), Some("5"));
        assert_eq!(props.len(), 9);
    }
}
