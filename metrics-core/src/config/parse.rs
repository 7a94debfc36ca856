//! Parsers from environment text to setting values. Each returns what it expected on
//! failure, never the value itself (the loader decides whether the value may be echoed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// Text as given.
pub fn text(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

/// A file path.
pub fn path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

/// A secret, kept out of `Debug` output.
pub fn secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s))
}

/// Pydantic's booleans: `true/false`, `1/0`, `yes/no`, `on/off`, `t/f`, `y/n`, any case.
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => {
            Err("a boolean: true/false, 1/0, yes/no or on/off (any case; also t/f, y/n)".to_owned())
        }
    }
}

/// A bare number of seconds (`300`, `1.5`) or a human duration (`5m`, `1h 30m`, `500ms`).
pub fn duration(s: &str) -> Result<Duration, String> {
    const EXPECTED: &str =
        "a duration: a number of seconds (300) or a human duration (5m, 1h 30m, 500ms)";
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let decimal = s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().filter(|&c| c == '.').count() == 1;
    if decimal {
        return s
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| EXPECTED.to_owned());
    }
    humantime::parse_duration(s).map_err(|e| format!("{EXPECTED}; {e}"))
}

/// A whole number between `min` and `max`.
pub fn count<T: TryFrom<u64>>(min: u64, max: u64) -> impl Fn(&str) -> Result<T, String> {
    move |s| {
        s.parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("a whole number between {min} and {max}"))
    }
}

/// A fraction between 0 and 1 (`0.05`), or a percentage (`5%`).
pub fn ratio(s: &str) -> Result<f64, String> {
    let (number, scale) = match s.strip_suffix('%') {
        Some(percent) => (percent.trim(), 100.0),
        None => (s, 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| n / scale)
        .filter(|n| (0.0..=1.0).contains(n))
        .ok_or_else(|| "a fraction between 0 and 1 (0.05) or a percentage (5%)".to_owned())
}

/// A comma-separated list, each entry trimmed.
pub fn list(s: &str) -> Result<Vec<String>, String> {
    Ok(s.split(',').map(|e| e.trim().to_owned()).collect())
}

/// One of an enumeration's spellings (its [`strum::VariantNames`]): any case, `-` and `_`
/// interchangeable.
pub fn choice<T: FromStr + strum::VariantNames>(s: &str) -> Result<T, String> {
    s.parse()
        .or_else(|_| s.replace('-', "_").parse())
        .or_else(|_| s.replace('_', "-").parse())
        .map_err(|_| format!("one of {}", T::VARIANTS.join(", ")))
}

/// `key=value,key=value`; problems never repeat a value.
pub fn properties(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, entry) in s.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!(
                "entry {} has no '=': expected key=value,key=value (values cannot contain \
                 commas; set such properties from code)",
                i + 1
            ));
        };
        let key = key.trim();
        if out
            .insert(key.to_owned(), value.trim().to_owned())
            .is_some()
        {
            return Err(format!(
                "the key {key:?} is given twice: give each property once"
            ));
        }
    }
    Ok(out)
}

/// `parse` for a setting whose type is `Option<T>`: a set variable is `Some`.
pub fn some<T>(
    parse: impl Fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<Option<T>, String> {
    move |s| parse(s).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn human_durations_are_accepted() {
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn unknown_units_and_negative_durations_are_rejected() {
        for bad in ["5 parsecs", "-5", "-1s", "1.2.3", ""] {
            let err = duration(bad).unwrap_err();
            assert!(
                err.starts_with("a duration: a number of seconds"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn booleans_accept_pydantic_spellings() {
        for yes in ["true", "TRUE", "1", "yes", "On", "t", "Y"] {
            assert_eq!(boolean(yes), Ok(true), "{yes}");
        }
        for no in ["false", "False", "0", "no", "OFF", "f", "n"] {
            assert_eq!(boolean(no), Ok(false), "{no}");
        }
        assert!(boolean("maybe").unwrap_err().contains("true/false"));
    }

    #[test]
    fn counts_are_range_checked() {
        let parse = count::<u32>(1, 10);
        assert_eq!(parse("10"), Ok(10));
        assert_eq!(parse("0").unwrap_err(), "a whole number between 1 and 10");
        assert!(parse("-1").is_err());
        assert!(parse("x").is_err());
    }

    #[test]
    fn properties_are_split_and_trimmed() {
        let parsed = properties(" linger.ms = 5 ,, compression.type=lz4 ").unwrap();
        assert_eq!(parsed["linger.ms"], "5");
        assert_eq!(parsed["compression.type"], "lz4");
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn property_problems_never_echo_values() {
        let err = properties("a=1,client.secret").unwrap_err();
        assert!(err.starts_with("entry 2 has no '='"), "{err}");
        let err = properties("a=1,a=secret").unwrap_err();
        assert!(
            err.contains("\"a\" is given twice") && !err.contains("secret"),
            "{err}"
        );
    }

    #[derive(Debug, PartialEq, strum::EnumString, strum::VariantNames)]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
    enum Level {
        Low,
        VeryHigh,
        #[strum(serialize = "X-RAY")]
        XRay,
    }

    #[test]
    fn choices_ignore_case_and_dash_or_underscore() {
        assert_eq!(choice::<Level>("low"), Ok(Level::Low));
        assert_eq!(choice::<Level>("very-high"), Ok(Level::VeryHigh));
        assert_eq!(choice::<Level>("x_ray"), Ok(Level::XRay));
        assert_eq!(
            choice::<Level>("medium").unwrap_err(),
            "one of LOW, VERY_HIGH, X-RAY"
        );
    }

    #[test]
    fn ratios_are_fractions_or_percentages() {
        assert_eq!(ratio("0.05"), Ok(0.05));
        assert_eq!(ratio("5%"), Ok(0.05));
        assert_eq!(ratio("100 %"), Ok(1.0));
        for bad in ["1.5", "-0.1", "x", "150%"] {
            assert!(ratio(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_are_split_at_commas() {
        assert_eq!(list("a, b ,c").unwrap(), ["a", "b", "c"]);
    }
}
