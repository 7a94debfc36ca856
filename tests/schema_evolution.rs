//! Schema snapshots over a matrix of real changes: each change of the `query` event,
//! checked against a snapshot of its first version under BACKWARD, FORWARD, FULL and
//! BACKWARD_TRANSITIVE. The expected verdicts are written out, checked against
//! apache-avro's own compatibility checker (the reference), and a refused change names
//! its field.

use std::path::PathBuf;

use apache_avro::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use app_metrics::EventPayload;
use app_metrics::config::{CompatibilityLevel, MetricsConfig};
use app_metrics::schema::{
    SchemaSnapshots, SnapshotError, SnapshotOutcome, SnapshotProblem, record_schema,
};

/// The first version, which every change is compared with.
mod base {
    use app_metrics::{EventEnum, EventPayload};

    #[derive(EventEnum, Clone, Copy)]
    #[event(rename_all = "lowercase")]
    pub enum Kind {
        Sync,
        Async,
    }

    #[derive(EventPayload)]
    pub struct Query {
        pub rows: i32,
        pub total: i64,
        pub user: String,
        pub kind: Kind,
        /// A note
        pub note: Option<String>,
    }
}

/// One module per change of `base::Query`.
mod changed {
    use app_metrics::EventPayload;

    pub use super::base::Kind;

    #[derive(EventPayload)]
    pub struct AddOptional {
        pub rows: i32,
        pub total: i64,
        pub user: String,
        pub kind: Kind,
        /// A note
        pub note: Option<String>,
        pub extra: Option<String>,
    }

    #[derive(EventPayload)]
    pub struct AddRequired {
        pub rows: i32,
        pub total: i64,
        pub user: String,
        pub kind: Kind,
        /// A note
        pub note: Option<String>,
        pub extra: String,
    }

    #[derive(EventPayload)]
    pub struct RemoveField {
        pub rows: i32,
        pub total: i64,
        pub kind: Kind,
        /// A note
        pub note: Option<String>,
    }

    #[derive(EventPayload)]
    pub struct IntToLong {
        pub rows: i64,
        pub total: i64,
        pub user: String,
        pub kind: Kind,
        /// A note
        pub note: Option<String>,
    }

    #[derive(EventPayload)]
    pub struct LongToInt {
        pub rows: i32,
        pub total: i32,
        pub user: String,
        pub kind: Kind,
        /// A note
        pub note: Option<String>,
    }

    /// `user` renamed, without a default on either side.
    #[derive(EventPayload)]
    pub struct RenameWithoutDefault {
        pub rows: i32,
        pub total: i64,
        pub username: String,
        pub kind: Kind,
        /// A note
        pub note: Option<String>,
    }

    /// `note` renamed: an optional field, defaulting to null on both sides.
    #[derive(EventPayload)]
    pub struct RenameWithDefault {
        pub rows: i32,
        pub total: i64,
        pub user: String,
        pub kind: Kind,
        /// A note
        pub remark: Option<String>,
    }

    #[derive(EventPayload)]
    pub struct Reorder {
        pub kind: Kind,
        pub user: String,
        pub rows: i32,
        pub total: i64,
        /// A note
        pub note: Option<String>,
    }

    /// `Kind` with one more symbol (the same Avro name, as a changed enum keeps).
    pub mod more {
        use app_metrics::EventEnum;

        #[derive(EventEnum, Clone, Copy)]
        #[event(rename_all = "lowercase")]
        pub enum Kind {
            Sync,
            Async,
            Batch,
        }
    }

    #[derive(EventPayload)]
    pub struct EnumSymbolAdded {
        pub rows: i32,
        pub total: i64,
        pub user: String,
        pub kind: more::Kind,
        /// A note
        pub note: Option<String>,
    }

    #[derive(EventPayload)]
    pub struct DocOnly {
        pub rows: i32,
        pub total: i64,
        pub user: String,
        pub kind: Kind,
        /// A short remark left by whoever ran the query
        pub note: Option<String>,
    }
}

const LEVELS: [CompatibilityLevel; 4] = [
    CompatibilityLevel::Backward,
    CompatibilityLevel::Forward,
    CompatibilityLevel::Full,
    CompatibilityLevel::BackwardTransitive,
];

/// A directory of its own for one test case, emptied first.
fn scratch(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "app-metrics-snapshots-{}-{case}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn metrics() -> MetricsConfig {
    MetricsConfig::builder("evolving").build().unwrap()
}

fn snapshots(dir: &PathBuf, level: CompatibilityLevel) -> SchemaSnapshots {
    SchemaSnapshots::new(&metrics())
        .dir(dir)
        .compatibility(level)
        .overwrite(false)
}

