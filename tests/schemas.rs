//! The full record schemas the derive produces parse with apache-avro and match the
//! stored expectations: parsing canonical form plus the logical types (which the
//! canonical form drops).

mod common;

use apache_avro::Schema;
use app_metrics::EventPayload;
use app_metrics::schema::record_schema;
use common::{Everything, Heartbeat, LoginEvent, NAMESPACE, QueryEvent};
use serde_json::Value;

/// `field name -> logicalType` for every field whose type carries one (through unions).
fn logical_types(schema: &str) -> Vec<(String, String)> {
    fn logical(ty: &Value) -> Option<String> {
        match ty {
            Value::Object(map) => map
                .get("logicalType")
                .and_then(Value::as_str)
                .map(str::to_owned),
            Value::Array(branches) => branches.iter().find_map(logical),
            _ => None,
        }
    }
    let json: Value = serde_json::from_str(schema).expect("schema is JSON");
    json["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| Some((f["name"].as_str()?.to_owned(), logical(&f["type"])?)))
        .collect()
}

fn check<P: EventPayload>(name: &str, canonical: &str, logical: &[(&str, &str)]) {
    let schema = record_schema::<P>(name, NAMESPACE).expect("valid names");
    let parsed =
        Schema::parse_str(&schema).unwrap_or_else(|e| panic!("apache-avro rejects {schema}: {e}"));
    assert_eq!(parsed.canonical_form(), canonical);
    let expected: Vec<(String, String)> = logical
        .iter()
        .map(|(f, l)| (f.to_string(), l.to_string()))
        .collect();
    assert_eq!(logical_types(&schema), expected);
}

// apache-avro's canonical form keeps a known logical type's schema as an object
// (`{"type":"long"}`); an unknown one (Safir's timedelta) becomes the bare primitive.
const META_CANONICAL: &str = r#"{"name":"id","type":{"type":"string"}},{"name":"application","type":"string"},{"name":"timestamp","type":{"type":"long"}},{"name":"timestamp_ns","type":"long"}"#;
const META_LOGICAL: [(&str, &str); 2] = [("id", "uuid"), ("timestamp", "timestamp-millis")];

#[test]
fn query_event_schema_matches_safirs_layout() {
    let canonical = format!(
        r#"{{"name":"lsst.square.metrics.events.testapp.query","type":"record","fields":[{META_CANONICAL},{{"name":"type","type":{{"name":"lsst.square.metrics.events.testapp.QueryType","type":"enum","symbols":["async","sync"]}}}},{{"name":"duration","type":"double"}},{{"name":"username","type":["null","string"]}},{{"name":"rows","type":"long"}}]}}"#
    );
    let mut logical = META_LOGICAL.to_vec();
    logical.push(("duration", "dataclasses-avroschema-timedelta"));
    check::<QueryEvent>("query", &canonical, &logical);
}

#[test]
fn login_event_schema_has_an_optional_string() {
    let canonical = format!(
        r#"{{"name":"lsst.square.metrics.events.testapp.login","type":"record","fields":[{META_CANONICAL},{{"name":"username","type":"string"}},{{"name":"success","type":"boolean"}},{{"name":"provider","type":["null","string"]}}]}}"#
    );
    check::<LoginEvent>("login", &canonical, &META_LOGICAL);
}

#[test]
fn an_event_without_fields_has_only_metadata() {
    let canonical = format!(
        r#"{{"name":"lsst.square.metrics.events.testapp.heartbeat","type":"record","fields":[{META_CANONICAL}]}}"#
    );
    check::<Heartbeat>("heartbeat", &canonical, &META_LOGICAL);
}

#[test]
fn every_type_maps_as_designed_and_a_repeated_enum_is_a_reference() {
    let fields = [
        r#"{"name":"a_bool","type":"boolean"}"#,
        r#"{"name":"an_i8","type":"int"}"#,
        r#"{"name":"an_i16","type":"int"}"#,
        r#"{"name":"an_i32","type":"int"}"#,
        r#"{"name":"an_i64","type":"long"}"#,
        r#"{"name":"a_u8","type":"int"}"#,
        r#"{"name":"a_u16","type":"int"}"#,
        r#"{"name":"a_u32","type":"long"}"#,
        r#"{"name":"an_f32","type":"float"}"#,
        r#"{"name":"an_f64","type":"double"}"#,
        r#"{"name":"a_string","type":"string"}"#,
        r#"{"name":"a_static_str","type":"string"}"#,
        r#"{"name":"a_boxed_str","type":"string"}"#,
        r#"{"name":"an_arc_str","type":"string"}"#,
        r#"{"name":"a_cow","type":"string"}"#,
        r#"{"name":"a_duration","type":"double"}"#,
        r#"{"name":"a_time_delta","type":"double"}"#,
        r#"{"name":"a_datetime","type":{"type":"long"}}"#,
        r#"{"name":"a_date","type":{"type":"int"}}"#,
        r#"{"name":"a_time","type":{"type":"int"}}"#,
        r#"{"name":"a_uuid","type":{"type":"string"}}"#,
        r#"{"name":"a_kind","type":{"name":"lsst.square.metrics.events.testapp.QueryType","type":"enum","symbols":["async","sync"]}}"#,
        r#"{"name":"maybe_kind","type":["null","lsst.square.metrics.events.testapp.QueryType"]}"#,
        r#"{"name":"maybe_bool","type":["null","boolean"]}"#,
        r#"{"name":"maybe_i64","type":["null","long"]}"#,
        r#"{"name":"maybe_u32","type":["null","long"]}"#,
        r#"{"name":"maybe_f32","type":["null","float"]}"#,
        r#"{"name":"maybe_string","type":["null","string"]}"#,
        r#"{"name":"maybe_duration","type":["null","double"]}"#,
        r#"{"name":"maybe_datetime","type":["null",{"type":"long"}]}"#,
        r#"{"name":"maybe_date","type":["null",{"type":"int"}]}"#,
        r#"{"name":"maybe_time","type":["null",{"type":"int"}]}"#,
        r#"{"name":"maybe_uuid","type":["null",{"type":"string"}]}"#,
    ];
    let canonical = format!(
        r#"{{"name":"lsst.square.metrics.events.testapp.everything","type":"record","fields":[{META_CANONICAL},{}]}}"#,
        fields.join(",")
    );
    let mut logical = META_LOGICAL.to_vec();
    logical.extend([
        ("a_duration", "dataclasses-avroschema-timedelta"),
        ("a_time_delta", "dataclasses-avroschema-timedelta"),
        ("a_datetime", "timestamp-millis"),
        ("a_date", "date"),
        ("a_time", "time-millis"),
        ("a_uuid", "uuid"),
        ("maybe_duration", "dataclasses-avroschema-timedelta"),
        ("maybe_datetime", "timestamp-millis"),
        ("maybe_date", "date"),
        ("maybe_time", "time-millis"),
        ("maybe_uuid", "uuid"),
    ]);
    check::<Everything>("everything", &canonical, &logical);
}

#[test]
fn optional_fields_default_to_null_and_docs_are_kept() {
    let schema = record_schema::<QueryEvent>("query", NAMESPACE).unwrap();
    assert!(
        schema.contains(r#"{"name":"username","type":["null","string"],"default":null}"#),
        "{schema}"
    );
    assert!(
        schema.contains(r#""doc":"Information about a user-submitted query.""#),
        "{schema}"
    );
    assert!(
        schema.contains(r#""doc":"How long the query took to run""#),
        "{schema}"
    );
}

#[test]
fn invalid_event_names_and_namespaces_are_refused() {
    let err = record_schema::<QueryEvent>("query-event", NAMESPACE).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid event name \"query-event\""),
        "{err}"
    );
    let err = record_schema::<QueryEvent>("query", "lsst.my-app").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid namespace \"lsst.my-app\""),
        "{err}"
    );
}
