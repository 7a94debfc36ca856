//! Avro values as JSON a person (or `jq`) reads: timestamps as RFC 3339, UUIDs as strings,
//! enums as their symbols, unions as the value of their branch, decimals as exact decimal
//! strings, bytes as base64, non-finite floats as `"NaN"`, `"Infinity"`, `"-Infinity"`.
//! Safir's durations are doubles already: seconds. Two ways to get there: from
//! apache-avro's decoded value ([`to_json`]), or straight from the Avro bytes to JSON text
//! ([`write_json`]), the same output without building either value.

use std::collections::BTreeMap;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{InnerDecimalSchema, Names, UuidSchema};
use apache_avro::types::Value;
use base64::Engine as _;
use chrono::{DateTime, NaiveTime, SecondsFormat, TimeDelta, Utc};
use metrics_core::decode::AvroReader;
use serde_json::{Map, Value as Json};

/// `value` as JSON, with `schema` (its writer schema; `names` resolves named references)
/// giving what the value alone does not say (a decimal's scale).
pub(crate) fn to_json(value: &Value, schema: Option<&Schema>, names: &Names) -> Json {
    let schema = resolve(schema, names);
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int(n) => Json::from(*n),
        Value::Long(n) => Json::from(*n),
        Value::Float(f) => float(f64::from(*f)),
        Value::Double(f) => float(*f),
        Value::Bytes(bytes) | Value::Fixed(_, bytes) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Value::String(s) => Json::String(s.clone()),
        Value::Enum(_, symbol) => Json::String(symbol.clone()),
        Value::Union(index, inner) => {
            let branch = match schema {
                Some(Schema::Union(union)) => union.variants().get(*index as usize),
                _ => None,
            };
            to_json(inner, branch, names)
        }
        Value::Array(items) => {
            let item_schema = match schema {
                Some(Schema::Array(array)) => Some(&*array.items),
                _ => None,
            };
            Json::Array(
                items
                    .iter()
                    .map(|v| to_json(v, item_schema, names))
                    .collect(),
            )
        }
        Value::Map(entries) => {
            let value_schema = match schema {
                Some(Schema::Map(map)) => Some(&*map.types),
                _ => None,
            };
            // Sorted: a map's order carries no meaning, a stable output helps diffs.
            let sorted: BTreeMap<&String, &Value> = entries.iter().collect();
            Json::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_json(v, value_schema, names)))
                    .collect(),
            )
        }
        Value::Record(fields) => {
            let field_schemas = match schema {
                Some(Schema::Record(record)) => Some(&record.fields),
                _ => None,
            };
            let mut object = Map::with_capacity(fields.len());
            for (index, (name, v)) in fields.iter().enumerate() {
                let field_schema = field_schemas
                    .and_then(|f| f.get(index))
                    .filter(|f| f.name == *name)
                    .map(|f| &f.schema);
                object.insert(name.clone(), to_json(v, field_schema, names));
            }
            Json::Object(object)
        }
        Value::Date(days) => {
            let date = metrics_core::payload::date_from_days(*days);
            date.map_or_else(|| Json::from(*days), |d| Json::String(d.to_string()))
        }
        Value::TimeMillis(ms) => time_of_day(i64::from(*ms) * 1_000_000),
        Value::TimeMicros(us) => time_of_day(us.saturating_mul(1000)),
        Value::TimestampMillis(ms) => timestamp(*ms, 1_000_000, SecondsFormat::Millis, true),
        Value::TimestampMicros(us) => timestamp(*us, 1000, SecondsFormat::Micros, true),
        Value::TimestampNanos(ns) => timestamp(*ns, 1, SecondsFormat::Nanos, true),
        Value::LocalTimestampMillis(ms) => timestamp(*ms, 1_000_000, SecondsFormat::Millis, false),
        Value::LocalTimestampMicros(us) => timestamp(*us, 1000, SecondsFormat::Micros, false),
        Value::LocalTimestampNanos(ns) => timestamp(*ns, 1, SecondsFormat::Nanos, false),
        Value::Uuid(uuid) => Json::String(uuid.to_string()),
        Value::Decimal(decimal) => {
            let scale = match schema {
                Some(Schema::Decimal(d)) => d.scale,
                _ => 0,
            };
            let unscaled = num_bigint::BigInt::from(decimal.clone());
            Json::String(scaled_text(&unscaled, scale))
        }
        Value::BigDecimal(big) => Json::String(big.to_string()),
        Value::Duration(duration) => serde_json::json!({
            "months": u32::from(duration.months()),
            "days": u32::from(duration.days()),
            "milliseconds": u32::from(duration.millis()),
        }),
    }
}

