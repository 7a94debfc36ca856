//! The monitoring settings (`METRICS_MONITOR_*`, `METRICS_HEALTH_*`), declared like every
//! other settings group.

use std::time::Duration;

use metrics_core::config::{ConfigError, check, parse};

metrics_core::settings! {
    /// What [`setup_monitoring`](crate::setup_monitoring) attaches and exports.
    ///
    /// ```
    /// use metrics_monitor::{LogLevel, MonitoringConfig};
    ///
    /// let config = MonitoringConfig::builder()
    ///     .log_level(LogLevel::Debug)
    ///     .statsd_address("127.0.0.1:8125")
    ///     .build()?;
    /// assert!(config.prometheus());
    /// # Ok::<(), metrics_core::ConfigError>(())
    /// ```
    pub struct MonitoringConfig;
    /// Builds a [`MonitoringConfig`] from code.
    builder MonitoringConfigBuilder;
    values MonitoringValues;
    vars monitoring_vars;

    /// Export the Monitor for Prometheus (feature `prometheus`)
    prometheus: bool = true;
        env PROMETHEUS = "METRICS_MONITOR_PROMETHEUS";
        parse parse::boolean;
        access { copy }
    /// Prefix of every exported Prometheus metric name
    prometheus_prefix: String = "app_metrics".to_owned();
        env PROMETHEUS_PREFIX = "METRICS_MONITOR_PROMETHEUS_PREFIX";
        parse parse::text;
        access { text }
    /// `host:port` of a StatsD server to send metrics to (feature `statsd`); unset sends none
    statsd_address: Option<String> = None;
        env STATSD_ADDRESS = "METRICS_MONITOR_STATSD_ADDRESS";
        parse parse::some(parse::text);
        access { some_text }
    /// Prefix of every StatsD metric name
    statsd_prefix: String = "app_metrics".to_owned();
        env STATSD_PREFIX = "METRICS_MONITOR_STATSD_PREFIX";
        parse parse::text;
        access { text }
    /// Log the pipeline through `tracing` at this level (TRACE, DEBUG, INFO, WARN, ERROR); unset logs nothing
    log_level: Option<LogLevel> = None;
        env LOG_LEVEL = "METRICS_MONITOR_LOG_LEVEL";
        parse parse::some(parse::choice);
        access { some_copy(LogLevel) }
    /// What the logging sensor logs: ERRORS, OPERATIONS (also registry calls, commits, rebalances, web requests) or EVERYTHING (also each event)
    log_detail: LogDetail = LogDetail::Operations;
        env LOG_DETAIL = "METRICS_MONITOR_LOG_DETAIL";
        parse parse::choice;
        access { copy }
    /// The `tracing` target of the logging sensor's lines (Faust's `logger_name`)
    log_target: String = crate::logging::DEFAULT_TARGET.to_owned();
        env LOG_TARGET = "METRICS_MONITOR_LOG_TARGET";
        parse parse::text;
        access { text }
    /// How the logging sensor writes a line: FIELDS (structured `tracing` fields; target `app_metrics` only), LOGFMT or JSON (one message)
    log_format: LogFormat = LogFormat::Fields;
        env LOG_FORMAT = "METRICS_MONITOR_LOG_FORMAT";
        parse parse::choice;
        access { copy }
    /// How many recent measurements each of the Monitor's latency histories keeps
    max_history: usize = 1000;
        env MAX_HISTORY = "METRICS_MONITOR_MAX_HISTORY";
        parse parse::count(1, 1_000_000);
        access { copy }
    /// How many recent send latencies the Monitor keeps (Faust's `max_send_latency_history`); unset: `METRICS_MONITOR_MAX_HISTORY`
    max_send_latency_history: Option<usize> = None;
        env MAX_SEND_LATENCY_HISTORY = "METRICS_MONITOR_MAX_SEND_LATENCY_HISTORY";
        parse parse::some(parse::count(1, 1_000_000));
        access { some_copy(usize) }
    /// How many recent commit latencies the Monitor keeps (Faust's `max_commit_latency_history`); unset: `METRICS_MONITOR_MAX_HISTORY`
    max_commit_latency_history: Option<usize> = None;
        env MAX_COMMIT_LATENCY_HISTORY = "METRICS_MONITOR_MAX_COMMIT_LATENCY_HISTORY";
        parse parse::some(parse::count(1, 1_000_000));
        access { some_copy(usize) }
    /// How often the Monitor samples its per-second rates
    sample_interval: Duration = Duration::from_secs(1);
        env SAMPLE_INTERVAL = "METRICS_MONITOR_SAMPLE_INTERVAL";
        parse parse::duration;
        access { copy }
    /// Run the health checks (the `/health` endpoint and the alert hook)
    health: bool = true;
        env HEALTH = "METRICS_HEALTH_CHECKS";
        parse parse::boolean;
        access { copy }
    /// How often the health checks run
    health_check_interval: Duration = Duration::from_secs(10);
        env HEALTH_CHECK_INTERVAL = "METRICS_HEALTH_CHECK_INTERVAL";
        parse parse::duration;
        access { copy }
    /// Unhealthy above this fraction of events failing between two checks (`0.1` or `10%`); `1` turns the check off
    max_error_rate: f64 = 0.1;
        env MAX_ERROR_RATE = "METRICS_HEALTH_MAX_ERROR_RATE";
        parse parse::ratio;
        access { copy }
    /// Unhealthy above this many events waiting for the broker; `0` turns the check off
    max_queue_depth: u64 = 50_000;
        env MAX_QUEUE_DEPTH = "METRICS_HEALTH_MAX_QUEUE_DEPTH";
        parse parse::count(0, u64::MAX);
        access { copy }
    /// Unhealthy when events wait and nothing was delivered for this long; `0` turns the check off
    max_delivery_age: Duration = Duration::from_secs(60);
        env MAX_DELIVERY_AGE = "METRICS_HEALTH_MAX_DELIVERY_AGE";
        parse parse::duration;
        access { copy }
    /// Unhealthy above this many unread messages in a consumed partition; `0` turns the check off
    max_consumer_lag: u64 = 0;
        env MAX_CONSUMER_LAG = "METRICS_HEALTH_MAX_CONSUMER_LAG";
        parse parse::count(0, u64::MAX);
        access { copy }
    /// Unhealthy above this resident memory of the process, in MiB; `0` turns the check off
    max_memory_mb: u64 = 0;
        env MAX_MEMORY_MB = "METRICS_HEALTH_MAX_MEMORY_MB";
        parse parse::count(0, u64::MAX);
        access { copy }
}

