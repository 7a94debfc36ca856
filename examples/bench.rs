//! Side-by-side measurements in one process, on an in-process mock cluster: our encoder vs
//! apache-avro, `EventPublisher::publish` vs a raw rdkafka producer sending identical
//! pre-encoded bytes with the same settings and vs the bound the mandatory per-event work
//! sets, the cost of monitoring, confirmed vs fire-and-forget publishing, the memory an
//! event takes while the broker is down; our decoders vs apache-avro's, `EventConsumer`
//! vs a raw rdkafka consumer, and the `tail` example's throughput.
//!
//! ```sh
//! cargo run --release --features prometheus --example bench -- --events 200000 --runs 3
//! ```
//!
//! Each figure is the median over `--runs` rounds; within a round the sides run one after
//! the other, so a noisy neighbour slows both alike. The last line is `key=value` pairs.

#[path = "../benches/support/event.rs"]
mod event;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use app_metrics::Config;
use app_metrics::config::{KafkaConfig, MetricsConfig, MonitoringConfig, RegistryConfig};
use app_metrics::decode::Event;
use app_metrics::kafka::consumer::{EventConsumer, StartAt, WriterSchema};
use app_metrics::kafka::rdkafka::Offset;
use app_metrics::kafka::rdkafka::TopicPartitionList;
use app_metrics::kafka::rdkafka::config::ClientConfig;
use app_metrics::kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use app_metrics::kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use app_metrics::kafka::rdkafka::message::Message;
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use app_metrics::kafka::registry::{MemorySchemaRegistry, SchemaRegistry};
use app_metrics::kafka::{KafkaBackend, framing};
use app_metrics::sensor::SensorDelegate;
use app_metrics::{EventManager, EventMetadata, EventPublisher, setup_monitoring};
use clap::Parser;
use event::QueryEvent;

/// Measure app-metrics against its references.
#[derive(Parser)]
struct Args {
    /// Events per measurement.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Rounds; each figure is the median.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Print the figures as one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Run only this measurement, for a profiler: raw, publish, monitored, confirmed,
    /// queued, encode, decode, consume or tail.
    #[arg(long)]
    only: Option<String>,
    /// A Kafka client property for every producer, raw and ours (`linger.ms=20`);
    /// repeatable, to compare producer settings.
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = property)]
    properties: Vec<(String, String)>,
}

fn property(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

const TIMEOUT: Duration = Duration::from_secs(120);

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The event of number `i`.
fn query(i: usize) -> QueryEvent {
    let (_, mut query) = event::sample();
    query.rows = i as i64;
    query
}

/// The mock cluster every side uses, and a fresh topic name per measurement.
struct Cluster {
    cluster: MockCluster<'static, DefaultProducerContext>,
    topics: AtomicUsize,
    properties: Vec<(String, String)>,
}

impl Cluster {
    fn topic(&self, application: &str) -> (String, String) {
        let n = self.topics.fetch_add(1, Ordering::Relaxed);
        let application = format!("{application}_{n}");
        let topic = format!("lsst.square.metrics.events.{application}");
        self.cluster.create_topic(&topic, 1, 1).expect("topic");
        (application, topic)
    }

    /// The Kafka settings of every side: this cluster, a queue that holds every event.
    fn kafka(&self, events: usize) -> KafkaConfig {
        KafkaConfig::builder()
            .bootstrap_servers([self.cluster.bootstrap_servers()])
            .queue_max_messages((events * 2).max(100_000))
            .extra_properties(self.properties.clone())
            .build()
            .expect("valid Kafka settings")
    }

    /// A raw rdkafka producer with the settings every side uses.
    fn raw_producer(
        &self,
        events: usize,
        client_id: &str,
    ) -> ThreadedProducer<DefaultProducerContext> {
        let mut config = ClientConfig::new();
        for (key, value) in self.kafka(events).producer_properties(client_id) {
            config.set(key, value);
        }
        config.create().expect("producer")
    }
}

/// Sends `frame` to `topic` through a raw producer, waiting while its queue is full.
fn send(producer: &ThreadedProducer<DefaultProducerContext>, topic: &str, frame: &[u8]) {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(frame);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((error, _)) => panic!("raw send failed: {error}"),
        }
    }
}

