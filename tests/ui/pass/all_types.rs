//! Every allowed field type, plain and optional, compiles and encodes.
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use app_metrics::{EventEnum, EventPayload};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use uuid::Uuid;

#[derive(EventEnum, Clone, Copy)]
enum Kind {
    A,
    B,
}

#[derive(EventPayload)]
struct Everything {
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
    a_static_str: &'static str,
    a_boxed_str: Box<str>,
    an_arc_str: Arc<str>,
    a_cow: Cow<'static, str>,
    a_duration: Duration,
    a_time_delta: TimeDelta,
    a_datetime: DateTime<Utc>,
    a_date: NaiveDate,
    a_time: NaiveTime,
    a_uuid: Uuid,
    a_kind: Kind,
    maybe_bool: Option<bool>,
    maybe_i8: Option<i8>,
    maybe_i16: Option<i16>,
    maybe_i32: Option<i32>,
    maybe_i64: Option<i64>,
    maybe_u8: Option<u8>,
    maybe_u16: Option<u16>,
    maybe_u32: Option<u32>,
    maybe_f32: Option<f32>,
    maybe_f64: Option<f64>,
    maybe_string: Option<String>,
    maybe_static_str: Option<&'static str>,
    maybe_boxed_str: Option<Box<str>>,
    maybe_arc_str: Option<Arc<str>>,
    maybe_cow: Option<Cow<'static, str>>,
    maybe_duration: Option<Duration>,
    maybe_time_delta: Option<TimeDelta>,
    maybe_datetime: Option<DateTime<Utc>>,
    maybe_date: Option<NaiveDate>,
    maybe_time: Option<NaiveTime>,
    maybe_uuid: Option<Uuid>,
    maybe_kind: Option<Kind>,
    std_option: std::option::Option<i64>,
}

/// An event with no fields is valid.
#[derive(EventPayload)]
struct Heartbeat {}

#[derive(EventPayload)]
#[event(rename_all = "camelCase")]
struct Renamed {
    row_count: i64,
    #[event(rename = "kind_of_query")]
    r#type: Kind,
}

fn main() {
    assert!(Everything::AVRO_FIELDS.starts_with(r#"[{"name":"a_bool","type":"boolean"}"#));
    assert!(Everything::AVRO_FIELDS.contains(r#"{"name":"maybe_kind","type":["null","Kind"],"default":null}"#));
    assert_eq!(Heartbeat::AVRO_FIELDS, "[]");
    assert_eq!(Heartbeat::FIELD_NAMES.len(), 0);
    assert_eq!(Renamed::FIELD_NAMES, ["rowCount", "kind_of_query"]);
}
