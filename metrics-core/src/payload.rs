//! The traits a payload type implements (through the derives) and the scalar types they map.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use uuid::Uuid;

use crate::avro;

/// An event payload: a struct with `#[derive(EventPayload)]`.
///
/// The derive produces the Avro field list at compile time and a direct Avro binary
/// encoder. The metadata fields (`id`, `application`, `timestamp`, `timestamp_ns`) are
/// not part of the payload: the event manager adds them.
///
/// ```
/// use metrics_core::EventPayload;
///
/// /// A user logged in.
/// #[derive(EventPayload)]
/// struct LoginEvent {
///     username: String,
///     success: bool,
/// }
///
/// assert_eq!(
///     LoginEvent::AVRO_FIELDS,
///     r#"[{"name":"username","type":"string"},{"name":"success","type":"boolean"}]"#
/// );
/// let mut buf = Vec::new();
/// LoginEvent { username: "ada".into(), success: true }.encode_avro(&mut buf);
/// assert_eq!(buf, [0x06, b'a', b'd', b'a', 0x01]);
/// ```
pub trait EventPayload: Send + Sync + 'static {
    /// The Avro field list of the payload as a JSON array, built at compile time.
    const AVRO_FIELDS: &'static str;
    /// The struct's doc comment, escaped for a JSON string, used as the record's Avro `doc`.
    const AVRO_DOC: Option<&'static str>;
    /// The Avro names of the payload's fields, in order.
    const FIELD_NAMES: &'static [&'static str];

    /// Appends the Avro binary encoding of the payload's fields to `buf`.
    fn encode_avro(&self, buf: &mut Vec<u8>);

    /// The payload's fields as `(name, value)` pairs, in schema order (used by the mock
    /// backend's assertions and by diagnostics, never on the publishing path).
    fn field_values(&self) -> Vec<(&'static str, FieldValue)>;
}

/// A non-null Avro scalar that an event field can hold.
///
/// Implemented for the types of the type-mapping table (README, "Defining events") and, through `#[derive(EventEnum)]`, for
/// unit-only enums. Anything else is refused at compile time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an event field: InfluxDB stores only scalars",
    label = "not a scalar event field type",
    note = "allowed: bool, i8, i16, i32, i64, u8, u16, u32, f32, f64, String, &'static str, Box<str>, Arc<str>, Cow<'static, str>, std::time::Duration, chrono::TimeDelta, chrono::DateTime<Utc>, chrono::NaiveDate, chrono::NaiveTime, uuid::Uuid, a #[derive(EventEnum)] enum, or an Option of one of these",
    note = "a nested struct cannot be stored: flatten its fields into the event"
)]
pub trait EventScalar {
    /// The Avro schema of the type, as JSON.
    const AVRO_SCHEMA: &'static str;
    /// The schema to use once the type has been defined earlier in the same record:
    /// the name of a named type (enums), otherwise the schema itself.
    const AVRO_REFERENCE: &'static str = Self::AVRO_SCHEMA;

    /// Appends the Avro binary encoding of the value to `buf`.
    fn encode_avro(&self, buf: &mut Vec<u8>);

    /// The value, for assertions and diagnostics.
    fn field_value(&self) -> FieldValue;
}

/// The type of an event field: an [`EventScalar`] or an `Option` of one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an event field: InfluxDB stores only scalars",
    label = "not a scalar event field type",
    note = "allowed: bool, i8, i16, i32, i64, u8, u16, u32, f32, f64, String, &'static str, Box<str>, Arc<str>, Cow<'static, str>, std::time::Duration, chrono::TimeDelta, chrono::DateTime<Utc>, chrono::NaiveDate, chrono::NaiveTime, uuid::Uuid, a #[derive(EventEnum)] enum, or an Option of one of these"
)]
pub trait EventField {
    /// The non-null scalar type inside.
    type Scalar: EventScalar;
    /// `true` for `Option<T>`: the field is `["null", T]` with `"default": null`.
    const NULLABLE: bool;

    /// Appends the Avro binary encoding of the value to `buf`.
    fn encode_avro(&self, buf: &mut Vec<u8>);

    /// The value, for assertions and diagnostics.
    fn field_value(&self) -> FieldValue;
}

impl<T: EventScalar> EventField for T {
    type Scalar = T;
    const NULLABLE: bool = false;

    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        EventScalar::encode_avro(self, buf);
    }

    fn field_value(&self) -> FieldValue {
        EventScalar::field_value(self)
    }
}

impl<T: EventScalar> EventField for Option<T> {
    type Scalar = T;
    const NULLABLE: bool = true;

    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        match self {
            None => avro::write_union_branch(buf, 0),
            Some(value) => {
                avro::write_union_branch(buf, 1);
                value.encode_avro(buf);
            }
        }
    }

    fn field_value(&self) -> FieldValue {
        self.as_ref()
            .map_or(FieldValue::Null, EventScalar::field_value)
    }
}

/// The value of one payload field, as the mock backend records it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// `None`.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// Any string type.
    Str(String),
    /// An enum symbol.
    Enum(&'static str),
    /// A duration in seconds (`Duration`, `TimeDelta`).
    Duration(f64),
    /// A UTC timestamp.
    Timestamp(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// A time of day.
    Time(NaiveTime),
    /// A UUID.
    Uuid(Uuid),
}

macro_rules! int_scalar {
    ($schema:literal, $write:ident as $wide:ty: $($ty:ty),+) => {$(
        impl EventScalar for $ty {
            const AVRO_SCHEMA: &'static str = $schema;
            #[inline]
            fn encode_avro(&self, buf: &mut Vec<u8>) {
                avro::$write(buf, <$wide>::from(*self));
            }
            fn field_value(&self) -> FieldValue {
                FieldValue::Int(i64::from(*self))
            }
        }
    )+};
}

int_scalar!("\"int\"", write_int as i32: i8, i16, i32, u8, u16);
int_scalar!("\"long\"", write_long as i64: i64, u32);

impl EventScalar for bool {
    const AVRO_SCHEMA: &'static str = "\"boolean\"";
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_bool(buf, *self);
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Bool(*self)
    }
}

