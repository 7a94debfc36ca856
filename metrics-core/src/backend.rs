//! The seam between the event manager and where events go: Kafka, nowhere (Noop), or a
//! recorder for tests (Mock).

use std::any::Any;
use std::fmt::{self, Debug};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ErrorKind, EventError};
use crate::metadata::EventMetadata;
use crate::payload::{EventPayload, FieldValue};
use crate::sensor::{SensorDelegate, SinkSensors};

/// A boxed, sendable future (the backend trait is used as a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a backend needs to know about one event type, computed once when its publisher is
/// created.
#[derive(Debug, Clone)]
pub struct EventDescriptor {
    /// The event name (the Avro record name).
    pub name: String,
    /// The topic the event goes to (also the record namespace).
    pub topic: Arc<str>,
    /// The application's sensor hub the manager was built with, which the sink reports to
    /// (see `SinkSensors`).
    pub sensors: Arc<SensorDelegate>,
    /// The full Avro record schema: metadata, then payload fields.
    pub schema: String,
}

/// One event on its way out: metadata plus a payload, type-erased so backends are not
/// generic.
pub trait OutgoingEvent {
    /// The event's metadata.
    fn metadata(&self) -> &EventMetadata;
    /// Appends the Avro binary encoding of the whole record (metadata, then payload).
    fn encode_avro(&self, buf: &mut Vec<u8>);
    /// The payload's fields, for recording backends.
    fn field_values(&self) -> Vec<(&'static str, FieldValue)>;
}

impl EventDescriptor {
    /// The sensor hooks of this event type.
    pub fn sink_sensors(&self) -> SinkSensors {
        SinkSensors::new(
            Arc::clone(&self.topic),
            self.name.as_str().into(),
            Arc::clone(&self.sensors),
        )
    }
}

/// An [`OutgoingEvent`] borrowing a typed payload.
pub(crate) struct Outgoing<'a, P> {
    pub(crate) metadata: &'a EventMetadata,
    pub(crate) payload: &'a P,
}

impl<P: EventPayload> OutgoingEvent for Outgoing<'_, P> {
    fn metadata(&self) -> &EventMetadata {
        self.metadata
    }

    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        self.metadata.encode_avro(buf);
        self.payload.encode_avro(buf);
    }

    fn field_values(&self) -> Vec<(&'static str, FieldValue)> {
        self.payload.field_values()
    }
}

/// What a flush or close found: the events it left undelivered, and the events lost since
/// the previous report, by reason.
///
/// ```
/// use metrics_core::{DeliveryReport, DroppedEvents, ErrorKind};
///
/// let mut dropped = DroppedEvents::default();
/// dropped.add(ErrorKind::QueueFull, 990);
/// let report = DeliveryReport { undelivered: 0, dropped };
/// assert_eq!(report.dropped.total(), 990);
/// assert_eq!(report.to_string(), "0 undelivered, 990 dropped (990 queue_full)");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Events still queued when the flush or close returned.
    pub undelivered: u64,
    /// Events lost since the previous report (refused, dropped or not delivered), by
    /// reason. In resilient mode `publish` returned `Ok` for them: this is where they show.
    pub dropped: DroppedEvents,
}

impl std::fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} undelivered, {} dropped",
            self.undelivered,
            self.dropped.total()
        )?;
        if self.dropped.total() > 0 {
            write!(f, " ({})", self.dropped)?;
        }
        Ok(())
    }
}

/// Events lost, counted by [`ErrorKind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedEvents([u64; ErrorKind::ALL.len()]);

impl DroppedEvents {
    /// Counts `n` more lost for `kind`.
    pub fn add(&mut self, kind: ErrorKind, n: u64) {
        self.0[kind as usize] = self.0[kind as usize].saturating_add(n);
    }

    /// How many were lost for `kind`.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind as usize]
    }

    /// How many were lost in all.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each reason with a loss, and its count.
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .into_iter()
            .map(|kind| (kind, self.get(kind)))
            .filter(|(_, n)| *n > 0)
    }
}

