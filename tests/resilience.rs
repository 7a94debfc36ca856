//! The failure policy (docs/architecture.md) through librdkafka's mock cluster and an HTTP registry mock:
//! broker outages lose nothing, produce errors are retried or counted, a full queue drops
//! and counts without blocking, a registry down at start-up does not stop the application,
//! and strict mode returns every error. Every test is bounded in time.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_metrics::config::{KafkaConfig, KafkaConfigBuilder, MetricsConfig, RegistryConfig};
use app_metrics::kafka::KafkaBackend;
use app_metrics::kafka::consumer::read_to_end;
use app_metrics::kafka::framing;
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::kafka::rdkafka::producer::DefaultProducerContext;
use app_metrics::kafka::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use app_metrics::{Config, ErrorKind, EventError, EventManager, EventPublisher};
use common::QueryEvent;
use common::roundtrip::{self, TIMEOUT};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Settings on the mock cluster at `bootstrap` with short waits: 2 s start-up and
/// metadata timeouts, background retries every 500 ms, no registry retries. `registry`
/// is the registry URL (the in-memory registry is handed in when it is unused).
fn quick_config(
    application: &str,
    bootstrap: &str,
    registry: &str,
    strict: bool,
    tweak: impl FnOnce(KafkaConfigBuilder) -> KafkaConfigBuilder,
) -> Config {
    let mut config = Config::new(
        MetricsConfig::builder(application)
            .raise_on_error(strict)
            .startup_timeout(Duration::from_secs(2))
            .retry_max_backoff(Duration::from_millis(500))
            .build()
            .unwrap(),
    );
    config.kafka = tweak(
        KafkaConfig::builder()
            .bootstrap_servers(bootstrap.split(','))
            .delivery_timeout(Duration::from_secs(60))
            .metadata_timeout(Duration::from_secs(2)),
    )
    .build()
    .unwrap();
    config.registry = RegistryConfig::builder()
        .url(registry)
        .max_retries(0)
        .request_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    config
}

async fn query_publisher(manager: &EventManager) -> EventPublisher<QueryEvent> {
    manager.initialize().await.expect("initialize");
    manager.create_publisher("query").await.expect("publisher")
}

/// A mock cluster with the application's topic, a backend with short waits (an in-memory
/// registry, or the HTTP one at `registry`), its manager, and a query publisher.
struct Rig {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
    config: Config,
    backend: Arc<KafkaBackend>,
    manager: EventManager,
    queries: EventPublisher<QueryEvent>,
}

async fn rig(
    application: &str,
    registry: Option<&str>,
    tweak: impl FnOnce(KafkaConfigBuilder) -> KafkaConfigBuilder,
) -> Rig {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let url = registry.unwrap_or("http://127.0.0.1:9");
    let config = quick_config(application, &bootstrap, url, false, tweak);
    cluster.create_topic(&config.metrics.topic(), 1, 1).unwrap();
    let backend = match registry {
        None => common::backend(&config, common::memory_registry()),
        Some(_) => common::backend(&config, None),
    };
    let manager = common::manager(&config, &backend);
    let queries = query_publisher(&manager).await;
    Rig {
        cluster,
        bootstrap,
        config,
        backend,
        manager,
        queries,
    }
}

/// Reads the whole topic and returns the event ids and schema ids of its messages.
async fn read_ids(bootstrap: &str, topic: &str) -> (Vec<String>, HashSet<u32>) {
    let properties = [("bootstrap.servers".to_owned(), bootstrap.to_owned())]
        .into_iter()
        .collect();
    let messages = read_to_end(properties, topic, TIMEOUT)
        .await
        .expect("read back");
    let mut ids = Vec::new();
    let mut schema_ids = HashSet::new();
    for message in messages {
        let (schema_id, body) = framing::split(&message.payload).expect("framed");
        schema_ids.insert(schema_id);
        // The id is the first field: a 36-byte string after its one-byte length.
        ids.push(String::from_utf8(body[1..37].to_vec()).expect("uuid text"));
    }
    (ids, schema_ids)
}

