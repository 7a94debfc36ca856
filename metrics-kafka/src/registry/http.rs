//! The HTTP client of a Confluent-compatible Schema Registry (reqwest + rustls with ring).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::compat::error_chain;
use super::{Compatibility, CompatibilityLevel, RegistryAuth, RegistryError, SchemaRegistry};

/// The media type of Schema Registry requests.
const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";
/// What we accept in answers.
const ACCEPT_V1: &str = "application/vnd.schemaregistry.v1+json, application/json";
/// Characters kept as they are in path segments (RFC 3986 unreserved); all others are
/// percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// First delay between retries; doubled on each retry.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest delay between retries.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How much of a non-JSON body an error shows.
const SNIPPET_CHARS: usize = 200;

/// Settings of an [`HttpSchemaRegistry`].
#[derive(Clone)]
pub struct HttpRegistryConfig {
    /// Base URL of the registry (`http://` or `https://`, may have a path prefix).
    pub url: String,
    /// Authentication, if any (credentials in the URL are used as basic auth).
    pub auth: Option<RegistryAuth>,
    /// A PEM file of CA certificates trusted in addition to the system's roots.
    pub ca_path: Option<PathBuf>,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for a whole request, answer included.
    pub request_timeout: Duration,
    /// How many times a request is retried after a 5xx, 429, connection error or timeout.
    pub max_retries: u32,
}

impl HttpRegistryConfig {
    /// Settings for `url` with no authentication, no extra CA, a 5 s connect timeout, a
    /// 10 s request timeout and 3 retries.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: None,
            ca_path: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_retries: 3,
        }
    }
}

impl fmt::Debug for HttpRegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRegistryConfig")
            .field("url", &redact_url(&self.url))
            .field("auth", &self.auth)
            .field("ca_path", &self.ca_path)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// What a request is about, for messages.
#[derive(Clone, Copy)]
enum Target<'a> {
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

impl Target<'_> {
    /// The subject, or an empty string, for log fields.
    fn subject(&self) -> &str {
        match self {
            Self::Subject(subject) => subject,
            Self::Id(_) => "",
        }
    }
}

/// Schema ids this client has seen: subject → schema text → id, and id → schema text.
#[derive(Default)]
struct Cache {
    ids: RwLock<HashMap<String, HashMap<String, u32>>>,
    schemas: RwLock<HashMap<u32, Arc<str>>>,
}

impl Cache {
    fn id(&self, subject: &str, schema: &str) -> Option<u32> {
        let ids = self.ids.read().unwrap_or_else(PoisonError::into_inner);
        ids.get(subject)?.get(schema).copied()
    }

    fn schema(&self, id: u32) -> Option<Arc<str>> {
        let schemas = self.schemas.read().unwrap_or_else(PoisonError::into_inner);
        schemas.get(&id).cloned()
    }

    fn insert(&self, subject: &str, schema: &str, id: u32) {
        self.ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(subject.to_owned())
            .or_default()
            .insert(schema.to_owned(), id);
        self.insert_schema(id, schema);
    }

    fn insert_schema(&self, id: u32, schema: &str) {
        self.schemas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_insert_with(|| Arc::from(schema));
    }

