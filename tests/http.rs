//! The monitoring router and the web-hook layer, through `tower::ServiceExt::oneshot`:
//! `/metrics` by content negotiation (both formats parsed back), `/stats`, `/health`
//! turning 503 while the mock cluster's broker is down and 200 once it is back, and route
//! templates (never raw paths) in the web metrics.

mod common;

use std::time::{Duration, Instant};

use app_metrics::config::MonitoringConfig;
use app_metrics::kafka::rdkafka::mocking::MockCluster;
use app_metrics::monitoring::{Monitoring, WebSensorLayer};
use app_metrics::setup_monitoring;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use common::QueryEvent;
use common::roundtrip::{self, TIMEOUT};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get_path(
    router: &Router,
    path: &str,
    accept: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request = Request::get(path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

async fn monitored_publisher(
    config: &app_metrics::Config,
    monitoring: MonitoringConfig,
) -> (
    app_metrics::EventManager,
    Monitoring,
    app_metrics::EventPublisher<QueryEvent>,
) {
    let sensors = std::sync::Arc::default();
    let monitoring = setup_monitoring(&sensors, config.metrics.application(), &monitoring).unwrap();
    let manager = app_metrics::make_manager(config, &sensors).unwrap();
    manager.initialize().await.unwrap();
    let queries = manager.create_publisher("query").await.unwrap();
    (manager, monitoring, queries)
}

#[tokio::test]
async fn metrics_are_served_in_the_format_the_scraper_asks_for() {
    let config = common::embedded_config("served");
    let (manager, monitoring, queries) =
        monitored_publisher(&config, MonitoringConfig::builder().build().unwrap()).await;
    for i in 0..3 {
        queries.publish(roundtrip::query(i)).unwrap();
    }
    manager.flush(TIMEOUT).await.unwrap();
    let router = monitoring.router();

    let prometheus_accept =
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, content_type, text) = get_path(&router, "/metrics", Some(prometheus_accept)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let exposition =
        openmetrics_parser::openmetrics::parse_openmetrics(&text).expect("OpenMetrics");
    assert!(
        exposition
            .families
            .contains_key("app_metrics_messages_sent")
    );

    let (_, content_type, text) = get_path(&router, "/metrics", None).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let classic =
        openmetrics_parser::prometheus::parse_prometheus(&text).expect("classic text format");
    assert!(
        classic
            .families
            .contains_key("app_metrics_messages_delivered_total")
    );

    let (status, content_type, text) = get_path(&router, "/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/json"));
    let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["messages_sent"], 3);
    assert_eq!(stats["messages_delivered"], 3);

    let (status, _, text) = get_path(&router, "/health", None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let health: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(health["healthy"], true);
    manager.close(TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn web_metrics_use_route_templates_not_raw_paths() {
    let config = common::embedded_config("web");
    let manager = app_metrics::make_manager(&config, &Default::default()).unwrap();
    let monitoring = setup_monitoring(
        manager.sensors(),
        manager.application(),
        &MonitoringConfig::builder().build().unwrap(),
    )
    .unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "hello" }))
        .merge(monitoring.router())
        .layer(WebSensorLayer::new(manager.sensors().clone()));
    for path in ["/users/1", "/users/2", "/users/3", "/nowhere/7"] {
        get_path(&app, path, None).await;
    }
    let s = monitoring.monitor().snapshot();
    assert_eq!(s.http_responses["GET"]["/users/{id}"][&200], 3);
    assert_eq!(s.http_responses["GET"]["unmatched"][&404], 1);
    assert_eq!(s.http_responses_by_status[&200], 3);
    assert_eq!(s.http_response_seconds.total, 4);
    let routes: Vec<&String> = s.http_responses["GET"].keys().collect();
    assert!(routes.iter().all(|r| !r.contains("/users/1")), "{routes:?}");
}

#[tokio::test]
async fn health_turns_503_while_the_broker_is_down_and_200_when_it_returns() {
    let cluster = MockCluster::new(1).unwrap();
    let config = common::resilient(common::cluster_config(
        "health",
        &cluster.bootstrap_servers(),
        "http://127.0.0.1:9",
    ));
    cluster.create_topic(&config.metrics.topic(), 1, 1).unwrap();
    let manager = common::manager(
        &config,
        &common::backend(&config, common::memory_registry()),
    );
    let thresholds = MonitoringConfig::builder()
        .max_delivery_age(Duration::from_secs(1))
        .build()
        .unwrap();
    let monitoring =
        setup_monitoring(manager.sensors(), manager.application(), &thresholds).unwrap();
    manager.initialize().await.unwrap();
    let queries = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    queries
        .publish_confirmed(roundtrip::query(0))
        .await
        .unwrap();
    let router = monitoring.router();
    assert_eq!(get_path(&router, "/health", None).await.0, StatusCode::OK);

    cluster.broker_down(1).unwrap();
    for i in 1..6 {
        queries.publish(roundtrip::query(i)).unwrap();
    }
    let (status, text) = poll_health(&router, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["healthy"], false);
    assert_eq!(report["issues"][0]["check"], "delivery", "{report}");
    assert_eq!(report["figures"]["queue_depth"], 5);

    cluster.broker_up(1).unwrap();
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    let (status, text) = poll_health(&router, StatusCode::OK).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    manager.close(TIMEOUT).await.unwrap();
}

/// Asks `/health` until it answers `want`, for at most 20 s; the last answer.
async fn poll_health(router: &Router, want: StatusCode) -> (StatusCode, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, text) = get_path(router, "/health", None).await;
        if status == want || Instant::now() >= deadline {
            return (status, text);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
