//! Reading events back as typed values: Avro binary primitives over a byte slice, the
//! decoding traits the derives implement, and the typed [`Event`]. Every read is bounds-
//! and range-checked: no input panics, and an error says what was wrong where.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::metadata::EventMetadata;
use crate::payload::EventPayload;

/// Why Avro bytes could not be read as the type asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AvroDecodeError {
    /// The input ended inside a value.
    #[error("the body ends at byte {at}, inside a value that needs {needed} more")]
    Truncated {
        /// Where the value started.
        at: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A variable-length integer runs past 64 bits.
    #[error("the integer at byte {at} is longer than 10 bytes")]
    Varint {
        /// Where it started.
        at: usize,
    },
    /// An integer does not fit the field's type.
    #[error("{value} does not fit {ty}")]
    OutOfRange {
        /// The value read.
        value: i64,
        /// The Rust type of the field.
        ty: &'static str,
    },
    /// A length is negative or larger than the rest of the body.
    #[error("length {length} at byte {at} is impossible here")]
    Length {
        /// The length read.
        length: i64,
        /// Where it was.
        at: usize,
    },
    /// A string is not UTF-8.
    #[error("the string at byte {at} is not UTF-8")]
    Utf8 {
        /// Where the string started.
        at: usize,
    },
    /// A boolean byte other than 0 or 1.
    #[error("boolean byte {0:#04x} is neither 0 nor 1")]
    Bool(u8),
    /// A union branch the type does not have.
    #[error("union branch {0} does not exist (the field is [\"null\", T])")]
    UnionBranch(i64),
    /// An enum index beyond the symbols.
    #[error("enum index {index} is beyond the {symbols} symbols of {ty}")]
    EnumIndex {
        /// The index read.
        index: i64,
        /// How many symbols the enum has.
        symbols: usize,
        /// The enum type.
        ty: &'static str,
    },
    /// A value that does not make sense for the field's type (a UUID that does not parse,
    /// a negative or infinite duration, a date beyond chrono's range).
    #[error("{value} is not a valid {ty}")]
    Invalid {
        /// The value, as text.
        value: String,
        /// The Rust type of the field.
        ty: &'static str,
    },
    /// The type cannot be read back (a `&'static str` field).
    #[error(
        "a {ty} field cannot be decoded into: use String, Box<str>, Arc<str> or Cow<'static, str>"
    )]
    NotDecodable {
        /// The Rust type of the field.
        ty: &'static str,
    },
    /// Bytes left after the record.
    #[error("{0} bytes are left after the record")]
    TrailingBytes(usize),
}

/// An [`AvroDecodeError`] and the field it happened in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {error}")]
pub struct DecodeError {
    /// The Avro field name (a metadata field or a payload field).
    pub field: &'static str,
    /// What was wrong.
    #[source]
    pub error: AvroDecodeError,
}

