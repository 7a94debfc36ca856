//! `examples/tail.rs` end to end: events published on a mock cluster (whose broker
//! listens on 127.0.0.1), schemas served over HTTP the way a registry does, and the tail
//! binary run as a user would, checked line by line. `cargo test` builds the examples
//! before it runs the tests; run it alone after `cargo build --example tail`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use app_metrics::kafka::rdkafka::ClientConfig;
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use app_metrics::kafka::registry::{MemorySchemaRegistry, SchemaRegistry};
use common::roundtrip::{self, TIMEOUT};
use common::{LoginEvent, QueryEvent};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The tail example built next to this test binary.
fn tail_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let binary = dir.join("examples").join("tail");
    assert!(
        binary.exists(),
        "{} is missing: `cargo test` builds it; alone, run `cargo build --example tail` first",
        binary.display()
    );
    binary
}

/// Serves `GET /schemas/ids/{id}` and `/schemas/ids/{id}/versions` for `ids` from
/// `registry`, as a Confluent registry answers them.
async fn serve_schemas(registry: &MemorySchemaRegistry, ids: &[u32]) -> MockServer {
    let server = MockServer::start().await;
    for id in ids {
        let schema = registry.schema_by_id(*id).await.unwrap();
        Mock::given(method("GET"))
            .and(path(format!("/schemas/ids/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "schema": schema })))
            .mount(&server)
            .await;
        let versions: Vec<Value> = registry
            .subjects_of(*id)
            .await
            .unwrap()
            .into_iter()
            .map(|subject| json!({ "subject": subject, "version": 1 }))
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("/schemas/ids/{id}/versions")))
            .respond_with(ResponseTemplate::new(200).set_body_json(versions))
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test]
async fn tail_prints_each_event_as_a_json_line_and_bad_ones_on_stderr() {
    let binary = tail_binary();
    let application = "tailed";
    let topic = format!("lsst.square.metrics.events.{application}");
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(&topic, 1, 1).unwrap();
    let registry = Arc::new(MemorySchemaRegistry::new());
    let config = common::cluster_config(
        application,
        &cluster.bootstrap_servers(),
        "http://127.0.0.1:9",
    );
    let backend = common::backend(&config, Some(registry.clone() as _));
    let manager = common::manager(&config, &backend);
    manager.initialize().await.unwrap();
    let queries = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    let logins = manager
        .create_publisher::<LoginEvent>("login")
        .await
        .unwrap();
    let first = queries.publish(roundtrip::query(1)).unwrap();
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    // A message no registry can explain, between the events.
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .unwrap();
    producer
        .send(BaseRecord::<(), str>::to(&topic).payload("not avro"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(TIMEOUT).unwrap();
    let login = logins.publish(roundtrip::login(2)).unwrap();
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    let ids = [queries.schema_id().unwrap(), logins.schema_id().unwrap()];
    let server = serve_schemas(&registry, &ids).await;

    let run = tokio::process::Command::new(&binary)
        .args(["--from-beginning", "--with-meta"])
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", cluster.bootstrap_servers())
        .env("SCHEMA_MANAGER_REGISTRY_URL", server.uri())
        .env("METRICS_APPLICATION", application)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("tail stops at the end within a minute")
        .expect("tail runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stderr}", output.status);
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}\n{stderr}");

    let query = lines[0].as_object().unwrap();
    let keys: Vec<&str> = query.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "application",
            "timestamp",
            "timestamp_ns",
            "type",
            "duration",
            "username",
            "rows",
            "subject",
            "schema_id",
            "partition",
            "offset"
        ]
    );
    assert_eq!(query["id"], json!(first.id().to_string()));
    assert_eq!(query["rows"], json!(roundtrip::query(1).rows));
    assert_eq!(query["subject"], json!(format!("{topic}.query")));
    assert_eq!(query["schema_id"], json!(ids[0]));
    assert_eq!(
        (query["partition"].clone(), query["offset"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(lines[1]["id"], json!(login.id().to_string()));
    assert_eq!(lines[1]["username"], json!(roundtrip::login(2).username));
    assert_eq!(lines[1]["offset"], json!(2));

    let complaint = stderr
        .lines()
        .find(|l| l.contains("offset 1"))
        .unwrap_or_else(|| panic!("a line about offset 1 on stderr:\n{stderr}"));
    assert!(complaint.contains("partition 0"), "{complaint}");
    assert!(
        complaint.contains("not a Confluent Avro frame"),
        "{complaint}"
    );
    manager.close(TIMEOUT).await.unwrap();
}
