//! `LoggingSensor`: the pipeline as `tracing` events, at a chosen level, detail, target
//! and format. Events carry topics, event names, sizes, partitions, offsets and timings,
//! never a payload's contents.

use std::fmt::{Display, Write as _};
use std::time::Instant;

use metrics_core::sensor::{
    AssignmentFailure, AssignmentState, CommitDone, CommitState, CustomMetric, DecodeFailure,
    DecodeState, Delivered, MessageIn, MessageState, RebalanceState, RegistryCall, SendFailure,
    SendInfo, SendState, Sensor, SensorResult, StreamEvent, StreamEventState, WebRequestState,
    WebResponse,
};

use crate::config::{LogDetail, LogFormat, LogLevel};

/// The target of the sensor's events unless another is chosen.
pub const DEFAULT_TARGET: &str = "app_metrics";

/// Emits a `tracing` event with structured fields at a level chosen at run time (target
/// [`DEFAULT_TARGET`]: a `tracing` callsite's target is fixed at compile time).
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

/// Logs one line of the sensor: structured fields, or one formatted message (another
/// target or format).
macro_rules! sensor_log {
    ($sensor:expr, $level:expr, $message:expr $(, $name:ident = $value:expr)* $(,)?) => {{
        let sensor: &LoggingSensor = $sensor;
        if sensor.structured() {
            log_at!($level, $($name = $value,)* "{}", $message);
        } else {
            sensor.emit_text($level, $message, &[$((stringify!($name), &$value as &dyn Display)),*]);
        }
    }};
}

/// Logs the pipeline through `tracing` (Faust's `LoggingSensor`).
///
/// Failures are logged at `WARN` or above (the configured level if higher); operations
/// and events at the configured level. Payload contents are never logged.
///
/// By default each line is a `tracing` event of target `app_metrics` with structured
/// fields (the subscriber formats them). [`with_target`](Self::with_target) (Faust's
/// `logger_name`) and [`with_format`](Self::with_format) turn each line into one message,
/// as `logfmt` or JSON, sent under the chosen target through `tracing-log` (a `tracing`
/// target is fixed at compile time; a `log` record's is not): `RUST_LOG=orders_metrics=info`
/// then selects it like any other target.
///
/// ```
/// use std::sync::Arc;
/// use metrics_core::sensor::SensorDelegate;
/// use metrics_monitor::{LogDetail, LogFormat, LogLevel, LoggingSensor};
///
/// let delegate = SensorDelegate::new();
/// delegate.add(Arc::new(LoggingSensor::new(LogLevel::Debug, LogDetail::Everything)));
/// let json = LoggingSensor::new(LogLevel::Info, LogDetail::Operations)
///     .with_target("orders_metrics")
///     .with_format(LogFormat::Json);
/// json.log_performance_metric("batch_seconds", 0.25, "s");
/// ```
#[derive(Debug, Clone)]
pub struct LoggingSensor {
    level: LogLevel,
    detail: LogDetail,
    target: Option<Box<str>>,
    format: LogFormat,
}

impl LoggingSensor {
    /// A sensor logging at `level` with `detail`, structured fields, target `app_metrics`.
    pub fn new(level: LogLevel, detail: LogDetail) -> Self {
        Self {
            level,
            detail,
            target: None,
            format: LogFormat::Fields,
        }
    }

    /// Logs under `target` (Faust's `logger_name`) instead of `app_metrics`; fields are
    /// then written into the message (`logfmt` unless [`LogFormat::Json`]).
    #[must_use]
    pub fn with_target(mut self, target: &str) -> Self {
        self.target = (target != DEFAULT_TARGET).then(|| target.into());
        self
    }

    /// Writes each line in `format`.
    #[must_use]
    pub fn with_format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// The target of the sensor's lines.
    pub fn target(&self) -> &str {
        self.target.as_deref().unwrap_or(DEFAULT_TARGET)
    }

    /// Logs a message read (Faust's helper of the same name), at the sensor's level,
    /// whatever its detail.
    pub fn log_message_in(&self, message: &MessageIn<'_>) {
        self.log_message("message in", message);
    }

    /// Logs a message done with (Faust's helper of the same name), at the sensor's level,
    /// whatever its detail.
    pub fn log_message_out(&self, message: &MessageIn<'_>) {
        self.log_message("message out", message);
    }

    fn log_message(&self, what: &str, message: &MessageIn<'_>) {
        sensor_log!(
            self,
            self.level,
            what,
            topic = message.tp.topic,
            partition = message.tp.partition,
            offset = message.offset,
            bytes = message.size
        );
    }

    /// Logs a figure of the application's (`name`, `value`, `unit`), at the sensor's
    /// level, whatever its detail.
    pub fn log_performance_metric(&self, name: &str, value: f64, unit: &str) {
        sensor_log!(
            self,
            self.level,
            "performance metric",
            name = name,
            value = value,
            unit = unit
        );
    }

