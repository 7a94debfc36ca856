//! Property: for random values of every supported type, our encoding of metadata + payload
//! is byte-identical to apache-avro's encoding of the same record with the same schema.

mod common;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use app_metrics::schema::record_schema;
use app_metrics::{EventMetadata, EventPayload};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use common::{Everything, NAMESPACE, QueryType};
use proptest::prelude::*;
use uuid::Uuid;

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        (0..10_000u64, 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn time_delta() -> impl Strategy<Value = TimeDelta> {
    (-(i64::MAX / 1000)..i64::MAX / 1000, 0..1_000_000_000u32)
        .prop_filter_map("in TimeDelta range", |(s, n)| TimeDelta::new(s, n))
}

fn datetime() -> impl Strategy<Value = DateTime<Utc>> {
    // About ±250,000 years around 1970, including sub-millisecond parts before the epoch.
    (
        -8_000_000_000_000i64..8_000_000_000_000,
        0..1_000_000_000u32,
    )
        .prop_filter_map("in chrono range", |(s, n)| DateTime::from_timestamp(s, n))
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (-95_000_000i32..95_000_000)
        .prop_filter_map("in chrono range", NaiveDate::from_num_days_from_ce_opt)
}

fn time() -> impl Strategy<Value = NaiveTime> {
    // Nanoseconds up to 2e9 include leap seconds.
    (0..86_400u32, 0..2_000_000_000u32).prop_filter_map("valid time", |(s, n)| {
        NaiveTime::from_num_seconds_from_midnight_opt(s, n)
    })
}

fn kind() -> impl Strategy<Value = QueryType> {
    prop_oneof![Just(QueryType::Async), Just(QueryType::Sync)]
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

prop_compose! {
    fn everything()(
        ints in (any::<bool>(), any::<i8>(), any::<i16>(), any::<i32>(), any::<i64>(), any::<u8>(), any::<u16>(), any::<u32>()),
        floats in (any::<f32>(), any::<f64>()),
        strings in (any::<String>(), any::<String>(), any::<String>(), any::<String>(), any::<String>()),
        times in (duration(), time_delta(), datetime(), date(), time(), uuid(), kind()),
        options in (
            proptest::option::of(kind()), proptest::option::of(any::<bool>()), proptest::option::of(any::<i64>()),
            proptest::option::of(any::<u32>()), proptest::option::of(any::<f32>()), proptest::option::of(any::<String>()),
        ),
        optional_times in (
            proptest::option::of(duration()), proptest::option::of(datetime()), proptest::option::of(date()),
            proptest::option::of(time()), proptest::option::of(uuid()),
        ),
    ) -> Everything {
        Everything {
            a_bool: ints.0, an_i8: ints.1, an_i16: ints.2, an_i32: ints.3, an_i64: ints.4,
            a_u8: ints.5, a_u16: ints.6, a_u32: ints.7,
            an_f32: floats.0, an_f64: floats.1,
            a_string: strings.0, a_static_str: leak(strings.1), a_boxed_str: strings.2.into(),
            an_arc_str: Arc::from(strings.3), a_cow: Cow::Owned(strings.4),
            a_duration: times.0, a_time_delta: times.1, a_datetime: times.2, a_date: times.3,
            a_time: times.4, a_uuid: times.5, a_kind: times.6,
            maybe_kind: options.0, maybe_bool: options.1, maybe_i64: options.2, maybe_u32: options.3,
            maybe_f32: options.4, maybe_string: options.5,
            maybe_duration: optional_times.0, maybe_datetime: optional_times.1, maybe_date: optional_times.2,
            maybe_time: optional_times.3, maybe_uuid: optional_times.4,
        }
    }
}

/// The reference: the same record as an apache-avro `Value`, built from the Avro meaning of
/// each type (not from our encoder's helpers).
fn reference_value(meta: &EventMetadata, e: &Everything) -> Value {
    fn opt<T>(value: &Option<T>, f: impl Fn(&T) -> Value) -> Value {
        match value {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(v) => Value::Union(1, Box::new(f(v))),
        }
    }
    let kind = |k: &QueryType| match k {
        QueryType::Async => Value::Enum(0, "async".into()),
        QueryType::Sync => Value::Enum(1, "sync".into()),
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let days = |d: &NaiveDate| Value::Date((*d - epoch).num_days() as i32);
    let millis = |t: &NaiveTime| {
        Value::TimeMillis(
            (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000) as i32,
        )
    };
    // Whole seconds plus the fraction, as `Duration::as_secs_f64` computes it.
    let seconds =
        |d: &TimeDelta| Value::Double(d.num_seconds() as f64 + f64::from(d.subsec_nanos()) / 1e9);
    Value::Record(vec![
        ("id".into(), Value::Uuid(meta.id())),
        (
            "application".into(),
            Value::String(meta.application().to_owned()),
        ),
        (
            "timestamp".into(),
            Value::TimestampMillis(meta.timestamp_ns().div_euclid(1_000_000)),
        ),
        ("timestamp_ns".into(), Value::Long(meta.timestamp_ns())),
        ("a_bool".into(), Value::Boolean(e.a_bool)),
        ("an_i8".into(), Value::Int(e.an_i8.into())),
        ("an_i16".into(), Value::Int(e.an_i16.into())),
        ("an_i32".into(), Value::Int(e.an_i32)),
        ("an_i64".into(), Value::Long(e.an_i64)),
        ("a_u8".into(), Value::Int(e.a_u8.into())),
        ("a_u16".into(), Value::Int(e.a_u16.into())),
        ("a_u32".into(), Value::Long(e.a_u32.into())),
        ("an_f32".into(), Value::Float(e.an_f32)),
        ("an_f64".into(), Value::Double(e.an_f64)),
        ("a_string".into(), Value::String(e.a_string.clone())),
        ("a_static_str".into(), Value::String(e.a_static_str.into())),
        (
            "a_boxed_str".into(),
            Value::String(e.a_boxed_str.to_string()),
        ),
        ("an_arc_str".into(), Value::String(e.an_arc_str.to_string())),
        ("a_cow".into(), Value::String(e.a_cow.to_string())),
        (
            "a_duration".into(),
            Value::Double(e.a_duration.as_secs_f64()),
        ),
        ("a_time_delta".into(), seconds(&e.a_time_delta)),
        (
            "a_datetime".into(),
            Value::TimestampMillis(e.a_datetime.timestamp_millis()),
        ),
        ("a_date".into(), days(&e.a_date)),
        ("a_time".into(), millis(&e.a_time)),
        ("a_uuid".into(), Value::Uuid(e.a_uuid)),
        ("a_kind".into(), kind(&e.a_kind)),
        ("maybe_kind".into(), opt(&e.maybe_kind, kind)),
        (
            "maybe_bool".into(),
            opt(&e.maybe_bool, |v| Value::Boolean(*v)),
        ),
        ("maybe_i64".into(), opt(&e.maybe_i64, |v| Value::Long(*v))),
        (
            "maybe_u32".into(),
            opt(&e.maybe_u32, |v| Value::Long((*v).into())),
        ),
        ("maybe_f32".into(), opt(&e.maybe_f32, |v| Value::Float(*v))),
        (
            "maybe_string".into(),
            opt(&e.maybe_string, |v| Value::String(v.clone())),
        ),
        (
            "maybe_duration".into(),
            opt(&e.maybe_duration, |v| Value::Double(v.as_secs_f64())),
        ),
        (
            "maybe_datetime".into(),
            opt(&e.maybe_datetime, |v| {
                Value::TimestampMillis(v.timestamp_millis())
            }),
        ),
        ("maybe_date".into(), opt(&e.maybe_date, days)),
        ("maybe_time".into(), opt(&e.maybe_time, millis)),
        ("maybe_uuid".into(), opt(&e.maybe_uuid, |v| Value::Uuid(*v))),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encoding_is_byte_identical_to_apache_avro(
        event in everything(),
        id in uuid(),
        application in "[a-z_]{0,12}|\\PC{0,8}",
        timestamp_ns in any::<i64>(),
    ) {
        let schema = Schema::parse_str(&record_schema::<Everything>("everything", NAMESPACE).unwrap()).unwrap();
        let meta = EventMetadata::at(id, application.into(), timestamp_ns);

        let mut ours = Vec::new();
        meta.encode_avro(&mut ours);
        event.encode_avro(&mut ours);

        let writer = GenericDatumWriter::builder(&schema).build().unwrap();
        let theirs = writer.write_value_to_vec(reference_value(&meta, &event)).unwrap();
        prop_assert_eq!(ours, theirs);
    }
}