impl std::fmt::Display for DroppedEvents {
    /// `990 queue_full, 3 delivery`; `none` when nothing was lost.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut any = false;
        for (kind, n) in self.iter() {
            if any {
                f.write_str(", ")?;
            }
            write!(f, "{n} {}", kind.as_str())?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Where the events of one publisher go.
pub trait EventSink: Any + Send + Sync + Debug {
    /// Queues the event and returns at once (fire-and-forget).
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError>;

    /// Queues the event; the future resolves when the broker acknowledged it. The default,
    /// for backends that deliver nothing, is [`send`](Self::send)'s outcome.
    fn send_confirmed(
        &self,
        event: &dyn OutgoingEvent,
    ) -> BoxFuture<'static, Result<(), EventError>> {
        let sent = self.send(event);
        Box::pin(async move { sent })
    }

    /// The Schema Registry subject, for backends that register schemas.
    fn subject(&self) -> Option<&str> {
        None
    }

    /// The registered schema id, once known, for backends that register schemas.
    fn schema_id(&self) -> Option<u32> {
        None
    }
}

/// Whether the registry would accept an event's schema: the answer of a pre-deploy check
/// ([`EventManager::check_schema`](crate::EventManager::check_schema)), which registers
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaVerdict {
    /// The subject has no schema yet: this one would be its first.
    NewSubject,
    /// The schema may be registered (it is the subject's already, or compatible with it).
    Compatible,
    /// The registry would refuse it.
    Incompatible {
        /// Why, naming the fields where the check can.
        reasons: Vec<String>,
    },
    /// This backend registers no schema (Noop, Mock): nothing to check.
    NoRegistry,
}

impl SchemaVerdict {
    /// Whether publishing this schema would work.
    pub fn is_ok(&self) -> bool {
        !matches!(self, Self::Incompatible { .. })
    }
}

/// One event's pre-deploy check: its subject and the registry's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaCheck {
    /// The event name.
    pub event: String,
    /// The registry subject, for backends that register schemas.
    pub subject: Option<String>,
    /// The verdict.
    pub verdict: SchemaVerdict,
}

impl fmt::Display for SchemaCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.subject.as_deref().unwrap_or(&self.event);
        match &self.verdict {
            SchemaVerdict::NewSubject => write!(f, "{what}: ok (a new subject)"),
            SchemaVerdict::Compatible => write!(f, "{what}: ok (compatible)"),
            SchemaVerdict::NoRegistry => write!(f, "{what}: ok (no registry: nothing to check)"),
            SchemaVerdict::Incompatible { reasons } => {
                write!(f, "{what}: REFUSED (incompatible)")?;
                for reason in reasons {
                    write!(f, "\n  - {reason}")?;
                }
                Ok(())
            }
        }
    }
}

/// A destination for events: implemented by the Kafka, Noop and Mock backends.
pub trait EventBackend: Any + Send + Sync + Debug {
    /// Connects and checks whatever the backend needs before publishers are created; the
    /// default needs nothing.
    fn initialize(&self) -> BoxFuture<'_, Result<(), EventError>> {
        Box::pin(async { Ok(()) })
    }

    /// Prepares the sink of one event type (for Kafka: topic check and schema registration).
    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>>;

    /// Waits until queued events are delivered, or `timeout` passes; the default, for a
    /// backend that queues nothing, returns at once.
    fn flush(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        let _ = timeout;
        Box::pin(async { Ok(DeliveryReport::default()) })
    }

    /// Asks the registry whether `event`'s schema may be registered, registering nothing;
    /// the default, for a backend without a registry, answers
    /// [`NoRegistry`](SchemaVerdict::NoRegistry).
    fn check_schema(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<SchemaCheck, EventError>> {
        let check = SchemaCheck {
            event: event.name.clone(),
            subject: None,
            verdict: SchemaVerdict::NoRegistry,
        };
        Box::pin(async move { Ok(check) })
    }

    /// Flushes, then releases the clients this backend owns; the default only flushes.
    fn close(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        self.flush(timeout)
    }
}
