//! The default sensor: [`Monitor`] keeps, in memory and without a lock on the hot path,
//! everything Faust's `Monitor` records that applies to publishing and consuming events,
//! and renders it as a [`MonitorSnapshot`].

pub(crate) mod custom;
mod events;
mod hooks;
mod labeled;
mod offsets;
mod rates;
mod series;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use custom::{BySensor, CustomHistogramSnapshot, CustomSnapshot};
pub use offsets::PartitionSnapshot;
pub use rates::Rates;
pub use series::{HistogramSnapshot, LATENCY_BUCKETS, WindowStats};

use events::EventTable;
use labeled::Labeled;
use metrics_core::ErrorKind;
use metrics_core::sensor::{Clock, DecodeErrorKind, SystemClock};
use metrics_core::sync::lock;
use offsets::PartitionOffsets;
use rates::{Counts, Sampler};
use series::Latency;

/// How many recent measurements each history keeps (Faust's `max_*_history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorOptions {
    /// Send latencies (hand-over to acknowledgement).
    pub max_send_latency_history: usize,
    /// Encode times.
    pub max_encode_history: usize,
    /// Registry call latencies.
    pub max_registry_latency_history: usize,
    /// Commit latencies.
    pub max_commit_latency_history: usize,
    /// Rebalance latencies (to return, and to end).
    pub max_rebalance_history: usize,
    /// Partition assignment latencies (Faust's `max_assignment_latency_history`).
    pub max_assignment_latency_history: usize,
    /// HTTP response times.
    pub max_http_history: usize,
    /// Event processing times (the application's handler) and decode times.
    pub max_event_history: usize,
}

impl Default for MonitorOptions {
    /// 1,000 of each.
    fn default() -> Self {
        Self::all(1000)
    }
}

impl MonitorOptions {
    /// `n` of each.
    pub fn all(n: usize) -> Self {
        Self {
            max_send_latency_history: n,
            max_encode_history: n,
            max_registry_latency_history: n,
            max_commit_latency_history: n,
            max_rebalance_history: n,
            max_assignment_latency_history: n,
            max_http_history: n,
            max_event_history: n,
        }
    }
}

/// Which latency series, for exporters: each variant's doc line is its help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[non_exhaustive]
pub enum LatencyKind {
    /// From hand-over to the producer to the broker's acknowledgement.
    #[strum(serialize = "send_latency")]
    Send,
    /// Encoding one event.
    #[strum(serialize = "encode")]
    Encode,
    /// Schema Registry calls that needed a request.
    #[strum(serialize = "registry_latency")]
    Registry,
    /// Decoding one consumed message.
    #[strum(serialize = "decode")]
    Decode,
    /// The application's handler processing one event.
    #[strum(serialize = "event_processing")]
    EventProcessing,
    /// Committing consumed offsets.
    #[strum(serialize = "commit_latency")]
    Commit,
    /// A rebalance, from its start to the new assignment.
    #[strum(serialize = "rebalance_return")]
    RebalanceReturn,
    /// A rebalance, from its start to resumed consumption.
    #[strum(serialize = "rebalance_end")]
    RebalanceEnd,
    /// Taking the partitions a rebalance assigned.
    #[strum(serialize = "assignment_latency")]
    Assignment,
    /// HTTP responses.
    #[strum(serialize = "http_response")]
    Http,
}

impl LatencyKind {
    /// The metric's base name, e.g. `send_latency`.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// What the series measures, for exporters' help texts.
    pub fn help(self) -> &'static str {
        match self {
            Self::Send => "From hand-over to the producer to the broker's acknowledgement.",
            Self::Encode => "Encoding one event.",
            Self::Registry => "Schema Registry calls that needed a request.",
            Self::Decode => "Decoding one consumed message.",
            Self::EventProcessing => "The application's handler processing one event.",
            Self::Commit => "Committing consumed offsets.",
            Self::RebalanceReturn => "A rebalance, from its start to the new assignment.",
            Self::RebalanceEnd => "A rebalance, from its start to resumed consumption.",
            Self::Assignment => "Taking the partitions a rebalance assigned.",
            Self::Http => "HTTP responses.",
        }
    }
}

