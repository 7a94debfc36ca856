//! Generates the trait impls; all decisions were made in `ast` and `valid`.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, Path};

use crate::ast::{EventEnum, Payload};
use crate::ctxt::Ctxt;
use crate::valid;

/// Where the runtime support lives: `#[event(crate = ...)]`, else `app_metrics` if the user
/// depends on the facade, else `metrics_core`.
fn runtime_crate(explicit: Option<&Path>) -> TokenStream {
    if let Some(path) = explicit {
        return quote!(#path);
    }
    let found = |package: &str, itself: &str| match crate_name(package) {
        Ok(FoundCrate::Itself) => Some(Ident::new(itself, Span::call_site())),
        Ok(FoundCrate::Name(name)) => Some(Ident::new(&name, Span::call_site())),
        Err(_) => None,
    };
    let krate = found("app-metrics", "app_metrics")
        .or_else(|| found("metrics-core", "metrics_core"))
        .unwrap_or_else(|| Ident::new("app_metrics", Span::call_site()));
    quote!(::#krate)
}

/// Escapes `text` for the inside of a JSON string.
fn json_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if u32::from(c) < 0x20 => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    escaped
}

fn doc_json(doc: Option<&String>) -> String {
    doc.map(|doc| format!(",\"doc\":\"{}\"", json_escape(doc)))
        .unwrap_or_default()
}

pub fn derive_payload(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let payload = Payload::from_input(&mut cx, input);
    let scalars = payload.as_ref().map(|p| valid::check_payload(&mut cx, p));
    let krate = runtime_crate(payload.as_ref().and_then(|p| p.krate.as_ref()));
    let errors = cx.into_compile_errors();
    match (payload, scalars) {
        (Some(payload), Some(scalars)) if errors.is_none() => {
            payload_impl(&payload, &scalars, &krate)
        }
        (payload, scalars) => {
            // Still check the fields the macro could not judge, so every bad field of the
            // struct is reported in this one compile. A generic struct gets neither these
            // checks nor a stand-in impl: both would only add errors about its parameters.
            if !input.generics.params.is_empty() {
                return quote!(#errors);
            }
            let asserts = match (&payload, &scalars) {
                (Some(payload), Some(scalars)) => field_assertions(payload, scalars),
                _ => Vec::new(),
            };
            let dummy = payload_dummy(&input.ident, &krate);
            quote! {
                #errors
                #dummy
                const _: () = {
                    use #krate::__private as __m;
                    #[allow(dead_code, non_camel_case_types)]
                    fn __assert_event_fields() {
                        #({ #asserts })*
                    }
                };
            }
        }
    }
}

/// A stand-in impl emitted beside the errors, so code that uses the payload does not add
/// errors of its own.
fn payload_dummy(ident: &Ident, krate: &TokenStream) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl #krate::__private::EventPayload for #ident {
            const AVRO_FIELDS: &'static str = "[]";
            const AVRO_DOC: #krate::__private::Option<&'static str> = #krate::__private::Option::None;
            const FIELD_NAMES: &'static [&'static str] = &[];
            fn encode_avro(&self, _: &mut #krate::__private::Vec<u8>) {}
            fn field_values(&self) -> #krate::__private::Vec<(&'static str, #krate::__private::FieldValue)> {
                #krate::__private::Vec::new()
            }
        }
        #[automatically_derived]
        impl #krate::__private::EventDecode for #ident {
            fn decode_avro(
                _: &mut #krate::__private::AvroReader<'_>,
            ) -> #krate::__private::Result<Self, #krate::__private::DecodeError> {
                #krate::__private::Result::Err(#krate::__private::DecodeError {
                    field: "",
                    error: #krate::__private::AvroDecodeError::NotDecodable { ty: "an invalid payload" },
                })
            }
        }
    }
}

