//! Sensors observe the publishing and consuming pipeline, the way Faust's `Sensor` does:
//! the [`Sensor`] trait, the [`SensorDelegate`] that fans hooks out to many sensors with
//! failures isolated, and the clock they read. The sensors themselves (the Monitor, the
//! exporters) live in `metrics-monitor`.

mod clock;
mod delegate;
mod hooks;
mod paired;
mod sink;

use std::error::Error;
use std::fmt;

pub use clock::{Clock, ManualClock, SystemClock};
pub use delegate::{DirectTicket, SensorDelegate, SensorId};
pub use hooks::{
    AssignmentFailure, AssignmentState, CommitDone, CommitState, CustomKind, CustomMetric,
    DecodeErrorKind, DecodeFailure, DecodeState, Decoded, Delivered, Encoded, EventKey, MessageIn,
    MessageState, PartitionOffset, RebalanceState, RegistryCall, RegistryOperation, SendFailure,
    SendInfo, SendState, StreamEvent, StreamEventState, TopicPartition, WebRequest,
    WebRequestState, WebResponse,
};
pub use paired::Paired;
pub use sink::{ENCODE_TIMING_SAMPLE, SinkSensors, Started};

/// The publishing hooks of a sensor that keeps no state per event and cannot fail, such
/// as the built-in `Monitor`'s counters: attached with
/// [`SensorDelegate::add_direct`], they are called directly where an event is handed over
/// and where its outcome is known. Nothing travels with the message but a one-byte
/// [`DirectTicket`], and no clock is read on the publishing thread: the send latency comes
/// from the transport (librdkafka stamps every message when it is queued, so an event
/// held while its schema was being registered is timed from its hand-over to librdkafka;
/// the Noop and Mock backends, which deliver at once, report zero). A panic is caught
/// and counted as for any hook. A sensor that needs the hand-over's time or its own state
/// per event implements [`Sensor`]'s send hooks instead.
///
/// An outcome reaches the direct sensors that were attached when the event was sent, even
/// if sensors were attached or detached meanwhile, unless the set of direct sensors
/// changed more than 16 times while the event was in flight.
pub trait DirectSendSensor: Send + Sync + 'static {
    /// An event was encoded (`encoded.elapsed` for one encode in
    /// [`ENCODE_TIMING_SAMPLE`]) and handed over as a value of `value_size` bytes.
    fn on_sent(&self, encoded: &Encoded<'_>, value_size: usize);

    /// An event sent while this sensor was attached was acknowledged, `latency` after
    /// it was handed over.
    fn on_delivered(&self, latency: std::time::Duration);

    /// An event sent while this sensor was attached was not delivered.
    fn on_send_failed(&self, failure: &SendFailure<'_>);
}

/// What a hook returns: its state (start hooks) or nothing, or the sensor's failure.
pub type SensorResult<T = ()> = Result<T, SensorError>;

/// A sensor's own failure (an exporter that cannot send, a full buffer). The delegate
/// counts it and logs the first one; it never reaches the application.
#[derive(Debug)]
pub struct SensorError(Box<dyn Error + Send + Sync + 'static>);

impl SensorError {
    /// A failure saying `message`.
    pub fn msg(message: impl Into<String>) -> Self {
        Self(message.into().into())
    }
}

impl fmt::Display for SensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for SensorError {
    fn from(error: E) -> Self {
        Self(Box::new(error))
    }
}

/// Observes the pipeline. Every hook has a default body that does nothing, so a sensor
/// implements only what it cares about.
///
/// Each start hook returns a typed state that is handed back to its end hook, so a
/// sensor needs no map to pair them. Hooks run on the publishing (or consuming) thread,
/// or on the Kafka client's delivery thread: keep them short and lock-free. A hook that
/// fails or panics is isolated by the [`SensorDelegate`]: counted, logged once, never
/// breaking publishing or the other sensors.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use metrics_core::sensor::{Delivered, SendState, Sensor, SensorResult};
///
/// /// Counts deliveries that took longer than a second.
/// #[derive(Default)]
/// struct SlowDeliveries(AtomicU64);
///
/// impl Sensor for SlowDeliveries {
///     fn on_send_completed(&self, state: SendState, done: &Delivered<'_>) -> SensorResult {
///         if state.elapsed(done.at).as_secs() >= 1 {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         Ok(())
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Sensor: Send + Sync + 'static {
    /// A name for logs and [`SensorDelegate::combined_metrics`].
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// What the sensor has measured, as JSON, if it keeps anything (Faust's `asdict`).
    fn metrics(&self) -> Option<serde_json::Value> {
        None
    }

    // -- producer ------------------------------------------------------------------------

    /// An event was handed to the producer.
    fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
        Ok(SendState::at(send.at))
    }

    /// The broker acknowledged the event.
    fn on_send_completed(&self, state: SendState, done: &Delivered<'_>) -> SensorResult {
        Ok(())
    }

    /// The event was not delivered (refused, held and dropped, timed out, rejected).
    fn on_send_error(&self, state: SendState, failure: &SendFailure<'_>) -> SensorResult {
        Ok(())
    }

    /// The producer's buffer for `topic` is full (events are being refused).
    fn on_topic_buffer_full(&self, topic: &str) -> SensorResult {
        Ok(())
    }

    /// An event was encoded.
    fn on_encode(&self, encoded: &Encoded<'_>) -> SensorResult {
        Ok(())
    }

    /// The Schema Registry was called (or its cache answered).
    fn on_registry_call(&self, call: &RegistryCall<'_>) -> SensorResult {
        Ok(())
    }

    // -- consumer ------------------------------------------------------------------------

    /// A message was read from a topic partition.
    fn on_message_in(&self, message: &MessageIn<'_>) -> SensorResult<MessageState> {
        Ok(MessageState::at(message.at))
    }

    /// The consumer is done with a message (handled, or skipped as undecodable).
    fn on_message_out(&self, state: MessageState, message: &MessageIn<'_>) -> SensorResult {
        Ok(())
    }

    /// A decoded event is handed to the application's handler.
    fn on_stream_event_in(&self, event: &StreamEvent<'_>) -> SensorResult<StreamEventState> {
        Ok(StreamEventState::at(event.at))
    }

    /// The application's handler returned.
    fn on_stream_event_out(
        &self,
        state: StreamEventState,
        event: &StreamEvent<'_>,
    ) -> SensorResult {
        Ok(())
    }

    /// Decoding of a message starts.
    fn on_decode_start(&self, message: &MessageIn<'_>) -> SensorResult<DecodeState> {
        Ok(DecodeState::at(message.at))
    }

    /// A message was decoded.
    fn on_decode_end(&self, state: DecodeState, decoded: &Decoded<'_>) -> SensorResult {
        Ok(())
    }

    /// A message could not be decoded.
    fn on_decode_error(&self, state: DecodeState, failure: &DecodeFailure<'_>) -> SensorResult {
        Ok(())
    }

    /// A commit of consumed offsets starts.
    fn on_commit_initiated(&self, at: std::time::Instant) -> SensorResult<CommitState> {
        Ok(CommitState::at(at))
    }

    /// A commit ended.
    fn on_commit_completed(&self, state: CommitState, done: &CommitDone) -> SensorResult {
        Ok(())
    }

    /// Offsets were committed for these partitions (the next offset to read).
    fn on_tp_commit(&self, offsets: &[PartitionOffset<'_>]) -> SensorResult {
        Ok(())
    }

    /// The end offset (high watermark) of a partition, as last seen.
    fn track_tp_end_offset(&self, end: &PartitionOffset<'_>) -> SensorResult {
        Ok(())
    }

    /// A consumer-group rebalance starts (partitions are revoked).
    fn on_rebalance_start(&self, at: std::time::Instant) -> SensorResult<RebalanceState> {
        Ok(RebalanceState::at(at))
    }

    /// The group returned the new assignment; the returned state goes to
    /// `on_rebalance_end`.
    fn on_rebalance_return(
        &self,
        state: RebalanceState,
        at: std::time::Instant,
    ) -> SensorResult<RebalanceState> {
        Ok(RebalanceState {
            returned: Some(at),
            ..state
        })
    }

    /// The consumer resumed with its new assignment.
    fn on_rebalance_end(&self, state: RebalanceState, at: std::time::Instant) -> SensorResult {
        Ok(())
    }

    // -- the application's own metrics ----------------------------------------------------

    /// The application recorded a value through a `CustomSensor` (`metrics-monitor`).
    fn on_custom_metric(&self, metric: &CustomMetric<'_>) -> SensorResult {
        Ok(())
    }

    /// The consumer starts taking the partitions the group assigned it (Faust's
    /// `on_assignment_start`).
    fn on_assignment_start(&self, at: std::time::Instant) -> SensorResult<AssignmentState> {
        Ok(AssignmentState::at(at))
    }

    /// The consumer took its assigned partitions.
    fn on_assignment_completed(
        &self,
        state: AssignmentState,
        at: std::time::Instant,
    ) -> SensorResult {
        Ok(())
    }

    /// The assignment failed (the group's rebalance reported an error).
    fn on_assignment_error(
        &self,
        state: AssignmentState,
        failure: &AssignmentFailure<'_>,
    ) -> SensorResult {
        Ok(())
    }

    // -- web -----------------------------------------------------------------------------

    /// An HTTP request arrived.
    fn on_web_request_start(&self, request: &WebRequest<'_>) -> SensorResult<WebRequestState> {
        Ok(WebRequestState::at(request.at))
    }

    /// The response to it is ready.
    fn on_web_request_end(
        &self,
        state: WebRequestState,
        response: &WebResponse<'_>,
    ) -> SensorResult {
        Ok(())
    }
}
