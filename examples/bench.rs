//! Side-by-side measurements in one process, on an in-process mock cluster: our encoder vs
//! apache-avro, `EventPublisher::publish` vs a raw rdkafka producer sending identical
//! pre-encoded bytes with the same settings, the cost of monitoring, confirmed vs
//! fire-and-forget publishing, and the memory an event takes while the broker is down.
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

use apache_avro::writer::datum::GenericDatumWriter;
use app_metrics::Config;
use app_metrics::config::{KafkaConfig, MetricsConfig, MonitoringConfig, RegistryConfig};
use app_metrics::kafka::rdkafka::config::ClientConfig;
use app_metrics::kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use app_metrics::kafka::registry::MemorySchemaRegistry;
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
    /// queued or encode.
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

/// Events per second through `EventPublisher::publish`, delivery confirmed by flush.
async fn publish(cluster: &Cluster, events: usize, monitored: bool) -> f64 {
    let (manager, backend, queries, monitoring) =
        manager(cluster, "publish", events, monitored).await;
    let payloads: Vec<QueryEvent> = (0..events).map(query).collect();
    let started = Instant::now();
    for payload in payloads {
        queries.publish(payload).expect("publish");
    }
    let report = manager.flush(TIMEOUT).await.expect("flush");
    let elapsed = started.elapsed();
    assert_eq!(report.undelivered, 0);
    assert_eq!(
        backend.stats().delivered() as usize,
        events,
        "every event delivered"
    );
    if let Some(monitoring) = &monitoring {
        assert_eq!(
            monitoring.monitor().snapshot().messages_delivered as usize,
            events
        );
    }
    manager.close(TIMEOUT).await.expect("close");
    events as f64 / elapsed.as_secs_f64()
}

/// A Confluent frame of `payload` as `application` publishes it now (schema id 1).
fn frame(application: &str, payload: &QueryEvent) -> Vec<u8> {
    let mut frame = framing::header(1).to_vec();
    EventMetadata::now(application.into()).encode_avro(&mut frame);
    app_metrics::EventPayload::encode_avro(payload, &mut frame);
    frame
}

/// Events per second through a raw rdkafka `ThreadedProducer` with the same settings,
/// sending frames encoded beforehand (same sizes as ours).
async fn raw(cluster: &Cluster, events: usize) -> f64 {
    let (_, topic) = cluster.topic("raw");
    let mut config = ClientConfig::new();
    for (key, value) in cluster.kafka(events).producer_properties("bench-raw") {
        config.set(key, value);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().expect("producer");
    let frames: Vec<Vec<u8>> = (0..events).map(|i| frame("bench_raw", &query(i))).collect();
    let started = Instant::now();
    for frame in &frames {
        let mut record = BaseRecord::<(), [u8]>::to(&topic).payload(frame.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => panic!("raw send failed: {error}"),
            }
        }
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
    let frame = frame(manager.application(), &payloads[0]);
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
            "publish" => publish(&cluster, n, false).await,
            "monitored" => publish(&cluster, n, true).await,
            "confirmed" => confirmed(&cluster, n).await,
            "queued" => queued_bytes(&cluster, n).await.0,
            "encode" => encode(n).0,
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
        let plain = publish(&cluster, n, false).await;
        let monitored = publish(&cluster, n, true).await;
        let confirmed = confirmed(&cluster, (n / 10).max(1000)).await;
        let (bytes, frame) = queued_bytes(&cluster, n).await;
        for (key, value) in [
            ("raw_events_per_sec", raw),
            ("events_per_sec", plain),
            ("monitored_events_per_sec", monitored),
            ("confirmed_events_per_sec", confirmed),
            ("encode_speedup_vs_apache_avro", theirs / ours),
            ("publish_throughput_ratio_vs_raw", plain / raw),
            ("monitor_overhead", plain / monitored - 1.0),
            ("confirmed_publish_ratio", confirmed / plain),
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
        "monitor_overhead",
        "confirmed_publish_ratio",
        "events_per_sec",
        "queued_bytes_per_event",
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
        .map(|k| format!("{k}={:.3}", figure(k)))
        .collect();
    println!("{}", line.join(" "));
}
