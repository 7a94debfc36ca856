//! Tests of [`MemorySchemaRegistry`]'s Confluent semantics.

use super::{
    Compatibility, CompatibilityLevel, MemorySchemaRegistry, RegistryError, SchemaRegistry,
};

const V1: &str = r#"{"type":"record","name":"query","namespace":"app","fields":[
    {"name":"duration","type":"double"}]}"#;
/// V1 with other spacing and a doc: the same parsing canonical form.
const V1_RESPACED: &str = r#"{"namespace": "app", "type": "record", "name": "query", "doc": "A query",
    "fields": [{"type": "double", "name": "duration"}]}"#;
/// V1 plus an optional field: backward compatible.
const V2_OPTIONAL: &str = r#"{"type":"record","name":"query","namespace":"app","fields":[
    {"name":"duration","type":"double"},
    {"name":"username","type":["null","string"],"default":null}]}"#;
/// V1 plus a field without default: not backward compatible.
const V2_ROWS: &str = r#"{"type":"record","name":"query","namespace":"app","fields":[
    {"name":"duration","type":"double"},
    {"name":"rows","type":"long"}]}"#;
/// V1 without its only field.
const V3_EMPTY: &str = r#"{"type":"record","name":"query","namespace":"app","fields":[]}"#;

#[tokio::test]
async fn ids_start_at_one() {
    let registry = MemorySchemaRegistry::new();
    assert_eq!(registry.register("a", V1).await.unwrap(), 1);
}

#[tokio::test]
async fn same_schema_gets_the_same_id_across_subjects() {
    let registry = MemorySchemaRegistry::new();
    let first = registry.register("a", V1).await.unwrap();
    let second = registry.register("b", V1_RESPACED).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(registry.subjects(), ["a", "b"]);
    assert_eq!(registry.subjects_of(first).await.unwrap(), ["a", "b"]);
    assert!(matches!(
        registry.subjects_of(first + 1).await,
        Err(RegistryError::SchemaNotFound { .. })
    ));
}

#[tokio::test]
async fn registering_an_existing_version_adds_no_version() {
    let registry = MemorySchemaRegistry::new();
    registry.register("a", V1).await.unwrap();
    registry.register("a", V1_RESPACED).await.unwrap();
    assert_eq!(registry.versions("a"), [1]);
}

#[tokio::test]
async fn new_version_gets_a_new_id() {
    let registry = MemorySchemaRegistry::new();
    let first = registry.register("a", V1).await.unwrap();
    let second = registry.register("a", V2_OPTIONAL).await.unwrap();
    assert_eq!((first, second), (1, 2));
    assert_eq!(registry.versions("a"), [1, 2]);
}

#[tokio::test]
async fn field_without_default_is_rejected_under_backward() {
    let registry = MemorySchemaRegistry::new();
    registry.register("a", V1).await.unwrap();
    let error = registry.register("a", V2_ROWS).await.unwrap_err();
    let RegistryError::Incompatible {
        subject, messages, ..
    } = &error
    else {
        panic!("expected Incompatible, got {error:?}");
    };
    assert_eq!(subject, "a");
    assert!(
        messages.iter().any(|m| m.contains("'rows'")),
        "{messages:?}"
    );
    assert!(error.to_string().contains("'rows'"), "{error}");
    assert_eq!(registry.versions("a"), [1]);
}

