//! The delegate: ordered fan-out, failures isolated and counted, pairing across changes.

use std::io::Write;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::*;
use crate::sensor::SensorError;
use std::sync::atomic::{AtomicU64, Ordering};

/// One event type for every hook call of these tests.
static KEY: std::sync::LazyLock<crate::sensor::EventKey> =
    std::sync::LazyLock::new(crate::sensor::EventKey::new);

/// Counts sends started and ended, as a monitor would.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    delivered: AtomicU64,
}

/// What a [`Tally`] counted: sent, delivered, in flight.
#[derive(Debug, PartialEq)]
struct Counts {
    sent: u64,
    delivered: u64,
    in_flight: u64,
}

impl Tally {
    fn counts(&self) -> Counts {
        let sent = self.sent.load(Ordering::Relaxed);
        let delivered = self.delivered.load(Ordering::Relaxed);
        Counts {
            sent,
            delivered,
            in_flight: sent - delivered,
        }
    }
}

impl Sensor for Tally {
    fn name(&self) -> &str {
        "tally"
    }
    fn metrics(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"sent": self.sent.load(Ordering::Relaxed)}))
    }
    fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(SendState::at(send.at))
    }
    fn on_send_completed(&self, _: SendState, _: &Delivered<'_>) -> SensorResult {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Panics in every hook it implements.
struct Panicking;

impl Sensor for Panicking {
    fn name(&self) -> &str {
        "panicking"
    }
    fn on_send_initiated(&self, _: &SendInfo<'_>) -> SensorResult<SendState> {
        panic!("boom at start")
    }
    fn on_send_completed(&self, _: SendState, _: &Delivered<'_>) -> SensorResult {
        panic!("boom at end")
    }
}

/// Returns an error from every hook it implements.
struct Erring;

impl Sensor for Erring {
    fn name(&self) -> &str {
        "erring"
    }
    fn on_send_initiated(&self, _: &SendInfo<'_>) -> SensorResult<SendState> {
        Err(SensorError::msg("cannot reach the collector"))
    }
    fn on_send_completed(&self, _: SendState, _: &Delivered<'_>) -> SensorResult {
        Err(SensorError::msg("cannot reach the collector"))
    }
}

/// Records the order of calls.
struct Recorder(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl Sensor for Recorder {
    fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
        self.1.lock().unwrap().push(self.0);
        Ok(SendState::at(send.at))
    }
}

fn send(at: Instant) -> SendInfo<'static> {
    SendInfo {
        key: *KEY,
        topic: "t",
        event: "e",
        key_size: 0,
        value_size: 1,
        at,
    }
}

fn delivered(at: Instant) -> Delivered<'static> {
    Delivered {
        key: *KEY,
        topic: "t",
        event: "e",
        partition: 0,
        offset: 0,
        at,
    }
}

/// Collects what `tracing` writes while `f` runs.
fn logs(f: impl FnOnce()) -> String {
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
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn an_empty_delegate_does_nothing() {
    let delegate = SensorDelegate::new();
    assert!(delegate.is_empty());
    assert!(delegate.on_send_initiated(&send(Instant::now())).is_none());
}

#[test]
fn sensors_run_in_the_order_they_were_added() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let delegate = SensorDelegate::new();
    for name in ["first", "second", "third"] {
        delegate.add(Arc::new(Recorder(name, Arc::clone(&calls))));
    }
    delegate.on_send_initiated(&send(Instant::now()));
    assert_eq!(*calls.lock().unwrap(), ["first", "second", "third"]);
}

#[test]
fn a_panicking_and_an_erring_sensor_are_isolated_counted_and_logged_once() {
    let delegate = SensorDelegate::new();
    let monitor = Arc::new(Tally::default());
    delegate.add(Arc::new(Panicking));
    delegate.add(monitor.clone());
    delegate.add(Arc::new(Erring));
    // The default panic hook would print every panic; keep the test output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let output = logs(|| {
        for _ in 0..5 {
            let at = Instant::now();
            let started = delegate
                .on_send_initiated(&send(at))
                .expect("sensors attached");
            started.on_send_completed(&delivered(at));
        }
    });
    std::panic::set_hook(hook);

    assert_eq!(
        monitor.counts(),
        Counts {
            sent: 5,
            delivered: 5,
            in_flight: 0
        },
        "the well-behaved sensor carried on"
    );
    assert_eq!(
        delegate.failures(),
        [
            ("panicking".to_owned(), 10),
            ("tally".to_owned(), 0),
            ("erring".to_owned(), 10)
        ]
    );
    assert_eq!(
        output.matches("a sensor failed").count(),
        2,
        "once per sensor:\n{output}"
    );
    assert!(
        output.contains("sensor=\"panicking\"") && output.contains("boom at start"),
        "{output}"
    );
    assert!(
        output.contains("sensor=\"erring\"") && output.contains("cannot reach the collector"),
        "{output}"
    );
}

