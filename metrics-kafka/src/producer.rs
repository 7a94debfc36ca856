//! The rdkafka producer behind the Kafka backend: a `ThreadedProducer` whose context counts
//! deliveries, reports them to the sensors and wakes the callers of confirmed publishes.

use std::ffi::c_void;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_core::log_limit::LogLimiter;
use metrics_core::sensor::{DirectTicket, SinkSensors, Started};
use metrics_core::sync::lock;
use metrics_core::{DroppedEvents, ErrorKind};
use rdkafka::ClientContext;
use rdkafka::client::Client;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::IntoOpaque;
use sharded_slab::{Config, Slab};
use tokio::sync::oneshot;

use crate::config::KafkaConfig;

/// Counters of what happened to the events handed to the producer.
///
/// The publishing threads write `enqueued` and `dropped`, librdkafka's delivery thread
/// `delivered` and `failed`: each pair has a cache line of its own, so the two threads do
/// not pass one line back and forth on every event.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    enqueued: AtomicU64,
    dropped: AtomicU64,
    outcomes: Outcomes,
    /// Every event lost, by the kind its sensors were told (off the hot path: only
    /// failures write it).
    lost: [AtomicU64; ErrorKind::ALL.len()],
    /// `lost` as of the last report.
    reported: Mutex<[u64; ErrorKind::ALL.len()]>,
}

/// The delivery thread's counters.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Outcomes {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl DeliveryStats {
    /// Events accepted into the producer queue.
    pub fn enqueued(&self) -> u64 {
        self.enqueued.load(Ordering::Relaxed)
    }
    /// Events the broker acknowledged.
    pub fn delivered(&self) -> u64 {
        self.outcomes.delivered.load(Ordering::Relaxed)
    }
    /// Events the producer gave up on after queueing them (delivery timeout, rejection).
    pub fn failed(&self) -> u64 {
        self.outcomes.failed.load(Ordering::Relaxed)
    }
    /// Events refused before queueing (queue full, producer closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events lost since the previous call, by kind (what a flush or close reports).
    pub fn take_dropped(&self) -> DroppedEvents {
        let mut reported = lock(&self.reported);
        let mut dropped = DroppedEvents::default();
        for (kind, (lost, seen)) in ErrorKind::ALL
            .into_iter()
            .zip(self.lost.iter().zip(reported.iter_mut()))
        {
            let now = lost.load(Ordering::Relaxed);
            dropped.add(kind, now.saturating_sub(*seen));
            *seen = now;
        }
        dropped
    }

    pub(crate) fn count_enqueued(&self) {
        self.enqueued.fetch_add(1, Ordering::Relaxed);
    }

    /// An event refused before it was queued, for `kind`.
    pub(crate) fn count_dropped(&self, kind: ErrorKind) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.count_lost(kind);
    }

    /// An event not delivered, for `kind`.
    pub(crate) fn count_lost(&self, kind: ErrorKind) {
        self.lost[kind as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a delivery report is sent: the broker's partition and offset, or why it failed.
pub(crate) type DeliveryWaiter = oneshot::Sender<Result<(i32, i64), KafkaError>>;

/// What travels with one message to its delivery report when more than a byte is needed:
/// the states of sensors that time the hand-over themselves, and the caller of a
/// confirmed publish.
pub(crate) struct InFlight {
    pub(crate) started: Option<(Arc<SinkSensors>, Started)>,
    pub(crate) waiter: Option<DeliveryWaiter>,
}

/// The layout of the producer's tables: the top bits of their keys are left free, for the
/// [`Opaque`] to say which table a key is for and to carry a [`DirectTicket`].
struct OpaqueLayout;

impl Config for OpaqueLayout {
    const RESERVED_BITS: usize = 10;
}

/// The delivery opaque of a message, one machine word, in one of three forms:
/// - zero: nothing waits for the report (no sensor, fire and forget), as for the
///   application's own messages on a shared producer (`Opaque::default()`);
/// - its sink's key in the producer's table of sinks and the [`DirectTicket`] of the
///   direct sensors that saw it (the Monitor): nothing else is stored per message;
/// - its entry in the table of messages in flight (their sensors' states, the caller of a
///   confirmed publish).
///
/// The tables are concurrent slabs: the publishing thread inserts, the delivery thread
/// takes, and slots are reused, so a message in flight costs no allocation and no lock.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Opaque(usize);

/// Where a message's delivery report goes, as its [`Opaque`] says.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Nowhere,
    Sink { key: usize, ticket: DirectTicket },
    InFlight { key: usize },
}

impl Opaque {
    const KIND_SHIFT: u32 = usize::BITS - 2;
    const TICKET_SHIFT: u32 = usize::BITS - 10;
    const KEY_MASK: usize = (1 << Self::TICKET_SHIFT) - 1;
    const SINK: usize = 1;
    const IN_FLIGHT: usize = 2;

    fn sink(key: usize, ticket: DirectTicket) -> Self {
        Self(
            Self::SINK << Self::KIND_SHIFT
                | usize::from(ticket.to_bits()) << Self::TICKET_SHIFT
                | key & Self::KEY_MASK,
        )
    }

    fn in_flight(key: usize) -> Self {
        Self(Self::IN_FLIGHT << Self::KIND_SHIFT | key & Self::KEY_MASK)
    }

    fn route(self) -> Route {
        let key = self.0 & Self::KEY_MASK;
        match self.0 >> Self::KIND_SHIFT {
            Self::SINK => Route::Sink {
                key,
                // Eight bits, by the layout.
                ticket: DirectTicket::from_bits((self.0 >> Self::TICKET_SHIFT) as u8),
            },
            Self::IN_FLIGHT => Route::InFlight { key },
            _ => Route::Nowhere,
        }
    }
}

impl IntoOpaque for Opaque {
    fn into_ptr(self) -> *mut c_void {
        // An integer carried as the opaque pointer: librdkafka never dereferences it.
        self.0 as *mut c_void
    }

    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        Opaque(ptr as usize)
    }
}

