//! The Kafka backend end to end through librdkafka's in-process mock cluster: publishing,
//! framing, schema ids, metadata, topic checks, owned vs borrowed producers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use app_metrics::backend::EventBackend;
use app_metrics::kafka::Opaque;
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::kafka::rdkafka::producer::{BaseRecord, Producer};
use app_metrics::kafka::registry::{MemorySchemaRegistry, SchemaRegistry};
use app_metrics::kafka::{Error, KafkaBackend, KafkaProducer};
use app_metrics::{Config, ErrorKind, EventError, EventManager, EventPayload, EventPublisher};
use common::roundtrip::{self, TIMEOUT};
use common::{LoginEvent, QueryEvent, backend, embedded_config, manager, memory_registry};

/// Strict settings on the cluster at `bootstrap` (these tests hand in an in-memory
/// registry, but a real cluster needs a registry URL).
fn config(application: &str, bootstrap: &str) -> Config {
    common::cluster_config(application, bootstrap, "http://127.0.0.1:9")
}

async fn publishers(
    manager: &EventManager,
) -> (EventPublisher<QueryEvent>, EventPublisher<LoginEvent>) {
    manager.initialize().await.expect("initialize");
    (
        manager.create_publisher("query").await.expect("query"),
        manager.create_publisher("login").await.expect("login"),
    )
}

#[tokio::test]
async fn events_round_trip_through_the_embedded_broker() {
    let config = embedded_config("embedded");
    let backend = backend(&config, None);
    let manager = manager(&config, &backend);
    let (queries, logins) = publishers(&manager).await;
    let sent = roundtrip::publish(&queries, &logins, 300, 120);
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    assert_eq!(backend.stats().delivered(), 420);
    let bootstrap = backend
        .producer()
        .unwrap()
        .embedded_bootstrap_servers()
        .expect("embedded broker");
    roundtrip::read_back_and_check(&backend, &manager, (&queries, &logins), &bootstrap, &sent)
        .await;
    manager.close(TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn events_round_trip_through_a_mock_cluster_with_partitions() {
    let cluster = MockCluster::new(3).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let config = config("partitioned", &bootstrap);
    cluster.create_topic(&config.metrics.topic(), 3, 1).unwrap();
    let backend = backend(&config, memory_registry());
    let manager = manager(&config, &backend);
    let (queries, logins) = publishers(&manager).await;
    let mut sent = roundtrip::publish(&queries, &logins, 100, 100);
    for i in 1000..1005 {
        let meta = queries
            .publish_confirmed(roundtrip::query(i))
            .await
            .expect("acknowledged");
        sent.insert(
            meta.id().to_string(),
            roundtrip::Sent::Query(meta, roundtrip::query(i)),
        );
    }
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    assert_eq!(backend.stats().delivered(), 205);
    roundtrip::read_back_and_check(&backend, &manager, (&queries, &logins), &bootstrap, &sent)
        .await;
    manager.close(TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn a_missing_topic_is_a_topic_error_and_is_not_auto_created() {
    let cluster = MockCluster::new(1).unwrap();
    let config = config("missing", &cluster.bootstrap_servers());
    let strict_backend = backend(&config, memory_registry());
    let err = manager(&config, &strict_backend)
        .initialize()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Topic), "{err:?}");
    assert!(
        matches!(err.downcast_ref::<Error>(), Some(Error::TopicMissing { topic }) if topic == "lsst.square.metrics.events.missing"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("does not exist: create it"),
        "{err}"
    );
    assert!(
        err.to_string().contains("KAFKA_CREATE_TOPICS=true"),
        "{err}"
    );

    // Usage errors surface even in resilient mode.
    let resilient = common::resilient(config);
    let backend = backend(&resilient, memory_registry());
    let manager = manager(&resilient, &backend);
    let err = manager.initialize().await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Topic), "{err:?}");

    // The checks did not create it.
    let producer = backend.producer().unwrap();
    let metadata = producer
        .client()
        .fetch_metadata(Some(&resilient.metrics.topic()), Duration::from_secs(5))
        .unwrap();
    assert!(
        metadata.topics().iter().all(|t| t.partitions().is_empty()),
        "topic was auto-created"
    );
}

#[tokio::test]
async fn an_incompatible_schema_evolution_names_the_field() {
    /// Version 2 of the query event adds a field without a default: BACKWARD-incompatible.
    #[derive(EventPayload)]
    struct QueryEventV2 {
        rows: i64,
        shard: i64,
    }
    #[derive(EventPayload)]
    struct QueryEventV1 {
        rows: i64,
    }
    let config = embedded_config("evolving");
    let registry: Arc<dyn SchemaRegistry> = Arc::new(MemorySchemaRegistry::new());
    let first = manager(&config, &backend(&config, Some(Arc::clone(&registry))));
    first.initialize().await.unwrap();
    first
        .create_publisher::<QueryEventV1>("query")
        .await
        .unwrap();

    let second = manager(&config, &backend(&config, Some(registry)));
    second.initialize().await.unwrap();
    let err = second
        .create_publisher::<QueryEventV2>("query")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Schema), "{err:?}");
    let Some(Error::Registration {
        subject, source, ..
    }) = err.downcast_ref::<Error>()
    else {
        panic!("{err:?}")
    };
    assert_eq!(subject, "lsst.square.metrics.events.evolving.query");
    let app_metrics::kafka::registry::RegistryError::Incompatible { messages, .. } = source else {
        panic!("{source:?}")
    };
    assert!(messages.iter().any(|m| m.contains("shard")), "{messages:?}");
    assert!(err.chain().contains("shard"), "{}", err.chain());
}

