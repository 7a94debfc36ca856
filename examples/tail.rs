//! Prints a topic's events as JSON lines, whoever wrote them: every record is decoded
//! through the Schema Registry by its schema id, so events of schemas this program has no
//! type for (Safir's Python publisher, any Confluent serializer) print as well as ours.
//!
//! ```sh
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 SCHEMA_MANAGER_REGISTRY_URL=http://127.0.0.1:8081 \
//! METRICS_APPLICATION=myapp cargo run --example tail -- --from-beginning --with-meta
//! ```
//!
//! One line per record: `id`, `application`, `timestamp`, `timestamp_ns`, then the
//! payload's fields (timestamps as RFC 3339, UUIDs as strings, durations as seconds, enums
//! as their symbols); `--with-meta` adds `subject`, `schema_id`, `partition`, `offset`. A
//! message that does not decode is one line on stderr with its partition and offset, and
//! tail carries on. The cluster (TLS and SASL included) and the registry come from the
//! environment, as for publishing (README, "Configuration").

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use app_metrics::config::metrics_vars;
use app_metrics::kafka::consumer::{EventConsumer, Received, StartAt};
use app_metrics::sensor::SensorDelegate;
use app_metrics::{Config, ErrorChain, make_consumer};
use clap::Parser;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// Print a topic's events as JSON lines.
#[derive(Parser)]
struct Args {
    /// Start at the oldest event kept (default: the last `--last` of each partition).
    #[arg(long)]
    from_beginning: bool,
    /// Without `--from-beginning`, how many of each partition's latest events to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    last: u32,
    /// Stop after N events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Keep waiting for new events once the end is reached.
    #[arg(long)]
    follow: bool,
    /// The topic (default: the events topic of METRICS_APPLICATION).
    #[arg(long, value_name = "T")]
    topic: Option<String>,
    /// Add the registry subject, schema id, partition and offset to each line.
    #[arg(long)]
    with_meta: bool,
}

/// The settings, read as every program on the library reads them ([`Config`]); with
/// `--topic`, `METRICS_APPLICATION` may be left unset.
fn settings(args: &Args) -> Result<Config, String> {
    let named_topic = args.topic.is_some();
    let config = Config::from_lookup(|name| match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) if named_topic && name == metrics_vars::APPLICATION.name => Some("tail".into()),
        Err(_) => None,
    })
    .map_err(|e| e.to_string())?;
    if config.registry.url().is_none() {
        return Err(
            "SCHEMA_MANAGER_REGISTRY_URL is not set: tail decodes through the registry the \
             events' schemas are in"
                .into(),
        );
    }
    Ok(config)
}

/// The line for one message: the record's fields, and the meta fields if asked for
/// (a record field of the same name keeps its value). Without them, the line is read
/// straight from the bytes to JSON text.
async fn line(
    consumer: &EventConsumer,
    message: &Received,
    with_meta: bool,
) -> Result<String, String> {
    if !with_meta {
        let (_, line) = message.decode_json().await.map_err(|e| e.to_string())?;
        return Ok(line);
    }
    let decoded = message.decode().await.map_err(|e| e.to_string())?;
    let mut record = decoded.to_json();
    if let Value::Object(fields) = &mut record {
        let raw = message.message();
        let subject = consumer.decoder().subject(decoded.schema_id()).await;
        for (key, value) in [
            ("subject", json!(subject)),
            ("schema_id", json!(decoded.schema_id())),
            ("partition", json!(raw.partition)),
            ("offset", json!(raw.offset)),
        ] {
            fields.entry(key).or_insert(value);
        }
    }
    Ok(record.to_string())
}

/// Prints the events; returns how many.
async fn run(args: Args) -> Result<u64, Box<dyn std::error::Error>> {
    let config = settings(&args)?;
    let mut builder = make_consumer(&config, &Arc::new(SensorDelegate::new()))?;
    if let Some(topic) = &args.topic {
        builder = builder.only_topic(topic);
    }
    let consumer = builder
        .start_at(if args.from_beginning {
            StartAt::Beginning
        } else {
            StartAt::Last(args.last)
        })
        .stop_at_end(!args.follow)
        .build()
        .await?;
    let mut printed = 0;
    let stdout = std::io::stdout();
    while args.count.is_none_or(|count| printed < count) {
        let Some(message) = consumer.recv().await? else {
            break;
        };
        match line(&consumer, &message, args.with_meta).await {
            Ok(line) => {
                let mut out = stdout.lock();
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
                out.flush()?;
                printed += 1;
            }
            Err(error) => eprintln!("{error}"),
        }
    }
    Ok(printed)
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
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tail: {}", ErrorChain(&*error));
            ExitCode::FAILURE
        }
    }
}
