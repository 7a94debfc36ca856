//! An in-process Schema Registry with Confluent's semantics, for the embedded dev stack
//! and tests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use apache_avro::Schema;
use async_trait::async_trait;

use super::{Compatibility, CompatibilityLevel, RegistryError, SchemaRegistry, compat};

/// What [`MemorySchemaRegistry`] reports as its location in errors.
const LOCATION: &str = "memory://in-process";

/// A schema known to the registry.
#[derive(Debug)]
struct Stored {
    /// The text it was first registered with (what `schema_by_id` returns).
    text: String,
    /// Its parsed form, for compatibility checks.
    parsed: Schema,
}

/// The registry's state, behind one lock.
#[derive(Debug, Default)]
struct State {
    /// Every schema; the id of `schemas[i]` is `i + 1`.
    schemas: Vec<Stored>,
    /// Parsing canonical form → id, so equal schemas share one id across subjects.
    ids: HashMap<String, u32>,
    /// Subject → ids of its versions, oldest first (version `n` is `versions[n - 1]`).
    subjects: HashMap<String, Vec<u32>>,
    /// Per-subject compatibility levels.
    levels: HashMap<String, CompatibilityLevel>,
    /// The level of subjects without their own.
    global: CompatibilityLevel,
}

impl State {
    /// The schema with `id`.
    fn stored(&self, id: u32) -> Option<&Stored> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.schemas.get(index)
    }

    /// The level in force for `subject`.
    fn level(&self, subject: &str) -> CompatibilityLevel {
        self.levels.get(subject).copied().unwrap_or(self.global)
    }

    /// Messages explaining why `new` may not join `subject` (none when it may).
    fn incompatibilities(&self, subject: &str, new: &Schema) -> Vec<String> {
        let level = self.level(subject);
        let Some(versions) = self.subjects.get(subject) else {
            return Vec::new();
        };
        if level == CompatibilityLevel::None {
            return Vec::new();
        }
        let against: &[u32] = if level.is_transitive() {
            versions
        } else {
            versions
                .last()
                .map(std::slice::from_ref)
                .unwrap_or_default()
        };
        let mut messages = Vec::new();
        for &id in against.iter().rev() {
            if let Some(previous) = self.stored(id) {
                for message in compat::check(&previous.parsed, new, level) {
                    if !messages.contains(&message) {
                        messages.push(message);
                    }
                }
            }
        }
        messages
    }
}

/// An in-process Schema Registry with Confluent's semantics.
///
/// - Ids are global and start at 1; the same schema (compared by its parsing canonical
///   form) gets the same id under every subject.
/// - Each subject keeps its versions; registering a schema the subject already has
///   returns the existing id without a new version.
/// - Compatibility levels per subject and globally (default `BACKWARD`), checked with
///   apache-avro against the latest version, or every version for `*_TRANSITIVE`.
///
/// Thread-safe; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemorySchemaRegistry {
    state: Mutex<State>,
}

impl MemorySchemaRegistry {
    /// An empty registry with the global level `BACKWARD`.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry with the given global compatibility level.
    pub fn with_global_compatibility(level: CompatibilityLevel) -> Self {
        let registry = Self::new();
        registry.set_global_compatibility(level);
        registry
    }

    /// Sets the level of subjects that have none of their own (`PUT /config`).
    pub fn set_global_compatibility(&self, level: CompatibilityLevel) {
        self.lock().global = level;
    }

    /// The level in force for `subject`: its own, or the global one.
    pub fn compatibility(&self, subject: &str) -> CompatibilityLevel {
        self.lock().level(subject)
    }

    /// The registered subjects, sorted.
    pub fn subjects(&self) -> Vec<String> {
        let mut subjects: Vec<String> = self.lock().subjects.keys().cloned().collect();
        subjects.sort();
        subjects
    }

    /// The ids of the versions of `subject`, oldest first (empty for an unknown subject).
    pub fn versions(&self, subject: &str) -> Vec<u32> {
        self.lock()
            .subjects
            .get(subject)
            .cloned()
            .unwrap_or_default()
    }

    /// The state, even if a thread panicked while holding the lock (every update leaves
    /// it consistent).
    fn lock(&self) -> MutexGuard<'_, State> {
        metrics_core::sync::lock(&self.state)
    }
}

/// Parses `schema`, or the [`RegistryError::InvalidSchema`] the registry would answer.
fn parse(subject: &str, schema: &str) -> Result<Schema, RegistryError> {
    Schema::parse_str(schema).map_err(|error| RegistryError::InvalidSchema {
        subject: subject.to_owned(),
        registry: LOCATION.to_owned(),
        message: metrics_core::ErrorChain(&error).to_string(),
    })
}

#[async_trait]
impl SchemaRegistry for MemorySchemaRegistry {
    fn location(&self) -> &str {
        LOCATION
    }

    async fn set_compatibility(
        &self,
        subject: &str,
        level: CompatibilityLevel,
    ) -> Result<(), RegistryError> {
        self.lock().levels.insert(subject.to_owned(), level);
        Ok(())
    }

    async fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Compatibility, RegistryError> {
        let parsed = parse(subject, schema)?;
        let messages = self.lock().incompatibilities(subject, &parsed);
        Ok(if messages.is_empty() {
            Compatibility::Compatible
        } else {
            Compatibility::Incompatible { messages }
        })
    }

    async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let parsed = parse(subject, schema)?;
        let canonical = parsed.canonical_form();
        let mut state = self.lock();
        let existing = state.ids.get(&canonical).copied();
        if let Some(id) = existing
            && state
                .subjects
                .get(subject)
                .is_some_and(|versions| versions.contains(&id))
        {
            return Ok(id);
        }
        let messages = state.incompatibilities(subject, &parsed);
        if !messages.is_empty() {
            return Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                registry: LOCATION.to_owned(),
                messages,
            });
        }
        let id = match existing {
            Some(id) => id,
            None => {
                let id = u32::try_from(state.schemas.len() + 1).map_err(|_| {
                    RegistryError::InvalidSchema {
                        subject: subject.to_owned(),
                        registry: LOCATION.to_owned(),
                        message: "the registry has run out of schema ids".to_owned(),
                    }
                })?;
                state.schemas.push(Stored {
                    text: schema.to_owned(),
                    parsed,
                });
                state.ids.insert(canonical, id);
                id
            }
        };
        state
            .subjects
            .entry(subject.to_owned())
            .or_default()
            .push(id);
        tracing::debug!(subject, registry = LOCATION, id, "registered schema");
        Ok(id)
    }

    async fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        self.lock()
            .stored(id)
            .map(|stored| stored.text.clone())
            .ok_or_else(|| RegistryError::SchemaNotFound {
                id,
                registry: LOCATION.to_owned(),
            })
    }

    async fn subjects_of(&self, id: u32) -> Result<Vec<String>, RegistryError> {
        let state = self.lock();
        if state.stored(id).is_none() {
            return Err(RegistryError::SchemaNotFound {
                id,
                registry: LOCATION.to_owned(),
            });
        }
        let mut subjects: Vec<String> = state
            .subjects
            .iter()
            .filter(|(_, versions)| versions.contains(&id))
            .map(|(subject, _)| subject.clone())
            .collect();
        subjects.sort();
        Ok(subjects)
    }

    async fn latest_schema(&self, subject: &str) -> Result<Option<String>, RegistryError> {
        let state = self.lock();
        Ok(state
            .subjects
            .get(subject)
            .and_then(|versions| versions.last())
            .and_then(|&id| state.stored(id))
            .map(|stored| stored.text.clone()))
    }
}
