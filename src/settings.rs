//! [`Config`]: every settings group of the application, read from the environment at once,
//! every problem reported together.

use crate::ConfigError;
use crate::config::{
    Env, EnvVar, MetricsConfig, MetricsConfigBuilder, MonitoringConfig, MonitoringConfigBuilder,
    metrics_vars, monitoring_vars,
};
#[cfg(feature = "kafka")]
use crate::config::{
    KafkaConfig, KafkaConfigBuilder, RegistryConfig, RegistryConfigBuilder, kafka_vars,
    registry_vars,
};

/// Every setting of the application: one value per group.
///
/// ```
/// use app_metrics::Config;
/// use app_metrics::config::BackendKind;
///
/// let env = [("METRICS_APPLICATION", "myapp"), ("METRICS_ENABLED", "false")];
/// let config = Config::from_lookup(|name| {
///     env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
/// })?;
/// assert_eq!(config.metrics.backend(), BackendKind::Noop);
/// # Ok::<(), app_metrics::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The settings every backend shares (`METRICS_*`).
    pub metrics: MetricsConfig,
    /// The Kafka cluster and producer (`KAFKA_*`).
    #[cfg(feature = "kafka")]
    pub kafka: KafkaConfig,
    /// The Schema Registry (`SCHEMA_MANAGER_*`).
    #[cfg(feature = "kafka")]
    pub registry: RegistryConfig,
    /// Monitoring (`METRICS_MONITOR_*`, `METRICS_HEALTH_*`).
    pub monitoring: MonitoringConfig,
}

impl Config {
    /// `metrics`, with the defaults of every other group: no Kafka brokers and no registry
    /// yet (the Kafka backend refuses to start until they are set). Set the other fields,
    /// or use [`embedded`](Self::embedded) for the development stack.
    pub fn new(metrics: MetricsConfig) -> Self {
        Self {
            metrics,
            #[cfg(feature = "kafka")]
            kafka: KafkaConfig::builder().build_unchecked(),
            #[cfg(feature = "kafka")]
            registry: RegistryConfig::builder().build_unchecked(),
            monitoring: MonitoringConfig::builder().build_unchecked(),
        }
    }

    /// `metrics` on the embedded development stack, chosen explicitly: an in-process
    /// broker and an in-memory registry (`KAFKA_BOOTSTRAP_SERVERS=embedded`). Events never
    /// leave the process: for examples, tests and trying the library.
    #[cfg(feature = "kafka")]
    pub fn embedded(metrics: MetricsConfig) -> Self {
        let mut config = Self::new(metrics);
        config.kafka = KafkaConfig::builder().embedded_broker().build_unchecked();
        config
    }

    /// [`from_env`](Self::from_env) for examples and local runs: where
    /// `KAFKA_BOOTSTRAP_SERVERS` is unset it chooses the embedded development stack (and
    /// `application` where `METRICS_APPLICATION` is unset too). Check
    /// `config.kafka.is_embedded()` to tell the user. A service should call `from_env`,
    /// which refuses to start without brokers.
    ///
    /// ```no_run
    /// let config = app_metrics::Config::from_env_or_embedded("demo")?;
    /// if config.kafka.is_embedded() {
    ///     eprintln!("KAFKA_BOOTSTRAP_SERVERS is unset: using the embedded development stack");
    /// }
    /// # Ok::<(), app_metrics::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    #[cfg(feature = "kafka")]
    pub fn from_env_or_embedded(application: &str) -> Result<Self, ConfigError> {
        let unset = |name: &str| std::env::var_os(name).is_none();
        let embedded = unset(kafka_vars::BOOTSTRAP_SERVERS.name);
        Self::from_lookup(|name| match std::env::var(name) {
            Ok(value) => Some(value),
            Err(_) if embedded && name == kafka_vars::BOOTSTRAP_SERVERS.name => {
                Some(metrics_kafka::config::EMBEDDED.to_owned())
            }
            Err(_) if embedded && name == metrics_vars::APPLICATION.name => {
                Some(application.to_owned())
            }
            Err(_) => None,
        })
    }

    /// Reads every group from the process environment (see [`env_vars`](Self::env_vars)).
    ///
    /// Every value that cannot be parsed is reported; if all parse, every rule violation
    /// is. As in Safir, the Kafka and registry rules are only checked when the Kafka
    /// backend is selected (their values must still parse).
    ///
    /// # Errors
    ///
    /// Every problem at once, as one [`ConfigError`] or [`ConfigError::Several`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::process())
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup` (a value, or
    /// `None` when unset): the seam tests use instead of the process environment.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::load(Env::from_lookup(lookup))
    }

    /// Reads every group through `env`, then checks them together.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn load(mut env: Env<'_>) -> Result<Self, ConfigError> {
        let metrics = MetricsConfigBuilder::from_env(&mut env).build_unchecked();
        let config = Self {
            metrics,
            #[cfg(feature = "kafka")]
            kafka: KafkaConfigBuilder::from_env(&mut env).build_unchecked(),
            #[cfg(feature = "kafka")]
            registry: RegistryConfigBuilder::from_env(&mut env).build_unchecked(),
            monitoring: MonitoringConfigBuilder::from_env(&mut env).build_unchecked(),
        };
        env.finish()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule of every group that is used.
    ///
    /// # Errors
    ///
    /// Every rule violation at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        #[cfg(feature = "kafka")]
        let backend = match self.metrics.backend() {
            crate::config::BackendKind::Kafka => {
                metrics_kafka::config::check(&self.kafka, &self.registry)
            }
            crate::config::BackendKind::Noop | crate::config::BackendKind::Mock => Ok(()),
        };
        #[cfg(not(feature = "kafka"))]
        let backend = Ok(());
        ConfigError::combine([self.metrics.validate(), backend, self.monitoring.validate()])
    }

    /// Every environment variable [`from_env`](Self::from_env) reads, group by group: the
    /// rows of the README's configuration table.
    pub fn env_vars() -> impl Iterator<Item = &'static EnvVar> {
        const GROUPS: &[&[EnvVar]] = &[
            metrics_vars::ALL,
            #[cfg(feature = "kafka")]
            kafka_vars::ALL,
            #[cfg(feature = "kafka")]
            registry_vars::ALL,
            monitoring_vars::ALL,
        ];
        GROUPS.iter().copied().flatten()
    }
}
