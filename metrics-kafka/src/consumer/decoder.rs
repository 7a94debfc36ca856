//! Decodes Confluent-framed Avro through the Schema Registry: each writer schema is fetched
//! by id once and cached; events come out as apache-avro values, JSON, or a typed payload
//! whose schema matches the writer's.

use std::any::TypeId;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{Name, Names, ResolvedSchema};
use apache_avro::types::Value;
use metrics_core::decode::{Event, EventDecode};
use metrics_core::sensor::{DecodeErrorKind, RegistryCall, RegistryOperation, SensorDelegate};
use metrics_core::sync::{read, write};
use metrics_core::{ErrorKind, record_schema};

use crate::framing;
use crate::registry::SchemaRegistry;

/// Why a Confluent frame could not be decoded (reported to the sensors as a
/// [`DecodeFailure`](metrics_core::sensor::DecodeFailure) of the same kind).
#[derive(Debug)]
pub struct ValueDecodeError {
    /// What kind of failure (the bounded label of decode-error metrics).
    pub kind: DecodeErrorKind,
    /// The schema id of the frame, when the frame had one.
    pub schema_id: Option<u32>,
    source: Box<dyn StdError + Send + Sync>,
}

impl ValueDecodeError {
    fn new(
        kind: DecodeErrorKind,
        schema_id: Option<u32>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            schema_id,
            source: source.into(),
        }
    }
}

impl fmt::Display for ValueDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            DecodeErrorKind::Framing => "not a Confluent Avro frame",
            DecodeErrorKind::Schema => "its schema is not available",
            DecodeErrorKind::Body => "the body does not match its schema",
            DecodeErrorKind::Type => "its schema does not match the type asked for",
            _ => "cannot be decoded",
        };
        match self.schema_id {
            Some(id) => write!(f, "{what} (schema id {id}): {}", self.source),
            None => write!(f, "{what}: {}", self.source),
        }
    }
}

impl StdError for ValueDecodeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// A writer schema fetched from the registry, parsed once.
pub struct WriterSchema {
    id: u32,
    schema: Schema,
    /// Its named types, to follow references.
    names: Names,
    name: String,
    namespace: Option<String>,
    canonical: String,
}

impl fmt::Debug for WriterSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterSchema")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl WriterSchema {
    /// Parses the registry's text of schema `id`.
    ///
    /// # Errors
    ///
    /// The text is not an Avro schema, its names do not resolve, or it has an array of
    /// values that take no bytes (which would let a tiny body claim billions of them).
    pub fn parse(id: u32, text: &str) -> Result<Self, ValueDecodeError> {
        let failure =
            |reason: String| ValueDecodeError::new(DecodeErrorKind::Schema, Some(id), reason);
        let schema = Schema::parse_str(text)
            .map_err(|e| failure(format!("the registry's schema does not parse: {e}")))?;
        let canonical = schema.canonical_form();
        let (name, namespace) = match &schema {
            Schema::Record(record) => (
                record.name.name().to_owned(),
                record.name.namespace().map(str::to_owned),
            ),
            other => (format!("{other:?}"), None),
        };
        let names: Names = ResolvedSchema::new(&schema)
            .map_err(|e| failure(format!("the schema's names do not resolve: {e}")))?
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        if let Some(path) = zero_size_items(&schema, &names) {
            // An array of values that take no bytes lets a 5-byte body claim billions of
            // them: refuse the schema rather than the host's memory.
            return Err(failure(format!(
                "{path} is an array of zero-size values, which this decoder refuses"
            )));
        }
        Ok(Self {
            id,
            schema,
            names,
            name,
            namespace,
            canonical,
        })
    }

    /// Decodes an Avro `body` written with this schema (the frame without its header).
    ///
    /// # Errors
    ///
    /// The body is truncated, corrupt, or longer than the record.
    pub fn decode(self: &Arc<Self>, body: &[u8]) -> Result<DecodedEvent, ValueDecodeError> {
        let value = read_value(self, body)?;
        Ok(DecodedEvent {
            schema: Arc::clone(self),
            value,
        })
    }

    /// The record of an Avro `body` written with this schema as one line of JSON text:
    /// what [`DecodedEvent::to_json`] renders, read straight from the bytes without
    /// building apache-avro's value or a `serde_json` tree (what `tail` prints).
    ///
    /// # Errors
    ///
    /// The body is truncated, corrupt, or longer than the record.
    pub fn decode_json(&self, body: &[u8]) -> Result<String, ValueDecodeError> {
        let failure =
            |reason: String| ValueDecodeError::new(DecodeErrorKind::Body, Some(self.id), reason);
        let mut reader = metrics_core::decode::AvroReader::new(body);
        let mut out = Vec::with_capacity(body.len() * 3);
        super::json::write_json(&self.schema, &self.names, &mut reader, &mut out)
            .map_err(failure)?;
        if !reader.is_empty() {
            return Err(failure(format!(
                "{} bytes are left after the record",
                reader.remaining()
            )));
        }
        // serde_json writes UTF-8 only.
        String::from_utf8(out).map_err(|e| failure(e.to_string()))
    }

    /// The schema id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The record's name (the event name, for our events).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The record's namespace (the topic, for our events).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The parsed schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn names(&self) -> &Names {
        &self.names
    }
}

