//! Fans every hook out to the attached sensors, in order, with each sensor's failures
//! (errors and panics) isolated, counted and logged once; and the direct path of the
//! publishing hooks for sensors that keep no per-event state (the built-in Monitor).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::hooks::*;
use super::{DirectSendSensor, Paired, Sensor, SensorResult};
use crate::sync::lock;

/// Identifies an attached sensor, to remove it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SensorId(u64);

/// One attached sensor and its failure count.
pub(super) struct Entry {
    id: SensorId,
    sensor: Arc<dyn Sensor>,
    /// Its direct publishing hooks, if it was attached with [`SensorDelegate::add_direct`]:
    /// then its `Sensor` send hooks are not called.
    direct: Option<Arc<dyn DirectSendSensor>>,
    failures: AtomicU64,
    reported: AtomicBool,
}

impl Entry {
    /// Runs `hook` on the sensor; a failure or panic is counted, logged the first time,
    /// and gives `None`.
    pub(super) fn run<T>(
        &self,
        hook: &'static str,
        call: impl FnOnce(&dyn Sensor) -> SensorResult<T>,
    ) -> Option<T> {
        let error = match catch_unwind(AssertUnwindSafe(|| call(&*self.sensor))) {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => error.to_string(),
            Err(panic) => panicked(panic),
        };
        self.failed(hook, error);
        None
    }

    /// Runs direct hook `hook` on the sensor, if it is attached as direct; a panic is
    /// counted and logged the first time, as for the other hooks (they cannot fail
    /// otherwise).
    fn run_direct(&self, hook: &'static str, call: impl FnOnce(&dyn DirectSendSensor)) {
        if let Some(direct) = &self.direct
            && let Err(panic) = catch_unwind(AssertUnwindSafe(|| call(&**direct)))
        {
            self.failed(hook, panicked(panic));
        }
    }

    fn failed(&self, hook: &'static str, error: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if !self.reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(sensor = self.sensor.name(), hook, %error, "a sensor failed; it stays attached and its later failures are only counted");
        }
    }
}

/// What a caught panic said.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => format!("panicked: {message}"),
        Err(panic) => match panic.downcast::<&'static str>() {
            Ok(message) => format!("panicked: {message}"),
            Err(_) => "panicked".to_owned(),
        },
    }
}

/// The attached sensors at one moment, in order.
pub(super) type Sensors = Vec<Arc<Entry>>;

/// The sensors attached with [`SensorDelegate::add_direct`] at one moment, numbered:
/// a send records the number, and its delivery goes to that set, even if sensors were
/// attached or detached meanwhile.
struct DirectSet {
    generation: u8,
    /// The entries attached as direct.
    sensors: Vec<Arc<Entry>>,
}

/// How many replaced direct sets are kept for sends still in flight: a delivery whose set
/// was replaced more often than this while it was in flight is not reported to it.
const RETIRED_DIRECT_SETS: usize = 16;

/// The direct sensors that saw a send start, by the number of their set; give it back
/// with the send's outcome. It fits in a byte, so a transport can carry it with the
/// message (the Kafka backend packs it into the delivery opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectTicket(u8);

impl DirectTicket {
    /// The ticket as a byte, to carry with a message.
    pub fn to_bits(self) -> u8 {
        self.0
    }

    /// The ticket carried as [`to_bits`](Self::to_bits).
    pub fn from_bits(bits: u8) -> Self {
        Self(bits)
    }
}

