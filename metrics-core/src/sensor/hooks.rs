//! What each sensor hook is told, and the typed states start hooks hand to end hooks.

use std::error::Error;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::ErrorKind;

/// Declares the state types of start/end hook pairs: each records when it started.
macro_rules! states {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        ///
        /// A start hook returns it (the default records the start time) and the matching end
        /// hook gets it back, so pairing needs no lookup. `tag` is free for the sensor's
        /// own use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            /// When the operation started (the framework's clock reading).
            pub started: Instant,
            /// Free for the sensor: an index, a counter, a packed value.
            pub tag: u64,
        }

        impl $name {
            /// A state started at `at`.
            pub fn at(at: Instant) -> Self {
                Self { started: at, tag: 0 }
            }

            /// How long from the start to `now`.
            pub fn elapsed(&self, now: Instant) -> Duration {
                now.saturating_duration_since(self.started)
            }
        }
    )+};
}

states!(
    /// The state of one send, from `on_send_initiated` to `on_send_completed` or
    /// `on_send_error`.
    SendState,
    /// The state of one consumed message, from `on_message_in` to `on_message_out`.
    MessageState,
    /// The state of one decoded event in the application's handler, from
    /// `on_stream_event_in` to `on_stream_event_out`.
    StreamEventState,
    /// The state of one decode, from `on_decode_start` to `on_decode_end` or
    /// `on_decode_error`.
    DecodeState,
    /// The state of one commit, from `on_commit_initiated` to `on_commit_completed`.
    CommitState,
    /// The state of one web request, from `on_web_request_start` to `on_web_request_end`.
    WebRequestState,
    /// The state of one partition assignment, from `on_assignment_start` to
    /// `on_assignment_completed` or `on_assignment_error`.
    AssignmentState,
);

/// The state of one rebalance: started, then (after `on_rebalance_return`) returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebalanceState {
    /// When the rebalance started (partitions revoked).
    pub started: Instant,
    /// When the group returned the new assignment, once it has.
    pub returned: Option<Instant>,
    /// Free for the sensor's own use.
    pub tag: u64,
}

impl RebalanceState {
    /// A rebalance started at `at`.
    pub fn at(at: Instant) -> Self {
        Self {
            started: at,
            returned: None,
            tag: 0,
        }
    }

    /// How long from the start to `now`.
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

/// Identifies one event type of one manager (a topic and an event name) for the life of
/// the process. Sensors that keep per-event state can index an array with
/// [`index`](Self::index) instead of hashing the names on every event; two keys may name
/// the same topic and event (two managers), so aggregate by name when reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(u32);

impl EventKey {
    /// A key no other call returned (keys wrap after 2³² event types, far beyond any
    /// process's).
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The key as a small number: keys are handed out from 0 upwards.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl Default for EventKey {
    /// A new key.
    fn default() -> Self {
        Self::new()
    }
}

/// An event handed to the producer.
#[derive(Debug, Clone, Copy)]
pub struct SendInfo<'a> {
    /// The event type.
    pub key: EventKey,
    /// The topic.
    pub topic: &'a str,
    /// The event name.
    pub event: &'a str,
    /// Size of the message key in bytes (events have none: 0).
    pub key_size: usize,
    /// Size of the message value (the framed event) in bytes.
    pub value_size: usize,
    /// When it was handed over.
    pub at: Instant,
}

/// The broker acknowledged an event.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    /// The event type.
    pub key: EventKey,
    /// The topic.
    pub topic: &'a str,
    /// The event name.
    pub event: &'a str,
    /// The partition it was written to (-1 for backends without partitions).
    pub partition: i32,
    /// Its offset in the partition (-1 for backends without offsets).
    pub offset: i64,
    /// When the acknowledgement arrived.
    pub at: Instant,
}

/// An event was not delivered: refused when queued, held and dropped, timed out, or
/// rejected by the broker.
#[derive(Debug, Clone, Copy)]
pub struct SendFailure<'a> {
    /// The event type.
    pub key: EventKey,
    /// The topic.
    pub topic: &'a str,
    /// The event name.
    pub event: &'a str,
    /// What kind of failure (the bounded label of error metrics).
    pub kind: ErrorKind,
    /// What went wrong (never holds payload contents).
    pub error: &'a (dyn Error + 'static),
    /// When it was known.
    pub at: Instant,
}

/// An event was encoded (metadata and payload, Avro binary).
#[derive(Debug, Clone, Copy)]
pub struct Encoded<'a> {
    /// The event type.
    pub key: EventKey,
    /// The topic.
    pub topic: &'a str,
    /// The event name.
    pub event: &'a str,
    /// Size of the Avro body in bytes.
    pub bytes: usize,
    /// How long encoding took, measured for the first encode of each event type and then
    /// one in [`ENCODE_TIMING_SAMPLE`](super::ENCODE_TIMING_SAMPLE): reading the clock
    /// around every encode would cost about as much as the encode itself.
    pub elapsed: Option<Duration>,
}