/// A manager publishing to `cluster`, with monitoring (Monitor, Prometheus, health) or not.
async fn manager(
    cluster: &Cluster,
    name: &str,
    events: usize,
    monitored: bool,
) -> (
    EventManager,
    Arc<KafkaBackend>,
    EventPublisher<QueryEvent>,
    Option<app_metrics::monitoring::Monitoring>,
) {
    let (application, _) = cluster.topic(name);
    let mut config = Config::new(MetricsConfig::builder(application).build().expect("valid"));
    config.kafka = cluster.kafka(events);
    config.registry = RegistryConfig::builder()
        .url("http://127.0.0.1:9")
        .build()
        .expect("valid");
    let backend = Arc::new(
        KafkaBackend::builder(&config.metrics)
            .kafka(&config.kafka)
            .registry(&config.registry)
            .registry_client(Arc::new(MemorySchemaRegistry::new()))
            .build()
            .expect("backend"),
    );
    let sensors = Arc::new(SensorDelegate::new());
    let manager = EventManager::new(&config.metrics, backend.clone() as _, Arc::clone(&sensors));
    let monitoring = monitored.then(|| {
        setup_monitoring(
            &sensors,
            "bench",
            &MonitoringConfig::builder().build().expect("valid"),
        )
        .expect("monitoring")
    });
    manager.initialize().await.expect("initialize");
    let publisher = manager.create_publisher("query").await.expect("publisher");
    (manager, backend, publisher, monitoring)
}

/// A throughput and what it cost: CPU time of the whole process (every thread: ours,
/// librdkafka's, the mock broker's) per event. On a shared machine the CPU time is the
/// steadier of the two.
#[derive(Clone, Copy)]
struct Rate {
    per_sec: f64,
    cpu_ns: f64,
}

impl Rate {
    /// Times `events` through `run`, by the wall clock and by the process's CPU clock.
    async fn of(events: usize, run: impl std::future::Future<Output = ()>) -> Self {
        let (wall, cpu) = (Instant::now(), cpu_time::ProcessTime::now());
        run.await;
        let (wall, cpu) = (wall.elapsed(), cpu.elapsed());
        Self {
            per_sec: events as f64 / wall.as_secs_f64(),
            cpu_ns: cpu.as_nanos() as f64 / events as f64,
        }
    }
}

/// Events through `EventPublisher::publish`, delivery confirmed by flush.
async fn publish(cluster: &Cluster, events: usize, monitored: bool) -> Rate {
    let (manager, backend, queries, monitoring) =
        manager(cluster, "publish", events, monitored).await;
    let payloads: Vec<QueryEvent> = (0..events).map(query).collect();
    let rate = Rate::of(events, async {
        for payload in payloads {
            queries.publish(payload).expect("publish");
        }
        let report = manager.flush(TIMEOUT).await.expect("flush");
        assert_eq!(report.undelivered, 0);
    })
    .await;
    assert_eq!(
        backend.stats().delivered() as usize,
        events,
        "every event delivered"
    );
    if let Some(monitoring) = &monitoring {
        let snapshot = monitoring.monitor().snapshot();
        assert_eq!(
            (snapshot.messages_sent, snapshot.messages_delivered),
            (events as u64, events as u64),
            "the Monitor counts every event"
        );
    }
    manager.close(TIMEOUT).await.expect("close");
    rate
}

/// Rounds of plain and monitored publishing, interleaved and in alternating order, so
/// that a neighbour's load or the machine's drift weighs on both alike.
const MONITOR_PAIRS: usize = 3;

