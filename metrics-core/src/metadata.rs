//! Event metadata: the fields every event carries before its payload.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::avro;
use crate::payload::write_uuid;

/// The Avro fields of the metadata, in order, as they open every event record.
pub const METADATA_AVRO_FIELDS: &str = concat!(
    r#"{"name":"id","type":{"type":"string","logicalType":"uuid"}},"#,
    r#"{"name":"application","type":"string"},"#,
    r#"{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},"#,
    r#"{"name":"timestamp_ns","type":"long"}"#,
);

/// Field names a payload may not use: the metadata has them.
pub use metrics_rules::RESERVED_FIELD_NAMES;

/// What the event manager adds to every payload.
///
/// Read-only: `timestamp` is always the same clock reading as `timestamp_ns` (the one
/// kept; the date-time is computed when asked for, off the publishing path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    id: Uuid,
    application: Arc<str>,
    timestamp_ns: i64,
}

impl EventMetadata {
    /// Metadata for an event published now by `application`: a fresh UUID v4 and one
    /// clock reading for both timestamps.
    pub fn now(application: Arc<str>) -> Self {
        let timestamp_ns = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
            // A clock before 1970: keep the sign rather than fail to publish.
            Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
        };
        Self::at(Uuid::new_v4(), application, timestamp_ns)
    }

    /// Metadata with a given id and time, in nanoseconds since the epoch.
    pub fn at(id: Uuid, application: Arc<str>, timestamp_ns: i64) -> Self {
        Self {
            id,
            application,
            timestamp_ns,
        }
    }

    /// A random (v4) UUID, unique per event.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The application that published the event.
    pub fn application(&self) -> &str {
        &self.application
    }

    /// Publish time (encoded as milliseconds since the epoch).
    pub fn timestamp(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.timestamp_ns)
    }

    /// Publish time in nanoseconds since the epoch (InfluxDB's time).
    pub fn timestamp_ns(&self) -> i64 {
        self.timestamp_ns
    }

    /// Publish time in milliseconds since the epoch, floored like `timestamp-millis`.
    #[inline]
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ns.div_euclid(1_000_000)
    }

    /// Appends the Avro binary encoding of the metadata fields to `buf`.
    #[inline]
    pub fn encode_avro(&self, buf: &mut Vec<u8>) {
        write_uuid(buf, &self.id);
        avro::write_str(buf, &self.application);
        avro::write_long(buf, self.timestamp_ms());
        avro::write_long(buf, self.timestamp_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_timestamps_come_from_one_clock_reading() {
        let meta = EventMetadata::now("app".into());
        assert_eq!(
            meta.timestamp().timestamp_nanos_opt(),
            Some(meta.timestamp_ns)
        );
        assert_eq!(meta.id.get_version_num(), 4);
    }

    #[test]
    fn timestamps_before_1970_encode_as_negative_millis() {
        let meta = EventMetadata::at(Uuid::nil(), "a".into(), -1_500_000_000);
        assert_eq!(meta.timestamp().timestamp_millis(), -1500);
        assert_eq!(meta.timestamp_ms(), -1500);
    }
}