    fn structured(&self) -> bool {
        self.target.is_none() && self.format == LogFormat::Fields
    }

    /// Writes `message` and `fields` as one line in the sensor's format and logs it under
    /// its target.
    fn emit_text(&self, level: LogLevel, message: &str, fields: &[(&str, &dyn Display)]) {
        let line = match self.format {
            LogFormat::Json => {
                let mut object = serde_json::Map::new();
                object.insert("message".into(), message.into());
                for (name, value) in fields {
                    let text = value.to_string();
                    let value = match text.parse::<f64>() {
                        Ok(n) if n.is_finite() => serde_json::json!(n),
                        _ => serde_json::Value::String(text),
                    };
                    object.insert((*name).into(), value);
                }
                serde_json::Value::Object(object).to_string()
            }
            LogFormat::Fields | LogFormat::Logfmt => {
                let mut line = message.to_owned();
                for (name, value) in fields {
                    let text = value.to_string();
                    let plain = !text.is_empty()
                        && !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
                    if plain {
                        let _ = write!(line, " {name}={text}");
                    } else {
                        let _ = write!(line, " {name}={text:?}");
                    }
                }
                line
            }
        };
        let level = match level {
            LogLevel::Trace => log::Level::Trace,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error => log::Level::Error,
        };
        let _ = tracing_log::format_trace(
            &log::Record::builder()
                .target(self.target())
                .level(level)
                .module_path_static(Some(module_path!()))
                .args(format_args!("{line}"))
                .build(),
        );
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

/// Installs a global `tracing` subscriber that prints the sensor's lines (and the
/// application's) to stderr, filtered by `directives` in `RUST_LOG` syntax (e.g.
/// `app_metrics=info,orders_metrics=debug`): the counterpart of Faust's
/// `configure_sensor_logging` for applications that have no subscriber of their own.
///
/// # Errors
///
/// The directives do not parse, or a global subscriber is already installed.
pub fn configure_sensor_logging(directives: &str) -> Result<(), SensorLoggingError> {
    let filter = tracing_subscriber::EnvFilter::try_new(directives).map_err(|source| {
        SensorLoggingError::Directives {
            directives: directives.to_owned(),
            source,
        }
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(SensorLoggingError::AlreadyInstalled)
}

/// Why [`configure_sensor_logging`] installed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SensorLoggingError {
    /// The filter directives do not parse.
    #[error("invalid log filter {directives:?}: use RUST_LOG syntax, e.g. \"app_metrics=info\"")]
    Directives {
        /// What was given.
        directives: String,
        /// Why it does not parse.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The application already installed a global subscriber: the sensor's lines go to it.
    #[error("a global tracing subscriber is already installed: the sensor logs through it")]
    AlreadyInstalled(#[source] Box<dyn std::error::Error + Send + Sync>),
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
            sensor_log!(
                self,
                self.level,
                "event handed to the producer",
                topic = send.topic,
                event = send.event,
                bytes = send.value_size
            );
        }
        Ok(SendState::at(send.at))
    }

    fn on_send_completed(&self, state: SendState, done: &Delivered<'_>) -> SensorResult {
        if self.everything() {
            sensor_log!(
                self,
                self.level,
                "event delivered",
                topic = done.topic,
                event = done.event,
                partition = done.partition,
                offset = done.offset,
                latency_ms = millis(state.elapsed(done.at))
            );
        }
        Ok(())
    }

    fn on_send_error(&self, _state: SendState, failure: &SendFailure<'_>) -> SensorResult {
        sensor_log!(
            self,
            self.failure_level(),
            "event not delivered",
            topic = failure.topic,
            event = failure.event,
            kind = failure.kind.as_str(),
            error = failure.error.to_string()
        );
        Ok(())
    }

    fn on_topic_buffer_full(&self, topic: &str) -> SensorResult {
        sensor_log!(
            self,
            self.failure_level(),
            "the producer's buffer is full",
            topic = topic
        );
        Ok(())
    }

    fn on_registry_call(&self, call: &RegistryCall<'_>) -> SensorResult {
        match call.error {
            Some(kind) => {
                sensor_log!(
                    self,
                    self.failure_level(),
                    "schema registry call failed",
                    operation = call.operation.as_str(),
                    target = call.target,
                    kind = kind.as_str()
                )
            }
            // A cache hit is no operation worth a line (one per consumed message).
            None if self.operations() && !call.cache_hit => {
                sensor_log!(
                    self,
                    self.level,
                    "schema registry call",
                    operation = call.operation.as_str(),
                    target = call.target,
                    latency_ms = call.elapsed.as_secs_f64() * 1000.0
                )
            }
            None => {}
        }
        Ok(())
    }

    fn on_custom_metric(&self, metric: &CustomMetric<'_>) -> SensorResult {
        if self.everything() {
            sensor_log!(
                self,
                self.level,
                "custom metric",
                sensor = metric.sensor,
                name = metric.name,
                kind = <&str>::from(metric.kind),
                value = metric.value
            );
        }
        Ok(())
    }

    fn on_message_in(&self, message: &MessageIn<'_>) -> SensorResult<MessageState> {
        if self.everything() {
            sensor_log!(
                self,
                self.level,
                "message read",
                topic = message.tp.topic,
                partition = message.tp.partition,
                offset = message.offset,
                bytes = message.size
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
            sensor_log!(
                self,
                self.level,
                "event handled",
                topic = event.tp.topic,
                partition = event.tp.partition,
                offset = event.offset,
                event = event.event,
                handler_ms = millis(state.elapsed(event.at))
            );
        }
        Ok(())
    }

    fn on_decode_error(&self, _state: DecodeState, failure: &DecodeFailure<'_>) -> SensorResult {
        sensor_log!(
            self,
            self.failure_level(),
            "message not decodable",
            topic = failure.tp.topic,
            partition = failure.tp.partition,
            offset = failure.offset,
            kind = failure.kind.as_str()
        );
        Ok(())
    }

    fn on_commit_completed(&self, state: CommitState, done: &CommitDone) -> SensorResult {
        if !done.ok {
            sensor_log!(
                self,
                self.failure_level(),
                "commit failed",
                latency_ms = millis(state.elapsed(done.at))
            );
        } else if self.operations() {
            sensor_log!(
                self,
                self.level,
                "offsets committed",
                latency_ms = millis(state.elapsed(done.at))
            );
        }
        Ok(())
    }

    fn on_assignment_error(
        &self,
        _state: AssignmentState,
        failure: &AssignmentFailure<'_>,
    ) -> SensorResult {
        sensor_log!(
            self,
            self.failure_level(),
            "partition assignment failed",
            error = failure.error.to_string()
        );
        Ok(())
    }

    fn on_rebalance_end(&self, state: RebalanceState, at: Instant) -> SensorResult {
        if self.operations() {
            sensor_log!(
                self,
                self.level,
                "rebalance done",
                rebalance_ms = millis(state.elapsed(at))
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
            sensor_log!(
                self,
                self.level,
                "web request",
                method = response.method,
                route = response.route,
                status = response.status,
                latency_ms = millis(state.elapsed(response.at))
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

    fn registry_call(cache_hit: bool) -> RegistryCall<'static> {
        RegistryCall {
            operation: metrics_core::sensor::RegistryOperation::SchemaById,
            target: "7",
            cache_hit,
            elapsed: std::time::Duration::from_millis(3),
            error: None,
        }
    }

    #[test]
    fn registry_cache_hits_are_not_logged_at_the_default_detail() {
        let sensor = LoggingSensor::new(LogLevel::Info, LogDetail::Operations);
        let output = capture(|| {
            for _ in 0..100 {
                sensor.on_registry_call(&registry_call(true)).unwrap();
            }
            sensor.on_registry_call(&registry_call(false)).unwrap();
        });
        assert_eq!(output.lines().count(), 1, "{output}");
        assert!(
            output.contains("INFO app_metrics: schema registry call")
                && output.contains("target=\"7\""),
            "{output}"
        );
    }

    #[test]
    fn a_chosen_target_gets_logfmt_lines() {
        let sensor =
            LoggingSensor::new(LogLevel::Info, LogDetail::Everything).with_target("orders_metrics");
        let output = capture(|| {
            exercise(&sensor);
            sensor.log_performance_metric("batch seconds", 0.25, "s");
        });
        assert!(
            output.contains("INFO orders_metrics: event handed to the producer topic=events event=query bytes=77"),
            "{output}"
        );
        assert!(
            output.contains("WARN orders_metrics: event not delivered topic=events event=query kind=delivery error=\"message timed out\""),
            "{output}"
        );
        assert!(
            output.contains(
                "INFO orders_metrics: performance metric name=\"batch seconds\" value=0.25 unit=s"
            ),
            "{output}"
        );
        assert!(!output.contains("app_metrics:"), "{output}");
    }

    #[test]
    fn json_lines_carry_the_message_and_the_fields() {
        let sensor =
            LoggingSensor::new(LogLevel::Debug, LogDetail::Everything).with_format(LogFormat::Json);
        let output = capture(|| exercise(&sensor));
        let delivered = output
            .lines()
            .find(|line| line.contains("event delivered"))
            .unwrap_or_else(|| panic!("{output}"));
        let json = &delivered[delivered.find('{').unwrap()..];
        let json: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(json["message"], "event delivered");
        assert_eq!(json["topic"], "events");
        assert_eq!(json["offset"], 9.0);
        assert!(delivered.contains("DEBUG app_metrics:"), "{delivered}");
    }

    #[test]
    fn configure_sensor_logging_refuses_bad_directives_by_name() {
        let error = configure_sensor_logging("app_metrics=loud").unwrap_err();
        assert!(error.to_string().contains("app_metrics=loud"), "{error}");
    }
}
