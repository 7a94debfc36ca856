//! No input may panic the decoder: arbitrary frames against our schemas, and arbitrary
//! bodies against arbitrary schemas (every primitive and logical type, arrays, maps,
//! unions, nested records), rendered as JSON when they decode. The fuzz targets in
//! `fuzz/` explore the same ground for longer.

mod common;

use std::sync::Arc;

use app_metrics::decode::Event;
use app_metrics::kafka::consumer::WriterSchema;
use app_metrics::kafka::framing;
use app_metrics::schema::record_schema;
use app_metrics::{EventMetadata, EventPayload};
use common::QueryEvent;
use common::any_schema::schema_from_seed;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_body_under_any_schema_gives_json_or_an_error(
        seed in proptest::collection::vec(any::<u8>(), 0..48),
        body in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        let (schema_text, _) = schema_from_seed(&seed);
        let schema = match WriterSchema::parse(1, &schema_text) {
            Ok(schema) => Arc::new(schema),
            Err(error) => {
                // The only schemas refused: arrays of values that take no bytes.
                prop_assert!(error.to_string().contains("zero-size"), "{schema_text}: {error}");
                return Ok(());
            }
        };
        // The JSON text read straight from the bytes says what the decoded value does,
        // and both readers accept the same bodies.
        match (schema.decode(&body), schema.decode_json(&body)) {
            (Ok(event), Ok(text)) => {
                // Text against text: parsing would round some floats.
                prop_assert_eq!(text, serde_json::to_string(&event.to_json()).expect("JSON"));
            }
            (Err(_), Err(_)) => {}
            (value, text) => prop_assert!(
                false,
                "{} under {}: the value reader says {:?}, the text reader {:?}",
                hex(&body),
                schema_text,
                value.map(|event| event.to_json()),
                text
            ),
        }
    }

    #[test]
    fn corrupted_events_give_an_event_or_an_error(
        rows in any::<i64>(),
        username in proptest::option::of(".{0,12}"),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = record_schema::<QueryEvent>("query", "fuzz.ns").unwrap();
        let schema = Arc::new(WriterSchema::parse(1, &text).unwrap());
        let mut frame = framing::header(1).to_vec();
        EventMetadata::now("fuzz".into()).encode_avro(&mut frame);
        let payload = QueryEvent { rows, username, ..common::roundtrip::query(0) };
        payload.encode_avro(&mut frame);
        for (index, mask) in flips {
            let i = index.index(frame.len());
            frame[i] ^= mask;
        }
        frame.truncate(frame.len() - cut.index(frame.len() / 4 + 1));
        if let Ok((_, body)) = framing::split(&frame) {
            let generic = schema.decode(body);
            // Whatever the typed reader accepts, the generic one does too (the typed one
            // also refuses what its Rust types cannot hold, e.g. a negative Duration).
            if let Ok(event) = Event::<QueryEvent>::decode_avro(body) {
                let generic = generic.expect("the generic reader agrees");
                prop_assert_eq!(
                    generic.to_json()["rows"].as_i64(),
                    Some(event.payload.rows)
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn an_array_of_nulls_is_refused_before_any_body_is_read() {
    let text = r#"{"type":"record","name":"r","fields":[{"name":"a","type":{"type":"array","items":"null"}}]}"#;
    let error = WriterSchema::parse(1, text).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("record.a is an array of zero-size values"),
        "{error}"
    );
}

/// apache-avro reads a string, a boolean or a union branch cut short by the end of its
/// input as null; both our readers refuse such a body instead of losing the value.
#[test]
fn a_body_cut_inside_a_value_is_an_error_not_a_null() {
    let text = r#"{"type":"record","name":"R","fields":[
        {"name":"n","type":"int"},{"name":"s","type":"string"},{"name":"b","type":"boolean"},
        {"name":"u","type":["string","null"]}]}"#;
    let schema = Arc::new(WriterSchema::parse(1, text).unwrap());
    let whole = [0x02, 0x04, b'h', b'i', 0x01, 0x02];
    assert_eq!(
        schema.decode_json(&whole).unwrap(),
        r#"{"n":1,"s":"hi","b":true,"u":null}"#
    );
    assert!(schema.decode(&whole).is_ok());
    for cut in 1..whole.len() {
        let body = &whole[..cut];
        let value = schema.decode(body).map(|event| event.to_json());
        assert!(value.is_err(), "{cut} bytes: {value:?}");
        assert!(schema.decode_json(body).is_err(), "{cut} bytes");
    }
}

/// A decimal of no bytes is zero (apache-avro's own conversion refuses it), in both
/// readers.
#[test]
fn an_empty_decimal_is_zero_in_both_readers() {
    let text = r#"{"type":"record","name":"R","fields":[{"name":"d",
        "type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}"#;
    let schema = Arc::new(WriterSchema::parse(1, text).unwrap());
    assert_eq!(schema.decode_json(&[0x00]).unwrap(), r#"{"d":"0.00"}"#);
    assert_eq!(
        schema.decode(&[0x00]).unwrap().to_json(),
        serde_json::json!({ "d": "0.00" })
    );
}

/// A record of nothing but nulls, named and referred to as an array's items, is as
/// empty as `null` itself: the schema is refused.
#[test]
fn an_array_of_empty_records_by_name_is_refused_too() {
    let text = r#"{"type":"record","name":"R","fields":[
        {"name":"first","type":{"type":"record","name":"E","fields":[{"name":"n","type":"null"}]}},
        {"name":"many","type":{"type":"array","items":"E"}}]}"#;
    let error = WriterSchema::parse(1, text).unwrap_err().to_string();
    assert!(error.contains("zero-size"), "{error}");
}
