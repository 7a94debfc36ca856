//! Making an event type publishable: the topic check (creating the topic where allowed),
//! then the schema registration; at start-up within a bounded wait, then, in resilient
//! mode, retried in the background with the policy's backoff until it succeeds or fails
//! for good.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use metrics_core::backend::SchemaVerdict;
use metrics_core::sensor::{RegistryCall, RegistryOperation};
use metrics_core::{ErrorChain, EventError};

use super::BackendInner;
use crate::blocking::blocking;
use crate::config::CompatibilityLevel;
use crate::error::Error;
use crate::registry::{Compatibility, RegistryError, compat, same_schema};
use crate::sink::{KafkaSink, Settled};
use crate::topic::{self, TopicSpec, TopicState};

impl BackendInner {
    /// Checks the topic, creating it first when that is allowed (`KAFKA_CREATE_TOPICS`, or
    /// always on the embedded broker, a development stack).
    pub(crate) async fn ensure_topic(&self) -> Result<(), EventError> {
        let producer = self.open_producer()?;
        let topic = self.topic.clone();
        let timeout = self.kafka.metadata_timeout();
        let state = blocking({
            let (producer, topic) = (producer.clone(), topic.clone());
            move || topic::topic_state(&producer, &topic, timeout)
        })
        .await?;
        if state == TopicState::Ready {
            return Ok(());
        }
        if !self.kafka.create_topics() && !producer.is_embedded() {
            return Err(Error::TopicMissing { topic }.into());
        }
        let admin = self.kafka.client_config();
        topic::create_topic(&producer, &admin, &topic, TopicSpec::default()).await?;
        blocking(move || topic::await_topic(&producer, &topic, timeout)).await
    }