#[tokio::test]
async fn a_broker_outage_loses_and_duplicates_nothing() {
    let Rig {
        cluster,
        bootstrap,
        config,
        backend,
        manager,
        queries,
    } = rig("outage", None, |b| b).await;

    cluster.broker_down(1).unwrap();
    let mut published = HashSet::new();
    for i in 0..10_000 {
        let meta = queries
            .publish(roundtrip::query(i))
            .expect("resilient publish never fails");
        published.insert(meta.id().to_string());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        backend.stats().delivered(),
        0,
        "nothing can be delivered while the broker is down"
    );
    cluster.broker_up(1).unwrap();

    let report = manager.flush(TIMEOUT).await.unwrap();
    assert_eq!(report.undelivered, 0);
    assert_eq!(backend.stats().delivered(), 10_000);
    assert_eq!(backend.stats().failed() + backend.stats().dropped(), 0);
    let (ids, _) = read_ids(&bootstrap, &config.metrics.topic()).await;
    assert_eq!(ids.len(), 10_000, "each event exactly once");
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), published);
}

#[tokio::test]
async fn retriable_produce_errors_are_retried_and_permanent_ones_counted() {
    let Rig {
        cluster,
        backend,
        manager,
        queries,
        ..
    } = rig("produce_errors", None, |b| b).await;

    // Retriable: the next three Produce requests fail, then librdkafka's retries succeed.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 3],
    );
    for i in 0..10 {
        queries
            .publish_confirmed(roundtrip::query(i))
            .await
            .expect("retried until delivered");
    }
    assert_eq!(backend.stats().delivered(), 10);

    // Permanent: the broker refuses the next request outright.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let err = queries
        .publish_confirmed(roundtrip::query(10))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Delivery), "{err:?}");
    assert!(
        err.chain().contains("Message size too large"),
        "{}",
        err.chain()
    );
    assert_eq!(backend.stats().failed(), 1, "the dropped event is counted");
    queries
        .publish_confirmed(roundtrip::query(11))
        .await
        .expect("later events still go through");
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    assert_eq!(backend.stats().delivered(), 11);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking() {
    let Rig {
        cluster,
        backend,
        manager,
        queries,
        ..
    } = rig("tiny_queue", None, |b| b.queue_max_messages(100)).await;

    cluster.broker_down(1).unwrap();
    let started = Instant::now();
    for i in 0..1_000 {
        queries
            .publish(roundtrip::query(i))
            .expect("resilient: a drop is counted, not returned");
    }
    // A generous bound: a blocking publish would wait for the delivery timeout (60 s).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "publishing blocked for {:?}",
        started.elapsed()
    );
    assert_eq!(backend.stats().dropped(), 900);
    assert_eq!(backend.stats().enqueued(), 100);

    cluster.broker_up(1).unwrap();
    // publish said Ok 1,000 times (resilient mode); the flush says what was lost, by reason.
    let report = manager.flush(TIMEOUT).await.unwrap();
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.dropped.get(ErrorKind::QueueFull), 900, "{report}");
    assert_eq!(report.dropped.total(), 900, "{report}");
    assert_eq!(
        report.to_string(),
        "0 undelivered, 900 dropped (900 queue_full)"
    );
    assert_eq!(backend.stats().delivered(), 100);
    // Each loss is reported once: the next report starts from zero.
    queries.publish(roundtrip::query(1_000)).unwrap();
    let report = manager.close(TIMEOUT).await.unwrap();
    assert_eq!(report.dropped.total(), 0, "{report}");
    assert_eq!(report.undelivered, 0);
}

/// A registry that fails `failures` requests with 503, then behaves like Confluent's for
/// one subject whose schema gets id 42.
async fn flaky_registry(failures: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(serde_json::json!({"error_code": 50301, "message": "unavailable"})),
        )
        .up_to_n_times(failures)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/compatibility/subjects/.+/versions/latest$"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            serde_json::json!({"error_code": 40401, "message": "Subject not found"}),
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/subjects/.+/versions$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": 42})))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_registry_down_at_start_up_does_not_stop_the_application() {
    let registry = flaky_registry(6).await;
    let Rig {
        // Keeps the mock broker alive for the whole test.
        cluster: _cluster,
        bootstrap,
        config,
        backend,
        manager,
        queries,
        ..
    } = rig("registry_outage", Some(&registry.uri()), |b| b).await;
    let mut published = HashSet::new();
    for i in 0..50 {
        published.insert(
            queries
                .publish(roundtrip::query(i))
                .expect("held, not failed")
                .id()
                .to_string(),
        );
    }
    assert_eq!(backend.stats().delivered(), 0);

    let report = manager.flush(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        report.undelivered, 0,
        "registration recovered and the held events were sent"
    );
    assert_eq!(backend.stats().delivered(), 50);
    let (ids, schema_ids) = read_ids(&bootstrap, &config.metrics.topic()).await;
    assert_eq!(
        schema_ids,
        HashSet::from([42]),
        "framed with the id the recovered registry gave"
    );
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), published);
}

