//! The naming rules shared by the `EventPayload` derive (at compile time) and the runtime
//! (event names, application names, topic prefixes), so the two can never disagree.
//!
//! It has no dependencies: the proc-macro crate and the core crate both use it.

/// The field names every event's metadata uses; a payload may not use them.
pub const RESERVED_FIELD_NAMES: [&str; 4] = ["id", "application", "timestamp", "timestamp_ns"];

/// How to write an Avro name, for error messages.
pub const NAME_RULE: &str =
    "an Avro name starts with a letter or `_` and has only ASCII letters, digits and `_`";

/// Is `name` a valid Avro name (`[A-Za-z_][A-Za-z0-9_]*`)?
///
/// ```
/// assert!(metrics_rules::is_valid_name("query_2"));
/// assert!(!metrics_rules::is_valid_name("my-app"));
/// ```
pub const fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let ok = b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit());
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// Is `name` a valid Avro full name or namespace: valid names separated by dots?
///
/// ```
/// assert!(metrics_rules::is_valid_fullname("lsst.square.metrics.events"));
/// assert!(!metrics_rules::is_valid_fullname("lsst..events"));
/// ```
pub fn is_valid_fullname(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_valid_name)
}

/// Is `name` one of the [`RESERVED_FIELD_NAMES`]?
pub fn is_reserved_field_name(name: &str) -> bool {
    RESERVED_FIELD_NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_names_follow_the_spec() {
        for ok in ["a", "_", "query", "Query_2", "_x9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "é", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn full_names_are_dotted_names() {
        assert!(is_valid_fullname("lsst.square.metrics.events"));
        assert!(is_valid_fullname("app"));
        assert!(!is_valid_fullname("lsst..events"));
        assert!(!is_valid_fullname("lsst.my-app"));
        assert!(!is_valid_fullname(""));
        assert!(!is_valid_fullname("trailing."));
    }

    #[test]
    fn the_metadata_names_are_reserved() {
        for name in ["id", "application", "timestamp", "timestamp_ns"] {
            assert!(is_reserved_field_name(name));
        }
        assert!(!is_reserved_field_name("timestamp_ms"));
    }
}
