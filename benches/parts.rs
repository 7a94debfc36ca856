//! The publishing path's parts besides encoding (`benches/encode.rs`) and the sensors
//! (`benches/sensors.rs`): the metadata (a clock reading and a v4 UUID), a UUID's text
//! form, and the Confluent frame header.

use std::hint::black_box;

use app_metrics::EventMetadata;
use app_metrics::kafka::framing;
use criterion::{Criterion, criterion_group, criterion_main};
use uuid::Uuid;

fn parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_parts");
    let application: std::sync::Arc<str> = "benchmark".into();
    group.bench_function("metadata_now", |b| {
        b.iter(|| EventMetadata::now(black_box(application.clone())))
    });
    group.bench_function("uuid_v4", |b| b.iter(Uuid::new_v4));
    let uuid = Uuid::new_v4();
    let mut buf = Vec::with_capacity(64);
    group.bench_function("uuid_avro_text", |b| {
        b.iter(|| {
            buf.clear();
            app_metrics::field::write_uuid(&mut buf, black_box(&uuid));
        })
    });
    let mut frame = framing::header(42).to_vec();
    frame.extend_from_slice(&[0; 120]);
    group.bench_function("frame_header", |b| {
        b.iter(|| framing::header(black_box(42)))
    });
    group.bench_function("frame_split", |b| {
        b.iter(|| framing::split(black_box(&frame)))
    });
    group.finish();
}

criterion_group!(benches, parts);
criterion_main!(benches);
