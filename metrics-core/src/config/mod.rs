//! Settings: the machinery every settings group uses (one declaration per variable, the
//! environment loader, errors, parsers, shared rules) and the group every backend shares,
//! [`MetricsConfig`] (`METRICS_*`).
//!
//! Each group reads its variables in two rounds, each reporting every problem it finds:
//! first every value is parsed; if none fails, every rule is checked (names, ranges,
//! combinations, files). A setting made from code is checked exactly like the same
//! setting made through the environment. The Kafka and registry groups live with the
//! Kafka backend; the facade's `Config::from_env` reads every group at once.

pub mod check;
mod env;
mod error;
pub mod parse;
mod settings;

use std::time::Duration;

use metrics_rules::is_valid_name;

pub use env::{Env, NotUnicode};
pub use error::{ConfigError, labels, names};
pub use secrecy::SecretString;
#[doc(hidden)]
pub use settings::has_flag;
pub use settings::{Describe, EnvVar};

/// Longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

crate::settings! {
    /// The settings every backend shares (`METRICS_*`): who publishes, whether, where, and
    /// how failures are handled.
    ///
    /// Get one with [`MetricsConfig::builder`], [`MetricsConfig::from_env`] or the
    /// facade's `Config::from_env`; change one with [`MetricsConfig::to_builder`].
    ///
    /// ```
    /// use metrics_core::config::{BackendKind, MetricsConfig};
    ///
    /// let config = MetricsConfig::builder("myapp").enabled(false).mock(true).build()?;
    /// assert_eq!(config.backend(), BackendKind::Mock);
    /// assert_eq!(config.topic(), "lsst.square.metrics.events.myapp");
    /// # Ok::<(), metrics_core::config::ConfigError>(())
    /// ```
    pub struct MetricsConfig;
    /// Builds a [`MetricsConfig`] from code; [`build`](Self::build) runs the same checks as
    /// the environment loader.
    builder MetricsConfigBuilder;
    values MetricsValues;
    vars metrics_vars;

    /// Name of the application; an Avro name (letters, digits, `_`), part of the topic and namespace
    application: String = String::new();
        env APPLICATION = "METRICS_APPLICATION" [required];
        parse parse::text;
        access { text }
    /// Whether to publish events to Kafka; `false` selects the Noop (or Mock) backend
    enabled: bool = true;
        env ENABLED = "METRICS_ENABLED";
        parse parse::boolean;
        access { copy }
    /// With `METRICS_ENABLED=false`, record published events for test assertions
    mock: bool = false;
        env MOCK = "METRICS_MOCK";
        parse parse::boolean;
        access { copy }
    /// Prefix of the events topic; the topic is `{prefix}.{application}`
    topic_prefix: String = "lsst.square.metrics.events".to_owned();
        env TOPIC_PREFIX = "METRICS_EVENTS_TOPIC_PREFIX";
        parse parse::text;
        access { text }
    /// Strict mode: return every publishing error instead of dropping and counting the event
    raise_on_error: bool = false;
        env RAISE_ON_ERROR = "METRICS_RAISE_ON_ERROR";
        parse parse::boolean;
        access { copy }
    /// Log a recurring delivery problem at most once per this interval (`300`, `5m`, `1h 30m`)
    backoff_interval: Duration = Duration::from_secs(300);
        env BACKOFF_INTERVAL = "METRICS_BACKOFF_INTERVAL";
        parse parse::duration;
        access { copy }
    /// In resilient mode, how long start-up waits for the broker and registry before carrying on in the background
    startup_timeout: Duration = Duration::from_secs(5);
        env STARTUP_TIMEOUT = "METRICS_STARTUP_TIMEOUT";
        parse parse::duration;
        access { copy }
    /// Longest wait between background retries of a registration (the first is 500ms, then doubling)
    retry_max_backoff: Duration = Duration::from_secs(30);
        env RETRY_MAX_BACKOFF = "METRICS_RETRY_MAX_BACKOFF";
        parse parse::duration;
        access { copy }
}

impl MetricsConfig {
    /// A builder with every default, for the given application name.
    pub fn builder(application: impl Into<String>) -> MetricsConfigBuilder {
        MetricsConfigBuilder::default().application(application)
    }

    /// The events topic, `{topic_prefix}.{application}`; also the Avro namespace.
    pub fn topic(&self) -> String {
        format!("{}.{}", self.topic_prefix(), self.application())
    }

    /// The backend to run: [`BackendKind::Mock`] if disabled and mocked,
    /// [`BackendKind::Noop`] if disabled, else [`BackendKind::Kafka`] (Safir's order; the
    /// mock flag is ignored while enabled).
    pub fn backend(&self) -> BackendKind {
        BackendKind::of(self.enabled(), self.mock())
    }
}

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

