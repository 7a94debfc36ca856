//! Core of app-metrics: payload traits, Avro encoding, metadata, the event manager with its
//! Noop and Mock backends, the failure policy, and the settings every backend shares.
//!
//! Most users depend on the `app-metrics` facade instead; this crate re-exports the
//! derives the way `serde` does:
//!
//! ```
//! use metrics_core::{EventEnum, EventPayload};
//!
//! #[derive(EventEnum, Clone, Copy, Debug, PartialEq)]
//! enum QueryType {
//!     #[event(rename = "async")]
//!     Async,
//!     #[event(rename = "sync")]
//!     Sync,
//! }
//!
//! /// Information about a user-submitted query.
//! #[derive(EventPayload, Clone, Debug, PartialEq)]
//! struct QueryEvent {
//!     /// The kind of query
//!     r#type: QueryType,
//!     /// How long the query took to run
//!     duration: std::time::Duration,
//!     username: Option<String>,
//!     rows: i64,
//! }
//!
//! assert!(QueryEvent::AVRO_FIELDS.contains(r#""symbols":["async","sync"]"#));
//! ```

// Lets the derives' generated `::metrics_core::...` paths resolve inside this crate too.
extern crate self as metrics_core;

pub mod avro;
pub mod backend;
#[doc(hidden)] // Shared with the sibling crates; not part of the API.
pub mod backoff;
pub mod config;
pub mod decode;
pub mod error;
#[doc(hidden)] // Shared with the sibling crates; not part of the API.
pub mod log_limit;
pub mod manager;
pub mod metadata;
pub mod mock;
pub mod noop;
pub mod payload;
#[doc(hidden)] // Shared with the sibling crates; not part of the API.
pub mod policy;
pub mod schema;
pub mod sensor;
#[doc(hidden)] // Shared with the sibling crates; not part of the API.
pub mod sync;

pub use backend::{
    DeliveryReport, DroppedEvents, EventBackend, EventDescriptor, EventSink, OutgoingEvent,
};
pub use config::{BackendKind, ConfigError, MetricsConfig, MetricsConfigBuilder};
pub use decode::{AvroDecodeError, DecodeError, Event, EventDecode};
pub use error::{BackendError, ErrorChain, ErrorKind, EventError};
pub use manager::{EventMaker, EventManager, EventPublisher};
pub use metadata::{EventMetadata, RESERVED_FIELD_NAMES};
pub use metrics_derive::{EventEnum, EventPayload};
pub use mock::{ANY, Expected, Matcher, MockEvents, NOT_NONE, PublishedEvent};
pub use payload::{EventField, EventPayload, EventScalar, FieldValue};
pub use schema::{InvalidNameError, NameKind, record_schema, validate_name};

/// Support for the derives' generated code; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::avro;
    pub use crate::decode::{
        AvroDecodeError, AvroReader, DecodeError, DecodeField, DecodeScalar, EventDecode,
    };
    pub use crate::payload::{EventField, EventPayload, EventScalar, FieldValue};
    pub use const_format::concatcp;
    pub use std::option::Option;
    pub use std::result::Result;
    pub use std::vec::Vec;

    use std::marker::PhantomData;

    /// The derive's view of a field type `T`.
    ///
    /// When `T: EventField`, these inherent items win name resolution. When it is not, the
    /// `UncheckedField` fallback answers instead, so the only error the user sees is the
    /// derive's per-field assertion, which names the field (no cascade).
    pub struct Checked<T: ?Sized>(PhantomData<T>);

    impl<T: EventField> Checked<T> {
        /// Opens the field's `type`: `["null",` for an `Option`.
        pub const TYPE_OPEN: &'static str = if T::NULLABLE { "[\"null\"," } else { "" };
        /// The scalar's full schema.
        pub const SCHEMA: &'static str = <T::Scalar as EventScalar>::AVRO_SCHEMA;
        /// The scalar's schema once already defined in the record.
        pub const REFERENCE: &'static str = <T::Scalar as EventScalar>::AVRO_REFERENCE;
        /// Closes the field's `type` and adds `"default":null` for an `Option`.
        pub const TYPE_CLOSE: &'static str = if T::NULLABLE {
            "],\"default\":null"
        } else {
            ""
        };

        /// Encodes the field.
        #[inline(always)]
        pub fn encode(value: &T, buf: &mut Vec<u8>) {
            value.encode_avro(buf);
        }

        /// The field's value.
        pub fn value(value: &T) -> FieldValue {
            value.field_value()
        }
    }

    impl<T: DecodeField> Checked<T> {
        /// Reads the field `name`.
        #[inline]
        pub fn decode(reader: &mut AvroReader<'_>, name: &'static str) -> Result<T, DecodeError> {
            crate::decode::decode_field(reader, name)
        }
    }

    /// Fallback for a type that is not an `EventField` (compilation fails elsewhere), and
    /// for decoding an event field that cannot be read back (`&'static str`).
    pub trait UncheckedField {
        /// Unused stand-in.
        const TYPE_OPEN: &'static str = "";
        /// Unused stand-in.
        const SCHEMA: &'static str = "";
        /// Unused stand-in.
        const REFERENCE: &'static str = "";
        /// Unused stand-in.
        const TYPE_CLOSE: &'static str = "";
        /// Unused stand-in.
        fn encode<V: ?Sized>(_: &V, _: &mut Vec<u8>) {}
        /// Unused stand-in.
        fn value<V: ?Sized>(_: &V) -> FieldValue {
            FieldValue::Null
        }
        /// A field type that is an event field but cannot be read back (`&'static str`):
        /// the decoder the derive generates reports it when it reaches the field.
        fn decode<V>(_: &mut AvroReader<'_>, field: &'static str) -> Result<V, DecodeError> {
            Err(DecodeError {
                field,
                error: AvroDecodeError::NotDecodable {
                    ty: std::any::type_name::<V>(),
                },
            })
        }
    }

    impl<T: ?Sized> UncheckedField for Checked<T> {}
}
