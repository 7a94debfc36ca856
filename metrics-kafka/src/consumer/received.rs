//! One message as the consumer hands it out: decoded on request with the decode hooks,
//! processed by the application with the stream-event hooks, done when dropped.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use metrics_core::decode::{Event, EventDecode};
use metrics_core::sensor::{
    DecodeFailure, Decoded, MessageIn, MessageState, Paired, StreamEvent, TopicPartition,
};

use super::Inner;
use super::decoder::{DecodedEvent, ValueDecodeError};

/// One message read from a topic, undecoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The message's timestamp, in milliseconds since the epoch, if it has one.
    pub timestamp: Option<i64>,
    /// Whether the message had a key (events have none).
    pub has_key: bool,
    /// The value bytes.
    pub payload: Vec<u8>,
}

impl RawMessage {
    /// Where it was read, for the sensors.
    fn tp(&self) -> TopicPartition<'_> {
        TopicPartition {
            topic: &self.topic,
            partition: self.partition,
        }
    }

    /// The message as the sensors see it, at `at`.
    fn info(&self, at: Instant) -> MessageIn<'_> {
        MessageIn {
            tp: self.tp(),
            offset: self.offset,
            size: self.payload.len(),
            at,
        }
    }
}

/// A message that could not be decoded, and where it is.
#[derive(Debug, thiserror::Error)]
#[error("{topic} partition {partition} offset {offset}: {failure}")]
pub struct MessageError {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// Why it could not be decoded.
    #[source]
    pub failure: ValueDecodeError,
}

/// A message handed out by [`EventConsumer::recv`](super::EventConsumer::recv).
///
/// Dropping it tells the consumer the application is done with it: the sensors see the
/// message out, and (with a group) its offset is committed with the next commit.
pub struct Received {
    inner: Arc<Inner>,
    message: RawMessage,
    state: Option<Paired<MessageState>>,
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl Received {
    pub(super) fn new(inner: Arc<Inner>, message: RawMessage) -> Self {
        let state = (inner.sensors.now_if_attached())
            .and_then(|at| inner.sensors.on_message_in(&message.info(at)));
        Self {
            inner,
            message,
            state,
        }
    }

    /// The message as read.
    pub fn message(&self) -> &RawMessage {
        &self.message
    }

    /// Runs `decode` between the decode hooks; a failure is reported and located.
    async fn decoding<T>(
        &self,
        decode: impl Future<Output = Result<T, ValueDecodeError>>,
        schema_id: impl Fn(&T) -> u32,
    ) -> Result<T, MessageError> {
        let sensors = &self.inner.sensors;
        let started = (sensors.now_if_attached())
            .and_then(|at| sensors.on_decode_start(&self.message.info(at)));
        let result = decode.await;
        let tp = self.message.tp();
        match (&result, started) {
            (Ok(value), Some(started)) => started.on_decode_end(&Decoded {
                tp,
                offset: self.message.offset,
                schema_id: schema_id(value),
                at: Instant::now(),
            }),
            (Err(failure), Some(started)) => started.on_decode_error(&DecodeFailure {
                tp,
                offset: self.message.offset,
                kind: failure.kind,
                at: Instant::now(),
            }),
            (_, None) => {}
        }
        if result.is_err() {
            self.inner
                .decode_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result.map_err(|failure| MessageError {
            topic: self.message.topic.clone(),
            partition: self.message.partition,
            offset: self.message.offset,
            failure,
        })
    }

    /// Decodes the message through the registry, whatever its schema, straight to one
    /// line of JSON text (as [`DecodedEvent::to_json`](super::DecodedEvent::to_json)
    /// renders it), with its schema id.
    ///
    /// # Errors
    ///
    /// The message could not be decoded.
    pub async fn decode_json(&self) -> Result<(u32, String), MessageError> {
        self.decoding(
            self.inner.decoder.decode_json(&self.message.payload),
            |(id, _)| *id,
        )
        .await
    }

    /// Decodes the message through the registry, whatever its schema.
    ///
    /// # Errors
    ///
    /// Not a Confluent frame, a schema the registry does not give, or a body that does
    /// not match its schema; located by partition and offset.
    pub async fn decode(&self) -> Result<DecodedEvent, MessageError> {
        self.decoding(
            self.inner.decoder.decode(&self.message.payload),
            DecodedEvent::schema_id,
        )
        .await
    }

    /// Decodes the message as the typed event `P`.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode), or a writer schema that is not `P`'s.
    pub async fn decode_as<P: EventDecode>(&self) -> Result<Event<P>, MessageError> {
        let schema_id = event_schema_id(&self.message);
        self.decoding(
            self.inner.decoder.decode_as::<P>(&self.message.payload),
            |_| schema_id,
        )
        .await
    }

    /// Decodes the message as `P` and runs the application's `handler` on it between
    /// the stream-event hooks (Faust's `on_stream_event_in/out`).
    ///
    /// # Errors
    ///
    /// The message could not be decoded (the handler does not run).
    pub async fn process<P, F, Fut, T>(&self, handler: F) -> Result<T, MessageError>
    where
        P: EventDecode,
        F: FnOnce(Event<P>) -> Fut,
        Fut: Future<Output = T>,
    {
        let event = self.decode_as::<P>().await?;
        let schema = self.inner.decoder.cached(event_schema_id(&self.message));
        let name = schema.as_ref().map_or("", |s| s.name());
        Ok(self.handling(name, handler(event)).await)
    }

    /// Runs `work`, the application's processing of decoded event `event` (its name),
    /// between the stream-event hooks.
    pub async fn handling<T>(&self, event: &str, work: impl Future<Output = T>) -> T {
        let info = |at| StreamEvent {
            tp: self.message.tp(),
            offset: self.message.offset,
            event,
            at,
        };
        let started = self.inner.sensors.on_stream_event_in(&info(Instant::now()));
        let output = work.await;
        if let Some(started) = started {
            started.on_stream_event_out(&info(Instant::now()));
        }
        output
    }
}

fn event_schema_id(message: &RawMessage) -> u32 {
    crate::framing::split(&message.payload).map_or(0, |(id, _)| id)
}

impl Drop for Received {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.on_message_out(&self.message.info(Instant::now()));
        }
        self.inner.done(
            &self.message.topic,
            self.message.partition,
            self.message.offset,
        );
    }
}