    fn len(&self) -> usize {
        self.schemas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A Confluent-compatible Schema Registry reached over HTTP(S).
///
/// TLS is rustls with the ring provider, given to the client explicitly (no process-wide
/// default is installed), trusting the system's roots (rustls-native-certs, which honours
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus the optional CA file. Requests are retried with
/// exponential backoff on 5xx, 429, connection errors and timeouts, never on other 4xx.
/// Registered ids and fetched schemas are cached.
pub struct HttpSchemaRegistry {
    client: reqwest::Client,
    /// Base URL without credentials and without a trailing slash.
    base: String,
    auth: Option<RegistryAuth>,
    request_timeout: Duration,
    max_retries: u32,
    cache: Cache,
}

impl fmt::Debug for HttpSchemaRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSchemaRegistry")
            .field("url", &self.base)
            .field("auth", &self.auth)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("cached_schemas", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// The answer to a request that reached the registry.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl HttpSchemaRegistry {
    /// A client for the registry described by `config`.
    ///
    /// Fails with [`RegistryError::InvalidUrl`] for a URL that is not `http(s)://host...`
    /// (or has credentials both in the URL and in `auth`), with
    /// [`RegistryError::CaCertificate`] for a CA file that cannot be read or holds no
    /// certificate, and with [`RegistryError::Client`] if TLS cannot be set up.
    pub fn new(config: HttpRegistryConfig) -> Result<Self, RegistryError> {
        let (base, auth) = parse_base_url(&config.url, config.auth)?;
        let tls = tls_config(config.ca_path.as_deref(), &base)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("app-metrics/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| RegistryError::Client {
                registry: base.clone(),
                reason: error_chain(&error),
            })?;
        tracing::debug!(registry = %base, "schema registry client ready");
        Ok(Self {
            client,
            base,
            auth,
            request_timeout: config.request_timeout,
            max_retries: config.max_retries,
            cache: Cache::default(),
        })
    }

    /// The registry's base URL, without credentials.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `{base}/{segments...}` with each segment given already encoded.
    fn endpoint(&self, path: &str, target: Target<'_>) -> Result<Url, RegistryError> {
        Url::parse(&format!("{}{path}", self.base)).map_err(|error| RegistryError::Request {
            target: target.to_string(),
            registry: self.base.clone(),
            reason: format!("cannot build the request URL: {error}"),
        })
    }

    /// Sends one request, retrying as configured, and returns the successful answer's
    /// JSON (`Null` for an empty body) or the mapped error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        target: Target<'_>,
    ) -> Result<Value, RegistryError> {
        let url = self.endpoint(path, target)?;
        let body = body.map(Value::to_string);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let retries_left = attempt <= self.max_retries;
            tracing::debug!(
                subject = target.subject(),
                registry = %self.base,
                %method,
                path,
                attempt,
                "schema registry request"
            );
            match self.send(method.clone(), url.clone(), body.clone()).await {
                Ok(answer) if answer.status.is_success() => {
                    return self.parse_success(&answer, target);
                }
                Ok(answer) => {
                    let retryable = answer.status.is_server_error()
                        || answer.status == StatusCode::TOO_MANY_REQUESTS;
                    tracing::debug!(
                        subject = target.subject(),
                        registry = %self.base,
                        status = answer.status.as_u16(),
                        attempt,
                        retryable,
                        "schema registry answered with an error"
                    );
                    if !(retryable && retries_left) {
                        return Err(self.error_from(&answer, target, attempt));
                    }
                }
                Err(error) => {
                    let retryable = error.is_timeout() || error.is_connect();
                    tracing::debug!(
                        subject = target.subject(),
                        registry = %self.base,
                        attempt,
                        retryable,
                        error = %error_chain(&error),
                        "schema registry request failed"
                    );
                    if !(retryable && retries_left) {
                        return Err(self.transport_error(&error, target, attempt));
                    }
                }
            }
            tokio::time::sleep(backoff(attempt)).await;
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

    /// The JSON of a successful answer.
    fn parse_success(&self, answer: &Answer, target: Target<'_>) -> Result<Value, RegistryError> {
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer.body).map_err(|_| RegistryError::NonJsonBody {
            target: target.to_string(),
            registry: self.base.clone(),
            status: answer.status.as_u16(),
            snippet: snippet(&answer.body),
        })
    }

    /// Maps an error answer to a [`RegistryError`].
    fn error_from(&self, answer: &Answer, target: Target<'_>, attempts: u32) -> RegistryError {
        let status = answer.status.as_u16();
        let registry = self.base.clone();
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let error_code = parsed
            .as_ref()
            .and_then(|v| v.get("error_code"))
            .and_then(Value::as_i64);
        let message = parsed
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned);