#[tokio::test]
async fn an_unrecoverable_answer_after_an_outage_turns_events_into_counted_drops() {
    // Down for 3 requests, then the registry says the schema is incompatible.
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        )
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/compatibility/subjects/.+/versions/latest$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"is_compatible": false, "messages": ["Reader field 'rows' has no matching writer field"]}),
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    let Rig {
        // Keeps the mock broker alive for the whole test.
        cluster: _cluster,
        backend,
        manager,
        queries,
        ..
    } = rig("incompatible_later", Some(&server.uri()), |b| b).await;
    for i in 0..20 {
        queries
            .publish(roundtrip::query(i))
            .expect("held while the registry is down");
    }
    // The background registration gets its final answer; what was held is dropped, counted.
    let report = manager.flush(Duration::from_secs(20)).await.unwrap();
    assert_eq!(report.undelivered, 0);
    assert_eq!(backend.held_events(), 0);
    assert_eq!(backend.stats().dropped(), 20);
    queries
        .publish(roundtrip::query(99))
        .expect("resilient: a drop, not an error");
    assert_eq!(backend.stats().dropped(), 21);
    assert_eq!(backend.stats().delivered(), 0);
}

#[tokio::test]
async fn close_returns_in_bounded_time_and_reports_what_was_not_delivered() {
    let Rig {
        cluster,
        manager,
        queries,
        ..
    } = rig("close_bounded", None, |b| b).await;
    cluster.broker_down(1).unwrap();
    for i in 0..25 {
        queries.publish(roundtrip::query(i)).unwrap();
    }
    let started = Instant::now();
    let report = manager
        .close(Duration::from_secs(1))
        .await
        .expect("resilient close reports");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "close took {:?}",
        started.elapsed()
    );
    assert_eq!(report.undelivered, 25);
}

#[tokio::test]
async fn strict_mode_returns_each_failure() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();

    // A registry that always fails: publisher creation fails instead of retrying.
    let registry = flaky_registry(1_000).await;
    let config = quick_config("strict", &bootstrap, &registry.uri(), true, |k| k);
    cluster.create_topic(&config.metrics.topic(), 1, 1).unwrap();
    let manager = common::manager(&config, &common::backend(&config, None));
    manager.initialize().await.unwrap();
    let err = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Unavailable), "{err:?}");
    assert!(err.chain().contains("HTTP 503"), "{}", err.chain());

    // A full queue is an error; so are undelivered events at flush and close.
    let config = quick_config(
        "strict_queue",
        &bootstrap,
        "http://127.0.0.1:9",
        true,
        |k| k.queue_max_messages(10),
    );
    cluster.create_topic(&config.metrics.topic(), 1, 1).unwrap();
    let manager = common::manager(
        &config,
        &common::backend(&config, common::memory_registry()),
    );
    let queries = query_publisher(&manager).await;
    cluster.broker_down(1).unwrap();
    for i in 0..10 {
        queries.publish(roundtrip::query(i)).unwrap();
    }
    let err = queries.publish(roundtrip::query(10)).unwrap_err();
    assert!(
        err.to_string().contains("the producer queue is full"),
        "{err}"
    );
    let err = manager.flush(Duration::from_millis(500)).await.unwrap_err();
    assert!(
        matches!(
            err,
            EventError::Undelivered {
                undelivered: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let err = manager.close(Duration::from_millis(500)).await.unwrap_err();
    assert!(
        matches!(
            err,
            EventError::Undelivered {
                undelivered: 10,
                ..
            }
        ),
        "{err:?}"
    );

    // A broker that cannot be reached at start-up.
    let config = quick_config("strict_down", &bootstrap, "http://127.0.0.1:9", true, |k| k);
    let manager = common::manager(
        &config,
        &common::backend(&config, common::memory_registry()),
    );
    let err = manager.initialize().await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Unavailable), "{err:?}");
    cluster.broker_up(1).unwrap();
}
