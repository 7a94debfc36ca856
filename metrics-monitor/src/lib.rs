//! Monitoring for app-metrics, the counterpart of Faust's monitors: [`setup_monitoring`]
//! attaches the [`Monitor`], a [`LoggingSensor`], a `StatsdMonitor` (feature `statsd`)
//! and the application's own sensors to the application's sensor hub;
//! [`HealthMonitor`] checks the figures against thresholds; `PrometheusMonitor` (feature
//! `prometheus`) exports them; `Monitoring::router` (feature `http`) serves `/metrics`,
//! `/health` and `/stats`, and `WebSensorLayer` reports an axum application's requests.

mod config;
mod custom_sensor;
mod health;
#[cfg(feature = "http")]
mod http;
mod logging;
mod monitor;
#[cfg(feature = "prometheus")]
mod prometheus;
mod setup;
#[cfg(feature = "statsd")]
mod statsd;

pub use config::{
    LogDetail, LogFormat, LogLevel, MonitoringConfig, MonitoringConfigBuilder, monitoring_vars,
};
pub use custom_sensor::{CustomSensor, DEFAULT_BUCKETS};
pub use health::{
    HealthAlert, HealthCheck, HealthFigures, HealthIssue, HealthMonitor, HealthReport,
    HealthThresholds,
};
#[cfg(feature = "http")]
pub use http::{WebSensorLayer, WebSensorService};
pub use logging::{LoggingSensor, SensorLoggingError, configure_sensor_logging};
pub use monitor::{
    BySensor, CustomHistogramSnapshot, CustomSnapshot, HistogramSnapshot, LATENCY_BUCKETS,
    LatencyKind, Monitor, MonitorOptions, MonitorSnapshot, PartitionSnapshot, Rates, WindowStats,
};
#[cfg(feature = "prometheus")]
pub use prometheus::{Format, MonitorCollector, PrometheusMonitor};
pub use setup::{Monitoring, MonitoringError, MonitoringSetup, setup_monitoring};
#[cfg(feature = "statsd")]
pub use statsd::StatsdMonitor;

/// The `prometheus-client` crate the export is built on, to register the application's
/// own metrics next to ours.
#[cfg(feature = "prometheus")]
pub use prometheus_client;
