//! The sink of one event type: frames events with the schema id and hands them to the
//! producer, holding them (encoded, bounded) while the schema is not registered yet.
//!
//! Its state is [`Settled`], set once: empty while pending, then ready (with the schema
//! id) or failed for good. The hot path reads it with one atomic load.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use metrics_core::backend::BoxFuture;
use metrics_core::log_limit::LogLimiter;
use metrics_core::sync::lock;
use metrics_core::{EventError, EventSink, OutgoingEvent};
use rdkafka::producer::{BaseRecord, Producer};
use tokio::sync::{SetOnce, oneshot};

use crate::error::Error;
use crate::framing;
use crate::producer::{DeliveryStats, EventProducer};

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
    /// Events held at most while pending (`KAFKA_QUEUE_MAX_MESSAGES`).
    pub(crate) max_held: usize,
    /// How long a confirmed publish waits for the registration (`KAFKA_DELIVERY_TIMEOUT`).
    pub(crate) delivery_timeout: Duration,
    pub(crate) retry_log: LogLimiter,
}

pub(crate) struct KafkaSink {
    parts: SinkParts,
    settled: SetOnce<Settled>,
    /// Avro bodies (unframed) published while pending, in order; empty once settled.
    held: Mutex<VecDeque<Vec<u8>>>,
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
        Arc::new_cyclic(|me| Self {
            parts,
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
        for body in held.drain(..) {
            let queued = match &settled {
                Settled::Ready(id) => self.enqueue(*id, 0, |frame| frame.extend_from_slice(&body)),
                Settled::Failed(_) | Settled::Closed => {
                    self.parts.stats.count_dropped();
                    continue;
                }
            };
            if queued.is_ok() {
                sent += 1;
            }
        }
        // Only settle() sets it, under the lock: it cannot be set already.
        let _ = self.settled.set(settled);
        sent
    }

    /// The error for an event published after the sink failed or closed (counted).
    fn refused(&self, settled: &Settled) -> EventError {
        self.parts.stats.count_dropped();
        match settled {
            Settled::Failed(cause) => Error::Unregistered {
                event: self.parts.event.clone(),
                source: Arc::clone(cause),
            }
            .into(),
            Settled::Ready(_) | Settled::Closed => EventError::Closed {
                name: self.parts.event.clone(),
            },
        }
    }

    /// Frames the Avro body `write` produces with `schema_id` and queues it with `waiter`
    /// as its delivery opaque (0: nobody waits).
    fn enqueue(
        &self,
        schema_id: u32,
        waiter: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), EventError> {
        let Some(producer) = self.parts.producer.upgrade() else {
            return Err(self.refused(&Settled::Closed));
        };
        FRAME.with_borrow_mut(|frame| {
            frame.clear();
            frame.extend_from_slice(&framing::header(schema_id));
            write(frame);
            let record = BaseRecord::<(), [u8], usize>::with_opaque_to(&self.parts.topic, waiter)
                .payload(frame.as_slice());
            match producer.send(record) {
                Ok(()) => {
                    self.parts.stats.count_enqueued();
                    Ok(())
                }
                Err((error, _)) => {
                    self.parts.stats.count_dropped();
                    Err(Error::enqueue(&self.parts.event, error).into())
                }
            }
        })
    }

    /// Holds an event while pending; `Ok(Some(settled))` if the sink settled meanwhile
    /// (the caller then acts on it).
    fn hold(&self, event: &dyn OutgoingEvent) -> Result<Option<&Settled>, EventError> {
        let mut held = lock(&self.held);
        if let Some(settled) = self.settled.get() {
            return Ok(Some(settled));
        }
        if held.len() >= self.parts.max_held {
            self.parts.stats.count_dropped();
            return Err(Error::HoldFull {
                event: self.parts.event.clone(),
                held: held.len(),
            }
            .into());
        }
        let mut body = Vec::with_capacity(128);
        event.encode_avro(&mut body);
        held.push_back(body);
        Ok(None)
    }

    fn send_settled(&self, settled: &Settled, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        match settled {
            Settled::Ready(id) => self.enqueue(*id, 0, |frame| event.encode_avro(frame)),
            other => Err(self.refused(other)),
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
        let mut body = Vec::with_capacity(128);
        event.encode_avro(&mut body);
        Box::pin(async move {
            // Wait (bounded) for the schema id if registration is still being retried.
            let waited = this.parts.delivery_timeout;
            let settled = tokio::time::timeout(waited, this.settled.wait())
                .await
                .map_err(|_| Error::RegistrationTimeout {
                    event: name.clone(),
                    waited,
                })?;
            let id = match settled {
                Settled::Ready(id) => *id,
                other => return Err(this.refused(other)),
            };
            let Some(producer) = this.parts.producer.upgrade() else {
                return Err(EventError::Closed { name });
            };
            let (sender, receiver) = oneshot::channel();
            let waiter = producer.context().add_waiter(sender);
            if let Err(error) = this.enqueue(id, waiter, |frame| frame.extend_from_slice(&body)) {
                producer.context().remove_waiter(waiter);
                return Err(error);
            }
            drop(producer);
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

    fn as_any(&self) -> &dyn Any {
        self
    }
}