/// The producer's context: delivery accounting, sensor reports, confirmed-publish
/// waiters, librdkafka logs through `tracing`.
pub struct MetricsProducerContext {
    stats: Arc<DeliveryStats>,
    /// The sensors of each sink publishing through this producer, for reports that carry
    /// only the sink's key.
    sinks: Slab<Arc<SinkSensors>, OpaqueLayout>,
    /// Keys of sinks dropped, and when: a key stays in the table until every message of
    /// its sink has had its report (`delivery.timeout.ms` at most), so that no report is
    /// lost and no key is reused while a message still carries it.
    retiring: Mutex<Vec<(usize, Instant)>>,
    /// How long a message can wait for its report (`delivery.timeout.ms`).
    report_deadline: Duration,
    in_flight: Slab<InFlight, OpaqueLayout>,
    failures: LogLimiter,
    client_logs: LogLimiter,
    /// librdkafka's last client-level error (TLS handshake, authentication, transport),
    /// quoted in errors that would otherwise only say "transport failure".
    last_error: Mutex<Option<String>>,
    /// The broker's last refusal of the SASL credentials, and when: waiting will not fix
    /// them.
    authentication_failure: Mutex<Option<(Instant, String)>>,
}

impl MetricsProducerContext {
    fn new(backoff: Duration, report_deadline: Duration) -> Self {
        Self {
            stats: Arc::default(),
            sinks: Slab::new_with_config(),
            retiring: Mutex::default(),
            report_deadline,
            in_flight: Slab::new_with_config(),
            failures: LogLimiter::new(backoff),
            client_logs: LogLimiter::new(backoff),
            last_error: Mutex::default(),
            authentication_failure: Mutex::default(),
        }
    }
}

impl MetricsProducerContext {
    /// Adds a sink's sensors to the table reports can name them by; the key, `None` if
    /// the table is full (its messages then carry their sensors in [`InFlight`]).
    pub(crate) fn register_sink(&self, sensors: Arc<SinkSensors>) -> Option<usize> {
        self.remove_retired_sinks(Instant::now());
        self.sinks.insert(sensors)
    }

    /// Retires a dropped sink's key: it is removed once its messages still in flight
    /// have all had their reports.
    pub(crate) fn unregister_sink(&self, key: usize) {
        let now = Instant::now();
        lock(&self.retiring).push((key, now));
        self.remove_retired_sinks(now);
    }

    /// Removes the keys of sinks dropped longer ago than a message can wait for its
    /// report (with a second's margin for the report's own delivery).
    fn remove_retired_sinks(&self, now: Instant) {
        let wait = self.report_deadline.saturating_add(Duration::from_secs(1));
        lock(&self.retiring).retain(|(key, dropped)| {
            let done = now.saturating_duration_since(*dropped) > wait;
            if done {
                self.sinks.remove(*key);
            }
            !done
        });
    }