#[tokio::test]
async fn closing_the_manager_releases_an_owned_producer() {
    let config = embedded_config("owned");
    let backend = backend(&config, None);
    let manager = manager(&config, &backend);
    let (queries, _) = publishers(&manager).await;
    queries.publish(roundtrip::query(1)).unwrap();
    let report = manager.close(TIMEOUT).await.unwrap();
    assert_eq!(report.undelivered, 0, "close delivered what was queued");
    assert_eq!(backend.stats().delivered(), 1);
    assert!(
        backend.producer().is_none(),
        "the backend let go of its producer"
    );
    assert!(matches!(
        queries.publish(roundtrip::query(2)),
        Err(EventError::Closed { .. })
    ));
}

#[tokio::test]
async fn a_producer_handed_in_stays_open_after_close() {
    let cluster = MockCluster::new(1).unwrap();
    let config = config("borrowed", &cluster.bootstrap_servers());
    cluster.create_topic(&config.metrics.topic(), 1, 1).unwrap();
    cluster.create_topic("app-own-topic", 1, 1).unwrap();
    let producer =
        KafkaProducer::from_config(&config.kafka, "the-app", Duration::from_secs(60)).unwrap();
    let backend = Arc::new(
        KafkaBackend::builder(&config.metrics)
            .kafka(&config.kafka)
            .registry(&config.registry)
            .registry_client(Arc::new(MemorySchemaRegistry::new()))
            .producer(producer.clone())
            .build()
            .unwrap(),
    );
    let manager = manager(&config, &backend);
    let (queries, _) = publishers(&manager).await;
    queries.publish(roundtrip::query(1)).unwrap();
    manager.close(TIMEOUT).await.unwrap();
    assert!(backend.producer().is_none());

    // The application's producer still works.
    let before = producer.stats().delivered();
    producer
        .producer()
        .send(
            BaseRecord::<(), str, Opaque>::with_opaque_to("app-own-topic", Opaque::default())
                .payload("still open"),
        )
        .unwrap();
    producer.producer().flush(TIMEOUT).unwrap();
    assert_eq!(producer.stats().delivered(), before + 1);
    drop(backend.flush(TIMEOUT).await);
}

#[tokio::test]
async fn subjects_follow_safir_naming_with_the_suffix() {
    let mut config = embedded_config("testapp");
    config.registry = app_metrics::config::RegistryConfig::builder()
        .suffix("_dev")
        .build()
        .unwrap();
    let manager = manager(&config, &backend(&config, None));
    manager.initialize().await.unwrap();
    let queries = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    assert_eq!(
        queries.subject(),
        Some("lsst.square.metrics.events.testapp.query_dev")
    );
    assert_eq!(
        queries.schema_id(),
        Some(1),
        "the first schema of a new registry"
    );
}
