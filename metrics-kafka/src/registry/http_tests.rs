//! Tests of [`HttpSchemaRegistry`] against a mock registry answering Confluent's real bodies.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{body_json, header, headers, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Compatibility, CompatibilityLevel, HttpSchemaRegistry, RegistryError, SchemaRegistry};
use crate::config::{RegistryConfig, RegistryConfigBuilder};
use crate::test_support::TempFile;

const SUBJECT: &str = "lsst.square.metrics.events.app.query";
const SCHEMA: &str = r#"{"type":"record","name":"query","namespace":"lsst.square.metrics.events.app","fields":[{"name":"duration","type":"double"}]}"#;
const SCHEMA_WITH_ROWS: &str = r#"{"type":"record","name":"query","namespace":"lsst.square.metrics.events.app","fields":[{"name":"duration","type":"double"},{"name":"rows","type":"long"}]}"#;

/// A self-signed CA certificate (P-256), only parsed.
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUAM15Rp5vkIko/7XnFWEMug+qE3wwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTYXBwLW1ldHJpY3MgdGVzdCBDQTAgFw0yNjExMjIwMjEyMTla
GA8yMTI2MTAyOTAyMTIxOVowHjEcMBoGA1UEAwwTYXBwLW1ldHJpY3MgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGF5gOD1gZGFCUCyeS7LBW5TqJb+
sb0qSWFIEq0gVTNzLzuy+SG97rCFPHPOR0PITAIIggiJOQqDZMp9JKMoob6jUzBR
MB0GA1UdDgQWBBTR+nAeaiw3LdXBMsMGwvTASQcTWDAfBgNVHSMEGDAWgBTR+nAe
aiw3LdXBMsMGwvTASQcTWDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQD3A6bqt5MBs9r+IuWG8oE1b9Y8zsHcfL5cSdEO3fA6/QIgRwZrrfXj6f6L
6fJ77mBb5WlnOcPiUZKO4EWEvMZ/UoU=
-----END CERTIFICATE-----
";

/// Settings for the mock server with short timeouts and 2 retries.
fn config(server: &MockServer) -> RegistryConfigBuilder {
    RegistryConfig::builder()
        .url(server.uri())
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
        .max_retries(2)
}

/// A client for `config`, whose rules are not checked: the client's own checks are tested.
fn client(config: RegistryConfigBuilder) -> Result<HttpSchemaRegistry, RegistryError> {
    HttpSchemaRegistry::new(&config.build_unchecked())
}

fn registry(server: &MockServer) -> HttpSchemaRegistry {
    client(config(server)).unwrap()
}

fn json_response(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body.to_string(), "application/vnd.schemaregistry.v1+json")
}

fn subject_path(suffix: &str) -> String {
    format!("/subjects/{SUBJECT}{suffix}")
}

fn compat_path() -> String {
    format!("/compatibility/subjects/{SUBJECT}/versions/latest")
}

async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

#[tokio::test]
async fn register_posts_the_schema_and_returns_the_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .and(header(
            "content-type",
            "application/vnd.schemaregistry.v1+json",
        ))
        .and(headers(
            "accept",
            vec!["application/vnd.schemaregistry.v1+json", "application/json"],
        ))
        .and(body_json(json!({ "schema": SCHEMA })))
        .respond_with(json_response(200, json!({ "id": 1 })))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        registry(&server).register(SUBJECT, SCHEMA).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn registering_the_same_schema_twice_makes_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 7 })))
        .expect(1)
        .mount(&server)
        .await;
    let registry = registry(&server);
    assert_eq!(registry.register(SUBJECT, SCHEMA).await.unwrap(), 7);
    assert_eq!(registry.register(SUBJECT, SCHEMA).await.unwrap(), 7);
    assert_eq!(registry.cached_id(SUBJECT, SCHEMA), Some(7));
}

