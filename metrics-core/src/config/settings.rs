//! The one declaration of a group of settings: [`settings!`](crate::settings) turns it into
//! the validated settings type, its builder, its environment variables and their loader.
//!
//! Each setting is declared once (field, type, default, variable, parser, doc line, builder
//! setter, getter), so the README table, the loader, the builder and the defaults cannot
//! drift apart. See `docs/architecture.md` ("Adding a setting").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// One environment variable of a settings group: a row of the README's configuration table.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The variable's name, e.g. `KAFKA_SECURITY_PROTOCOL`.
    pub name: &'static str,
    /// The builder type that has the setter, e.g. `KafkaConfigBuilder`.
    pub builder: &'static str,
    /// The builder method that sets the same thing from code.
    pub setter: &'static str,
    /// One line saying what the variable does.
    pub description: &'static str,
    /// Whether the value is a secret: never trimmed, shown, logged or echoed in errors.
    pub sensitive: bool,
    /// Whether the variable must be set.
    pub required: bool,
    /// The default as the variable would spell it (`5m`, `true`), or `(unset)`/`(empty)`.
    pub default: fn() -> String,
}

impl EnvVar {
    /// `NAME (setter)`: how rule violations name a setting.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.setter)
    }

    /// The default as shown in the README: `(required)`, `(unset)`, `(empty)` or the value.
    pub fn default_text(&self) -> String {
        if self.required {
            "(required)".to_owned()
        } else {
            (self.default)()
        }
    }

    /// A variable for unit tests of messages.
    #[cfg(test)]
    pub(crate) const fn test(name: &'static str, setter: &'static str) -> EnvVar {
        EnvVar {
            name,
            builder: "TestBuilder",
            setter,
            description: "a test variable",
            sensitive: false,
            required: false,
            default: String::new,
        }
    }
}

