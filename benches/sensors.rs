//! The cost of the sensor hooks on the publishing path: a hand-over and its delivery
//! through a delegate with the Monitor attached, with none, and the Monitor alone.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use app_metrics::monitoring::Monitor;
use app_metrics::sensor::Sensor;
use app_metrics::sensor::{Delivered, SendInfo, SensorDelegate};
use criterion::{Criterion, criterion_group, criterion_main};

/// One event type for every hook call of these tests.
static KEY: std::sync::LazyLock<app_metrics::sensor::EventKey> =
    std::sync::LazyLock::new(app_metrics::sensor::EventKey::new);

fn hooks(c: &mut Criterion) {
    let at = Instant::now();
    let send = SendInfo {
        key: *KEY,
        topic: "lsst.square.metrics.events.app",
        event: "query",
        key_size: 0,
        value_size: 120,
        at,
    };
    let done = Delivered {
        key: *KEY,
        topic: send.topic,
        event: send.event,
        partition: 0,
        offset: 1,
        at,
    };
    let mut group = c.benchmark_group("sensor_hooks");

    let empty = SensorDelegate::new();
    group.bench_function("no_sensor", |b| {
        b.iter(|| {
            if let Some(started) = empty.on_send_initiated(black_box(&send)) {
                started.on_send_completed(&done);
            }
        })
    });

    let monitor = Arc::new(Monitor::new());
    group.bench_function("monitor_direct", |b| {
        b.iter(|| {
            let state = monitor.on_send_initiated(black_box(&send)).unwrap();
            monitor.on_send_completed(state, &done).unwrap();
        })
    });

    let delegate = SensorDelegate::new();
    delegate.add(monitor.clone());
    group.bench_function("delegate_with_monitor", |b| {
        b.iter(|| {
            if let Some(started) = delegate.on_send_initiated(black_box(&send)) {
                started.on_send_completed(&done);
            }
        })
    });

    group.bench_function("clock_read", |b| b.iter(|| black_box(Instant::now())));
    group.bench_function("box_alloc_free", |b| {
        b.iter(|| black_box(Box::new([0u64; 16])))
    });
    group.finish();
}

criterion_group!(benches, hooks);
criterion_main!(benches);
