//! Rules several settings groups share: files that must be readable, durations that must
//! be positive.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::{ConfigError, EnvVar};

/// A problem if `path` (set by `var`) is not a readable file with a UTF-8 path.
pub fn readable_file(var: &EnvVar, path: &Path) -> Option<ConfigError> {
    let reason = if path.to_str().is_none() {
        "is not valid UTF-8 (the Kafka client and the TLS loader need UTF-8 paths)".to_owned()
    } else {
        match fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => "does not exist".to_owned(),
            Err(e) => format!("cannot be inspected ({e})"),
            Ok(m) if m.is_dir() => "is a directory, not a file".to_owned(),
            Ok(_) => match fs::File::open(path) {
                Ok(_) => return None,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    "is not readable (permission denied)".to_owned()
                }
                Err(e) => format!("cannot be opened ({e})"),
            },
        }
    };
    Some(ConfigError::file(var, path, reason))
}

/// A problem if `duration` (set by `var`) is zero.
pub fn positive(var: &EnvVar, duration: Duration) -> Option<ConfigError> {
    duration.is_zero().then(|| {
        ConfigError::invalid(
            var,
            format!(
                "is 0s: it must be greater than zero (e.g. {})",
                var.default_text()
            ),
        )
    })
}

/// A problem if `text` (set by `var`, a secret) contains a control character.
pub fn no_control_chars_in_secret(var: &EnvVar, text: &str) -> Option<ConfigError> {
    text.chars().any(char::is_control).then(|| {
        ConfigError::invalid(
            var,
            "contains a control character (such as a trailing newline): remove it (the value \
             is not shown because it is a secret)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: EnvVar = EnvVar::test("SOME_CA_PATH", "ca_path");

    #[test]
    fn a_missing_file_names_the_variable_and_the_path() {
        let err = readable_file(&FILE, Path::new("/nonexistent/ca.pem")).unwrap();
        assert_eq!(
            err.to_string(),
            "SOME_CA_PATH (ca_path) names \"/nonexistent/ca.pem\", which does not exist: fix the \
             path or make the file readable by this process"
        );
    }

    #[test]
    fn a_directory_is_not_a_file() {
        let dir = std::env::temp_dir();
        let err = readable_file(&FILE, &dir).unwrap();
        assert!(
            err.to_string().contains("is a directory, not a file"),
            "{err}"
        );
    }

    #[test]
    fn a_readable_file_passes() {
        let path = std::env::temp_dir().join(format!("app-metrics-check-{}", std::process::id()));
        fs::write(&path, "x").unwrap();
        assert!(readable_file(&FILE, &path).is_none());
        let _ = fs::remove_file(path);
    }

    #[test]
    fn zero_is_not_positive() {
        assert!(positive(&FILE, Duration::from_millis(1)).is_none());
        let err = positive(&FILE, Duration::ZERO).unwrap();
        assert!(
            err.to_string()
                .contains("is 0s: it must be greater than zero"),
            "{err}"
        );
    }

    #[test]
    fn control_characters_are_reported_without_the_secret() {
        let err = no_control_chars_in_secret(&FILE, "hunter2\n").unwrap();
        assert!(!err.to_string().contains("hunter2"));
        assert!(no_control_chars_in_secret(&FILE, "hunter2").is_none());
    }
}