/// Whether `flag` is among the flags of a setting declaration (`secret`, `required`).
#[doc(hidden)]
pub const fn has_flag(flags: &[&str], flag: &str) -> bool {
    let mut i = 0;
    while i < flags.len() {
        if eq(flags[i].as_bytes(), flag.as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// How a setting's value reads as an environment value, for the default column of the
/// README table.
pub trait Describe {
    /// The value as the variable would spell it, or `(unset)`, `(empty)`.
    fn describe(&self) -> String;
}

/// Implements [`Describe`](crate::config::Describe) with `Display` for each type given:
/// numbers, booleans, and enumerations whose `Display` is their environment spelling.
#[macro_export]
macro_rules! describe_with_display {
    ($($ty:ty),+ $(,)?) => {$(
        impl $crate::config::Describe for $ty {
            fn describe(&self) -> String {
                self.to_string()
            }
        }
    )+};
}

describe_with_display!(bool, u32, u64, usize, f64);

impl Describe for Duration {
    fn describe(&self) -> String {
        humantime::format_duration(*self).to_string()
    }
}

impl Describe for String {
    fn describe(&self) -> String {
        if self.is_empty() {
            "(empty)".to_owned()
        } else {
            self.clone()
        }
    }
}

impl Describe for PathBuf {
    fn describe(&self) -> String {
        self.display().to_string()
    }
}

impl Describe for Vec<String> {
    fn describe(&self) -> String {
        self.join(",")
    }
}

impl Describe for SecretString {
    fn describe(&self) -> String {
        "(secret)".to_owned()
    }
}

impl Describe for BTreeMap<String, String> {
    fn describe(&self) -> String {
        if self.is_empty() {
            "(unset)".to_owned()
        } else {
            self.keys().cloned().collect::<Vec<_>>().join(",")
        }
    }
}

impl<T: Describe> Describe for Option<T> {
    fn describe(&self) -> String {
        match self {
            Some(value) => value.describe(),
            None => "(unset)".to_owned(),
        }
    }
}

/// Declares a group of settings once and generates:
///
/// - the validated settings type (`$Config`) with one getter per setting, `to_builder`,
///   `validate`, `from_env` and `from_lookup`;
/// - its builder (`$Builder`) with one setter per setting, `build` (checks every rule),
///   `build_unchecked`, `problems` and `from_env`;
/// - a module `$vars` with one [`EnvVar`](crate::config::EnvVar) constant per variable and
///   `ALL`, the group's rows of the README table.
///
/// Each setting says how it is set and read (`access { ... }`): `copy` (a `Copy` value),
/// `text` (a `String`, set from anything `Into<String>`, read as `&str`), `some_text`,
/// `some_path`, `some_secret` (an `Option` of those, read as `Option<&str>`,
/// `Option<&Path>`, `Option<&SecretString>`), `some_copy(T)` (an `Option<T>` of a `Copy`
/// `T`), or explicitly: `set(arg: Type) => value; get(field) -> Type => expression;`.
///
/// The rules are the group's own: the declaring module implements
/// `fn problems(&self) -> Vec<ConfigError>` on the private `$Values` struct.
///
/// ```
/// use std::time::Duration;
/// use metrics_core::config::{parse, ConfigError};
///
/// metrics_core::settings! {
///     /// Settings of a cache.
///     pub struct CacheConfig;
///     /// Builds a [`CacheConfig`].
///     builder CacheConfigBuilder;
///     values CacheValues;
///     vars cache_vars;
///
///     /// How long an entry lives
///     ttl: Duration = Duration::from_secs(60);
///         env TTL = "CACHE_TTL";
///         parse parse::duration;
///         access { copy }
/// }
///
/// impl CacheValues {
///     fn problems(&self) -> Vec<ConfigError> {
///         Vec::new()
///     }
/// }
///
/// fn main() -> Result<(), ConfigError> {
///     let config = CacheConfig::from_lookup(|name| (name == "CACHE_TTL").then(|| "5m".to_owned()))?;
///     assert_eq!(config.ttl(), Duration::from_secs(300));
///     assert_eq!(cache_vars::TTL.default_text(), "1m");
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! settings {
    (
        $(#[$config_meta:meta])*
        $vis:vis struct $Config:ident;
        $(#[$builder_meta:meta])*
        builder $Builder:ident;
        values $Values:ident;
        vars $vars:ident;
        $(
            #[doc = $doc:literal]
            $field:ident: $ty:ty = $default:expr;
                env $VAR:ident = $name:literal $([$($flag:ident),*])?;
                parse $parse:expr;
                access $access:tt
        )+
    ) => {
        /// The values of the group's settings, shared by the builder and the settings type.
        #[derive(Clone, Debug)]
        struct $Values {
            $( $field: $ty, )+
        }

        impl ::std::default::Default for $Values {
            fn default() -> Self {
                Self { $( $field: $default, )+ }
            }
        }

        $(#[$config_meta])*
        #[derive(Clone, Debug)]
        $vis struct $Config {
            values: $Values,
        }

        $(#[$builder_meta])*
        #[derive(Clone, Debug, Default)]
        #[must_use = "call .build() to check the settings and get them"]
        $vis struct $Builder {
            values: $Values,
        }

        impl $Builder {
            $( $crate::__setting_setter!($field, $ty, $name, $doc, $access); )+

            /// Every rule the settings break; empty when they are valid.
            pub fn problems(&self) -> ::std::vec::Vec<$crate::config::ConfigError> {
                self.values.problems()
            }

            /// Checks every rule and returns the settings, or every problem found.
            ///
            /// # Errors
            ///
            /// Every rule violation, as one error or a `ConfigError::Several`.
            pub fn build(self) -> ::std::result::Result<$Config, $crate::config::ConfigError> {
                $crate::config::ConfigError::check(self.values.problems())?;
                Ok($Config { values: self.values })
            }

            /// The settings as given, without checking them: for settings that will not be
            /// used (Safir does not check the Kafka settings while metrics are disabled).
            /// [`validate`]($Config::validate) checks them later.
            pub fn build_unchecked(self) -> $Config {
                $Config { values: self.values }
            }

            /// Parses the group's variables through `env` (parse problems are collected
            /// there); unset variables keep their defaults.
            pub fn from_env(env: &mut $crate::config::Env<'_>) -> Self {
                #[allow(unused_mut)]
                let mut values = $Values::default();
                $(
                    if let ::std::option::Option::Some(value) = env.read(&$vars::$VAR, $parse) {
                        values.$field = value;
                    }
                )+
                Self { values }
            }
        }

        impl $Config {
            $( $crate::__setting_getter!($field, $ty, $name, $doc, $access); )+

            /// A builder holding these settings, to change some and build again.
            pub fn to_builder(&self) -> $Builder {
                $Builder { values: self.values.clone() }
            }

            /// Runs the checks again (e.g. files named by the settings may have gone).
            ///
            /// # Errors
            ///
            /// Every rule violation.
            pub fn validate(&self) -> ::std::result::Result<(), $crate::config::ConfigError> {
                $crate::config::ConfigError::check(self.values.problems())
            }

            /// Reads the group's variables from the process environment: every value that
            /// cannot be parsed is reported, else every rule violation.
            ///
            /// # Errors
            ///
            /// As described; every problem at once.
            pub fn from_env() -> ::std::result::Result<Self, $crate::config::ConfigError> {
                Self::load($crate::config::Env::process())
            }

            /// As [`from_env`](Self::from_env), reading variables through `lookup` (a
            /// variable's value, or `None` when unset): the seam tests use.
            ///
            /// # Errors
            ///
            /// As [`from_env`](Self::from_env).
            pub fn from_lookup(
                lookup: impl Fn(&str) -> ::std::option::Option<String>,
            ) -> ::std::result::Result<Self, $crate::config::ConfigError> {
                Self::load($crate::config::Env::from_lookup(lookup))
            }

            fn load(
                mut env: $crate::config::Env<'_>,
            ) -> ::std::result::Result<Self, $crate::config::ConfigError> {
                let builder = $Builder::from_env(&mut env);
                env.finish()?;
                builder.build()
            }
        }

        #[doc = concat!("The environment variables of [`", stringify!($Config), "`], one constant each.")]
        $vis mod $vars {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[doc = concat!("`", $name, "`: ", $doc, ".")]
                pub const $VAR: $crate::config::EnvVar = $crate::config::EnvVar {
                    name: $name,
                    builder: stringify!($Builder),
                    setter: stringify!($field),
                    description: $doc.trim_ascii_start(),
                    sensitive: $crate::config::has_flag(&[$($(stringify!($flag)),*)?], "secret"),
                    required: $crate::config::has_flag(&[$($(stringify!($flag)),*)?], "required"),
                    default: || {
                        let value: $ty = $default;
                        $crate::config::Describe::describe(&value)
                    },
                };
            )+

            /// Every variable of the group, in declaration order.
            pub const ALL: &[$crate::config::EnvVar] = &[$($VAR),+];
        }
    };
}

/// The builder setter of one setting of [`settings!`](crate::settings).
#[doc(hidden)]
#[macro_export]
macro_rules! __setting_setter {
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { copy }) => {
        $crate::__setting_setter!($field, $ty, $name, $doc, {
            set(value: $ty) => value;
            get(v) -> () => ();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { text }) => {
        $crate::__setting_setter!($field, $ty, $name, $doc, {
            set(value: impl Into<String>) => value.into();
            get(v) -> () => ();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_text }) => {
        $crate::__setting_setter!($field, $ty, $name, $doc, {
            set(value: impl Into<String>) => Some(value.into());
            get(v) -> () => ();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_path }) => {
        $crate::__setting_setter!($field, $ty, $name, $doc, {
            set(path: impl Into<::std::path::PathBuf>) => Some(path.into());
            get(v) -> () => ();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_secret }) => {
        $crate::__setting_setter!($field, $ty, $name, $doc, {
            set(secret: impl Into<$crate::config::SecretString>) => Some(secret.into());
            get(v) -> () => ();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_copy($inner:ty) }) => {
        $crate::__setting_setter!($field, $ty, $name, $doc, {
            set(value: $inner) => Some(value);
            get(v) -> () => ();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, {
        set($arg:ident: $arg_ty:ty) => $set:expr;
        get($get_arg:ident) -> $get_ty:ty => $get:expr;
    }) => {
        #[doc = concat!("`", $name, "`: ", $doc, ".")]
        pub fn $field(mut self, $arg: $arg_ty) -> Self {
            self.values.$field = $set;
            self
        }
    };
}

/// The getter of one setting of [`settings!`](crate::settings).
#[doc(hidden)]
#[macro_export]
macro_rules! __setting_getter {
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { copy }) => {
        $crate::__setting_getter!($field, $ty, $name, $doc, {
            set(v: ()) => ();
            get(v) -> $ty => *v;
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { text }) => {
        $crate::__setting_getter!($field, $ty, $name, $doc, {
            set(v: ()) => ();
            get(v) -> &str => v;
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_text }) => {
        $crate::__setting_getter!($field, $ty, $name, $doc, {
            set(v: ()) => ();
            get(v) -> Option<&str> => v.as_deref();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_path }) => {
        $crate::__setting_getter!($field, $ty, $name, $doc, {
            set(v: ()) => ();
            get(v) -> Option<&::std::path::Path> => v.as_deref();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_secret }) => {
        $crate::__setting_getter!($field, $ty, $name, $doc, {
            set(v: ()) => ();
            get(v) -> Option<&$crate::config::SecretString> => v.as_ref();
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, { some_copy($inner:ty) }) => {
        $crate::__setting_getter!($field, $ty, $name, $doc, {
            set(v: ()) => ();
            get(v) -> Option<$inner> => *v;
        });
    };
    ($field:ident, $ty:ty, $name:literal, $doc:literal, {
        set($arg:ident: $arg_ty:ty) => $set:expr;
        get($get_arg:ident) -> $get_ty:ty => $get:expr;
    }) => {
        #[doc = concat!($doc, " (`", $name, "`).")]
        pub fn $field(&self) -> $get_ty {
            let $get_arg = &self.values.$field;
            $get
        }
    };
}