impl BackendKind {
    /// Safir's order: Mock first, then Noop, then Kafka; `mock` without `!enabled` is
    /// ignored, as in Safir.
    pub fn of(enabled: bool, mock: bool) -> Self {
        match (enabled, mock) {
            (false, true) => Self::Mock,
            (false, false) => Self::Noop,
            (true, _) => Self::Kafka,
        }
    }
}

impl MetricsValues {
    fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        self.check_names(&mut problems);
        problems.extend(
            [
                (&metrics_vars::BACKOFF_INTERVAL, self.backoff_interval),
                (&metrics_vars::STARTUP_TIMEOUT, self.startup_timeout),
                (&metrics_vars::RETRY_MAX_BACKOFF, self.retry_max_backoff),
            ]
            .into_iter()
            .filter_map(|(var, duration)| check::positive(var, duration)),
        );
        problems
    }

    fn check_names(&self, problems: &mut Vec<ConfigError>) {
        let app = &self.application;
        if app.is_empty() {
            problems.push(ConfigError::invalid(
                &metrics_vars::APPLICATION,
                "is required: set it to your application's name (e.g. \"gafaelfawr\")",
            ));
        } else if !is_valid_name(app) {
            let fixed = app.replace('-', "_");
            let problem = if app.contains('-') && is_valid_name(&fixed) {
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
            problems.push(ConfigError::invalid(&metrics_vars::APPLICATION, problem));
        }

        let prefix = &self.topic_prefix;
        if let Some(bad) = prefix.split('.').find(|part| !is_valid_name(part)) {
            problems.push(ConfigError::invalid(
                &metrics_vars::TOPIC_PREFIX,
                format!(
                    "= {prefix:?} is not valid: part {bad:?} is not an Avro name; the prefix is a \
                     dot-separated list of names made of letters, digits and '_', each not \
                     starting with a digit (the default is {})",
                    metrics_vars::TOPIC_PREFIX.default_text()
                ),
            ));
        } else {
            let len = prefix.len() + 1 + app.len();
            if len > MAX_TOPIC_LEN {
                problems.push(ConfigError::invalid(
                    &metrics_vars::TOPIC_PREFIX,
                    format!(
                        "makes the topic name {len} characters long with {}, but Kafka allows at \
                         most {MAX_TOPIC_LEN}: shorten the prefix or the application name",
                        metrics_vars::APPLICATION.name
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<MetricsConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MetricsConfig::from_lookup(|name| map.get(name).cloned())
    }

    fn ok(vars: &[(&str, &str)]) -> MetricsConfig {
        let mut all = vec![("METRICS_APPLICATION", "gafaelfawr")];
        all.extend_from_slice(vars);
        load(&all).unwrap_or_else(|e| panic!("expected a valid configuration, got: {e}"))
    }

    fn err(vars: &[(&str, &str)]) -> String {
        let mut all = vec![("METRICS_APPLICATION", "gafaelfawr")];
        all.extend_from_slice(vars);
        match load(&all) {
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
        assert_eq!(c.startup_timeout(), Duration::from_secs(5));
        assert_eq!(c.retry_max_backoff(), Duration::from_secs(30));
        assert_eq!(c.backend(), BackendKind::Kafka);
    }

    #[test]
    fn builder_defaults_equal_env_defaults() {
        let from_env = ok(&[]);
        let from_code = MetricsConfig::builder("gafaelfawr").build().expect("valid");
        assert_eq!(format!("{from_env:?}"), format!("{from_code:?}"));
    }

    #[test]
    fn documented_defaults_are_the_values_used() {
        let c = ok(&[]);
        let shown: HashMap<&str, String> = metrics_vars::ALL
            .iter()
            .map(|v| (v.name, v.default_text()))
            .collect();
        assert_eq!(shown["METRICS_APPLICATION"], "(required)");
        assert_eq!(shown["METRICS_ENABLED"], c.enabled().to_string());
        assert_eq!(shown["METRICS_EVENTS_TOPIC_PREFIX"], c.topic_prefix());
        assert_eq!(shown["METRICS_BACKOFF_INTERVAL"], "5m");
        assert_eq!(shown["METRICS_STARTUP_TIMEOUT"], "5s");
    }

    #[test]
    fn every_variable_is_read() {
        let c = ok(&[
            ("METRICS_ENABLED", "false"),
            ("METRICS_MOCK", "yes"),
            ("METRICS_EVENTS_TOPIC_PREFIX", "dev.metrics"),
            ("METRICS_RAISE_ON_ERROR", "true"),
            ("METRICS_BACKOFF_INTERVAL", "10m"),
            ("METRICS_STARTUP_TIMEOUT", "2s"),
            ("METRICS_RETRY_MAX_BACKOFF", "1m"),
        ]);
        assert!(!c.enabled());
        assert!(c.mock());
        assert_eq!(c.topic(), "dev.metrics.gafaelfawr");
        assert!(c.raise_on_error());
        assert_eq!(c.backoff_interval(), Duration::from_secs(600));
        assert_eq!(c.startup_timeout(), Duration::from_secs(2));
        assert_eq!(c.retry_max_backoff(), Duration::from_secs(60));
    }

    #[test]
    fn application_is_read_and_trimmed() {
        let c = load(&[("METRICS_APPLICATION", " times_square ")]).expect("valid");
        assert_eq!(c.application(), "times_square");
    }

    #[test]
    fn missing_application_is_reported() {
        let e = load(&[]).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "METRICS_APPLICATION is required but unset or empty; set it: Name of the \
             application; an Avro name (letters, digits, `_`), part of the topic and namespace"
        );
        let e = load(&[("METRICS_APPLICATION", "  ")]).expect_err("blank");
        assert!(matches!(
            e,
            ConfigError::Missing {
                var: "METRICS_APPLICATION",
                ..
            }
        ));
    }

    #[test]
    fn empty_application_from_code_is_rejected() {
        let e = MetricsConfig::builder("").build().unwrap_err().to_string();
        assert_contains(&e, &["METRICS_APPLICATION (application) is required"]);
    }

    #[test]
    fn hyphenated_application_suggests_underscores() {
        let e = load(&[("METRICS_APPLICATION", "times-square")])
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
        let e = load(&[("METRICS_APPLICATION", "3po")])
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
    fn bad_boolean_lists_accepted_spellings() {
        assert_eq!(
            err(&[("METRICS_ENABLED", "maybe")]),
            "METRICS_ENABLED=\"maybe\" is not valid: expected a boolean: true/false, 1/0, \
             yes/no or on/off (any case; also t/f, y/n)"
        );
    }

    #[test]
    fn zero_durations_are_rejected() {
        for var in [
            "METRICS_BACKOFF_INTERVAL",
            "METRICS_STARTUP_TIMEOUT",
            "METRICS_RETRY_MAX_BACKOFF",
        ] {
            let e = err(&[(var, "0s")]);
            assert_contains(&e, &[var, "greater than zero"]);
        }
    }

    #[test]
    fn negative_duration_is_rejected_at_parse_time() {
        assert_contains(
            &err(&[("METRICS_BACKOFF_INTERVAL", "-5")]),
            &["METRICS_BACKOFF_INTERVAL=\"-5\""],
        );
    }

    #[test]
    fn parse_problems_are_reported_together() {
        let e = err(&[
            ("METRICS_ENABLED", "maybe"),
            ("METRICS_BACKOFF_INTERVAL", "soon"),
        ]);
        assert!(e.starts_with("2 configuration problems:"), "{e}");
        assert_contains(&e, &["METRICS_ENABLED", "METRICS_BACKOFF_INTERVAL"]);
    }

    #[test]
    fn rule_problems_are_reported_together() {
        let e = MetricsConfig::builder("my-app")
            .topic_prefix("a..b")
            .backoff_interval(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(e.problems().len(), 3, "{e}");
    }

    #[test]
    fn backend_follows_safirs_order() {
        assert_eq!(ok(&[]).backend(), BackendKind::Kafka);
        assert_eq!(
            ok(&[("METRICS_ENABLED", "false")]).backend(),
            BackendKind::Noop
        );
        assert_eq!(
            ok(&[("METRICS_ENABLED", "false"), ("METRICS_MOCK", "true")]).backend(),
            BackendKind::Mock
        );
        assert_eq!(
            ok(&[("METRICS_MOCK", "true")]).backend(),
            BackendKind::Kafka
        );
    }

    #[test]
    fn to_builder_round_trips() {
        let c = ok(&[("METRICS_RAISE_ON_ERROR", "true")]);
        let again = c.to_builder().build().expect("still valid");
        assert_eq!(format!("{c:?}"), format!("{again:?}"));
        let changed = c.to_builder().application("other").build().unwrap();
        assert_eq!(changed.topic(), "lsst.square.metrics.events.other");
        assert!(changed.raise_on_error());
    }

    #[test]
    fn setters_are_named_after_their_fields() {
        for var in metrics_vars::ALL {
            assert_eq!(var.builder, "MetricsConfigBuilder");
            assert!(!var.setter.is_empty() && !var.description.is_empty());
        }
    }
}