/// The cost of monitoring: the median over [`MONITOR_PAIRS`] interleaved pairs of the
/// throughput lost (`plain / monitored - 1`) and of the CPU time added per event
/// (`monitored / plain - 1`); and the plain and monitored rates of the median pair.
async fn monitor_overhead(cluster: &Cluster, events: usize) -> (f64, f64, Rate, Rate) {
    let mut pairs = Vec::new();
    for i in 0..MONITOR_PAIRS {
        let (plain, monitored) = if i % 2 == 0 {
            let plain = publish(cluster, events, false).await;
            (plain, publish(cluster, events, true).await)
        } else {
            let monitored = publish(cluster, events, true).await;
            (publish(cluster, events, false).await, monitored)
        };
        pairs.push((plain, monitored));
    }
    let throughput = median(
        pairs
            .iter()
            .map(|(p, m)| p.per_sec / m.per_sec - 1.0)
            .collect(),
    );
    let cpu = median(
        pairs
            .iter()
            .map(|(p, m)| m.cpu_ns / p.cpu_ns - 1.0)
            .collect(),
    );
    pairs.sort_by(|a, b| (a.0.per_sec / a.1.per_sec).total_cmp(&(b.0.per_sec / b.1.per_sec)));
    let (plain, monitored) = pairs[pairs.len() / 2];
    (throughput, cpu, plain, monitored)
}

/// A Confluent frame of `payload` as `application` publishes it now, under schema `id`.
fn frame(application: &str, id: u32, payload: &QueryEvent) -> Vec<u8> {
    let mut frame = framing::header(id).to_vec();
    EventMetadata::now(application.into()).encode_avro(&mut frame);
    app_metrics::EventPayload::encode_avro(payload, &mut frame);
    frame
}

