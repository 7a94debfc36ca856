//! The semantic rules: Avro names, reserved metadata names, and which field types InfluxDB
//! can store.

use std::collections::HashSet;

use syn::{GenericArgument, PathArguments, Type, TypePath};

use crate::ast::{EventEnum, Payload};
use crate::ctxt::Ctxt;

use metrics_rules::{NAME_RULE, is_reserved_field_name, is_valid_name as is_valid_avro_name};

/// Checks every field of `payload`; returns, per field, the scalar type to compare for
/// repeated named types, or `None` for a field whose type was rejected.
pub fn check_payload<'a>(cx: &mut Ctxt, payload: &Payload<'a>) -> Vec<Option<&'a Type>> {
    let mut seen = HashSet::new();
    payload
        .fields
        .iter()
        .map(|field| {
            let name = &field.name;
            let span_at = |cx: &mut Ctxt, message: String| match &field.rename {
                Some(rename) => cx.error_spanned_by(rename, message),
                None => cx.error_spanned_by(field.ident, message),
            };
            if is_reserved_field_name(name) {
                span_at(
                    cx,
                    format!(
                        "field `{name}` is reserved: every event carries metadata fields named \
                         `id`, `application`, `timestamp` and `timestamp_ns`; rename the field \
                         (e.g. `#[event(rename = \"{name}_\")]` or a more specific name)"
                    ),
                );
            } else if !is_valid_avro_name(name) {
                span_at(
                    cx,
                    format!("field name {name:?} is not a valid Avro name: {NAME_RULE}"),
                );
            } else if !seen.insert(name.clone()) {
                span_at(
                    cx,
                    format!("field name {name:?} is used twice: Avro field names must be unique"),
                );
            }
            match scalar_of(field.ty) {
                Ok(scalar) => Some(scalar),
                Err(rule) => {
                    cx.error_spanned_by(field.ty, format_args!("field `{}` {rule}", field.ident));
                    None
                }
            }
        })
        .collect()
}

/// Checks the symbols of an event enum.
pub fn check_enum(cx: &mut Ctxt, event_enum: &EventEnum<'_>) {
    let name = event_enum.ident.to_string();
    if !is_valid_avro_name(&name) {
        cx.error_spanned_by(
            event_enum.ident,
            format_args!("enum name {name:?} is not a valid Avro name: {NAME_RULE}"),
        );
    }
    let mut seen = HashSet::new();
    for variant in &event_enum.variants {
        let symbol = &variant.symbol;
        if !is_valid_avro_name(symbol) {
            cx.syn_error(syn::Error::new(
                variant.symbol_span,
                format!(
                    "enum symbol {symbol:?} of variant `{}` is not a valid Avro name: {NAME_RULE}",
                    variant.ident
                ),
            ));
        } else if !seen.insert(symbol.clone()) {
            cx.syn_error(syn::Error::new(
                variant.symbol_span,
                format!("enum symbol {symbol:?} is used twice: Avro enum symbols must be unique"),
            ));
        }
    }
}

fn last_segment(path: &TypePath) -> Option<(String, &PathArguments)> {
    let segment = path.path.segments.last()?;
    Some((segment.ident.to_string(), &segment.arguments))
}

fn first_type_argument(arguments: &PathArguments) -> Option<&Type> {
    match arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    }
}

fn is_u8(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("u8"))
}

const LIST_WHY: &str = "InfluxDB stores only scalars, so an event field cannot hold a list; \
                        publish one event per item, or aggregate into scalar fields (a count, a total)";
const MAP: &str = "is a map (dict): InfluxDB stores only scalars, so an event field cannot hold a \
                   map; give each key its own field";
const BYTES: &str = "is bytes: InfluxDB cannot store raw bytes; encode them into a String \
                     (hex or base64) if you need them";

/// The scalar type inside `ty` (through one `Option`), or why `ty` can never be a field.
///
/// Paths the macro cannot see into (user types, aliases) pass here and meet the
/// `EventField` bound, whose message names the field.
fn scalar_of(ty: &Type) -> Result<&Type, String> {
    match ty {
        Type::Group(group) => scalar_of(&group.elem),
        Type::Paren(paren) => scalar_of(&paren.elem),
        Type::Array(array) if is_u8(&array.elem) => Err(BYTES.into()),
        Type::Array(_) => Err(format!("is an array: {LIST_WHY}")),
        Type::Slice(_) => Err(format!("is a slice: {LIST_WHY}")),
        Type::Tuple(tuple) if tuple.elems.is_empty() => {
            Err("is `()`: it holds no value; remove the field".into())
        }
        Type::Tuple(_) => {
            Err("is a tuple: InfluxDB stores only scalars; give each element its own field".into())
        }
        Type::Reference(reference) => match &*reference.elem {
            Type::Path(p) if p.path.is_ident("str") => match &reference.lifetime {
                Some(lifetime) if lifetime.ident == "static" => Ok(ty),
                _ => Err("is a borrowed `&str`: use `String` or `&'static str`".into()),
            },
            Type::Slice(slice) if is_u8(&slice.elem) => Err(BYTES.into()),
            Type::Slice(_) => Err(format!("is a slice: {LIST_WHY}")),
            _ => Err("is a reference: an event owns its values; use an owned scalar type".into()),
        },
        Type::Path(path) if path.qself.is_none() => {
            let Some((ident, arguments)) = last_segment(path) else {
                return Ok(ty);
            };
            let argument = first_type_argument(arguments);
            match ident.as_str() {
                "Option" => match argument {
                    Some(inner) if is_option(inner) => {
                        Err("is a nested `Option`: Avro has one null; use a single `Option`".into())
                    }
                    Some(inner) => scalar_of(inner)
                        .map_err(|rule| format!("is an `Option` of a type that {rule}")),
                    None => Ok(ty),
                },
                "Vec" | "VecDeque" | "Box" | "Rc" | "Arc"
                    if argument.is_some_and(is_u8_slice_or_u8) =>
                {
                    Err(BYTES.into())
                }
                "Bytes" | "BytesMut" | "ByteBuf" => Err(BYTES.into()),
                "Vec" | "VecDeque" | "LinkedList" | "HashSet" | "BTreeSet" | "BinaryHeap"
                | "IndexSet" | "SmallVec" | "ArrayVec" => Err(format!("is a list: {LIST_WHY}")),
                "HashMap" | "BTreeMap" | "IndexMap" | "Map" | "Value" => Err(MAP.into()),
                "u64" | "usize" if arguments.is_none() => Err(format!(
                    "is `{ident}`, out of Avro `long` range (a signed 64-bit integer): use `i64`"
                )),
                "u128" | "i128" if arguments.is_none() => Err(format!(
                    "is `{ident}`: 128-bit integers do not fit an Avro `long`; use `i64`"
                )),
                "isize" if arguments.is_none() => {
                    Err("is `isize`, whose size depends on the platform: use `i64`".into())
                }
                "char" if arguments.is_none() => {
                    Err("is `char`: Avro has no character type; use `String`".into())
                }
                _ => Ok(ty),
            }
        }
        _ => Err(
            "is not a scalar type: InfluxDB stores only scalars (numbers, strings, booleans, \
                  times, enums)"
                .into(),
        ),
    }
}

fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if last_segment(p).is_some_and(|(ident, _)| ident == "Option"))
}

fn is_u8_slice_or_u8(ty: &Type) -> bool {
    is_u8(ty) || matches!(ty, Type::Slice(slice) if is_u8(&slice.elem))
}