impl MonitorOptions {
    /// How many measurements the history of `kind` keeps.
    fn history(&self, kind: LatencyKind) -> usize {
        match kind {
            LatencyKind::Send => self.max_send_latency_history,
            LatencyKind::Encode => self.max_encode_history,
            LatencyKind::Registry => self.max_registry_latency_history,
            LatencyKind::Decode | LatencyKind::EventProcessing => self.max_event_history,
            LatencyKind::Commit => self.max_commit_latency_history,
            LatencyKind::RebalanceReturn | LatencyKind::RebalanceEnd => self.max_rebalance_history,
            LatencyKind::Assignment => self.max_assignment_latency_history,
            LatencyKind::Http => self.max_http_history,
        }
    }
}

/// One latency series per [`LatencyKind`], in declaration order.
struct Latencies(Vec<Latency>);

impl Latencies {
    fn new(options: &MonitorOptions) -> Self {
        use strum::IntoEnumIterator;
        Self(
            LatencyKind::iter()
                .map(|kind| Latency::new(options.history(kind)))
                .collect(),
        )
    }

    fn get(&self, kind: LatencyKind) -> &Latency {
        &self.0[kind as usize]
    }
}

/// Faust's `Monitor` for app-metrics: counts, in-flight gauges, latency histories,
/// offsets and lag, HTTP status codes, per-second rates and the application's own
/// metrics. Every hook is a few atomic operations; a map of labels is only written the
/// first time a label value is seen.
///
/// ```
/// use std::sync::Arc;
/// use metrics_monitor::Monitor;
///
/// use metrics_core::sensor::SensorDelegate;
/// use metrics_monitor::CustomSensor;
///
/// let hub = Arc::new(SensorDelegate::new());
/// let monitor = Arc::new(Monitor::new());
/// hub.add(monitor.clone());
/// let app = CustomSensor::new("app", Arc::clone(&hub));
/// app.increment_counter("cache_hits", 3);
/// app.set_gauge("queue_depth", 12.0);
/// let snapshot = monitor.snapshot();
/// assert_eq!(snapshot.custom.counters["app"]["cache_hits"], 3);
/// println!("{}", serde_json::to_string_pretty(&snapshot).unwrap());
/// ```
pub struct Monitor {
    clock: Arc<dyn Clock>,
    created: Instant,
    /// Sends by event type (the publishing threads write these).
    events: EventTable,
    /// What ends a send (the delivery thread writes these).
    outcomes: Outcomes,
    send_errors_by_kind: [AtomicU64; ErrorKind::ALL.len()],
    send_errors_by_event: Labeled<(Box<str>, Box<str>, Box<str>)>,
    topic_buffer_full: Labeled<Box<str>>,
    registry_calls: AtomicU64,
    registry_cache_hits: AtomicU64,
    registry_errors: AtomicU64,
    received: AtomicU64,
    received_by_topic: Labeled<Box<str>>,
    messages_active: AtomicI64,
    events_total: AtomicU64,
    events_by_event: Labeled<Box<str>>,
    events_active: AtomicI64,
    decode_errors_by_kind: [AtomicU64; DecodeErrorKind::ALL.len()],
    commits: AtomicU64,
    commit_errors: AtomicU64,
    rebalances: AtomicU64,
    assignment_errors: AtomicU64,
    http_responses: Labeled<(Box<str>, Box<str>, u16)>,
    offsets: PartitionOffsets,
    latencies: Latencies,
    custom: custom::Custom,
    sampler: Mutex<Sampler>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("messages_sent", &self.events.total_sent())
            .field("messages_received", &self.received.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The counters that end a send, on a cache line of their own: the delivery thread
/// writes them while publishing threads write the send counters.
#[repr(align(64))]
#[derive(Default)]
struct Outcomes {
    delivered: AtomicU64,
    /// Nanoseconds after `created` of the last delivery, plus one (0: never).
    last_delivery: AtomicU64,
    send_errors: AtomicU64,
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything a [`Monitor`] recorded (Faust's `asdict`), ready to serialize as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonitorSnapshot {
    /// Events handed to the producer.
    pub messages_sent: u64,
    /// Events handed to the producer, by topic.
    pub messages_sent_by_topic: BTreeMap<String, u64>,
    /// Events handed to the producer, by topic, then event name.
    pub messages_sent_by_event: BTreeMap<String, BTreeMap<String, u64>>,
    /// Bytes handed to the producer (keys and framed values).
    pub bytes_sent: u64,
    /// Events the broker acknowledged.
    pub messages_delivered: u64,
    /// Events handed over but neither acknowledged nor failed yet.
    pub messages_in_flight: u64,
    /// Seconds since the last acknowledgement, if there was one.
    pub seconds_since_last_delivery: Option<f64>,
    /// Events not delivered.
    pub send_errors: u64,
    /// Events not delivered, by error kind.
    pub send_errors_by_kind: BTreeMap<String, u64>,
    /// Events not delivered, by topic, event name, then error kind.
    pub send_errors_by_event: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    /// Times the producer's buffer was full, by topic.
    pub topic_buffer_full: BTreeMap<String, u64>,
    /// Registry calls, cache hits included.
    pub registry_calls: u64,
    /// Registry calls answered from the cache.
    pub registry_cache_hits: u64,
    /// Registry calls that needed a request.
    pub registry_cache_misses: u64,
    /// Registry calls that failed.
    pub registry_errors: u64,
    /// Messages read.
    pub messages_received: u64,
    /// Messages read, by topic.
    pub messages_received_by_topic: BTreeMap<String, u64>,
    /// Messages being processed.
    pub messages_active: u64,
    /// Decoded events handed to the application.
    pub events_total: u64,
    /// Decoded events handed to the application, by event name.
    pub events_by_event: BTreeMap<String, u64>,
    /// Events in the application's handler now.
    pub events_active: u64,
    /// Messages that could not be decoded, by kind.
    pub decode_errors_by_kind: BTreeMap<String, u64>,
    /// Commits of consumed offsets.
    pub commits: u64,
    /// Commits the broker refused.
    pub commit_errors: u64,
    /// Consumer-group rebalances.
    pub rebalances: u64,
    /// Partition assignments completed.
    pub assignments: u64,
    /// Partition assignments that failed.
    pub assignment_errors: u64,
    /// HTTP responses by status code.
    pub http_responses_by_status: BTreeMap<u16, u64>,
    /// HTTP responses by method, route template, then status code.
    pub http_responses: BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>,
    /// Read, committed and end offsets and lag per topic partition.
    pub partitions: Vec<PartitionSnapshot>,
    /// Per-second rates over the last sampling interval.
    pub rates: Rates,
    /// Send latency (hand-over to acknowledgement), in seconds.
    pub send_latency_seconds: WindowStats,
    /// Encode time, in seconds.
    pub encode_seconds: WindowStats,
    /// Latency of registry calls that needed a request, in seconds.
    pub registry_latency_seconds: WindowStats,
    /// Decode time, in seconds.
    pub decode_seconds: WindowStats,
    /// Time in the application's handler per event, in seconds.
    pub event_processing_seconds: WindowStats,
    /// Commit latency, in seconds.
    pub commit_latency_seconds: WindowStats,
    /// Rebalance start to new assignment, in seconds.
    pub rebalance_return_seconds: WindowStats,
    /// Rebalance start to resumed consumption, in seconds.
    pub rebalance_end_seconds: WindowStats,
    /// Assignment latency, in seconds.
    pub assignment_latency_seconds: WindowStats,
    /// HTTP response time, in seconds.
    pub http_response_seconds: WindowStats,
    /// The application's own metrics.
    pub custom: CustomSnapshot,
}

impl Monitor {
    /// A monitor with the default history sizes and the system clock.
    pub fn new() -> Self {
        Self::with_options(MonitorOptions::default(), Arc::new(SystemClock))
    }

    /// A monitor with these history sizes, reading `clock` for rates and ages.
    pub fn with_options(options: MonitorOptions, clock: Arc<dyn Clock>) -> Self {
        let created = clock.now();
        Self {
            created,
            clock,
            events: EventTable::new(),
            outcomes: Outcomes::default(),
            send_errors_by_kind: std::array::from_fn(|_| AtomicU64::new(0)),
            send_errors_by_event: Labeled::new(),
            topic_buffer_full: Labeled::new(),
            registry_calls: AtomicU64::new(0),
            registry_cache_hits: AtomicU64::new(0),
            registry_errors: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_by_topic: Labeled::new(),
            messages_active: AtomicI64::new(0),
            events_total: AtomicU64::new(0),
            events_by_event: Labeled::new(),
            events_active: AtomicI64::new(0),
            decode_errors_by_kind: std::array::from_fn(|_| AtomicU64::new(0)),
            commits: AtomicU64::new(0),
            commit_errors: AtomicU64::new(0),
            rebalances: AtomicU64::new(0),
            assignment_errors: AtomicU64::new(0),
            http_responses: Labeled::new(),
            offsets: PartitionOffsets::new(),
            latencies: Latencies::new(&options),
            custom: custom::Custom::new(options.max_event_history),
            sampler: Mutex::new(Sampler::default()),
        }
    }

    /// Takes a rate sample now: the rates in [`snapshot`](Self::snapshot) are over the time
    /// since the previous sample. Call it at a steady interval (`setup_monitoring` does,
    /// every second).
    pub fn sample(&self) -> Rates {
        let counts = Counts {
            sent: self.events.total_sent(),
            received: self.received.load(Ordering::Relaxed),
            events: self.events_total.load(Ordering::Relaxed),
            send_errors: self.outcomes.send_errors.load(Ordering::Relaxed),
        };
        lock(&self.sampler).sample(self.clock.now(), counts)
    }

    /// How long since the broker last acknowledged an event; `None` if it never did.
    pub fn since_last_delivery(&self) -> Option<Duration> {
        match self.outcomes.last_delivery.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(
                self.clock
                    .now()
                    .saturating_duration_since(self.created + Duration::from_nanos(nanos - 1)),
            ),
        }
    }

    /// Events handed over but not yet acknowledged or failed.
    pub fn in_flight(&self) -> u64 {
        let ended = self.ended();
        self.events.total_sent().saturating_sub(ended)
    }

    /// Sends acknowledged or failed. Read it before the sends: every end follows its
    /// send, so the sends read after cover them all.
    fn ended(&self) -> u64 {
        self.outcomes.delivered.load(Ordering::Acquire)
            + self.outcomes.send_errors.load(Ordering::Acquire)
    }

    /// The cumulative histogram of a latency series, for exporters.
    pub fn histogram(&self, kind: LatencyKind) -> HistogramSnapshot {
        self.latencies.get(kind).histogram()
    }

    /// The application's own metrics, from every [`CustomSensor`](crate::CustomSensor)
    /// attached to the same hub.
    pub fn get_metrics(&self) -> CustomSnapshot {
        self.custom.snapshot()
    }

    /// Everything recorded so far (Faust's `asdict`).
    pub fn snapshot(&self) -> MonitorSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let gauge = |g: &AtomicI64| g.load(Ordering::Relaxed).max(0) as u64;
        let calls = load(&self.registry_calls);
        let hits = load(&self.registry_cache_hits);
        let mut sent_by_event: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut sent_by_topic: BTreeMap<String, u64> = BTreeMap::new();
        let (mut sent, mut bytes_sent) = (0, 0);
        let ended = self.ended();
        self.events.for_each(|counters| {
            let (n, bytes) = counters.counts();
            sent += n;
            bytes_sent += bytes;
            *sent_by_topic.entry(counters.topic.to_string()).or_default() += n;
            *sent_by_event
                .entry(counters.topic.to_string())
                .or_default()
                .entry(counters.event.to_string())
                .or_default() += n;
        });
        let mut errors_by_event: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>> =
            BTreeMap::new();
        for ((topic, event, kind), n) in self.send_errors_by_event.counts() {
            errors_by_event
                .entry(topic.into())
                .or_default()
                .entry(event.into())
                .or_default()
                .insert(kind.into(), n);
        }
        let mut http: BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>> = BTreeMap::new();
        let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
        for ((method, route, status), n) in self.http_responses.counts() {
            *by_status.entry(status).or_default() += n;
            http.entry(method.into())
                .or_default()
                .entry(route.into())
                .or_default()
                .insert(status, n);
        }
        let stats = |kind| self.latencies.get(kind).stats();
        let assignment = stats(LatencyKind::Assignment);
        MonitorSnapshot {
            messages_sent: sent,
            messages_sent_by_topic: sent_by_topic,
            messages_sent_by_event: sent_by_event,
            bytes_sent,
            messages_delivered: load(&self.outcomes.delivered),
            messages_in_flight: sent.saturating_sub(ended),
            seconds_since_last_delivery: self.since_last_delivery().map(|d| d.as_secs_f64()),
            send_errors: load(&self.outcomes.send_errors),
            send_errors_by_kind: ErrorKind::ALL
                .iter()
                .zip(&self.send_errors_by_kind)
                .filter(|(_, n)| load(n) > 0)
                .map(|(kind, n)| (kind.as_str().to_owned(), load(n)))
                .collect(),
            send_errors_by_event: errors_by_event,
            topic_buffer_full: strings(self.topic_buffer_full.counts()),
            registry_calls: calls,
            registry_cache_hits: hits,
            registry_cache_misses: calls.saturating_sub(hits),
            registry_errors: load(&self.registry_errors),
            messages_received: load(&self.received),
            messages_received_by_topic: strings(self.received_by_topic.counts()),
            messages_active: gauge(&self.messages_active),
            events_total: load(&self.events_total),
            events_by_event: strings(self.events_by_event.counts()),
            events_active: gauge(&self.events_active),
            decode_errors_by_kind: DecodeErrorKind::ALL
                .iter()
                .zip(&self.decode_errors_by_kind)
                .filter(|(_, n)| load(n) > 0)
                .map(|(kind, n)| (kind.as_str().to_owned(), load(n)))
                .collect(),
            commits: load(&self.commits),
            commit_errors: load(&self.commit_errors),
            rebalances: load(&self.rebalances),
            // Each completed assignment records one latency.
            assignments: assignment.total,
            assignment_errors: load(&self.assignment_errors),
            http_responses_by_status: by_status,
            http_responses: http,
            partitions: self.offsets.snapshot(),
            rates: lock(&self.sampler).rates(),
            send_latency_seconds: stats(LatencyKind::Send),
            encode_seconds: stats(LatencyKind::Encode),
            registry_latency_seconds: stats(LatencyKind::Registry),
            decode_seconds: stats(LatencyKind::Decode),
            event_processing_seconds: stats(LatencyKind::EventProcessing),
            commit_latency_seconds: stats(LatencyKind::Commit),
            rebalance_return_seconds: stats(LatencyKind::RebalanceReturn),
            rebalance_end_seconds: stats(LatencyKind::RebalanceEnd),
            assignment_latency_seconds: assignment,
            http_response_seconds: stats(LatencyKind::Http),
            custom: self.custom.snapshot(),
        }
    }
}

fn strings(counts: Vec<(Box<str>, u64)>) -> BTreeMap<String, u64> {
    counts.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

#[cfg(test)]
#[path = "monitor_tests.rs"]
mod tests;
