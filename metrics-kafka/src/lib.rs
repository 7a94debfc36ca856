//! Kafka backend of app-metrics.
