//! The sink of one event type: frames events with the schema id and hands them to the
//! producer, holding them (encoded, bounded) while the schema is not registered yet, and
//! reporting each hand-over to the sensors.
//!
//! Its state is [`Settled`], set once: empty while pending, then ready (with the schema
//! id), failed for good, or closed. The hot path reads it with one atomic load.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use metrics_core::backend::BoxFuture;
use metrics_core::log_limit::LogLimiter;
use metrics_core::sensor::{SinkSensors, Started};
use metrics_core::sync::lock;
use metrics_core::{ErrorKind, EventError, EventSink, OutgoingEvent};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer as _};
use tokio::sync::{SetOnce, oneshot};

use crate::error::Error;
use crate::framing::{self, HEADER_LEN};
use crate::producer::{DeliveryStats, DeliveryWaiter, EventProducer, InFlight, Opaque};

thread_local! {
    /// Each publishing thread frames into its own reused buffer: no lock, no allocation
    /// once it has grown to the largest event.
    static FRAME: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// How a sink's registration ended. Until it is set, the sink is pending: events are held.
#[derive(Debug)]
pub(crate) enum Settled {
    /// The schema is registered under this id: frame and send.
    Ready(u32),
    /// Registration failed for good: events are dropped and counted.
    Failed(Arc<EventError>),
    /// The manager closed before the schema was registered.
    Closed,
}

/// What a sink is made from.
pub(crate) struct SinkParts {
    pub(crate) event: String,
    pub(crate) topic: String,
    pub(crate) subject: String,
    pub(crate) producer: Weak<EventProducer>,
    pub(crate) stats: Arc<DeliveryStats>,
    pub(crate) sensors: Arc<SinkSensors>,
    /// Events held at most while pending (`KAFKA_QUEUE_MAX_MESSAGES`).
    pub(crate) max_held: usize,
    /// How long a confirmed publish waits for the registration (`KAFKA_DELIVERY_TIMEOUT`).
    pub(crate) delivery_timeout: Duration,
    pub(crate) retry_log: LogLimiter,
}

/// An event encoded while the sink was pending, its time, and its hand-over as the
/// sensors saw it.
struct Held {
    body: Vec<u8>,
    timestamp_ms: i64,
    started: Started,
}

pub(crate) struct KafkaSink {
    parts: SinkParts,
    /// This sink's key in its producer's table of sinks (`None` if the table was full or
    /// the producer closed): reports that need no more carry only it.
    key: Option<usize>,
    settled: SetOnce<Settled>,
    /// Events published while pending, in order; empty once settled.
    held: Mutex<VecDeque<Held>>,
    /// This sink, for the futures of confirmed publishes.
    me: Weak<KafkaSink>,
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("event", &self.parts.event)
            .field("subject", &self.parts.subject)
            .field("settled", &self.settled.get())
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    pub(crate) fn new(parts: SinkParts) -> Arc<Self> {
        let key = parts
            .producer
            .upgrade()
            .and_then(|producer| producer.context().register_sink(Arc::clone(&parts.sensors)));
        Arc::new_cyclic(|me| Self {
            parts,
            key,
            settled: SetOnce::new(),
            held: Mutex::default(),
            me: me.clone(),
        })
    }

    pub(crate) fn event(&self) -> &str {
        &self.parts.event
    }

    pub(crate) fn subject_name(&self) -> &str {
        &self.parts.subject
    }

    pub(crate) fn sensors(&self) -> &SinkSensors {
        &self.parts.sensors
    }

    /// Limits the logs of background retries of this sink's registration.
    pub(crate) fn retry_log(&self) -> &LogLimiter {
        &self.parts.retry_log
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.settled.get().is_none()
    }

    /// Events held while pending.
    pub(crate) fn held(&self) -> usize {
        if self.is_pending() {
            lock(&self.held).len()
        } else {
            0
        }
    }

    /// Settles the sink; the held events go first (sent when ready, dropped and counted
    /// otherwise), under the lock publishers take while pending, so none jumps the queue.
    /// Returns how many held events were queued.
    pub(crate) fn settle(&self, settled: Settled) -> usize {
        let mut held = lock(&self.held);
        if !self.is_pending() {
            return 0;
        }
        let mut sent = 0;
        for Held {
            body,
            timestamp_ms,
            started,
        } in held.drain(..)
        {
            let queued = match &settled {
                Settled::Ready(id) => {
                    self.enqueue(*id, Body::Encoded(&body, timestamp_ms, started), None)
                }
                other => Err(self.refused(other, started)),
            };
            if queued.is_ok() {
                sent += 1;
            }
        }
        // Only settle() sets it, under the lock: it cannot be set already.
        let _ = self.settled.set(settled);
        sent
    }

    /// The error for an event published after the sink failed or closed: counted, and
    /// reported to the sensors.
    fn refused(&self, settled: &Settled, started: Started) -> EventError {
        self.parts.stats.count_dropped(ErrorKind::Delivery);
        let error: EventError = match settled {
            Settled::Failed(cause) => Error::Unregistered {
                event: self.parts.event.clone(),
                source: Arc::clone(cause),
            }
            .into(),
            Settled::Ready(_) | Settled::Closed => EventError::Closed {
                name: self.parts.event.clone(),
            },
        };
        self.parts
            .sensors
            .failed(started, ErrorKind::Delivery, &error);
        error
    }

    /// Frames `body` with `schema_id` and queues it; the sensors' state of its hand-over
    /// and a confirmed publish's `waiter` travel with it to its delivery report.
    fn enqueue(
        &self,
        schema_id: u32,
        body: Body<'_>,
        waiter: Option<DeliveryWaiter>,
    ) -> Result<(), EventError> {
        let Some(producer) = self.parts.producer.upgrade() else {
            let started = match body {
                Body::Encoded(_, _, started) => started,
                Body::Event(_) => Started::default(),
            };
            return Err(self.refused(&Settled::Closed, started));
        };
        FRAME.with_borrow_mut(|frame| {
            frame.clear();
            frame.extend_from_slice(&framing::header(schema_id));
            let (started, timestamp_ms) = match body {
                Body::Event(event) => (
                    self.parts
                        .sensors
                        .encode_and_start(event, frame, HEADER_LEN),
                    event.metadata().timestamp_ms(),
                ),
                Body::Encoded(bytes, timestamp_ms, started) => {
                    frame.extend_from_slice(bytes);
                    (started, timestamp_ms)
                }
            };
            let context = producer.context();
            let sink = (self.key, &self.parts.sensors);
            let opaque = match context.track(sink, started, waiter) {
                Ok(opaque) => opaque,
                Err(in_flight) => {
                    let full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
                    return Err(self.not_queued(full, Some(*in_flight)));
                }
            };
            let mut record =
                BaseRecord::<(), [u8], Opaque>::with_opaque_to(&self.parts.topic, opaque)
                    .payload(frame.as_slice());
            // The message's time is the event's: librdkafka need not read the wall clock
            // again (it does for 0, which Kafka cannot tell from "no time").
            if timestamp_ms > 0 {
                record = record.timestamp(timestamp_ms);
            }
            match producer.send(record) {
                Ok(()) => {
                    self.parts.stats.count_enqueued();
                    Ok(())
                }
                Err((error, record)) => {
                    let in_flight = context.untrack(record.delivery_opaque);
                    Err(self.not_queued(error, in_flight))
                }
            }
        })
    }

    /// The error for an event the producer refused: counted, and reported to the
    /// sensors that saw it start.
    fn not_queued(&self, error: KafkaError, in_flight: Option<InFlight>) -> EventError {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) {
            self.parts.sensors.buffer_full();
        }
        let error: EventError = Error::enqueue(&self.parts.event, error).into();
        self.parts
            .stats
            .count_dropped(error.kind().unwrap_or(ErrorKind::Delivery));
        if let Some(in_flight) = in_flight {
            in_flight.refused(&error);
        }
        error
    }

    /// Holds an event while pending; `Ok(Some(settled))` if the sink settled meanwhile
    /// (the caller then acts on it).
    fn hold(&self, event: &dyn OutgoingEvent) -> Result<Option<&Settled>, EventError> {
        let mut held = lock(&self.held);
        if let Some(settled) = self.settled.get() {
            return Ok(Some(settled));
        }
        let mut body = Vec::with_capacity(128);
        let started = self
            .parts
            .sensors
            .encode_and_start(event, &mut body, HEADER_LEN);
        if held.len() >= self.parts.max_held {
            self.parts.sensors.buffer_full();
            let error: EventError = Error::HoldFull {
                event: self.parts.event.clone(),
                held: held.len(),
            }
            .into();
            self.parts
                .stats
                .count_dropped(error.kind().unwrap_or(ErrorKind::Delivery));
            self.parts.sensors.failed_with(started, &error);
            return Err(error);
        }
        held.push_back(Held {
            body,
            timestamp_ms: event.metadata().timestamp_ms(),
            started,
        });
        Ok(None)
    }

    fn send_settled(&self, settled: &Settled, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        match settled {
            Settled::Ready(id) => self.enqueue(*id, Body::Event(event), None),
            other => Err(self.refused(other, Started::default())),
        }
    }
}

