//! The Schema Registry URL, parsed once with Safir's rule: credentials in its user info
//! (`https://user:password@host`) are basic-auth credentials, kept apart and never shown.

use std::fmt;

use percent_encoding::percent_decode_str;
use reqwest::Url;
use secrecy::SecretString;

use super::address::{check_host, check_port};

/// What a valid registry URL looks like, for messages.
const EXPECTED: &str = "expected http://host[:port][/path] or https://host[:port][/path], e.g. \
                        https://registry.example.org";

/// A Schema Registry base URL: `http(s)://host[:port][/path]`, without a trailing slash.
///
/// Credentials in the URL are taken out: [`Display`](fmt::Display) and `Debug` never show
/// them, and [`credentials`](Self::credentials) hands them to the client as basic auth.
///
/// ```
/// use metrics_kafka::config::RegistryUrl;
/// use secrecy::ExposeSecret;
///
/// let url = RegistryUrl::parse("https://metrics:s%3Acret@registry.example.org/base/")?;
/// assert_eq!(url.to_string(), "https://registry.example.org/base");
/// let (user, password) = url.credentials().unwrap();
/// assert_eq!((user, password.expose_secret()), ("metrics", "s:cret"));
/// # Ok::<(), metrics_kafka::config::InvalidRegistryUrl>(())
/// ```
#[derive(Clone)]
pub struct RegistryUrl {
    base: String,
    https: bool,
    credentials: Option<(String, SecretString)>,
}

/// A registry URL that cannot be used; the message never shows credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("= {shown:?} is not valid: {reason}; {EXPECTED}")]
pub struct InvalidRegistryUrl {
    /// The URL as given, without credentials.
    pub shown: String,
    /// What is wrong.
    pub reason: String,
}

impl RegistryUrl {
    /// Parses and checks `text`.
    ///
    /// # Errors
    ///
    /// A scheme other than http(s), no host, a bad port, a query or fragment, whitespace.
    pub fn parse(text: &str) -> Result<Self, InvalidRegistryUrl> {
        let text = text.trim();
        let invalid = |reason: String| InvalidRegistryUrl {
            shown: redact(text),
            reason,
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains whitespace".to_owned()));
        }
        let mut url = Url::parse(text).map_err(|error| {
            invalid(match error {
                url::ParseError::EmptyHost => "the host is missing".to_owned(),
                url::ParseError::InvalidPort => {
                    "the port is not a number between 1 and 65535".to_owned()
                }
                url::ParseError::RelativeUrlWithoutBase => {
                    "the scheme must be http or https".to_owned()
                }
                other => other.to_string(),
            })
        })?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(invalid("the scheme must be http or https".to_owned())),
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        check_host(&host).map_err(invalid)?;
        if let Some(port) = url.port() {
            check_port(&port.to_string()).map_err(invalid)?;
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "a base URL cannot have a query or fragment".to_owned(),
            ));
        }
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            let username = decode(url.username());
            let password = SecretString::from(decode(url.password().unwrap_or_default()));
            // Cannot fail for an http(s) URL with a host.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some((username, password))
        };
        Ok(Self {
            base: url.as_str().trim_end_matches('/').to_owned(),
            https,
            credentials,
        })
    }

    /// The URL without credentials and without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// Whether the registry is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The basic-auth username and password given in the URL, if any.
    pub fn credentials(&self) -> Option<(&str, &SecretString)> {
        self.credentials.as_ref().map(|(u, p)| (u.as_str(), p))
    }
}

impl fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl fmt::Debug for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryUrl")
            .field("base", &self.base)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// `url` with any `user:password@` removed, for messages (works on unparsable input too).
pub(crate) fn redact(url: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn trailing_slashes_are_dropped() {
        let url = RegistryUrl::parse("https://roundtable.example.org/schema-registry/").unwrap();
        assert_eq!(
            url.as_str(),
            "https://roundtable.example.org/schema-registry"
        );
        assert!(url.is_https());
        let url = RegistryUrl::parse(" http://127.0.0.1:8081 ").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8081");
        assert!(!url.is_https());
    }

    #[test]
    fn credentials_become_basic_auth_and_are_never_shown() {
        let url = RegistryUrl::parse("https://alice:hunter2@reg.example/prefix/").unwrap();
        assert_eq!(url.to_string(), "https://reg.example/prefix");
        assert!(!format!("{url:?}").contains("hunter2"));
        let (user, password) = url.credentials().unwrap();
        assert_eq!(user, "alice");
        assert_eq!(password.expose_secret(), "hunter2");
    }

    #[test]
    fn bad_urls_say_why() {
        for (text, why) in [
            ("ftp://registry", "scheme must be http or https"),
            ("registry:8081", "scheme must be http or https"),
            ("https://", "host is missing"),
            ("https://registry:port", "between 1 and 65535"),
            ("https://registry:0", "between 1 and 65535"),
            ("https://registry/?x=1", "query or fragment"),
            ("https://reg istry", "whitespace"),
        ] {
            let err = RegistryUrl::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains("http://host"), "{text}: {err}");
        }
    }

    #[test]
    fn errors_never_show_credentials() {
        let err = RegistryUrl::parse("ftp://bob:hunter2@registry").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(err.shown, "ftp://registry");
    }

    #[test]
    fn redaction_works_on_anything() {
        assert_eq!(redact("https://u:p@host:8081/reg"), "https://host:8081/reg");
        assert_eq!(redact("u:p@host/x@y"), "host/x@y");
        assert_eq!(redact("http://host/a@b"), "http://host/a@b");
    }
}
