//! Checks that the events topic exists and is writable (Metadata with auto-creation off),
//! and creates it on request for development.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use metrics_core::EventError;

use crate::error::Error;
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

/// The first wait for a Metadata answer; later ones double, until the caller's timeout.
const FIRST_METADATA_WAIT: Duration = Duration::from_millis(250);

/// Asks the broker for the topic's metadata (blocking; run it off the async threads).
///
/// It asks again with doubling waits until `timeout`, so that a broker refusing the
/// credentials is reported at the end of the current wait, not after the whole timeout.
/// A request that fails early (no broker reachable yet) waits out its slice before the
/// next one, so the loop never spins.
pub(crate) fn topic_state(
    producer: &KafkaProducer,
    topic: &str,
    timeout: Duration,
) -> Result<TopicState, EventError> {
    let started = Instant::now();
    let mut wait = FIRST_METADATA_WAIT;
    let metadata = loop {
        let attempt = Instant::now();
        let slice = wait.min(timeout.saturating_sub(started.elapsed()));
        let error = match producer.client().fetch_metadata(Some(topic), slice) {
            Ok(metadata) => break metadata,
            Err(error) => error,
        };
        // Only a refusal seen during this check counts: an earlier one may be from
        // credentials that have been fixed on the broker since.
        if let Some(reason) = producer.authentication_failure_since(started) {
            return Err(Error::Authentication { reason }.into());
        }
        if started.elapsed() + Duration::from_millis(1) >= timeout {
            return Err(Error::Metadata {
                topic: topic.to_owned(),
                timeout,
                client_error: producer.last_client_error(),
                source: error,
            }
            .into());
        }
        std::thread::sleep(slice.saturating_sub(attempt.elapsed()));
        wait = wait.saturating_mul(2);
    };
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(TopicState::Missing);
    };
    let topic = topic.to_owned();
    match found.error().map(RDKafkaErrorCode::from) {
        None if !found.partitions().is_empty() => Ok(TopicState::Ready),
        None
        | Some(RDKafkaErrorCode::UnknownTopicOrPartition)
        | Some(RDKafkaErrorCode::UnknownTopic) => Ok(TopicState::Missing),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => {
            Err(Error::TopicUnauthorized { topic }.into())
        }
        Some(code) => Err(Error::TopicRejected { topic, code }.into()),
    }
}

/// Creates the topic: in the embedded broker directly, else through CreateTopics with an
/// admin client configured like the producer's connection (`admin`).
pub(crate) async fn create_topic(
    producer: &KafkaProducer,
    admin: &ClientConfig,
    topic: &str,
    spec: TopicSpec,
) -> Result<(), EventError> {
    let cannot = |source: KafkaError| -> EventError {
        Error::TopicCreation {
            topic: topic.to_owned(),
            source,
        }
        .into()
    };
    if let Some(cluster) = producer.client().mock_cluster() {
        return cluster
            .create_topic(topic, spec.partitions, spec.replication)
            .map_err(cannot);
    }
    let admin: AdminClient<DefaultClientContext> = admin.create().map_err(cannot)?;
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
        .map_err(cannot)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(cannot(KafkaError::AdminOp(code))),
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
    let deadline = Instant::now() + timeout;
    loop {
        if topic_state(producer, topic, Duration::from_secs(5))? == TopicState::Ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::TopicMissing {
                topic: topic.to_owned(),
            }
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