impl MonitoringConfig {
    /// A builder with every default: Monitor, Prometheus and health checks on, no StatsD,
    /// no logging.
    pub fn builder() -> MonitoringConfigBuilder {
        MonitoringConfigBuilder::default()
    }

    /// The Monitor's history sizes: `max_history` for each, unless the send or commit
    /// latency history is set on its own.
    ///
    /// ```
    /// use metrics_monitor::MonitoringConfig;
    ///
    /// let config = MonitoringConfig::builder()
    ///     .max_history(200)
    ///     .max_send_latency_history(5000)
    ///     .build()?;
    /// let options = config.monitor_options();
    /// assert_eq!(options.max_send_latency_history, 5000);
    /// assert_eq!(options.max_commit_latency_history, 200);
    /// # Ok::<(), metrics_core::ConfigError>(())
    /// ```
    pub fn monitor_options(&self) -> crate::monitor::MonitorOptions {
        let all = self.max_history();
        crate::monitor::MonitorOptions {
            max_send_latency_history: self.max_send_latency_history().unwrap_or(all),
            max_commit_latency_history: self.max_commit_latency_history().unwrap_or(all),
            ..crate::monitor::MonitorOptions::all(all)
        }
    }
}

/// The level the logging sensor logs at.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::Display, strum::VariantNames,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
pub enum LogLevel {
    /// `TRACE`.
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

/// How the logging sensor writes a line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::Display, strum::VariantNames,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
pub enum LogFormat {
    /// Structured `tracing` fields, formatted by the subscriber (target `app_metrics`).
    Fields,
    /// One message: the text, then `key=value` pairs.
    Logfmt,
    /// One message: a JSON object with `message` and the fields.
    Json,
}

/// What the logging sensor logs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::Display, strum::VariantNames,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
pub enum LogDetail {
    /// Failures only: undelivered events, undecodable messages, failed commits and
    /// registry calls, a full buffer.
    Errors,
    /// Also registry calls, commits, rebalances and web requests.
    Operations,
    /// Also every event sent, delivered, read and handled.
    Everything,
}

metrics_core::describe_with_display!(LogLevel, LogDetail, LogFormat);

impl MonitoringValues {
    fn problems(&self) -> Vec<ConfigError> {
        let mut p = Vec::new();
        for (var, prefix) in [
            (&monitoring_vars::PROMETHEUS_PREFIX, &self.prometheus_prefix),
            (&monitoring_vars::STATSD_PREFIX, &self.statsd_prefix),
        ] {
            // An empty prefix means none.
            let valid = prefix.is_empty() || metrics_core::schema::is_valid_name(prefix);
            if !valid {
                p.push(ConfigError::invalid(
                    var,
                    format!(
                        "= {prefix:?} is not a valid metric name prefix: use letters, digits and \
                         '_', not starting with a digit (e.g. \"app_metrics\")"
                    ),
                ));
            }
        }
        if let Some(address) = &self.statsd_address
            && address.rsplit_once(':').is_none_or(|(host, port)| {
                host.is_empty() || port.parse::<u16>().is_err() || port == "0"
            })
        {
            p.push(ConfigError::invalid(
                &monitoring_vars::STATSD_ADDRESS,
                format!("= {address:?} is not host:port (e.g. 127.0.0.1:8125)"),
            ));
        }
        p.extend(check::positive(
            &monitoring_vars::SAMPLE_INTERVAL,
            self.sample_interval,
        ));
        p.extend(check::positive(
            &monitoring_vars::HEALTH_CHECK_INTERVAL,
            self.health_check_interval,
        ));
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            p.push(ConfigError::invalid(
                &monitoring_vars::MAX_ERROR_RATE,
                format!(
                    "is {}: it must be a fraction between 0 and 1",
                    self.max_error_rate
                ),
            ));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<MonitoringConfig, ConfigError> {
        MonitoringConfig::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_export_to_prometheus_and_check_health() {
        let c = load(&[]).unwrap();
        assert!(c.prometheus() && c.health());
        assert_eq!(c.statsd_address(), None);
        assert_eq!(c.log_level(), None);
        assert_eq!(c.log_detail(), LogDetail::Operations);
        assert_eq!(c.max_error_rate(), 0.1);
        assert_eq!(monitoring_vars::MAX_ERROR_RATE.default_text(), "0.1");
        assert_eq!(monitoring_vars::HEALTH_CHECK_INTERVAL.default_text(), "10s");
    }

    #[test]
    fn every_variable_is_read() {
        let c = load(&[
            ("METRICS_MONITOR_PROMETHEUS", "false"),
            ("METRICS_MONITOR_STATSD_ADDRESS", "statsd:8125"),
            ("METRICS_MONITOR_LOG_LEVEL", "debug"),
            ("METRICS_MONITOR_LOG_DETAIL", "everything"),
            ("METRICS_HEALTH_MAX_ERROR_RATE", "5%"),
            ("METRICS_HEALTH_MAX_DELIVERY_AGE", "2m"),
            ("METRICS_HEALTH_MAX_CONSUMER_LAG", "1000"),
        ])
        .unwrap();
        assert!(!c.prometheus());
        assert_eq!(c.statsd_address(), Some("statsd:8125"));
        assert_eq!(c.log_level(), Some(LogLevel::Debug));
        assert_eq!(c.log_detail(), LogDetail::Everything);
        assert_eq!(c.max_error_rate(), 0.05);
        assert_eq!(c.max_delivery_age(), Duration::from_secs(120));
        assert_eq!(c.max_consumer_lag(), 1000);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = load(&[
            ("METRICS_MONITOR_STATSD_ADDRESS", "statsd"),
            ("METRICS_MONITOR_PROMETHEUS_PREFIX", "app-metrics"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("METRICS_MONITOR_STATSD_ADDRESS (statsd_address)"),
            "{e}"
        );
        assert!(
            e.contains("METRICS_MONITOR_PROMETHEUS_PREFIX (prometheus_prefix)"),
            "{e}"
        );
        let e = load(&[("METRICS_MONITOR_LOG_LEVEL", "LOUD")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("one of TRACE, DEBUG, INFO, WARN, ERROR"), "{e}");
    }
}
