//! The Schema Registry settings (`SCHEMA_MANAGER_*`) and their rules.

use std::path::PathBuf;
use std::time::Duration;

use metrics_core::config::{ConfigError, Describe, check, parse};
use secrecy::{ExposeSecret, SecretString};

use super::registry_url::{InvalidRegistryUrl, RegistryUrl};

/// A registry URL as set: parsed when set; a problem is reported by the rules.
#[derive(Clone, Debug)]
struct UrlSetting(Result<RegistryUrl, InvalidRegistryUrl>);

metrics_core::settings! {
    /// Where the Schema Registry is and how to talk to it (`SCHEMA_MANAGER_*`).
    ///
    /// ```
    /// use metrics_kafka::config::{RegistryAuth, RegistryConfig};
    ///
    /// let registry = RegistryConfig::builder()
    ///     .url("https://metrics:hunter2@registry.example.org")
    ///     .suffix("_dev")
    ///     .build()?;
    /// assert_eq!(registry.url().unwrap().as_str(), "https://registry.example.org");
    /// assert!(matches!(registry.auth(), Some(RegistryAuth::Basic { .. })));
    /// # Ok::<(), metrics_core::ConfigError>(())
    /// ```
    pub struct RegistryConfig;
    /// Builds a [`RegistryConfig`] from code; [`build`](Self::build) runs the same checks as
    /// the environment loader.
    builder RegistryConfigBuilder;
    values RegistryValues;
    vars registry_vars;

    /// Schema Registry base URL (http:// or https://), credentials in it used as basic auth; unset uses an embedded in-memory registry
    url: Option<UrlSetting> = None;
        env URL = "SCHEMA_MANAGER_REGISTRY_URL";
        parse |s: &str| Ok(Some(UrlSetting(RegistryUrl::parse(s))));
        access {
            set(url: impl AsRef<str>) => Some(UrlSetting(RegistryUrl::parse(url.as_ref())));
            get(v) -> Option<&RegistryUrl> => v.as_ref().and_then(|url| url.0.as_ref().ok());
        }
    /// Suffix appended to every registry subject name (e.g. `_dev`)
    suffix: String = String::new();
        env SUFFIX = "SCHEMA_MANAGER_SUFFIX";
        parse parse::text;
        access { text }
    /// Compatibility level to set on each subject (NONE, BACKWARD, ..., FULL_TRANSITIVE); unset leaves the registry's
    compatibility: Option<CompatibilityLevel> = None;
        env COMPATIBILITY = "SCHEMA_MANAGER_COMPATIBILITY";
        parse parse::some(parse::choice);
        access { some_copy(CompatibilityLevel) }
    /// Registry basic-auth username (with SCHEMA_MANAGER_REGISTRY_PASSWORD)
    username: Option<String> = None;
        env USERNAME = "SCHEMA_MANAGER_REGISTRY_USERNAME";
        parse parse::some(parse::text);
        access { some_text }
    /// Registry basic-auth password (with SCHEMA_MANAGER_REGISTRY_USERNAME)
    password: Option<SecretString> = None;
        env PASSWORD = "SCHEMA_MANAGER_REGISTRY_PASSWORD" [secret];
        parse parse::some(parse::secret);
        access { some_secret }
    /// Registry bearer token; not together with a username and password
    token: Option<SecretString> = None;
        env TOKEN = "SCHEMA_MANAGER_REGISTRY_TOKEN" [secret];
        parse parse::some(parse::secret);
        access { some_secret }
    /// PEM file with the CA certificate of an https:// registry, if not in the system store
    ca_path: Option<PathBuf> = None;
        env CA_PATH = "SCHEMA_MANAGER_REGISTRY_CA_PATH";
        parse parse::some(parse::path);
        access { some_path }
    /// Registry connection timeout
    connect_timeout: Duration = Duration::from_secs(5);
        env CONNECT_TIMEOUT = "SCHEMA_MANAGER_CONNECT_TIMEOUT";
        parse parse::duration;
        access { copy }
    /// Registry request timeout
    request_timeout: Duration = Duration::from_secs(10);
        env REQUEST_TIMEOUT = "SCHEMA_MANAGER_REQUEST_TIMEOUT";
        parse parse::duration;
        access { copy }
    /// Retries of a registry request that failed for a transient reason (outage, timeout, 5xx, 429)
    max_retries: u32 = 3;
        env MAX_RETRIES = "SCHEMA_MANAGER_MAX_RETRIES";
        parse parse::count(0, u64::from(u32::MAX));
        access { copy }
}

