//! Tests of the Kafka settings: every variable, every rule, secrets, client properties.

use std::collections::HashMap;
use std::time::Duration;

use metrics_core::ConfigError;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::test_support::{TempFile, assert_contains};

const BROKERS: (&str, &str) = ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092");

fn load(vars: &[(&str, &str)]) -> Result<KafkaConfig, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    KafkaConfig::from_lookup(|name| map.get(name).cloned())
}

fn ok(vars: &[(&str, &str)]) -> KafkaConfig {
    load(vars).unwrap_or_else(|e| panic!("expected valid settings, got: {e}"))
}

fn err(vars: &[(&str, &str)]) -> String {
    match load(vars) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn sasl(protocol: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        BROKERS,
        ("KAFKA_SECURITY_PROTOCOL", protocol),
        ("KAFKA_SASL_MECHANISM", "PLAIN"),
        ("KAFKA_SASL_USERNAME", "u"),
        ("KAFKA_SASL_PASSWORD", "p"),
    ]
}

#[test]
fn defaults_have_no_broker_and_are_documented() {
    let k = ok(&[]);
    assert_eq!(k.bootstrap_servers(), None);
    assert!(!k.is_embedded());
    assert_eq!(k.brokers(), None);
    assert_eq!(k.security_protocol(), SecurityProtocol::Plaintext);
    assert_eq!(k.cluster_ca_path(), None);
    assert_eq!(k.sasl_mechanism(), None);
    assert!(k.sasl_password().is_none());
    assert_eq!(k.delivery_timeout(), Duration::from_secs(120));
    assert_eq!(k.queue_max_messages(), 100_000);
    assert_eq!(k.metadata_timeout(), Duration::from_secs(10));
    assert!(!k.create_topics());
    assert!(k.extra_properties().is_empty());
    let shown: HashMap<&str, String> = kafka_vars::ALL
        .iter()
        .map(|v| (v.name, v.default_text()))
        .collect();
    assert_eq!(shown["KAFKA_DELIVERY_TIMEOUT"], "2m");
    assert_eq!(shown["KAFKA_QUEUE_MAX_MESSAGES"], "100000");
    assert_eq!(shown["KAFKA_SECURITY_PROTOCOL"], "PLAINTEXT");
    assert_eq!(shown["KAFKA_BOOTSTRAP_SERVERS"], "(unset)");
    assert_eq!(shown["KAFKA_EXTRA_PROPERTIES"], "(unset)");
}

