//! Requests to the registry: one HTTP exchange, its answer or failure mapped to a
//! [`RegistryError`], and retries with backoff for what [`RegistryError::kind`] says is
//! transient (5xx, 429, timeouts, connection failures), never for other answers.

use std::fmt;
use std::time::Duration;

use metrics_core::ErrorChain;
use metrics_core::backoff::Backoff;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{RegistryAuth, RegistryError};
use crate::config::{RegistryConfig, RegistryUrl};

/// The media type of Schema Registry requests.
const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";
/// What we accept in answers.
const ACCEPT_V1: &str = "application/vnd.schemaregistry.v1+json, application/json";
/// First delay between retries; doubled on each retry.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest delay between retries.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How much of a non-JSON body an error shows.
const SNIPPET_CHARS: usize = 200;

/// What a request is about, for messages.
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    /// A subject.
    Subject(&'a str),
    /// A schema id.
    Id(u32),
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subject(subject) => write!(f, "subject '{subject}'"),
            Self::Id(id) => write!(f, "schema id {id}"),
        }
    }
}

/// Confluent's error body.
#[derive(Deserialize)]
struct ErrorBody {
    error_code: Option<i64>,
    message: Option<String>,
}

/// The HTTP side of a registry client: a reqwest client, the base URL, credentials and
/// the retry settings.
pub(super) struct Transport {
    client: reqwest::Client,
    /// Base URL without credentials and without a trailing slash.
    pub(super) base: String,
    pub(super) auth: Option<RegistryAuth>,
    pub(super) request_timeout: Duration,
    pub(super) max_retries: u32,
}