/// Reads Avro binary values from a byte slice, front to back.
///
/// ```
/// use metrics_core::decode::AvroReader;
///
/// let mut reader = AvroReader::new(&[0x06, b'a', b'd', b'a', 0x01]);
/// assert_eq!(reader.read_str().unwrap(), "ada");
/// assert_eq!(reader.read_bool().unwrap(), true);
/// assert!(reader.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct AvroReader<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> AvroReader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, position: 0 }
    }

    /// Where the next read starts.
    pub fn position(&self) -> usize {
        self.position
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.position
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.input[self.position..]
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], AvroDecodeError> {
        let rest = &self.input[self.position..];
        if rest.len() < n {
            return Err(AvroDecodeError::Truncated {
                at: self.position,
                needed: n - rest.len(),
            });
        }
        self.position += n;
        Ok(&rest[..n])
    }

    /// The next byte.
    fn read_byte(&mut self) -> Result<u8, AvroDecodeError> {
        let byte = *self
            .input
            .get(self.position)
            .ok_or(AvroDecodeError::Truncated {
                at: self.position,
                needed: 1,
            })?;
        self.position += 1;
        Ok(byte)
    }

    /// An Avro `long`: a zig-zag base-128 varint of at most 10 bytes.
    pub fn read_long(&mut self) -> Result<i64, AvroDecodeError> {
        let start = self.position;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.read_byte().map_err(|_| AvroDecodeError::Truncated {
                at: start,
                needed: 1,
            })?;
            // The tenth byte may only carry the top bit of the 64.
            if shift == 63 && byte > 1 {
                return Err(AvroDecodeError::Varint { at: start });
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(AvroDecodeError::Varint { at: start })
    }

    /// An Avro `int` (a `long` in `i32` range).
    pub fn read_int(&mut self) -> Result<i32, AvroDecodeError> {
        let value = self.read_long()?;
        i32::try_from(value).map_err(|_| AvroDecodeError::OutOfRange { value, ty: "i32" })
    }

    /// An Avro `boolean`.
    pub fn read_bool(&mut self) -> Result<bool, AvroDecodeError> {
        match self.read_byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(AvroDecodeError::Bool(other)),
        }
    }

    /// An Avro `float`.
    pub fn read_float(&mut self) -> Result<f32, AvroDecodeError> {
        let bytes = self.read_bytes(4)?;
        Ok(f32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    /// An Avro `double`.
    pub fn read_double(&mut self) -> Result<f64, AvroDecodeError> {
        let bytes = self.read_bytes(8)?;
        Ok(f64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    /// An Avro `bytes` (a length, then that many bytes), borrowed from the input.
    pub fn read_length_prefixed(&mut self) -> Result<&'a [u8], AvroDecodeError> {
        let at = self.position;
        let length = self.read_long()?;
        let n = usize::try_from(length)
            .ok()
            .filter(|n| *n <= self.remaining())
            .ok_or(AvroDecodeError::Length { length, at })?;
        self.read_bytes(n)
    }

    /// An Avro `string`, borrowed from the input.
    pub fn read_str(&mut self) -> Result<&'a str, AvroDecodeError> {
        let at = self.position;
        let bytes = self.read_length_prefixed()?;
        std::str::from_utf8(bytes).map_err(|_| AvroDecodeError::Utf8 { at })
    }
}

/// A scalar that can be read back from its Avro encoding: every
/// [`EventScalar`](crate::payload::EventScalar) but `&'static str`.
pub trait DecodeScalar: Sized {
    /// Reads one value.
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError>;
}

/// A field type that can be read back: a [`DecodeScalar`] or an `Option` of one.
pub trait DecodeField: Sized {
    /// Reads one value.
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError>;
}

impl<T: DecodeScalar> DecodeField for T {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        T::decode_avro(reader)
    }
}

impl<T: DecodeScalar> DecodeField for Option<T> {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        match reader.read_long()? {
            0 => Ok(None),
            1 => T::decode_avro(reader).map(Some),
            branch => Err(AvroDecodeError::UnionBranch(branch)),
        }
    }
}

/// A payload that can be read back: every `#[derive(EventPayload)]` struct. A field whose
/// type cannot be decoded (`&'static str`) fails at run time with
/// [`AvroDecodeError::NotDecodable`].
pub trait EventDecode: EventPayload + Sized {
    /// Reads the payload's fields, in schema order.
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, DecodeError>;
}

/// An event read back: its metadata and its typed payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<P> {
    /// The metadata every event carries.
    pub metadata: EventMetadata,
    /// The payload.
    pub payload: P,
}

impl<P: EventDecode> Event<P> {
    /// Reads an event record (metadata, then payload) from its Avro body, which must be
    /// written with the schema `P` gives (`record_schema::<P>`); the caller checks that.
    ///
    /// ```
    /// use metrics_core::decode::Event;
    /// use metrics_core::{EventMetadata, EventPayload};
    ///
    /// #[derive(EventPayload, Debug, PartialEq)]
    /// struct LoginEvent {
    ///     username: String,
    /// }
    ///
    /// let metadata = EventMetadata::now("app".into());
    /// let mut body = Vec::new();
    /// metadata.encode_avro(&mut body);
    /// LoginEvent { username: "ada".into() }.encode_avro(&mut body);
    /// let event = Event::<LoginEvent>::decode_avro(&body).unwrap();
    /// assert_eq!(event.metadata, metadata);
    /// assert_eq!(event.payload.username, "ada");
    /// ```
    ///
    /// # Errors
    ///
    /// A truncated or corrupt body, a value out of its field's range, or bytes left over.
    pub fn decode_avro(body: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = AvroReader::new(body);
        let metadata = EventMetadata::decode_avro(&mut reader)?;
        let payload = P::decode_avro(&mut reader)?;
        if !reader.is_empty() {
            return Err(DecodeError {
                field: P::FIELD_NAMES.last().copied().unwrap_or("timestamp_ns"),
                error: AvroDecodeError::TrailingBytes(reader.remaining()),
            });
        }
        Ok(Self { metadata, payload })
    }
}

