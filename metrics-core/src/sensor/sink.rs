//! The producer hooks as a backend's sink calls them: encode (timed), hand-over,
//! acknowledgement, failure. Every backend uses it, so every backend feeds the sensors the
//! same way: direct sensors through their counters, the others through their hooks.

use std::cell::RefCell;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{
    Delivered, DirectTicket, Encoded, EventKey, Paired, SendFailure, SendInfo, SendState,
    SensorDelegate,
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
/// [`SinkSensors::failed`]. Empty (the default) when no sensor is attached.
#[derive(Debug, Default)]
pub struct Started {
    /// The states of the sensors whose send hooks saw it.
    paired: Option<Paired<SendState>>,
    /// The direct sensors that saw it.
    direct: Option<DirectTicket>,
}

impl Started {
    /// A hand-over only direct sensors saw, carried as `ticket` (see
    /// [`direct_ticket`](Self::direct_ticket)).
    pub fn direct(ticket: DirectTicket) -> Self {
        Self {
            paired: None,
            direct: Some(ticket),
        }
    }

    /// Whether no sensor saw it: nothing to report.
    pub fn is_empty(&self) -> bool {
        self.paired.is_none() && self.direct.is_none()
    }

    /// Whether sensors' states must travel with the message to its outcome; when not, the
    /// [`direct_ticket`](Self::direct_ticket) (a byte) is all there is to carry.
    pub fn needs_state(&self) -> bool {
        self.paired.is_some()
    }

    /// The direct sensors that saw it, if any.
    pub fn direct_ticket(&self) -> Option<DirectTicket> {
        self.direct
    }
}

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
    /// `overhead` bytes larger (the frame header): to the direct sensors
    /// ([`DirectSendSensor::on_sent`](super::DirectSendSensor::on_sent)), and to the others
    /// through `on_encode` and `on_send_initiated`, with a clock reading for them. The
    /// encode is timed for one in [`ENCODE_TIMING_SAMPLE`]; with no sensor attached it
    /// only encodes.
    pub fn encode_and_start(
        &self,
        event: &dyn OutgoingEvent,
        buf: &mut Vec<u8>,
        overhead: usize,
    ) -> Started {
        if !self.active() {
            event.encode_avro(buf);
            return Started::default();
        }
        let before = buf.len();
        let n = self.encodes.fetch_add(1, Ordering::Relaxed);
        let timed = n.is_multiple_of(ENCODE_TIMING_SAMPLE).then(Instant::now);
        event.encode_avro(buf);
        let bytes = buf.len() - before;
        // The end of a timed encode is read anyway; the hooks of other sensors need one.
        let at = (timed.is_some() || self.delegate.has_send_sensors()).then(Instant::now);
        let encoded = Encoded {
            key: self.key,
            topic: &self.topic,
            event: &self.event,
            bytes,
            elapsed: timed.zip(at).map(|(started, at)| at - started),
        };
        let value_size = bytes + overhead;
        let direct = self.delegate.direct_sent(&encoded, value_size);
        // `on_encode_and_send_initiated` returns at once when no generic sensor listens.
        let paired = at.and_then(|at| {
            self.delegate.on_encode_and_send_initiated(
                &encoded,
                &SendInfo {
                    key: self.key,
                    topic: &self.topic,
                    event: &self.event,
                    key_size: 0,
                    value_size,
                    at,
                },
            )
        });
        Started { paired, direct }
    }

    /// For backends that do not send the encoding: encodes `event` into scratch space and
    /// reports it as handed over, when sensors are attached.
    pub fn observe(&self, event: &dyn OutgoingEvent) -> Started {
        if !self.active() {
            return Started::default();
        }
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            self.encode_and_start(event, buf, 0)
        })
    }

    /// The event was acknowledged at `partition`, `offset`, `latency` after its
    /// hand-over (as the transport measured it; direct sensors record it, the others get
    /// a clock reading).
    pub fn completed(&self, started: Started, partition: i32, offset: i64, latency: Duration) {
        if let Some(ticket) = started.direct {
            self.delegate.direct_delivered(ticket, latency);
        }
        if let Some(paired) = started.paired {
            paired.on_send_completed(&Delivered {
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
        if started.is_empty() {
            return;
        }
        let failure = SendFailure {
            key: self.key,
            topic: &self.topic,
            event: &self.event,
            kind,
            error,
            at: Instant::now(),
        };
        if let Some(ticket) = started.direct {
            self.delegate.direct_failed(ticket, &failure);
        }
        if let Some(paired) = started.paired {
            paired.on_send_error(&failure);
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
