//! The pre-deploy check (`EventManager::check_schema`) against a registry that answers as
//! Confluent's does, served by wiremock on 127.0.0.1: a new subject (404 to the
//! compatibility check) is ok, a compatible schema is ok, an incompatible one is refused
//! with the field named, and the check never registers nor configures anything.

mod common;

use app_metrics::EventPayload;
use app_metrics::schema::{SchemaVerdict, record_schema};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(EventPayload)]
struct QueryV1 {
    rows: i64,
}

/// Adds an optional field: compatible.
#[derive(EventPayload)]
struct QueryV2 {
    rows: i64,
    note: Option<String>,
}

/// Adds a required field: refused under BACKWARD.
#[derive(EventPayload)]
struct QueryV3 {
    rows: i64,
    shard: i64,
}

const APP: &str = "checked";

fn subject(event: &str) -> String {
    format!("lsst.square.metrics.events.{APP}.{event}")
}

/// A registry where `query` has v1 registered and `login` does not exist; it answers the
/// compatibility check of `query` with `query_answer`.
async fn registry(query_answer: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    let v1 =
        record_schema::<QueryV1>("query", &format!("lsst.square.metrics.events.{APP}")).unwrap();
    Mock::given(method("POST"))
        .and(path(format!(
            "/compatibility/subjects/{}/versions/latest",
            subject("query")
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(query_answer))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/subjects/{}/versions/latest",
            subject("query")
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "subject": subject("query"), "version": 1, "id": 1, "schema": v1
        })))
        .mount(&server)
        .await;
    // Confluent answers 404 (subject not found) to both for a new subject.
    for route in [
        format!(
            "/compatibility/subjects/{}/versions/latest",
            subject("login")
        ),
        format!("/subjects/{}/versions/latest", subject("login")),
    ] {
        Mock::given(path(route))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({
                "error_code": 40401, "message": "Subject 'login' not found."
            })))
            .mount(&server)
            .await;
    }
    server
}

fn manager(server: &MockServer) -> app_metrics::EventManager {
    let config = common::cluster_config(APP, "127.0.0.1:9", &server.uri());
    app_metrics::make_manager(&config, &Default::default()).unwrap()
}

/// Nothing but reads and compatibility checks reached the registry.
async fn nothing_registered(server: &MockServer) {
    for request in server.received_requests().await.unwrap() {
        let (verb, url) = (request.method.to_string(), request.url.path().to_owned());
        assert!(
            verb == "GET" || url.starts_with("/compatibility/"),
            "the check sent {verb} {url}"
        );
    }
}

#[tokio::test]
async fn a_compatible_schema_and_a_new_subject_are_ok() {
    let server = registry(json!({ "is_compatible": true })).await;
    let manager = manager(&server);
    let query = manager.check_schema::<QueryV2>("query").await.unwrap();
    assert_eq!(query.verdict, SchemaVerdict::Compatible);
    assert_eq!(query.subject.as_deref(), Some(subject("query").as_str()));
    assert_eq!(
        query.to_string(),
        format!("{}: ok (compatible)", subject("query"))
    );
    let login = manager.check_schema::<QueryV1>("login").await.unwrap();
    assert_eq!(login.verdict, SchemaVerdict::NewSubject);
    assert_eq!(
        login.to_string(),
        format!("{}: ok (a new subject)", subject("login"))
    );
    nothing_registered(&server).await;
}

#[tokio::test]
async fn an_incompatible_schema_is_refused_naming_the_field() {
    let server = registry(json!({
        "is_compatible": false,
        "messages": ["READER_FIELD_MISSING_DEFAULT_VALUE"]
    }))
    .await;
    let check = manager(&server)
        .check_schema::<QueryV3>("query")
        .await
        .unwrap();
    let SchemaVerdict::Incompatible { reasons } = &check.verdict else {
        panic!("{check}");
    };
    assert!(reasons.iter().any(|r| r.contains("'shard'")), "{reasons:?}");
    assert!(!check.verdict.is_ok());
    let shown = check.to_string();
    assert!(shown.contains("REFUSED"), "{shown}");
    assert!(
        shown.contains("'shard' is new and has no default value"),
        "{shown}"
    );
    nothing_registered(&server).await;
}

/// Registration sets `SCHEMA_MANAGER_COMPATIBILITY` before it registers; the check cannot
/// ask at that level without setting it, so it applies the level locally and says when
/// the registry's answer at the subject's current level disagrees.
#[tokio::test]
async fn a_configured_level_is_applied_locally_and_a_disagreement_is_said() {
    use app_metrics::config::{CompatibilityLevel, RegistryConfig};
    let server = registry(json!({ "is_compatible": false, "messages": ["FULL refuses"] })).await;
    let mut config = common::cluster_config(APP, "127.0.0.1:9", &server.uri());
    config.registry = RegistryConfig::builder()
        .url(server.uri())
        .compatibility(CompatibilityLevel::None)
        .build()
        .unwrap();
    let manager = app_metrics::make_manager(&config, &Default::default()).unwrap();
    let check = manager.check_schema::<QueryV3>("query").await.unwrap();
    let SchemaVerdict::Incompatible { reasons } = &check.verdict else {
        panic!("{check}");
    };
    assert!(
        reasons[0].contains("at NONE, which registration sets first"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], "FULL refuses");
    nothing_registered(&server).await;
}