#[test]
fn bootstrap_servers_are_split_and_trimmed() {
    let k = ok(&[(
        "KAFKA_BOOTSTRAP_SERVERS",
        "kafka-1:9092, kafka-2:9093 ,[::1]:9094,10.0.0.1:9092",
    )]);
    assert_eq!(
        k.bootstrap_servers(),
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
    let ca = TempFile::pem("ca");
    for (text, want) in [
        ("plaintext", SecurityProtocol::Plaintext),
        ("SSL", SecurityProtocol::Ssl),
        ("ssl", SecurityProtocol::Ssl),
        ("Sasl_Plaintext", SecurityProtocol::SaslPlaintext),
        ("SASL-SSL", SecurityProtocol::SaslSsl),
    ] {
        let mut vars = if want.uses_sasl() {
            sasl(text)
        } else {
            vec![BROKERS, ("KAFKA_SECURITY_PROTOCOL", text)]
        };
        if want.uses_tls() {
            vars.push(("KAFKA_CLUSTER_CA_PATH", ca.text()));
        }
        assert_eq!(ok(&vars).security_protocol(), want, "{text}");
    }
    assert_eq!(SecurityProtocol::SaslSsl.to_string(), "SASL_SSL");
    assert_eq!(
        ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"],
        [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl
        ]
        .map(SecurityProtocol::as_librdkafka)
    );
}

#[test]
fn sasl_mechanism_accepts_any_case_and_underscores() {
    for (text, want) in [
        ("PLAIN", SaslMechanism::Plain),
        ("scram-sha-256", SaslMechanism::ScramSha256),
        ("SCRAM_SHA_512", SaslMechanism::ScramSha512),
    ] {
        let mut vars = sasl("SASL_PLAINTEXT");
        vars[2] = ("KAFKA_SASL_MECHANISM", text);
        assert_eq!(ok(&vars).sasl_mechanism(), Some(want), "{text}");
    }
}

#[test]
fn sasl_passwords_are_kept_as_given() {
    let mut vars = sasl("SASL_PLAINTEXT");
    vars[4] = ("KAFKA_SASL_PASSWORD", " pass word ");
    let k = ok(&vars);
    assert_eq!(k.sasl_username(), Some("u"));
    let password: &SecretString = k.sasl_password().expect("set");
    assert_eq!(password.expose_secret(), " pass word ");
}

#[test]
fn every_other_variable_is_read() {
    let (ca, cert, key) = (
        TempFile::pem("ca"),
        TempFile::pem("cert"),
        TempFile::pem("key"),
    );
    let k = ok(&[
        BROKERS,
        ("KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("KAFKA_CLUSTER_CA_PATH", ca.text()),
        ("KAFKA_CLIENT_CERT_PATH", cert.text()),
        ("KAFKA_CLIENT_KEY_PATH", key.text()),
        ("KAFKA_DELIVERY_TIMEOUT", "30s"),
        ("KAFKA_QUEUE_MAX_MESSAGES", "5000"),
        ("KAFKA_METADATA_TIMEOUT", "2s"),
        ("KAFKA_CREATE_TOPICS", "yes"),
        (
            "KAFKA_EXTRA_PROPERTIES",
            " linger.ms=20, compression.type = zstd ,client.id=a=b,",
        ),
    ]);
    assert_eq!(k.cluster_ca_path(), Some(ca.path()));
    assert_eq!(k.client_cert_path(), Some(cert.path()));
    assert_eq!(k.client_key_path(), Some(key.path()));
    assert_eq!(k.delivery_timeout(), Duration::from_secs(30));
    assert_eq!(k.queue_max_messages(), 5000);
    assert_eq!(k.metadata_timeout(), Duration::from_secs(2));
    assert!(k.create_topics());
    let props = k.extra_properties();
    assert_eq!(props.len(), 3);
    assert_eq!(props["linger.ms"], "20");
    assert_eq!(props["compression.type"], "zstd");
    assert_eq!(props["client.id"], "a=b");
}

#[test]
fn bad_enumerations_list_the_allowed_values() {
    assert_eq!(
        err(&[("KAFKA_SECURITY_PROTOCOL", "TLS")]),
        "KAFKA_SECURITY_PROTOCOL=\"TLS\" is not valid: expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
    );
    assert_contains(
        &err(&[("KAFKA_SASL_MECHANISM", "GSSAPI")]),
        &[
            "KAFKA_SASL_MECHANISM=\"GSSAPI\"",
            "one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ],
    );
}

#[test]
fn bad_queue_max_messages_gives_the_range() {
    for bad in ["lots", "0"] {
        assert_contains(
            &err(&[("KAFKA_QUEUE_MAX_MESSAGES", bad)]),
            &["KAFKA_QUEUE_MAX_MESSAGES=", "between 1 and 2147483647"],
        );
    }
    let e = KafkaConfig::builder()
        .queue_max_messages(0)
        .build()
        .unwrap_err()
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
fn bad_bootstrap_entries_say_what_is_wrong() {
    assert_contains(
        &err(&[("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2")]),
        &[
            "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers)",
            "\"kafka-2\"",
            "port is missing",
            "host:port",
        ],
    );
    assert_contains(
        &err(&[("KAFKA_BOOTSTRAP_SERVERS", "PLAINTEXT://kafka:9092")]),
        &["remove the scheme", "KAFKA_SECURITY_PROTOCOL"],
    );
    let e = KafkaConfig::builder()
        .bootstrap_servers(Vec::<String>::new())
        .build()
        .unwrap_err()
        .to_string();
    assert_contains(
        &e,
        &[
            "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers)",
            "empty list",
            "embedded",
        ],
    );
    let e = KafkaConfig::builder()
        .bootstrap_servers(["a:1,b:2"])
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
fn extra_properties_are_checked_without_echoing_values() {
    let e = err(&[(
        "KAFKA_EXTRA_PROPERTIES",
        "linger.ms=5,sasl.oauthbearer.client.secret",
    )]);
    assert_contains(
        &e,
        &[
            "KAFKA_EXTRA_PROPERTIES",
            "entry 2 has no '='",
            "key=value",
            "not shown",
        ],
    );
    assert!(!e.contains("oauthbearer"), "{e}");
    assert_contains(
        &err(&[("KAFKA_EXTRA_PROPERTIES", "linger.ms=5,linger.ms=6")]),
        &["KAFKA_EXTRA_PROPERTIES", "\"linger.ms\" is given twice"],
    );
    assert_contains(
        &err(&[("KAFKA_EXTRA_PROPERTIES", "security.protocol=ssl")]),
        &[
            "KAFKA_EXTRA_PROPERTIES (extra_properties)",
            "\"security.protocol\"",
            "KAFKA_SECURITY_PROTOCOL (security_protocol)",
        ],
    );
    let e = KafkaConfig::builder()
        .property("Linger MS", "5")
        .build()
        .unwrap_err()
        .to_string();
    assert_contains(
        &e,
        &[
            "KAFKA_EXTRA_PROPERTIES (extra_properties)",
            "not a Kafka client property name",
        ],
    );
}

#[test]
fn files_must_exist() {
    let path = std::env::temp_dir().join("app-metrics-config-test-does-not-exist.pem");
    let path = path.to_str().expect("utf-8");
    let e = err(&[
        BROKERS,
        ("KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("KAFKA_CLUSTER_CA_PATH", path),
    ]);
    assert_contains(
        &e,
        &[
            "KAFKA_CLUSTER_CA_PATH (cluster_ca_path)",
            path,
            "does not exist",
        ],
    );
}

#[test]
fn timeouts_are_range_checked() {
    assert_contains(
        &err(&[("KAFKA_DELIVERY_TIMEOUT", "30days")]),
        &[
            "KAFKA_DELIVERY_TIMEOUT (delivery_timeout)",
            "at most 2147483647ms",
        ],
    );
    assert_contains(
        &err(&[("KAFKA_DELIVERY_TIMEOUT", "0")]),
        &["KAFKA_DELIVERY_TIMEOUT (delivery_timeout)", "at least 1ms"],
    );
    assert_contains(
        &err(&[("KAFKA_METADATA_TIMEOUT", "0s")]),
        &[
            "KAFKA_METADATA_TIMEOUT (metadata_timeout)",
            "greater than zero",
        ],
    );
}

#[test]
fn ssl_needs_a_cluster_ca_but_sasl_ssl_does_not() {
    assert_contains(
        &err(&[BROKERS, ("KAFKA_SECURITY_PROTOCOL", "SSL")]),
        &[
            "KAFKA_SECURITY_PROTOCOL (security_protocol) is SSL",
            "requires KAFKA_CLUSTER_CA_PATH (cluster_ca_path)",
        ],
    );
    assert_eq!(ok(&sasl("SASL_SSL")).cluster_ca_path(), None);
}

#[test]
fn client_certificate_and_key_go_together() {
    let (ca, cert, key) = (
        TempFile::pem("ca"),
        TempFile::pem("cert"),
        TempFile::pem("key"),
    );
    let base = [
        BROKERS,
        ("KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("KAFKA_CLUSTER_CA_PATH", ca.text()),
    ];
    let e = err(&[&base[..], &[("KAFKA_CLIENT_CERT_PATH", cert.text())]].concat());
    assert_contains(
        &e,
        &[
            "KAFKA_CLIENT_CERT_PATH (client_cert_path) is set without KAFKA_CLIENT_KEY_PATH (client_key_path)",
            "both",
        ],
    );
    let e = err(&[&base[..], &[("KAFKA_CLIENT_KEY_PATH", key.text())]].concat());
    assert_contains(
        &e,
        &[
            "KAFKA_CLIENT_KEY_PATH (client_key_path) is set without KAFKA_CLIENT_CERT_PATH (client_cert_path)",
        ],
    );
}

#[test]
fn sasl_protocols_need_mechanism_username_and_password() {
    assert_contains(
        &err(&[BROKERS, ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")]),
        &[
            "KAFKA_SECURITY_PROTOCOL (security_protocol) is SASL_SSL, which requires",
            "KAFKA_SASL_MECHANISM (sasl_mechanism)",
            "KAFKA_SASL_USERNAME (sasl_username)",
            "KAFKA_SASL_PASSWORD (sasl_password)",
            "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ],
    );
    let mut vars = sasl("SASL_PLAINTEXT");
    vars.pop();
    let e = err(&vars);
    assert_contains(
        &e,
        &["is SASL_PLAINTEXT, which requires KAFKA_SASL_PASSWORD (sasl_password): set it"],
    );
    assert!(!e.contains("KAFKA_SASL_USERNAME"), "{e}");
}

#[test]
fn settings_the_protocol_would_ignore_are_rejected() {
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
    let ca = TempFile::pem("ca");
    assert_contains(
        &err(&[BROKERS, ("KAFKA_CLUSTER_CA_PATH", ca.text())]),
        &[
            "KAFKA_CLUSTER_CA_PATH (cluster_ca_path) is set",
            "is PLAINTEXT, which does not use TLS",
            "SSL or SASL_SSL",
        ],
    );
    assert_contains(
        &err(&[
            BROKERS,
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", ca.text()),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
        ]),
        &[
            "KAFKA_SASL_MECHANISM (sasl_mechanism) is set",
            "is SSL, which does not use SASL",
        ],
    );
}

#[test]
fn secure_protocols_need_a_real_cluster() {
    let ca = TempFile::pem("ca");
    assert_contains(
        &err(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "embedded"),
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_CLUSTER_CA_PATH", ca.text()),
        ]),
        &[
            "KAFKA_SECURITY_PROTOCOL (security_protocol) is SSL",
            "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers) is embedded",
            "only speaks PLAINTEXT",
        ],
    );
}

#[test]
fn embedded_is_chosen_by_name_and_stands_alone() {
    let k = ok(&[("KAFKA_BOOTSTRAP_SERVERS", "embedded")]);
    assert!(k.is_embedded());
    assert_eq!(k.brokers(), None);
    assert!(
        KafkaConfig::builder()
            .embedded_broker()
            .build()
            .unwrap()
            .is_embedded()
    );
    assert_contains(
        &err(&[("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092,embedded")]),
        &["KAFKA_BOOTSTRAP_SERVERS", "embedded stands alone"],
    );
}

#[test]
fn the_kafka_backend_needs_brokers_or_the_embedded_choice() {
    let registry = crate::config::RegistryConfig::builder().build().unwrap();
    let e = crate::config::check(&ok(&[]), &registry)
        .unwrap_err()
        .to_string();
    assert_contains(
        &e,
        &[
            "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers) is unset",
            "host:port",
            "to embedded",
            "METRICS_ENABLED=false",
        ],
    );
    let embedded = ok(&[("KAFKA_BOOTSTRAP_SERVERS", "embedded")]);
    crate::config::check(&embedded, &registry).expect("the embedded stack needs nothing else");
}

#[test]
fn secrets_never_show() {
    let builder = KafkaConfig::builder()
        .bootstrap_servers(["kafka:9092"])
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl_mechanism(SaslMechanism::ScramSha512)
        .sasl_username("metrics")
        .sasl_password("kafka-password-1")
        .property("sasl.oauthbearer.client.secret", "oauth-secret-2")
        .property("linger.ms", "7");
    let config = builder.clone().build().expect("valid");
    for text in [format!("{builder:?}"), format!("{config:?}")] {
        assert!(
            !text.contains("kafka-password-1") && !text.contains("oauth-secret-2"),
            "{text}"
        );
        assert!(
            text.contains("REDACTED") && text.contains("\"linger.ms\": \"7\""),
            "{text}"
        );
    }
    let mut vars = sasl("SASL_PLAINTEXT");
    vars[4] = ("KAFKA_SASL_PASSWORD", "kafka-password-1\n");
    let e = err(&vars);
    assert_contains(
        &e,
        &["KAFKA_SASL_PASSWORD (sasl_password) contains a control character"],
    );
    assert!(!e.contains("kafka-password-1"), "{e}");
}

#[test]
fn validate_notices_a_file_that_disappeared() {
    let ca = TempFile::pem("ca");
    let config = KafkaConfig::builder()
        .bootstrap_servers(["kafka:9092"])
        .security_protocol(SecurityProtocol::Ssl)
        .cluster_ca_path(ca.path())
        .build()
        .expect("valid");
    assert!(config.validate().is_ok());
    drop(ca);
    assert_contains(
        &config.validate().unwrap_err().to_string(),
        &["KAFKA_CLUSTER_CA_PATH (cluster_ca_path)", "does not exist"],
    );
}

#[test]
fn client_properties_map_every_setting_and_the_producer_adds_its_own() {
    let ca = TempFile::pem("ca");
    let k = KafkaConfig::builder()
        .bootstrap_servers(["a:1", "b:2"])
        .security_protocol(SecurityProtocol::SaslSsl)
        .cluster_ca_path(ca.path())
        .sasl_mechanism(SaslMechanism::ScramSha512)
        .sasl_username("u")
        .sasl_password("p")
        .delivery_timeout(Duration::from_secs(30))
        .queue_max_messages(500)
        .property("linger.ms", "5")
        .build()
        .expect("valid");
    let client = k.client_properties();
    let get = |k: &str| client.get(k).map(String::as_str);
    assert_eq!(get("bootstrap.servers"), Some("a:1,b:2"));
    assert_eq!(get("security.protocol"), Some("sasl_ssl"));
    assert_eq!(get("ssl.ca.location"), Some(ca.text()));
    assert_eq!(get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    assert_eq!(get("sasl.username"), Some("u"));
    assert_eq!(get("sasl.password"), Some("p"));
    assert_eq!(get("linger.ms"), Some("5"));
    assert_eq!(
        client.len(),
        7,
        "no producer-only property: {:?}",
        client.keys()
    );
    let producer = k.producer_properties("app");
    let get = |k: &str| producer.get(k).map(String::as_str);
    assert_eq!(get("delivery.timeout.ms"), Some("30000"));
    assert_eq!(get("queue.buffering.max.messages"), Some("500"));
    assert_eq!(get("enable.idempotence"), Some("true"));
    assert_eq!(get("allow.auto.create.topics"), Some("false"));
    assert_eq!(get("client.id"), Some("app"));
    assert_eq!(get("test.mock.num.brokers"), None);
    let embedded = ok(&[("KAFKA_BOOTSTRAP_SERVERS", "embedded")]).producer_properties("app");
    assert_eq!(
        embedded.get("test.mock.num.brokers").map(String::as_str),
        Some("1"),
        "the embedded broker"
    );
    assert_eq!(embedded.get("bootstrap.servers"), None, "no broker to name");
}

#[test]
fn extra_properties_win_over_the_producers_defaults() {
    let k = KafkaConfig::builder()
        .property("enable.idempotence", "false")
        .build()
        .unwrap();
    assert_eq!(k.producer_properties("app")["enable.idempotence"], "false");
}
