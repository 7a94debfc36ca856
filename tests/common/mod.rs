//! Sample payloads shared by the integration tests.
#![allow(dead_code)]

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use app_metrics::{EventEnum, EventPayload};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use uuid::Uuid;

/// How a query ran.
#[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
#[event(rename_all = "lowercase")]
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
    pub username: Option<String>,
    pub rows: i64,
}

/// A user logged in.
#[derive(EventPayload, Clone, Debug, PartialEq)]
pub struct LoginEvent {
    pub username: String,
    pub success: bool,
    pub provider: Option<String>,
}

/// An event with no fields.
#[derive(EventPayload, Clone, Debug, PartialEq)]
pub struct Heartbeat {}

/// One field of every supported type, plain and optional; `QueryType` appears twice.
#[derive(EventPayload, Clone, Debug, PartialEq)]
pub struct Everything {
    pub a_bool: bool,
    pub an_i8: i8,
    pub an_i16: i16,
    pub an_i32: i32,
    pub an_i64: i64,
    pub a_u8: u8,
    pub a_u16: u16,
    pub a_u32: u32,
    pub an_f32: f32,
    pub an_f64: f64,
    pub a_string: String,
    pub a_static_str: &'static str,
    pub a_boxed_str: Box<str>,
    pub an_arc_str: Arc<str>,
    pub a_cow: Cow<'static, str>,
    pub a_duration: Duration,
    pub a_time_delta: TimeDelta,
    pub a_datetime: DateTime<Utc>,
    pub a_date: NaiveDate,
    pub a_time: NaiveTime,
    pub a_uuid: Uuid,
    /// First use of the enum: defined here.
    pub a_kind: QueryType,
    /// Second use: a reference by name.
    pub maybe_kind: Option<QueryType>,
    pub maybe_bool: Option<bool>,
    pub maybe_i64: Option<i64>,
    pub maybe_u32: Option<u32>,
    pub maybe_f32: Option<f32>,
    pub maybe_string: Option<String>,
    pub maybe_duration: Option<Duration>,
    pub maybe_datetime: Option<DateTime<Utc>>,
    pub maybe_date: Option<NaiveDate>,
    pub maybe_time: Option<NaiveTime>,
    pub maybe_uuid: Option<Uuid>,
}

pub const NAMESPACE: &str = "lsst.square.metrics.events.testapp";

/// Strict settings for `application` on the embedded development broker and registry.
pub fn embedded_config(application: &str) -> app_metrics::Config {
    app_metrics::Config::embedded(
        app_metrics::config::MetricsConfig::builder(application)
            .raise_on_error(true)
            .build()
            .expect("valid settings"),
    )
}

/// Strict settings for `application` on the cluster `bootstrap` (comma-separated), with
/// the registry at `registry` (tests that hand in an in-memory registry still give a URL:
/// a real cluster needs one).
pub fn cluster_config(application: &str, bootstrap: &str, registry: &str) -> app_metrics::Config {
    use app_metrics::config::{KafkaConfig, RegistryConfig};
    let mut config = embedded_config(application);
    config.kafka = KafkaConfig::builder()
        .bootstrap_servers(bootstrap.split(','))
        .build()
        .expect("valid Kafka settings");
    config.registry = RegistryConfig::builder()
        .url(registry)
        .build()
        .expect("valid registry settings");
    config
}

/// `config` in resilient mode (the default failure policy).
pub fn resilient(mut config: app_metrics::Config) -> app_metrics::Config {
    config.metrics = config
        .metrics
        .to_builder()
        .raise_on_error(false)
        .build()
        .expect("valid settings");
    config
}

/// The Kafka backend of `config`, with `registry` instead of the configured registry
/// client when given.
pub fn backend(
    config: &app_metrics::Config,
    registry: Option<std::sync::Arc<dyn app_metrics::kafka::registry::SchemaRegistry>>,
) -> std::sync::Arc<app_metrics::kafka::KafkaBackend> {
    let mut builder = app_metrics::kafka::KafkaBackend::builder(&config.metrics)
        .kafka(&config.kafka)
        .registry(&config.registry);
    if let Some(registry) = registry {
        builder = builder.registry_client(registry);
    }
    std::sync::Arc::new(builder.build().expect("backend"))
}

/// A manager over `backend`, configured by `config`.
pub fn manager(
    config: &app_metrics::Config,
    backend: &std::sync::Arc<app_metrics::kafka::KafkaBackend>,
) -> app_metrics::EventManager {
    app_metrics::EventManager::new(
        &config.metrics,
        std::sync::Arc::clone(backend) as _,
        std::sync::Arc::default(),
    )
}

/// The in-memory registry, as the backend takes it.
pub fn memory_registry() -> Option<std::sync::Arc<dyn app_metrics::kafka::registry::SchemaRegistry>>
{
    Some(std::sync::Arc::new(
        app_metrics::kafka::registry::MemorySchemaRegistry::new(),
    ))
}

pub mod any_schema;
pub mod durable;
pub mod fault_proxy;
pub mod log_capture;
pub mod peers;
pub mod procs;
pub mod roundtrip;