/// Reads field `field` of type `T`, naming it in the error.
pub fn decode_field<T: DecodeField>(
    reader: &mut AvroReader<'_>,
    field: &'static str,
) -> Result<T, DecodeError> {
    T::decode_avro(reader).map_err(|error| DecodeError { field, error })
}

macro_rules! int_scalar {
    ($read:ident: $($ty:ty),+) => {$(
        impl DecodeScalar for $ty {
            fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
                let value = reader.$read()?;
                <$ty>::try_from(value).map_err(|_| AvroDecodeError::OutOfRange {
                    value: value.into(),
                    ty: stringify!($ty),
                })
            }
        }
    )+};
}

int_scalar!(read_int: i8, i16, i32, u8, u16);
int_scalar!(read_long: i64, u32);

impl DecodeScalar for bool {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        reader.read_bool()
    }
}

impl DecodeScalar for f32 {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        reader.read_float()
    }
}

impl DecodeScalar for f64 {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        reader.read_double()
    }
}

macro_rules! str_scalar {
    ($($ty:ty),+) => {$(
        impl DecodeScalar for $ty {
            fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
                reader.read_str().map(Into::into)
            }
        }
    )+};
}

str_scalar!(String, Box<str>, Arc<str>);

impl DecodeScalar for Cow<'static, str> {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        reader.read_str().map(|s| Cow::Owned(s.to_owned()))
    }
}

/// Seconds (Safir's time delta) as a finite `f64`.
fn seconds(reader: &mut AvroReader<'_>, ty: &'static str) -> Result<f64, AvroDecodeError> {
    let value = reader.read_double()?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(AvroDecodeError::Invalid {
            value: value.to_string(),
            ty,
        })
    }
}

impl DecodeScalar for Duration {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        let value = seconds(reader, "Duration")?;
        Duration::try_from_secs_f64(value).map_err(|_| AvroDecodeError::Invalid {
            value: value.to_string(),
            ty: "Duration (seconds, not negative)",
        })
    }
}

impl DecodeScalar for TimeDelta {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        let value = seconds(reader, "TimeDelta")?;
        // The nearest nanosecond to the double, as for `Duration`, with the sign kept.
        let magnitude = Duration::try_from_secs_f64(value.abs()).ok();
        magnitude
            .and_then(|d| TimeDelta::from_std(d).ok())
            .map(|d| if value < 0.0 { -d } else { d })
            .ok_or_else(|| AvroDecodeError::Invalid {
                value: value.to_string(),
                ty: "TimeDelta",
            })
    }
}

impl DecodeScalar for DateTime<Utc> {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        let millis = reader.read_long()?;
        DateTime::from_timestamp_millis(millis).ok_or(AvroDecodeError::OutOfRange {
            value: millis,
            ty: "DateTime<Utc> (milliseconds)",
        })
    }
}

impl DecodeScalar for NaiveDate {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        let days = reader.read_int()?;
        crate::payload::date_from_days(days).ok_or(AvroDecodeError::OutOfRange {
            value: days.into(),
            ty: "NaiveDate (days since 1970-01-01)",
        })
    }
}

impl DecodeScalar for NaiveTime {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        let millis = reader.read_int()?;
        let out_of_range = AvroDecodeError::OutOfRange {
            value: millis.into(),
            ty: "NaiveTime (milliseconds since midnight)",
        };
        let millis = u32::try_from(millis).map_err(|_| out_of_range.clone())?;
        // Past 86,399,999 only within a leap second, as the encoder writes it.
        let (seconds, millis) = (millis / 1000, millis % 1000);
        let (seconds, extra) = if seconds == 86_400 {
            (86_399, 1000)
        } else {
            (seconds, 0)
        };
        NaiveTime::from_num_seconds_from_midnight_opt(seconds, (millis + extra) * 1_000_000)
            .ok_or(out_of_range)
    }
}

