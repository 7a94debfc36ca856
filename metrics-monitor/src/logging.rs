//! `LoggingSensor`: the pipeline as `tracing` events, at a chosen level and detail.
//! Events carry topics, event names, sizes, partitions, offsets and timings, never a
//! payload's contents.

use std::time::Instant;

use metrics_core::sensor::{
    CommitDone, CommitState, DecodeFailure, DecodeState, Delivered, MessageIn, MessageState,
    RebalanceState, RegistryCall, SendFailure, SendInfo, SendState, Sensor, SensorResult,
    StreamEvent, StreamEventState, WebRequestState, WebResponse,
};

use crate::config::{LogDetail, LogLevel};

/// Emits a `tracing` event at a level chosen at run time.
macro_rules! log_at {
    ($level:expr, $($fields:tt)+) => {
        match $level {
            LogLevel::Trace => tracing::trace!(target: "app_metrics", $($fields)+),
            LogLevel::Debug => tracing::debug!(target: "app_metrics", $($fields)+),
            LogLevel::Info => tracing::info!(target: "app_metrics", $($fields)+),
            LogLevel::Warn => tracing::warn!(target: "app_metrics", $($fields)+),
            LogLevel::Error => tracing::error!(target: "app_metrics", $($fields)+),
        }
    };
}

/// Logs the pipeline through `tracing` (target `app_metrics`).
///
/// Failures are logged at `WARN` or above (the configured level if higher); operations
/// and events at the configured level. Payload contents are never logged.
///
/// ```
/// use std::sync::Arc;
/// use metrics_core::SensorDelegate;
/// use metrics_monitor::{LogDetail, LogLevel, LoggingSensor};
///
/// let delegate = SensorDelegate::new();
/// delegate.add(Arc::new(LoggingSensor::new(LogLevel::Debug, LogDetail::Everything)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LoggingSensor {
    level: LogLevel,
    detail: LogDetail,
}

impl LoggingSensor {
    /// A sensor logging at `level` with `detail`.
    pub fn new(level: LogLevel, detail: LogDetail) -> Self {
        Self { level, detail }
    }

    fn failure_level(&self) -> LogLevel {
        match self.level {
            LogLevel::Error => LogLevel::Error,
            _ => LogLevel::Warn,
        }
    }

    fn operations(&self) -> bool {
        matches!(self.detail, LogDetail::Operations | LogDetail::Everything)
    }

    fn everything(&self) -> bool {
        self.detail == LogDetail::Everything
    }
}