/// An ordered fan-out of sensors (Faust's `SensorDelegate`).
///
/// Hooks run on each sensor in the order they were added. A sensor that returns an error
/// or panics is isolated: the failure is counted ([`failures`](Self::failures)), logged
/// the first time, and neither the application nor the other sensors notice. Sensors can
/// be added and removed while events flow; an operation's end hook goes to the sensors
/// that saw it start. With no sensor attached, every hook returns at once.
///
/// A sensor that counts sends without per-event state (the built-in
/// [`Monitor`](https://docs.rs/metrics-monitor)) can be attached with
/// [`add_direct`](Self::add_direct): its publishing hooks are then called directly, with
/// no clock reading and no state travelling with the message (see
/// [`DirectSendSensor`]), and its other hooks as usual.
///
/// Built once by the application (Faust's `app.sensors`), then given to the event manager,
/// to any number of consumers and to `setup_monitoring`:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Instant;
/// use metrics_core::sensor::{Delivered, EventKey, SendInfo, SendState, Sensor, SensorDelegate, SensorResult};
///
/// #[derive(Default)]
/// struct Sent(AtomicU64);
///
/// impl Sensor for Sent {
///     fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(SendState::at(send.at))
///     }
/// }
///
/// let sensors = Arc::new(SensorDelegate::new());
/// let sent = Arc::new(Sent::default());
/// sensors.add(sent.clone());
///
/// let (at, key) = (Instant::now(), EventKey::new());
/// let send = SendInfo { key, topic: "t", event: "query", key_size: 0, value_size: 80, at };
/// let started = sensors.on_send_initiated(&send).expect("a sensor is attached");
/// let done = Delivered { key, topic: "t", event: "query", partition: 0, offset: 7, at };
/// started.on_send_completed(&done);
/// assert_eq!(sent.0.load(Ordering::Relaxed), 1);
/// ```
pub struct SensorDelegate {
    /// Every sensor, for every hook but the send hooks of direct sensors.
    sensors: ArcSwap<Sensors>,
    len: AtomicUsize,
    /// The sensors whose `Sensor` send hooks run: those not attached as direct.
    send_sensors: ArcSwap<Sensors>,
    send_len: AtomicUsize,
    direct: ArcSwap<DirectSet>,
    /// Direct sets replaced while sends may be in flight, newest last.
    retired: Mutex<VecDeque<Arc<DirectSet>>>,
    next_id: AtomicU64,
    edit: Mutex<()>,
}

impl std::fmt::Debug for SensorDelegate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .sensors
            .load()
            .iter()
            .map(|e| e.sensor.name().to_owned())
            .collect();
        f.debug_struct("SensorDelegate")
            .field("sensors", &names)
            .finish()
    }
}

impl Default for SensorDelegate {
    fn default() -> Self {
        Self::new()
    }
}

impl SensorDelegate {
    /// A delegate with no sensor.
    pub fn new() -> Self {
        Self {
            sensors: ArcSwap::from_pointee(Vec::new()),
            len: AtomicUsize::new(0),
            send_sensors: ArcSwap::from_pointee(Vec::new()),
            send_len: AtomicUsize::new(0),
            direct: ArcSwap::from_pointee(DirectSet {
                generation: 0,
                sensors: Vec::new(),
            }),
            retired: Mutex::default(),
            next_id: AtomicU64::new(1),
            edit: Mutex::new(()),
        }
    }

    /// Attaches `sensor` after the others.
    pub fn add(&self, sensor: Arc<dyn Sensor>) -> SensorId {
        self.attach(sensor, None)
    }

