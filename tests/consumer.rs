//! The event consumer on librdkafka's mock cluster: publish through the manager, consume
//! through the consumer (typed and JSON forms agree), bad frames reported per message
//! while the consumer goes on, and the consumer hooks: commits, rebalances, lag.

mod common;

use std::sync::Arc;
use std::time::Duration;

use app_metrics::decode::Event;
use app_metrics::kafka::consumer::{EventConsumer, StartAt};
use app_metrics::kafka::framing;
use app_metrics::kafka::rdkafka::ClientConfig;
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use app_metrics::kafka::registry::{MemorySchemaRegistry, SchemaRegistry};
use app_metrics::monitoring::Monitor;
use app_metrics::sensor::DecodeErrorKind;
use app_metrics::sensor::SensorDelegate;
use app_metrics::{EventMetadata, EventPayload};
use common::roundtrip::{self, TIMEOUT};
use common::{LoginEvent, QueryEvent};

/// A cluster with `topic` (one partition), and the producer-side pieces around it.
struct Stack {
    cluster: MockCluster<'static, DefaultProducerContext>,
    registry: Arc<MemorySchemaRegistry>,
}

impl Stack {
    fn new(topic: &str, partitions: i32) -> Self {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(topic, partitions, 1).expect("topic");
        Self {
            cluster,
            registry: Arc::new(MemorySchemaRegistry::new()),
        }
    }

    fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    fn consumer(&self, topic: &str) -> app_metrics::kafka::consumer::EventConsumerBuilder {
        let properties = [("bootstrap.servers".to_owned(), self.bootstrap())]
            .into_iter()
            .collect();
        EventConsumer::with_properties(properties, self.registry.clone() as _)
            .topic(topic)
            .start_at(StartAt::Beginning)
    }

    /// A member of `group` on `topic` that commits only when told to (or at a rebalance).
    /// The mock cluster keeps a closed member until its session times out: keep that
    /// short, so that a later member is not kept waiting.
    fn group_member(
        &self,
        topic: &str,
        group: &str,
    ) -> app_metrics::kafka::consumer::EventConsumerBuilder {
        self.consumer(topic)
            .group(group)
            .property("session.timeout.ms", "6000")
            .commit_interval(Duration::from_secs(3600))
    }

    /// Registers the `query` schema of `topic`; its id.
    async fn register_query(&self, topic: &str) -> u32 {
        let schema = app_metrics::schema::record_schema::<QueryEvent>("query", topic).unwrap();
        let subject = format!("{topic}.query");
        self.registry.register(&subject, &schema).await.unwrap()
    }

    /// Writes `n` query events to `topic`, framed with schema `id`; the frames.
    fn produce_queries(&self, topic: &str, id: u32, n: usize) -> Vec<Vec<u8>> {
        let frames: Vec<Vec<u8>> = (0..n).map(|i| frame(id, &roundtrip::query(i))).collect();
        self.produce_raw(topic, &frames);
        frames
    }

    /// Writes raw values to `topic` partition 0, as any producer would.
    fn produce_raw(&self, topic: &str, values: &[Vec<u8>]) {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("producer");
        for value in values {
            producer
                .send(
                    BaseRecord::<(), [u8]>::to(topic)
                        .partition(0)
                        .payload(value.as_slice()),
                )
                .map_err(|(e, _)| e)
                .expect("queued");
        }
        producer.flush(TIMEOUT).expect("flushed");
    }
}

/// A Monitor, and a delegate with it attached for the consumer.
fn monitored() -> (Arc<Monitor>, Arc<SensorDelegate>) {
    let monitor = Arc::new(Monitor::new());
    let sensors = Arc::new(SensorDelegate::new());
    sensors.add(monitor.clone());
    (monitor, sensors)
}

/// A frame of `payload` with its metadata, under schema `id`.
fn frame(id: u32, payload: &impl EventPayload) -> Vec<u8> {
    let mut frame = framing::header(id).to_vec();
    EventMetadata::now("consumer_test".into()).encode_avro(&mut frame);
    payload.encode_avro(&mut frame);
    frame
}