impl EventScalar for f32 {
    const AVRO_SCHEMA: &'static str = "\"float\"";
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_float(buf, *self);
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Float(f64::from(*self))
    }
}

impl EventScalar for f64 {
    const AVRO_SCHEMA: &'static str = "\"double\"";
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_double(buf, *self);
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Float(*self)
    }
}

macro_rules! str_scalar {
    ($($ty:ty),+) => {$(
        impl EventScalar for $ty {
            const AVRO_SCHEMA: &'static str = "\"string\"";
            #[inline]
            fn encode_avro(&self, buf: &mut Vec<u8>) {
                avro::write_str(buf, self);
            }
            fn field_value(&self) -> FieldValue {
                FieldValue::Str(str::to_owned(self))
            }
        }
    )+};
}

str_scalar!(String, &'static str, Box<str>, Arc<str>, Cow<'static, str>);

/// Safir's (dataclasses-avroschema's) schema for a time delta: seconds as a double.
const TIMEDELTA_SCHEMA: &str =
    r#"{"type":"double","logicalType":"dataclasses-avroschema-timedelta"}"#;

impl EventScalar for Duration {
    const AVRO_SCHEMA: &'static str = TIMEDELTA_SCHEMA;
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_double(buf, self.as_secs_f64());
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Duration(self.as_secs_f64())
    }
}

/// Seconds in a [`TimeDelta`], as Python's `timedelta.total_seconds()` gives them.
pub fn timedelta_seconds(delta: &TimeDelta) -> f64 {
    delta.num_seconds() as f64 + f64::from(delta.subsec_nanos()) / 1e9
}

impl EventScalar for TimeDelta {
    const AVRO_SCHEMA: &'static str = TIMEDELTA_SCHEMA;
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_double(buf, timedelta_seconds(self));
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Duration(timedelta_seconds(self))
    }
}

impl EventScalar for DateTime<Utc> {
    const AVRO_SCHEMA: &'static str = r#"{"type":"long","logicalType":"timestamp-millis"}"#;
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_long(buf, self.timestamp_millis());
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Timestamp(*self)
    }
}

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The date `days` after 1970-01-01 (Avro `date`), if chrono can hold it.
pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

/// Days since 1970-01-01 (Avro `date`).
pub fn days_since_epoch(date: &NaiveDate) -> i32 {
    // NaiveDate spans about ±262,000 years: the day count always fits an i32.
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

impl EventScalar for NaiveDate {
    const AVRO_SCHEMA: &'static str = r#"{"type":"int","logicalType":"date"}"#;
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_int(buf, days_since_epoch(self));
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Date(*self)
    }
}

/// Milliseconds since midnight (Avro `time-millis`); a leap second counts past 86,399,999.
pub fn millis_since_midnight(time: &NaiveTime) -> i32 {
    // At most 86,399 s * 1000 + 1,999 ms: always fits an i32.
    (time.num_seconds_from_midnight() * 1000 + time.nanosecond() / 1_000_000) as i32
}

impl EventScalar for NaiveTime {
    const AVRO_SCHEMA: &'static str = r#"{"type":"int","logicalType":"time-millis"}"#;
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        avro::write_int(buf, millis_since_midnight(self));
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Time(*self)
    }
}

/// Writes a UUID as an Avro string: its 36-character lowercase hyphenated form, without
/// allocating.
#[inline]
pub fn write_uuid(buf: &mut Vec<u8>, uuid: &Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid.hyphenated().encode_lower(&mut text);
    // The Avro length prefix of a 36-byte string is the single byte 72 (zig-zag of 36).
    buf.push(72);
    buf.extend_from_slice(&text);
}

impl EventScalar for Uuid {
    const AVRO_SCHEMA: &'static str = r#"{"type":"string","logicalType":"uuid"}"#;
    #[inline]
    fn encode_avro(&self, buf: &mut Vec<u8>) {
        write_uuid(buf, self);
    }
    fn field_value(&self) -> FieldValue {
        FieldValue::Uuid(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded<T: EventField>(value: T) -> Vec<u8> {
        let mut buf = Vec::new();
        value.encode_avro(&mut buf);
        buf
    }

    #[test]
    fn uuids_encode_as_their_hyphenated_lowercase_text() {
        let uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let mut expected = Vec::new();
        avro::write_str(&mut expected, &uuid.hyphenated().to_string());
        assert_eq!(encoded(uuid), expected);
    }

    #[test]
    fn options_encode_the_union_branch_first() {
        assert_eq!(encoded(None::<i32>), [0x00]);
        assert_eq!(encoded(Some(1i32)), [0x02, 0x02]);
    }

    #[test]
    fn dates_and_times_count_from_the_epoch_and_midnight() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(days_since_epoch(&epoch), 0);
        assert_eq!(days_since_epoch(&epoch.pred_opt().unwrap()), -1);
        let time = NaiveTime::from_hms_milli_opt(0, 0, 1, 500).unwrap();
        assert_eq!(millis_since_midnight(&time), 1500);
    }

    #[test]
    fn negative_time_deltas_keep_their_fraction() {
        let delta = TimeDelta::milliseconds(-1500);
        assert_eq!(timedelta_seconds(&delta), -1.5);
    }
}
