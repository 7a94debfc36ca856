//! Local schema compatibility checks with apache-avro, producing messages that name fields.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::UnionSchema;
use apache_avro::schema_compatibility::{Compatibility as AvroCompatibility, SchemaCompatibility};

use super::CompatibilityLevel;

/// Which way data flows in one check.
#[derive(Clone, Copy)]
enum Direction {
    /// The new schema reads data written with the old one.
    Backward,
    /// The old schema reads data written with the new one.
    Forward,
}

impl Direction {
    /// The role of the reading schema, for messages.
    fn reader(self) -> &'static str {
        match self {
            Self::Backward => "the new schema",
            Self::Forward => "the old schema",
        }
    }

    /// The role of the writing schema, for messages.
    fn writer(self) -> &'static str {
        match self {
            Self::Backward => "the old schema",
            Self::Forward => "the new schema",
        }
    }
}

/// Explains why `new` breaks `level` against `previous`, both given as schema text.
///
/// Returns no message when the schemas are compatible or either cannot be parsed.
pub(crate) fn explain(previous: &str, new: &str, level: CompatibilityLevel) -> Vec<String> {
    match (Schema::parse_str(previous), Schema::parse_str(new)) {
        (Ok(previous), Ok(new)) => check(&previous, &new, level),
        _ => Vec::new(),
    }
}

/// Checks `new` against one registered schema under `level`: no message means compatible.
pub(crate) fn check(previous: &Schema, new: &Schema, level: CompatibilityLevel) -> Vec<String> {
    let previous = inline_refs(previous);
    let new = inline_refs(new);
    let mut messages = Vec::new();
    if level.checks_backward() {
        messages.extend(check_read(&previous, &new, Direction::Backward));
    }
    if level.checks_forward() {
        messages.extend(check_read(&new, &previous, Direction::Forward));
    }
    messages
}

/// Whether `reader` can read everything written with `writer`; messages if not.
fn check_read(writer: &Schema, reader: &Schema, direction: Direction) -> Vec<String> {
    let verdict = SchemaCompatibility::can_read(writer, reader);
    if matches!(verdict, Ok(AvroCompatibility::Full)) {
        return Vec::new();
    }
    let mut messages = field_messages(writer, reader, direction);
    if messages.is_empty() {
        messages.push(match verdict {
            Err(error) => format!(
                "{} cannot read data written with {}: {}",
                direction.reader(),
                direction.writer(),
                metrics_core::ErrorChain(&error)
            ),
            Ok(_) => format!(
                "{} cannot read every value written with {} (an enum symbol or a union \
                 branch is missing)",
                direction.reader(),
                direction.writer()
            ),
        });
    }
    messages
}

/// Field-by-field messages for two top-level records.
fn field_messages(writer: &Schema, reader: &Schema, direction: Direction) -> Vec<String> {
    let (Schema::Record(writer), Schema::Record(reader)) = (writer, reader) else {
        return Vec::new();
    };
    let mut messages = Vec::new();
    for field in &reader.fields {
        let written = writer
            .fields
            .iter()
            .find(|w| w.name == field.name)
            .or_else(|| {
                field
                    .aliases
                    .iter()
                    .find_map(|alias| writer.fields.iter().find(|w| &w.name == alias))
            });
        match written {
            None if field.default.is_none() => messages.push(match direction {
                Direction::Backward => format!(
                    "field '{}' is new and has no default value, so the new schema cannot \
                     read data written with the old schema; give it a default (an optional \
                     field defaults to null)",
                    field.name
                ),
                Direction::Forward => format!(
                    "field '{}' of the old schema has no default value and is missing from \
                     the new schema, so readers using the old schema cannot read new data",
                    field.name
                ),
            }),
            None => {}
            Some(written) => match SchemaCompatibility::can_read(&written.schema, &field.schema) {
                Ok(AvroCompatibility::Full) => {}
                Ok(AvroCompatibility::Partial) => messages.push(format!(
                    "field '{}': {} cannot read every value written with {} (an enum symbol \
                     or a union branch such as null is missing)",
                    field.name,
                    direction.reader(),
                    direction.writer()
                )),
                Err(error) => messages.push(format!(
                    "field '{}' changed type: {} cannot read its values written with {} ({})",
                    field.name,
                    direction.reader(),
                    direction.writer(),
                    metrics_core::ErrorChain(&error)
                )),
            },
        }
    }
    messages
}

/// Replaces named references by their definitions, so that fields can be compared one by
/// one and a type defined in a different field of each schema still matches. Recursive
/// references stay references.
fn inline_refs(schema: &Schema) -> Schema {
    let mut definitions = HashMap::new();
    collect_named(schema, &mut definitions);
    inline(schema, &definitions, &mut Vec::new())
}