#[tokio::test]
async fn published_events_come_back_typed_and_as_json() {
    let application = "consumed";
    let topic = format!("lsst.square.metrics.events.{application}");
    let stack = Stack::new(&topic, 2);
    let config = common::cluster_config(application, &stack.bootstrap(), "http://127.0.0.1:9");
    let backend = common::backend(&config, Some(stack.registry.clone() as _));
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
    let sent = roundtrip::publish(&queries, &logins, 30, 10);
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);

    let consumer = stack
        .consumer(&topic)
        .stop_at_end(true)
        .build()
        .await
        .unwrap();
    roundtrip::consume_and_check(&consumer, application, &sent).await;
    manager.close(TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn bad_frames_are_reported_with_their_offset_and_the_consumer_goes_on() {
    let topic = "bad.frames";
    let stack = Stack::new(topic, 1);
    let id = stack.register_query(topic).await;
    let good = frame(id, &roundtrip::query(1));
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 3);
    let mut corrupt = good.clone();
    corrupt.push(0x42); // a byte after the record
    let login = app_metrics::schema::record_schema::<LoginEvent>("login", topic).unwrap();
    let login_id = stack
        .registry
        .register("bad.frames.login", &login)
        .await
        .unwrap();
    stack.produce_raw(
        topic,
        &[
            b"{\"json\": true}".to_vec(),          // 0: not a frame
            vec![0, 0],                            // 1: too short
            framing::header(9999).to_vec(),        // 2: unknown schema id
            truncated,                             // 3: truncated body
            corrupt,                               // 4: trailing bytes
            frame(login_id, &roundtrip::login(2)), // 5: a login, asked for as a query
            good,                                  // 6: fine
        ],
    );

    let (monitor, sensors) = monitored();
    let consumer = stack
        .consumer(topic)
        .stop_at_end(true)
        .sensors(sensors)
        .build()
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    while let Some(message) = consumer.recv().await.unwrap() {
        let outcome = match message.decode_as::<QueryEvent>().await {
            Ok(event) => Ok(event.payload.rows),
            Err(error) => {
                assert_eq!(
                    (error.partition, error.offset),
                    (0, message.message().offset)
                );
                let text = error.to_string();
                assert!(
                    text.contains(&format!("partition 0 offset {}", error.offset)),
                    "{text}"
                );
                Err(error.failure.kind)
            }
        };
        outcomes.push(outcome);
    }
    use DecodeErrorKind::*;
    assert_eq!(
        outcomes,
        [
            Err(Framing),
            Err(Framing),
            Err(Schema),
            Err(Body),
            Err(Body),
            Err(Type),
            Ok(roundtrip::query(1).rows)
        ]
    );
    let s = monitor.snapshot();
    assert_eq!(s.messages_received, 7);
    assert_eq!(
        s.decode_errors_by_kind,
        [("body", 2), ("framing", 2), ("schema", 1), ("type", 1)]
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect()
    );
    assert_eq!(s.decode_seconds.total, 7);
    assert_eq!((consumer.messages(), consumer.decode_failures()), (7, 6));
    assert_eq!(s.messages_active, 0, "every message was let go");
}

#[tokio::test]
async fn the_lag_is_what_is_left_to_read() {
    let topic = "lagging";
    let stack = Stack::new(topic, 1);
    let id = stack.register_query(topic).await;
    stack.produce_queries(topic, id, 10);

    let (monitor, sensors) = monitored();
    let consumer = stack
        .consumer(topic)
        .sensors(sensors)
        .end_offsets_interval(None)
        .build()
        .await
        .unwrap();
    for _ in 0..4 {
        let message = consumer.recv().await.unwrap().expect("a message");
        message.decode().await.unwrap();
    }
    consumer.refresh_end_offsets().await.unwrap();
    let partition = &monitor.snapshot().partitions[0];
    assert_eq!(partition.read_offset, Some(3));
    assert_eq!(partition.end_offset, Some(10));
    assert_eq!(partition.lag, Some(6), "offsets 4 to 9 are unread");

    for _ in 0..6 {
        drop(consumer.recv().await.unwrap().expect("a message"));
    }
    consumer.refresh_end_offsets().await.unwrap();
    assert_eq!(monitor.snapshot().partitions[0].lag, Some(0));
}