/// Events per second through a raw rdkafka `ThreadedProducer` with the same settings,
/// sending frames encoded beforehand (same sizes as ours).
async fn raw(cluster: &Cluster, events: usize) -> f64 {
    let (_, topic) = cluster.topic("raw");
    let producer = cluster.raw_producer(events, "bench-raw");
    let frames: Vec<Vec<u8>> = (0..events)
        .map(|i| frame("bench_raw", 1, &query(i)))
        .collect();
    let started = Instant::now();
    for frame in &frames {
        send(&producer, &topic, frame);
    }
    // Flushed in the same short steps as the backend's flush, so both sides stop the
    // clock as soon as the last acknowledgement is in.
    let deadline = Instant::now() + TIMEOUT;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        let _ = producer.flush(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    assert_eq!(producer.in_flight_count(), 0);
    events as f64 / elapsed.as_secs_f64()
}

/// Events per second through `publish_confirmed` from 1,000 concurrent tasks.
async fn confirmed(cluster: &Cluster, events: usize) -> f64 {
    let (manager, _, queries, _) = manager(cluster, "confirmed", events, false).await;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (queries, next) = (queries.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < events {
                    queries
                        .publish_confirmed(query(0))
                        .await
                        .expect("acknowledged");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let elapsed = started.elapsed();
    manager.close(TIMEOUT).await.expect("close");
    events as f64 / elapsed.as_secs_f64()
}

/// Resident memory growth per event queued while the broker is down, and the framed
/// event size.
async fn queued_bytes(cluster: &Cluster, events: usize) -> (f64, usize) {
    let (manager, backend, queries, _) = manager(cluster, "queued", events, false).await;
    let payloads: Vec<QueryEvent> = (0..events).map(query).collect();
    let frame = frame(manager.application(), 1, &payloads[0]);
    cluster.cluster.broker_down(1).expect("broker down");
    let rss = || memory_stats::memory_stats().map_or(0, |m| m.physical_mem) as f64;
    let before = rss();
    for payload in payloads {
        queries.publish(payload).expect("publish");
    }
    let after = rss();
    assert_eq!(
        backend.stats().enqueued() as usize,
        events,
        "every event queued"
    );
    cluster.cluster.broker_up(1).expect("broker up");
    manager.close(TIMEOUT).await.expect("close");
    ((after - before) / events as f64, frame.len())
}

/// Nanoseconds per event of the work every publish must do before the producer: a new
/// `EventMetadata` (a wall-clock reading and a v4 UUID) and the encoding of the metadata
/// and the payload. With the raw producer's cost, it bounds what any publish path reaches.
fn mandatory_ns(events: usize) -> f64 {
    let (_, query) = event::sample();
    let mut buf = Vec::with_capacity(256);
    let started = Instant::now();
    for _ in 0..events {
        let meta = EventMetadata::now(black_box("benchmark").into());
        event::encode_ours(&mut buf, black_box(&meta), black_box(&query));
        black_box(&buf);
    }
    started.elapsed().as_nanos() as f64 / events as f64
}

/// Nanoseconds per decode of one event body: ours typed (`Event::<P>::decode_avro`, what
/// `decode_as` runs), apache-avro typed (a prebuilt `GenericDatumReader`: `read_value`,
/// then `from_value` into a serde struct), ours as a line of JSON text for any schema
/// (`WriterSchema::decode_json`, what `tail` prints), apache-avro as a line of JSON text
/// (`read_value`, its `Value` to `serde_json`, then the text), apache-avro's fastest
/// typed path (`read_deser`, no `Value`), and apache-avro to a `serde_json::Value`
/// without the text. Medians of 15 interleaved rounds.
fn decode(events: usize) -> [f64; 6] {
    const ROUNDS: usize = 15;
    let (meta, query, body) = event::encoded_sample();
    let schema = event::schema();
    let writer =
        Arc::new(WriterSchema::parse(1, &event::schema_text()).expect("our schema parses"));
    // Both sides read the same values back before anything is timed.
    let ours = Event::<QueryEvent>::decode_avro(&body).expect("ours decodes");
    // (Timestamps keep milliseconds, as the schema says.)
    assert_eq!(
        (ours.metadata.id(), ours.payload.rows, ours.payload.query_id),
        (meta.id(), query.rows, query.query_id)
    );
    // Human-readable, so that serde reads a uuid from its text, as the schema stores it.
    let reader = GenericDatumReader::builder(&schema)
        .human_readable(true)
        .build()
        .expect("reader");
    let value = reader.read_value(&mut body.as_slice()).expect("datum");
    let theirs: event::DecodedQueryEvent =
        reader.read_deser(&mut body.as_slice()).expect("read_deser");
    assert_eq!((theirs.rows, theirs.id), (query.rows, meta.id()));
    // The same fields; ours renders timestamps as RFC 3339 text, apache-avro as numbers.
    let (ours_json, theirs_json) = (
        writer.decode(&body).expect("json").to_json(),
        serde_json::Value::try_from(value).expect("apache-avro to JSON"),
    );
    let ours_text = writer.decode_json(&body).expect("JSON text");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ours_text).expect("valid JSON"),
        ours_json,
        "the text says what the value does"
    );
    let keys = |json: &serde_json::Value| {
        json.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
    };
    assert_eq!(keys(&ours_json), keys(&theirs_json));
    assert_eq!(ours_json["query_id"], theirs_json["query_id"]);
    let per_round = (events / ROUNDS).max(1000);
    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..per_round {
            f();
        }
        started.elapsed().as_nanos() as f64 / per_round as f64
    };
    let mut rounds: [Vec<f64>; 6] = Default::default();
    for _ in 0..ROUNDS {
        rounds[0].push(time(&mut || {
            black_box(Event::<QueryEvent>::decode_avro(black_box(&body)).expect("ours"));
        }));
        rounds[1].push(time(&mut || {
            let value = reader.read_value(&mut black_box(&body[..])).expect("datum");
            black_box(apache_avro::from_value::<event::DecodedQueryEvent>(&value).expect("typed"));
        }));
        rounds[4].push(time(&mut || {
            black_box(
                reader
                    .read_deser::<event::DecodedQueryEvent>(&mut black_box(&body[..]))
                    .expect("typed"),
            );
        }));
        rounds[2].push(time(&mut || {
            black_box(writer.decode_json(black_box(&body)).expect("ours"));
        }));
        rounds[3].push(time(&mut || {
            let value = reader.read_value(&mut black_box(&body[..])).expect("datum");
            let json = serde_json::Value::try_from(value).expect("json");
            black_box(serde_json::to_string(&json).expect("text"));
        }));
        rounds[5].push(time(&mut || {
            let value = reader.read_value(&mut black_box(&body[..])).expect("datum");
            black_box(serde_json::Value::try_from(value).expect("json"));
        }));
    }
    rounds.map(median)
}

