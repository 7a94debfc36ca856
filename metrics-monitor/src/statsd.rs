//! `StatsdMonitor`: the pipeline as StatsD metrics, sent as each hook fires (as Faust's
//! `StatsdMonitor` does), through `cadence`'s queuing UDP sink: a hook formats a line and
//! queues it, a background thread writes the packets, and [`StatsdMonitor::flush`] sends
//! a packet that is not full yet (`setup_monitoring` calls it at every sample interval).

use std::fmt::Write as _;
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::monitor::LatencyKind;
use cadence::{
    BufferedUdpMetricSink, Counted, Gauged, MetricError, MetricSink, QueuingMetricSink, SinkStats,
    StatsdClient,
};
use metrics_core::sensor::{
    AssignmentFailure, AssignmentState, CommitDone, CommitState, CustomKind, CustomMetric,
    DecodeFailure, DecodeState, Decoded, Delivered, MessageIn, MessageState, PartitionOffset,
    RebalanceState, RegistryCall, SendFailure, SendInfo, SendState, Sensor, SensorResult,
    StreamEvent, StreamEventState, WebRequestState, WebResponse,
};

/// Sends the pipeline's metrics to a StatsD server, with a prefix and tags
/// (DogStatsD-style `|#key:value`, which Etsy's StatsD 0.9, Telegraf and Datadog read).
///
/// Counters: `messages_sent`, `messages_delivered`, `send_errors`, `topic_buffer_full`,
/// `registry_calls`, `messages_received`, `events`, `decode_errors`, `commits`,
/// `rebalances`, `assignment_errors`, `http_responses`. Timers, in milliseconds with
/// microsecond precision (`0.042|ms`): `send_latency`, `registry_latency`, `decode`,
/// `event_processing`, `commit_latency`, `rebalance_return`, `rebalance_end`,
/// `assignment_latency`, `http_response`. Gauges: `committed_offset`, `end_offset`. The application's own
/// metrics ([`CustomSensor`](crate::CustomSensor)) as
/// `{sensor}.{name}`: counters `|c`, gauges `|g`, histograms as timers `|ms` (the type
/// every StatsD server turns into percentiles), their values sent as recorded.
#[derive(Debug)]
pub struct StatsdMonitor {
    client: StatsdClient,
    sink: Arc<QueuingMetricSink>,
    /// `prefix.` (empty without a prefix).
    prefix: String,
    /// `key:value` pairs every line carries.
    tags: Vec<String>,
}

/// The queuing sink, shared by cadence's client and the lines cadence cannot format
/// (fractional timers).
#[derive(Debug, Clone)]
struct SharedSink(Arc<QueuingMetricSink>);

impl MetricSink for SharedSink {
    fn emit(&self, metric: &str) -> io::Result<usize> {
        self.0.emit(metric)
    }

    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }

    fn stats(&self) -> SinkStats {
        self.0.stats()
    }
}

