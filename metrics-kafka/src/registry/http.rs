//! The HTTP client of a Confluent-compatible Schema Registry: the endpoints, their typed
//! answers, and a cache of ids and schemas.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use metrics_core::sync::{read, write};

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::transport::{Target, Transport};
use super::{Compatibility, CompatibilityLevel, RegistryError, SchemaRegistry};
use crate::config::RegistryConfig;

/// Characters kept as they are in path segments (RFC 3986 unreserved); all others are
/// percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `PUT /config/{subject}`: Confluent echoes `compatibility`, some registries
/// `compatibilityLevel`.
#[derive(Deserialize)]
struct ConfigAnswer {
    #[serde(alias = "compatibilityLevel")]
    compatibility: Option<String>,
}

/// `POST /compatibility/subjects/{subject}/versions/latest`.
#[derive(Deserialize)]
struct CompatibilityAnswer {
    is_compatible: bool,
    #[serde(default)]
    messages: Vec<serde_json::Value>,
}

/// `POST /subjects/{subject}/versions`.
#[derive(Deserialize)]
struct RegisterAnswer {
    id: u32,
}

/// `GET /schemas/ids/{id}` and `GET /subjects/{subject}/versions/latest`.
#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

/// One entry of `GET /schemas/ids/{id}/versions`.
#[derive(Deserialize)]
struct SubjectVersion {
    subject: String,
}

/// Schema ids this client has seen: subject → schema text → id, and id → schema text.
#[derive(Default)]
struct Cache {
    ids: RwLock<HashMap<String, HashMap<String, u32>>>,
    schemas: RwLock<HashMap<u32, Arc<str>>>,
}

impl Cache {
    fn id(&self, subject: &str, schema: &str) -> Option<u32> {
        read(&self.ids).get(subject)?.get(schema).copied()
    }

    fn schema(&self, id: u32) -> Option<Arc<str>> {
        read(&self.schemas).get(&id).cloned()
    }

    fn insert(&self, subject: &str, schema: &str, id: u32) {
        write(&self.ids)
            .entry(subject.to_owned())
            .or_default()
            .insert(schema.to_owned(), id);
        self.insert_schema(id, schema);
    }

    fn insert_schema(&self, id: u32, schema: &str) {
        write(&self.schemas)
            .entry(id)
            .or_insert_with(|| Arc::from(schema));
    }

    fn len(&self) -> usize {
        read(&self.schemas).len()
    }
}

/// A Confluent-compatible Schema Registry reached over HTTP(S).
///
/// TLS is rustls with the ring provider and the system's roots plus the optional CA file.
/// Requests are retried with exponential backoff on 5xx, 429, connection errors and
/// timeouts, never on other answers. Registered ids and fetched schemas are cached.
pub struct HttpSchemaRegistry {
    transport: Transport,
    cache: Cache,
}