#[test]
fn a_sensor_added_mid_flight_does_not_see_the_end_of_an_earlier_start() {
    let delegate = SensorDelegate::new();
    let first = Arc::new(Tally::default());
    delegate.add(first.clone());
    let at = Instant::now();
    let started = delegate.on_send_initiated(&send(at)).unwrap();
    let late = Arc::new(Tally::default());
    delegate.add(late.clone());
    started.on_send_completed(&delivered(at));
    assert_eq!(first.counts().delivered, 1);
    assert_eq!(
        late.counts(),
        Counts {
            sent: 0,
            delivered: 0,
            in_flight: 0
        }
    );
}

#[test]
fn a_sensor_removed_mid_flight_still_sees_the_end_it_started() {
    let delegate = SensorDelegate::new();
    let monitor = Arc::new(Tally::default());
    let id = delegate.add(monitor.clone());
    let at = Instant::now();
    let started = delegate.on_send_initiated(&send(at)).unwrap();
    assert!(delegate.remove(id).is_some());
    assert!(delegate.remove(id).is_none(), "removed once");
    assert!(delegate.is_empty());
    started.on_send_completed(&delivered(at));
    assert_eq!(
        monitor.counts(),
        Counts {
            sent: 1,
            delivered: 1,
            in_flight: 0
        }
    );
    assert!(delegate.on_send_initiated(&send(at)).is_none());
}

#[test]
fn combined_metrics_merge_every_sensors_snapshot() {
    struct Fixed;
    impl Sensor for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn metrics(&self) -> Option<serde_json::Value> {
            Some(serde_json::json!({"answer": 42}))
        }
    }
    let delegate = SensorDelegate::new();
    delegate.add(Arc::new(Tally::default()));
    delegate.add(Arc::new(Fixed));
    delegate.add(Arc::new(Fixed));
    delegate.add(Arc::new(Erring));
    let all = delegate.combined_metrics();
    assert_eq!(all["tally"]["sent"], 0);
    assert_eq!(all["fixed"]["answer"], 42);
    assert_eq!(all["fixed#2"]["answer"], 42);
    assert!(all.get("erring").is_none(), "no metrics of its own");
}

#[test]
fn concurrent_adds_and_sends_keep_every_pair() {
    let delegate = Arc::new(SensorDelegate::new());
    let monitors: Vec<Arc<Tally>> = (0..3).map(|_| Arc::new(Tally::default())).collect();
    delegate.add(monitors[0].clone());
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (delegate, sent) = (Arc::clone(&delegate), Arc::clone(&sent));
        std::thread::spawn(move || {
            for _ in 0..5_000 {
                let at = Instant::now();
                if let Some(started) = delegate.on_send_initiated(&send(at)) {
                    started.on_send_completed(&delivered(at));
                }
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let ids: Vec<SensorId> = monitors[1..]
        .iter()
        .map(|m| delegate.add(m.clone()))
        .collect();
    for id in ids {
        delegate.remove(id);
    }
    sender.join().unwrap();
    for m in &monitors {
        assert_eq!(
            m.counts().in_flight,
            0,
            "every start this sensor saw has ended"
        );
    }
}

/// Counts direct hook calls; panics on deliveries when told to.
#[derive(Default)]
struct DirectTally {
    tally: Tally,
    panics: bool,
}

impl Sensor for DirectTally {
    fn name(&self) -> &str {
        if self.panics { "panicking" } else { "direct" }
    }
}

impl DirectSendSensor for DirectTally {
    fn on_sent(&self, _: &Encoded<'_>, _: usize) {
        self.tally.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn on_delivered(&self, _: std::time::Duration) {
        assert!(!self.panics, "a direct sensor's own bug");
        self.tally.delivered.fetch_add(1, Ordering::Relaxed);
    }

    fn on_send_failed(&self, _: &SendFailure<'_>) {}
}

fn encoded() -> Encoded<'static> {
    Encoded {
        key: *KEY,
        topic: "t",
        event: "query",
        bytes: 80,
        elapsed: None,
    }
}

#[test]
fn direct_sensors_skip_the_send_hooks_and_a_panic_in_them_is_isolated() {
    let delegate = SensorDelegate::new();
    let panicking = Arc::new(DirectTally {
        panics: true,
        ..DirectTally::default()
    });
    let direct = Arc::new(DirectTally::default());
    let generic = Arc::new(Tally::default());
    delegate.add_direct(panicking.clone());
    delegate.add_direct(direct.clone());
    delegate.add(generic.clone());
    let at = Instant::now();
    let log = logs(|| {
        for _ in 0..3 {
            let ticket = delegate
                .direct_sent(&encoded(), 85)
                .expect("direct sensors");
            let started = delegate
                .on_send_initiated(&send(at))
                .expect("a generic sensor");
            delegate.direct_delivered(ticket, std::time::Duration::from_millis(1));
            started.on_send_completed(&delivered(at));
        }
    });
    let expected = Counts {
        sent: 3,
        delivered: 3,
        in_flight: 0,
    };
    assert_eq!(direct.tally.counts(), expected);
    assert_eq!(generic.counts(), expected);
    assert_eq!(panicking.tally.sent.load(Ordering::Relaxed), 3);
    let failures = delegate.failures();
    assert!(
        failures.contains(&("panicking".to_owned(), 3)),
        "{failures:?}"
    );
    assert_eq!(log.matches("a sensor failed").count(), 1, "{log}");
    assert!(log.contains("on_delivered"), "{log}");
}