impl StatsdMonitor {
    /// Sends to `address` (`host:port`), every metric name prefixed with `prefix`, every
    /// metric tagged with `tags`.
    ///
    /// # Errors
    ///
    /// The local UDP socket cannot be opened, or `address` cannot be resolved.
    pub fn new(address: &str, prefix: &str, tags: &[(&str, &str)]) -> Result<Self, MetricError> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.set_nonblocking(true)?;
        let udp = BufferedUdpMetricSink::from(address, socket)?;
        let sink = Arc::new(QueuingMetricSink::from(udp));
        let mut builder = StatsdClient::builder(prefix, SharedSink(Arc::clone(&sink)))
            .with_error_handler(|error| {
                tracing::debug!(%error, "a StatsD metric could not be sent");
            });
        for (key, value) in tags {
            builder = builder.with_tag(*key, *value);
        }
        Ok(Self {
            client: builder.build(),
            sink,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}.")
            },
            tags: tags.iter().map(|(k, v)| format!("{k}:{v}")).collect(),
        })
    }

    /// Sends what is buffered now. `setup_monitoring` does, at every sample interval, so
    /// that a quiet application's metrics do not wait for a full packet; a line queued
    /// just before a flush may wait for the next one.
    pub fn flush(&self) {
        let _ = self.client.flush();
    }

    /// Sends one metric `name` (prefixed like the others) of `kind`: a counter's
    /// increment (`|c`), a gauge's reading (`|g`), or a histogram's observation as a
    /// timer (`|ms`, sent as given: milliseconds, if it is a duration). Faust's
    /// `StatsdMonitor` spelling, for figures no hook reports.
    ///
    /// # Errors
    ///
    /// The line could not be queued (the queue is full).
    pub fn send_metric(&self, name: &str, value: f64, kind: CustomKind) -> io::Result<()> {
        self.emit(name, value, kind, &[])
    }

    /// Formats and queues one line: `prefix.name:value|type|#tags`.
    fn emit(
        &self,
        name: &str,
        value: f64,
        kind: CustomKind,
        tags: &[(&str, &str)],
    ) -> io::Result<()> {
        let kind = match kind {
            CustomKind::Counter => "c",
            CustomKind::Gauge => "g",
            _ => "ms",
        };
        let mut suffix = String::new();
        let mut separator = "|#";
        for tag in &self.tags {
            suffix.push_str(separator);
            suffix.push_str(tag);
            separator = ",";
        }
        for (key, value) in tags {
            let _ = write!(suffix, "{separator}{key}:{value}");
            separator = ",";
        }
        let mut line = String::with_capacity(96);
        if kind == "g" && value < 0.0 {
            // A signed gauge value is a change, not a reading: set 0, then subtract.
            let _ = writeln!(line, "{}{name}:0|g{suffix}", self.prefix);
        }
        let _ = write!(line, "{}{name}:{value}|{kind}{suffix}", self.prefix);
        self.sink.emit(&line).map(|_| ())
    }

    /// Sends a duration as a timer in milliseconds, to the microsecond.
    fn time(&self, name: &str, elapsed: Duration, tags: &[(&str, &str)]) -> io::Result<()> {
        let millis = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
        self.emit(name, millis, CustomKind::Histogram, tags)
    }
}

impl Sensor for StatsdMonitor {
    fn name(&self) -> &str {
        "statsd"
    }

    fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
        self.client
            .count_with_tags("messages_sent", 1)
            .with_tag("topic", send.topic)
            .with_tag("event", send.event)
            .try_send()?;
        Ok(SendState::at(send.at))
    }

    fn on_send_completed(&self, state: SendState, done: &Delivered<'_>) -> SensorResult {
        self.client
            .count_with_tags("messages_delivered", 1)
            .with_tag("topic", done.topic)
            .with_tag("event", done.event)
            .try_send()?;
        self.time(
            LatencyKind::Send.name(),
            state.elapsed(done.at),
            &[("topic", done.topic), ("event", done.event)],
        )?;
        Ok(())
    }

    fn on_send_error(&self, _state: SendState, failure: &SendFailure<'_>) -> SensorResult {
        self.client
            .count_with_tags("send_errors", 1)
            .with_tag("topic", failure.topic)
            .with_tag("event", failure.event)
            .with_tag("kind", failure.kind.as_str())
            .try_send()?;
        Ok(())
    }

    fn on_topic_buffer_full(&self, topic: &str) -> SensorResult {
        self.client
            .count_with_tags("topic_buffer_full", 1)
            .with_tag("topic", topic)
            .try_send()?;
        Ok(())
    }

    fn on_registry_call(&self, call: &RegistryCall<'_>) -> SensorResult {
        let outcome = call.error.map_or("ok", |kind| kind.as_str());
        self.client
            .count_with_tags("registry_calls", 1)
            .with_tag("operation", call.operation.as_str())
            .with_tag("cache", if call.cache_hit { "hit" } else { "miss" })
            .with_tag("outcome", outcome)
            .try_send()?;
        if !call.cache_hit {
            self.time(
                LatencyKind::Registry.name(),
                call.elapsed,
                &[("operation", call.operation.as_str())],
            )?;
        }
        Ok(())
    }

    fn on_custom_metric(&self, metric: &CustomMetric<'_>) -> SensorResult {
        let name = format!("{}.{}", metric.sensor, metric.name);
        self.emit(&name, metric.value, metric.kind, &[])?;
        Ok(())
    }

    fn on_message_in(&self, message: &MessageIn<'_>) -> SensorResult<MessageState> {
        self.client
            .count_with_tags("messages_received", 1)
            .with_tag("topic", message.tp.topic)
            .try_send()?;
        Ok(MessageState::at(message.at))
    }

    fn on_stream_event_in(&self, event: &StreamEvent<'_>) -> SensorResult<StreamEventState> {
        self.client
            .count_with_tags("events", 1)
            .with_tag("event", event.event)
            .try_send()?;
        Ok(StreamEventState::at(event.at))
    }

    fn on_stream_event_out(
        &self,
        state: StreamEventState,
        event: &StreamEvent<'_>,
    ) -> SensorResult {
        self.time(
            LatencyKind::EventProcessing.name(),
            state.elapsed(event.at),
            &[("event", event.event)],
        )?;
        Ok(())
    }

    fn on_decode_end(&self, state: DecodeState, decoded: &Decoded<'_>) -> SensorResult {
        self.time(LatencyKind::Decode.name(), state.elapsed(decoded.at), &[])?;
        Ok(())
    }

    fn on_decode_error(&self, _state: DecodeState, failure: &DecodeFailure<'_>) -> SensorResult {
        self.client
            .count_with_tags("decode_errors", 1)
            .with_tag("kind", failure.kind.as_str())
            .try_send()?;
        Ok(())
    }

    fn on_commit_completed(&self, state: CommitState, done: &CommitDone) -> SensorResult {
        self.client
            .count_with_tags("commits", 1)
            .with_tag("outcome", if done.ok { "ok" } else { "error" })
            .try_send()?;
        self.time(LatencyKind::Commit.name(), state.elapsed(done.at), &[])?;
        Ok(())
    }

    fn on_tp_commit(&self, offsets: &[PartitionOffset<'_>]) -> SensorResult {
        for committed in offsets {
            let partition = committed.tp.partition.to_string();
            self.client
                .gauge_with_tags("committed_offset", committed.offset as f64)
                .with_tag("topic", committed.tp.topic)
                .with_tag("partition", &partition)
                .try_send()?;
        }
        Ok(())
    }

    fn track_tp_end_offset(&self, end: &PartitionOffset<'_>) -> SensorResult {
        let partition = end.tp.partition.to_string();
        self.client
            .gauge_with_tags("end_offset", end.offset as f64)
            .with_tag("topic", end.tp.topic)
            .with_tag("partition", &partition)
            .try_send()?;
        Ok(())
    }

    fn on_rebalance_return(
        &self,
        state: RebalanceState,
        at: Instant,
    ) -> SensorResult<RebalanceState> {
        self.client.count("rebalances", 1)?;
        self.time(LatencyKind::RebalanceReturn.name(), state.elapsed(at), &[])?;
        Ok(RebalanceState {
            returned: Some(at),
            ..state
        })
    }

    fn on_assignment_completed(&self, state: AssignmentState, at: Instant) -> SensorResult {
        self.time(LatencyKind::Assignment.name(), state.elapsed(at), &[])?;
        Ok(())
    }

    fn on_assignment_error(
        &self,
        _state: AssignmentState,
        _failure: &AssignmentFailure<'_>,
    ) -> SensorResult {
        self.client.count("assignment_errors", 1)?;
        Ok(())
    }

    fn on_rebalance_end(&self, state: RebalanceState, at: Instant) -> SensorResult {
        self.time(LatencyKind::RebalanceEnd.name(), state.elapsed(at), &[])?;
        Ok(())
    }

    fn on_web_request_end(
        &self,
        state: WebRequestState,
        response: &WebResponse<'_>,
    ) -> SensorResult {
        let status = response.status.to_string();
        self.client
            .count_with_tags("http_responses", 1)
            .with_tag("method", response.method)
            .with_tag("route", response.route)
            .with_tag("status", &status)
            .try_send()?;
        self.time(
            LatencyKind::Http.name(),
            state.elapsed(response.at),
            &[("method", response.method), ("route", response.route)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event type for every hook call of these tests.
    static KEY: std::sync::LazyLock<metrics_core::sensor::EventKey> =
        std::sync::LazyLock::new(metrics_core::sensor::EventKey::new);

    #[test]
    fn statsd_lines_arrive_on_udp_with_prefix_and_tags() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap().to_string();
        let statsd = StatsdMonitor::new(&address, "app_metrics", &[("app", "testapp")]).unwrap();

        let at = Instant::now();
        let state = statsd
            .on_send_initiated(&SendInfo {
                key: *KEY,
                topic: "events",
                event: "query",
                key_size: 0,
                value_size: 10,
                at,
            })
            .unwrap();
        statsd
            .on_send_completed(
                state,
                &Delivered {
                    key: *KEY,
                    topic: "events",
                    event: "query",
                    partition: 0,
                    offset: 1,
                    at: at + Duration::from_millis(12),
                },
            )
            .unwrap();
        statsd.on_topic_buffer_full("events").unwrap();
        let decode = statsd
            .on_decode_start(&MessageIn {
                tp: metrics_core::sensor::TopicPartition {
                    topic: "events",
                    partition: 0,
                },
                offset: 0,
                size: 10,
                at,
            })
            .unwrap();
        statsd
            .on_decode_end(
                decode,
                &Decoded {
                    tp: metrics_core::sensor::TopicPartition {
                        topic: "events",
                        partition: 0,
                    },
                    offset: 0,
                    schema_id: 1,
                    at: at + Duration::from_nanos(42_400),
                },
            )
            .unwrap();
        let hub = Arc::new(metrics_core::sensor::SensorDelegate::new());
        let statsd = Arc::new(statsd);
        hub.add(statsd.clone());
        let orders = crate::CustomSensor::new("orders", hub);
        orders.increment_counter("processed", 3);
        orders.set_gauge("backlog", -2.5);
        orders.record_histogram("amount", 0.25);
        statsd
            .send_metric("batch_size", 7.0, CustomKind::Gauge)
            .unwrap();

        // The queue's worker thread writes the lines into the buffer; each flush sends
        // what has reached it.
        server
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines.len() < 10 && Instant::now() < deadline {
            statsd.flush();
            if let Ok(n) = server.recv(&mut buf) {
                let packet = String::from_utf8_lossy(&buf[..n]).into_owned();
                lines.extend(packet.lines().map(str::to_owned));
            }
        }
        assert_eq!(
            lines,
            [
                "app_metrics.messages_sent:1|c|#app:testapp,topic:events,event:query",
                "app_metrics.messages_delivered:1|c|#app:testapp,topic:events,event:query",
                "app_metrics.send_latency:12|ms|#app:testapp,topic:events,event:query",
                "app_metrics.topic_buffer_full:1|c|#app:testapp,topic:events",
                "app_metrics.decode:0.042|ms|#app:testapp",
                "app_metrics.orders.processed:3|c|#app:testapp",
                "app_metrics.orders.backlog:0|g|#app:testapp",
                "app_metrics.orders.backlog:-2.5|g|#app:testapp",
                "app_metrics.orders.amount:0.25|ms|#app:testapp",
                "app_metrics.batch_size:7|g|#app:testapp",
            ]
        );
    }
}