/// What to frame: an event to encode now, or a body encoded earlier with its time (in
/// milliseconds since the epoch) and its hand-over.
enum Body<'a> {
    Event(&'a dyn OutgoingEvent),
    Encoded(&'a [u8], i64, Started),
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        if let (Some(key), Some(producer)) = (self.key, self.parts.producer.upgrade()) {
            producer.context().unregister_sink(key);
        }
    }
}

impl EventSink for KafkaSink {
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        match self.settled.get() {
            Some(settled) => self.send_settled(settled, event),
            None => match self.hold(event)? {
                None => Ok(()),
                Some(settled) => self.send_settled(settled, event),
            },
        }
    }

    fn send_confirmed(
        &self,
        event: &dyn OutgoingEvent,
    ) -> BoxFuture<'static, Result<(), EventError>> {
        let name = self.parts.event.clone();
        let Some(this) = self.me.upgrade() else {
            return Box::pin(async move { Err(EventError::Closed { name }) });
        };
        // Encode now: the future must not borrow the event.
        let timestamp_ms = event.metadata().timestamp_ms();
        let mut body = Vec::with_capacity(128);
        let started = self
            .parts
            .sensors
            .encode_and_start(event, &mut body, HEADER_LEN);
        Box::pin(async move {
            // Wait (bounded) for the schema id if registration is still being retried.
            let waited = this.parts.delivery_timeout;
            let settled = match tokio::time::timeout(waited, this.settled.wait()).await {
                Ok(settled) => settled,
                Err(_) => {
                    let error: EventError = Error::RegistrationTimeout {
                        event: name,
                        waited,
                    }
                    .into();
                    this.parts
                        .stats
                        .count_lost(error.kind().unwrap_or(ErrorKind::Delivery));
                    this.parts.sensors.failed_with(started, &error);
                    return Err(error);
                }
            };
            let id = match settled {
                Settled::Ready(id) => *id,
                other => return Err(this.refused(other, started)),
            };
            let (sender, receiver) = oneshot::channel();
            this.enqueue(
                id,
                Body::Encoded(&body, timestamp_ms, started),
                Some(sender),
            )?;
            match receiver.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(source)) => Err(Error::Delivery {
                    event: name,
                    source,
                }
                .into()),
                Err(_) => Err(Error::ProducerClosed { event: name }.into()),
            }
        })
    }

    fn subject(&self) -> Option<&str> {
        Some(&self.parts.subject)
    }

    fn schema_id(&self) -> Option<u32> {
        match self.settled.get() {
            Some(Settled::Ready(id)) => Some(*id),
            _ => None,
        }
    }
}
