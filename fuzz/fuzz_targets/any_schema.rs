//! An arbitrary record schema (grown from the first bytes of the input, as the stable
//! proptest in `tests/decode_any.rs` grows them) and an arbitrary body (the rest): parsed,
//! decoded, rendered as JSON. Nothing may panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use metrics_kafka::consumer::WriterSchema;

#[path = "../../tests/common/any_schema.rs"]
mod any_schema;

fuzz_target!(|input: &[u8]| {
    let (text, used) = any_schema::schema_from_seed(input);
    let Ok(schema) = WriterSchema::parse(1, &text) else {
        return;
    };
    if let Ok(event) = Arc::new(schema).decode(&input[used..]) {
        let _ = serde_json::to_string(&event.to_json());
    }
});