        if matches!(status, 401 | 403) {
            return RegistryError::Unauthorized {
                target: target.to_string(),
                registry,
                status,
                message: message.unwrap_or_else(|| snippet(&answer.body)),
            };
        }
        let Some(parsed) = parsed.filter(Value::is_object) else {
            return RegistryError::NonJsonBody {
                target: target.to_string(),
                registry,
                status,
                snippet: snippet(&answer.body),
            };
        };
        let message = message.unwrap_or_else(|| parsed.to_string());
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
        if error.is_timeout() {
            RegistryError::Timeout {
                target: target.to_string(),
                registry: self.base.clone(),
                timeout: self.request_timeout,
                attempts,
            }
        } else if error.is_connect() {
            RegistryError::Connect {
                target: target.to_string(),
                registry: self.base.clone(),
                attempts,
                reason: error_chain(error),
            }
        } else {
            RegistryError::Request {
                target: target.to_string(),
                registry: self.base.clone(),
                reason: error_chain(error),
            }
        }
    }

    /// An [`RegistryError::UnexpectedResponse`].
    fn unexpected(&self, target: Target<'_>, reason: String) -> RegistryError {
        RegistryError::UnexpectedResponse {
            target: target.to_string(),
            registry: self.base.clone(),
            reason,
        }
    }
}

#[async_trait]
impl SchemaRegistry for HttpSchemaRegistry {
    fn location(&self) -> &str {
        &self.base
    }