/// The path of the first array in `schema` whose items encode to no bytes, if any.
fn zero_size_items(schema: &Schema, names: &Names) -> Option<String> {
    fn walk<'s>(
        schema: &'s Schema,
        names: &'s Names,
        path: &str,
        seen: &mut Vec<&'s Name>,
    ) -> Option<String> {
        match schema {
            Schema::Ref { name } => {
                if seen.contains(&name) {
                    return None;
                }
                seen.push(name);
                names.get(name).and_then(|s| walk(s, names, path, seen))
            }
            Schema::Array(array) => {
                if zero_size(&array.items, names, &mut Vec::new()) {
                    return Some(path.to_owned());
                }
                walk(&array.items, names, &format!("{path}[]"), seen)
            }
            Schema::Map(map) => walk(&map.types, names, &format!("{path}{{}}"), seen),
            Schema::Union(union) => union
                .variants()
                .iter()
                .find_map(|v| walk(v, names, path, seen)),
            Schema::Record(record) => {
                seen.push(&record.name);
                record
                    .fields
                    .iter()
                    .find_map(|f| walk(&f.schema, names, &format!("{path}.{}", f.name), seen))
            }
            _ => None,
        }
    }
    /// Whether every value of `schema` encodes to no bytes; `within` holds the named
    /// records being looked into (one that contains itself cannot be empty).
    fn zero_size<'s>(schema: &'s Schema, names: &'s Names, within: &mut Vec<&'s Name>) -> bool {
        match schema {
            Schema::Null => true,
            Schema::Fixed(fixed) => fixed.size == 0,
            Schema::Record(record) => {
                within.push(&record.name);
                let empty = record
                    .fields
                    .iter()
                    .all(|f| zero_size(&f.schema, names, within));
                within.pop();
                empty
            }
            Schema::Ref { name } => {
                !within.contains(&name)
                    && names.get(name).is_some_and(|s| zero_size(s, names, within))
            }
            _ => false,
        }
    }
    walk(schema, names, "record", &mut Vec::new())
}

/// An event decoded through the registry, in apache-avro's generic form.
#[derive(Debug, Clone)]
pub struct DecodedEvent {
    schema: Arc<WriterSchema>,
    /// The record.
    pub value: Value,
}

impl DecodedEvent {
    /// The schema id from the frame.
    pub fn schema_id(&self) -> u32 {
        self.schema.id
    }

    /// The writer schema.
    pub fn schema(&self) -> &Arc<WriterSchema> {
        &self.schema
    }

    /// The record's name: the event name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// The record as JSON: fields in schema order, timestamps as RFC 3339, UUIDs as
    /// strings, durations as seconds, enums as their symbols, unions as their value.
    pub fn to_json(&self) -> serde_json::Value {
        super::json::to_json(&self.value, Some(self.schema.schema()), self.schema.names())
    }