impl RegistryConfig {
    /// A builder with every default: the embedded in-memory registry.
    pub fn builder() -> RegistryConfigBuilder {
        RegistryConfigBuilder::default()
    }

    /// Whether a URL is set, valid or not.
    pub(crate) fn url_is_set(&self) -> bool {
        self.values.url.is_some()
    }

    /// The credentials to send: those in the URL (Safir's rule), else the username and
    /// password (basic), else the token (bearer).
    pub fn auth(&self) -> Option<RegistryAuth> {
        if let Some((username, password)) = self.url().and_then(RegistryUrl::credentials) {
            return Some(RegistryAuth::Basic {
                username: username.to_owned(),
                password: password.clone(),
            });
        }
        match (self.username(), self.password(), self.token()) {
            (Some(username), Some(password), _) => Some(RegistryAuth::Basic {
                username: username.to_owned(),
                password: password.clone(),
            }),
            (_, _, Some(token)) => Some(RegistryAuth::Bearer {
                token: token.clone(),
            }),
            _ => None,
        }
    }

    /// The registry subject of event `name` on `topic`: `{topic}.{name}{suffix}`.
    pub fn subject(&self, topic: &str, name: &str) -> String {
        format!("{topic}.{name}{}", self.suffix())
    }
}

impl RegistryConfigBuilder {
    /// `SCHEMA_MANAGER_REGISTRY_USERNAME` and `SCHEMA_MANAGER_REGISTRY_PASSWORD` together.
    pub fn basic_auth(
        self,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.username(username).password(password)
    }

    /// Unsets `SCHEMA_MANAGER_REGISTRY_URL`: use the embedded in-memory registry.
    pub fn embedded_registry(mut self) -> Self {
        self.values.url = None;
        self
    }

    /// Removes the username, password and token (credentials in the URL stay).
    pub fn no_auth(mut self) -> Self {
        self.values.username = None;
        self.values.password = None;
        self.values.token = None;
        self
    }
}

/// Credentials for the Schema Registry. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
pub enum RegistryAuth {
    /// HTTP basic authentication.
    Basic {
        /// The username.
        username: String,
        /// The password; read it with [`ExposeSecret::expose_secret`].
        password: SecretString,
    },
    /// A bearer token.
    Bearer {
        /// The token; read it with [`ExposeSecret::expose_secret`].
        token: SecretString,
    },
}

/// A Schema Registry compatibility level (`SCHEMA_MANAGER_COMPATIBILITY`); the registry's
/// default is Confluent's, `BACKWARD`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
pub enum CompatibilityLevel {
    /// `NONE`: no check.
    None,
    /// `BACKWARD`: the new schema reads data written with the previous one.
    #[default]
    Backward,
    /// `BACKWARD_TRANSITIVE`: the new schema reads data written with every previous one.
    BackwardTransitive,
    /// `FORWARD`: the previous schema reads data written with the new one.
    Forward,
    /// `FORWARD_TRANSITIVE`: every previous schema reads data written with the new one.
    ForwardTransitive,
    /// `FULL`: backward and forward with the previous schema.
    Full,
    /// `FULL_TRANSITIVE`: backward and forward with every previous schema.
    FullTransitive,
}

impl CompatibilityLevel {
    /// The Confluent spelling, as sent in `PUT /config/{subject}`: `NONE`, `BACKWARD`, ...
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a new schema is checked against every registered version, not only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    /// Whether the new schema must read data written with the old one.
    pub fn checks_backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether the old schema must read data written with the new one.
    pub fn checks_forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }
}

metrics_core::describe_with_display!(CompatibilityLevel);

impl Describe for UrlSetting {
    fn describe(&self) -> String {
        match &self.0 {
            Ok(url) => url.to_string(),
            Err(error) => error.shown.clone(),
        }
    }
}