#[tokio::test]
async fn a_group_commits_what_was_processed_and_reports_rebalances() {
    let topic = "grouped";
    let stack = Stack::new(topic, 2);
    let id = stack.register_query(topic).await;
    let frames = stack.produce_queries(topic, id, 8);

    let (monitor, sensors) = monitored();
    let consumer = stack
        .group_member(topic, "grouped-test")
        .sensors(sensors)
        .build()
        .await
        .unwrap();
    let mut rows = Vec::new();
    for _ in 0..8 {
        let message = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .expect("a message in time")
            .unwrap()
            .expect("a message");
        let row = message
            .process(|event: Event<QueryEvent>| async move { event.payload.rows })
            .await
            .unwrap();
        rows.push(row);
    }
    rows.sort_unstable();
    let mut expected: Vec<i64> = (0..8).map(|i| roundtrip::query(i).rows).collect();
    expected.sort_unstable();
    assert_eq!(rows, expected);
    consumer.commit().await.unwrap();

    let s = monitor.snapshot();
    assert_eq!(s.events_total, 8);
    assert_eq!(s.events_by_event["query"], 8);
    assert_eq!(s.event_processing_seconds.total, 8);
    assert_eq!((s.commits, s.commit_errors), (1, 0));
    assert_eq!(s.commit_latency_seconds.total, 1);
    assert!(s.rebalances >= 1, "joining the group is a rebalance");
    assert!(s.rebalance_end_seconds.total >= 1);
    // Everything read in partition 0 is committed: the next offset to read.
    let committed: i64 = s.partitions.iter().filter_map(|p| p.committed_offset).sum();
    assert_eq!(committed, 8, "the two partitions' next offsets add up to 8");
    consumer.close().await.unwrap();

    // A new member of the group starts where the commits left off.
    stack.produce_raw(topic, &frames[..2]);
    let again = stack
        .consumer(topic)
        .group("grouped-test")
        .stop_at_end(true)
        .build()
        .await
        .unwrap();
    let mut read = 0;
    while let Some(message) = tokio::time::timeout(TIMEOUT, again.recv())
        .await
        .unwrap()
        .unwrap()
    {
        message.decode_as::<QueryEvent>().await.unwrap();
        read += 1;
    }
    assert_eq!(read, 2, "only what was written after the commit");
}

/// A member that loses partitions in a rebalance commits what it processed first, so that
/// their next owner does not process it again.
#[tokio::test]
async fn a_rebalance_commits_what_was_processed_before_partitions_move() {
    let topic = "handover";
    let stack = Stack::new(topic, 2);
    let id = stack.register_query(topic).await;
    stack.produce_queries(topic, id, 8);

    let (monitor, sensors) = monitored();
    // No commit on the interval: only the rebalance commits.
    let first = stack
        .group_member(topic, "handover-test")
        .sensors(sensors)
        .build()
        .await
        .unwrap();
    for _ in 0..8 {
        let message = tokio::time::timeout(TIMEOUT, first.recv())
            .await
            .expect("a message in time")
            .unwrap()
            .expect("a message");
        message.decode_as::<QueryEvent>().await.unwrap();
    }
    assert_eq!(monitor.snapshot().commits, 0, "nothing committed yet");

    // A second member joins: the first gives up a partition, committing first.
    let second = stack
        .group_member(topic, "handover-test")
        .build()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while monitor.snapshot().commits == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no commit at the rebalance"
        );
        // Both members must poll for the group to rebalance.
        let _ = tokio::time::timeout(Duration::from_millis(100), first.recv()).await;
        let _ = tokio::time::timeout(Duration::from_millis(100), second.recv()).await;
    }
    // librdkafka's mock cluster refuses commits while the group rebalances
    // (REBALANCE_IN_PROGRESS); Kafka accepts them until the group completes the
    // rebalance, and so does Tansu (`tests/consumer_failover.rs`). Here the attempt is
    // what can be seen, and that a refused commit is counted.
    let s = monitor.snapshot();
    assert_eq!(
        (s.commits, s.commit_errors),
        (1, 1),
        "one commit, at the rebalance"
    );
    first.close().await.unwrap();
    second.close().await.unwrap();
}