#[tokio::test]
async fn registered_schema_is_served_by_id_from_the_cache() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 3 })))
        .mount(&server)
        .await;
    let registry = registry(&server);
    registry.register(SUBJECT, SCHEMA).await.unwrap();
    assert_eq!(registry.schema_by_id(3).await.unwrap(), SCHEMA);
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn compatible_answer_is_compatible() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .and(body_json(json!({ "schema": SCHEMA })))
        .respond_with(json_response(200, json!({ "is_compatible": true })))
        .expect(1)
        .mount(&server)
        .await;
    let verdict = registry(&server)
        .check_compatibility(SUBJECT, SCHEMA)
        .await
        .unwrap();
    assert_eq!(verdict, Compatibility::Compatible);
}

#[tokio::test]
async fn incompatible_answer_carries_the_registry_messages() {
    let server = MockServer::start().await;
    let messages = json!([
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'rows' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'rows'}",
        "{oldSchemaVersion: 1}",
        "{compatibility: 'BACKWARD'}"
    ]);
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .respond_with(json_response(
            200,
            json!({ "is_compatible": false, "messages": messages }),
        ))
        .mount(&server)
        .await;
    let verdict = registry(&server)
        .check_compatibility(SUBJECT, SCHEMA_WITH_ROWS)
        .await
        .unwrap();
    let Compatibility::Incompatible { messages } = verdict else {
        panic!("expected incompatible, got {verdict:?}");
    };
    assert_eq!(messages.len(), 3);
    assert!(messages[0].contains("READER_FIELD_MISSING_DEFAULT_VALUE"));
}

#[tokio::test]
async fn compatibility_check_of_unknown_subject_is_compatible() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .respond_with(json_response(
            404,
            json!({ "error_code": 40401, "message": format!("Subject '{SUBJECT}' not found.") }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let verdict = registry(&server)
        .check_compatibility(SUBJECT, SCHEMA)
        .await
        .unwrap();
    assert!(verdict.is_compatible());
}

#[tokio::test]
async fn compatibility_check_of_subject_without_versions_is_compatible() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .respond_with(json_response(
            404,
            json!({ "error_code": 40402, "message": "Version latest not found." }),
        ))
        .mount(&server)
        .await;
    let verdict = registry(&server)
        .check_compatibility(SUBJECT, SCHEMA)
        .await
        .unwrap();
    assert!(verdict.is_compatible());
}

#[tokio::test]
async fn compatibility_answer_without_is_compatible_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .respond_with(json_response(200, json!({ "messages": [] })))
        .mount(&server)
        .await;
    let error = registry(&server)
        .check_compatibility(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::UnexpectedResponse { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("is_compatible") && text.contains(SUBJECT),
        "{text}"
    );
}

#[tokio::test]
async fn latest_schema_of_unknown_subject_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(subject_path("/versions/latest")))
        .respond_with(json_response(
            404,
            json!({ "error_code": 40401, "message": format!("Subject '{SUBJECT}' not found.") }),
        ))
        .mount(&server)
        .await;
    let registry = registry(&server);
    assert_eq!(registry.latest_schema(SUBJECT).await.unwrap(), None);
}

#[tokio::test]
async fn subject_not_found_error_names_subject_and_registry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            404,
            json!({ "error_code": 40401, "message": format!("Subject '{SUBJECT}' not found.") }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::SubjectNotFound { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(SUBJECT) && text.contains(&server.uri()),
        "{text}"
    );
}

#[tokio::test]
async fn version_not_found_is_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            404,
            json!({ "error_code": 40402, "message": "Version 5 not found." }),
        ))
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RegistryError::VersionNotFound { subject, .. } if subject == SUBJECT),
        "{error:?}"
    );
}

