//! The Kafka backend's errors, each with the cause it came from, and their [`ErrorKind`]:
//! the one mapping from what Kafka or the registry said to the failure policy.

use std::sync::Arc;
use std::time::Duration;

use metrics_core::{BackendError, ErrorKind, EventError};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::registry::RegistryError;

/// Everything the Kafka backend can fail at. It reaches the application as an
/// [`EventError::Backend`]; get it back with [`EventError::downcast_ref`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The events topic does not exist.
    #[error(
        "topic {topic:?} does not exist: create it (e.g. a Strimzi KafkaTopic), or for \
         development set KAFKA_CREATE_TOPICS=true to have it created"
    )]
    TopicMissing {
        /// The topic.
        topic: String,
    },

    /// The client may not write to the events topic.
    #[error(
        "topic {topic:?} cannot be used: the client is not authorized to use it; grant the Kafka \
         user write access to the topic (e.g. a Strimzi KafkaUser ACL)"
    )]
    TopicUnauthorized {
        /// The topic.
        topic: String,
    },

    /// The broker answered the topic check with an error.
    #[error("topic {topic:?} cannot be used: the broker answered {code}")]
    TopicRejected {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },

    /// The topic was missing and could not be created.
    #[error("topic {topic:?} does not exist and could not be created")]
    TopicCreation {
        /// The topic.
        topic: String,
        /// What the broker (or the embedded broker) said.
        #[source]
        source: KafkaError,
    },

    /// The broker refused the SASL credentials: no retry can succeed.
    #[error(
        "the Kafka broker refused the SASL authentication ({reason}); check KAFKA_SASL_USERNAME, \
         KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM"
    )]
    Authentication {
        /// What librdkafka reported.
        reason: String,
    },

    /// The broker did not answer a Metadata request.
    #[error(
        "cannot read the metadata of topic {topic:?} within {}; check KAFKA_BOOTSTRAP_SERVERS, \
         that the broker is reachable, and the TLS/SASL settings{}",
        humantime::format_duration(*timeout),
        client_error.as_ref().map(|e| format!(" (the client reported: {e})")).unwrap_or_default()
    )]
    Metadata {
        /// The topic.
        topic: String,
        /// How long the request could take.
        timeout: Duration,
        /// The Kafka client's last connection-level error (TLS, authentication), which says
        /// why better than "all brokers down".
        client_error: Option<String>,
        /// The request's error.
        #[source]
        source: KafkaError,
    },

    /// A start-up step got no answer in time (resilient mode carries on in the background).
    #[error("no answer within {} ({step})", humantime::format_duration(*waited))]
    NoAnswer {
        /// What was waited for.
        step: &'static str,
        /// How long.
        waited: Duration,
    },

    /// The broker was unreachable earlier; later publishers do not wait for it again.
    #[error("the broker or registry was unreachable earlier; registering in the background")]
    Degraded,

    /// The event's schema could not be registered.
    #[error("cannot register the schema of event {event:?} as subject {subject:?}")]
    Registration {
        /// The event name.
        event: String,
        /// The registry subject.
        subject: String,
        /// The registry's error.
        #[source]
        source: RegistryError,
    },

    /// The registry client could not be set up (bad URL, unreadable CA file).
    #[error("cannot set up the schema registry client")]
    RegistryClient(#[source] RegistryError),

    /// The Kafka producer could not be created.
    #[error("cannot create the Kafka producer")]
    Producer(#[source] KafkaError),

    /// The producer queue is full.
    #[error(
        "event {event:?} could not be queued: the producer queue is full \
         (KAFKA_QUEUE_MAX_MESSAGES); the broker is unreachable or too slow"
    )]
    QueueFull {
        /// The event name.
        event: String,
    },

    /// The producer refused the event for another reason.
    #[error("event {event:?} could not be queued")]
    Enqueue {
        /// The event name.
        event: String,
        /// The producer's error.
        #[source]
        source: KafkaError,
    },

    /// The broker did not acknowledge the event.
    #[error("event {event:?} was not delivered")]
    Delivery {
        /// The event name.
        event: String,
        /// The delivery error.
        #[source]
        source: KafkaError,
    },

    /// Too many events are held while the schema is not registered yet.
    #[error(
        "event {event:?} dropped: {held} events are already held while the schema registration \
         is retried; the registry or broker has been unreachable too long"
    )]
    HoldFull {
        /// The event name.
        event: String,
        /// How many are held (`KAFKA_QUEUE_MAX_MESSAGES`).
        held: usize,
    },

    /// The event's schema could not be registered for good, so its events are dropped.
    #[error("event {event:?} dropped: its schema could not be registered")]
    Unregistered {
        /// The event name.
        event: String,
        /// Why registration failed.
        #[source]
        source: Arc<EventError>,
    },

    /// A confirmed publish waited for the schema registration longer than the delivery
    /// timeout.
    #[error(
        "event {event:?} was not sent: its schema was not registered within {}",
        humantime::format_duration(*waited)
    )]
    RegistrationTimeout {
        /// The event name.
        event: String,
        /// How long it waited (`KAFKA_DELIVERY_TIMEOUT`).
        waited: Duration,
    },

    /// The producer closed before the broker answered a confirmed publish.
    #[error("event {event:?}: the producer closed before the broker answered")]
    ProducerClosed {
        /// The event name.
        event: String,
    },
}