/// A duration in milliseconds, for log fields.
fn millis(elapsed: std::time::Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

impl Sensor for LoggingSensor {
    fn name(&self) -> &str {
        "logging"
    }

    fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
        if self.everything() {
            log_at!(
                self.level,
                topic = send.topic,
                event = send.event,
                bytes = send.value_size,
                "event handed to the producer"
            );
        }
        Ok(SendState::at(send.at))
    }

    fn on_send_completed(&self, state: SendState, done: &Delivered<'_>) -> SensorResult {
        if self.everything() {
            log_at!(
                self.level,
                topic = done.topic,
                event = done.event,
                partition = done.partition,
                offset = done.offset,
                latency_ms = millis(state.elapsed(done.at)),
                "event delivered"
            );
        }
        Ok(())
    }

    fn on_send_error(&self, _state: SendState, failure: &SendFailure<'_>) -> SensorResult {
        log_at!(self.failure_level(), topic = failure.topic, event = failure.event, kind = failure.kind.as_str(), error = %failure.error, "event not delivered");
        Ok(())
    }

    fn on_topic_buffer_full(&self, topic: &str) -> SensorResult {
        log_at!(self.failure_level(), topic, "the producer's buffer is full");
        Ok(())
    }

    fn on_registry_call(&self, call: &RegistryCall<'_>) -> SensorResult {
        match call.error {
            Some(kind) => {
                log_at!(
                    self.failure_level(),
                    operation = call.operation.as_str(),
                    target = call.target,
                    kind = kind.as_str(),
                    "schema registry call failed"
                )
            }
            None if self.operations() => {
                log_at!(
                    self.level,
                    operation = call.operation.as_str(),
                    target = call.target,
                    cache_hit = call.cache_hit,
                    latency_ms = call.elapsed.as_secs_f64() * 1000.0,
                    "schema registry call"
                )
            }
            None => {}
        }
        Ok(())
    }

    fn on_message_in(&self, message: &MessageIn<'_>) -> SensorResult<MessageState> {
        if self.everything() {
            log_at!(
                self.level,
                topic = message.tp.topic,
                partition = message.tp.partition,
                offset = message.offset,
                bytes = message.size,
                "message read"
            );
        }
        Ok(MessageState::at(message.at))
    }

    fn on_stream_event_out(
        &self,
        state: StreamEventState,
        event: &StreamEvent<'_>,
    ) -> SensorResult {
        if self.everything() {
            log_at!(
                self.level,
                topic = event.tp.topic,
                partition = event.tp.partition,
                offset = event.offset,
                event = event.event,
                handler_ms = millis(state.elapsed(event.at)),
                "event handled"
            );
        }
        Ok(())
    }

    fn on_decode_error(&self, _state: DecodeState, failure: &DecodeFailure<'_>) -> SensorResult {
        log_at!(
            self.failure_level(),
            topic = failure.tp.topic,
            partition = failure.tp.partition,
            offset = failure.offset,
            kind = failure.kind.as_str(),
            "message not decodable"
        );
        Ok(())
    }

    fn on_commit_completed(&self, state: CommitState, done: &CommitDone) -> SensorResult {
        if !done.ok {
            log_at!(
                self.failure_level(),
                latency_ms = millis(state.elapsed(done.at)),
                "commit failed"
            );
        } else if self.operations() {
            log_at!(
                self.level,
                latency_ms = millis(state.elapsed(done.at)),
                "offsets committed"
            );
        }
        Ok(())
    }

    fn on_rebalance_end(&self, state: RebalanceState, at: Instant) -> SensorResult {
        if self.operations() {
            log_at!(
                self.level,
                rebalance_ms = millis(state.elapsed(at)),
                "rebalance done"
            );
        }
        Ok(())
    }

    fn on_web_request_end(
        &self,
        state: WebRequestState,
        response: &WebResponse<'_>,
    ) -> SensorResult {
        if self.operations() {
            log_at!(
                self.level,
                method = response.method,
                route = response.route,
                status = response.status,
                latency_ms = millis(state.elapsed(response.at)),
                "web request"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// One event type for every hook call of these tests.
    static KEY: std::sync::LazyLock<metrics_core::sensor::EventKey> =
        std::sync::LazyLock::new(metrics_core::sensor::EventKey::new);

    use metrics_core::ErrorKind;

    fn capture(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    fn exercise(sensor: &LoggingSensor) {
        let at = Instant::now();
        let send = SendInfo {
            key: *KEY,
            topic: "events",
            event: "query",
            key_size: 0,
            value_size: 77,
            at,
        };
        let state = sensor.on_send_initiated(&send).unwrap();
        sensor
            .on_send_completed(
                state,
                &Delivered {
                    key: *KEY,
                    topic: "events",
                    event: "query",
                    partition: 1,
                    offset: 9,
                    at,
                },
            )
            .unwrap();
        let error = std::io::Error::other("message timed out");
        sensor
            .on_send_error(
                state,
                &SendFailure {
                    key: *KEY,
                    topic: "events",
                    event: "query",
                    kind: ErrorKind::Delivery,
                    error: &error,
                    at,
                },
            )
            .unwrap();
    }

    #[test]
    fn everything_logs_each_event_at_the_level_and_failures_at_warn() {
        let output =
            capture(|| exercise(&LoggingSensor::new(LogLevel::Debug, LogDetail::Everything)));
        assert!(output.contains("DEBUG app_metrics: event handed to the producer topic=\"events\" event=\"query\" bytes=77"), "{output}");
        assert!(
            output.contains("DEBUG app_metrics: event delivered") && output.contains("offset=9"),
            "{output}"
        );
        assert!(
            output.contains("WARN app_metrics: event not delivered")
                && output.contains("kind=\"delivery\""),
            "{output}"
        );
    }

    #[test]
    fn errors_only_logs_failures() {
        let output = capture(|| exercise(&LoggingSensor::new(LogLevel::Info, LogDetail::Errors)));
        assert!(
            !output.contains("event delivered") && !output.contains("handed to"),
            "{output}"
        );
        assert_eq!(output.matches("event not delivered").count(), 1, "{output}");
    }
}