    /// The opaque of a message of the sink `sink` (its key and sensors) whose delivery
    /// report `started` (the sensors' view of its hand-over) or `waiter` waits for: zero if
    /// nothing waits, the sink's key and a ticket if only direct sensors do.
    ///
    /// # Errors
    ///
    /// Gives both back if the table is full (over 10⁹ messages in flight).
    pub(crate) fn track(
        &self,
        sink: (Option<usize>, &Arc<SinkSensors>),
        started: Started,
        waiter: Option<DeliveryWaiter>,
    ) -> Result<Opaque, Box<InFlight>> {
        if waiter.is_none() && !started.needs_state() {
            match (started.direct_ticket(), sink.0) {
                (None, _) => return Ok(Opaque::default()),
                (Some(ticket), Some(key)) => return Ok(Opaque::sink(key, ticket)),
                (Some(_), None) => {}
            }
        }
        let in_flight = InFlight {
            started: (!started.is_empty()).then(|| (Arc::clone(sink.1), started)),
            waiter,
        };
        match self.in_flight.vacant_entry() {
            Some(entry) => {
                let key = entry.key();
                entry.insert(in_flight);
                Ok(Opaque::in_flight(key))
            }
            None => Err(Box::new(in_flight)),
        }
    }

    /// What waits for the outcome of the message of `opaque`, which the producer refused:
    /// its entry taken out of the table, or its direct sensors.
    pub(crate) fn untrack(&self, opaque: Opaque) -> Option<InFlight> {
        match opaque.route() {
            Route::InFlight { key } => self.in_flight.take(key),
            Route::Sink { key, ticket } => self.sinks.get(key).map(|sensors| InFlight {
                started: Some((Arc::clone(&sensors), Started::direct(ticket))),
                waiter: None,
            }),
            Route::Nowhere => None,
        }
    }
}

impl InFlight {
    /// Reports `error` to the sensors of a message the producer refused (a confirmed
    /// publish's caller gets the error returned).
    pub(crate) fn refused(self, error: &metrics_core::EventError) {
        if let Some((sensors, started)) = self.started {
            sensors.failed_with(started, error);
        }
    }
}

impl fmt::Debug for MetricsProducerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsProducerContext")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ClientContext for MetricsProducerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                // Connection failures repeat every few seconds during an outage: at most one
                // line per backoff interval, with the count of those left out.
                if let Some(suppressed) = self.client_logs.should_log() {
                    tracing::warn!(target: "librdkafka", facility = fac, suppressed, "{log_message}");
                }
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, "{log_message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // "All brokers down" follows the error that says why (TLS, SASL): keep the latter.
        if !matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)) {
            *lock(&self.last_error) = Some(format!("{error}: {reason}"));
        }
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::Authentication)) {
            *lock(&self.authentication_failure) = Some((Instant::now(), reason.to_owned()));
        }
        // Connection errors repeat every few seconds while a broker is down.
        if let Some(suppressed) = self.failures.should_log() {
            tracing::warn!(target: "librdkafka", %error, reason, suppressed, "kafka client error");
        }
    }
}

impl ProducerContext for MetricsProducerContext {
    type DeliveryOpaque = Opaque;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Opaque) {
        use rdkafka::message::Message as _;
        let outcome = match result {
            Ok(message) => {
                self.stats
                    .outcomes
                    .delivered
                    .fetch_add(1, Ordering::Relaxed);
                Ok((message.partition(), message.offset()))
            }
            Err((error, message)) => {
                self.stats.outcomes.failed.fetch_add(1, Ordering::Relaxed);
                self.stats.count_lost(ErrorKind::Delivery);
                if let Some(suppressed) = self.failures.should_log() {
                    tracing::warn!(%error, topic = message.topic(), suppressed, "metrics event dropped: not delivered");
                }
                Err(error)
            }
        };
        let route = opaque.route();
        if route == Route::Nowhere {
            return;
        }
        let message = match result {
            Ok(message) | Err((_, message)) => message,
        };
        let latency = enqueued_for(message);
        let report = |sensors: &SinkSensors, started: Started| match &outcome {
            Ok((partition, offset)) => sensors.completed(started, *partition, *offset, latency),
            Err(error) => sensors.failed(started, ErrorKind::Delivery, *error),
        };
        match route {
            Route::Nowhere => {}
            Route::Sink { key, ticket } => {
                if let Some(sensors) = self.sinks.get(key) {
                    report(&sensors, Started::direct(ticket));
                }
            }
            Route::InFlight { key } => {
                let Some(in_flight) = self.in_flight.take(key) else {
                    return;
                };
                if let Some((sensors, started)) = in_flight.started {
                    report(&sensors, started);
                }
                if let Some(waiter) = in_flight.waiter {
                    // The caller may have stopped waiting; nothing to do then.
                    let _ = waiter.send(outcome.map_err(Clone::clone));
                }
            }
        }
    }
}