    /// Attaches `sensor` after the others, its publishing hooks called directly
    /// ([`DirectSendSensor`]) instead of its `Sensor` send hooks (`on_encode`,
    /// `on_send_initiated`, `on_send_completed`, `on_send_error`): no clock reading and
    /// no per-event state. A panic in them is caught, counted and logged as for any hook.
    /// Its other hooks run as for [`add`](Self::add).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::time::Duration;
    /// use metrics_core::sensor::{DirectSendSensor, Encoded, EventKey, SendFailure, Sensor, SensorDelegate};
    ///
    /// #[derive(Default)]
    /// struct Delivered(AtomicU64);
    ///
    /// impl Sensor for Delivered {}
    /// impl DirectSendSensor for Delivered {
    ///     fn on_sent(&self, _: &Encoded<'_>, _: usize) {}
    ///     fn on_delivered(&self, _: Duration) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    ///     fn on_send_failed(&self, _: &SendFailure<'_>) {}
    /// }
    ///
    /// let sensors = SensorDelegate::new();
    /// let delivered = Arc::new(Delivered::default());
    /// sensors.add_direct(delivered.clone());
    /// let key = EventKey::new();
    /// let encoded = Encoded { key, topic: "t", event: "query", bytes: 80, elapsed: None };
    /// let ticket = sensors.direct_sent(&encoded, 85).expect("a direct sensor is attached");
    /// sensors.direct_delivered(ticket, Duration::from_millis(2));
    /// assert_eq!(delivered.0.load(Ordering::Relaxed), 1);
    /// ```
    pub fn add_direct<S: Sensor + DirectSendSensor>(&self, sensor: Arc<S>) -> SensorId {
        self.attach(sensor.clone(), Some(sensor))
    }

    fn attach(
        &self,
        sensor: Arc<dyn Sensor>,
        direct: Option<Arc<dyn DirectSendSensor>>,
    ) -> SensorId {
        let _edit = lock(&self.edit);
        let direct_changed = direct.is_some();
        let id = SensorId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut sensors = Vec::clone(&self.sensors.load());
        sensors.push(Arc::new(Entry {
            id,
            sensor,
            direct,
            failures: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        }));
        self.publish(sensors, direct_changed);
        id
    }

    /// Detaches the sensor `id`; operations it saw start still reach its end hooks.
    /// Returns the sensor, or `None` if it was not attached.
    pub fn remove(&self, id: SensorId) -> Option<Arc<dyn Sensor>> {
        let _edit = lock(&self.edit);
        let mut sensors = Vec::clone(&self.sensors.load());
        let index = sensors.iter().position(|e| e.id == id)?;
        let removed = sensors.remove(index);
        self.publish(sensors, removed.direct.is_some());
        Some(Arc::clone(&removed.sensor))
    }

    /// Makes `sensors` the attached ones (under the edit lock): the send list follows, and
    /// the direct set when `direct_changed` (a direct sensor was attached or detached).
    fn publish(&self, sensors: Sensors, direct_changed: bool) {
        let send: Sensors = sensors
            .iter()
            .filter(|e| e.direct.is_none())
            .cloned()
            .collect();
        if direct_changed {
            let direct: Vec<Arc<Entry>> = sensors
                .iter()
                .filter(|e| e.direct.is_some())
                .cloned()
                .collect();
            let current = self.direct.load_full();
            let mut retired = lock(&self.retired);
            if retired.len() == RETIRED_DIRECT_SETS {
                retired.pop_front();
            }
            retired.push_back(Arc::clone(&current));
            self.direct.store(Arc::new(DirectSet {
                generation: current.generation.wrapping_add(1),
                sensors: direct,
            }));
        }
        self.send_len.store(send.len(), Ordering::Release);
        self.send_sensors.store(Arc::new(send));
        self.len.store(sensors.len(), Ordering::Release);
        self.sensors.store(Arc::new(sensors));
    }

    /// Whether no sensor is attached (then every hook returns at once).
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// The time, when a sensor is attached to be told it; `None` otherwise, so that a
    /// caller reads the clock only for hooks that someone hears.
    pub fn now_if_attached(&self) -> Option<Instant> {
        (!self.is_empty()).then(Instant::now)
    }

    /// How many sensors are attached.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether a sensor's `Sensor` send hooks run (one attached with [`add`](Self::add)):
    /// then a send needs a clock reading and state that travels with the message.
    pub fn has_send_sensors(&self) -> bool {
        self.send_len.load(Ordering::Acquire) != 0
    }