#[tokio::test]
async fn unknown_schema_id_is_schema_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/schemas/ids/42"))
        .respond_with(json_response(
            404,
            json!({ "error_code": 40403, "message": "Schema 42 not found" }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server).schema_by_id(42).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::SchemaNotFound { id: 42, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("42") && text.contains(&server.uri()),
        "{text}"
    );
}

#[tokio::test]
async fn schema_by_id_ignores_schema_type_and_is_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/schemas/ids/5"))
        .respond_with(json_response(
            200,
            json!({ "schema": SCHEMA, "schemaType": "AVRO", "references": [] }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let registry = registry(&server);
    assert_eq!(registry.schema_by_id(5).await.unwrap(), SCHEMA);
    assert_eq!(registry.schema_by_id(5).await.unwrap(), SCHEMA);
}

#[tokio::test]
async fn non_avro_schema_by_id_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/schemas/ids/6"))
        .respond_with(json_response(
            200,
            json!({ "schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF" }),
        ))
        .mount(&server)
        .await;
    let error = registry(&server).schema_by_id(6).await.unwrap_err();
    assert!(error.to_string().contains("PROTOBUF"), "{error}");
}

#[tokio::test]
async fn conflict_is_incompatible_with_the_registry_message() {
    let server = MockServer::start().await;
    let message = format!(
        "Schema being registered is incompatible with an earlier schema for subject \"{SUBJECT}\", details: [{{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'rows' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'rows'}}]"
    );
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            409,
            json!({ "error_code": 409, "message": message }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA_WITH_ROWS)
        .await
        .unwrap_err();
    let RegistryError::Incompatible {
        subject, messages, ..
    } = &error
    else {
        panic!("expected Incompatible, got {error:?}");
    };
    assert_eq!(subject, SUBJECT);
    assert_eq!(messages, &[message]);
}

#[tokio::test]
async fn invalid_schema_is_rejected_with_the_registry_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            422,
            json!({ "error_code": 42201, "message": "Either the input schema or one its references is invalid" }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server).register(SUBJECT, "{}").await.unwrap_err();
    let RegistryError::InvalidSchema {
        subject, message, ..
    } = &error
    else {
        panic!("expected InvalidSchema, got {error:?}");
    };
    assert_eq!(subject, SUBJECT);
    assert!(message.contains("invalid"));
    assert!(error.to_string().contains(&server.uri()));
}

#[tokio::test]
async fn invalid_compatibility_level_is_reported() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(format!("/config/{SUBJECT}")))
        .respond_with(json_response(
            422,
            json!({ "error_code": 42203, "message": "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive" }),
        ))
        .mount(&server)
        .await;
    let error = registry(&server)
        .set_compatibility(SUBJECT, CompatibilityLevel::Full)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::InvalidCompatibilityLevel { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn set_compatibility_puts_the_level() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(format!("/config/{SUBJECT}")))
        .and(body_json(json!({ "compatibility": "FULL_TRANSITIVE" })))
        .respond_with(json_response(
            200,
            json!({ "compatibility": "FULL_TRANSITIVE" }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    registry(&server)
        .set_compatibility(SUBJECT, CompatibilityLevel::FullTransitive)
        .await
        .unwrap();
}

#[tokio::test]
async fn set_compatibility_accepts_a_compatibility_level_answer() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(format!("/config/{SUBJECT}")))
        .respond_with(json_response(
            200,
            json!({ "compatibilityLevel": "BACKWARD" }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    registry(&server)
        .set_compatibility(SUBJECT, CompatibilityLevel::Backward)
        .await
        .unwrap();
}

#[tokio::test]
async fn set_compatibility_rejects_a_different_echoed_level() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(format!("/config/{SUBJECT}")))
        .respond_with(json_response(200, json!({ "compatibilityLevel": "NONE" })))
        .mount(&server)
        .await;
    let error = registry(&server)
        .set_compatibility(SUBJECT, CompatibilityLevel::Backward)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("BACKWARD"), "{error}");
}

