//! Any bytes as a Confluent frame of a `query` event: the frame split, the body decoded by
//! the generic reader (then rendered as JSON) and by the derive's typed reader. Nothing may
//! panic; whatever the typed reader accepts, the generic one must too.
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use metrics_core::decode::Event;
use metrics_core::{EventEnum, EventPayload, record_schema};
use metrics_kafka::consumer::WriterSchema;
use metrics_kafka::framing;

#[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
#[event(rename_all = "lowercase")]
enum QueryType {
    Async,
    Sync,
}

#[derive(EventPayload, Clone, Debug, PartialEq)]
struct QueryEvent {
    r#type: QueryType,
    duration: Duration,
    username: Option<String>,
    rows: i64,
}

static SCHEMA: LazyLock<Arc<WriterSchema>> = LazyLock::new(|| {
    let text = record_schema::<QueryEvent>("query", "fuzz.ns").expect("valid names");
    Arc::new(WriterSchema::parse(1, &text).expect("our schema parses"))
});

fuzz_target!(|frame: &[u8]| {
    let Ok((_, body)) = framing::split(frame) else {
        return;
    };
    let generic = SCHEMA.decode(body);
    if let Ok(event) = &generic {
        let _ = serde_json::to_string(&event.to_json());
    }
    if Event::<QueryEvent>::decode_avro(body).is_ok() {
        assert!(generic.is_ok(), "the typed reader accepted what the generic one refused");
    }
});
