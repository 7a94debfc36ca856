//! Configuration errors, and the few phrasings every rule message is built from.

use std::path::PathBuf;

use super::EnvVar;

/// A configuration problem. Every message names the environment variable (and, for rule
/// violations, the builder method in parentheses), lists allowed values where there is a
/// fixed set, says how to fix it, and never contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is required but unset or empty; set it: {hint}")]
    Missing {
        /// The environment variable.
        var: &'static str,
        /// What it is.
        hint: &'static str,
    },
    /// An environment value could not be parsed as its type.
    #[error("{var}={value:?} is not valid: expected {expected}")]
    InvalidValue {
        /// The environment variable.
        var: &'static str,
        /// The value as given (after trimming).
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// An environment value that may hold a secret could not be parsed; the value is not shown.
    #[error(
        "{var} is not valid: {reason} (the value is not shown because it may contain a secret)"
    )]
    InvalidSensitiveValue {
        /// The environment variable.
        var: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// An environment value is not valid Unicode.
    #[error("{var} is not valid UTF-8: set it to a UTF-8 value")]
    NotUnicode {
        /// The environment variable.
        var: &'static str,
    },
    /// A setting breaks a rule on its own (a name, a range, a format).
    #[error("{var} ({setter}) {problem}")]
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// The builder method that sets it.
        setter: &'static str,
        /// What is wrong and how to fix it (never contains a secret).
        problem: String,
    },
    /// Settings that are required together, or that would be silently ignored together.
    #[error("{message}")]
    Combination {
        /// The environment variables involved.
        vars: Vec<&'static str>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file named by a setting cannot be used.
    #[error(
        "{var} ({setter}) names {path:?}, which {reason}: fix the path or make the file readable by this process"
    )]
    File {
        /// The environment variable.
        var: &'static str,
        /// The builder method that sets it.
        setter: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// More than one problem; each is listed on its own line.
    #[error("{}", several(.0))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// The individual problems: the list of [`ConfigError::Several`], or this error alone.
    pub fn problems(&self) -> &[ConfigError] {
        match self {
            ConfigError::Several(all) => all,
            one => std::slice::from_ref(one),
        }
    }

    /// `Ok` for no problem, else one error (or [`ConfigError::Several`]) holding them all.
    pub fn check(problems: Vec<ConfigError>) -> Result<(), ConfigError> {
        let mut flat: Vec<ConfigError> = Vec::with_capacity(problems.len());
        for problem in problems {
            match problem {
                ConfigError::Several(all) => flat.extend(all),
                one => flat.push(one),
            }
        }
        match flat.len() {
            0 => Ok(()),
            1 => Err(flat.remove(0)),
            _ => Err(ConfigError::Several(flat)),
        }
    }

    /// Every problem of several checks, reported together.
    pub fn combine(
        results: impl IntoIterator<Item = Result<(), ConfigError>>,
    ) -> Result<(), ConfigError> {
        Self::check(results.into_iter().filter_map(Result::err).collect())
    }

    /// `var` breaks a rule on its own; `problem` follows the variable's label.
    pub fn invalid(var: &EnvVar, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            var: var.name,
            setter: var.setter,
            problem: problem.into(),
        }
    }

    /// Several variables that do not go together.
    pub fn combination(vars: &[&EnvVar], message: impl Into<String>) -> ConfigError {
        ConfigError::Combination {
            vars: vars.iter().map(|v| v.name).collect(),
            message: message.into(),
        }
    }

    /// `set` would be silently ignored `because` of another setting; `fix` says how to use
    /// them instead (the message adds "or unset ...").
    ///
    /// "A and B are set but C is X, which ..., so they would be ignored: fix, or unset A and B"
    pub fn ignored(
        set: &[&EnvVar],
        because: &EnvVar,
        why: impl std::fmt::Display,
        fix: impl std::fmt::Display,
    ) -> ConfigError {
        let mut vars = set.to_vec();
        vars.push(because);
        let (verb, pronoun) = if set.len() == 1 {
            ("is", "it would")
        } else {
            ("are", "they would")
        };
        ConfigError::combination(
            &vars,
            format!(
                "{} {verb} set but {why}, so {pronoun} be ignored: {fix}, or unset {}",
                labels(set),
                names(set)
            ),
        )
    }

    /// A setting (`cause`, e.g. "KAFKA_SECURITY_PROTOCOL (...) is SSL") requires `missing`.
    ///
    /// "cause, which requires A and B: set them hint"
    pub fn requires(
        cause: &EnvVar,
        what: impl std::fmt::Display,
        missing: &[&EnvVar],
        hint: impl std::fmt::Display,
    ) -> ConfigError {
        let mut vars = vec![cause];
        vars.extend_from_slice(missing);
        let pronoun = if missing.len() == 1 { "it" } else { "them" };
        ConfigError::combination(
            &vars,
            format!(
                "{what}, which requires {}: set {pronoun}{hint}",
                labels(missing)
            ),
        )
    }

    /// One of a pair that only works together is set without the other.
    ///
    /// "A is set without B: what needs both, set both or neither"
    pub fn both_or_neither(has: &EnvVar, lacks: &EnvVar, what: &str) -> ConfigError {
        ConfigError::combination(
            &[has, lacks],
            format!(
                "{} is set without {}: {what} needs both, set both or neither",
                has.label(),
                lacks.label()
            ),
        )
    }

    /// A file named by `var` cannot be used.
    pub fn file(var: &EnvVar, path: impl Into<PathBuf>, reason: impl Into<String>) -> ConfigError {
        ConfigError::File {
            var: var.name,
            setter: var.setter,
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Whether this problem is `var` breaking a rule on its own.
    pub fn is_invalid(&self, var: &EnvVar) -> bool {
        matches!(self, ConfigError::Invalid { var: name, .. } if *name == var.name)
    }
}

fn several(all: &[ConfigError]) -> String {
    let mut out = format!("{} configuration problems:", all.len());
    for e in all {
        out.push_str("\n  - ");
        out.push_str(&e.to_string());
    }
    out
}

/// `A, B and C` of the labels (`NAME (setter)`).
pub fn labels(vars: &[&EnvVar]) -> String {
    join(vars.iter().map(|v| v.label()).collect())
}

/// `A, B and C` of the names alone.
pub fn names(vars: &[&EnvVar]) -> String {
    join(vars.iter().map(|v| v.name.to_owned()).collect())
}

fn join(mut all: Vec<String>) -> String {
    match all.len() {
        0 => String::new(),
        1 => all.remove(0),
        _ => {
            let last = all.pop().unwrap_or_default();
            format!("{} and {last}", all.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvVar;

    const A: EnvVar = EnvVar::test("A_VAR", "a");
    const B: EnvVar = EnvVar::test("B_VAR", "b");
    const C: EnvVar = EnvVar::test("C_VAR", "c");

    #[test]
    fn lists_read_as_sentences() {
        assert_eq!(names(&[&A]), "A_VAR");
        assert_eq!(names(&[&A, &B, &C]), "A_VAR, B_VAR and C_VAR");
        assert_eq!(labels(&[&A, &B]), "A_VAR (a) and B_VAR (b)");
    }

    #[test]
    fn ignored_settings_say_why_and_how_to_fix() {
        let e = ConfigError::ignored(&[&A, &B], &C, "C_VAR (c) is OFF", "turn C_VAR on");
        assert_eq!(
            e.to_string(),
            "A_VAR (a) and B_VAR (b) are set but C_VAR (c) is OFF, so they would be ignored: \
             turn C_VAR on, or unset A_VAR and B_VAR"
        );
        let ConfigError::Combination { vars, .. } = e else {
            panic!("a combination")
        };
        assert_eq!(vars, ["A_VAR", "B_VAR", "C_VAR"]);
    }

    #[test]
    fn requirements_name_what_is_missing() {
        let e = ConfigError::requires(&A, "A_VAR (a) is ON", &[&B], "");
        assert_eq!(
            e.to_string(),
            "A_VAR (a) is ON, which requires B_VAR (b): set it"
        );
    }

    #[test]
    fn pairs_ask_for_both_or_neither() {
        let e = ConfigError::both_or_neither(&A, &B, "the thing");
        assert_eq!(
            e.to_string(),
            "A_VAR (a) is set without B_VAR (b): the thing needs both, set both or neither"
        );
    }

    #[test]
    fn several_problems_are_flattened_and_listed() {
        let one = || ConfigError::invalid(&A, "is bad");
        assert!(ConfigError::check(Vec::new()).is_ok());
        let single = ConfigError::check(vec![one()]).unwrap_err();
        assert!(matches!(single, ConfigError::Invalid { .. }));
        let nested = ConfigError::combine([
            Err(ConfigError::Several(vec![one(), one()])),
            Ok(()),
            Err(one()),
        ])
        .unwrap_err();
        assert_eq!(nested.problems().len(), 3);
        assert!(
            nested
                .to_string()
                .starts_with("3 configuration problems:\n  - A_VAR (a) is bad")
        );
    }
}
