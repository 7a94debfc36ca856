//! The benchmark event: the README's `QueryEvent` grown to nine fields, plus metadata, and
//! the same record as a serde struct for apache-avro's schema-aware serializer.

use std::borrow::Cow;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::writer::datum::GenericDatumWriter;
use app_metrics::schema::record_schema;
use app_metrics::{EventEnum, EventMetadata, EventPayload};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// How a query ran.
#[derive(EventEnum, Clone, Copy, Debug, PartialEq, Serialize)]
#[event(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum QueryType {
    #[allow(
        dead_code,
        reason = "the benchmark encodes `Sync`; `Async` keeps the enum realistic"
    )]
    Async,
    Sync,
}

/// A user-submitted query.
#[derive(EventPayload, Clone, Debug, PartialEq)]
pub struct QueryEvent {
    pub r#type: QueryType,
    pub duration: Duration,
    pub username: Option<Cow<'static, str>>,
    pub rows: i64,
    pub service: Cow<'static, str>,
    pub success: bool,
    pub cpu_seconds: f64,
    pub started: DateTime<Utc>,
    pub query_id: Uuid,
}

/// The same record for apache-avro's serde path (`GenericDatumWriter::write_ser`).
#[derive(Serialize)]
pub struct SerdeQueryEvent<'a> {
    id: uuid::fmt::Hyphenated,
    application: &'a str,
    timestamp: i64,
    timestamp_ns: i64,
    r#type: QueryType,
    duration: f64,
    username: Option<&'a str>,
    rows: i64,
    service: &'a str,
    success: bool,
    cpu_seconds: f64,
    started: i64,
    query_id: uuid::fmt::Hyphenated,
}

impl<'a> SerdeQueryEvent<'a> {
    /// Borrows the event and its metadata: what a caller of apache-avro would write.
    pub fn new(meta: &'a EventMetadata, event: &'a QueryEvent) -> Self {
        SerdeQueryEvent {
            id: meta.id().hyphenated(),
            application: meta.application(),
            timestamp: meta.timestamp_ms(),
            timestamp_ns: meta.timestamp_ns(),
            r#type: event.r#type,
            duration: event.duration.as_secs_f64(),
            username: event.username.as_deref(),
            rows: event.rows,
            service: &event.service,
            success: event.success,
            cpu_seconds: event.cpu_seconds,
            started: event.started.timestamp_millis(),
            query_id: event.query_id.hyphenated(),
        }
    }
}

pub fn sample() -> (EventMetadata, QueryEvent) {
    let meta = EventMetadata::now("benchmark".into());
    let event = QueryEvent {
        r#type: QueryType::Sync,
        duration: Duration::from_millis(1234),
        // Borrowed: the publish benchmark times publishing, not freeing the payload's
        // strings (the raw side has nothing to free either).
        username: Some(Cow::Borrowed("someuser")),
        rows: 12_345,
        service: Cow::Borrowed("tap"),
        success: true,
        cpu_seconds: 0.75,
        started: Utc::now(),
        query_id: Uuid::new_v4(),
    };
    (meta, event)
}

/// The record schema of the benchmark event, as registered.
pub fn schema_text() -> String {
    record_schema::<QueryEvent>("query", "lsst.square.metrics.events.benchmark")
        .expect("valid names")
}

pub fn schema() -> Schema {
    Schema::parse_str(&schema_text()).expect("apache-avro parses the derived schema")
}

/// The sample, and its body as our encoder writes it.
#[allow(dead_code, reason = "the encode bench starts from the sample itself")]
pub fn encoded_sample() -> (EventMetadata, QueryEvent, Vec<u8>) {
    let (meta, query) = sample();
    let mut body = Vec::with_capacity(256);
    encode_ours(&mut body, &meta, &query);
    (meta, query, body)
}

/// Our path: metadata then payload into a reused buffer.
#[inline]
pub fn encode_ours(buf: &mut Vec<u8>, meta: &EventMetadata, event: &QueryEvent) {
    buf.clear();
    meta.encode_avro(buf);
    event.encode_avro(buf);
}

/// apache-avro's fastest path: a prebuilt writer, serde straight to bytes (no `Value`).
#[inline]
pub fn encode_apache(
    writer: &GenericDatumWriter<'_>,
    buf: &mut Vec<u8>,
    meta: &EventMetadata,
    event: &QueryEvent,
) {
    buf.clear();
    writer
        .write_ser(buf, &SerdeQueryEvent::new(meta, event))
        .expect("apache-avro encodes the event");
}

/// Encodes the sample with both encoders, checks the bytes are identical, and returns
/// their length: run before timing anything.
pub fn assert_identical(
    writer: &GenericDatumWriter<'_>,
    meta: &EventMetadata,
    event: &QueryEvent,
) -> usize {
    let (mut ours, mut theirs) = (Vec::with_capacity(256), Vec::with_capacity(256));
    encode_ours(&mut ours, meta, event);
    encode_apache(writer, &mut theirs, meta, event);
    assert_eq!(ours, theirs, "both encoders must produce the same bytes");
    ours.len()
}

/// The record as apache-avro's serde path reads it back (`from_avro_datum`, then
/// `from_value`): the typed decode we compare with.
#[derive(serde::Deserialize, Debug)]
#[serde(rename = "query")]
#[allow(dead_code, reason = "read to be compared, not used")]
pub struct DecodedQueryEvent {
    pub id: Uuid,
    pub application: String,
    pub timestamp: i64,
    pub timestamp_ns: i64,
    pub r#type: DecodedQueryType,
    pub duration: f64,
    pub username: Option<String>,
    pub rows: i64,
    pub service: String,
    pub success: bool,
    pub cpu_seconds: f64,
    pub started: i64,
    pub query_id: Uuid,
}

/// [`QueryType`] as serde reads the Avro enum.
#[derive(serde::Deserialize, Debug, PartialEq)]
#[serde(rename = "QueryType", rename_all = "lowercase")]
pub enum DecodedQueryType {
    Async,
    Sync,
}
