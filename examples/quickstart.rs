//! Publishes `query` and `login` events, waits for their delivery, and (on the embedded
//! default) reads them back from the topic, decoded through the registry.
//!
//! ```sh
//! cargo run --example quickstart                    # embedded broker and registry
//! cargo run --example quickstart -- --count 20 --timeout 30s
//! cargo run --example quickstart -- --check-schemas  # would the registry accept them?
//! METRICS_APPLICATION=myapp KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 \
//!   SCHEMA_MANAGER_REGISTRY_URL=http://127.0.0.1:8081 cargo run --example quickstart -- --create-topic
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use app_metrics::config::BackendKind;
use app_metrics::kafka::consumer::StartAt;
use app_metrics::kafka::consumer_of;
use app_metrics::sensor::SensorDelegate;
use app_metrics::{
    Config, ErrorChain, EventEnum, EventManager, EventMetadata, EventPayload, EventPublisher,
};
use tracing_subscriber::EnvFilter;

/// How a query ran.
#[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
enum QueryType {
    #[event(rename = "async")]
    Async,
    #[event(rename = "sync")]
    Sync,
}

/// Information about a user-submitted query.
#[derive(EventPayload, Clone, Debug, PartialEq)]
struct QueryEvent {
    /// The kind of query
    r#type: QueryType,
    /// How long the query took to run
    duration: Duration,
    /// Who ran it
    username: Option<String>,
    /// Rows returned
    rows: i64,
}

/// A user logged in.
#[derive(EventPayload, Clone, Debug, PartialEq)]
struct LoginEvent {
    username: String,
    success: bool,
    /// The identity provider, when not the default
    provider: Option<String>,
}

struct Args {
    count: u32,
    timeout: Duration,
    create_topic: bool,
    check_schemas: bool,
}

const USAGE: &str =
    "usage: quickstart [--count N] [--timeout DURATION] [--create-topic] [--check-schemas]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 5,
        timeout: Duration::from_secs(60),
        create_topic: false,
        check_schemas: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| {
            argv.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--count" => {
                let text = value("--count")?;
                args.count = text
                    .parse()
                    .map_err(|_| format!("--count {text:?} is not a whole number\n{USAGE}"))?;
            }
            "--timeout" => {
                let text = value("--timeout")?;
                args.timeout = humantime::parse_duration(&text).map_err(|error| {
                    format!("--timeout {text:?} is not a duration like 60s or 2m: {error}\n{USAGE}")
                })?;
            }
            "--create-topic" => args.create_topic = true,
            "--check-schemas" => args.check_schemas = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// Safir's environment variables; on the embedded default the application name may be
/// left unset (it is then `quickstart`).
fn load_config(args: &Args) -> Result<Config, Box<dyn std::error::Error>> {
    // An example opts in to the embedded stack when nothing is set; a service would call
    // Config::from_env, which refuses to start without brokers.
    let mut config = Config::from_env_or_embedded("quickstart")?;
    if config.kafka.is_embedded() {
        eprintln!(
            "KAFKA_BOOTSTRAP_SERVERS is unset: using the embedded development broker and registry (in-process; events never leave this process)"
        );
    }
    if args.create_topic {
        config.kafka = config.kafka.to_builder().create_topics(true).build()?;
    }
    Ok(config)
}