#[tokio::test]
async fn unauthorized_names_the_credential_variables() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            401,
            json!({ "error_code": 401, "message": "Unauthorized" }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    for needle in [
        "Unauthorized",
        SUBJECT,
        "SCHEMA_MANAGER_REGISTRY_USERNAME",
        "SCHEMA_MANAGER_REGISTRY_PASSWORD",
        "SCHEMA_MANAGER_REGISTRY_TOKEN",
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            500,
            json!({ "error_code": 50001, "message": "Error in the backend data store" }),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 2 })))
        .mount(&server)
        .await;
    assert_eq!(
        registry(&server).register(SUBJECT, SCHEMA).await.unwrap(),
        2
    );
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn rate_limited_request_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            429,
            json!({ "error_code": 429, "message": "Too Many Requests" }),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 2 })))
        .mount(&server)
        .await;
    assert_eq!(
        registry(&server).register(SUBJECT, SCHEMA).await.unwrap(),
        2
    );
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn persistent_server_error_gives_up_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            500,
            json!({ "error_code": 50001, "message": "Error in the backend data store" }),
        ))
        .expect(3)
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    let RegistryError::Server {
        status, attempts, ..
    } = &error
    else {
        panic!("expected Server, got {error:?}");
    };
    assert_eq!((*status, *attempts), (500, 3));
    let text = error.to_string();
    assert!(
        text.contains("backend data store") && text.contains(SUBJECT),
        "{text}"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(
            400,
            json!({ "error_code": 400, "message": "Bad Request" }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Status { status: 400, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn html_error_page_is_reported_as_a_non_json_body() {
    let server = MockServer::start().await;
    let html = format!(
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n{}</body>\r\n</html>\r\n",
        "<!-- padding -->".repeat(40)
    );
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(ResponseTemplate::new(502).set_body_raw(html, "text/html"))
        .expect(3)
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    let RegistryError::NonJsonBody {
        status, snippet, ..
    } = &error
    else {
        panic!("expected NonJsonBody, got {error:?}");
    };
    assert_eq!(*status, 502);
    assert!(snippet.contains("502 Bad Gateway"));
    assert!(snippet.chars().count() <= 201, "{snippet}");
    let text = error.to_string();
    assert!(text.contains("502") && text.contains("non-JSON") && text.contains(SUBJECT));
}

#[tokio::test]
async fn garbage_success_body_is_reported_as_a_non_json_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK then"))
        .mount(&server)
        .await;
    let error = registry(&server)
        .register(SUBJECT, SCHEMA)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RegistryError::NonJsonBody { status: 200, snippet, .. } if snippet == "OK then"),
        "{error:?}"
    );
}

#[tokio::test]
async fn basic_auth_header_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .and(header("authorization", "Basic YWxpY2U6czNjcmV0"))
        .respond_with(json_response(200, json!({ "id": 1 })))
        .expect(1)
        .mount(&server)
        .await;
    let registry = client(config(&server).basic_auth("alice", "s3cret")).unwrap();
    assert_eq!(registry.register(SUBJECT, SCHEMA).await.unwrap(), 1);
}

#[tokio::test]
async fn bearer_auth_header_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/schemas/ids/1"))
        .and(header("authorization", "Bearer tok-123"))
        .respond_with(json_response(200, json!({ "schema": SCHEMA })))
        .expect(1)
        .mount(&server)
        .await;
    let registry = client(config(&server).token("tok-123")).unwrap();
    assert_eq!(registry.schema_by_id(1).await.unwrap(), SCHEMA);
}

