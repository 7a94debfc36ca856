//! Reading every settings group at once through the facade's `Config`: problems of all
//! groups reported together, Safir's rule that Kafka settings are only checked when used,
//! and the documented variables and defaults being exactly what the loader reads.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use app_metrics::config::{
    BackendKind, Env, KafkaConfig, MetricsConfig, NotUnicode, RegistryConfig, SecurityProtocol,
};
use app_metrics::{Config, ConfigError};

fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

/// `vars` with the application named and the embedded development stack chosen (later
/// entries win).
fn with_app<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("METRICS_APPLICATION", "gafaelfawr"),
        ("KAFKA_BOOTSTRAP_SERVERS", "embedded"),
    ];
    all.extend_from_slice(vars);
    all
}

fn err(vars: &[(&str, &str)]) -> ConfigError {
    load(&with_app(vars)).expect_err("invalid settings")
}

#[test]
fn the_application_and_the_embedded_choice_are_enough() {
    let config = load(&with_app(&[])).expect("valid");
    assert_eq!(config.metrics.backend(), BackendKind::Kafka);
    assert!(config.kafka.is_embedded());
    assert!(config.registry.url().is_none());
}

#[test]
fn the_kafka_backend_refuses_to_start_without_brokers() {
    let e = load(&[("METRICS_APPLICATION", "gafaelfawr")]).expect_err("no brokers");
    let text = e.to_string();
    for part in [
        "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers) is unset",
        "to embedded",
    ] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
    // Safir's rule: the Kafka settings matter only with the Kafka backend.
    let noop = load(&[
        ("METRICS_APPLICATION", "gafaelfawr"),
        ("METRICS_ENABLED", "false"),
    ])
    .expect("the Noop backend needs no broker");
    assert_eq!(noop.metrics.backend(), BackendKind::Noop);
}

