//! A program that only consumes, monitored the way a publisher is: its own sensor hub,
//! `setup_monitoring` on it, a consumer from the settings reporting to it, and its lag,
//! read position and end offset on `/metrics` as Prometheus scrapes them. No manager.

use std::sync::Arc;
use std::time::Duration;

use app_metrics::Config;
use app_metrics::config::{KafkaConfig, MetricsConfig, RegistryConfig};
use app_metrics::kafka::consumer::StartAt;
use app_metrics::kafka::rdkafka::ClientConfig;
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use app_metrics::sensor::SensorDelegate;
use app_metrics::{make_consumer, setup_monitoring};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Writes `n` values to partition 0 of `topic`, as any producer would (the lag does not
/// depend on what the values are).
fn produce(bootstrap: &str, topic: &str, n: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    for i in 0..n {
        let value = format!("value {i}");
        producer
            .send(
                BaseRecord::<(), str>::to(topic)
                    .partition(0)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .expect("queued");
    }
    producer.flush(TIMEOUT).expect("flushed");
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn a_consume_only_program_shows_its_lag_on_metrics() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let mut config = Config::new(MetricsConfig::builder("reader").build().unwrap());
    let topic = config.metrics.topic();
    cluster.create_topic(&topic, 1, 1).expect("topic");
    config.kafka = KafkaConfig::builder()
        .bootstrap_servers([cluster.bootstrap_servers()])
        .build()
        .unwrap();
    // Never called: nothing is decoded here.
    config.registry = RegistryConfig::builder()
        .url("http://127.0.0.1:9")
        .build()
        .unwrap();
    produce(&cluster.bootstrap_servers(), &topic, 10);

    let sensors = Arc::new(SensorDelegate::new());
    let monitoring =
        setup_monitoring(&sensors, config.metrics.application(), &config.monitoring).unwrap();
    let consumer = make_consumer(&config, &sensors)
        .unwrap()
        .start_at(StartAt::Beginning)
        .end_offsets_interval(None)
        .build()
        .await
        .unwrap();
    for _ in 0..4 {
        let message = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .expect("a message in time")
            .unwrap()
            .expect("a message");
        drop(message);
    }
    consumer.refresh_end_offsets().await.unwrap();

    let response = monitoring
        .router()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let labels = format!("topic=\"{topic}\",partition=\"0\"");
    assert_eq!(
        sample(&text, "app_metrics_consumer_lag", &labels),
        Some(6.0),
        "offsets 4 to 9 are unread:\n{text}"
    );
    assert_eq!(
        sample(&text, "app_metrics_consumer_read_offset", &labels),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "app_metrics_consumer_end_offset", &labels),
        Some(10.0)
    );
    assert_eq!(
        sample(
            &text,
            "app_metrics_messages_received_total",
            &format!("topic=\"{topic}\"")
        ),
        Some(4.0)
    );
    // Nothing was published: the producer side reads zero, not absent figures.
    assert!(
        text.contains("app_metrics_messages_delivered_total 0"),
        "{text}"
    );
}
