//! The typed model of a derive input: a payload struct or an event enum.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Path, Type};

use crate::attr::{self, RenameRule};
use crate::ctxt::Ctxt;

/// A struct with `#[derive(EventPayload)]`.
pub struct Payload<'a> {
    pub ident: &'a Ident,
    pub doc: Option<String>,
    pub krate: Option<Path>,
    pub fields: Vec<Field<'a>>,
}

/// One named field of a payload.
pub struct Field<'a> {
    pub ident: &'a Ident,
    /// The Avro field name: `rename`, else `rename_all` applied, else the ident without `r#`.
    pub name: String,
    /// `Some` when the name came from `#[event(rename = ...)]`.
    pub rename: Option<LitStr>,
    pub ty: &'a Type,
    pub doc: Option<String>,
}

/// An enum with `#[derive(EventEnum)]`.
pub struct EventEnum<'a> {
    pub ident: &'a Ident,
    pub doc: Option<String>,
    pub krate: Option<Path>,
    pub variants: Vec<Variant<'a>>,
}

/// One unit variant and its Avro symbol.
pub struct Variant<'a> {
    pub ident: &'a Ident,
    pub symbol: String,
    pub symbol_span: Span,
}

fn reject_generics(cx: &mut Ctxt, input: &DeriveInput, what: &str) {
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            format_args!(
                "`{}` is generic: {what} cannot be generic, because its Avro schema is fixed at \
                 compile time; use concrete field types",
                input.ident
            ),
        );
    }
}

impl<'a> Payload<'a> {
    /// Builds the model, recording every shape error in `cx`.
    pub fn from_input(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let container = attr::container_attrs(cx, &input.attrs);
        reject_generics(cx, input, "an event payload");
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(_) => {
                    cx.error_spanned_by(
                        input,
                        format_args!(
                            "`{}` is a tuple struct: an event payload needs named fields, \
                             which become the Avro field names",
                            input.ident
                        ),
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        input,
                        format_args!(
                            "`{}` is a unit struct: an event payload is a struct with named \
                             fields (write `struct {} {{}}` for an event without fields)",
                            input.ident, input.ident
                        ),
                    );
                    return None;
                }
            },
            Data::Enum(_) => {
                cx.error_spanned_by(
                    input,
                    "EventPayload is for structs: derive EventEnum on a unit-only enum and use it as a field",
                );
                return None;
            }
            Data::Union(_) => {
                cx.error_spanned_by(
                    input,
                    "EventPayload is for structs with named fields, not unions",
                );
                return None;
            }
        };
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?;
                let item = attr::item_attrs(cx, &field.attrs);
                let plain = ident.to_string();
                let plain = plain.strip_prefix("r#").unwrap_or(&plain);
                let name = match &item.rename {
                    Some(rename) => rename.value(),
                    None => container.rename_all.map_or_else(
                        || plain.to_owned(),
                        |rule: RenameRule| rule.apply_to_field(plain),
                    ),
                };
                Some(Field {
                    ident,
                    name,
                    rename: item.rename,
                    ty: &field.ty,
                    doc: attr::doc(&field.attrs),
                })
            })
            .collect();
        Some(Payload {
            ident: &input.ident,
            doc: attr::doc(&input.attrs),
            krate: container.krate,
            fields,
        })
    }
}

impl<'a> EventEnum<'a> {
    /// Builds the model, recording every shape error in `cx`.
    pub fn from_input(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let container = attr::container_attrs(cx, &input.attrs);
        reject_generics(cx, input, "an event enum");
        let Data::Enum(data) = &input.data else {
            cx.error_spanned_by(
                input,
                "EventEnum is for enums whose variants carry no data; use EventPayload for structs",
            );
            return None;
        };
        if data.variants.is_empty() {
            cx.error_spanned_by(
                input,
                format_args!(
                    "`{}` has no variants: an Avro enum needs at least one symbol",
                    input.ident
                ),
            );
        }
        let variants = data
            .variants
            .iter()
            .map(|variant| {
                if !matches!(variant.fields, Fields::Unit) {
                    cx.error_spanned_by(
                        variant,
                        format_args!(
                            "variant `{}` carries data: an Avro enum is a plain symbol \
                             (InfluxDB stores only scalars); remove the data or store it in its own event field",
                            variant.ident
                        ),
                    );
                }
                let item = attr::item_attrs(cx, &variant.attrs);
                let (symbol, symbol_span) = match &item.rename {
                    Some(rename) => (rename.value(), rename.span()),
                    None => (
                        container.rename_all.map_or_else(
                            || variant.ident.to_string(),
                            |rule| rule.apply_to_variant(&variant.ident.to_string()),
                        ),
                        variant.ident.span(),
                    ),
                };
                Variant { ident: &variant.ident, symbol, symbol_span }
            })
            .collect();
        Some(EventEnum {
            ident: &input.ident,
            doc: attr::doc(&input.attrs),
            krate: container.krate,
            variants,
        })
    }
}