#[test]
fn parse_problems_of_every_group_are_reported_together() {
    let e = load(&[
        ("METRICS_ENABLED", "perhaps"),
        ("KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("SCHEMA_MANAGER_MAX_RETRIES", "many"),
    ])
    .expect_err("bad");
    assert_eq!(e.problems().len(), 4, "{e}");
    let text = e.to_string();
    for part in [
        "4 configuration problems:",
        "METRICS_APPLICATION is required",
        "METRICS_ENABLED=\"perhaps\"",
        "KAFKA_SECURITY_PROTOCOL=\"TLS\"",
        "SCHEMA_MANAGER_MAX_RETRIES=\"many\"",
    ] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
}

#[test]
fn rule_problems_of_every_group_are_reported_together() {
    let e = err(&[
        ("METRICS_BACKOFF_INTERVAL", "0"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
        ("KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("SCHEMA_MANAGER_SUFFIX", "a/b"),
    ]);
    let names: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    assert_eq!(names.len(), 4, "{e}");
    assert!(names[0].starts_with("METRICS_BACKOFF_INTERVAL"), "{e}");
    assert!(
        names
            .iter()
            .any(|n| n.contains("requires KAFKA_CLUSTER_CA_PATH")),
        "{e}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("SCHEMA_MANAGER_SUFFIX")),
        "{e}"
    );
    assert!(
        names.iter().any(|n| n.contains("need a Schema Registry")),
        "{e}"
    );
}

#[test]
fn kafka_rules_are_not_checked_while_metrics_are_disabled() {
    let config = load(&with_app(&[
        ("METRICS_ENABLED", "false"),
        ("KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka"),
        ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
    ]))
    .expect("Safir ignores the Kafka settings while disabled");
    assert_eq!(config.metrics.backend(), BackendKind::Noop);
    assert_eq!(config.kafka.security_protocol(), SecurityProtocol::Ssl);
    // Values that cannot be parsed are still errors.
    let e = err(&[
        ("METRICS_ENABLED", "false"),
        ("KAFKA_SECURITY_PROTOCOL", "TLS"),
    ]);
    assert!(e.to_string().contains("KAFKA_SECURITY_PROTOCOL"), "{e}");
}

#[test]
fn a_non_unicode_value_is_reported_by_name() {
    let env = Env::from_fallible_lookup(|name| match name {
        "KAFKA_SASL_USERNAME" => Err(NotUnicode),
        "METRICS_APPLICATION" => Ok(Some("gafaelfawr".to_owned())),
        _ => Ok(None),
    });
    assert_eq!(
        Config::load(env).unwrap_err().to_string(),
        "KAFKA_SASL_USERNAME is not valid UTF-8: set it to a UTF-8 value"
    );
}

#[test]
fn the_loader_reads_exactly_the_documented_variables() {
    let seen = RefCell::new(BTreeSet::new());
    let _ = Config::from_lookup(|name| {
        seen.borrow_mut().insert(name.to_owned());
        None
    });
    let documented: BTreeSet<String> = Config::env_vars().map(|v| v.name.to_owned()).collect();
    assert_eq!(seen.into_inner(), documented);
    assert_eq!(
        documented.len(),
        Config::env_vars().count(),
        "a variable is declared twice"
    );
}

#[test]
fn the_documented_defaults_are_the_defaults() {
    let explicit: Vec<(&str, String)> = Config::env_vars()
        .filter_map(|v| {
            let text = v.default_text();
            (!text.starts_with('(')).then_some((v.name, text))
        })
        .collect();
    assert!(explicit.len() >= 15, "{explicit:?}");
    let vars: Vec<(&str, &str)> = explicit.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let spelled_out = load(&with_app(&vars)).expect("the defaults are valid");
    let implied = load(&with_app(&[])).unwrap();
    assert_eq!(format!("{spelled_out:?}"), format!("{implied:?}"));
    for var in Config::env_vars() {
        let text = var.default_text();
        assert!(
            !text.starts_with('(') || ["(required)", "(unset)", "(empty)"].contains(&text.as_str()),
            "{}: {text}",
            var.name
        );
    }
}

#[test]
fn empty_variables_count_as_unset() {
    let vars: Vec<(&str, &str)> = Config::env_vars()
        .filter(|v| !v.required && v.name != "KAFKA_BOOTSTRAP_SERVERS")
        .map(|v| (v.name, ""))
        .collect();
    let empty = load(&with_app(&vars)).expect("valid");
    assert_eq!(
        format!("{empty:?}"),
        format!("{:?}", load(&with_app(&[])).unwrap())
    );
}

#[test]
fn code_and_environment_give_the_same_errors() {
    let from_env = |vars: &[(&str, &str)]| err(vars).to_string();
    let metrics = MetricsConfig::builder("gafaelfawr");
    assert_eq!(
        from_env(&[("METRICS_EVENTS_TOPIC_PREFIX", "a..b")]),
        metrics
            .clone()
            .topic_prefix("a..b")
            .build()
            .unwrap_err()
            .to_string()
    );
    assert_eq!(
        from_env(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("SCHEMA_MANAGER_REGISTRY_URL", "http://r:8081"),
        ]),
        KafkaConfig::builder()
            .bootstrap_servers(["kafka:9092"])
            .security_protocol(SecurityProtocol::Ssl)
            .build()
            .unwrap_err()
            .to_string()
    );
    assert_eq!(
        from_env(&[
            ("SCHEMA_MANAGER_REGISTRY_URL", "https://r"),
            ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
        ]),
        RegistryConfig::builder()
            .url("https://r")
            .username("u")
            .build()
            .unwrap_err()
            .to_string()
    );
}

#[test]
fn every_setter_is_named_after_a_documented_variable() {
    for var in Config::env_vars() {
        assert!(
            [
                "MetricsConfigBuilder",
                "KafkaConfigBuilder",
                "RegistryConfigBuilder",
                "MonitoringConfigBuilder"
            ]
            .contains(&var.builder),
            "{}",
            var.name
        );
        assert!(
            !var.setter.is_empty() && !var.description.is_empty(),
            "{}",
            var.name
        );
        assert!(
            !var.description.ends_with('.'),
            "{}: the table adds no period",
            var.name
        );
    }
}
