//! Typed decoding (the derive's generated decoder): every field type reads back what the
//! encoder wrote, and no input, however corrupt, panics.

mod common;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use app_metrics::decode::{AvroDecodeError, Event};
use app_metrics::{EventMetadata, EventPayload};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use common::QueryType;
use proptest::prelude::*;
use uuid::Uuid;

/// Every decodable field type, with values the encoding keeps exactly.
#[derive(EventPayload, Clone, Debug, PartialEq)]
struct Decodable {
    a_bool: bool,
    an_i8: i8,
    an_i16: i16,
    an_i32: i32,
    an_i64: i64,
    a_u8: u8,
    a_u16: u16,
    a_u32: u32,
    an_f32: f32,
    an_f64: f64,
    a_string: String,
    a_boxed_str: Box<str>,
    an_arc_str: Arc<str>,
    a_cow: Cow<'static, str>,
    a_duration: Duration,
    a_time_delta: TimeDelta,
    a_datetime: DateTime<Utc>,
    a_date: NaiveDate,
    a_time: NaiveTime,
    a_uuid: Uuid,
    a_kind: QueryType,
    maybe_kind: Option<QueryType>,
    maybe_text: Option<String>,
    maybe_long: Option<i64>,
}

fn encoded(metadata: &EventMetadata, payload: &impl EventPayload) -> Vec<u8> {
    let mut body = Vec::new();
    metadata.encode_avro(&mut body);
    payload.encode_avro(&mut body);
    body
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("comparable", |v| !v.is_nan())
}

prop_compose! {
    fn decodable()(
        ints in (any::<bool>(), any::<i8>(), any::<i16>(), any::<i32>(), any::<i64>(), any::<u8>(), any::<u16>(), any::<u32>()),
        floats in (any::<f32>().prop_filter("comparable", |v| !v.is_nan()), finite_f64()),
        strings in (any::<String>(), any::<String>(), any::<String>(), any::<String>()),
        // Whole milliseconds: below 2^23 s (97 days) a double keeps every nanosecond of a
        // duration; timestamps are whole milliseconds (longs) over ±950 years.
        millis in (0..8_000_000_000u64, -8_000_000_000i64..8_000_000_000, -30_000_000_000_000i64..30_000_000_000_000),
        days in -700_000i32..2_900_000,
        time_ms in 0..86_400_000u32,
        uuid in any::<u128>(),
        kinds in (any::<bool>(), proptest::option::of(any::<bool>())),
        options in (proptest::option::of(any::<String>()), proptest::option::of(any::<i64>())),
    ) -> Decodable {
        let kind = |sync: bool| if sync { QueryType::Sync } else { QueryType::Async };
        Decodable {
            a_bool: ints.0, an_i8: ints.1, an_i16: ints.2, an_i32: ints.3, an_i64: ints.4,
            a_u8: ints.5, a_u16: ints.6, a_u32: ints.7,
            an_f32: floats.0, an_f64: floats.1,
            a_string: strings.0, a_boxed_str: strings.1.into(), an_arc_str: strings.2.into(),
            a_cow: Cow::Owned(strings.3),
            a_duration: Duration::from_millis(millis.0),
            a_time_delta: TimeDelta::milliseconds(millis.1),
            a_datetime: DateTime::from_timestamp_millis(millis.2).expect("in range"),
            a_date: NaiveDate::from_num_days_from_ce_opt(days + 719_163).expect("in range"),
            a_time: NaiveTime::from_num_seconds_from_midnight_opt(time_ms / 1000, time_ms % 1000 * 1_000_000).expect("valid"),
            a_uuid: Uuid::from_u128(uuid),
            a_kind: kind(kinds.0),
            maybe_kind: kinds.1.map(kind),
            maybe_text: options.0,
            maybe_long: options.1,
        }
    }
}

proptest! {
    #[test]
    fn every_field_type_reads_back_what_was_written(payload in decodable(), ns in any::<i64>()) {
        let metadata = EventMetadata::at(Uuid::new_v4(), "app".into(), ns);
        let event = Event::<Decodable>::decode_avro(&encoded(&metadata, &payload)).unwrap();
        prop_assert_eq!(event.metadata, metadata);
        prop_assert_eq!(event.payload, payload);
    }

    #[test]
    fn arbitrary_bytes_give_an_error_or_an_event_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Event::<Decodable>::decode_avro(&bytes);
    }

    #[test]
    fn corrupted_events_give_an_error_or_an_event_never_a_panic(payload in decodable(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let body = encoded(&EventMetadata::now("app".into()), &payload);
        // Every strict prefix of a valid event is refused.
        for end in [0, body.len() / 2, body.len() - 1] {
            prop_assert!(Event::<Decodable>::decode_avro(&body[..end]).is_err());
        }
        // A corrupted one decodes to something or is refused; it never panics.
        let mut corrupt = body;
        for (index, mask) in flips {
            let i = index.index(corrupt.len());
            corrupt[i] ^= mask;
        }
        let _ = Event::<Decodable>::decode_avro(&corrupt);
        let _ = Event::<Decodable>::decode_avro(&corrupt[..corrupt.len() / 2]);
    }
}

#[test]
fn a_truncated_event_names_the_field_it_stopped_in() {
    let payload = common::QueryEvent {
        r#type: QueryType::Sync,
        duration: Duration::from_secs(2),
        username: Some("ada".into()),
        rows: 7,
    };
    let body = encoded(&EventMetadata::now("app".into()), &payload);
    let error = Event::<common::QueryEvent>::decode_avro(&body[..body.len() - 1]).unwrap_err();
    assert_eq!(error.field, "rows");
    assert!(
        matches!(error.error, AvroDecodeError::Truncated { .. }),
        "{error}"
    );
    let mut longer = body.clone();
    longer.push(0);
    let error = Event::<common::QueryEvent>::decode_avro(&longer).unwrap_err();
    assert_eq!(error.error, AvroDecodeError::TrailingBytes(1));
    assert_eq!(
        Event::<common::QueryEvent>::decode_avro(&body)
            .unwrap()
            .payload,
        payload
    );
}

#[test]
fn an_enum_index_beyond_the_symbols_is_an_error() {
    let mut body = Vec::new();
    EventMetadata::now("app".into()).encode_avro(&mut body);
    body.push(4); // index 2 of a two-symbol enum
    let error = Event::<common::QueryEvent>::decode_avro(&body).unwrap_err();
    assert_eq!(error.field, "type");
    assert_eq!(
        error.error,
        AvroDecodeError::EnumIndex {
            index: 2,
            symbols: 2,
            ty: "QueryType"
        }
    );
}

/// A payload with a field that borrows for `'static`: publishable, not decodable.
#[derive(EventPayload, Debug)]
struct WithStatic {
    count: i32,
    label: &'static str,
}

#[test]
fn a_static_str_field_cannot_be_decoded_and_says_what_to_use() {
    let body = encoded(
        &EventMetadata::now("app".into()),
        &WithStatic {
            count: 1,
            label: "x",
        },
    );
    let error = Event::<WithStatic>::decode_avro(&body).unwrap_err();
    assert_eq!(error.field, "label", "the fields before it are read");
    assert_eq!(error.error, AvroDecodeError::NotDecodable { ty: "&str" });
    assert!(error.to_string().contains("use String"), "{error}");
}
