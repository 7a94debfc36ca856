//! `examples/axum_app.rs` on the Mock backend: a request publishes exactly one event with
//! the right fields, the monitoring endpoints are mounted, and a graceful shutdown closes
//! the manager after the requests in progress.

#[path = "../examples/axum_app.rs"]
#[allow(dead_code)]
mod axum_app;

use std::time::Duration;

use app_metrics::Config;
use app_metrics::config::MetricsConfig;
use app_metrics::config::MonitoringConfig;
use app_metrics::mock::{ANY, Expected};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use axum_app::{QueryType, Started};

/// The settings of a test: the Mock backend, monitoring without background exporters.
fn config() -> Config {
    let mut config = Config::new(
        MetricsConfig::builder("axumapp")
            .enabled(false)
            .mock(true)
            .build()
            .unwrap(),
    );
    config.monitoring = MonitoringConfig::builder().build().unwrap();
    config
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_query_request_publishes_one_event_with_its_fields() {
    let Started {
        manager,
        monitoring,
        events,
    } = axum_app::start(&config()).await.unwrap();
    let router = axum_app::app(events.clone(), &monitoring);

    let (status, body) = get(&router, "/query?type=sync&rows=12&username=ada").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["rows"], 12);

    let published = events.query.published().expect("the Mock backend records");
    published.assert_count(1);
    published.assert_published_all(&[Expected::new()
        .field("type", QueryType::Sync)
        .field("rows", 12)
        .field("username", "ada")
        .field("duration", ANY)]);
    let id = published.events()[0].metadata.id().to_string();
    assert_eq!(answer["event_id"], id.as_str());

    // A bad request publishes nothing; the web hooks saw both, by route template.
    let (status, _) = get(&router, "/query?type=sideways&rows=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    published.assert_count(1);
    let (status, metrics) = get(&router, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains(r#"route="/query",status="200""#) && metrics.contains(r#"status="400""#),
        "{metrics}"
    );
    let (status, _) = get(&router, "/health").await;
    assert_eq!(status, StatusCode::OK);
    manager.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn shutdown_finishes_requests_then_closes_the_manager() {
    let started = axum_app::start(&config()).await.unwrap();
    let events = started.events.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(axum_app::serve(
        listener,
        started,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            b"GET /query?type=async&rows=3 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    stop.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops in time")
        .unwrap()
        .unwrap();
    assert_eq!(report.undelivered, 0);
    events.query.published().unwrap().assert_count(1);
    // The manager is closed: publishing now is an error, not a silent drop.
    let error = events
        .query
        .publish(axum_app::QueryEvent {
            r#type: QueryType::Async,
            duration: Duration::ZERO,
            username: None,
            rows: 0,
        })
        .unwrap_err();
    assert!(error.to_string().contains("closed"), "{error}");
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is gone"
    );
}