    /// Field `name` of the record, if it has one.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match &self.value {
            Value::Record(fields) => fields.iter().find(|(f, _)| f == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Decodes frames through a Schema Registry, caching each schema by id.
pub struct EventDecoder {
    registry: Arc<dyn SchemaRegistry>,
    sensors: Arc<SensorDelegate>,
    schemas: RwLock<HashMap<u32, Arc<WriterSchema>>>,
    /// Whether schema id `u32` matches the payload type: checked once per pair.
    matches: RwLock<HashMap<(u32, TypeId), Result<(), String>>>,
    subjects: RwLock<HashMap<u32, Option<String>>>,
}

impl fmt::Debug for EventDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventDecoder")
            .field("registry", &self.registry.location())
            .finish_non_exhaustive()
    }
}

impl EventDecoder {
    /// A decoder fetching schemas from `registry`.
    pub fn new(registry: Arc<dyn SchemaRegistry>) -> Self {
        Self::with_sensors(registry, Arc::new(SensorDelegate::new()))
    }

    /// A decoder fetching schemas from `registry`, reporting its calls to `sensors`.
    pub fn with_sensors(registry: Arc<dyn SchemaRegistry>, sensors: Arc<SensorDelegate>) -> Self {
        Self {
            registry,
            sensors,
            schemas: RwLock::default(),
            matches: RwLock::default(),
            subjects: RwLock::default(),
        }
    }

    /// The writer schema of id `id`: from the cache, else fetched and parsed.
    ///
    /// # Errors
    ///
    /// The registry cannot be reached, has no such schema, or its schema does not parse.
    pub async fn schema(&self, id: u32) -> Result<Arc<WriterSchema>, ValueDecodeError> {
        let started = self.sensors.now_if_attached();
        if let Some(schema) = read(&self.schemas).get(&id) {
            self.report(id, true, started, None);
            return Ok(Arc::clone(schema));
        }
        let text = match self.registry.schema_by_id(id).await {
            Ok(text) => text,
            Err(error) => {
                let kind = error.kind();
                self.report(id, false, started, Some(kind));
                return Err(ValueDecodeError::new(
                    DecodeErrorKind::Schema,
                    Some(id),
                    error,
                ));
            }
        };
        self.report(id, false, started, None);
        let schema = Arc::new(WriterSchema::parse(id, &text)?);
        write(&self.schemas).insert(id, Arc::clone(&schema));
        Ok(schema)
    }

    /// The writer schema of id `id` if it is cached, without a hook or a request.
    pub(crate) fn cached(&self, id: u32) -> Option<Arc<WriterSchema>> {
        read(&self.schemas).get(&id).cloned()
    }

    fn report(&self, id: u32, cache_hit: bool, started: Option<Instant>, error: Option<ErrorKind>) {
        if let Some(started) = started {
            self.sensors.on_registry_call(&RegistryCall {
                operation: RegistryOperation::SchemaById,
                target: &id.to_string(),
                cache_hit,
                elapsed: started.elapsed(),
                error,
            });
        }
    }

    /// Decodes a Confluent frame straight to one line of JSON text
    /// ([`WriterSchema::decode_json`]), with the schema id.
    ///
    /// # Errors
    ///
    /// Not a frame, a schema that cannot be had, or a body that does not match it.
    pub async fn decode_json(&self, frame: &[u8]) -> Result<(u32, String), ValueDecodeError> {
        let (id, body) = split(frame)?;
        Ok((id, self.schema(id).await?.decode_json(body)?))
    }

    /// Decodes a Confluent frame into apache-avro's generic value.
    ///
    /// # Errors
    ///
    /// Not a frame, a schema that cannot be had, or a body that does not match it.
    pub async fn decode(&self, frame: &[u8]) -> Result<DecodedEvent, ValueDecodeError> {
        let (id, body) = split(frame)?;
        self.schema(id).await?.decode(body)
    }

