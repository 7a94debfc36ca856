//! Full record schemas (metadata, then payload) and the Avro name checks that guard them.

use std::fmt;

use crate::metadata::METADATA_AVRO_FIELDS;
use crate::payload::EventPayload;
pub use metrics_rules::{is_valid_fullname, is_valid_name};

/// What an invalid name was meant to be; the error message says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// The event name given to `create_publisher` (the record name).
    Event,
    /// The application name (`METRICS_APPLICATION`).
    Application,
    /// The topic prefix (`METRICS_EVENTS_TOPIC_PREFIX`).
    TopicPrefix,
    /// A record namespace (the topic).
    Namespace,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Event => "event name",
            NameKind::Application => "application name (METRICS_APPLICATION)",
            NameKind::TopicPrefix => "topic prefix (METRICS_EVENTS_TOPIC_PREFIX)",
            NameKind::Namespace => "namespace",
        })
    }
}

/// A name that Avro (and so the registry and Telegraf) would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {kind} {name:?}: an Avro name starts with a letter or `_` and has only letters, \
     digits and `_`{dots} (replace `-` with `_`)",
    dots = if matches!(kind, NameKind::TopicPrefix | NameKind::Namespace) {
        "; dots separate its parts"
    } else {
        ""
    }
)]
pub struct InvalidNameError {
    /// What the name was for.
    pub kind: NameKind,
    /// The name as given.
    pub name: String,
}

/// Checks `name` as an Avro name (`kind` Event, Application) or dotted full name (others).
pub fn validate_name(kind: NameKind, name: &str) -> Result<(), InvalidNameError> {
    let valid = match kind {
        NameKind::Event | NameKind::Application => is_valid_name(name),
        NameKind::TopicPrefix | NameKind::Namespace => is_valid_fullname(name),
    };
    if valid {
        Ok(())
    } else {
        Err(InvalidNameError {
            kind,
            name: name.to_owned(),
        })
    }
}

/// The full Avro record schema of events of payload `P`: record `name` in `namespace`,
/// the metadata fields first, then the payload's.
///
/// ```
/// use metrics_core::{record_schema, EventPayload};
///
/// #[derive(EventPayload)]
/// struct Ping {
///     rows: i64,
/// }
///
/// let schema = record_schema::<Ping>("ping", "lsst.square.metrics.events.app").unwrap();
/// assert!(schema.starts_with(r#"{"type":"record","name":"ping","namespace":"lsst.square.metrics.events.app","fields":[{"name":"id""#));
/// assert!(schema.ends_with(r#"{"name":"rows","type":"long"}]}"#));
/// ```
pub fn record_schema<P: EventPayload>(
    name: &str,
    namespace: &str,
) -> Result<String, InvalidNameError> {
    validate_name(NameKind::Event, name)?;
    validate_name(NameKind::Namespace, namespace)?;
    let payload_fields = P::AVRO_FIELDS
        .strip_prefix('[')
        .and_then(|f| f.strip_suffix(']'))
        .unwrap_or(P::AVRO_FIELDS);
    let mut schema = String::with_capacity(128 + METADATA_AVRO_FIELDS.len() + payload_fields.len());
    schema.push_str(r#"{"type":"record","name":""#);
    schema.push_str(name);
    schema.push_str(r#"","namespace":""#);
    schema.push_str(namespace);
    schema.push('"');
    if let Some(doc) = P::AVRO_DOC {
        // AVRO_DOC is already escaped for JSON by the derive.
        schema.push_str(r#","doc":""#);
        schema.push_str(doc);
        schema.push('"');
    }
    schema.push_str(r#","fields":["#);
    schema.push_str(METADATA_AVRO_FIELDS);
    if !payload_fields.is_empty() {
        schema.push(',');
        schema.push_str(payload_fields);
    }
    schema.push_str("]}");
    Ok(schema)
}

/// [`record_schema`] as an `.avsc` file holds it: pretty-printed JSON and a final newline,
/// for review, for Python consumers (`fastavro`, `confluent-kafka`) and for Telegraf's
/// Avro parser.
///
/// ```
/// use metrics_core::{EventPayload, schema::avsc};
///
/// #[derive(EventPayload)]
/// struct Ping {
///     rows: i64,
/// }
///
/// let text = avsc::<Ping>("ping", "lsst.square.metrics.events.app").unwrap();
/// assert!(text.starts_with("{\n  \"type\": \"record\",\n  \"name\": \"ping\","));
/// assert!(text.ends_with("}\n"));
/// ```
///
/// # Errors
///
/// As [`record_schema`].
pub fn avsc<P: EventPayload>(name: &str, namespace: &str) -> Result<String, InvalidNameError> {
    let schema = record_schema::<P>(name, namespace)?;
    let mut text = serde_json::from_str::<serde_json::Value>(&schema)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or(schema);
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_event_names_are_explained() {
        let err = validate_name(NameKind::Event, "my-event").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event name \"my-event\": an Avro name starts with a letter or `_` and has \
             only letters, digits and `_` (replace `-` with `_`)"
        );
    }

    #[test]
    fn topic_prefixes_may_have_dots() {
        assert!(validate_name(NameKind::TopicPrefix, "lsst.square.metrics.events").is_ok());
        let err = validate_name(NameKind::TopicPrefix, "lsst..x").unwrap_err();
        assert!(err.to_string().contains("dots separate its parts"), "{err}");
    }
}