impl fmt::Debug for HttpSchemaRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSchemaRegistry")
            .field("url", &self.transport.base)
            .field("auth", &self.transport.auth)
            .field("request_timeout", &self.transport.request_timeout)
            .field("max_retries", &self.transport.max_retries)
            .field("cached_schemas", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl HttpSchemaRegistry {
    /// A client for the registry `config` names (URL, credentials, CA file, timeouts,
    /// retries).
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidUrl`] when no valid URL is set,
    /// [`RegistryError::CaCertificate`] for a CA file that cannot be read or holds no
    /// certificate, [`RegistryError::Client`] if TLS cannot be set up.
    pub fn new(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let url = config.url().ok_or_else(|| RegistryError::InvalidUrl {
            url: String::new(),
            reason: "no valid registry URL is set; set SCHEMA_MANAGER_REGISTRY_URL (e.g. \
                     http://127.0.0.1:8081)"
                .to_owned(),
        })?;
        let transport = Transport::new(url, config)?;
        tracing::debug!(registry = %transport.base, "schema registry client ready");
        Ok(Self {
            transport,
            cache: Cache::default(),
        })
    }

    /// The registry's base URL, without credentials.
    pub fn url(&self) -> &str {
        &self.transport.base
    }
}

#[async_trait]
impl SchemaRegistry for HttpSchemaRegistry {
    fn location(&self) -> &str {
        &self.transport.base
    }

    async fn set_compatibility(
        &self,
        subject: &str,
        level: CompatibilityLevel,
    ) -> Result<(), RegistryError> {
        let target = Target::Subject(subject);
        let path = format!("/config/{}", encode(subject));
        let body = json!({ "compatibility": level.as_str() });
        let answer: Option<ConfigAnswer> = self
            .transport
            .call(Method::PUT, &path, Some(&body), target)
            .await?;
        if let Some(echoed) = answer.and_then(|a| a.compatibility)
            && !echoed.eq_ignore_ascii_case(level.as_str())
        {
            return Err(self.transport.unexpected(
                target,
                format!("asked for compatibility {level}, the registry answered {echoed}"),
            ));
        }
        tracing::debug!(subject, registry = %self.transport.base, %level, "compatibility level set");
        Ok(())
    }

    async fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Compatibility, RegistryError> {
        let target = Target::Subject(subject);
        let path = format!(
            "/compatibility/subjects/{}/versions/latest?verbose=true",
            encode(subject)
        );
        let body = json!({ "schema": schema });
        let answer: CompatibilityAnswer = match self
            .transport
            .call(Method::POST, &path, Some(&body), target)
            .await
        {
            Ok(answer) => answer,
            Err(RegistryError::SubjectNotFound { .. } | RegistryError::VersionNotFound { .. }) => {
                tracing::debug!(subject, registry = %self.transport.base, "new subject: nothing to compare");
                return Ok(Compatibility::Compatible);
            }
            Err(error) => return Err(error),
        };
        if answer.is_compatible {
            return Ok(Compatibility::Compatible);
        }
        let messages = answer
            .messages
            .iter()
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
            .collect();
        Ok(Compatibility::Incompatible { messages })
    }

    async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        if let Some(id) = self.cache.id(subject, schema) {
            return Ok(id);
        }
        let target = Target::Subject(subject);
        let path = format!("/subjects/{}/versions", encode(subject));
        let body = json!({ "schema": schema });
        let RegisterAnswer { id } = self
            .transport
            .call(Method::POST, &path, Some(&body), target)
            .await?;
        self.cache.insert(subject, schema, id);
        tracing::debug!(subject, registry = %self.transport.base, id, "schema registered");
        Ok(id)
    }

    async fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        if let Some(schema) = self.cache.schema(id) {
            return Ok(schema.to_string());
        }
        let target = Target::Id(id);
        let answer: SchemaAnswer = self
            .transport
            .call(Method::GET, &format!("/schemas/ids/{id}"), None, target)
            .await?;
        if let Some(kind) = &answer.schema_type
            && !kind.eq_ignore_ascii_case("AVRO")
        {
            return Err(self
                .transport
                .unexpected(target, format!("the schema is {kind}, not AVRO")));
        }
        self.cache.insert_schema(id, &answer.schema);
        Ok(answer.schema)
    }

    async fn subjects_of(&self, id: u32) -> Result<Vec<String>, RegistryError> {
        let answer: Vec<SubjectVersion> = self
            .transport
            .call(
                Method::GET,
                &format!("/schemas/ids/{id}/versions"),
                None,
                Target::Id(id),
            )
            .await?;
        let mut subjects: Vec<String> = answer.into_iter().map(|v| v.subject).collect();
        subjects.sort();
        subjects.dedup();
        Ok(subjects)
    }

    async fn latest_schema(&self, subject: &str) -> Result<Option<String>, RegistryError> {
        let target = Target::Subject(subject);
        let path = format!("/subjects/{}/versions/latest", encode(subject));
        match self
            .transport
            .call::<SchemaAnswer>(Method::GET, &path, None, target)
            .await
        {
            Ok(answer) => Ok(Some(answer.schema)),
            Err(RegistryError::SubjectNotFound { .. } | RegistryError::VersionNotFound { .. }) => {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    fn cached_id(&self, subject: &str, schema: &str) -> Option<u32> {
        self.cache.id(subject, schema)
    }
}

/// Percent-encodes a subject for use as one path segment.
fn encode(subject: &str) -> String {
    utf8_percent_encode(subject, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_encoded_as_one_path_segment() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("lsst.square-metrics_x~y"), "lsst.square-metrics_x~y");
        assert_eq!(encode("é?#%"), "%C3%A9%3F%23%25");
    }
}