/// A fresh topic holding `events` query events framed as our publisher frames them (the
/// schema registered in `registry`), written by a raw producer; the topic and schema id.
async fn filled_topic(
    cluster: &Cluster,
    registry: &MemorySchemaRegistry,
    events: usize,
) -> (String, u32) {
    let (application, topic) = cluster.topic("consumed");
    let schema = app_metrics::schema::record_schema::<QueryEvent>("query", &topic).expect("names");
    let id = registry
        .register(&format!("{topic}.query"), &schema)
        .await
        .expect("registered");
    let producer = cluster.raw_producer(events, "bench-fill");
    for i in 0..events {
        send(&producer, &topic, &frame(&application, id, &query(i)));
    }
    producer.flush(TIMEOUT).expect("flushed");
    (topic, id)
}

/// At most this many events are read back: the mock cluster keeps a bounded log per
/// partition, so the oldest of a larger topic are gone before a reader starts.
const READ_BACK_MAX: usize = 20_000;

/// The next message of `recv`, or a panic after `TIMEOUT`: a measurement never hangs.
async fn within<T>(recv: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, recv)
        .await
        .expect("a message within the timeout")
}

/// Rounds of each consumer over the same topic, interleaved: one read of at most
/// [`READ_BACK_MAX`] events is a few tens of milliseconds, too short to judge alone.
const CONSUME_ROUNDS: usize = 5;

/// Events per second read from a topic of `events` (at most [`READ_BACK_MAX`]): through
/// `EventConsumer` with the typed decode, and through a raw rdkafka `StreamConsumer` with
/// the same client properties, touching each payload; the same topic, both from the
/// beginning, without a group, each with a fresh consumer per round. The medians over
/// [`CONSUME_ROUNDS`] rounds.
async fn consume(cluster: &Cluster, events: usize) -> (f64, f64) {
    let events = events.min(READ_BACK_MAX);
    let registry = Arc::new(MemorySchemaRegistry::new());
    let (topic, _) = filled_topic(cluster, &registry, events).await;
    let bootstrap = cluster.cluster.bootstrap_servers();
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..CONSUME_ROUNDS {
        raw.push(consume_raw(&bootstrap, &topic, events).await);
        ours.push(consume_ours(&bootstrap, &registry, &topic, events).await);
    }
    (median(ours), median(raw))
}

/// Events per second through a raw rdkafka `StreamConsumer`, touching each payload.
async fn consume_raw(bootstrap: &str, topic: &str, events: usize) -> f64 {
    let raw: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-raw")
        .set("enable.auto.commit", "false")
        .create()
        .expect("raw consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    raw.assign(&assignment).expect("assign");
    // Both clocks start at the first message: connecting and the first fetch are not
    // reading.
    let mut bytes = within(raw.recv())
        .await
        .expect("raw message")
        .payload()
        .map_or(0, <[u8]>::len);
    let started = Instant::now();
    for _ in 1..events {
        let message = within(raw.recv()).await.expect("raw message");
        bytes += message.payload().map_or(0, <[u8]>::len);
    }
    let rate = (events - 1) as f64 / started.elapsed().as_secs_f64();
    black_box(bytes);
    rate
}

/// Events per second through `EventConsumer` with the typed decode.
async fn consume_ours(
    bootstrap: &str,
    registry: &Arc<MemorySchemaRegistry>,
    topic: &str,
    events: usize,
) -> f64 {
    let properties = [("bootstrap.servers".to_owned(), bootstrap.to_owned())]
        .into_iter()
        .collect();
    let ours = EventConsumer::with_properties(properties, Arc::clone(registry) as _)
        .topic(topic)
        .start_at(StartAt::Beginning)
        .build()
        .await
        .expect("our consumer");
    let mut rows = 0;
    let mut started = Instant::now();
    for i in 0..events {
        let message = within(ours.recv()).await.expect("recv").expect("a message");
        rows += message
            .decode_as::<QueryEvent>()
            .await
            .expect("typed decode")
            .payload
            .rows;
        if i == 0 {
            started = Instant::now();
        }
    }
    let rate = (events - 1) as f64 / started.elapsed().as_secs_f64();
    assert_eq!(
        rows,
        (0..events as i64).sum::<i64>(),
        "every event read once"
    );
    rate
}

/// Events per second through the `tail` example (built next to this one:
/// `cargo build --release --example tail`), writing to /dev/null: decode by schema id
/// through an HTTP registry (wiremock on 127.0.0.1), JSON, one line per event. `None`
/// when the binary is not built.
async fn tail(cluster: &Cluster, events: usize) -> Option<f64> {
    let events = events.min(READ_BACK_MAX);
    let binary = std::env::current_exe().ok()?.with_file_name("tail");
    if !binary.exists() {
        eprintln!(
            "tail_events_per_sec skipped: build it with `cargo build --release --example tail`"
        );
        return None;
    }
    let registry = MemorySchemaRegistry::new();
    let (topic, id) = filled_topic(cluster, &registry, events).await;
    let server = wiremock::MockServer::start().await;
    let text = registry.schema_by_id(id).await.expect("schema");
    wiremock::Mock::given(wiremock::matchers::path(format!("/schemas/ids/{id}")))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "schema": text })),
        )
        .mount(&server)
        .await;
    let started = Instant::now();
    let status = tokio::process::Command::new(&binary)
        .kill_on_drop(true)
        .args([
            "--from-beginning",
            "--count",
            &events.to_string(),
            "--topic",
            &topic,
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "KAFKA_BOOTSTRAP_SERVERS",
            cluster.cluster.bootstrap_servers(),
        )
        .env("SCHEMA_MANAGER_REGISTRY_URL", server.uri())
        .stdout(std::process::Stdio::null())
        .status();
    let status = within(status).await.expect("tail runs");
    assert!(status.success(), "tail failed: {status}");
    Some(events as f64 / started.elapsed().as_secs_f64())
}

