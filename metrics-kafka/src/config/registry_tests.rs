//! Tests of the registry settings: every variable, credentials (Safir's URL rule), rules.

use std::collections::HashMap;
use std::time::Duration;

use metrics_core::ConfigError;
use secrecy::ExposeSecret;

use super::*;
use crate::test_support::{TempFile, assert_contains};

const URL: (&str, &str) = (
    "SCHEMA_MANAGER_REGISTRY_URL",
    "https://registry.example.org",
);

fn load(vars: &[(&str, &str)]) -> Result<RegistryConfig, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    RegistryConfig::from_lookup(|name| map.get(name).cloned())
}

fn ok(vars: &[(&str, &str)]) -> RegistryConfig {
    load(vars).unwrap_or_else(|e| panic!("expected valid settings, got: {e}"))
}

fn err(vars: &[(&str, &str)]) -> String {
    match load(vars) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_are_the_embedded_registry() {
    let r = ok(&[]);
    assert!(r.url().is_none());
    assert_eq!(r.suffix(), "");
    assert_eq!(r.compatibility(), None);
    assert!(r.auth().is_none());
    assert_eq!(r.connect_timeout(), Duration::from_secs(5));
    assert_eq!(r.request_timeout(), Duration::from_secs(10));
    assert_eq!(r.max_retries(), 3);
    assert_eq!(registry_vars::SUFFIX.default_text(), "(empty)");
}

#[test]
fn every_variable_is_read() {
    let ca = TempFile::pem("registry-ca");
    let r = ok(&[
        (
            "SCHEMA_MANAGER_REGISTRY_URL",
            "https://roundtable.example.org/schema-registry/",
        ),
        ("SCHEMA_MANAGER_SUFFIX", "_dev"),
        ("SCHEMA_MANAGER_COMPATIBILITY", "forward_transitive"),
        ("SCHEMA_MANAGER_REGISTRY_CA_PATH", ca.text()),
        ("SCHEMA_MANAGER_CONNECT_TIMEOUT", "2"),
        ("SCHEMA_MANAGER_REQUEST_TIMEOUT", "1m"),
        ("SCHEMA_MANAGER_MAX_RETRIES", "0"),
    ]);
    assert_eq!(
        r.url().map(RegistryUrl::as_str),
        Some("https://roundtable.example.org/schema-registry")
    );
    assert_eq!(r.suffix(), "_dev");
    assert_eq!(
        r.compatibility(),
        Some(CompatibilityLevel::ForwardTransitive)
    );
    assert_eq!(r.ca_path(), Some(ca.path()));
    assert_eq!(r.connect_timeout(), Duration::from_secs(2));
    assert_eq!(r.request_timeout(), Duration::from_secs(60));
    assert_eq!(r.max_retries(), 0);
    assert_eq!(
        r.subject("lsst.square.metrics.events.app", "query"),
        "lsst.square.metrics.events.app.query_dev"
    );
}

#[test]
fn every_compatibility_level_parses() {
    use strum::VariantArray;
    for level in CompatibilityLevel::VARIANTS {
        let text = level.as_str().to_ascii_lowercase();
        assert_eq!(
            ok(&[("SCHEMA_MANAGER_COMPATIBILITY", &text)]).compatibility(),
            Some(*level)
        );
    }
    assert_eq!(
        CompatibilityLevel::FullTransitive.as_str(),
        "FULL_TRANSITIVE"
    );
    assert_contains(
        &err(&[("SCHEMA_MANAGER_COMPATIBILITY", "STRICT")]),
        &[
            "SCHEMA_MANAGER_COMPATIBILITY=\"STRICT\"",
            "one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE",
        ],
    );
}

#[test]
fn basic_auth_and_bearer_tokens_are_read() {
    let r = ok(&[
        URL,
        ("SCHEMA_MANAGER_REGISTRY_USERNAME", "metrics"),
        ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "s3cret"),
    ]);
    let Some(RegistryAuth::Basic { username, password }) = r.auth() else {
        panic!("expected basic auth, got {:?}", r.auth());
    };
    assert_eq!(
        (username.as_str(), password.expose_secret()),
        ("metrics", "s3cret")
    );
    let r = ok(&[URL, ("SCHEMA_MANAGER_REGISTRY_TOKEN", "gt-abc.def")]);
    let Some(RegistryAuth::Bearer { token }) = r.auth() else {
        panic!("expected a bearer token, got {:?}", r.auth());
    };
    assert_eq!(token.expose_secret(), "gt-abc.def");
}

#[test]
fn credentials_in_the_url_are_basic_auth_as_in_safir() {
    let r = ok(&[(
        "SCHEMA_MANAGER_REGISTRY_URL",
        "https://user:hunter2@registry.example.org",
    )]);
    assert_eq!(
        r.url().map(RegistryUrl::as_str),
        Some("https://registry.example.org")
    );
    let Some(RegistryAuth::Basic { username, password }) = r.auth() else {
        panic!("expected basic auth, got {:?}", r.auth());
    };
    assert_eq!(
        (username.as_str(), password.expose_secret()),
        ("user", "hunter2")
    );
    assert!(!format!("{r:?}").contains("hunter2"));
}

#[test]
fn credentials_given_twice_are_rejected_without_echo() {
    let e = err(&[
        (
            "SCHEMA_MANAGER_REGISTRY_URL",
            "https://user:hunter2@registry.example.org",
        ),
        ("SCHEMA_MANAGER_REGISTRY_TOKEN", "tok"),
    ]);
    assert_contains(
        &e,
        &[
            "SCHEMA_MANAGER_REGISTRY_URL (url) carries credentials",
            "SCHEMA_MANAGER_REGISTRY_TOKEN (token)",
            "one way",
        ],
    );
    assert!(!e.contains("hunter2") && !e.contains("tok\""), "{e}");
}

