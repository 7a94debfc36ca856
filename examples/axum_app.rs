//! The axum counterpart of Safir's FastAPI metrics example: configuration from the
//! environment, a start-up step that creates the manager and the events container, a
//! `/query` handler that publishes a `QueryEvent` through the container in the app state,
//! the monitoring router and web-hook layer mounted, and a graceful shutdown on SIGTERM
//! or Ctrl-C that flushes and closes the manager and reports undelivered events.
//!
//! ```sh
//! METRICS_APPLICATION=myapp cargo run --example axum_app --features http -- --listen 127.0.0.1:8080
//! curl '127.0.0.1:8080/query?type=sync&rows=12&username=ada'; curl 127.0.0.1:8080/metrics
//! ```
//!
//! With `KAFKA_BOOTSTRAP_SERVERS` unset it publishes on the embedded development stack (and
//! says so on stderr);
//! with `METRICS_ENABLED=false METRICS_MOCK=true` it records events for tests (as
//! `tests/axum_app.rs` does).

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_metrics::monitoring::{Monitoring, WebSensorLayer};
use app_metrics::sensor::SensorDelegate;
use app_metrics::{
    Config, DeliveryReport, ErrorChain, EventEnum, EventError, EventMaker, EventManager,
    EventPayload, EventPublisher, make_manager, setup_monitoring,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// Any error of start-up or serving.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a query ran.
#[derive(EventEnum, Clone, Copy, Debug, PartialEq, Deserialize)]
#[event(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum QueryType {
    Async,
    Sync,
}

/// Information about a user-submitted query.
#[derive(EventPayload, Clone, Debug, PartialEq)]
pub struct QueryEvent {
    /// The kind of query
    pub r#type: QueryType,
    /// How long the query took to run
    pub duration: Duration,
    /// Who ran it, if known
    pub username: Option<String>,
    /// How many rows it returned
    pub rows: i64,
}

/// Every publisher of the application, built once at start-up (Safir's `Events`).
pub struct Events {
    pub query: EventPublisher<QueryEvent>,
}

impl EventMaker for Events {
    async fn make(manager: &EventManager) -> Result<Self, EventError> {
        Ok(Self {
            query: manager.create_publisher("query").await?,
        })
    }
}

/// What `/query` takes.
#[derive(Debug, Deserialize)]
pub struct QueryParams {
    r#type: QueryType,
    rows: i64,
    username: Option<String>,
}

/// Runs a (pretend) query and publishes a `QueryEvent` about it.
async fn query(State(events): State<Arc<Events>>, Query(params): Query<QueryParams>) -> Response {
    let started = Instant::now();
    // The application's work would go here.
    let event = QueryEvent {
        r#type: params.r#type,
        duration: started.elapsed(),
        username: params.username,
        rows: params.rows,
    };
    match events.query.publish(event) {
        Ok(metadata) => {
            Json(json!({ "rows": params.rows, "event_id": metadata.id() })).into_response()
        }
        // Only in strict mode (METRICS_RAISE_ON_ERROR): the default drops and counts.
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("metrics: {}", ErrorChain(&error)),
        )
            .into_response(),
    }
}

/// The application's router: its own routes, the monitoring endpoints, and the layer
/// that reports every request to the sensors.
pub fn app(events: Arc<Events>, monitoring: &Monitoring) -> Router {
    Router::new()
        .route("/query", get(query))
        .with_state(events)
        .merge(monitoring.router())
        .layer(WebSensorLayer::new(Arc::clone(monitoring.sensors())))
}

/// Everything the application starts with: manager, monitoring, events.
pub struct Started {
    pub manager: EventManager,
    pub monitoring: Monitoring,
    pub events: Arc<Events>,
}

/// The start-up step (Safir's lifespan): the application's sensor hub with monitoring
/// attached, the manager the settings select reporting to it, initialized, and the events
/// container.
pub async fn start(config: &Config) -> Result<Started, BoxError> {
    let sensors = Arc::new(SensorDelegate::new());
    let monitoring = setup_monitoring(&sensors, config.metrics.application(), &config.monitoring)?;
    let manager = make_manager(config, &sensors)?;
    manager.initialize().await?;
    let events = manager.make_events::<Events>().await?;
    Ok(Started {
        manager,
        monitoring,
        events,
    })
}

/// Serves `started` on `listener` until `shutdown` completes, then lets requests in
/// progress finish, flushes and closes the manager (waiting at most `close_timeout`) and
/// returns what could not be delivered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    started: Started,
    shutdown: impl Future<Output = ()> + Send + 'static,
    close_timeout: Duration,
) -> Result<DeliveryReport, BoxError> {
    let Started {
        manager,
        monitoring,
        events,
    } = started;
    let router = app(events, &monitoring);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    let report = manager.close(close_timeout).await?;
    drop(monitoring);
    Ok(report)
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                eprintln!("cannot watch for SIGTERM ({error}); Ctrl-C still stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    eprintln!("shutting down: finishing requests, then flushing metrics events");
}

/// Serve the example application.
#[derive(clap::Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

#[allow(dead_code)] // tests include this file for its app, not its main
#[tokio::main]
async fn main() -> ExitCode {
    let Args { listen } = clap::Parser::parse();
    let outcome = async {
        let config = Config::from_env_or_embedded("axum_app")?;
        if config.kafka.is_embedded() {
            eprintln!(
                "KAFKA_BOOTSTRAP_SERVERS is unset: using the embedded development broker and registry (in-process; events never leave this process)"
            );
        }
        let started = start(&config).await?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        eprintln!("listening on http://{}", listener.local_addr()?);
        serve(
            listener,
            started,
            shutdown_signal(),
            Duration::from_secs(10),
        )
        .await
    };
    match outcome.await {
        Ok(report) if report.undelivered == 0 && report.dropped.total() == 0 => {
            eprintln!("every metrics event was delivered");
            ExitCode::SUCCESS
        }
        Ok(report) => {
            eprintln!("metrics events were lost: {report}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {}", ErrorChain(&*error));
            ExitCode::FAILURE
        }
    }
}