/// How deep values may nest, counting every record, array, map, union and reference
/// level (a recursive list takes three per node): a recursive schema and a crafted body
/// cannot exhaust the stack.
const MAX_DEPTH: usize = 512;

/// Appends the Avro binary value of `schema` at `reader` to `out` as JSON text: exactly
/// what [`to_json`] renders for the value apache-avro decodes from the same bytes, without
/// building that value or a `serde_json` tree (`names` resolves named references).
///
/// # Errors
///
/// What is wrong with the bytes, and where: truncated, corrupt, or a value the type
/// cannot hold (a union branch or enum index out of range, text that is not a UUID).
pub(crate) fn write_json(
    schema: &Schema,
    names: &Names,
    reader: &mut AvroReader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    write_value(schema, names, reader, out, 0)
}

fn write_value(
    schema: &Schema,
    names: &Names,
    reader: &mut AvroReader<'_>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("values nest deeper than {MAX_DEPTH} levels"));
    }
    let at = reader.position();
    let located = |error: metrics_core::decode::AvroDecodeError| format!("{error} (at byte {at})");
    match schema {
        Schema::Null => out.extend_from_slice(b"null"),
        Schema::Boolean => {
            let value = reader.read_bool().map_err(located)?;
            out.extend_from_slice(if value { b"true" } else { b"false" });
        }
        Schema::Int => put(out, &reader.read_int().map_err(located)?),
        Schema::Long => put(out, &reader.read_long().map_err(located)?),
        Schema::Float => put(
            out,
            &float(f64::from(reader.read_float().map_err(located)?)),
        ),
        Schema::Double => put(out, &float(reader.read_double().map_err(located)?)),
        Schema::Bytes => {
            let bytes = reader.read_length_prefixed().map_err(located)?;
            put_base64(out, bytes);
        }
        Schema::String => put(out, reader.read_str().map_err(located)?),
        Schema::Fixed(fixed) => put_base64(out, reader.read_bytes(fixed.size).map_err(located)?),
        Schema::Enum(enumeration) => {
            let index = reader.read_int().map_err(located)?;
            let symbol = usize::try_from(index)
                .ok()
                .and_then(|i| enumeration.symbols.get(i))
                .ok_or_else(|| format!("enum index {index} is out of range (at byte {at})"))?;
            put(out, symbol);
        }
        Schema::Union(union) => {
            let index = reader.read_long().map_err(located)?;
            let branch = usize::try_from(index)
                .ok()
                .and_then(|i| union.variants().get(i))
                .ok_or_else(|| format!("union branch {index} does not exist (at byte {at})"))?;
            write_value(branch, names, reader, out, depth + 1)?;
        }
        Schema::Record(record) => {
            out.push(b'{');
            for (i, field) in record.fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put(out, &field.name);
                out.push(b':');
                write_value(&field.schema, names, reader, out, depth + 1)?;
            }
            out.push(b'}');
        }
        Schema::Array(array) => {
            out.push(b'[');
            let mut first = true;
            blocks(reader, |reader| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                write_value(&array.items, names, reader, out, depth + 1)
            })?;
            out.push(b']');
        }
        Schema::Map(map) => {
            // Sorted by key, a repeated key keeping its last value, as `to_json` does.
            let mut entries = BTreeMap::new();
            blocks(reader, |reader| {
                let key = reader.read_str().map_err(|e| e.to_string())?;
                let mut value = Vec::new();
                write_value(&map.types, names, reader, &mut value, depth + 1)?;
                entries.insert(key, value);
                Ok(())
            })?;
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put(out, key);
                out.push(b':');
                out.extend_from_slice(&value);
            }
            out.push(b'}');
        }
        Schema::Decimal(decimal) => {
            let bytes = match &decimal.inner {
                InnerDecimalSchema::Fixed(fixed) => reader.read_bytes(fixed.size),
                InnerDecimalSchema::Bytes => reader.read_length_prefixed(),
            }
            .map_err(located)?;
            put(out, &decimal_text(bytes, decimal.scale));
        }
        Schema::Uuid(kind) => {
            let uuid = match kind {
                UuidSchema::String => {
                    let text = reader.read_str().map_err(located)?;
                    uuid::Uuid::try_parse(text).map_err(|e| format!("{e} (at byte {at})"))?
                }
                UuidSchema::Bytes => uuid_from(reader.read_length_prefixed().map_err(located)?)?,
                UuidSchema::Fixed(fixed) => {
                    uuid_from(reader.read_bytes(fixed.size).map_err(located)?)?
                }
            };
            put(
                out,
                uuid.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            );
        }
        Schema::Date => {
            let days = reader.read_int().map_err(located)?;
            match metrics_core::payload::date_from_days(days) {
                Some(date) => put(out, &date.to_string()),
                None => put(out, &days),
            }
        }
        Schema::TimeMillis => {
            let millis = reader.read_int().map_err(located)?;
            put(out, &time_of_day(i64::from(millis) * 1_000_000));
        }
        Schema::TimeMicros => {
            let micros = reader.read_long().map_err(located)?;
            put(out, &time_of_day(micros.saturating_mul(1000)));
        }
        Schema::TimestampMillis | Schema::LocalTimestampMillis => {
            let millis = reader.read_long().map_err(located)?;
            let utc = matches!(schema, Schema::TimestampMillis);
            put(
                out,
                &timestamp(millis, 1_000_000, SecondsFormat::Millis, utc),
            );
        }
        Schema::TimestampMicros | Schema::LocalTimestampMicros => {
            let micros = reader.read_long().map_err(located)?;
            let utc = matches!(schema, Schema::TimestampMicros);
            put(out, &timestamp(micros, 1000, SecondsFormat::Micros, utc));
        }
        Schema::TimestampNanos | Schema::LocalTimestampNanos => {
            let nanos = reader.read_long().map_err(located)?;
            let utc = matches!(schema, Schema::TimestampNanos);
            put(out, &timestamp(nanos, 1, SecondsFormat::Nanos, utc));
        }
        Schema::Ref { name } => {
            let named = names
                .get(name)
                .ok_or_else(|| format!("the schema names {name}, which it does not define"))?;
            write_value(named, names, reader, out, depth + 1)?;
        }
        // Rare and self-contained: read by apache-avro, rendered from its value.
        Schema::BigDecimal | Schema::Duration(_) => {
            let rest = reader.rest();
            let mut unread = rest;
            let value = GenericDatumReader::builder(schema)
                .build()
                .and_then(|r| r.read_value(&mut unread))
                .map_err(|e| format!("{e} (at byte {at})"))?;
            reader
                .read_bytes(rest.len() - unread.len())
                .map_err(located)?;
            put(out, &to_json(&value, Some(schema), names));
        }
    }
    Ok(())
}

