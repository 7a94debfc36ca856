//! Checks that the events topic exists and is writable (Metadata with auto-creation off),
//! and creates it on request for development.

use std::time::Duration;

use metrics_core::EventError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::producer::KafkaProducer;

/// Partitions and replication of a topic created by the development opt-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replication: i32,
}

impl Default for TopicSpec {
    /// One partition, one replica: a development cluster.
    fn default() -> Self {
        Self {
            partitions: 1,
            replication: 1,
        }
    }
}

/// What the broker said about the topic.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TopicState {
    Ready,
    Missing,
}

/// Asks the broker for the topic's metadata (blocking; run it off the async threads).
pub(crate) fn topic_state(
    producer: &KafkaProducer,
    topic: &str,
    timeout: Duration,
) -> Result<TopicState, EventError> {
    let metadata = producer.client().fetch_metadata(Some(topic), timeout).map_err(|error| EventError::Kafka {
        reason: format!(
            "cannot read metadata of topic {topic:?} within {}: {error}{}; check KAFKA_BOOTSTRAP_SERVERS, \
             that the broker is reachable, and the TLS/SASL settings",
            humantime::format_duration(timeout),
            producer.last_client_error().map(|last| format!(" (the client reported: {last})")).unwrap_or_default(),
        ),
    })?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(TopicState::Missing);
    };
    match found.error().map(RDKafkaErrorCode::from) {
        None if !found.partitions().is_empty() => Ok(TopicState::Ready),
        None | Some(RDKafkaErrorCode::UnknownTopicOrPartition) | Some(RDKafkaErrorCode::UnknownTopic) => {
            Ok(TopicState::Missing)
        }
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => Err(EventError::Topic {
            topic: topic.to_owned(),
            reason: "the client is not authorized to use it; grant the Kafka user write access to the topic \
                     (e.g. a Strimzi KafkaUser ACL)"
                .to_owned(),
        }),
        Some(code) => Err(EventError::Topic { topic: topic.to_owned(), reason: format!("the broker answered {code}") }),
    }
}

/// The error for a topic that does not exist.
pub(crate) fn missing_topic(topic: &str) -> EventError {
    EventError::Topic {
        topic: topic.to_owned(),
        reason: "it does not exist; create it (e.g. a Strimzi KafkaTopic), or for development set \
                 KAFKA_CREATE_TOPICS=true to have it created"
            .to_owned(),
    }
}

/// Creates the topic: in the embedded broker directly, else through CreateTopics.
pub(crate) async fn create_topic(
    producer: &KafkaProducer,
    admin_config: &ClientConfig,
    topic: &str,
    spec: TopicSpec,
) -> Result<(), EventError> {
    if let Some(cluster) = producer.client().mock_cluster() {
        return cluster
            .create_topic(topic, spec.partitions, spec.replication)
            .map_err(|error| EventError::Topic {
                topic: topic.to_owned(),
                reason: format!("the embedded broker could not create it: {error}"),
            });
    }
    let cannot = |error: &dyn std::fmt::Display| EventError::Topic {
        topic: topic.to_owned(),
        reason: format!("it does not exist and could not be created: {error}"),
    };
    let admin: AdminClient<DefaultClientContext> =
        admin_config.create().map_err(|e: KafkaError| cannot(&e))?;
    let new_topic = NewTopic::new(
        topic,
        spec.partitions,
        TopicReplication::Fixed(spec.replication),
    );
    let results = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .map_err(|e| cannot(&e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(cannot(&code)),
        }
    }
    tracing::info!(
        topic,
        partitions = spec.partitions,
        replication = spec.replication,
        "created the metrics events topic"
    );
    Ok(())
}

/// Waits (bounded) until the producer sees the topic after it was created.
pub(crate) fn await_topic(
    producer: &KafkaProducer,
    topic: &str,
    timeout: Duration,
) -> Result<(), EventError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if topic_state(producer, topic, Duration::from_secs(5))? == TopicState::Ready {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(missing_topic(topic));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
