//! Publish two event types through a Kafka backend, read the topic back, and check every
//! message: no key, Confluent framing, the subject's schema id, metadata, and payload
//! values decoded by apache-avro with the schema the registry holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use app_metrics::kafka::KafkaBackend;
use app_metrics::kafka::consumer::read_to_end;
use app_metrics::kafka::framing;
use app_metrics::{EventManager, EventMetadata, EventPublisher};

use super::{LoginEvent, QueryEvent, QueryType};

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What was published, by event id.
pub enum Sent {
    Query(EventMetadata, QueryEvent),
    Login(EventMetadata, LoginEvent),
}

pub fn query(i: usize) -> QueryEvent {
    QueryEvent {
        r#type: if i.is_multiple_of(2) {
            QueryType::Sync
        } else {
            QueryType::Async
        },
        duration: Duration::from_micros(1_500 * i as u64 + 1),
        username: (!i.is_multiple_of(3)).then(|| format!("user-{i}-é")),
        rows: i as i64 * 1_000_003 - 7,
    }
}

pub fn login(i: usize) -> LoginEvent {
    LoginEvent {
        username: format!("login{i}"),
        success: i.is_multiple_of(2),
        provider: (i % 2 == 1).then(|| "github".into()),
    }
}

/// Publishes `queries` query events and `logins` login events, interleaved.
pub fn publish(
    query_publisher: &EventPublisher<QueryEvent>,
    login_publisher: &EventPublisher<LoginEvent>,
    queries: usize,
    logins: usize,
) -> HashMap<String, Sent> {
    let mut sent = HashMap::new();
    for i in 0..queries.max(logins) {
        if i < queries {
            let meta = query_publisher.publish(query(i)).expect("publish query");
            sent.insert(meta.id().to_string(), Sent::Query(meta, query(i)));
        }
        if i < logins {
            let meta = login_publisher.publish(login(i)).expect("publish login");
            sent.insert(meta.id().to_string(), Sent::Login(meta, login(i)));
        }
    }
    sent
}

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    match record {
        Value::Record(fields) => {
            &fields
                .iter()
                .find(|(f, _)| f == name)
                .unwrap_or_else(|| panic!("no field {name}"))
                .1
        }
        other => panic!("not a record: {other:?}"),
    }
}

fn optional_string(value: &Option<String>) -> Value {
    match value {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(s) => Value::Union(1, Box::new(Value::String(s.clone()))),
    }
}

fn check_metadata(record: &Value, meta: &EventMetadata, application: &str) {
    let id = match field(record, "id") {
        Value::Uuid(id) => id.to_string(),
        Value::String(id) => id.clone(),
        other => panic!("id is {other:?}"),
    };
    assert_eq!(id, meta.id().to_string());
    assert_eq!(
        field(record, "application"),
        &Value::String(application.into())
    );
    assert_eq!(
        field(record, "timestamp"),
        &Value::TimestampMillis(meta.timestamp_ms())
    );
    assert_eq!(
        field(record, "timestamp_ns"),
        &Value::Long(meta.timestamp_ns())
    );
    assert_eq!(
        meta.timestamp_ms(),
        meta.timestamp_ns().div_euclid(1_000_000),
        "one clock reading"
    );
}