/// Reads the blocks of an array or a map (a count, then that many items; a negative
/// count is followed by the block's size in bytes; zero ends), calling `item` for each.
fn blocks<'a>(
    reader: &mut AvroReader<'a>,
    mut item: impl FnMut(&mut AvroReader<'a>) -> Result<(), String>,
) -> Result<(), String> {
    loop {
        let at = reader.position();
        let count = reader.read_long().map_err(|e| e.to_string())?;
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            reader.read_long().map_err(|e| e.to_string())?;
        }
        // Each item takes a byte at least (the schema was checked for zero-size items).
        let count = count.unsigned_abs();
        if count > reader.remaining() as u64 {
            return Err(format!(
                "a block of {count} items at byte {at} is longer than the body"
            ));
        }
        for _ in 0..count {
            item(reader)?;
        }
    }
}

fn uuid_from(bytes: &[u8]) -> Result<uuid::Uuid, String> {
    uuid::Uuid::from_slice(bytes).map_err(|e| format!("a UUID of {} bytes: {e}", bytes.len()))
}

/// Appends `value` as JSON (escaped, when a string).
fn put(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
    // Serializing plain values into a vector cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn put_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Follows a named reference to its definition.
fn resolve<'s>(schema: Option<&'s Schema>, names: &'s Names) -> Option<&'s Schema> {
    match schema {
        Some(Schema::Ref { name }) => names.get(name),
        other => other,
    }
}

fn float(f: f64) -> Json {
    match serde_json::Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// `count` units of `unit_ns` nanoseconds since the epoch, as RFC 3339 (with `Z` when
/// `utc`, without an offset for a local timestamp); the number itself if out of range.
fn timestamp(count: i64, unit_ns: i64, format: SecondsFormat, utc: bool) -> Json {
    let seconds = count.div_euclid(1_000_000_000 / unit_ns);
    let nanos = count.rem_euclid(1_000_000_000 / unit_ns) * unit_ns;
    match DateTime::<Utc>::from_timestamp(seconds, nanos as u32) {
        Some(t) if utc => Json::String(t.to_rfc3339_opts(format, true)),
        Some(t) => {
            let text = t.naive_utc().and_utc().to_rfc3339_opts(format, true);
            Json::String(text.trim_end_matches('Z').to_owned())
        }
        None => Json::from(count),
    }
}

/// Nanoseconds since midnight as `HH:MM:SS.fff...`; the number if out of range.
fn time_of_day(nanos: i64) -> Json {
    let time = (0..86_400_000_000_000)
        .contains(&nanos)
        .then(|| NaiveTime::MIN + TimeDelta::nanoseconds(nanos));
    time.map_or_else(|| Json::from(nanos), |t| Json::String(t.to_string()))
}

/// A big-endian two's-complement unscaled integer with `scale` digits after the point
/// (no bytes is zero).
fn decimal_text(bytes: &[u8], scale: usize) -> String {
    scaled_text(&num_bigint::BigInt::from_signed_bytes_be(bytes), scale)
}

/// `unscaled` with `scale` digits after the point.
fn scaled_text(unscaled: &num_bigint::BigInt, scale: usize) -> String {
    let unscaled = unscaled.to_string();
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", unscaled.as_str()),
    };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn plain(value: Value) -> Json {
        to_json(&value, None, &HashMap::new())
    }

    #[test]
    fn logical_types_read_as_people_write_them() {
        assert_eq!(
            plain(Value::TimestampMillis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            plain(Value::TimestampMicros(-1)),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            plain(Value::LocalTimestampMillis(0)),
            "1970-01-01T00:00:00.000"
        );
        assert_eq!(plain(Value::Date(-1)), "1969-12-31");
        assert_eq!(plain(Value::TimeMillis(3_723_004)), "01:02:03.004");
        assert_eq!(plain(Value::Enum(1, "sync".into())), "sync");
        assert_eq!(
            plain(Value::Union(1, Box::new(Value::Long(7)))),
            Json::from(7)
        );
        assert_eq!(plain(Value::Bytes(vec![0, 255])), "AP8=");
        assert_eq!(plain(Value::Double(f64::NAN)), "NaN");
        assert_eq!(plain(Value::Float(f32::NEG_INFINITY)), "-Infinity");
    }

    #[test]
    fn decimals_keep_every_digit() {
        assert_eq!(decimal_text(&[0x04, 0xD2], 2), "12.34");
        assert_eq!(decimal_text(&[0xFF], 3), "-0.001");
        assert_eq!(decimal_text(&[0x05], 0), "5");
        let schema = Schema::parse_str(
            r#"{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}"#,
        )
        .unwrap();
        let value = Value::Decimal(apache_avro::Decimal::from([0xFB, 0x2E]));
        assert_eq!(to_json(&value, Some(&schema), &HashMap::new()), "-12.34");
    }

    #[test]
    fn records_keep_their_field_order() {
        let record = Value::Record(vec![
            ("zeta".into(), Value::Int(1)),
            ("alpha".into(), Value::Null),
        ]);
        assert_eq!(
            serde_json::to_string(&plain(record)).unwrap(),
            r#"{"zeta":1,"alpha":null}"#
        );
    }
}