/// How long ago librdkafka queued `message`: it stamps every message when it is produced,
/// so the send latency needs no clock reading of ours at the hand-over.
fn enqueued_for(message: &rdkafka::message::BorrowedMessage<'_>) -> Duration {
    // SAFETY: the pointer is the borrowed message's, valid while `message` is; the call
    // only reads the message's enqueue stamp and the clock.
    let micros = unsafe { rdkafka::bindings::rd_kafka_message_latency(message.ptr()) };
    // -1 if the message was never stamped (not one librdkafka queued).
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// The rdkafka producer type used for events.
pub type EventProducer = ThreadedProducer<MetricsProducerContext>;

/// A Kafka producer for metrics events: cheap to clone.
///
/// Build one with [`KafkaProducer::from_config`] and hand it to several managers, or let
/// the Kafka backend create its own. A manager closes only a producer it created; one handed
/// in stays open (Safir's `manage_kafka_broker`).
#[derive(Clone)]
pub struct KafkaProducer {
    pub(crate) inner: Arc<EventProducer>,
    pub(crate) embedded: bool,
}

impl fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("embedded", &self.embedded)
            .finish_non_exhaustive()
    }
}

impl KafkaProducer {
    /// A producer for the cluster of `kafka` (see [`KafkaConfig::producer_properties`]),
    /// logging a recurring problem at most once per `log_backoff`
    /// (`METRICS_BACKOFF_INTERVAL`). Without bootstrap servers, the producer runs an
    /// embedded in-process broker (librdkafka's mock cluster) for development.
    pub fn from_config(
        kafka: &KafkaConfig,
        client_id: &str,
        log_backoff: Duration,
    ) -> Result<Self, KafkaError> {
        let config = crate::config::to_client_config(kafka.producer_properties(client_id));
        // librdkafka's delivery timeout is this setting: no extra property can change it.
        let context = MetricsProducerContext::new(log_backoff, kafka.delivery_timeout());
        let inner = config.create_with_context(context)?;
        Ok(Self {
            inner: Arc::new(inner),
            embedded: kafka.is_embedded(),
        })
    }

    /// The rdkafka producer, for the application's own messages.
    pub fn producer(&self) -> &EventProducer {
        &self.inner
    }

    /// The rdkafka client (metadata, the embedded mock cluster).
    pub fn client(&self) -> &Client<MetricsProducerContext> {
        self.inner.client()
    }

    /// Delivery counters of this producer.
    pub fn stats(&self) -> &Arc<DeliveryStats> {
        &self.inner.context().stats
    }

    /// Whether this producer runs the embedded development broker.
    pub fn is_embedded(&self) -> bool {
        self.embedded
    }

    /// The bootstrap servers of the embedded broker, if this producer runs one.
    pub fn embedded_bootstrap_servers(&self) -> Option<String> {
        self.client()
            .mock_cluster()
            .map(|cluster| cluster.bootstrap_servers())
    }

    /// librdkafka's last client-level error (TLS, authentication, transport), if any.
    pub fn last_client_error(&self) -> Option<String> {
        lock(&self.inner.context().last_error).clone()
    }

    /// Why the broker refused this producer's SASL credentials, if it did at `since` or
    /// later (wrong password, unknown user, a mechanism it does not offer).
    pub fn authentication_failure_since(&self, since: Instant) -> Option<String> {
        lock(&self.inner.context().authentication_failure)
            .as_ref()
            .filter(|(at, _)| *at >= since)
            .map(|(_, reason)| reason.clone())
    }

    /// Events queued but not yet acknowledged or failed.
    pub fn in_flight(&self) -> u64 {
        u64::try_from(self.inner.in_flight_count()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opaque_says_where_its_report_goes() {
        assert_eq!(Opaque::default().route(), Route::Nowhere);
        let ticket = DirectTicket::from_bits(0xff);
        for key in [0, 1, Opaque::KEY_MASK] {
            assert_eq!(
                Opaque::sink(key, ticket).route(),
                Route::Sink { key, ticket }
            );
            assert_eq!(Opaque::in_flight(key).route(), Route::InFlight { key });
        }
        // The tables' keys leave the opaque's bits free.
        let context = MetricsProducerContext::new(Duration::from_secs(1), Duration::ZERO);
        let key = context.in_flight.insert(InFlight {
            started: None,
            waiter: None,
        });
        assert!(key.is_some_and(|key| key <= Opaque::KEY_MASK));
    }

    #[test]
    fn a_dropped_sink_is_found_until_its_messages_can_no_longer_report() {
        let context = MetricsProducerContext::new(Duration::from_secs(1), Duration::ZERO);
        let sensors = Arc::new(SinkSensors::new("t".into(), "query".into(), Arc::default()));
        let key = context.register_sink(sensors).expect("room");
        context.unregister_sink(key);
        assert!(context.sinks.get(key).is_some(), "reports still find it");
        context.remove_retired_sinks(Instant::now() + Duration::from_secs(2));
        assert!(context.sinks.get(key).is_none());
        assert!(lock(&context.retiring).is_empty());
    }
}
