//! Prints the full Avro record schema and the encoded bytes of two sample events.
//!
//! Run with `cargo run --example schemas`.

use std::time::Duration;

use app_metrics::{EventEnum, EventMetadata, EventPayload, record_schema};

/// The kind of query.
#[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
#[event(rename_all = "lowercase")]
enum QueryType {
    Async,
    Sync,
}

/// Information about a user-submitted query.
#[derive(EventPayload, Clone, Debug, PartialEq)]
struct QueryEvent {
    /// The kind of query
    r#type: QueryType,
    /// How long the query took to run
    duration: Duration,
    /// Who ran it, when known
    username: Option<String>,
    /// Rows returned
    rows: i64,
}

/// A user logged in (or tried to).
#[derive(EventPayload, Clone, Debug, PartialEq)]
struct LoginEvent {
    username: String,
    success: bool,
    /// The identity provider, if not the default
    provider: Option<String>,
}

fn show<P: EventPayload>(name: &str, payload: &P) -> Result<(), app_metrics::InvalidNameError> {
    let schema = record_schema::<P>(name, "lsst.square.metrics.events.example")?;
    let metadata = EventMetadata::now("example".into());
    let mut buf = Vec::with_capacity(128);
    metadata.encode_avro(&mut buf);
    payload.encode_avro(&mut buf);
    println!("event {name}");
    println!("  schema:  {schema}");
    println!("  id:      {}", metadata.id());
    println!("  avro:    {} bytes: {}", buf.len(), hex(&buf));
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<(), app_metrics::InvalidNameError> {
    let query = QueryEvent {
        r#type: QueryType::Sync,
        duration: Duration::from_millis(1250),
        username: Some("ada".into()),
        rows: 42,
    };
    show("query", &query)?;
    let batch = QueryEvent {
        r#type: QueryType::Async,
        duration: Duration::from_secs(90),
        username: None,
        rows: 0,
    };
    show("query", &batch)?;
    let login = LoginEvent {
        username: "ada".into(),
        success: true,
        provider: None,
    };
    show("login", &login)?;
    Ok(())
}