impl DecodeScalar for Uuid {
    fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, AvroDecodeError> {
        let text = reader.read_length_prefixed()?;
        parse_uuid(text).ok_or_else(|| AvroDecodeError::Invalid {
            value: format!("{:?}", String::from_utf8_lossy(text)),
            ty: "UUID",
        })
    }
}

/// A UUID from its text: the hyphenated form every writer we know uses, read through a
/// table (no UTF-8 check needed: only ASCII hex digits and hyphens pass), and any other
/// form `uuid` accepts (simple, braced, URN) through its parser.
fn parse_uuid(text: &[u8]) -> Option<Uuid> {
    <&[u8; 36]>::try_from(text)
        .ok()
        .and_then(parse_hyphenated)
        .or_else(|| Uuid::try_parse_ascii(text).ok())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, either case.
fn parse_hyphenated(text: &[u8; 36]) -> Option<Uuid> {
    /// Each byte's hex value, or 0xff for a byte that is not a hex digit.
    const HEX: [u8; 256] = {
        let mut table = [0xff; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            table[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };
    if [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut byte = 0;
    // The five groups of hex digits, between the hyphens.
    for (start, len) in [(0, 8), (9, 4), (14, 4), (19, 4), (24, 12)] {
        for pair in text[start..start + len].chunks_exact(2) {
            let (high, low) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
            if (high | low) > 0xf {
                return None;
            }
            bytes[byte] = high << 4 | low;
            byte += 1;
        }
    }
    Some(Uuid::from_bytes(bytes))
}

thread_local! {
    /// The application name decoded last on this thread: a consumer reads one
    /// application's events in a row, and they share one allocation of its name.
    static LAST_APPLICATION: std::cell::RefCell<Option<Arc<str>>> =
        const { std::cell::RefCell::new(None) };
}

/// `name` as an `Arc<str>`, shared with the previous event's if it is the same.
fn shared_application(name: &str) -> Arc<str> {
    LAST_APPLICATION.with_borrow_mut(|last| match last {
        Some(shared) if **shared == *name => Arc::clone(shared),
        _ => {
            let shared: Arc<str> = name.into();
            *last = Some(Arc::clone(&shared));
            shared
        }
    })
}

impl EventMetadata {
    /// Reads the metadata fields that open every event record.
    ///
    /// # Errors
    ///
    /// A truncated or corrupt body, naming the field.
    pub fn decode_avro(reader: &mut AvroReader<'_>) -> Result<Self, DecodeError> {
        let id: Uuid = decode_field(reader, "id")?;
        let application =
            reader
                .read_str()
                .map(shared_application)
                .map_err(|error| DecodeError {
                    field: "application",
                    error,
                })?;
        let _timestamp_ms: i64 = decode_field(reader, "timestamp")?;
        // The same clock reading at full precision: the one the metadata keeps.
        let timestamp_ns: i64 = decode_field(reader, "timestamp_ns")?;
        Ok(Self::at(id, application, timestamp_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro;
    use crate::payload::EventField;

    fn round_trip<T: EventField + DecodeField + PartialEq + std::fmt::Debug>(value: T) {
        let mut buf = Vec::new();
        value.encode_avro(&mut buf);
        let mut reader = AvroReader::new(&buf);
        assert_eq!(T::decode_avro(&mut reader).unwrap(), value);
        assert!(reader.is_empty());
    }

    #[test]
    fn every_scalar_reads_back_what_was_written() {
        round_trip(true);
        round_trip(-5i8);
        round_trip(i16::MIN);
        round_trip(i32::MAX);
        round_trip(255u8);
        round_trip(u16::MAX);
        round_trip(i64::MIN);
        round_trip(u32::MAX);
        round_trip(1.5f32);
        round_trip(-2.25f64);
        round_trip(String::from("héllo"));
        round_trip(Box::<str>::from("x"));
        round_trip(Arc::<str>::from(""));
        round_trip(Cow::<'static, str>::Owned("c".into()));
        round_trip(Duration::from_millis(1500));
        round_trip(TimeDelta::milliseconds(-1500));
        round_trip(DateTime::from_timestamp_millis(1_700_000_000_123).unwrap());
        round_trip(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap());
        round_trip(NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap());
        round_trip(Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210));
        round_trip(Some(3i32));
        round_trip(None::<String>);
    }

    #[test]
    fn uuids_read_in_every_form_uuid_accepts_and_nothing_else() {
        let uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let forms = [
            uuid.hyphenated().to_string(),
            uuid.hyphenated().to_string().to_uppercase(),
            uuid.simple().to_string(),
            uuid.braced().to_string(),
            uuid.urn().to_string(),
        ];
        for text in &forms {
            assert_eq!(parse_uuid(text.as_bytes()), Some(uuid), "{text}");
        }
        let mut wrong = uuid.hyphenated().to_string().into_bytes();
        for (at, byte) in [(0, b'g'), (8, b'0'), (35, b' '), (23, b'x'), (4, 0xc3)] {
            let saved = wrong[at];
            wrong[at] = byte;
            assert_eq!(
                parse_uuid(&wrong),
                None,
                "{:?}",
                String::from_utf8_lossy(&wrong)
            );
            wrong[at] = saved;
        }
        assert_eq!(parse_uuid(b""), None);
    }

    #[test]
    fn longs_read_every_width_and_refuse_overlong_varints() {
        for value in [0, -1, 1, 63, -64, 64, i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            avro::write_long(&mut buf, value);
            assert_eq!(AvroReader::new(&buf).read_long(), Ok(value));
        }
        let overlong = [0xff; 11];
        assert_eq!(
            AvroReader::new(&overlong).read_long(),
            Err(AvroDecodeError::Varint { at: 0 })
        );
        assert_eq!(
            AvroReader::new(&[0x80, 0x80]).read_long(),
            Err(AvroDecodeError::Truncated { at: 0, needed: 1 })
        );
    }

    #[test]
    fn bad_values_name_what_is_wrong() {
        let mut buf = Vec::new();
        avro::write_long(&mut buf, 300);
        assert_eq!(
            <u8 as DecodeScalar>::decode_avro(&mut AvroReader::new(&buf)),
            Err(AvroDecodeError::OutOfRange {
                value: 300,
                ty: "u8"
            })
        );
        assert_eq!(
            <bool as DecodeScalar>::decode_avro(&mut AvroReader::new(&[2])),
            Err(AvroDecodeError::Bool(2))
        );
        assert_eq!(
            Option::<i32>::decode_avro(&mut AvroReader::new(&[4])),
            Err(AvroDecodeError::UnionBranch(2))
        );
        // A string longer than the input.
        assert_eq!(
            <String as DecodeScalar>::decode_avro(&mut AvroReader::new(&[0x10, b'a'])),
            Err(AvroDecodeError::Length { length: 8, at: 0 })
        );
        assert_eq!(
            <String as DecodeScalar>::decode_avro(&mut AvroReader::new(&[0x01])),
            Err(AvroDecodeError::Length { length: -1, at: 0 })
        );
        assert_eq!(
            <String as DecodeScalar>::decode_avro(&mut AvroReader::new(&[0x02, 0xff])),
            Err(AvroDecodeError::Utf8 { at: 0 })
        );
        let mut nan = Vec::new();
        avro::write_double(&mut nan, -1.0);
        assert!(matches!(
            <Duration as DecodeScalar>::decode_avro(&mut AvroReader::new(&nan)),
            Err(AvroDecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Every prefix of a valid event, and every byte flipped.
        let metadata = EventMetadata::now("app".into());
        let mut body = Vec::new();
        metadata.encode_avro(&mut body);
        for end in 0..body.len() {
            assert!(EventMetadata::decode_avro(&mut AvroReader::new(&body[..end])).is_err());
        }
        for i in 0..body.len() {
            let mut corrupt = body.clone();
            corrupt[i] ^= 0xff;
            let _ = EventMetadata::decode_avro(&mut AvroReader::new(&corrupt));
        }
    }
}
