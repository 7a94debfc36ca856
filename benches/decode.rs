//! Decode time of one event body (metadata + a nine-field payload), ours against
//! apache-avro's, typed and as JSON; and the parts of ours, to see where the time goes.

#[path = "support/event.rs"]
#[allow(
    dead_code,
    reason = "the shared event's encoders serve the encode bench"
)]
mod event;

use std::hint::black_box;
use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use app_metrics::decode::Event;
use app_metrics::kafka::consumer::WriterSchema;
use criterion::{Criterion, criterion_group, criterion_main};
use event::QueryEvent;
use uuid::Uuid;

fn decode(c: &mut Criterion) {
    let (meta, query, body) = event::encoded_sample();
    let schema = event::schema();
    let writer =
        Arc::new(WriterSchema::parse(1, &event::schema_text()).expect("our schema parses"));
    let reader = GenericDatumReader::builder(&schema)
        .human_readable(true)
        .build()
        .expect("reader");
    // (Timestamps keep milliseconds, as the schema says.)
    let decoded = Event::<QueryEvent>::decode_avro(&body).expect("ours");
    assert_eq!(
        (decoded.metadata, decoded.payload.query_id),
        (meta.clone(), query.query_id)
    );

    let mut group = c.benchmark_group("decode_query_event");
    group.bench_function("ours_typed", |b| {
        b.iter(|| Event::<QueryEvent>::decode_avro(black_box(&body)).expect("ours"))
    });
    group.bench_function("apache_avro_typed", |b| {
        b.iter(|| {
            let value = reader.read_value(&mut black_box(&body[..])).expect("datum");
            apache_avro::from_value::<event::DecodedQueryEvent>(&value).expect("typed")
        })
    });
    group.bench_function("ours_json_text", |b| {
        b.iter(|| writer.decode_json(black_box(&body)).expect("ours"))
    });
    group.bench_function("ours_json_value", |b| {
        b.iter(|| writer.decode(black_box(&body)).expect("ours").to_json())
    });
    group.bench_function("apache_avro_json_text", |b| {
        b.iter(|| {
            let value = reader.read_value(&mut black_box(&body[..])).expect("datum");
            serde_json::to_string(&serde_json::Value::try_from(value).expect("json"))
        })
    });
    group.bench_function("apache_avro_json_value", |b| {
        b.iter(|| {
            let value = reader.read_value(&mut black_box(&body[..])).expect("datum");
            serde_json::Value::try_from(value).expect("json")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("decode_parts");
    let id = meta.id().hyphenated().to_string();
    group.bench_function("uuid_from_text", |b| {
        b.iter(|| Uuid::try_parse(black_box(&id)).expect("uuid"))
    });
    group.bench_function("arc_str", |b| {
        b.iter(|| Arc::<str>::from(black_box("benchmark")))
    });
    group.bench_function("string", |b| b.iter(|| black_box("someuser").to_owned()));
    group.bench_function("rfc3339", |b| {
        b.iter(|| black_box(query.started).to_rfc3339())
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
