//! An application's own schema test, as a user writes it: its events, snapshots committed
//! in `tests/snapshot_app/schemas/`, and one ordinary test that fails `cargo test` when an
//! event changes incompatibly. Then a test of that test: the same check, run on an
//! incompatibly changed copy of an event, fails and names the field.

use app_metrics::config::{CompatibilityLevel, MetricsConfig};
use app_metrics::schema::SchemaSnapshots;

mod common;

/// The application's events (here, the ones the other tests publish).
use common as events;

fn metrics() -> MetricsConfig {
    MetricsConfig::builder("snapshot_app").build().unwrap()
}

const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshot_app/schemas");

/// The application's test: every event's schema against its committed snapshot, at
/// `SCHEMA_MANAGER_COMPATIBILITY` (BACKWARD when unset). A new event or a compatible
/// change is accepted with `APP_METRICS_SNAPSHOTS=overwrite cargo test`.
#[test]
fn event_schemas_evolve_compatibly() {
    SchemaSnapshots::new(&metrics())
        .dir(SNAPSHOTS)
        .event::<events::QueryEvent>("query")
        .event::<events::LoginEvent>("login")
        .assert_evolves_compatibly();
}

/// `rows` retyped from `long` to `string`, as a careless edit would.
mod retyped {
    use app_metrics::EventPayload;

    pub use super::events::QueryType;

    /// Information about a user-submitted query.
    #[derive(EventPayload)]
    pub struct QueryEvent {
        /// The kind of query
        pub r#type: QueryType,
        /// How long the query took to run
        pub duration: std::time::Duration,
        pub username: Option<String>,
        pub rows: String,
    }
}

#[test]
fn the_application_test_fails_when_an_event_changes_incompatibly() {
    // A copy of the committed snapshots, so that nothing here can touch them.
    let dir = std::env::temp_dir().join(format!("app-metrics-snapshot-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(SNAPSHOTS).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let check = |overwrite: bool| {
        let dir = dir.clone();
        std::panic::catch_unwind(move || {
            SchemaSnapshots::new(&metrics())
                .dir(dir)
                .compatibility(CompatibilityLevel::Backward)
                .overwrite(overwrite)
                .event::<retyped::QueryEvent>("query")
                .event::<events::LoginEvent>("login")
                .assert_evolves_compatibly();
        })
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (checked, forced) = (check(false), check(true));
    std::panic::set_hook(hook);
    for outcome in [checked, forced] {
        let panic = outcome.expect_err("an incompatible change fails the test");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("event `query`: INCOMPATIBLE under BACKWARD"),
            "{message}"
        );
        assert!(message.contains("'rows' changed type"), "{message}");
        assert!(message.contains("event `login`: unchanged"), "{message}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
