//! Encode time of one event (metadata + a nine-field payload): our derived encoder vs
//! apache-avro's schema-aware serde path, with identical output bytes.

#[path = "support/event.rs"]
mod event;

use std::hint::black_box;

use apache_avro::writer::datum::GenericDatumWriter;
use criterion::{Criterion, criterion_group, criterion_main};

fn encode(c: &mut Criterion) {
    let (meta, query) = event::sample();
    let schema = event::schema();
    let writer = GenericDatumWriter::builder(&schema)
        .build()
        .expect("writer");
    event::assert_identical(&writer, &meta, &query);
    let (mut ours, mut theirs) = (Vec::with_capacity(256), Vec::with_capacity(256));

    let mut group = c.benchmark_group("encode_query_event");
    group.bench_function("app_metrics_derive", |b| {
        b.iter(|| event::encode_ours(&mut ours, black_box(&meta), black_box(&query)))
    });
    group.bench_function("apache_avro_write_ser", |b| {
        b.iter(|| event::encode_apache(&writer, &mut theirs, black_box(&meta), black_box(&query)))
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