impl RegistryValues {
    fn problems(&self) -> Vec<ConfigError> {
        use registry_vars::*;
        let mut p = Vec::new();
        let url = match self.url.as_ref().map(|url| &url.0) {
            Some(Err(error)) => {
                p.push(ConfigError::invalid(&URL, error.to_string()));
                None
            }
            Some(Ok(url)) => Some(url),
            None => None,
        };
        if !self
            .suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            p.push(ConfigError::invalid(
                &SUFFIX,
                format!(
                    "= {:?} is not valid: use only letters, digits, '_', '-' and '.' (e.g. \"_dev\")",
                    self.suffix
                ),
            ));
        }
        p.extend(check::positive(&CONNECT_TIMEOUT, self.connect_timeout));
        p.extend(check::positive(&REQUEST_TIMEOUT, self.request_timeout));
        self.check_credentials(url, &mut p);
        if let Some(path) = &self.ca_path {
            p.extend(check::readable_file(&CA_PATH, path));
        }
        p
    }

    fn check_credentials(&self, url: Option<&RegistryUrl>, p: &mut Vec<ConfigError>) {
        use registry_vars::*;
        let (user, pass, token) = (
            self.username.is_some(),
            self.password.is_some(),
            self.token.is_some(),
        );
        if (user || pass) && token {
            p.push(ConfigError::combination(
                &[&USERNAME, &PASSWORD, &TOKEN],
                format!(
                    "{} / {} and {} are both set, but the registry takes one kind of credentials: \
                     set either the username and password (basic) or the token (bearer)",
                    USERNAME.label(),
                    PASSWORD.label(),
                    TOKEN.label()
                ),
            ));
        }
        if user != pass {
            let (has, lacks) = if user {
                (&USERNAME, &PASSWORD)
            } else {
                (&PASSWORD, &USERNAME)
            };
            p.push(ConfigError::both_or_neither(
                has,
                lacks,
                "basic authentication (the username and the password)",
            ));
        }
        if url.is_some_and(|url| url.credentials().is_some()) && (user || pass || token) {
            let set: Vec<_> = [(&USERNAME, user), (&PASSWORD, pass), (&TOKEN, token)]
                .into_iter()
                .filter_map(|(var, set)| set.then_some(var))
                .collect();
            let mut vars = vec![&URL];
            vars.extend(&set);
            p.push(ConfigError::combination(
                &vars,
                format!(
                    "{} carries credentials (user:password@, not shown) and {} {} set too: give \
                     the credentials one way, in the URL or in the variables",
                    URL.label(),
                    metrics_core::config::labels(&set),
                    if set.len() == 1 { "is" } else { "are" }
                ),
            ));
        }
        if let Some(username) = &self.username
            && (username.contains(':') || username.chars().any(char::is_control))
        {
            p.push(ConfigError::invalid(
                &USERNAME,
                "contains ':' or a control character, which HTTP basic authentication cannot carry",
            ));
        }
        if let Some(password) = &self.password {
            p.extend(check::no_control_chars_in_secret(
                &PASSWORD,
                password.expose_secret(),
            ));
        }
        if let Some(token) = &self.token
            && token
                .expose_secret()
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            p.push(ConfigError::invalid(
                &TOKEN,
                "contains whitespace or a control character (such as a trailing newline), which \
                 an HTTP header cannot carry: remove it (the value is not shown)",
            ));
        }

        if self.url.is_none() {
            let set: Vec<_> = [
                (&USERNAME, user),
                (&PASSWORD, pass),
                (&TOKEN, token),
                (&CA_PATH, self.ca_path.is_some()),
            ]
            .into_iter()
            .filter_map(|(var, set)| set.then_some(var))
            .collect();
            if !set.is_empty() {
                p.push(ConfigError::ignored(
                    &set,
                    &URL,
                    format_args!(
                        "{} is unset, so the embedded in-memory registry would be used",
                        URL.label()
                    ),
                    format_args!("set {} to your registry's URL", URL.name),
                ));
            }
        } else if let Some(url) = url
            && !url.is_https()
            && self.ca_path.is_some()
        {
            p.push(ConfigError::ignored(
                &[&CA_PATH],
                &URL,
                format_args!("{} is an http:// URL, which does not use TLS", URL.label()),
                "use an https:// URL",
            ));
        }
    }
}