#[tokio::test]
async fn url_credentials_are_sent_as_basic_auth_and_kept_out_of_messages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .and(header("authorization", "Basic YWxpY2U6czNjcmV0"))
        .respond_with(json_response(
            500,
            json!({ "error_code": 50001, "message": "boom" }),
        ))
        .mount(&server)
        .await;
    let url = server.uri().replace("http://", "http://alice:s3cret@");
    let registry = client(config(&server).url(url).max_retries(0)).unwrap();
    assert_eq!(registry.url(), server.uri());
    let error = registry.register(SUBJECT, SCHEMA).await.unwrap_err();
    assert!(matches!(error, RegistryError::Server { .. }), "{error:?}");
    let text = format!("{error} {error:?} {registry:?}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[tokio::test]
async fn subject_with_reserved_characters_is_percent_encoded() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/subjects/a%20b%2Fc/versions"))
        .respond_with(json_response(200, json!({ "id": 9 })))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        registry(&server).register("a b/c", SCHEMA).await.unwrap(),
        9
    );
}

#[tokio::test]
async fn slow_registry_times_out_after_bounded_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 1 })).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let registry = client(
        config(&server)
            .request_timeout(Duration::from_millis(200))
            .max_retries(1),
    )
    .unwrap();
    let started = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(5), registry.register(SUBJECT, SCHEMA))
        .await
        .expect("the client must give up on its own")
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(error, RegistryError::Timeout { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(SUBJECT));
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn unreachable_registry_is_a_connect_error_after_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let registry = client(
        RegistryConfig::builder()
            .url(format!("http://127.0.0.1:{port}"))
            .max_retries(1)
            .connect_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    let error = tokio::time::timeout(Duration::from_secs(5), registry.schema_by_id(1))
        .await
        .expect("the client must give up on its own")
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Connect { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn register_checked_sets_the_level_checks_and_registers() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(format!("/config/{SUBJECT}")))
        .and(body_json(json!({ "compatibility": "FORWARD" })))
        .respond_with(json_response(200, json!({ "compatibility": "FORWARD" })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .respond_with(json_response(
            404,
            json!({ "error_code": 40401, "message": "Subject not found." }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 11 })))
        .expect(1)
        .mount(&server)
        .await;
    let registry = registry(&server);
    let id = registry
        .register_checked(SUBJECT, SCHEMA, Some(CompatibilityLevel::Forward))
        .await
        .unwrap();
    assert_eq!(id, 11);
    // Known now: no further request.
    let again = registry
        .register_checked(SUBJECT, SCHEMA, Some(CompatibilityLevel::Forward))
        .await
        .unwrap();
    assert_eq!(again, 11);
}

/// A registry whose compatibility check refuses with `message`, and whose latest version
/// of the subject is `latest`, with global id `id`.
async fn refusing_registry(message: &str, id: u32, latest: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .respond_with(json_response(
            200,
            json!({ "is_compatible": false, "messages": [message] }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(subject_path("/versions/latest")))
        .respond_with(json_response(
            200,
            json!({ "subject": SUBJECT, "version": 1, "id": id, "schema": latest }),
        ))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn register_checked_names_the_incompatible_field() {
    let server = refusing_registry("{compatibility: 'BACKWARD'}", 1, SCHEMA).await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 2 })))
        .expect(0)
        .mount(&server)
        .await;
    let error = registry(&server)
        .register_checked(SUBJECT, SCHEMA_WITH_ROWS, None)
        .await
        .unwrap_err();
    let RegistryError::Incompatible { messages, .. } = &error else {
        panic!("expected Incompatible, got {error:?}");
    };
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("'rows'"), "{messages:?}");
    let text = error.to_string();
    assert!(
        text.contains(SUBJECT) && text.contains(&server.uri()),
        "{text}"
    );
}

/// rivven-schema 0.0.22 refuses its own latest schema when it has a uuid field
/// ("Incompatible types: writer=Uuid, reader=Uuid"), so a restarted application could not
/// publish. Registering the subject's latest schema needs no check: it returns its id.
#[tokio::test]
async fn register_checked_registers_the_latest_schema_again_whatever_the_check_says() {
    // The registry gives the schema back with its keys in another order.
    let stored = r#"{"fields":[{"type":"double","name":"duration"}],"namespace":"lsst.square.metrics.events.app","name":"query","type":"record"}"#;
    let server = refusing_registry("Incompatible types: writer=Uuid, reader=Uuid", 7, stored).await;
    Mock::given(method("POST"))
        .and(path(subject_path("/versions")))
        .respond_with(json_response(200, json!({ "id": 7 })))
        .expect(1)
        .mount(&server)
        .await;
    let id = registry(&server)
        .register_checked(SUBJECT, SCHEMA, None)
        .await
        .expect("the latest schema registers again");
    assert_eq!(id, 7);
}