#[test]
fn bad_urls_name_the_variable_and_never_the_password() {
    for (url, why) in [
        ("ftp://registry", "scheme must be http or https"),
        ("registry:8081", "scheme must be http or https"),
        ("https://", "host is missing"),
        ("https://registry:port", "between 1 and 65535"),
        ("https://registry/?x=1", "query or fragment"),
        ("ftp://u:hunter2@registry", "scheme must be http or https"),
    ] {
        let e = err(&[("SCHEMA_MANAGER_REGISTRY_URL", url)]);
        assert_contains(
            &e,
            &["SCHEMA_MANAGER_REGISTRY_URL (url)", why, "http://host"],
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
}

#[test]
fn bad_suffix_and_retries_are_rejected() {
    assert_contains(
        &err(&[("SCHEMA_MANAGER_SUFFIX", "dev/test")]),
        &[
            "SCHEMA_MANAGER_SUFFIX (suffix)",
            "\"dev/test\"",
            "letters, digits",
        ],
    );
    assert_contains(
        &err(&[("SCHEMA_MANAGER_MAX_RETRIES", "-1")]),
        &[
            "SCHEMA_MANAGER_MAX_RETRIES=\"-1\"",
            "between 0 and 4294967295",
        ],
    );
    for var in [
        "SCHEMA_MANAGER_CONNECT_TIMEOUT",
        "SCHEMA_MANAGER_REQUEST_TIMEOUT",
    ] {
        assert_contains(&err(&[(var, "0")]), &[var, "greater than zero"]);
    }
}

#[test]
fn basic_and_bearer_together_are_rejected() {
    assert_contains(
        &err(&[
            URL,
            ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u"),
            ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "pw"),
            ("SCHEMA_MANAGER_REGISTRY_TOKEN", "tok"),
        ]),
        &[
            "SCHEMA_MANAGER_REGISTRY_USERNAME",
            "SCHEMA_MANAGER_REGISTRY_TOKEN (token)",
            "both set",
            "either",
        ],
    );
}

#[test]
fn username_and_password_go_together() {
    assert_contains(
        &err(&[URL, ("SCHEMA_MANAGER_REGISTRY_USERNAME", "u")]),
        &[
            "SCHEMA_MANAGER_REGISTRY_USERNAME (username) is set without SCHEMA_MANAGER_REGISTRY_PASSWORD",
            "both",
        ],
    );
    assert_contains(
        &err(&[URL, ("SCHEMA_MANAGER_REGISTRY_PASSWORD", "pw")]),
        &[
            "SCHEMA_MANAGER_REGISTRY_PASSWORD (password) is set without SCHEMA_MANAGER_REGISTRY_USERNAME",
        ],
    );
}

#[test]
fn settings_without_a_url_would_be_ignored() {
    assert_contains(
        &err(&[("SCHEMA_MANAGER_REGISTRY_TOKEN", "tok")]),
        &[
            "SCHEMA_MANAGER_REGISTRY_TOKEN (token) is set",
            "SCHEMA_MANAGER_REGISTRY_URL (url) is unset",
            "embedded",
        ],
    );
    let ca = TempFile::pem("registry-ca");
    assert_contains(
        &err(&[
            ("SCHEMA_MANAGER_REGISTRY_URL", "http://registry:8081"),
            ("SCHEMA_MANAGER_REGISTRY_CA_PATH", ca.text()),
        ]),
        &[
            "SCHEMA_MANAGER_REGISTRY_CA_PATH (ca_path) is set",
            "http:// URL",
            "https://",
        ],
    );
}

#[test]
fn a_directory_is_not_a_ca_file() {
    let dir = std::env::temp_dir();
    assert_contains(
        &err(&[
            URL,
            (
                "SCHEMA_MANAGER_REGISTRY_CA_PATH",
                dir.to_str().expect("utf-8"),
            ),
        ]),
        &[
            "SCHEMA_MANAGER_REGISTRY_CA_PATH (ca_path)",
            "is a directory",
        ],
    );
}

#[test]
fn secrets_never_show() {
    let e = err(&[URL, ("SCHEMA_MANAGER_REGISTRY_TOKEN", "registry token-2")]);
    assert_contains(
        &e,
        &["SCHEMA_MANAGER_REGISTRY_TOKEN (token) contains whitespace"],
    );
    assert!(!e.contains("token-2"), "{e}");
    let basic = RegistryConfig::builder()
        .url("https://registry.example.org")
        .basic_auth("metrics", "registry-password-3");
    let bearer = basic.clone().no_auth().token("registry-token-4");
    for text in [
        format!("{basic:?}"),
        format!("{:?}", basic.build().unwrap()),
        format!("{bearer:?}"),
        format!("{:?}", bearer.build().unwrap()),
    ] {
        assert!(
            !text.contains("registry-password-3") && !text.contains("registry-token-4"),
            "{text}"
        );
        assert!(text.contains("REDACTED"), "{text}");
    }
}

#[test]
fn a_real_cluster_needs_a_registry() {
    let kafka = KafkaConfig::builder()
        .bootstrap_servers(["kafka:9092"])
        .build()
        .unwrap();
    let embedded = RegistryConfig::builder().build().unwrap();
    let e = super::check(&kafka, &embedded).unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "KAFKA_BOOTSTRAP_SERVERS (bootstrap_servers) is set",
            "SCHEMA_MANAGER_REGISTRY_URL (url) is unset",
            "consumers can decode",
        ],
    );
    let http = RegistryConfig::builder()
        .url("http://registry:8081")
        .build()
        .unwrap();
    assert!(super::check(&kafka, &http).is_ok());
}