/// For each field whose type passed the syntactic rules, an assertion that it is an
/// `EventField`, whose diagnostic names the field and the rule. Expects `__m` in scope.
fn field_assertions(payload: &Payload<'_>, scalars: &[Option<&syn::Type>]) -> Vec<TokenStream> {
    payload
        .fields
        .iter()
        .zip(scalars)
        .enumerate()
        .filter(|(_, (_, scalar))| scalar.is_some())
        .map(|(index, (field, _))| {
            let ty = field.ty;
            let assert_trait = format_ident!("__AssertEventField{}", index);
            let message = format!(
                "field `{}` of `{}` has type `{{Self}}`, which cannot be an event field: InfluxDB stores only scalars",
                field.ident, payload.ident
            );
            quote_spanned! {ty.span()=>
                #[diagnostic::on_unimplemented(
                    message = #message,
                    label = "not a scalar event field type",
                    note = "allowed: bool, i8, i16, i32, i64, u8, u16, u32, f32, f64, String, &'static str, Box<str>, Arc<str>, Cow<'static, str>, std::time::Duration, chrono::TimeDelta, chrono::DateTime<Utc>, chrono::NaiveDate, chrono::NaiveTime, uuid::Uuid, a #[derive(EventEnum)] enum, or an Option of one of these",
                    note = "a nested struct cannot be stored: flatten its fields into the event"
                )]
                trait #assert_trait {}
                impl<T: __m::EventField + ?Sized> #assert_trait for T {}
                fn assert_event_field<T: #assert_trait + ?Sized>() {}
                assert_event_field::<#ty>();
            }
        })
        .collect()
}