/// Collects the definitions of the named types in `schema`, by full name.
fn collect_named(schema: &Schema, definitions: &mut HashMap<String, Schema>) {
    match schema {
        Schema::Record(record) => {
            definitions
                .entry(record.name.fullname(None))
                .or_insert_with(|| schema.clone());
            for field in &record.fields {
                collect_named(&field.schema, definitions);
            }
        }
        Schema::Enum(inner) => {
            definitions
                .entry(inner.name.fullname(None))
                .or_insert_with(|| schema.clone());
        }
        Schema::Fixed(inner) => {
            definitions
                .entry(inner.name.fullname(None))
                .or_insert_with(|| schema.clone());
        }
        Schema::Array(array) => collect_named(&array.items, definitions),
        Schema::Map(map) => collect_named(&map.types, definitions),
        Schema::Union(union) => {
            for variant in union.variants() {
                collect_named(variant, definitions);
            }
        }
        _ => {}
    }
}

/// `schema` with its references replaced by `definitions`; `expanding` holds the records
/// being expanded, whose references are left as they are.
fn inline(
    schema: &Schema,
    definitions: &HashMap<String, Schema>,
    expanding: &mut Vec<String>,
) -> Schema {
    match schema {
        Schema::Ref { name } => {
            let full = name.fullname(None);
            match definitions.get(&full) {
                Some(definition) if !expanding.contains(&full) => {
                    inline(definition, definitions, expanding)
                }
                _ => schema.clone(),
            }
        }
        Schema::Record(record) => {
            expanding.push(record.name.fullname(None));
            let mut record = record.clone();
            for field in &mut record.fields {
                field.schema = inline(&field.schema, definitions, expanding);
            }
            expanding.pop();
            Schema::Record(record)
        }
        Schema::Array(array) => {
            let mut array = array.clone();
            array.items = Box::new(inline(&array.items, definitions, expanding));
            Schema::Array(array)
        }
        Schema::Map(map) => {
            let mut map = map.clone();
            map.types = Box::new(inline(&map.types, definitions, expanding));
            Schema::Map(map)
        }
        Schema::Union(union) => {
            let variants = union
                .variants()
                .iter()
                .map(|variant| inline(variant, definitions, expanding))
                .collect();
            UnionSchema::new(variants).map_or_else(|_| schema.clone(), Schema::Union)
        }
        _ => schema.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"{"type":"record","name":"query","namespace":"t","fields":[
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["a","b"]}},
        {"name":"other","type":"Kind"},
        {"name":"duration","type":"double"}]}"#;

    #[test]
    fn adding_a_field_without_default_names_the_field_under_backward() {
        let new = OLD.replace(
            r#"{"name":"duration","type":"double"}"#,
            r#"{"name":"duration","type":"double"},{"name":"rows","type":"long"}"#,
        );
        let messages = explain(OLD, &new, CompatibilityLevel::Backward);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains("'rows'"), "{messages:?}");
    }

    #[test]
    fn removing_a_field_without_default_names_it_under_forward() {
        let new = OLD.replace(
            r#"{"name":"duration","type":"double"}"#,
            r#"{"name":"note","type":["null","string"],"default":null}"#,
        );
        assert!(explain(OLD, &new, CompatibilityLevel::Backward).is_empty());
        let messages = explain(OLD, &new, CompatibilityLevel::Forward);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains("'duration'"), "{messages:?}");
    }

    #[test]
    fn an_enum_defined_in_another_field_still_matches() {
        let swapped = r#"{"type":"record","name":"query","namespace":"t","fields":[
            {"name":"other","type":{"type":"enum","name":"Kind","symbols":["a","b"]}},
            {"name":"kind","type":"Kind"},
            {"name":"duration","type":"double"}]}"#;
        assert!(explain(OLD, swapped, CompatibilityLevel::FullTransitive).is_empty());
    }

    #[test]
    fn changing_a_field_type_names_the_field() {
        let new = OLD.replace(
            r#"{"name":"duration","type":"double"}"#,
            r#"{"name":"duration","type":"string"}"#,
        );
        let messages = explain(OLD, &new, CompatibilityLevel::Backward);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains("'duration' changed type"),
            "{messages:?}"
        );
    }

    #[test]
    fn removing_an_enum_symbol_is_reported_under_backward() {
        let new = OLD.replace(r#"["a","b"]"#, r#"["a"]"#);
        let messages = explain(OLD, &new, CompatibilityLevel::Backward);
        assert!(!messages.is_empty());
        assert!(
            messages.iter().any(|m| m.contains("'kind'")),
            "{messages:?}"
        );
    }
}