/// Nanoseconds per encode, ours and apache-avro's `write_ser`: the medians of 15 rounds,
/// the two sides interleaved so a noisy neighbour slows both alike.
fn encode(events: usize) -> (f64, f64) {
    const ROUNDS: usize = 15;
    let (meta, query) = event::sample();
    let schema = event::schema();
    let writer = GenericDatumWriter::builder(&schema)
        .build()
        .expect("writer");
    event::assert_identical(&writer, &meta, &query);
    let (mut ours, mut theirs) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let per_round = (events / ROUNDS).max(1000);
    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..per_round {
            f();
        }
        started.elapsed().as_nanos() as f64 / per_round as f64
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(time(&mut || {
            event::encode_ours(&mut ours, black_box(&meta), black_box(&query))
        }));
        b.push(time(&mut || {
            event::encode_apache(&writer, &mut theirs, black_box(&meta), black_box(&query))
        }));
    }
    (median(a), median(b))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cluster = Cluster {
        cluster: MockCluster::new(1).expect("mock cluster"),
        topics: AtomicUsize::new(0),
        properties: args.properties.clone(),
    };
    let n = args.events;
    if let Some(only) = &args.only {
        let figure = match only.as_str() {
            "raw" => raw(&cluster, n).await,
            "publish" => publish(&cluster, n, false).await.per_sec,
            "monitored" => publish(&cluster, n, true).await.per_sec,
            "confirmed" => confirmed(&cluster, n).await,
            "queued" => queued_bytes(&cluster, n).await.0,
            "encode" => encode(n).0,
            "decode" => decode(n)[0],
            "consume" => consume(&cluster, n).await.0,
            "tail" => tail(&cluster, n).await.unwrap_or(0.0),
            other => panic!("unknown measurement {other:?}"),
        };
        println!("{only}: {figure:.1}");
        return;
    }
    let mut rows: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for run in 0..args.runs {
        let (ours, theirs) = encode(n);
        rows.entry("encode_ns").or_default().push(ours);
        rows.entry("encode_apache_avro_ns")
            .or_default()
            .push(theirs);
        let raw = raw(&cluster, n).await;
        let (overhead, cpu_overhead, plain, monitored) = monitor_overhead(&cluster, n).await;
        let confirmed = confirmed(&cluster, (n / 10).max(1000)).await;
        let (bytes, frame) = queued_bytes(&cluster, n).await;
        let mandatory = mandatory_ns(n);
        let [
            ours_typed,
            apache_typed,
            ours_json,
            apache_json,
            apache_deser,
            apache_json_value,
        ] = decode(n);
        let (consumed, raw_consumed) = consume(&cluster, n).await;
        if let Some(tailed) = tail(&cluster, n).await {
            rows.entry("tail_events_per_sec").or_default().push(tailed);
        }
        // The best ratio any publish path could reach here: the raw producer's cost plus
        // the work every event needs before it (metadata and encoding, timed in this run).
        let raw_ns = 1e9 / raw;
        let bound = raw_ns / (raw_ns + mandatory);
        for (key, value) in [
            ("mandatory_ns", mandatory),
            ("publish_bound_vs_raw", bound),
            ("publish_vs_bound", plain.per_sec / raw / bound),
            ("monitor_overhead", overhead),
            ("monitor_cpu_overhead", cpu_overhead),
            ("cpu_ns_per_event", plain.cpu_ns),
            ("monitored_cpu_ns_per_event", monitored.cpu_ns),
            ("decode_ns", ours_typed),
            ("decode_apache_avro_ns", apache_typed),
            ("decode_speedup_vs_apache_avro", apache_typed / ours_typed),
            ("decode_apache_avro_read_deser_ns", apache_deser),
            ("json_decode_ns", ours_json),
            ("json_decode_apache_avro_ns", apache_json),
            ("json_decode_apache_avro_value_ns", apache_json_value),
            (
                "json_decode_speedup_vs_apache_avro",
                apache_json / ours_json,
            ),
            ("consumed_events_per_sec", consumed),
            ("raw_consumed_events_per_sec", raw_consumed),
            ("consume_ratio_vs_raw", consumed / raw_consumed),
            // The best any consumer with a typed decode could reach here: the raw
            // consumer's cost per message plus the decode alone.
            (
                "consume_bound_vs_raw",
                (1e9 / raw_consumed) / (1e9 / raw_consumed + ours_typed),
            ),
        ] {
            rows.entry(key).or_default().push(value);
        }
        for (key, value) in [
            ("raw_events_per_sec", raw),
            ("events_per_sec", plain.per_sec),
            ("monitored_events_per_sec", monitored.per_sec),
            ("confirmed_events_per_sec", confirmed),
            ("encode_speedup_vs_apache_avro", theirs / ours),
            ("publish_throughput_ratio_vs_raw", plain.per_sec / raw),
            ("confirmed_publish_ratio", confirmed / plain.per_sec),
            ("queued_bytes_per_event", bytes),
            ("framed_event_bytes", frame as f64),
        ] {
            rows.entry(key).or_default().push(value);
        }
        eprintln!("run {}/{} done", run + 1, args.runs);
    }
    let figure = |key: &str| median(rows[key].clone());
    let keys = [
        "encode_speedup_vs_apache_avro",
        "publish_throughput_ratio_vs_raw",
        "publish_bound_vs_raw",
        "monitor_overhead",
        "monitor_cpu_overhead",
        "confirmed_publish_ratio",
        "events_per_sec",
        "queued_bytes_per_event",
        "decode_speedup_vs_apache_avro",
        "json_decode_speedup_vs_apache_avro",
        "consume_ratio_vs_raw",
        "consume_bound_vs_raw",
        "tail_events_per_sec",
    ];
    if args.json {
        let all: serde_json::Map<String, serde_json::Value> = rows
            .keys()
            .map(|k| ((*k).to_owned(), serde_json::json!(figure(k))))
            .collect();
        println!("{}", serde_json::Value::Object(all));
        return;
    }
    println!("{} events per measurement, median of {} runs", n, args.runs);
    println!("| figure | median | runs |\n|---|---|---|");
    for (key, values) in &rows {
        let shown: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
        println!("| {key} | {:.3} | {} |", figure(key), shown.join(", "));
    }
    let line: Vec<String> = keys
        .iter()
        .filter(|k| rows.contains_key(*k))
        .map(|k| format!("{k}={:.3}", figure(k)))
        .collect();
    println!("{}", line.join(" "));
}
