//! Derive macros for app-metrics: `EventPayload` (compile-time Avro schema and encoder of an
//! event struct) and `EventEnum` (an Avro enum from a unit-only Rust enum).
//!
//! Use them through `app_metrics` or `metrics_core`, which re-export them.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `EventPayload`: the Avro field list (built at compile time) and a direct Avro
/// binary encoder for a struct with named scalar fields.
///
/// Field attribute: `#[event(rename = "name")]`. Container attributes:
/// `#[event(rename_all = "camelCase")]` (serde's case names), `#[event(crate = "path")]`.
/// `///` doc comments become Avro `doc`.
#[proc_macro_derive(EventPayload, attributes(event))]
pub fn derive_event_payload(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_payload(&input).into()
}

/// Derives `EventScalar` for a unit-only enum: an Avro `enum` named after the type whose
/// symbols are the variant names, or `#[event(rename = "...")]` /
/// `#[event(rename_all = "...")]`.
#[proc_macro_derive(EventEnum, attributes(event))]
pub fn derive_event_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_enum(&input).into()
}
