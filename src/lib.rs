//! app-metrics: publish application metrics events to Kafka as Confluent-framed Avro,
//! wire-compatible with Python's `safir.metrics`.
//!
//! Define events as plain structs; the derive builds their Avro schema at compile time and
//! refuses, with a compile error, anything InfluxDB cannot store:
//!
//! ```
//! use app_metrics::{EventEnum, EventPayload};
//!
//! #[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
//! #[event(rename_all = "lowercase")]
//! enum QueryType {
//!     Async,
//!     Sync,
//! }
//!
//! /// Information about a user-submitted query.
//! #[derive(EventPayload, Clone, Debug, PartialEq)]
//! struct QueryEvent {
//!     /// The kind of query
//!     r#type: QueryType,
//!     /// How long the query took to run
//!     duration: std::time::Duration,
//!     username: Option<String>,
//!     rows: i64,
//! }
//!
//! let schema = app_metrics::record_schema::<QueryEvent>("query", "lsst.square.metrics.events.app")?;
//! assert!(schema.contains(r#""name":"type","type":{"type":"enum","name":"QueryType""#));
//! # Ok::<(), app_metrics::InvalidNameError>(())
//! ```

// Lets the derives' generated `::app_metrics::...` paths resolve in this package's own
// tests and examples.
extern crate self as app_metrics;

pub use metrics_core::*;

/// The Kafka backend: producer, Schema Registry clients, consumer, embedded stack.
#[cfg(feature = "kafka")]
pub use metrics_kafka as kafka;

/// The event manager the configuration selects, in Safir's order (Mock, Noop, Kafka).
#[cfg(feature = "kafka")]
pub use metrics_kafka::make_manager;

/// Compiles and runs the README's Rust code blocks as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