/// Reads the backend's topic to its end and checks every message against `sent`.
/// `bootstrap` is where to read from (the embedded broker's address, or the peer's).
pub async fn read_back_and_check(
    backend: &KafkaBackend,
    manager: &EventManager,
    publishers: (&EventPublisher<QueryEvent>, &EventPublisher<LoginEvent>),
    bootstrap: &str,
    sent: &HashMap<String, Sent>,
) {
    let registry = Arc::clone(backend.registry());
    let query_id = publishers.0.schema_id().expect("query id");
    let login_id = publishers.1.schema_id().expect("login id");
    assert_ne!(query_id, login_id);
    for (subject, schema, id) in [
        (publishers.0.subject(), publishers.0.schema(), query_id),
        (publishers.1.subject(), publishers.1.schema(), login_id),
    ] {
        let subject = subject.expect("a registry subject");
        assert!(subject.starts_with(manager.topic()), "{subject}");
        // Registering an already registered schema returns its id: no new version.
        assert_eq!(
            registry.register(subject, schema).await.expect("register"),
            id
        );
    }

    let properties = [("bootstrap.servers".to_owned(), bootstrap.to_owned())]
        .into_iter()
        .collect();
    let messages = read_to_end(properties, manager.topic(), TIMEOUT)
        .await
        .expect("read topic");
    assert_eq!(
        messages.len(),
        sent.len(),
        "every published event is in the topic exactly once"
    );

    let mut schemas: HashMap<u32, Schema> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for message in &messages {
        assert!(!message.has_key, "events have no key");
        let (schema_id, mut body) = framing::split(&message.payload).expect("Confluent framing");
        assert_eq!(message.payload[0], 0, "magic byte");
        if let std::collections::hash_map::Entry::Vacant(slot) = schemas.entry(schema_id) {
            let text = registry
                .schema_by_id(schema_id)
                .await
                .expect("schema by id");
            slot.insert(Schema::parse_str(&text).expect("registered schema parses"));
        }
        let reader = GenericDatumReader::builder(&schemas[&schema_id])
            .build()
            .expect("reader");
        let record = reader
            .read_value(&mut body)
            .expect("apache-avro decodes the body");
        assert!(body.is_empty(), "no trailing bytes");
        let id = match field(&record, "id") {
            Value::Uuid(id) => id.to_string(),
            Value::String(id) => id.clone(),
            other => panic!("id is {other:?}"),
        };
        assert!(seen.insert(id.clone()), "event {id} read twice");
        let sent = sent
            .get(&id)
            .unwrap_or_else(|| panic!("unknown event {id}"));
        let meta = match sent {
            Sent::Query(meta, _) | Sent::Login(meta, _) => meta,
        };
        assert_eq!(
            message.timestamp,
            Some(meta.timestamp_ms()),
            "the message's time is the event's"
        );
        match sent {
            Sent::Query(meta, event) => {
                assert_eq!(schema_id, query_id);
                check_metadata(&record, meta, manager.application());
                let (index, symbol) = match event.r#type {
                    QueryType::Async => (0, "async"),
                    QueryType::Sync => (1, "sync"),
                };
                assert_eq!(field(&record, "type"), &Value::Enum(index, symbol.into()));
                assert_eq!(
                    field(&record, "duration"),
                    &Value::Double(event.duration.as_secs_f64())
                );
                assert_eq!(
                    field(&record, "username"),
                    &optional_string(&event.username)
                );
                assert_eq!(field(&record, "rows"), &Value::Long(event.rows));
            }
            Sent::Login(meta, event) => {
                assert_eq!(schema_id, login_id);
                check_metadata(&record, meta, manager.application());
                assert_eq!(
                    field(&record, "username"),
                    &Value::String(event.username.clone())
                );
                assert_eq!(field(&record, "success"), &Value::Boolean(event.success));
                assert_eq!(
                    field(&record, "provider"),
                    &optional_string(&event.provider)
                );
            }
        }
    }
}

/// Reads every event back through our consumer (which must stop at the end) and checks
/// each against what was sent: the typed form equals the sent metadata and payload, the
/// JSON form says the same with fields in schema order, and the other type is refused.
pub async fn consume_and_check(
    consumer: &app_metrics::kafka::consumer::EventConsumer,
    application: &str,
    sent: &HashMap<String, Sent>,
) {
    use serde_json::json;
    let mut seen = std::collections::HashSet::new();
    while let Some(message) = tokio::time::timeout(TIMEOUT, consumer.recv())
        .await
        .expect("the consumer reaches the end in time")
        .expect("read")
    {
        let decoded = message
            .decode()
            .await
            .expect("decodes through the registry");
        let json = decoded.to_json();
        let id = json["id"].as_str().expect("an id").to_owned();
        assert!(seen.insert(id.clone()), "event {id} read twice");
        let meta = match &sent[&id] {
            Sent::Query(meta, payload) => {
                let typed = message.decode_as::<QueryEvent>().await.expect("a query");
                assert_eq!((&typed.metadata, &typed.payload), (meta, payload));
                assert!(message.decode_as::<LoginEvent>().await.is_err());
                let symbol = match payload.r#type {
                    QueryType::Async => "async",
                    QueryType::Sync => "sync",
                };
                assert_eq!(json["type"], json!(symbol));
                assert_eq!(json["duration"], json!(payload.duration.as_secs_f64()));
                assert_eq!(json["username"], json!(payload.username));
                assert_eq!(json["rows"], json!(payload.rows));
                meta
            }
            Sent::Login(meta, payload) => {
                let typed = message.decode_as::<LoginEvent>().await.expect("a login");
                assert_eq!((&typed.metadata, &typed.payload), (meta, payload));
                assert!(message.decode_as::<QueryEvent>().await.is_err());
                assert_eq!(json["username"], json!(payload.username));
                assert_eq!(json["success"], json!(payload.success));
                assert_eq!(json["provider"], json!(payload.provider));
                meta
            }
        };
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys[..4],
            ["id", "application", "timestamp", "timestamp_ns"]
        );
        assert_eq!(json["application"], json!(application));
        let millis = meta
            .timestamp()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(json["timestamp"], json!(millis));
        assert_eq!(json["timestamp_ns"], json!(meta.timestamp_ns()));
    }
    assert_eq!(seen.len(), sent.len(), "every event read once");
}