/// The answer to a request that reached the registry.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Transport {
    pub(super) fn new(url: &RegistryUrl, config: &RegistryConfig) -> Result<Self, RegistryError> {
        let base = url.as_str().to_owned();
        let tls = super::tls::client_config(config.ca_path(), &base)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(config.connect_timeout())
            .timeout(config.request_timeout())
            .user_agent(concat!("app-metrics/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| RegistryError::Client {
                registry: base.clone(),
                reason: ErrorChain(&error).to_string(),
            })?;
        Ok(Self {
            client,
            base,
            auth: config.auth(),
            request_timeout: config.request_timeout(),
            max_retries: config.max_retries(),
        })
    }

    /// Sends one request, retrying transient failures, and decodes the successful answer
    /// (an empty body decodes as JSON `null`).
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        target: Target<'_>,
    ) -> Result<T, RegistryError> {
        let url = Url::parse(&format!("{}{path}", self.base)).map_err(|error| {
            RegistryError::Request {
                target: target.to_string(),
                registry: self.base.clone(),
                reason: format!("cannot build the request URL: {error}"),
            }
        })?;
        let body = body.map(serde_json::Value::to_string);
        let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            tracing::debug!(registry = %self.base, %method, path, attempt, "schema registry request");
            let error = match self.send(method.clone(), url.clone(), body.clone()).await {
                Ok(answer) if answer.status.is_success() => return self.decode(&answer, target),
                Ok(answer) => self.error_from(&answer, target, attempt),
                Err(error) => self.transport_error(&error, target, attempt),
            };
            let retry = error.kind().is_transient() && attempt <= self.max_retries;
            tracing::debug!(registry = %self.base, attempt, retry, error = %error, "schema registry request failed");
            if !retry {
                return Err(error);
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// One HTTP exchange, body read included.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<String>,
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self.client.request(method, url).header(ACCEPT, ACCEPT_V1);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, CONTENT_TYPE_V1).body(body);
        }
        request = match &self.auth {
            None => request,
            Some(RegistryAuth::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            Some(RegistryAuth::Bearer { token }) => request.bearer_auth(token.expose_secret()),
        };
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?.to_vec();
        Ok(Answer { status, body })
    }

    /// The decoded body of a successful answer.
    fn decode<T: DeserializeOwned>(
        &self,
        answer: &Answer,
        target: Target<'_>,
    ) -> Result<T, RegistryError> {
        let json: serde_json::Value = if answer.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&answer.body).map_err(|_| RegistryError::NonJsonBody {
                target: target.to_string(),
                registry: self.base.clone(),
                status: answer.status.as_u16(),
                snippet: snippet(&answer.body),
            })?
        };
        T::deserialize(&json)
            .map_err(|error| self.unexpected(target, format!("{error} in the answer {json}")))
    }

    /// Maps an error answer to a [`RegistryError`].
    fn error_from(&self, answer: &Answer, target: Target<'_>, attempts: u32) -> RegistryError {
        let status = answer.status.as_u16();
        let registry = self.base.clone();
        let json: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
        let parsed: Option<ErrorBody> = json
            .as_ref()
            .filter(|v| v.is_object())
            .and_then(|v| ErrorBody::deserialize(v).ok());
        let error_code = parsed.as_ref().and_then(|p| p.error_code);
        let message = parsed.as_ref().and_then(|p| p.message.clone());

        if matches!(status, 401 | 403) {
            return RegistryError::Unauthorized {
                target: target.to_string(),
                registry,
                status,
                message: message.unwrap_or_else(|| snippet(&answer.body)),
            };
        }
        let Some(json) = json.filter(serde_json::Value::is_object) else {
            return RegistryError::NonJsonBody {
                target: target.to_string(),
                registry,
                status,
                snippet: snippet(&answer.body),
            };
        };
        let message = message.unwrap_or_else(|| json.to_string());
        match (target, error_code, status) {
            (Target::Subject(subject), Some(40401), _) => RegistryError::SubjectNotFound {
                subject: subject.to_owned(),
                registry,
            },
            (Target::Subject(subject), Some(40402), _) => RegistryError::VersionNotFound {
                subject: subject.to_owned(),
                registry,
            },
            (Target::Id(id), Some(40403), _) | (Target::Id(id), _, 404) => {
                RegistryError::SchemaNotFound { id, registry }
            }
            (Target::Subject(subject), Some(42203), _) => {
                RegistryError::InvalidCompatibilityLevel {
                    subject: subject.to_owned(),
                    registry,
                    message,
                }
            }
            (Target::Subject(subject), _, 409) => RegistryError::Incompatible {
                subject: subject.to_owned(),
                registry,
                messages: vec![message],
            },
            (Target::Subject(subject), None | Some(422 | 42201), 422) => {
                RegistryError::InvalidSchema {
                    subject: subject.to_owned(),
                    registry,
                    message,
                }
            }
            (_, _, 500..=599) => RegistryError::Server {
                target: target.to_string(),
                registry,
                status,
                message,
                attempts,
            },
            _ => RegistryError::Status {
                target: target.to_string(),
                registry,
                status,
                error_code,
                message,
            },
        }
    }

    /// Maps a transport failure to a [`RegistryError`].
    fn transport_error(
        &self,
        error: &reqwest::Error,
        target: Target<'_>,
        attempts: u32,
    ) -> RegistryError {
        let (target, registry) = (target.to_string(), self.base.clone());
        if error.is_timeout() {
            RegistryError::Timeout {
                target,
                registry,
                timeout: self.request_timeout,
                attempts,
            }
        } else if error.is_connect() {
            RegistryError::Connect {
                target,
                registry,
                attempts,
                reason: ErrorChain(error).to_string(),
            }
        } else {
            RegistryError::Request {
                target,
                registry,
                reason: ErrorChain(error).to_string(),
            }
        }
    }

    /// A [`RegistryError::UnexpectedResponse`].
    pub(super) fn unexpected(&self, target: Target<'_>, reason: String) -> RegistryError {
        RegistryError::UnexpectedResponse {
            target: target.to_string(),
            registry: self.base.clone(),
            reason,
        }
    }
}

/// The start of a body, for messages: at most [`SNIPPET_CHARS`] characters, blanks
/// collapsed.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut count = 0;
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
            count += 1;
        }
        for c in word.chars() {
            if count == SNIPPET_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_is_cut_at_200_characters() {
        let body = format!("<html>\n  {}</html>", "x".repeat(500));
        let snippet = snippet(body.as_bytes());
        assert_eq!(snippet.chars().count(), SNIPPET_CHARS + 1);
        assert!(snippet.starts_with("<html> xxx"));
        assert!(snippet.ends_with('…'));
        assert_eq!(super::snippet(b"  "), "(empty body)");
    }
}
