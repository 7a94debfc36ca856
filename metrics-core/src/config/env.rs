//! Reads environment variables for the settings groups, collecting every parse problem.

use super::{ConfigError, EnvVar};

/// A variable's value is not valid Unicode.
#[derive(Debug)]
pub struct NotUnicode;

type Lookup<'a> = Box<dyn Fn(&str) -> Result<Option<String>, NotUnicode> + 'a>;

/// The environment the settings are read from: the process's, or a lookup function in
/// tests. Parse problems of every group are collected here and reported together by
/// [`finish`](Self::finish).
pub struct Env<'a> {
    lookup: Lookup<'a>,
    problems: Vec<ConfigError>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("problems", &self.problems.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Env<'a> {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|name| match std::env::var(name) {
                Ok(value) => Ok(Some(value)),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => Err(NotUnicode),
            }),
            problems: Vec::new(),
        }
    }

    /// Variables read through `lookup`, which returns a value or `None` when unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self::from_fallible_lookup(move |name| Ok(lookup(name)))
    }

    /// Variables read through `lookup`, which may also say a value is not Unicode.
    pub fn from_fallible_lookup(
        lookup: impl Fn(&str) -> Result<Option<String>, NotUnicode> + 'a,
    ) -> Self {
        Self {
            lookup: Box::new(lookup),
            problems: Vec::new(),
        }
    }

    /// The value of `var`, trimmed unless it is a secret; empty counts as unset. A required
    /// variable that is unset is recorded as missing.
    pub fn raw(&mut self, var: &EnvVar) -> Option<String> {
        let value = match (self.lookup)(var.name) {
            Err(NotUnicode) => {
                self.problems
                    .push(ConfigError::NotUnicode { var: var.name });
                return None;
            }
            Ok(None) => None,
            Ok(Some(value)) if var.sensitive => Some(value),
            Ok(Some(value)) => Some(value.trim().to_owned()),
        };
        let value = value.filter(|v| !v.is_empty());
        if value.is_none() && var.required {
            self.problems.push(ConfigError::Missing {
                var: var.name,
                hint: var.description,
            });
        }
        value
    }

    /// The value of `var` parsed by `parse` (which says what it expected on failure), or
    /// `None` when unset or invalid; a secret is never echoed in the problem.
    pub fn read<T>(
        &mut self,
        var: &EnvVar,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(var)?;
        match parse(&raw) {
            Ok(value) => Some(value),
            Err(expected) if var.sensitive => {
                self.problems.push(ConfigError::InvalidSensitiveValue {
                    var: var.name,
                    reason: expected,
                });
                None
            }
            Err(expected) => {
                self.problems.push(ConfigError::InvalidValue {
                    var: var.name,
                    value: raw,
                    expected,
                });
                None
            }
        }
    }

    /// Every parse problem of every group read so far.
    ///
    /// # Errors
    ///
    /// One error, or [`ConfigError::Several`], when any value could not be read.
    pub fn finish(self) -> Result<(), ConfigError> {
        ConfigError::check(self.problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const PLAIN: EnvVar = EnvVar::test("PLAIN_VAR", "plain");
    const SECRET: EnvVar = EnvVar {
        sensitive: true,
        ..EnvVar::test("SECRET_VAR", "secret")
    };
    const REQUIRED: EnvVar = EnvVar {
        required: true,
        ..EnvVar::test("REQUIRED_VAR", "required")
    };

    fn env(vars: &'static [(&'static str, &'static str)]) -> Env<'static> {
        Env::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn values_are_trimmed_and_empty_is_unset() {
        let mut e = env(&[("PLAIN_VAR", "  x  "), ("SECRET_VAR", "  ")]);
        assert_eq!(e.raw(&PLAIN), Some("x".to_owned()));
        assert_eq!(
            e.raw(&SECRET),
            Some("  ".to_owned()),
            "secrets are kept as given"
        );
        let mut e = env(&[("PLAIN_VAR", "   ")]);
        assert_eq!(e.raw(&PLAIN), None);
        assert!(e.finish().is_ok());
    }

    #[test]
    fn a_missing_required_variable_is_reported() {
        let mut e = env(&[]);
        assert_eq!(e.raw(&REQUIRED), None);
        let err = e.finish().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("REQUIRED_VAR is required but unset or empty"),
            "{err}"
        );
    }

    #[test]
    fn parse_problems_echo_plain_values_but_never_secrets() {
        let mut e = env(&[("PLAIN_VAR", "maybe"), ("SECRET_VAR", "hunter2")]);
        assert_eq!(e.read(&PLAIN, parse::boolean), None);
        assert_eq!(e.read(&SECRET, parse::boolean), None);
        let err = e.finish().unwrap_err().to_string();
        assert!(err.contains("PLAIN_VAR=\"maybe\" is not valid"), "{err}");
        assert!(err.contains("SECRET_VAR is not valid"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn non_unicode_values_are_reported_by_name() {
        let mut e = Env::from_fallible_lookup(|_| Err(NotUnicode));
        assert_eq!(e.raw(&PLAIN), None);
        assert_eq!(
            e.finish().unwrap_err().to_string(),
            "PLAIN_VAR is not valid UTF-8: set it to a UTF-8 value"
        );
    }
}
