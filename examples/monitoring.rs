//! Publishes events with monitoring attached and serves `/metrics`, `/health` and
//! `/stats` while it does.
//!
//! ```sh
//! cargo run --example monitoring --features http                          # embedded stack, 30 s
//! cargo run --example monitoring --features http -- --listen 127.0.0.1:9100 --seconds 600
//! curl -s 127.0.0.1:9100/metrics; curl -s 127.0.0.1:9100/health; curl -s 127.0.0.1:9100/stats
//! ```
//!
//! On the embedded default no Kafka is needed; with `KAFKA_BOOTSTRAP_SERVERS` (and the
//! other variables of the README) it publishes to that cluster. Monitoring settings come
//! from the environment too (`METRICS_MONITOR_*`, `METRICS_HEALTH_*`).
//!
//! `--count N` publishes exactly N events, then keeps serving until `--seconds` have
//! passed (so a scraper sees the final figures); `--consume` also reads the topic back in
//! a consumer group, monitored by the same sensors (lag, commits, rebalances, decode).
//! The last line printed is a JSON summary of what was done.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app_metrics::decode::Event;
use app_metrics::kafka::consumer::{EventConsumer, StartAt};
use app_metrics::kafka::consumer_of;
use app_metrics::monitoring::WebSensorLayer;
use app_metrics::sensor::SensorDelegate;
use app_metrics::{
    Config, ErrorChain, EventEnum, EventManager, EventPayload, EventPublisher, make_consumer,
    make_manager, setup_monitoring,
};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// How a query ran.
#[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
#[event(rename_all = "lowercase")]
enum QueryType {
    Async,
    Sync,
}

/// Information about a user-submitted query.
#[derive(EventPayload, Clone, Debug, PartialEq)]
struct QueryEvent {
    r#type: QueryType,
    duration: Duration,
    rows: i64,
}

/// Publish events with monitoring and serve its endpoints.
#[derive(Parser)]
struct Args {
    /// Address to serve /metrics, /health and /stats on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// How long to keep publishing before exiting.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Events per second.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Publish this many events, then only serve (default: publish until the end).
    #[arg(long)]
    count: Option<u64>,
    /// Also consume the topic in a consumer group, through the same sensors.
    #[arg(long)]
    consume: bool,
    /// Seconds to serve before publishing (so a scraper sees the start from zero).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
}

/// A consumer of the application's topic in the group `monitoring`, reporting to
/// `sensors`; it commits every half second. On a real cluster it is built from the
/// settings, as a separate reading application would be (its own registry client); on the
/// embedded stack, which lives in the manager, from the manager.
async fn consume(
    config: &Config,
    manager: &EventManager,
    sensors: &Arc<SensorDelegate>,
) -> Result<EventConsumer, Box<dyn std::error::Error>> {
    let builder = if config.kafka.is_embedded() {
        consumer_of(manager)?
    } else {
        make_consumer(config, sensors)?
    };
    let consumer = builder
        .start_at(StartAt::Beginning)
        .group("monitoring")
        .commit_interval(Duration::from_millis(500))
        .end_offsets_interval(Some(Duration::from_secs(1)))
        .property("session.timeout.ms", "6000")
        .build()
        .await?;
    Ok(consumer)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env_or_embedded("monitoring")?;
    if config.kafka.is_embedded() {
        eprintln!(
            "KAFKA_BOOTSTRAP_SERVERS is unset: using the embedded development broker and registry (in-process; events never leave this process)"
        );
    }
    let sensors = Arc::new(SensorDelegate::new());
    let monitoring = setup_monitoring(&sensors, config.metrics.application(), &config.monitoring)?;
    let manager = make_manager(&config, &sensors)?;
    manager.initialize().await?;
    let queries: EventPublisher<QueryEvent> = manager.create_publisher("query").await?;
    let consumed = Arc::new(AtomicU64::new(0));
    let reader = if args.consume {
        let consumer = consume(&config, &manager, &sensors).await?;
        let counted = Arc::clone(&consumed);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = consumer.recv() => match message {
                        Ok(Some(message)) => {
                            // The handler, timed by the stream-event hooks.
                            let handled = message
                                .process(|event: Event<QueryEvent>| async move { event.payload.rows })
                                .await;
                            if handled.is_ok() {
                                counted.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(None) | Err(_) => break,
                    },
                    _ = stopped.changed() => break,
                }
            }
            // Commits what was read and leaves the group before the broker goes.
            let _ = consumer.close().await;
        });
        Some((stop, task))
    } else {
        None
    };

    let app = monitoring
        .router()
        .layer(WebSensorLayer::new(Arc::clone(&sensors)));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    println!(
        "serving http://{address}/metrics, /health and /stats for {} s",
        args.seconds
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The application's own figures, exported next to the pipeline's.
    let example = monitoring.custom_sensor("example");
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1));
    let mut i: i64 = 0;
    while Instant::now() < deadline {
        ticks.tick().await;
        if args.count.is_some_and(|count| i as u64 >= count) {
            continue;
        }
        queries.publish(QueryEvent {
            r#type: if i % 3 == 0 {
                QueryType::Async
            } else {
                QueryType::Sync
            },
            duration: Duration::from_millis(10 + (i % 200) as u64),
            rows: i,
        })?;
        example.increment_counter("queries", 1);
        example.record_histogram("rows", i as f64);
        i += 1;
    }
    if let Some((stop, task)) = reader {
        let _ = stop.send(true);
        task.await?;
    }
    let report = manager.close(Duration::from_secs(30)).await?;
    let snapshot = monitoring.monitor().snapshot();
    println!(
        "published {}, delivered {}, errors {}, consumed {}; close: {report}",
        snapshot.messages_sent,
        snapshot.messages_delivered,
        snapshot.send_errors,
        consumed.load(Ordering::Relaxed)
    );
    println!("{}", serde_json::to_string(&snapshot)?);
    server.abort();
    if report.undelivered > 0 || snapshot.send_errors > 0 {
        return Err("some events were not delivered".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", ErrorChain(&*error));
            ExitCode::FAILURE
        }
    }
}
