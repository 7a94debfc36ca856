//! The levers of monitoring's cost on the publishing path, measured one by one: a
//! hand-over and its delivery through the generic, isolated hooks (the Monitor attached
//! with `add`, two clock readings, state per event) against the direct path (attached
//! with `add_direct`, the latency handed in as librdkafka measures it); and how a
//! message's report finds its sensors (an entry per message in a slab, against a lookup
//! of its sink by the key its opaque carries).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_metrics::monitoring::Monitor;
use app_metrics::sensor::{Delivered, Encoded, EventKey, SendInfo, Sensor, SensorDelegate};
use criterion::{Criterion, criterion_group, criterion_main};

/// One event type for every hook call of these benches.
static KEY: std::sync::LazyLock<EventKey> = std::sync::LazyLock::new(EventKey::new);

const TOPIC: &str = "lsst.square.metrics.events.app";

fn encoded() -> Encoded<'static> {
    Encoded {
        key: *KEY,
        topic: TOPIC,
        event: "query",
        bytes: 120,
        elapsed: None,
    }
}

fn hooks(c: &mut Criterion) {
    let mut group = c.benchmark_group("monitor_levers");

    let empty = SensorDelegate::new();
    let at = Instant::now();
    group.bench_function("no_sensor", |b| {
        b.iter(|| {
            black_box(empty.direct_sent(black_box(&encoded()), 125));
            black_box(empty.on_send_initiated(&send(at)));
        })
    });

    // What every event cost before: a clock reading at the hand-over and one at the
    // report, the isolated fan-out, the sensors' states carried with the message.
    let monitor = Arc::new(Monitor::new());
    let generic = SensorDelegate::new();
    generic.add(monitor.clone());
    group.bench_function("generic_path", |b| {
        b.iter(|| {
            let at = Instant::now();
            let started = generic
                .on_encode_and_send_initiated(black_box(&encoded()), &send(at))
                .expect("attached");
            started.on_send_completed(&delivered(Instant::now()));
        })
    });

    // The direct path with our own clock readings, to tell the two levers apart.
    let direct = SensorDelegate::new();
    direct.add_direct(Arc::new(Monitor::new()));
    group.bench_function("direct_path_own_clock", |b| {
        b.iter(|| {
            let at = Instant::now();
            let ticket = direct
                .direct_sent(black_box(&encoded()), 125)
                .expect("attached");
            direct.direct_delivered(ticket, at.elapsed());
        })
    });

    // What the Kafka backend does now: the latency comes with the delivery report.
    group.bench_function("direct_path", |b| {
        b.iter(|| {
            let ticket = direct
                .direct_sent(black_box(&encoded()), 125)
                .expect("attached");
            direct.direct_delivered(ticket, black_box(Duration::from_micros(900)));
        })
    });
    group.finish();

    // How a delivery report finds what it reports to.
    let mut group = c.benchmark_group("report_routing");
    let per_message = sharded_slab::Slab::<(Arc<SensorDelegate>, [u64; 4])>::new();
    let delegate = Arc::new(SensorDelegate::new());
    group.bench_function("entry_per_message", |b| {
        b.iter(|| {
            let key = per_message
                .insert((Arc::clone(&delegate), [0; 4]))
                .expect("room");
            black_box(per_message.take(black_box(key)))
        })
    });
    let sinks = sharded_slab::Slab::<Arc<SensorDelegate>>::new();
    let key = sinks.insert(Arc::clone(&delegate)).expect("room");
    group.bench_function("sink_by_key", |b| {
        b.iter(|| black_box(sinks.get(black_box(key)).map(|sink| sink.len())))
    });
    group.finish();
}

fn send(at: Instant) -> SendInfo<'static> {
    SendInfo {
        key: *KEY,
        topic: TOPIC,
        event: "query",
        key_size: 0,
        value_size: 125,
        at,
    }
}

fn delivered(at: Instant) -> Delivered<'static> {
    Delivered {
        key: *KEY,
        topic: TOPIC,
        event: "query",
        partition: 0,
        offset: 1,
        at,
    }
}

/// The Monitor's own hooks, called directly, for reference.
fn monitor_alone(c: &mut Criterion) {
    let monitor = Monitor::new();
    c.bench_function("monitor_levers/monitor_hooks_alone", |b| {
        b.iter(|| {
            let state = monitor.on_send_initiated(&send(Instant::now())).unwrap();
            monitor
                .on_send_completed(state, &delivered(Instant::now()))
                .unwrap();
        })
    });
}

criterion_group!(benches, hooks, monitor_alone);
criterion_main!(benches);