    /// Reports an encoded event, handed over as a value of `value_size` bytes, to the
    /// direct sensors; the ticket to give back with its outcome, `None` if there are none.
    pub fn direct_sent(&self, encoded: &Encoded<'_>, value_size: usize) -> Option<DirectTicket> {
        let set = self.direct.load();
        if set.sensors.is_empty() {
            return None;
        }
        for entry in &set.sensors {
            entry.run_direct("on_sent", |s| s.on_sent(encoded, value_size));
        }
        Some(DirectTicket(set.generation))
    }

    /// Reports the delivery of a send with `ticket`, `latency` after its hand-over, to
    /// the direct sensors that saw it start.
    pub fn direct_delivered(&self, ticket: DirectTicket, latency: Duration) {
        self.with_direct_set(ticket, |entry| {
            entry.run_direct("on_delivered", |s| s.on_delivered(latency));
        });
    }

    /// Reports the failure of a send with `ticket` to the direct sensors that saw it start.
    pub fn direct_failed(&self, ticket: DirectTicket, failure: &SendFailure<'_>) {
        self.with_direct_set(ticket, |entry| {
            entry.run_direct("on_send_failed", |s| s.on_send_failed(failure));
        });
    }

    /// Runs `call` on each sensor of the direct set of `ticket`: the current one, or one
    /// replaced while the send was in flight (a lock, only then).
    fn with_direct_set(&self, ticket: DirectTicket, call: impl Fn(&Entry)) {
        let current = self.direct.load();
        if current.generation == ticket.0 {
            current.sensors.iter().for_each(|e| call(e));
            return;
        }
        drop(current);
        let retired = lock(&self.retired);
        if let Some(set) = retired.iter().rev().find(|set| set.generation == ticket.0) {
            set.sensors.iter().for_each(|e| call(e));
        }
    }

