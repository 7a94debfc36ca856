//! The errors of the event manager and its publishers, one type for every backend, and the
//! one place that says which failures are retried and which always surface.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::config::ConfigError;
use crate::schema::InvalidNameError;

/// Everything that can go wrong creating publishers or publishing events.
///
/// Usage errors ([`is_usage_error`](Self::is_usage_error)) always surface. Infrastructure
/// errors surface in strict mode (`METRICS_RAISE_ON_ERROR=true`); in the default resilient
/// mode they are logged and counted instead. What a backend reports is a
/// [`BackendError`], whose [`ErrorKind`] decides both.
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

    /// Events were still undelivered when a flush or close gave up.
    #[error("{undelivered} event(s) were not delivered within {}", humantime::format_duration(*timeout))]
    Undelivered {
        /// How many events were still queued.
        undelivered: u64,
        /// How long the flush or close waited.
        timeout: Duration,
    },

    /// The backend failed (topic, registry, queue, delivery, connection).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl EventError {
    /// The kind of a backend failure; `None` for the manager's own errors.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Backend(error) => Some(error.kind()),
            _ => None,
        }
    }

    /// Is this a usage error, which surfaces even in resilient mode? Calling out of order,
    /// a duplicate or invalid name, a closed manager, bad configuration, and the backend
    /// kinds no retry can fix ([`ErrorKind::is_usage`]).
    pub fn is_usage_error(&self) -> bool {
        match self {
            Self::Uninitialized
            | Self::DuplicateEvent { .. }
            | Self::InvalidName(_)
            | Self::Closed { .. }
            | Self::Config(_) => true,
            Self::Undelivered { .. } => false,
            Self::Backend(error) => error.kind().is_usage(),
        }
    }

    /// May the same operation succeed later ([`ErrorKind::is_transient`])? Background
    /// retries continue only for these.
    pub fn is_transient(&self) -> bool {
        self.kind().is_some_and(ErrorKind::is_transient)
    }

    /// The backend's error of type `E` behind this one, if any.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        match self {
            Self::Backend(error) => error.downcast_ref(),
            _ => None,
        }
    }

    /// The message with every cause after it: `a: b: c` (see [`ErrorChain`]).
    pub fn chain(&self) -> String {
        ErrorChain(self).to_string()
    }
}

/// What kind of backend failure happened: decides whether it is retried
/// ([`is_transient`](Self::is_transient)) and whether it surfaces in resilient mode
/// ([`is_usage`](Self::is_usage)). Also the bounded `kind` label of error metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The events topic is missing or not writable.
    Topic,
    /// The registry refused the schema (incompatible, invalid).
    Schema,
    /// A client cannot be set up or is refused: bad TLS files, wrong credentials.
    Setup,
    /// The broker or registry cannot be reached now (down, timing out, overloaded).
    Unavailable,
    /// The event was refused because the bounded queue is full.
    QueueFull,
    /// The event was not delivered (delivery timeout, broker rejection, failed
    /// registration of its schema).
    Delivery,
}

impl ErrorKind {
    /// Every kind, in declaration order (`kind as usize` is its index), for exporters
    /// that pre-create their label values.
    pub const ALL: [ErrorKind; 6] = [
        Self::Topic,
        Self::Schema,
        Self::Setup,
        Self::Unavailable,
        Self::QueueFull,
        Self::Delivery,
    ];

    /// May the same operation succeed later? (The broker or registry is down or busy, or
    /// the queue is full.)
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Unavailable | Self::QueueFull)
    }

    /// Will waiting never fix it, so that it is reported even in resilient mode? (A missing
    /// topic, a refused schema, a client that cannot be set up.)
    pub fn is_usage(self) -> bool {
        matches!(self, Self::Topic | Self::Schema | Self::Setup)
    }

    /// A short lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A backend's failure: its [`ErrorKind`] and the backend's own error, which is shown as it
/// is (its message is this error's message, its causes this error's causes).
///
/// ```
/// use metrics_core::{BackendError, ErrorKind, EventError};
///
/// let error: EventError = BackendError::new(ErrorKind::QueueFull, std::io::Error::other("queue full")).into();
/// assert!(error.is_transient() && !error.is_usage_error());
/// assert_eq!(error.to_string(), "queue full");
/// assert!(error.downcast_ref::<std::io::Error>().is_some());
/// ```
pub struct BackendError {
    kind: ErrorKind,
    error: Box<dyn Error + Send + Sync + 'static>,
}

impl BackendError {
    /// A failure of `kind`, caused by the backend's `error`.
    pub fn new<E: Error + Send + Sync + 'static>(kind: ErrorKind, error: E) -> Self {
        Self {
            kind,
            error: Box::new(error),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The backend's error, if it is an `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.error.downcast_ref()
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendError")
            .field("kind", &self.kind)
            .field("error", &self.error)
            .finish()
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl Error for BackendError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error.source()
    }
}

/// Shows an error with every cause after it, `a: b: c`, for logs and terminal output. A
/// cause whose message the text already holds (some libraries repeat their cause) is
/// skipped.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_lists_every_cause() {
        let error: EventError =
            BackendError::new(ErrorKind::Topic, Outer(std::io::Error::other("inner"))).into();
        assert_eq!(error.to_string(), "outer");
        assert_eq!(error.chain(), "outer: inner");
        assert_eq!(error.kind(), Some(ErrorKind::Topic));
        assert!(error.is_usage_error());
        assert!(!error.is_transient());
    }

    #[test]
    fn kinds_are_listed_in_declaration_order_and_named_in_snake_case() {
        for (index, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index, "{kind}");
        }
        assert_eq!(ErrorKind::QueueFull.as_str(), "queue_full");
        for (index, kind) in crate::sensor::DecodeErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index, "{}", kind.as_str());
        }
        assert_eq!(
            crate::sensor::RegistryOperation::SchemaById.as_str(),
            "schema_by_id"
        );
    }

    #[test]
    fn kinds_split_into_retry_and_surface() {
        for kind in ErrorKind::ALL {
            assert!(
                !(kind.is_transient() && kind.is_usage()),
                "{kind} is both transient and a usage error"
            );
        }
        assert!(ErrorKind::Unavailable.is_transient());
        assert!(!ErrorKind::Delivery.is_transient() && !ErrorKind::Delivery.is_usage());
    }

    #[test]
    fn manager_errors_are_usage_errors_without_a_kind() {
        let closed = EventError::Closed { name: "q".into() };
        assert!(closed.is_usage_error() && !closed.is_transient());
        assert_eq!(closed.kind(), None);
        let undelivered = EventError::Undelivered {
            undelivered: 1,
            timeout: Duration::from_secs(1),
        };
        assert!(!undelivered.is_usage_error());
    }
}