fn print_metadata(event: &str, metadata: &EventMetadata) {
    let line = serde_json::json!({
        "event": event,
        "id": metadata.id().to_string(),
        "application": metadata.application(),
        "timestamp": metadata.timestamp().to_rfc3339(),
        "timestamp_ns": metadata.timestamp_ns(),
    });
    println!("{line}");
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = load_config(&args)?;
    // The application's sensor hub: nothing is attached here, but a monitored
    // application gives this same hub to setup_monitoring and its consumers.
    let sensors = Arc::new(SensorDelegate::new());
    let manager = app_metrics::make_manager(&config, &sensors)?;
    let embedded = config.metrics.backend() == BackendKind::Kafka && config.kafka.is_embedded();
    eprintln!(
        "backend: {:?}{}, topic: {}",
        config.metrics.backend(),
        if embedded {
            " (embedded broker and registry)"
        } else {
            ""
        },
        manager.topic()
    );

    if args.check_schemas {
        if embedded {
            eprintln!(
                "--check-schemas on the embedded stack: its registry is new and empty, so \
                 every subject is new; set SCHEMA_MANAGER_REGISTRY_URL to check a real one"
            );
        }
        return check_schemas(&manager).await;
    }

    manager.initialize().await?;
    let queries: EventPublisher<QueryEvent> = manager.create_publisher("query").await?;
    let logins: EventPublisher<LoginEvent> = manager.create_publisher("login").await?;

    for i in 0..args.count {
        let event = QueryEvent {
            r#type: if i % 2 == 0 {
                QueryType::Sync
            } else {
                QueryType::Async
            },
            duration: Duration::from_millis(250 + 100 * u64::from(i)),
            username: (i % 3 != 2).then(|| format!("user{i}")),
            rows: i64::from(i) * 10,
        };
        print_metadata("query", &queries.publish(event)?);
    }
    let login = LoginEvent {
        username: "user0".into(),
        success: true,
        provider: None,
    };
    print_metadata("login", &logins.publish(login)?);
    let published = u64::from(args.count) + 1;

    let report = manager.flush(args.timeout).await?;
    if config.metrics.backend() == BackendKind::Kafka {
        for publisher in [
            queries.subject().zip(queries.schema_id()),
            logins.subject().zip(logins.schema_id()),
        ] {
            match publisher {
                Some((subject, id)) => eprintln!("subject: {subject}, schema id: {id}"),
                None => eprintln!("a schema is not registered yet (the registry is unreachable)"),
            }
        }
        if embedded && report.undelivered == 0 && report.dropped.total() == 0 {
            read_back(&manager, published, args.timeout).await?;
        }
    }
    let closed = manager.close(args.timeout).await?;
    // Each report counts what was lost since the previous one, by reason.
    eprintln!("flush: {report}; close: {closed}");
    let undelivered = report.undelivered.max(closed.undelivered);
    let dropped = report.dropped.total() + closed.dropped.total();
    if undelivered > 0 || dropped > 0 {
        return Err(format!(
            "of {published} events, {undelivered} were not delivered within {} and {dropped} \
             were dropped",
            humantime::format_duration(args.timeout)
        )
        .into());
    }
    Ok(())
}

/// The pre-deploy check: asks the registry whether each event's schema may be registered,
/// registering nothing; a verdict per subject, and an error if any would be refused.
async fn check_schemas(manager: &EventManager) -> Result<(), Box<dyn std::error::Error>> {
    let checks = [
        manager.check_schema::<QueryEvent>("query").await?,
        manager.check_schema::<LoginEvent>("login").await?,
    ];
    for check in &checks {
        println!("{check}");
    }
    let refused = checks.iter().filter(|c| !c.verdict.is_ok()).count();
    if refused > 0 {
        return Err(format!("{refused} of {} schemas would be refused", checks.len()).into());
    }
    Ok(())
}

/// Reads the `expected` events back from the topic of the manager's embedded broker and
/// prints each, decoded through the registry, as JSON.
async fn read_back(
    manager: &EventManager,
    expected: u64,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let consumer = consumer_of(manager)?
        .start_at(StartAt::Beginning)
        .stop_at_end(true)
        .build()
        .await?;
    let mut read = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    while read < expected {
        let Ok(message) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            return Err(format!("read back {read} of {expected} events within the timeout").into());
        };
        let Some(message) = message? else { break };
        let event = message.decode().await?;
        println!(
            "{}",
            serde_json::json!({ "schema_id": event.schema_id(), "decoded": event.to_json() })
        );
        read += 1;
    }
    eprintln!("read back {read} events from {}", manager.topic());
    if read < expected {
        return Err(format!("read back {read} of {expected} events").into());
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
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", ErrorChain(&*error));
            ExitCode::FAILURE
        }
    }
}