    /// Each attached sensor's name and how many of its hook calls failed.
    pub fn failures(&self) -> Vec<(String, u64)> {
        self.sensors
            .load()
            .iter()
            .map(|e| {
                (
                    e.sensor.name().to_owned(),
                    e.failures.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Every sensor's [`metrics`](Sensor::metrics), merged into one JSON object keyed by
    /// sensor name (`name#2` for a second sensor of the same name).
    pub fn combined_metrics(&self) -> serde_json::Value {
        let mut all = serde_json::Map::new();
        for entry in self.sensors.load().iter() {
            let Some(metrics) = entry.run("metrics", |s| Ok(s.metrics())).flatten() else {
                continue;
            };
            let base = entry.sensor.name().to_owned();
            let mut key = base.clone();
            let mut n = 1;
            while all.contains_key(&key) {
                n += 1;
                key = format!("{base}#{n}");
            }
            all.insert(key, metrics);
        }
        serde_json::Value::Object(all)
    }

    fn start<S: Copy>(
        &self,
        default: S,
        hook: &'static str,
        call: impl Fn(&dyn Sensor) -> SensorResult<S>,
    ) -> Option<Paired<S>> {
        if self.is_empty() {
            return None;
        }
        Some(Paired::start(self.sensors.load_full(), default, hook, call))
    }

    fn each(&self, hook: &'static str, call: impl Fn(&dyn Sensor) -> SensorResult) {
        if self.is_empty() {
            return;
        }
        for entry in self.sensors.load().iter() {
            entry.run(hook, &call);
        }
    }

    /// An event was handed to the producer; `None` when no sensor's send hooks run
    /// (direct sensors are told through [`direct_sent`](Self::direct_sent)).
    pub fn on_send_initiated(&self, send: &SendInfo<'_>) -> Option<Paired<SendState>> {
        if !self.has_send_sensors() {
            return None;
        }
        Some(Paired::start(
            self.send_sensors.load_full(),
            SendState::at(send.at),
            "on_send_initiated",
            |s| s.on_send_initiated(send),
        ))
    }

    /// The producer's buffer for `topic` is full.
    pub fn on_topic_buffer_full(&self, topic: &str) {
        self.each("on_topic_buffer_full", |s| s.on_topic_buffer_full(topic));
    }

    /// An event was encoded (direct sensors are told through
    /// [`direct_sent`](Self::direct_sent)).
    pub fn on_encode(&self, encoded: &Encoded<'_>) {
        if !self.has_send_sensors() {
            return;
        }
        for entry in self.send_sensors.load().iter() {
            entry.run("on_encode", |s| s.on_encode(encoded));
        }
    }

    /// An event was encoded, then handed to the producer: [`on_encode`](Self::on_encode)
    /// and [`on_send_initiated`](Self::on_send_initiated) in one pass over the sensors.
    pub fn on_encode_and_send_initiated(
        &self,
        encoded: &Encoded<'_>,
        send: &SendInfo<'_>,
    ) -> Option<Paired<SendState>> {
        if !self.has_send_sensors() {
            return None;
        }
        let sensors = self.send_sensors.load_full();
        for entry in sensors.iter() {
            entry.run("on_encode", |s| s.on_encode(encoded));
        }
        Some(Paired::start(
            sensors,
            SendState::at(send.at),
            "on_send_initiated",
            |s| s.on_send_initiated(send),
        ))
    }

    /// The registry was called.
    pub fn on_registry_call(&self, call: &RegistryCall<'_>) {
        self.each("on_registry_call", |s| s.on_registry_call(call));
    }

    /// The application recorded a custom metric.
    pub fn on_custom_metric(&self, metric: &CustomMetric<'_>) {
        self.each("on_custom_metric", |s| s.on_custom_metric(metric));
    }

    /// A message was read.
    pub fn on_message_in(&self, message: &MessageIn<'_>) -> Option<Paired<MessageState>> {
        self.start(MessageState::at(message.at), "on_message_in", |s| {
            s.on_message_in(message)
        })
    }

    /// A decoded event goes to the application's handler.
    pub fn on_stream_event_in(&self, event: &StreamEvent<'_>) -> Option<Paired<StreamEventState>> {
        self.start(StreamEventState::at(event.at), "on_stream_event_in", |s| {
            s.on_stream_event_in(event)
        })
    }

    /// Decoding starts.
    pub fn on_decode_start(&self, message: &MessageIn<'_>) -> Option<Paired<DecodeState>> {
        self.start(DecodeState::at(message.at), "on_decode_start", |s| {
            s.on_decode_start(message)
        })
    }

    /// A commit starts.
    pub fn on_commit_initiated(&self, at: Instant) -> Option<Paired<CommitState>> {
        self.start(CommitState::at(at), "on_commit_initiated", |s| {
            s.on_commit_initiated(at)
        })
    }

    /// Offsets were committed.
    pub fn on_tp_commit(&self, offsets: &[PartitionOffset<'_>]) {
        self.each("on_tp_commit", |s| s.on_tp_commit(offsets));
    }

    /// The end offset of a partition.
    pub fn track_tp_end_offset(&self, end: &PartitionOffset<'_>) {
        self.each("track_tp_end_offset", |s| s.track_tp_end_offset(end));
    }

    /// A rebalance starts.
    pub fn on_rebalance_start(&self, at: Instant) -> Option<Paired<RebalanceState>> {
        self.start(RebalanceState::at(at), "on_rebalance_start", |s| {
            s.on_rebalance_start(at)
        })
    }

    /// A partition assignment starts.
    pub fn on_assignment_start(&self, at: Instant) -> Option<Paired<AssignmentState>> {
        self.start(AssignmentState::at(at), "on_assignment_start", |s| {
            s.on_assignment_start(at)
        })
    }

    /// An HTTP request arrived.
    pub fn on_web_request_start(
        &self,
        request: &WebRequest<'_>,
    ) -> Option<Paired<WebRequestState>> {
        self.start(
            WebRequestState::at(request.at),
            "on_web_request_start",
            |s| s.on_web_request_start(request),
        )
    }
}

#[cfg(test)]
#[path = "delegate_tests.rs"]
mod tests;
