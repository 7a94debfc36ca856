//! The errors of the event manager and its publishers, one enum for every backend.

use std::time::Duration;

use crate::config::ConfigError;
use crate::schema::InvalidNameError;

/// Everything that can go wrong creating publishers or publishing events.
///
/// Usage errors ([`Uninitialized`](Self::Uninitialized), [`DuplicateEvent`](Self::DuplicateEvent),
/// [`InvalidName`](Self::InvalidName), [`Closed`](Self::Closed), [`Config`](Self::Config),
/// [`Topic`](Self::Topic), [`IncompatibleSchema`](Self::IncompatibleSchema)) always surface.
/// Infrastructure errors surface in strict mode (`METRICS_RAISE_ON_ERROR=true`); in the
/// default resilient mode they are logged and counted instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A publisher was requested before [`EventManager::initialize`](crate::EventManager::initialize).
    #[error(
        "the event manager is not initialized: call `EventManager::initialize().await` before creating publishers"
    )]
    Uninitialized,

    /// Two publishers were requested with the same event name.
    #[error(
        "an event publisher named {name:?} already exists: event names are unique per application; \
         create each publisher once at start-up and share it (clone it, or keep it in your events container)"
    )]
    DuplicateEvent {
        /// The event name.
        name: String,
    },

    /// An event name, application name or topic prefix that Avro would refuse.
    #[error(transparent)]
    InvalidName(#[from] InvalidNameError),

    /// The manager was closed; nothing more can be published through it.
    #[error("the event manager is closed: events can no longer be published (event {name:?})")]
    Closed {
        /// The event being published, or `""` for manager operations.
        name: String,
    },

    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The events topic is missing or not writable.
    #[error("topic {topic:?} cannot be used: {reason}")]
    Topic {
        /// The topic (`{topic_prefix}.{application}`).
        topic: String,
        /// What the broker said and how to fix it.
        reason: String,
    },

    /// The Schema Registry refused the event's schema as incompatible with the subject's
    /// registered versions.
    #[error("schema for subject {subject:?} is incompatible with its registered versions: {}", messages.join("; "))]
    IncompatibleSchema {
        /// The registry subject.
        subject: String,
        /// What is incompatible, field by field where known.
        messages: Vec<String>,
    },

    /// The Schema Registry could not be used.
    #[error("schema registry error for subject {subject:?}: {reason}")]
    Registry {
        /// The registry subject.
        subject: String,
        /// What went wrong.
        reason: String,
    },

    /// The Schema Registry client could not be set up (bad URL, unreadable CA file).
    #[error("cannot set up the schema registry client: {reason}")]
    RegistrySetup {
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The event could not be queued for delivery.
    #[error("event {name:?} could not be queued for delivery: {reason}")]
    Enqueue {
        /// The event name.
        name: String,
        /// Why (queue full, broker unreachable, ...).
        reason: String,
    },

    /// The broker did not acknowledge the event.
    #[error("event {name:?} was not delivered: {reason}")]
    Delivery {
        /// The event name.
        name: String,
        /// Why.
        reason: String,
    },

    /// Events were still undelivered when a flush or close gave up.
    #[error("{undelivered} event(s) were not delivered within {}", humantime::format_duration(*timeout))]
    Undelivered {
        /// How many events were still queued.
        undelivered: u64,
        /// How long the flush or close waited.
        timeout: Duration,
    },

    /// The Kafka client could not be created or used.
    #[error("kafka client error: {reason}")]
    Kafka {
        /// What went wrong.
        reason: String,
    },
}

impl EventError {
    /// Is this a usage error, which surfaces even in resilient mode?
    pub fn is_usage_error(&self) -> bool {
        matches!(
            self,
            Self::Uninitialized
                | Self::DuplicateEvent { .. }
                | Self::InvalidName(_)
                | Self::Closed { .. }
                | Self::Config(_)
                | Self::RegistrySetup { .. }
                | Self::Topic { .. }
                | Self::IncompatibleSchema { .. }
        )
    }
}