/// What a registry call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum RegistryOperation {
    /// Register a schema (with its compatibility check) when a publisher is created.
    Register,
    /// Fetch a schema by id to decode a message.
    SchemaById,
}

impl RegistryOperation {
    /// A short lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One call to the Schema Registry, answered from the client's cache or not.
#[derive(Debug, Clone, Copy)]
pub struct RegistryCall<'a> {
    /// What was asked.
    pub operation: RegistryOperation,
    /// The subject, or the schema id as text.
    pub target: &'a str,
    /// Whether the answer came from the cache, without a request.
    pub cache_hit: bool,
    /// How long the call took.
    pub elapsed: Duration,
    /// `None` on success, or the kind of failure.
    pub error: Option<ErrorKind>,
}

/// A topic partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicPartition<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
}

/// A message read from a topic partition.
#[derive(Debug, Clone, Copy)]
pub struct MessageIn<'a> {
    /// Where it was read.
    pub tp: TopicPartition<'a>,
    /// Its offset.
    pub offset: i64,
    /// Size of its value in bytes.
    pub size: usize,
    /// When it was read (or finished with, for `on_message_out`).
    pub at: Instant,
}

/// A decoded event handed to (or returned by) the application's handler.
#[derive(Debug, Clone, Copy)]
pub struct StreamEvent<'a> {
    /// Where it was read.
    pub tp: TopicPartition<'a>,
    /// Its offset.
    pub offset: i64,
    /// The event name (the record name of its schema).
    pub event: &'a str,
    /// When it was handed over (or returned).
    pub at: Instant,
}

/// A message was decoded.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    /// Where it was read.
    pub tp: TopicPartition<'a>,
    /// Its offset.
    pub offset: i64,
    /// The schema id of its frame.
    pub schema_id: u32,
    /// When decoding ended.
    pub at: Instant,
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Not a Confluent frame (wrong magic byte, too short).
    Framing,
    /// The schema id is unknown to the registry, or the registry cannot be reached.
    Schema,
    /// The body does not match its schema (truncated, corrupt).
    Body,
    /// The schema does not match the type asked for.
    Type,
}

impl DecodeErrorKind {
    /// Every kind, in declaration order (`kind as usize` is its index), for exporters
    /// that pre-create their label values.
    pub const ALL: [DecodeErrorKind; 4] = [Self::Framing, Self::Schema, Self::Body, Self::Type];

    /// A short lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A message could not be decoded.
#[derive(Debug, Clone, Copy)]
pub struct DecodeFailure<'a> {
    /// Where it was read.
    pub tp: TopicPartition<'a>,
    /// Its offset.
    pub offset: i64,
    /// Why.
    pub kind: DecodeErrorKind,
    /// When it was known.
    pub at: Instant,
}

/// A commit ended.
#[derive(Debug, Clone, Copy)]
pub struct CommitDone {
    /// Whether the broker accepted it.
    pub ok: bool,
    /// When it ended.
    pub at: Instant,
}

/// A committed (or end) offset of one topic partition.
#[derive(Debug, Clone, Copy)]
pub struct PartitionOffset<'a> {
    /// The topic partition.
    pub tp: TopicPartition<'a>,
    /// The offset: for a commit, the next offset to read.
    pub offset: i64,
}

/// An HTTP request reached the application.
#[derive(Debug, Clone, Copy)]
pub struct WebRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The route template that matched (`/users/{id}`), never the raw path; `unmatched`
    /// when no route did.
    pub route: &'a str,
    /// When it arrived.
    pub at: Instant,
}

/// The application answered an HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct WebResponse<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's route template.
    pub route: &'a str,
    /// The status code.
    pub status: u16,
    /// When the response was ready.
    pub at: Instant,
}

/// What a custom metric is: how exporters aggregate its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum CustomKind {
    /// Adds up: the value is an increment.
    Counter,
    /// The last value wins.
    Gauge,
    /// Each value is one observation of a distribution.
    Histogram,
}

/// A value the application recorded through a
/// `CustomSensor` (in `metrics-monitor`).
#[derive(Debug, Clone, Copy)]
pub struct CustomMetric<'a> {
    /// The custom sensor's name (e.g. `orders`).
    pub sensor: &'a str,
    /// The metric's name within it (e.g. `processed`).
    pub name: &'a str,
    /// How the value aggregates.
    pub kind: CustomKind,
    /// The value: an increment, a reading, or an observation.
    pub value: f64,
    /// Upper bounds of a histogram's buckets (ascending; empty for other kinds).
    pub buckets: &'a [f64],
    /// When the value was taken.
    pub at: std::time::SystemTime,
}

/// A partition assignment failed.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentFailure<'a> {
    /// Why.
    pub error: &'a (dyn Error + 'static),
    /// When it was reported.
    pub at: Instant,
}
