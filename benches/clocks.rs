//! A lever of the monitoring round, measured: the cost of a clock reading. The Monitor
//! used to time every send with two `std::time::Instant` readings; `quanta` reads the
//! TSC; the coarse clock (`Clock::recent`) stamps the last delivery now.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use app_metrics::sensor::Clock as _;
use criterion::{Criterion, criterion_group, criterion_main};

fn clocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock_reading");
    group.bench_function("std_instant", |b| b.iter(Instant::now));
    group.bench_function("std_system_time", |b| b.iter(SystemTime::now));
    group.bench_function("coarse_recent", |b| {
        b.iter(|| black_box(app_metrics::sensor::SystemClock.recent()))
    });
    let clock = quanta::Clock::new();
    group.bench_function("quanta_now", |b| b.iter(|| black_box(&clock).now()));
    group.bench_function("quanta_raw", |b| b.iter(|| black_box(&clock).raw()));
    group.finish();
}

criterion_group!(benches, clocks);
criterion_main!(benches);
