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

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use app_metrics::monitoring::WebSensorLayer;
use app_metrics::{Config, ErrorChain, EventEnum, EventPayload, EventPublisher, setup_monitoring};
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
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let embedded = std::env::var_os("KAFKA_BOOTSTRAP_SERVERS").is_none();
    let config = Config::from_lookup(|name| match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) if name == "METRICS_APPLICATION" && embedded => Some("monitoring".to_owned()),
        Err(_) => None,
    })?;
    let manager = app_metrics::make_manager(&config)?;
    let monitoring = setup_monitoring(&manager, &config.monitoring, Vec::new())?;
    manager.initialize().await?;
    let queries: EventPublisher<QueryEvent> = manager.create_publisher("query").await?;

    let app = monitoring
        .router()
        .layer(WebSensorLayer::new(manager.sensors().clone()));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    println!(
        "serving http://{address}/metrics, /health and /stats for {} s",
        args.seconds
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1));
    let mut i: i64 = 0;
    while Instant::now() < deadline {
        ticks.tick().await;
        queries.publish(QueryEvent {
            r#type: if i % 3 == 0 {
                QueryType::Async
            } else {
                QueryType::Sync
            },
            duration: Duration::from_millis(10 + (i % 200) as u64),
            rows: i,
        })?;
        i += 1;
    }
    let report = manager.close(Duration::from_secs(30)).await?;
    let snapshot = monitoring.monitor().snapshot();
    println!(
        "published {}, delivered {}, errors {}, undelivered {}",
        snapshot.messages_sent,
        snapshot.messages_delivered,
        snapshot.send_errors,
        report.undelivered
    );
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
