//! Errors of the Schema Registry clients.

use std::path::PathBuf;
use std::time::Duration;

use metrics_core::ErrorKind;

/// Environment variables that hold the registry credentials, named in authorisation errors.
const CREDENTIALS_HINT: &str = "check SCHEMA_MANAGER_REGISTRY_USERNAME and \
     SCHEMA_MANAGER_REGISTRY_PASSWORD (basic auth) or SCHEMA_MANAGER_REGISTRY_TOKEN (bearer)";

/// Everything that can go wrong talking to a Schema Registry.
///
/// `registry` is the registry's URL without credentials (or the name of an in-process
/// registry); `target` says what the request was about (`subject 'x'` or `schema id 5`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry URL cannot be used.
    #[error("invalid schema registry URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL as given, without credentials.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The custom CA certificate file cannot be read or holds no usable certificate.
    #[error("cannot use the schema registry CA certificate file '{}': {reason}", path.display())]
    CaCertificate {
        /// The file given as the CA.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The HTTP client (TLS set-up included) cannot be built.
    #[error("cannot build the HTTP client for schema registry {registry}: {reason}")]
    Client {
        /// The registry URL.
        registry: String,
        /// Why.
        reason: String,
    },

    /// The subject does not exist (Confluent error 40401).
    #[error("subject '{subject}' not found in schema registry {registry} (error 40401)")]
    SubjectNotFound {
        /// The subject asked for.
        subject: String,
        /// The registry URL.
        registry: String,
    },

    /// The subject has no such version (Confluent error 40402).
    #[error("subject '{subject}' has no such version in schema registry {registry} (error 40402)")]
    VersionNotFound {
        /// The subject asked for.
        subject: String,
        /// The registry URL.
        registry: String,
    },

    /// No schema has this id (Confluent error 40403).
    #[error("schema id {id} not found in schema registry {registry} (error 40403)")]
    SchemaNotFound {
        /// The id asked for.
        id: u32,
        /// The registry URL.
        registry: String,
    },

    /// The schema breaks the subject's compatibility level (HTTP 409, or the registry
    /// answered `is_compatible: false`).
    #[error(
        "the schema for subject '{subject}' is incompatible with the versions registered in \
         schema registry {registry}: {}; make the change compatible (e.g. give new fields a \
         default) or relax the subject's compatibility level",
        messages.join("; ")
    )]
    Incompatible {
        /// The subject.
        subject: String,
        /// The registry URL.
        registry: String,
        /// What is incompatible, field by field when known.
        messages: Vec<String>,
    },

    /// The registry rejected the schema as invalid (HTTP 422, error 42201).
    #[error(
        "schema registry {registry} rejected the schema for subject '{subject}' as invalid: {message}"
    )]
    InvalidSchema {
        /// The subject.
        subject: String,
        /// The registry URL.
        registry: String,
        /// The registry's (or the parser's) explanation.
        message: String,
    },

    /// The registry rejected the compatibility level (error 42203).
    #[error(
        "schema registry {registry} rejected the compatibility level for subject '{subject}': \
         {message}"
    )]
    InvalidCompatibilityLevel {
        /// The subject.
        subject: String,
        /// The registry URL.
        registry: String,
        /// The registry's explanation.
        message: String,
    },

    /// The registry refused the credentials (HTTP 401 or 403).
    #[error(
        "schema registry {registry} refused the request for {target} (HTTP {status}): {message}; {CREDENTIALS_HINT}"
    )]
    Unauthorized {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// 401 or 403.
        status: u16,
        /// The registry's explanation.
        message: String,
    },

    /// The registry failed (HTTP 5xx) on every attempt.
    #[error(
        "schema registry {registry} failed on {target} with HTTP {status} after {attempts} attempt(s): {message}"
    )]
    Server {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// The last HTTP status.
        status: u16,
        /// The registry's explanation.
        message: String,
        /// How many requests were sent.
        attempts: u32,
    },

    /// Any other error status (rate limiting after the retries, an unexpected 4xx, ...).
    #[error("schema registry {registry} answered {target} with HTTP {status}{}: {message}", error_code.map(|c| format!(" (error code {c})")).unwrap_or_default())]
    Status {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// The HTTP status.
        status: u16,
        /// Confluent's `error_code`, if the body had one.
        error_code: Option<i64>,
        /// The registry's explanation.
        message: String,
    },

    /// The registry (or a proxy in front of it) answered with a body that is not JSON.
    #[error(
        "schema registry {registry} answered {target} with HTTP {status} and a non-JSON body (is the URL right, or is a proxy in the way?): {snippet}"
    )]
    NonJsonBody {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body (at most about 200 characters).
        snippet: String,
    },

    /// No answer within the request timeout on any attempt.
    #[error(
        "schema registry {registry} did not answer the request for {target} in time ({attempts} attempt(s), request timeout {timeout:?})"
    )]
    Timeout {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// The configured request timeout.
        timeout: Duration,
        /// How many requests were sent.
        attempts: u32,
    },

    /// The registry could not be reached on any attempt.
    #[error(
        "cannot reach schema registry {registry} for {target} after {attempts} attempt(s): {reason}"
    )]
    Connect {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// How many connections were tried.
        attempts: u32,
        /// The transport error.
        reason: String,
    },

    /// The request failed for another transport reason (not retried).
    #[error("request to schema registry {registry} for {target} failed: {reason}")]
    Request {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// The transport error.
        reason: String,
    },

    /// A successful answer that does not have the expected shape.
    #[error("unexpected answer from schema registry {registry} for {target}: {reason}")]
    UnexpectedResponse {
        /// What the request was about.
        target: String,
        /// The registry URL.
        registry: String,
        /// What was expected and what came.
        reason: String,
    },
}

impl RegistryError {
    /// The kind of failure: an outage, a timeout, rate limiting or a proxy's error page is
    /// [`ErrorKind::Unavailable`] (retried); a refused schema is [`ErrorKind::Schema`];
    /// bad credentials, a bad URL or CA file, or an answer that makes no sense is
    /// [`ErrorKind::Setup`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Server { .. }
            | Self::Timeout { .. }
            | Self::Connect { .. }
            | Self::Request { .. } => ErrorKind::Unavailable,
            Self::NonJsonBody { status, .. } | Self::Status { status, .. }
                if *status == 429 || *status >= 500 =>
            {
                ErrorKind::Unavailable
            }
            Self::Incompatible { .. }
            | Self::InvalidSchema { .. }
            | Self::SubjectNotFound { .. }
            | Self::VersionNotFound { .. }
            | Self::SchemaNotFound { .. } => ErrorKind::Schema,
            _ => ErrorKind::Setup,
        }
    }

    /// Whether the same request may succeed later (see [`kind`](Self::kind)).
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }
}
