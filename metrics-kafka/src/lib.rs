//! Kafka backend of app-metrics: rdkafka publishing, the Schema Registry client, and the
//! embedded development stack.

pub mod registry;
