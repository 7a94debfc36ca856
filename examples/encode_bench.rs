//! Prints our encode time vs apache-avro's fastest serde path for the same event, measured
//! side by side in one run, ending in `encode_speedup_vs_apache_avro=<ratio>`.
//!
//! Run with `cargo run --release --example encode_bench`. The ratio is the median of
//! several interleaved rounds, so a noisy neighbour slows both sides alike.

#[path = "../benches/support/event.rs"]
mod event;

use std::hint::black_box;
use std::time::{Duration, Instant};

use apache_avro::writer::datum::GenericDatumWriter;

const ROUNDS: usize = 15;
const EVENTS_PER_ROUND: u32 = 200_000;

fn time_round(mut encode: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..EVENTS_PER_ROUND {
        encode();
    }
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let (meta, query) = event::sample();
    let schema = event::schema();
    let writer = GenericDatumWriter::builder(&schema)
        .build()
        .expect("writer");
    let bytes = event::assert_identical(&writer, &meta, &query);
    let (mut ours, mut theirs) = (Vec::with_capacity(256), Vec::with_capacity(256));
    println!("event: metadata + 9 payload fields, {bytes} bytes, identical output");

    let (mut ours_ns, mut theirs_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = time_round(|| event::encode_ours(&mut ours, black_box(&meta), black_box(&query)));
        let b = time_round(|| {
            event::encode_apache(&writer, &mut theirs, black_box(&meta), black_box(&query))
        });
        let per_event = |d: Duration| d.as_nanos() as f64 / f64::from(EVENTS_PER_ROUND);
        ours_ns.push(per_event(a));
        theirs_ns.push(per_event(b));
        ratios.push(b.as_secs_f64() / a.as_secs_f64());
    }
    println!(
        "app-metrics derive:         {:8.1} ns/event (median of {ROUNDS} rounds)",
        median(&mut ours_ns)
    );
    println!(
        "apache-avro write_ser:      {:8.1} ns/event",
        median(&mut theirs_ns)
    );
    println!("encode_speedup_vs_apache_avro={:.1}", median(&mut ratios));
}
