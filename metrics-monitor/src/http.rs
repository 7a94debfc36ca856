//! The monitoring endpoints as an axum `Router` (`/metrics`, `/health`, `/stats`), and a
//! tower layer that feeds any axum application's requests to the web hooks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::Monitor;
use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_core::sensor::{SensorDelegate, WebRequest, WebResponse};

use crate::health::HealthMonitor;
use crate::prometheus::{Format, PrometheusMonitor};

/// What the endpoints read.
#[derive(Clone)]
pub(crate) struct Endpoints {
    pub(crate) monitor: Arc<Monitor>,
    pub(crate) prometheus: Option<Arc<PrometheusMonitor>>,
    pub(crate) health: Option<Arc<HealthMonitor>>,
}

/// The router: `GET /metrics` (Prometheus, by content negotiation), `GET /health` (200 or
/// 503 with the JSON report), `GET /stats` (the Monitor's snapshot as JSON).
pub(crate) fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/stats", get(stats))
        .with_state(endpoints)
}

async fn metrics(
    State(endpoints): State<Endpoints>,
    headers: HeaderMap,
) -> Response<axum::body::Body> {
    let Some(prometheus) = &endpoints.prometheus else {
        return (
            StatusCode::NOT_FOUND,
            "Prometheus export is off (METRICS_MONITOR_PROMETHEUS=false)\n",
        )
            .into_response();
    };
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    match prometheus.render(format) {
        Ok(text) => ([(CONTENT_TYPE, format.content_type())], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "a metric could not be encoded\n",
        )
            .into_response(),
    }
}

async fn health(State(endpoints): State<Endpoints>) -> Response<axum::body::Body> {
    let Some(health) = &endpoints.health else {
        return (
            StatusCode::NOT_FOUND,
            "health checks are off (METRICS_HEALTH_CHECKS=false)\n",
        )
            .into_response();
    };
    let report = health.check();
    let status = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

async fn stats(State(endpoints): State<Endpoints>) -> axum::Json<crate::MonitorSnapshot> {
    axum::Json(endpoints.monitor.snapshot())
}

/// A tower layer that reports each request of an axum application to the sensors' web
/// hooks: method, route template (`/users/{id}`, from axum's `MatchedPath`; `unmatched`
/// when no route matched, never the raw path), status code and latency.
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, routing::get};
/// use metrics_core::sensor::SensorDelegate;
/// use metrics_monitor::WebSensorLayer;
///
/// let sensors = Arc::new(SensorDelegate::new());
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "ok" }))
///     .layer(WebSensorLayer::new(sensors));
/// ```
#[derive(Debug, Clone)]
pub struct WebSensorLayer {
    sensors: Arc<SensorDelegate>,
}

impl WebSensorLayer {
    /// Reports to `sensors` (e.g. `EventManager::sensors()`).
    pub fn new(sensors: Arc<SensorDelegate>) -> Self {
        Self { sensors }
    }
}

impl<S> tower::Layer<S> for WebSensorLayer {
    type Service = WebSensorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebSensorService {
            inner,
            sensors: Arc::clone(&self.sensors),
        }
    }
}

/// The service of [`WebSensorLayer`].
#[derive(Debug, Clone)]
pub struct WebSensorService<S> {
    inner: S,
    sensors: Arc<SensorDelegate>,
}

impl<S, B, R> tower::Service<Request<B>> for WebSensorService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.sensors.is_empty() {
            return Box::pin(self.inner.call(request));
        }
        let method = request.method().as_str().to_owned();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
        let started = self.sensors.on_web_request_start(&WebRequest {
            method: &method,
            route: &route,
            at: Instant::now(),
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            if let Some(started) = started {
                let status = result
                    .as_ref()
                    .map_or(500, |response| response.status().as_u16());
                started.on_web_request_end(&WebResponse {
                    method: &method,
                    route: &route,
                    status,
                    at: Instant::now(),
                });
            }
            result
        })
    }
}