#[tokio::test]
async fn register_checked_falls_back_to_the_registry_messages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(compat_path()))
        .respond_with(json_response(
            200,
            json!({ "is_compatible": false, "messages": ["field rows has no default"] }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(subject_path("/versions/latest")))
        .respond_with(json_response(
            500,
            json!({ "error_code": 50001, "message": "boom" }),
        ))
        .mount(&server)
        .await;
    let error = client(config(&server).max_retries(0))
        .unwrap()
        .register_checked(SUBJECT, SCHEMA_WITH_ROWS, None)
        .await
        .unwrap_err();
    let RegistryError::Incompatible { messages, .. } = &error else {
        panic!("expected Incompatible, got {error:?}");
    };
    assert_eq!(messages, &["field rows has no default".to_owned()]);
}

#[test]
fn debug_never_shows_secrets() {
    let url_credentials = RegistryConfig::builder().url("https://bob:url-pass@registry.example");
    let basic = RegistryConfig::builder()
        .url("https://registry.example")
        .basic_auth("bob", "pw-secret");
    let bearer = RegistryConfig::builder()
        .url("https://registry.example")
        .token("tok-secret");
    for config in [url_credentials, basic, bearer] {
        let registry = client(config.clone()).unwrap();
        for shown in [format!("{config:?}"), format!("{registry:?}")] {
            for secret in ["url-pass", "pw-secret", "tok-secret"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            assert!(shown.contains("registry.example"), "{shown}");
        }
        assert!(format!("{registry:?}").contains("REDACTED"));
    }
}

#[test]
fn a_client_needs_a_valid_url() {
    for url in [None, Some("ftp://registry.example")] {
        let mut config = RegistryConfig::builder();
        if let Some(url) = url {
            config = config.url(url);
        }
        let error = client(config).unwrap_err();
        assert!(
            matches!(error, RegistryError::InvalidUrl { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("SCHEMA_MANAGER_REGISTRY_URL"),
            "{error}"
        );
    }
}

#[test]
fn missing_ca_file_is_named_in_the_error() {
    let config = RegistryConfig::builder()
        .url("https://registry.example")
        .ca_path("/nonexistent/registry-ca.pem");
    let error = client(config).unwrap_err();
    assert!(
        matches!(error, RegistryError::CaCertificate { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("/nonexistent/registry-ca.pem"),
        "{error}"
    );
}

#[test]
fn ca_file_without_certificates_is_rejected() {
    let file = TempFile::new("empty-ca.pem", "this is not a certificate\n");
    let config = RegistryConfig::builder()
        .url("https://registry.example")
        .ca_path(file.path());
    let text = client(config).unwrap_err().to_string();
    assert!(
        text.contains("BEGIN CERTIFICATE") && text.contains(file.text()),
        "{text}"
    );
}

#[test]
fn pem_ca_file_is_accepted() {
    let file = TempFile::new("ca.pem", TEST_CA_PEM);
    let config = RegistryConfig::builder()
        .url("https://registry.example")
        .ca_path(file.path());
    client(config).unwrap();
}

#[tokio::test]
async fn subjects_of_a_schema_id_come_from_its_versions() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/schemas/ids/7/versions"))
        .respond_with(json_response(
            200,
            json!([
                { "subject": "t.query-value", "version": 1 },
                { "subject": "t.query", "version": 3 }
            ]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        registry(&server).subjects_of(7).await.unwrap(),
        ["t.query", "t.query-value"]
    );
}