/// apache-avro's verdict on replacing `old` by `new` at `level` (one previous version).
fn reference<Old: EventPayload, New: EventPayload>(level: CompatibilityLevel) -> bool {
    let schema = |text: String| Schema::parse_str(&text).unwrap();
    let topic = metrics().topic();
    let old = schema(record_schema::<Old>("query", &topic).unwrap());
    let new = schema(record_schema::<New>("query", &topic).unwrap());
    let reads = |writer: &Schema, reader: &Schema| {
        matches!(
            SchemaCompatibility::can_read(writer, reader),
            Ok(Compatibility::Full)
        )
    };
    (!level.checks_backward() || reads(&old, &new))
        && (!level.checks_forward() || reads(&new, &old))
}

/// Snapshots `base::Query`, then checks `New` against it at each level: compatible
/// levels must be exactly `compatible`, agree with apache-avro, and a refusal must name
/// one of `fields` (a rename is refused for the new name one way, the old the other).
fn case<New: EventPayload>(name: &str, compatible: [bool; 4], fields: &[&str]) {
    for (level, expected) in LEVELS.into_iter().zip(compatible) {
        let dir = scratch(&format!("{name}-{level}"));
        let first = snapshots(&dir, level)
            .overwrite(true)
            .event::<base::Query>("query")
            .check()
            .unwrap();
        assert_eq!(first.events[0].1, Ok(SnapshotOutcome::Written));

        assert_eq!(
            reference::<base::Query, New>(level),
            expected,
            "{name} under {level}: the table disagrees with apache-avro"
        );
        let error = snapshots(&dir, level)
            .event::<New>("query")
            .check()
            .expect_err("a changed schema never passes unaccepted");
        let SnapshotError::Failed(report) = &error else {
            panic!("{error}");
        };
        let text = report.to_string();
        match (&report.events[0].1, expected) {
            (Err(SnapshotProblem::Changed { changes }), true) => {
                assert!(!changes.is_empty(), "{text}");
                assert!(text.contains("APP_METRICS_SNAPSHOTS=overwrite"), "{text}");
                // Accepted, it passes from then on.
                let accepted = snapshots(&dir, level)
                    .overwrite(true)
                    .event::<New>("query")
                    .check()
                    .unwrap();
                assert!(
                    matches!(accepted.events[0].1, Ok(SnapshotOutcome::Accepted { .. })),
                    "{accepted}"
                );
                let again = snapshots(&dir, level)
                    .event::<New>("query")
                    .check()
                    .unwrap();
                assert_eq!(again.events[0].1, Ok(SnapshotOutcome::Unchanged));
            }
            (Err(SnapshotProblem::Incompatible { reasons, .. }), false) => {
                assert!(
                    reasons
                        .iter()
                        .any(|r| fields.iter().any(|f| r.contains(&format!("'{f}'")))),
                    "{name} under {level} does not name {fields:?}:\n{text}"
                );
                assert!(text.contains("INCOMPATIBLE"), "{text}");
                // Asking to overwrite does not let it through, and changes nothing.
                let before = std::fs::read_to_string(dir.join("query.avsc")).unwrap();
                let forced = snapshots(&dir, level)
                    .overwrite(true)
                    .event::<New>("query")
                    .check();
                assert!(forced.is_err(), "{name} under {level} was accepted");
                assert_eq!(
                    std::fs::read_to_string(dir.join("query.avsc")).unwrap(),
                    before
                );
            }
            (outcome, expected) => {
                panic!(
                    "{name} under {level}: expected compatible={expected}, got {outcome:?}\n{text}"
                )
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//                                                     BACKWARD FORWARD FULL  BACKWARD_TRANSITIVE
#[test]
fn adding_an_optional_field_is_compatible_everywhere() {
    case::<changed::AddOptional>("add_optional", [true, true, true, true], &["extra"]);
}

#[test]
fn adding_a_required_field_breaks_backward() {
    case::<changed::AddRequired>("add_required", [false, true, false, false], &["extra"]);
}

#[test]
fn removing_a_required_field_breaks_forward() {
    case::<changed::RemoveField>("remove_field", [true, false, false, true], &["user"]);
}

#[test]
fn int_to_long_is_a_promotion_readers_of_the_old_schema_cannot_follow() {
    case::<changed::IntToLong>("int_to_long", [true, false, false, true], &["rows"]);
}

#[test]
fn long_to_int_loses_values_the_new_schema_cannot_read() {
    case::<changed::LongToInt>("long_to_int", [false, true, false, false], &["total"]);
}

#[test]
fn renaming_a_field_without_a_default_breaks_both_ways() {
    case::<changed::RenameWithoutDefault>(
        "rename_without_default",
        [false, false, false, false],
        &["username", "user"],
    );
}

#[test]
fn renaming_an_optional_field_is_compatible_as_a_new_field_with_a_default() {
    case::<changed::RenameWithDefault>(
        "rename_with_default",
        [true, true, true, true],
        &["remark"],
    );
}

#[test]
fn reordering_fields_is_compatible() {
    case::<changed::Reorder>("reorder", [true, true, true, true], &["rows"]);
}

#[test]
fn adding_an_enum_symbol_breaks_forward() {
    case::<changed::EnumSymbolAdded>("enum_symbol", [true, false, false, true], &["kind"]);
}

#[test]
fn a_doc_change_is_a_change_to_accept_and_keeps_no_version() {
    case::<changed::DocOnly>("doc_only", [true, true, true, true], &["note"]);
    let dir = scratch("doc_only_versions");
    let level = CompatibilityLevel::Backward;
    snapshots(&dir, level)
        .overwrite(true)
        .event::<base::Query>("query")
        .check()
        .unwrap();
    let error = snapshots(&dir, level)
        .event::<changed::DocOnly>("query")
        .check()
        .unwrap_err()
        .to_string();
    assert!(error.contains("~ field `note`: doc changed"), "{error}");
    snapshots(&dir, level)
        .overwrite(true)
        .event::<changed::DocOnly>("query")
        .check()
        .unwrap();
    assert!(
        !dir.join("query.v1.avsc").exists(),
        "a doc change keeps no version"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Three versions: v2 drops `user`, v3 brings it back as a long. v3 reads v2's data (no
/// `user`: its default) but not v1's (a string where a long is read): BACKWARD accepts v3,
/// BACKWARD_TRANSITIVE refuses it, naming the field and the version.
#[test]
fn a_transitive_level_checks_every_kept_version() {
    mod v3 {
        #[derive(app_metrics::EventPayload)]
        pub struct Query {
            pub rows: i32,
            pub total: i64,
            pub user: Option<i64>,
            pub kind: super::base::Kind,
            /// A note
            pub note: Option<String>,
        }
    }
    for (level, accepted) in [
        (CompatibilityLevel::Backward, true),
        (CompatibilityLevel::BackwardTransitive, false),
    ] {
        let dir = scratch(&format!("transitive-{level}"));
        let run = |overwrite: bool| snapshots(&dir, level).overwrite(overwrite);
        run(true).event::<base::Query>("query").check().unwrap();
        run(true)
            .event::<changed::RemoveField>("query")
            .check()
            .unwrap();
        assert!(dir.join("query.v1.avsc").exists(), "v1 kept");
        let third = run(true).event::<v3::Query>("query").check();
        match (third, accepted) {
            (Ok(report), true) => assert!(
                matches!(report.events[0].1, Ok(SnapshotOutcome::Accepted { .. })),
                "{report}"
            ),
            (Err(error), false) => {
                let text = error.to_string();
                assert!(text.contains("against query.v1.avsc"), "{text}");
                assert!(text.contains("'user'"), "{text}");
                assert!(
                    !text.contains("against query.avsc"),
                    "v2 reads fine:\n{text}"
                );
            }
            (outcome, _) => panic!("{level}: {outcome:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_new_event_fails_until_its_snapshot_is_written() {
    let dir = scratch("new_event");
    let error = snapshots(&dir, CompatibilityLevel::Backward)
        .event::<base::Query>("query")
        .check()
        .unwrap_err()
        .to_string();
    assert!(error.contains("no snapshot"), "{error}");
    assert!(error.contains("APP_METRICS_SNAPSHOTS=overwrite"), "{error}");
    assert!(!dir.exists(), "nothing written unasked");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_accepted_change_says_which_version_it_kept_and_a_lost_snapshot_is_not_rewritten() {
    let dir = scratch("kept");
    let level = CompatibilityLevel::Backward;
    let run = || snapshots(&dir, level).overwrite(true);
    run().event::<base::Query>("query").check().unwrap();
    let accepted = run()
        .event::<changed::AddOptional>("query")
        .check()
        .unwrap();
    assert_eq!(
        accepted.events[0].1,
        Ok(SnapshotOutcome::Accepted {
            changes: vec![
                r#"+ field `extra`: {"name":"extra","type":["null","string"],"default":null}"#
                    .to_owned()
            ],
            kept: Some("query.v1.avsc".to_owned()),
        })
    );
    assert!(
        accepted
            .to_string()
            .contains("kept the previous snapshot as")
    );
    // The current snapshot lost, its kept version still there: refused, not rewritten.
    std::fs::remove_file(dir.join("query.avsc")).unwrap();
    let error = run()
        .event::<changed::AddOptional>("query")
        .check()
        .unwrap_err()
        .to_string();
    assert!(error.contains("restore it from version control"), "{error}");
    assert!(!dir.join("query.avsc").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
