//! The producer hooks as a backend's sink calls them: encode (timed), hand-over,
//! acknowledgement, failure. Every backend uses it, so every backend feeds the sensors the
//! same way.

use std::cell::RefCell;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::{
    Delivered, Encoded, EventKey, Paired, SendFailure, SendInfo, SendState, SensorDelegate,
};
use crate::backend::OutgoingEvent;
use crate::error::{ErrorKind, EventError};

thread_local! {
    /// Scratch space for backends that do not keep the encoding (Noop, Mock).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// One encode in this many is timed for [`Encoded::elapsed`]: the first of each event
/// type, then every this-many-th.
pub const ENCODE_TIMING_SAMPLE: u32 = 16;

/// One event type's view of the application's sensor hub (the one its manager was given):
/// its topic and name, and the hub.
#[derive(Debug)]
pub struct SinkSensors {
    key: EventKey,
    /// Encodes so far, to time one in [`ENCODE_TIMING_SAMPLE`].
    encodes: AtomicU32,
    topic: Arc<str>,
    event: Arc<str>,
    delegate: Arc<SensorDelegate>,
}

/// A hand-over the sensors saw start; give it back with [`SinkSensors::completed`] or
/// [`SinkSensors::failed`]. `None` when no sensor is attached.
pub type Started = Option<Paired<SendState>>;

impl SinkSensors {
    /// The hooks of event `event` on `topic`.
    pub fn new(topic: Arc<str>, event: Arc<str>, delegate: Arc<SensorDelegate>) -> Self {
        Self {
            key: EventKey::new(),
            encodes: AtomicU32::new(0),
            topic,
            event,
            delegate,
        }
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Whether any sensor is attached.
    pub fn active(&self) -> bool {
        !self.delegate.is_empty()
    }

    /// Appends the Avro encoding of `event` to `buf` and reports the hand-over of a value
    /// `overhead` bytes larger (the frame header): calls `on_encode` (timed for one
    /// encode in [`ENCODE_TIMING_SAMPLE`]) and `on_send_initiated` when sensors are
    /// attached, and only encodes otherwise.
    pub fn encode_and_start(
        &self,
        event: &dyn OutgoingEvent,
        buf: &mut Vec<u8>,
        overhead: usize,
    ) -> Started {
        if !self.active() {
            event.encode_avro(buf);
            return None;
        }
        let before = buf.len();
        let n = self.encodes.fetch_add(1, Ordering::Relaxed);
        let timed = n.is_multiple_of(ENCODE_TIMING_SAMPLE).then(Instant::now);
        event.encode_avro(buf);
        let at = Instant::now();
        let bytes = buf.len() - before;
        self.delegate.on_encode_and_send_initiated(
            &Encoded {
                key: self.key,
                topic: &self.topic,
                event: &self.event,
                bytes,
                elapsed: timed.map(|started| at - started),
            },
            &SendInfo {
                key: self.key,
                topic: &self.topic,
                event: &self.event,
                key_size: 0,
                value_size: bytes + overhead,
                at,
            },
        )
    }

    /// For backends that do not send the encoding: encodes `event` into scratch space and
    /// reports it as handed over, when sensors are attached.
    pub fn observe(&self, event: &dyn OutgoingEvent) -> Started {
        if !self.active() {
            return None;
        }
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            self.encode_and_start(event, buf, 0)
        })
    }

    /// The event was acknowledged at `partition`, `offset`.
    pub fn completed(&self, started: Started, partition: i32, offset: i64) {
        if let Some(started) = started {
            started.on_send_completed(&Delivered {
                key: self.key,
                topic: &self.topic,
                event: &self.event,
                partition,
                offset,
                at: Instant::now(),
            });
        }
    }

    /// The event was not delivered, for `error` of `kind`.
    pub fn failed(&self, started: Started, kind: ErrorKind, error: &(dyn Error + 'static)) {
        if let Some(started) = started {
            started.on_send_error(&SendFailure {
                key: self.key,
                topic: &self.topic,
                event: &self.event,
                kind,
                error,
                at: Instant::now(),
            });
        }
    }

    /// The event was not delivered, for `error` (its kind, or `Delivery`).
    pub fn failed_with(&self, started: Started, error: &EventError) {
        let kind = error.kind().unwrap_or(ErrorKind::Delivery);
        self.failed(started, kind, error);
    }

    /// A registry call was made for this event type (registration).
    pub fn registry_call(&self, call: &super::RegistryCall<'_>) {
        if self.active() {
            self.delegate.on_registry_call(call);
        }
    }

    /// The producer's buffer is full.
    pub fn buffer_full(&self) {
        if self.active() {
            self.delegate.on_topic_buffer_full(&self.topic);
        }
    }
}