fn payload_impl(
    payload: &Payload<'_>,
    scalars: &[Option<&syn::Type>],
    krate: &TokenStream,
) -> TokenStream {
    let ident = payload.ident;
    let mut pieces = Vec::new();
    let mut seen_scalars: Vec<String> = Vec::new();
    for (index, (field, scalar)) in payload.fields.iter().zip(scalars).enumerate() {
        let ty = field.ty;
        let checked = quote_spanned!(ty.span()=> __m::Checked::<#ty>);
        let open = format!(
            "{}{{\"name\":\"{}\",\"type\":",
            if index == 0 { "" } else { "," },
            field.name
        );
        // A named type (an enum) is defined at its first use and referenced by name after.
        let key = scalar.map(|s| quote!(#s).to_string()).unwrap_or_default();
        let schema = if seen_scalars.contains(&key) {
            quote!(#checked::REFERENCE)
        } else {
            seen_scalars.push(key);
            quote!(#checked::SCHEMA)
        };
        let close = format!("{}}}", doc_json(field.doc.as_ref()));
        pieces.push(quote!(#open, #checked::TYPE_OPEN, #schema, #checked::TYPE_CLOSE, #close));
    }
    let asserts = field_assertions(payload, scalars);
    let members: Vec<_> = payload.fields.iter().map(|f| f.ident).collect();
    let types: Vec<_> = payload.fields.iter().map(|f| f.ty).collect();
    let names: Vec<_> = payload.fields.iter().map(|f| &f.name).collect();
    let doc = match &payload.doc {
        Some(doc) => {
            let doc = json_escape(doc);
            quote!(__m::Option::Some(#doc))
        }
        None => quote!(__m::Option::None),
    };
    let (buf, reader) = if members.is_empty() {
        (quote!(_buf), quote!(_reader))
    } else {
        (quote!(buf), quote!(reader))
    };
    quote! {
        const _: () = {
            use #krate::__private as __m;
            #[allow(unused_imports)]
            use __m::UncheckedField as _;

            #[allow(dead_code, non_camel_case_types)]
            fn __assert_event_fields() {
                #({ #asserts })*
            }

            #[automatically_derived]
            impl __m::EventPayload for #ident {
                const AVRO_FIELDS: &'static str = __m::concatcp!("[", #(#pieces,)* "]");
                const AVRO_DOC: __m::Option<&'static str> = #doc;
                const FIELD_NAMES: &'static [&'static str] = &[#(#names),*];

                #[inline]
                fn encode_avro(&self, #buf: &mut __m::Vec<u8>) {
                    #( __m::Checked::<#types>::encode(&self.#members, #buf); )*
                }

                fn field_values(&self) -> __m::Vec<(&'static str, __m::FieldValue)> {
                    __m::Vec::from([#( (#names, __m::Checked::<#types>::value(&self.#members)) ),*])
                }
            }

            #[automatically_derived]
            impl __m::EventDecode for #ident {
                fn decode_avro(
                    #reader: &mut __m::AvroReader<'_>,
                ) -> __m::Result<Self, __m::DecodeError> {
                    __m::Result::Ok(Self {
                        #( #members: __m::Checked::<#types>::decode(#reader, #names)?, )*
                    })
                }
            }
        };
    }
}

pub fn derive_enum(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let event_enum = EventEnum::from_input(&mut cx, input);
    if let Some(event_enum) = &event_enum {
        valid::check_enum(&mut cx, event_enum);
    }
    match (event_enum, cx.into_compile_errors()) {
        (Some(event_enum), None) => enum_impl(&event_enum),
        (_, errors) if !input.generics.params.is_empty() => quote!(#errors),
        (event_enum, errors) => {
            let krate = runtime_crate(event_enum.as_ref().and_then(|e| e.krate.as_ref()));
            let ident = &input.ident;
            quote! {
                #errors
                #[automatically_derived]
                impl #krate::__private::EventScalar for #ident {
                    const AVRO_SCHEMA: &'static str = "\"null\"";
                    fn encode_avro(&self, _: &mut #krate::__private::Vec<u8>) {}
                    fn field_value(&self) -> #krate::__private::FieldValue {
                        #krate::__private::FieldValue::Null
                    }
                }
            }
        }
    }
}

fn enum_impl(event_enum: &EventEnum<'_>) -> TokenStream {
    let krate = runtime_crate(event_enum.krate.as_ref());
    let ident = event_enum.ident;
    let symbols: Vec<_> = event_enum.variants.iter().map(|v| &v.symbol).collect();
    let schema = format!(
        "{{\"type\":\"enum\",\"name\":\"{ident}\"{},\"symbols\":[{}]}}",
        doc_json(event_enum.doc.as_ref()),
        symbols
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let reference = format!("\"{ident}\"");
    let variants: Vec<_> = event_enum.variants.iter().map(|v| v.ident).collect();
    // Unsuffixed literals: `i32` where they are written, `i64` where they are read.
    let indexes: Vec<_> = (0..variants.len())
        .map(proc_macro2::Literal::usize_unsuffixed)
        .collect();
    let count = variants.len();
    let name = ident.to_string();
    quote! {
        const _: () = {
            use #krate::__private as __m;

            #[automatically_derived]
            impl __m::EventScalar for #ident {
                const AVRO_SCHEMA: &'static str = #schema;
                const AVRO_REFERENCE: &'static str = #reference;

                #[inline]
                fn encode_avro(&self, buf: &mut __m::Vec<u8>) {
                    __m::avro::write_int(buf, match self { #( Self::#variants => #indexes, )* });
                }

                fn field_value(&self) -> __m::FieldValue {
                    __m::FieldValue::Enum(match self { #( Self::#variants => #symbols, )* })
                }
            }

            #[automatically_derived]
            impl __m::DecodeScalar for #ident {
                fn decode_avro(
                    reader: &mut __m::AvroReader<'_>,
                ) -> __m::Result<Self, __m::AvroDecodeError> {
                    match reader.read_long()? {
                        #( #indexes => __m::Result::Ok(Self::#variants), )*
                        index => __m::Result::Err(__m::AvroDecodeError::EnumIndex {
                            index,
                            symbols: #count,
                            ty: #name,
                        }),
                    }
                }
            }
        };
    }
}