impl Error {
    /// The kind of failure, which decides retries and what surfaces in resilient mode.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::TopicMissing { .. }
            | Self::TopicUnauthorized { .. }
            | Self::TopicRejected { .. }
            | Self::TopicCreation { .. } => ErrorKind::Topic,
            Self::Metadata { .. }
            | Self::NoAnswer { .. }
            | Self::Degraded
            | Self::RegistrationTimeout { .. } => ErrorKind::Unavailable,
            Self::Registration { source, .. } => source.kind(),
            Self::RegistryClient(_) | Self::Producer(_) | Self::Authentication { .. } => {
                ErrorKind::Setup
            }
            Self::QueueFull { .. } | Self::HoldFull { .. } => ErrorKind::QueueFull,
            Self::Enqueue { .. }
            | Self::Delivery { .. }
            | Self::Unregistered { .. }
            | Self::ProducerClosed { .. } => ErrorKind::Delivery,
        }
    }

    /// The error for an event the producer refused.
    pub(crate) fn enqueue(event: &str, error: KafkaError) -> Self {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::QueueFull) => Self::QueueFull {
                event: event.to_owned(),
            },
            _ => Self::Enqueue {
                event: event.to_owned(),
                source: error,
            },
        }
    }
}

impl From<Error> for EventError {
    fn from(error: Error) -> Self {
        EventError::Backend(BackendError::new(error.kind(), error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_is_transient_and_a_missing_topic_is_a_usage_error() {
        let full = Error::enqueue(
            "query",
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
        );
        assert!(matches!(full, Error::QueueFull { .. }));
        let event: EventError = full.into();
        assert!(event.is_transient() && !event.is_usage_error());
        let missing: EventError = Error::TopicMissing { topic: "t".into() }.into();
        assert!(missing.is_usage_error() && !missing.is_transient());
        assert!(missing.downcast_ref::<Error>().is_some());
    }

    #[test]
    fn a_drop_after_a_failed_registration_is_not_a_usage_error() {
        let cause = Arc::new(EventError::from(Error::TopicMissing { topic: "t".into() }));
        let dropped: EventError = Error::Unregistered {
            event: "q".into(),
            source: cause,
        }
        .into();
        assert!(!dropped.is_usage_error());
        assert_eq!(
            dropped.chain(),
            "event \"q\" dropped: its schema could not be registered: topic \"t\" does not \
             exist: create it (e.g. a Strimzi KafkaTopic), or for development set \
             KAFKA_CREATE_TOPICS=true to have it created"
        );
    }
}
