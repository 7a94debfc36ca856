//! A bounded soak: publishes at a steady rate for a while, with the Monitor attached,
//! sampling the process's resident memory every second. At the end it prints the RSS at
//! the start and at the end and the slope after a warm-up, and fails (exit 1) unless every
//! event was delivered and memory stayed flat.
//!
//! ```sh
//! METRICS_APPLICATION=soak KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 \
//!   SCHEMA_MANAGER_REGISTRY_URL=http://127.0.0.1:8081 \
//!   cargo run --release --example soak -- --seconds 300 --rate 5000 --create-topic
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_metrics::monitoring::Monitor;
use app_metrics::sensor::SensorDelegate;
use app_metrics::{Config, ErrorChain, EventEnum, EventPayload, EventPublisher};
use clap::Parser;

#[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
enum QueryType {
    #[event(rename = "async")]
    Async,
    #[event(rename = "sync")]
    Sync,
}

/// A user-submitted query, as the quickstart's.
#[derive(EventPayload, Clone, Debug, PartialEq)]
struct QueryEvent {
    r#type: QueryType,
    duration: Duration,
    username: Option<String>,
    rows: i64,
}

#[derive(Parser, Debug)]
struct Args {
    /// How long to publish.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Events per second.
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Create the topic if it is missing.
    #[arg(long)]
    create_topic: bool,
    /// The largest RSS growth allowed after the warm-up (the first fifth of the run, and
    /// at least 20 s), in MiB per minute.
    #[arg(long, default_value_t = 1.0)]
    max_growth_mib_per_min: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

/// The resident memory, in MiB; `None` where the platform does not tell.
fn rss_mib() -> Option<f64> {
    memory_stats::memory_stats().map(|m| m.physical_mem as f64 / MIB)
}

/// The least-squares slope of `samples` (seconds, MiB), in MiB per minute.
fn slope_per_minute(samples: &[(f64, f64)]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_m = samples.iter().map(|s| s.1).sum::<f64>() / n;
    let covariance: f64 = samples
        .iter()
        .map(|(t, m)| (t - mean_t) * (m - mean_m))
        .sum();
    let variance: f64 = samples.iter().map(|(t, _)| (t - mean_t).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance * 60.0
    }
}

/// Publishes `rate` events a second for `seconds`, in 10 ms slices; returns how many
/// `publish()` accepted and refused.
fn publish_steadily(queries: &EventPublisher<QueryEvent>, rate: u64, seconds: u64) -> (u64, u64) {
    let start = Instant::now();
    let (mut accepted, mut refused) = (0, 0);
    let slices = seconds * 100;
    for slice in 0..slices {
        let due = start + Duration::from_millis(slice * 10);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let target = rate * (slice + 1) / 100;
        while accepted + refused < target {
            let i = accepted + refused;
            let event = QueryEvent {
                r#type: if i % 2 == 0 {
                    QueryType::Sync
                } else {
                    QueryType::Async
                },
                duration: Duration::from_micros(i % 100_000),
                username: (i % 3 != 0).then(|| format!("user-{}", i % 1000)),
                rows: i as i64,
            };
            match queries.publish(event) {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
    }
    (accepted, refused)
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    if args.create_topic {
        config.kafka = config.kafka.to_builder().create_topics(true).build()?;
    }
    let monitor = Arc::new(Monitor::new());
    let sensors = Arc::new(SensorDelegate::new());
    sensors.add(monitor.clone());
    let manager = app_metrics::make_manager(&config, &sensors)?;
    manager.initialize().await?;
    let queries: EventPublisher<QueryEvent> = manager.create_publisher("query").await?;

    println!(
        "soak: {} events/s for {} s to {}",
        args.rate,
        args.seconds,
        config.metrics.topic()
    );
    let started = Instant::now();
    let publishing = {
        let queries = queries.clone();
        let (rate, seconds) = (args.rate, args.seconds);
        std::thread::spawn(move || publish_steadily(&queries, rate, seconds))
    };
    let rss = || rss_mib().ok_or("this platform does not report the resident memory");
    let mut samples = vec![(0.0, rss()?)];
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    while !publishing.is_finished() {
        ticks.tick().await;
        let elapsed = started.elapsed().as_secs_f64();
        samples.push((elapsed, rss()?));
        if samples.len() % 30 == 0 {
            let s = monitor.snapshot();
            println!(
                "soak: {elapsed:>5.0} s: sent {}, delivered {}, in flight {}, RSS {:.1} MiB",
                s.messages_sent,
                s.messages_delivered,
                s.messages_in_flight,
                samples.last().map_or(0.0, |s| s.1)
            );
        }
    }
    let (accepted, refused) = publishing
        .join()
        .map_err(|_| "the publishing thread panicked")?;
    let report = manager.close(Duration::from_secs(120)).await?;
    let s = monitor.snapshot();

    let warm_up = (args.seconds as f64 / 5.0).max(20.0);
    let after_warm_up: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= warm_up)
        .collect();
    let slope = slope_per_minute(&after_warm_up);
    let at = |t: Option<&(f64, f64)>| t.map_or(0.0, |s| s.1);
    println!(
        "soak: published {accepted} (refused {refused}), delivered {}, send errors {}, {report}",
        s.messages_delivered, s.send_errors
    );
    println!(
        "soak: RSS {:.1} MiB at the start, {:.1} MiB after the warm-up ({warm_up:.0} s), {:.1} MiB \
         at the end; slope after the warm-up {slope:+.3} MiB/min (allowed {:+.3})",
        at(samples.first()),
        at(after_warm_up.first()),
        at(samples.last()),
        args.max_growth_mib_per_min
    );
    let delivered_all = refused == 0
        && s.messages_delivered == accepted
        && s.send_errors == 0
        && report.undelivered == 0;
    let flat = slope <= args.max_growth_mib_per_min;
    if !delivered_all {
        eprintln!("soak: not everything was delivered");
    }
    if !flat {
        eprintln!("soak: memory grew");
    }
    Ok(delivered_all && flat)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("soak: {}", ErrorChain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