    async fn set_compatibility(
        &self,
        subject: &str,
        level: CompatibilityLevel,
    ) -> Result<(), RegistryError> {
        let target = Target::Subject(subject);
        let path = format!("/config/{}", encode(subject));
        let body = json!({ "compatibility": level.as_str() });
        let answer = self.call(Method::PUT, &path, Some(&body), target).await?;
        // Confluent echoes `compatibility`; some registries say `compatibilityLevel`.
        let echoed = answer
            .get("compatibility")
            .or_else(|| answer.get("compatibilityLevel"))
            .and_then(Value::as_str);
        if let Some(echoed) = echoed
            && !echoed.eq_ignore_ascii_case(level.as_str())
        {
            return Err(self.unexpected(
                target,
                format!("asked for compatibility {level}, the registry answered {echoed}"),
            ));
        }
        tracing::debug!(subject, registry = %self.base, %level, "compatibility level set");
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
        let answer = match self.call(Method::POST, &path, Some(&body), target).await {
            Ok(answer) => answer,
            Err(RegistryError::SubjectNotFound { .. } | RegistryError::VersionNotFound { .. }) => {
                tracing::debug!(subject, registry = %self.base, "new subject: nothing to compare");
                return Ok(Compatibility::Compatible);
            }
            Err(error) => return Err(error),
        };
        let is_compatible = answer
            .get("is_compatible")
            .and_then(Value::as_bool)
            .ok_or_else(|| {
                self.unexpected(
                    target,
                    format!("expected {{\"is_compatible\": true|false}}, got {answer}"),
                )
            })?;
        if is_compatible {
            return Ok(Compatibility::Compatible);
        }
        let messages = answer
            .get("messages")
            .and_then(Value::as_array)
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Compatibility::Incompatible { messages })
    }

    async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        if let Some(id) = self.cache.id(subject, schema) {
            return Ok(id);
        }
        let target = Target::Subject(subject);
        let path = format!("/subjects/{}/versions", encode(subject));
        let body = json!({ "schema": schema });
        let answer = self.call(Method::POST, &path, Some(&body), target).await?;
        let id = answer
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| {
                self.unexpected(
                    target,
                    format!("expected {{\"id\": <schema id>}}, got {answer}"),
                )
            })?;
        self.cache.insert(subject, schema, id);
        tracing::debug!(subject, registry = %self.base, id, "schema registered");
        Ok(id)
    }

    async fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        if let Some(schema) = self.cache.schema(id) {
            return Ok(schema.to_string());
        }
        let target = Target::Id(id);
        let answer = self
            .call(Method::GET, &format!("/schemas/ids/{id}"), None, target)
            .await?;
        if let Some(kind) = answer.get("schemaType").and_then(Value::as_str)
            && !kind.eq_ignore_ascii_case("AVRO")
        {
            return Err(self.unexpected(target, format!("the schema is {kind}, not AVRO")));
        }
        let schema = answer
            .get("schema")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                self.unexpected(
                    target,
                    format!("expected {{\"schema\": \"...\"}}, got {answer}"),
                )
            })?;
        self.cache.insert_schema(id, schema);
        Ok(schema.to_owned())
    }

    async fn latest_schema(&self, subject: &str) -> Result<Option<String>, RegistryError> {
        let target = Target::Subject(subject);
        let path = format!("/subjects/{}/versions/latest", encode(subject));
        match self.call(Method::GET, &path, None, target).await {
            Ok(answer) => answer
                .get("schema")
                .and_then(Value::as_str)
                .map(|schema| Some(schema.to_owned()))
                .ok_or_else(|| {
                    self.unexpected(
                        target,
                        format!("expected {{\"schema\": \"...\"}}, got {answer}"),
                    )
                }),
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

/// The delay before retry number `attempt` (1-based): 100 ms doubling, at most 2 s.
fn backoff(attempt: u32) -> Duration {
    let factor = 1_u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    BACKOFF_START.saturating_mul(factor).min(BACKOFF_MAX)
}

/// The start of a body, for messages: at most [`SNIPPET_CHARS`] characters, blanks
/// collapsed.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut words = text.split_whitespace();
    let mut out = String::new();
    let mut count = 0;
    for word in words.by_ref() {
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

/// `url` with any `user:password@` removed, for messages (works on unparsable input too).
fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest.to_owned(),
    }
}

/// Validates the registry URL and returns it without credentials or trailing slash, and
/// the authentication to use (credentials in the URL become basic auth).
fn parse_base_url(
    raw: &str,
    auth: Option<RegistryAuth>,
) -> Result<(String, Option<RegistryAuth>), RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidUrl {
        url: redact_url(raw.trim()),
        reason: reason.to_owned(),
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(
            "the URL is empty; set SCHEMA_MANAGER_REGISTRY_URL (e.g. http://127.0.0.1:8081)",
        ));
    }
    let mut url = Url::parse(trimmed).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(&format!(
            "the scheme must be http or https, not '{}'",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or a fragment"));
    }
    let auth = if url.username().is_empty() && url.password().is_none() {
        auth
    } else {
        if auth.is_some() {
            return Err(invalid(
                "credentials are given both in the URL and as registry authentication; keep one",
            ));
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let username = decode(url.username());
        let password = SecretString::from(decode(url.password().unwrap_or_default()));
        // Cannot fail for http(s) URLs with a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Some(RegistryAuth::Basic { username, password })
    };
    let base = url.as_str().trim_end_matches('/').to_owned();
    Ok((base, auth))
}

/// The rustls configuration: ring provider, system roots plus the optional CA file.
fn tls_config(
    ca_path: Option<&Path>,
    registry: &str,
) -> Result<rustls::ClientConfig, RegistryError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(registry, %error, "cannot load some system CA certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(registry, added, ignored, "system CA certificates loaded");

    if let Some(path) = ca_path {
        let ca_error = |reason: String| RegistryError::CaCertificate {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|error| ca_error(error.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ca_error(format!("not a valid PEM file: {error}")))?;
        if certs.is_empty() {
            return Err(ca_error(
                "no '-----BEGIN CERTIFICATE-----' block found; expected PEM CA certificates"
                    .to_owned(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|error| ca_error(format!("not a usable CA certificate: {error}")))?;
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| RegistryError::Client {
            registry: registry.to_owned(),
            reason: format!("TLS set-up failed: {error}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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

    #[test]
    fn backoff_doubles_from_100ms_and_caps_at_2s() {
        let delays: Vec<u128> = (1..=7).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn snippet_is_cut_at_200_characters() {
        let body = format!("<html>\n  {}</html>", "x".repeat(500));
        let snippet = snippet(body.as_bytes());
        assert_eq!(snippet.chars().count(), SNIPPET_CHARS + 1);
        assert!(snippet.starts_with("<html> xxx"));
        assert!(snippet.ends_with('…'));
    }

    #[test]
    fn credentials_are_removed_from_urls() {
        assert_eq!(
            redact_url("https://u:p@host:8081/reg"),
            "https://host:8081/reg"
        );
        assert_eq!(redact_url("u:p@host/x@y"), "host/x@y");
        assert_eq!(redact_url("http://host/a@b"), "http://host/a@b");
    }

    #[test]
    fn url_credentials_become_basic_auth() {
        let (base, auth) =
            parse_base_url("https://alice:s%3Acret@reg.example/prefix/", None).unwrap();
        assert_eq!(base, "https://reg.example/prefix");
        let Some(RegistryAuth::Basic { username, password }) = auth else {
            panic!("expected basic auth, got {auth:?}");
        };
        assert_eq!(username, "alice");
        assert_eq!(password.expose_secret(), "s:cret");
    }
}