#[tokio::test]
async fn settings_that_do_not_go_together_are_refused() {
    let stack = Stack::new("refused", 1);
    let error = stack
        .consumer("refused")
        .topic("another")
        .stop_at_end(true)
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("one topic"), "{error}");
    let error = stack
        .consumer("missing.topic")
        .metadata_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no partitions"), "{error}");
}

#[tokio::test]
async fn the_last_message_processed_is_committed_while_the_consumer_waits_for_more() {
    let topic = "quiet.group";
    let stack = Stack::new(topic, 1);
    let id = stack.register_query(topic).await;
    let (monitor, sensors) = monitored();
    let consumer = Arc::new(
        stack
            .consumer(topic)
            .group("quiet-test")
            .property("session.timeout.ms", "6000")
            .sensors(sensors)
            .commit_interval(Duration::from_secs(1))
            .build()
            .await
            .unwrap(),
    );
    // The application reads in a task of its own, as a service does; messages are
    // written after it started to wait.
    let reader = Arc::clone(&consumer);
    let reading = tokio::spawn(async move {
        let mut handled = 0;
        while let Ok(Some(message)) = reader.recv().await {
            message
                .process(|event: Event<QueryEvent>| async move { event.payload.rows })
                .await
                .unwrap();
            handled += 1;
        }
        handled
    });
    stack.produce_queries(topic, id, 5);

    // No more messages come: the offsets are committed on the interval all the same.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let committed = || {
        monitor
            .snapshot()
            .partitions
            .first()
            .and_then(|p| p.committed_offset)
    };
    while committed() != Some(5) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(committed(), Some(5), "{:?}", monitor.snapshot().partitions);
    assert_eq!(monitor.snapshot().events_total, 5);
    reading.abort();
}

#[tokio::test]
async fn a_consumer_of_a_managers_embedded_stack_reads_what_it_published() {
    let config = app_metrics::Config::embedded(
        app_metrics::config::MetricsConfig::builder("consumer_of")
            .build()
            .unwrap(),
    );
    let manager = app_metrics::make_manager(&config, &Default::default()).unwrap();
    manager.initialize().await.unwrap();
    let queries = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    for i in 0..12 {
        queries.publish(roundtrip::query(i)).unwrap();
    }
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);

    // A reading application cannot reach another process's embedded broker: said so.
    let error = app_metrics::make_consumer(&config, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("consumer_of(&manager)"), "{error}");

    let consumer = app_metrics::kafka::consumer_of(&manager)
        .unwrap()
        .start_at(StartAt::Beginning)
        .stop_at_end(true)
        .build()
        .await
        .unwrap();
    let mut rows = Vec::new();
    while let Some(message) = tokio::time::timeout(TIMEOUT, consumer.recv())
        .await
        .unwrap()
        .unwrap()
    {
        rows.push(
            message
                .decode_as::<QueryEvent>()
                .await
                .unwrap()
                .payload
                .rows,
        );
    }
    let expected: Vec<i64> = (0..12).map(|i| roundtrip::query(i).rows).collect();
    assert_eq!(rows, expected);
    manager.close(TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn a_consumer_from_the_settings_reads_the_applications_topic() {
    use app_metrics::config::{KafkaConfig, RegistryConfig};
    let mut config = app_metrics::Config::new(
        app_metrics::config::MetricsConfig::builder("reader")
            .build()
            .unwrap(),
    );
    config.kafka = KafkaConfig::builder()
        .bootstrap_servers(["127.0.0.1:9"])
        .build()
        .unwrap();
    config.registry = RegistryConfig::builder()
        .url("http://127.0.0.1:9")
        .build()
        .unwrap();
    // Subscribing in a group contacts no broker yet.
    let consumer = app_metrics::make_consumer(&config, &Default::default())
        .unwrap()
        .group("readers")
        .build()
        .await
        .unwrap();
    let shown = format!("{consumer:?}");
    assert!(
        shown.contains("lsst.square.metrics.events.reader"),
        "{shown}"
    );
    // Without brokers, the same error as the manager's.
    config.kafka = KafkaConfig::builder().build_unchecked();
    let error = app_metrics::make_consumer(&config, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("KAFKA_BOOTSTRAP_SERVERS"), "{error}");
}