#[tokio::test]
async fn check_compatibility_reports_the_field() {
    let registry = MemorySchemaRegistry::new();
    registry.register("a", V1).await.unwrap();
    let verdict = registry.check_compatibility("a", V2_ROWS).await.unwrap();
    let Compatibility::Incompatible { messages } = verdict else {
        panic!("expected incompatible, got {verdict:?}");
    };
    assert!(
        messages.iter().any(|m| m.contains("'rows'")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn unknown_subject_is_compatible() {
    let registry = MemorySchemaRegistry::new();
    let verdict = registry.check_compatibility("new", V2_ROWS).await.unwrap();
    assert!(verdict.is_compatible());
}

#[tokio::test]
async fn none_level_allows_an_incompatible_change() {
    let registry = MemorySchemaRegistry::new();
    registry.register("a", V1).await.unwrap();
    registry
        .set_compatibility("a", CompatibilityLevel::None)
        .await
        .unwrap();
    assert_eq!(registry.register("a", V2_ROWS).await.unwrap(), 2);
}

#[tokio::test]
async fn subject_level_overrides_the_global_level() {
    let registry = MemorySchemaRegistry::with_global_compatibility(CompatibilityLevel::None);
    registry
        .set_compatibility("strict", CompatibilityLevel::Backward)
        .await
        .unwrap();
    assert_eq!(registry.compatibility("loose"), CompatibilityLevel::None);
    registry.register("loose", V1).await.unwrap();
    registry.register("loose", V2_ROWS).await.unwrap();
    registry.register("strict", V1).await.unwrap();
    assert!(registry.register("strict", V2_ROWS).await.is_err());
}

#[tokio::test]
async fn default_level_is_backward() {
    let registry = MemorySchemaRegistry::new();
    assert_eq!(registry.compatibility("any"), CompatibilityLevel::Backward);
}

#[tokio::test]
async fn forward_level_rejects_removing_a_required_field() {
    let registry = MemorySchemaRegistry::with_global_compatibility(CompatibilityLevel::Forward);
    registry.register("a", V1).await.unwrap();
    let error = registry.register("a", V3_EMPTY).await.unwrap_err();
    assert!(error.to_string().contains("'duration'"), "{error}");
}

#[tokio::test]
async fn transitive_level_checks_every_version() {
    let registry = MemorySchemaRegistry::with_global_compatibility(CompatibilityLevel::None);
    registry.register("a", V1).await.unwrap();
    registry.register("a", V3_EMPTY).await.unwrap();
    let only_username = r#"{"type":"record","name":"query","namespace":"app","fields":[
        {"name":"username","type":["null","string"],"default":null}]}"#;

    // The latest version (no fields) reads anything.
    registry
        .set_compatibility("a", CompatibilityLevel::Forward)
        .await
        .unwrap();
    let verdict = registry
        .check_compatibility("a", only_username)
        .await
        .unwrap();
    assert!(verdict.is_compatible(), "{verdict:?}");

    // Version 1 needs `duration`, which the new schema lacks.
    registry
        .set_compatibility("a", CompatibilityLevel::ForwardTransitive)
        .await
        .unwrap();
    let verdict = registry
        .check_compatibility("a", only_username)
        .await
        .unwrap();
    let Compatibility::Incompatible { messages } = verdict else {
        panic!("expected incompatible, got {verdict:?}");
    };
    assert!(
        messages.iter().any(|m| m.contains("'duration'")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn invalid_schema_is_rejected() {
    let registry = MemorySchemaRegistry::new();
    let error = registry
        .register("a", r#"{"type":"record","name":"x"}"#)
        .await
        .unwrap_err();
    let RegistryError::InvalidSchema { subject, .. } = &error else {
        panic!("expected InvalidSchema, got {error:?}");
    };
    assert_eq!(subject, "a");
}

#[tokio::test]
async fn schema_by_id_round_trips() {
    let registry = MemorySchemaRegistry::new();
    let id = registry.register("a", V1).await.unwrap();
    assert_eq!(registry.schema_by_id(id).await.unwrap(), V1);
}

#[tokio::test]
async fn unknown_id_is_schema_not_found() {
    let registry = MemorySchemaRegistry::new();
    for id in [0, 1, u32::MAX] {
        let error = registry.schema_by_id(id).await.unwrap_err();
        assert!(
            matches!(error, RegistryError::SchemaNotFound { id: found, .. } if found == id),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn latest_schema_is_the_last_version() {
    let registry = MemorySchemaRegistry::new();
    assert_eq!(registry.latest_schema("a").await.unwrap(), None);
    registry.register("a", V1).await.unwrap();
    registry.register("a", V2_OPTIONAL).await.unwrap();
    assert_eq!(
        registry.latest_schema("a").await.unwrap().as_deref(),
        Some(V2_OPTIONAL)
    );
}

#[tokio::test]
async fn register_checked_sets_the_level_and_names_the_field() {
    let registry = MemorySchemaRegistry::with_global_compatibility(CompatibilityLevel::None);
    registry.register("a", V1).await.unwrap();
    let error = registry
        .register_checked("a", V2_ROWS, Some(CompatibilityLevel::Full))
        .await
        .unwrap_err();
    assert_eq!(registry.compatibility("a"), CompatibilityLevel::Full);
    assert!(error.to_string().contains("'rows'"), "{error}");
}
