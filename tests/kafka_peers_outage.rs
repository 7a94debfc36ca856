//! A real broker outage: Tansu is stopped mid-stream and started again; events published
//! while it was down are delivered once it is back. Its own test binary, because stopping
//! the broker would disturb the other peer tests running in parallel.
//!
//! Tansu's memory storage starts empty after a restart, so the test counts what arrives
//! after the restart: exactly the events published during the outage. The test re-creates
//! the topic right after the restart, before the producer reconnects (see below).
//!
//! This test turns idempotence off. A restarted Tansu has also forgotten the producer ids
//! it handed out, so an idempotent producer's queued batches stall on an unknown producer
//! id until the delivery timeout. Real Kafka keeps producer state in its log across
//! restarts; the mock-cluster outage test (`tests/resilience.rs`) covers idempotent
//! delivery across an outage, each of 10,000 events exactly once.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use app_metrics::EventPublisher;
use app_metrics::kafka::consumer::read_to_end;
use app_metrics::kafka::framing;
use app_metrics::kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use app_metrics::kafka::rdkafka::client::DefaultClientContext;
use app_metrics::kafka::rdkafka::config::ClientConfig;
use common::QueryEvent;
use common::peers::{peers, peers_script, unique_app};
use common::roundtrip::{self, TIMEOUT};

#[tokio::test]
async fn events_published_while_the_broker_is_down_are_delivered_after_it_returns() {
    let Some(peers) =
        peers("events_published_while_the_broker_is_down_are_delivered_after_it_returns")
    else {
        return;
    };
    let mut config = common::resilient(common::peers::config(&peers, &unique_app("outage"), true));
    config.kafka = config
        .kafka
        .to_builder()
        // See the module doc: Tansu forgets producer ids on restart.
        .property("enable.idempotence", "false")
        // ... and its topics, and it acknowledges (and discards) produce requests for a
        // topic it does not have. Real Kafka answers UNKNOWN_TOPIC_OR_PARTITION and the
        // client retries; here the topic must exist again before the producer reconnects,
        // so the producer waits at least 3 s before reconnecting.
        .property("reconnect.backoff.ms", "3000")
        .property("reconnect.backoff.max.ms", "5000")
        .build()
        .expect("valid config");
    let backend = common::backend(&config, None);
    let manager = common::manager(&config, &backend);
    manager.initialize().await.unwrap();
    let queries: EventPublisher<QueryEvent> = manager.create_publisher("query").await.unwrap();
    for i in 0..20 {
        queries.publish(roundtrip::query(i)).unwrap();
    }
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);

    tokio::task::spawn_blocking(|| peers_script("stop-broker"))
        .await
        .unwrap();
    // The outage starts when the client has seen the broker go: a stopping broker can still
    // answer on an open connection, and events it acknowledged would vanish with it.
    let producer = backend.producer().expect("open producer");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while producer.last_client_error().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the client never noticed the broker stopping"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut during_outage = HashSet::new();
    for i in 0..300 {
        let meta = queries
            .publish(roundtrip::query(i))
            .expect("resilient: never fails while the broker is down");
        during_outage.insert(meta.id().to_string());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::spawn_blocking(|| peers_script("start-broker"))
        .await
        .unwrap();
    // The restarted broker is empty: re-create the topic, as operators would.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &peers.kafka)
        .create()
        .unwrap();
    admin
        .create_topics(
            [&NewTopic::new(
                &config.metrics.topic(),
                1,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await
        .expect("create topic after restart");

    let topic = config.metrics.topic();
    let report = manager.flush(TIMEOUT).await.unwrap();
    assert_eq!(
        report.undelivered, 0,
        "everything queued during the outage was delivered"
    );
    let stats = backend.stats();
    assert_eq!(
        (stats.delivered(), stats.failed(), stats.dropped()),
        (320, 0, 0),
        "delivered, failed, dropped (last client error: {:?})",
        backend.producer().and_then(|p| p.last_client_error())
    );
    let properties = [("bootstrap.servers".to_owned(), peers.kafka.clone())]
        .into_iter()
        .collect();
    let messages = read_to_end(properties, &topic, TIMEOUT).await.unwrap();
    let arrived: Vec<String> = messages
        .iter()
        .map(|m| {
            let (_, body) = framing::split(&m.payload).unwrap();
            String::from_utf8(body[1..37].to_vec()).unwrap()
        })
        .collect();
    assert_eq!(arrived.len(), 300, "each event of the outage exactly once");
    assert_eq!(arrived.into_iter().collect::<HashSet<_>>(), during_outage);
    manager.close(TIMEOUT).await.unwrap();
}