    /// Decodes a Confluent frame into the typed event `P`, when its writer schema is the
    /// one `P` registers (same fields, same types, same order).
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode), or [`DecodeErrorKind::Type`] when the writer schema is
    /// not `P`'s, saying where they differ.
    pub async fn decode_as<P: EventDecode>(
        &self,
        frame: &[u8],
    ) -> Result<Event<P>, ValueDecodeError> {
        let (id, body) = split(frame)?;
        let schema = self.schema(id).await?;
        self.check_type::<P>(&schema)?;
        Event::<P>::decode_avro(body)
            .map_err(|e| ValueDecodeError::new(DecodeErrorKind::Body, Some(id), e))
    }

    /// Checks once per schema id and type that the writer schema is `P`'s.
    fn check_type<P: EventDecode>(&self, schema: &WriterSchema) -> Result<(), ValueDecodeError> {
        let key = (schema.id, TypeId::of::<P>());
        let verdict = read(&self.matches).get(&key).cloned();
        let verdict = verdict.unwrap_or_else(|| {
            let verdict = type_matches::<P>(schema);
            write(&self.matches).insert(key, verdict.clone());
            verdict
        });
        verdict
            .map_err(|reason| ValueDecodeError::new(DecodeErrorKind::Type, Some(schema.id), reason))
    }

    /// The first subject the schema of id `id` is registered under, if the registry says
    /// (cached; `None` when it cannot tell).
    pub async fn subject(&self, id: u32) -> Option<String> {
        if let Some(subject) = read(&self.subjects).get(&id) {
            return subject.clone();
        }
        let subject = match self.registry.subjects_of(id).await {
            Ok(subjects) => subjects.into_iter().next(),
            Err(error) => {
                tracing::debug!(%error, id, "no subject for the schema id");
                None
            }
        };
        write(&self.subjects).insert(id, subject.clone());
        subject
    }
}

fn split(frame: &[u8]) -> Result<(u32, &[u8]), ValueDecodeError> {
    framing::split(frame).map_err(|e| ValueDecodeError::new(DecodeErrorKind::Framing, None, e))
}

/// Reads the body with its writer schema; every byte must belong to the record.
fn read_value(schema: &WriterSchema, body: &[u8]) -> Result<Value, ValueDecodeError> {
    use std::io::Read as _;
    let id = schema.id;
    let body_error =
        |reason: String| ValueDecodeError::new(DecodeErrorKind::Body, Some(id), reason);
    let reader = GenericDatumReader::builder(schema.schema())
        .build()
        .map_err(|e| body_error(e.to_string()))?;
    // apache-avro reads a string, a boolean or a union branch cut short by the end of its
    // input as null: a truncated body would decode, with values lost. So it reads the body
    // and one byte more, and must leave exactly that byte: reading into it or to the end
    // means the body ended inside a value.
    let mut input = body.chain(&[0u8][..]);
    let value = reader
        .read_value(&mut input)
        .map_err(|e| body_error(e.to_string()))?;
    match input.into_inner() {
        ([], [_]) => Ok(value),
        ([], _) => Err(body_error(format!(
            "the body ends inside a value ({} bytes)",
            body.len()
        ))),
        (rest, _) => Err(body_error(format!(
            "{} bytes are left after the record",
            rest.len()
        ))),
    }
}

/// Whether the writer schema is the one `P` registers, or where they differ.
fn type_matches<P: EventDecode>(schema: &WriterSchema) -> Result<(), String> {
    let type_name = std::any::type_name::<P>();
    let namespace = schema.namespace.as_deref().unwrap_or_default();
    let ours = record_schema::<P>(&schema.name, namespace)
        .map_err(|e| format!("{type_name} cannot name a record like the writer's: {e}"))?;
    let ours = Schema::parse_str(&ours).map_err(|e| format!("{type_name}'s schema: {e}"))?;
    if ours.canonical_form() == schema.canonical {
        return Ok(());
    }
    let fields = |s: &Schema| match s {
        Schema::Record(r) => r
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.schema.canonical_form()))
            .collect(),
        _ => Vec::new(),
    };
    let (theirs, ours) = (fields(schema.schema()), fields(&ours));
    let difference = theirs
        .iter()
        .zip(&ours)
        .find(|(t, o)| t != o)
        .map(|((tn, ts), (on, os))| {
            if tn == on {
                format!("field `{tn}` is {ts} in the schema but {os} in {type_name}")
            } else {
                format!("the schema has field `{tn}` where {type_name} has `{on}`")
            }
        })
        .unwrap_or_else(|| {
            format!(
                "the schema has {} fields, {type_name} has {}",
                theirs.len(),
                ours.len()
            )
        });
    Err(difference)
}