    /// One attempt: topic check, then schema registration; the schema id.
    pub(crate) async fn prepare(&self, sink: &KafkaSink, schema: &str) -> Result<u32, EventError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(EventError::Closed {
                name: sink.event().to_owned(),
            });
        }
        self.ensure_topic().await?;
        let subject = sink.subject_name();
        let cache_hit = self.registry.cached_id(subject, schema).is_some();
        let started = Instant::now();
        let registered = self
            .registry
            .register_checked(subject, schema, self.registry_settings.compatibility())
            .await;
        sink.sensors().registry_call(&RegistryCall {
            operation: RegistryOperation::Register,
            target: subject,
            cache_hit,
            elapsed: started.elapsed(),
            error: registered.as_ref().err().map(RegistryError::kind),
        });
        let id = registered.map_err(|source| Error::Registration {
            event: sink.event().to_owned(),
            subject: subject.to_owned(),
            source,
        })?;
        Ok(id)
    }

    /// Whether `schema` may be registered under `subject`, asking without registering:
    /// the registry's own check at the subject's current level. When
    /// `SCHEMA_MANAGER_COMPATIBILITY` is set, registration sets that level first, so the
    /// check also applies it locally against the latest version (and says so when the two
    /// disagree: the registry cannot be asked at a level without setting it). A
    /// `_TRANSITIVE` level set that way is checked against the latest version only.
    pub(crate) async fn schema_verdict(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<SchemaVerdict, RegistryError> {
        let answer = self.registry.check_compatibility(subject, schema).await?;
        let no_details = |messages: Vec<String>| {
            if messages.is_empty() {
                vec!["the registry gave no details".to_owned()]
            } else {
                messages
            }
        };
        let Some(latest) = self.registry.latest_schema(subject).await? else {
            return Ok(match answer {
                // A registry that shows no latest version, yet refuses.
                Compatibility::Incompatible { messages } => SchemaVerdict::Incompatible {
                    reasons: no_details(messages),
                },
                Compatibility::Compatible => SchemaVerdict::NewSubject,
            });
        };
        // Registering the subject's own latest schema returns its id (see
        // `register_checked`), whatever the registry's check says.
        if same_schema(&latest, schema) {
            return Ok(SchemaVerdict::Compatible);
        }
        let level = self.registry_settings.compatibility();
        let local = compat::explain(
            &latest,
            schema,
            level.unwrap_or(CompatibilityLevel::Backward),
        );
        Ok(match (answer, level) {
            (Compatibility::Compatible, None) => SchemaVerdict::Compatible,
            (Compatibility::Compatible, Some(_)) if local.is_empty() => SchemaVerdict::Compatible,
            (Compatibility::Compatible, Some(_)) => SchemaVerdict::Incompatible { reasons: local },
            // The fields named where a local BACKWARD check sees the problem; otherwise
            // the registry's own words (its subject may be at another level, or its
            // checker may differ from Avro's rules).
            (Compatibility::Incompatible { messages }, None) if local.is_empty() => {
                SchemaVerdict::Incompatible {
                    reasons: std::iter::once(
                        "a local check at BACKWARD (the registry's default) finds no \
                         incompatible field; the registry says:"
                            .to_owned(),
                    )
                    .chain(no_details(messages))
                    .collect(),
                }
            }
            (Compatibility::Incompatible { .. }, None) => {
                SchemaVerdict::Incompatible { reasons: local }
            }
            (Compatibility::Incompatible { .. }, Some(_)) if !local.is_empty() => {
                SchemaVerdict::Incompatible { reasons: local }
            }
            (Compatibility::Incompatible { messages }, Some(level)) => {
                SchemaVerdict::Incompatible {
                    reasons: std::iter::once(format!(
                        "the registry refuses it at the subject's current level; at {level}, \
                         which registration sets first, Avro's rules find it compatible with \
                         the latest version, so registration may still pass. The registry \
                         says:"
                    ))
                    .chain(no_details(messages))
                    .collect(),
                }
            }
        })
    }

    /// Runs a start-up step within the policy's wait (strict mode waits for the answer).
    pub(crate) async fn within_startup_wait<T>(
        &self,
        step: &'static str,
        attempt: impl Future<Output = Result<T, EventError>>,
    ) -> Result<T, EventError> {
        match self.policy.startup_wait() {
            None => attempt.await,
            Some(waited) => tokio::time::timeout(waited, attempt)
                .await
                .unwrap_or_else(|_| Err(Error::NoAnswer { step, waited }.into())),
        }
    }
}

/// Retries the registration of `sink` until it succeeds, fails for good, or the backend
/// closes; then settles the sink, which sends (or drops) what it held.
pub(crate) async fn retry_in_background(
    inner: Weak<BackendInner>,
    sink: Weak<KafkaSink>,
    schema: String,
    mut backoff: metrics_core::backoff::Backoff,
) {
    loop {
        let delay: Duration = backoff.next_delay();
        tokio::time::sleep(delay).await;
        let (Some(inner), Some(sink)) = (inner.upgrade(), sink.upgrade()) else {
            return;
        };
        if inner.closed.load(Ordering::Acquire) || !sink.is_pending() {
            return;
        }
        match inner.prepare(&sink, &schema).await {
            Ok(id) => {
                let sent = sink.settle(Settled::Ready(id));
                tracing::info!(event = %sink.event(), subject = %sink.subject_name(), schema_id = id, attempts = backoff.attempts(), sent, "registered event schema after retrying; held events sent");
                return;
            }
            Err(error) if error.is_transient() => {
                if let Some(suppressed) = sink.retry_log().should_log() {
                    tracing::warn!(error = %ErrorChain(&error), event = %sink.event(), attempts = backoff.attempts(), held = sink.held(), suppressed, retry_in = ?delay, "event schema not registered yet; retrying in the background");
                }
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), event = %sink.event(), held = sink.held(), "event schema cannot be registered; its events will be dropped");
                sink.settle(Settled::Failed(Arc::new(error)));
                return;
            }
        }
    }
}
