//! Confluent-compatible Schema Registry clients: the [`SchemaRegistry`] trait, its HTTP
//! client and its in-memory fake.
//!
//! [`SchemaRegistry::register_checked`] is what the event manager calls once per event
//! when a publisher is created: it optionally sets the subject's compatibility level,
//! asks the registry whether the schema may be registered, and registers it. When the
//! registry refuses, the error names the offending fields (computed locally with
//! apache-avro's schema compatibility checker; the registry's verdict decides, except that
//! the subject's own latest schema is registered again whatever the check says).

pub(crate) mod compat;
mod error;
mod http;
mod memory;
mod tls;
mod transport;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod memory_tests;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::RegistryConfig;
use crate::config::{CompatibilityLevel, RegistryAuth};
pub use error::RegistryError;
pub use http::HttpSchemaRegistry;
pub use memory::MemorySchemaRegistry;

/// The registry `config` names: the HTTP client for `SCHEMA_MANAGER_REGISTRY_URL`, or,
/// when it is unset, a new in-memory registry (the embedded development stack).
///
/// # Errors
///
/// As [`HttpSchemaRegistry::new`].
pub fn connect(config: &RegistryConfig) -> Result<Arc<dyn SchemaRegistry>, RegistryError> {
    Ok(if config.url_is_set() {
        Arc::new(HttpSchemaRegistry::new(config)?)
    } else {
        Arc::new(MemorySchemaRegistry::new())
    })
}

/// The registry's verdict on whether a schema may be registered under a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// The schema may be registered (also the answer for a subject with no versions yet).
    Compatible,
    /// The schema breaks the subject's compatibility level.
    Incompatible {
        /// What is wrong, as the registry (or the local check) explains it.
        messages: Vec<String>,
    },
}

impl Compatibility {
    /// Whether the schema may be registered.
    pub fn is_compatible(&self) -> bool {
        matches!(self, Self::Compatible)
    }
}

/// A Confluent-compatible Schema Registry: the HTTP client ([`HttpSchemaRegistry`]) or the
/// in-process fake ([`MemorySchemaRegistry`]).
///
/// Schemas are passed as their JSON text. Subjects are passed unencoded; implementations
/// encode them as they need.
#[async_trait]
pub trait SchemaRegistry: Send + Sync + fmt::Debug {
    /// Where the registry is, for messages: its URL without credentials, or a name for an
    /// in-process registry.
    fn location(&self) -> &str;

    /// Sets the compatibility level of `subject` (`PUT /config/{subject}`).
    async fn set_compatibility(
        &self,
        subject: &str,
        level: CompatibilityLevel,
    ) -> Result<(), RegistryError>;

    /// Asks whether `schema` may be registered under `subject`
    /// (`POST /compatibility/subjects/{subject}/versions/latest`).
    ///
    /// A subject that does not exist yet, or has no versions, is
    /// [`Compatible`](Compatibility::Compatible): there is nothing to compare with.
    async fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Compatibility, RegistryError>;

    /// Registers `schema` under `subject` (`POST /subjects/{subject}/versions`) and returns
    /// its global id. Registering a schema the subject already has returns the existing id.
    async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError>;

    /// The schema text with the global id `id` (`GET /schemas/ids/{id}`).
    async fn schema_by_id(&self, id: u32) -> Result<String, RegistryError>;

    /// The subjects under which the schema with global id `id` is registered
    /// (`GET /schemas/ids/{id}/versions`), sorted. The default answers none.
    async fn subjects_of(&self, id: u32) -> Result<Vec<String>, RegistryError> {
        let _ = id;
        Ok(Vec::new())
    }

    /// The latest schema registered under `subject`
    /// (`GET /subjects/{subject}/versions/latest`), or `None` if the subject has none.
    ///
    /// Used to explain an incompatibility, to register the subject's own latest schema
    /// again without trusting the check, and by the pre-deploy check to tell a new subject
    /// from an existing one. The default answers `None` (so that check calls every subject
    /// new).
    async fn latest_schema(&self, subject: &str) -> Result<Option<String>, RegistryError> {
        let _ = subject;
        Ok(None)
    }

    /// The id of `schema` under `subject` if this client already knows it, without any
    /// request. The default knows nothing.
    fn cached_id(&self, subject: &str, schema: &str) -> Option<u32> {
        let _ = (subject, schema);
        None
    }

    /// Registers `schema` under `subject` the way a publisher does at creation: sets
    /// `level` if given, checks compatibility, then registers.
    ///
    /// An incompatible schema fails with [`RegistryError::Incompatible`] whose messages
    /// name the offending fields, computed locally with apache-avro against the latest
    /// registered schema when it can be fetched (the registry's own messages otherwise).
    /// A schema this client already registered under `subject` returns its id at once.
    async fn register_checked(
        &self,
        subject: &str,
        schema: &str,
        level: Option<CompatibilityLevel>,
    ) -> Result<u32, RegistryError> {
        if let Some(id) = self.cached_id(subject, schema) {
            return Ok(id);
        }
        if let Some(level) = level {
            self.set_compatibility(subject, level).await?;
        }
        if let Compatibility::Incompatible { messages } =
            self.check_compatibility(subject, schema).await?
        {
            let local = match self.latest_schema(subject).await {
                // The subject's latest version is this very schema: registering it returns
                // its id, as Confluent's registry does without a check. (Some registries'
                // checkers refuse an identical schema with a logical type.)
                Ok(Some(previous)) if same_schema(&previous, schema) => {
                    return self.register(subject, schema).await;
                }
                Ok(Some(previous)) => compat::explain(
                    &previous,
                    schema,
                    level.unwrap_or(CompatibilityLevel::Backward),
                ),
                Ok(None) => Vec::new(),
                Err(error) => {
                    tracing::debug!(
                        subject,
                        registry = self.location(),
                        %error,
                        "cannot fetch the latest schema to explain an incompatibility"
                    );
                    Vec::new()
                }
            };
            let messages = if !local.is_empty() {
                local
            } else if !messages.is_empty() {
                messages
            } else {
                vec!["the registry gave no details".to_owned()]
            };
            return Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                registry: self.location().to_owned(),
                messages,
            });
        }
        self.register(subject, schema).await
    }
}

/// Whether two schema texts are the same schema: equal as JSON, whatever the key order or
/// spacing a registry gives back (unlike the parsing canonical form, logical types count).
pub(crate) fn same_schema(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
