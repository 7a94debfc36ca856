//! Schema snapshots: each event's compiled schema checked, in the application's own
//! `cargo test`, against the `.avsc` files committed next to its code, so an incompatible
//! change fails before deploy with the field named. No Kafka, no registry, no network.

use std::fmt;
use std::path::{Path, PathBuf};

use apache_avro::Schema;
use metrics_core::config::MetricsConfig;
use metrics_core::{EventPayload, record_schema};
use serde_json::Value;

use crate::config::{CompatibilityLevel, registry_vars};
use crate::registry::compat;

/// The environment variable that accepts changes: `APP_METRICS_SNAPSHOTS=overwrite` writes
/// missing snapshots and records compatible changes (never incompatible ones).
pub const SNAPSHOTS_VAR: &str = "APP_METRICS_SNAPSHOTS";

/// Checks the application's event schemas against snapshots committed in its repository.
///
/// Each event's snapshot is `{dir}/{event}.avsc`: the full record schema as registered
/// (metadata fields first), pretty-printed. Earlier versions a compatible change replaced
/// are kept as `{event}.v1.avsc`, `{event}.v2.avsc`, ..., oldest first: a `_TRANSITIVE`
/// level checks the new schema against every one of them.
///
/// - Identical to the snapshot: passes.
/// - Changed compatibly at the level: fails, showing the change, until accepted with
///   `APP_METRICS_SNAPSHOTS=overwrite` (the old snapshot is kept as a version; a change of
///   docs only replaces it).
/// - Incompatible at the level: fails whatever the variable says, naming the event, the
///   field and why. Ship a breaking change on purpose as a new event name.
/// - No snapshot yet: fails saying so, or writes it with the variable set.
///
/// The level is `SCHEMA_MANAGER_COMPATIBILITY` from the environment, BACKWARD (the
/// registry's default) when unset, or [`compatibility`](Self::compatibility).
///
/// ```no_run
/// use metrics_core::{EventPayload, MetricsConfig};
/// use metrics_kafka::SchemaSnapshots;
///
/// #[derive(EventPayload)]
/// struct QueryEvent {
///     rows: i64,
/// }
///
/// // In the application's tests:
/// let metrics = MetricsConfig::builder("myapp").build()?;
/// SchemaSnapshots::new(&metrics)
///     .event::<QueryEvent>("query")
///     .assert_evolves_compatibly();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SchemaSnapshots {
    dir: Option<PathBuf>,
    namespace: String,
    level: Result<CompatibilityLevel, String>,
    overwrite: bool,
    events: Vec<(String, Result<String, String>)>,
}

/// What happened to one event's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotOutcome {
    /// The schema is the snapshot's.
    Unchanged,
    /// No snapshot existed; it was written.
    Written,
    /// A compatible change was accepted: the snapshot was replaced (the previous one kept
    /// as a version unless only docs changed).
    Accepted {
        /// The change, field by field.
        changes: Vec<String>,
        /// The file the replaced snapshot was kept as (none for a change of docs only).
        kept: Option<String>,
    },
}

/// One event's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotProblem {
    /// The schema cannot be built (an invalid event name or namespace).
    Schema(String),
    /// No snapshot exists and writing was not asked for.
    Missing,
    /// The schema changed compatibly and the change was not accepted.
    Changed {
        /// The change, field by field.
        changes: Vec<String>,
    },
    /// The schema cannot replace the snapshot at the level.
    Incompatible {
        /// The change, field by field.
        changes: Vec<String>,
        /// Why, per snapshot version it was checked against.
        reasons: Vec<String>,
    },
    /// A snapshot file could not be read, parsed or written.
    Io(String),
}

/// Every event checked, and what became of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The level the schemas were checked at.
    pub level: CompatibilityLevel,
    /// Where the snapshots are.
    pub dir: PathBuf,
    /// Per event, in the order given: its outcome or its problem.
    pub events: Vec<(String, Result<SnapshotOutcome, SnapshotProblem>)>,
}

impl SnapshotReport {
    /// Whether every event passed.
    pub fn passed(&self) -> bool {
        self.events.iter().all(|(_, outcome)| outcome.is_ok())
    }
}

impl fmt::Display for SnapshotReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shown relative to the crate under test, as the user's repository names it.
        let root = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
        let dir = root
            .and_then(|root| self.dir.strip_prefix(root).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| self.dir.clone());
        let dir = dir.display();
        for (event, outcome) in &self.events {
            let file = format!("{dir}/{event}.avsc");
            match outcome {
                Ok(SnapshotOutcome::Unchanged) => writeln!(f, "event `{event}`: unchanged")?,
                Ok(SnapshotOutcome::Written) => writeln!(f, "event `{event}`: wrote {file}")?,
                Ok(SnapshotOutcome::Accepted { changes, kept }) => {
                    writeln!(
                        f,
                        "event `{event}`: accepted a {} change, wrote {file}",
                        self.level
                    )?;
                    write_changes(f, changes)?;
                    if let Some(kept) = kept {
                        writeln!(
                            f,
                            "  kept the previous snapshot as {dir}/{kept}; commit both"
                        )?;
                    }
                }
                Err(SnapshotProblem::Schema(error)) => writeln!(f, "event `{event}`: {error}")?,
                Err(SnapshotProblem::Io(error)) => writeln!(f, "event `{event}`: {error}")?,
                Err(SnapshotProblem::Missing) => writeln!(
                    f,
                    "event `{event}`: no snapshot {file}; review the schema, then write it \
                     with {SNAPSHOTS_VAR}=overwrite cargo test"
                )?,
                Err(SnapshotProblem::Changed { changes }) => {
                    writeln!(
                        f,
                        "event `{event}`: its schema changed from {file}, compatibly under {}:",
                        self.level
                    )?;
                    write_changes(f, changes)?;
                    writeln!(
                        f,
                        "  to accept the change, run {SNAPSHOTS_VAR}=overwrite cargo test and \
                         commit the snapshots"
                    )?;
                }
                Err(SnapshotProblem::Incompatible { changes, reasons }) => {
                    writeln!(
                        f,
                        "event `{event}`: INCOMPATIBLE under {} with {file}{}; the registry \
                         would refuse it and the event would stop being published:",
                        self.level,
                        if self.level.is_transitive() {
                            " or a kept version"
                        } else {
                            ""
                        }
                    )?;
                    write_changes(f, changes)?;
                    for reason in reasons {
                        writeln!(f, "  - {reason}")?;
                    }
                    writeln!(
                        f,
                        "  make the change compatible (e.g. a new field as an Option, which \
                         defaults to null), or publish it as a new event name"
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// One line per change, indented under its event.
fn write_changes(f: &mut fmt::Formatter<'_>, changes: &[String]) -> fmt::Result {
    changes
        .iter()
        .try_for_each(|change| writeln!(f, "  {change}"))
}

/// Why the snapshots could not be checked at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// `SCHEMA_MANAGER_COMPATIBILITY` is not a level.
    #[error("{0}")]
    Level(String),
    /// No directory was given and `CARGO_MANIFEST_DIR` is unset (not run by cargo).
    #[error(
        "where are the snapshots? CARGO_MANIFEST_DIR is unset (the test was not run by \
         cargo): give SchemaSnapshots::dir"
    )]
    NoDir,
    /// At least one event failed; the report says which and why.
    #[error("schema snapshots:\n{0}")]
    Failed(SnapshotReport),
}

impl SchemaSnapshots {
    /// Snapshots of the events of the application `metrics` configures (their namespace
    /// is its topic), in `schemas/` of the crate under test (`CARGO_MANIFEST_DIR`, as
    /// `cargo test` sets it), at the level of `SCHEMA_MANAGER_COMPATIBILITY` (BACKWARD
    /// when unset), written or accepted when `APP_METRICS_SNAPSHOTS=overwrite`.
    pub fn new(metrics: &MetricsConfig) -> Self {
        let level = match std::env::var(registry_vars::COMPATIBILITY.name) {
            Ok(text) if !text.trim().is_empty() => text.trim().parse().map_err(|_| {
                format!(
                    "{} is {text:?}, not a compatibility level: one of NONE, BACKWARD, \
                     BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE",
                    registry_vars::COMPATIBILITY.name
                )
            }),
            _ => Ok(CompatibilityLevel::Backward),
        };
        Self {
            dir: std::env::var_os("CARGO_MANIFEST_DIR")
                .map(|root| PathBuf::from(root).join("schemas")),
            namespace: metrics.topic(),
            level,
            overwrite: std::env::var(SNAPSHOTS_VAR).is_ok_and(|v| v == "overwrite"),
            events: Vec::new(),
        }
    }

    /// Keeps the snapshots in `dir` instead (relative paths are the process's).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Checks at `level` instead of the environment's.
    pub fn compatibility(mut self, level: CompatibilityLevel) -> Self {
        self.level = Ok(level);
        self
    }

    /// Writes missing snapshots and accepts compatible changes (`true`), or only checks
    /// (`false`), whatever `APP_METRICS_SNAPSHOTS` says.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Adds the event `name` with payload `P`.
    pub fn event<P: EventPayload>(mut self, name: &str) -> Self {
        let schema = record_schema::<P>(name, &self.namespace).map_err(|e| e.to_string());
        self.events.push((name.to_owned(), schema));
        self
    }

    /// Checks every event (writing or accepting what may be), and reports each.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Level`] for a compatibility level that does not parse;
    /// [`SnapshotError::NoDir`] without a directory; [`SnapshotError::Failed`], with the
    /// whole report, if any event failed.
    pub fn check(&self) -> Result<SnapshotReport, SnapshotError> {
        let level = self.level.clone().map_err(SnapshotError::Level)?;
        let dir = self.dir.as_deref().ok_or(SnapshotError::NoDir)?;
        let events = self
            .events
            .iter()
            .map(|(event, schema)| {
                let outcome = match schema {
                    Ok(schema) => self.check_event(dir, event, schema, level),
                    Err(error) => Err(SnapshotProblem::Schema(error.clone())),
                };
                (event.clone(), outcome)
            })
            .collect();
        let report = SnapshotReport {
            level,
            dir: dir.to_path_buf(),
            events,
        };
        if report.passed() {
            Ok(report)
        } else {
            Err(SnapshotError::Failed(report))
        }
    }

    /// [`check`](Self::check) for a test: panics with the report if anything failed.
    #[track_caller]
    pub fn assert_evolves_compatibly(&self) {
        if let Err(error) = self.check() {
            panic!("{error}");
        }
    }

    fn check_event(
        &self,
        dir: &Path,
        event: &str,
        schema: &str,
        level: CompatibilityLevel,
    ) -> Result<SnapshotOutcome, SnapshotProblem> {
        let current: Value = serde_json::from_str(schema).map_err(io_problem)?;
        let path = dir.join(format!("{event}.avsc"));
        let Some(snapshot) = read_snapshot(&path)? else {
            if let Some((n, _)) = kept_versions(dir, event)?.last() {
                return Err(SnapshotProblem::Io(format!(
                    "{} is missing but {event}.v{n}.avsc is kept: restore it from version \
                     control (writing a new one would drop the history it is checked against)",
                    path.display()
                )));
            }
            if !self.overwrite {
                return Err(SnapshotProblem::Missing);
            }
            write_snapshot(&path, &current)?;
            return Ok(SnapshotOutcome::Written);
        };
        if snapshot == current {
            return Ok(SnapshotOutcome::Unchanged);
        }
        let changes = describe_changes(&snapshot, &current);
        let versions = kept_versions(dir, event)?;
        let new = Schema::parse(&current).map_err(io_problem)?;
        let mut against = Vec::new();
        if level.is_transitive() {
            for (n, file) in &versions {
                let name = format!("{event}.v{n}.avsc");
                let value = read_snapshot(file)?
                    .ok_or_else(|| SnapshotProblem::Io(format!("{name} vanished")))?;
                against.push((name, value));
            }
        }
        against.push((format!("{event}.avsc"), snapshot.clone()));
        let mut reasons = Vec::new();
        for (name, previous) in &against {
            let previous = Schema::parse(previous)
                .map_err(|e| SnapshotProblem::Io(format!("{name} is not an Avro schema: {e}")))?;
            for reason in compat::check(&previous, &new, level) {
                reasons.push(format!("against {name}: {reason}"));
            }
        }
        if !reasons.is_empty() {
            return Err(SnapshotProblem::Incompatible { changes, reasons });
        }
        if !self.overwrite {
            return Err(SnapshotProblem::Changed { changes });
        }
        let kept = if canonical(&snapshot) != canonical(&current) {
            let next = versions.last().map_or(1, |(n, _)| n + 1);
            let name = format!("{event}.v{next}.avsc");
            write_snapshot(&dir.join(&name), &snapshot)?;
            Some(name)
        } else {
            None
        };
        write_snapshot(&path, &current)?;
        Ok(SnapshotOutcome::Accepted { changes, kept })
    }
}

/// The kept versions of `event` in `dir` (`{event}.v1.avsc`, `{event}.v2.avsc`, ...),
/// by number, whatever gaps there are.
fn kept_versions(dir: &Path, event: &str) -> Result<Vec<(u32, PathBuf)>, SnapshotProblem> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(SnapshotProblem::Io(format!(
                "cannot list {}: {error}",
                dir.display()
            )));
        }
    };
    let prefix = format!("{event}.v");
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let n = name
                .strip_prefix(&prefix)?
                .strip_suffix(".avsc")?
                .parse()
                .ok()?;
            Some((n, entry.path()))
        })
        .collect();
    versions.sort_by_key(|(n, _)| *n);
    Ok(versions)
}

fn io_problem(error: impl fmt::Display) -> SnapshotProblem {
    SnapshotProblem::Io(error.to_string())
}

/// The snapshot at `path`, or `None` if there is no file.
fn read_snapshot(path: &Path) -> Result<Option<Value>, SnapshotProblem> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(SnapshotProblem::Io(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| SnapshotProblem::Io(format!("{} is not JSON: {error}", path.display())))
}

fn write_snapshot(path: &Path, schema: &Value) -> Result<(), SnapshotProblem> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = serde_json::to_string_pretty(schema)?;
        text.push('\n');
        std::fs::write(path, text)
    };
    write()
        .map_err(|error| SnapshotProblem::Io(format!("cannot write {}: {error}", path.display())))
}

/// The schema without docs: what a change of docs alone leaves equal.
fn canonical(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| key.as_str() != "doc")
                .map(|(key, value)| (key.clone(), canonical(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The fields of a record schema, by name, in order.
fn fields(schema: &Value) -> Vec<(&str, &Value)> {
    schema["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|field| Some((field["name"].as_str()?, field)))
                .collect()
        })
        .unwrap_or_default()
}

/// The change from `old` to `new`, one line per field added, removed or changed, then the
/// record's own doc and the order of fields.
pub(crate) fn describe_changes(old: &Value, new: &Value) -> Vec<String> {
    let (old_fields, new_fields) = (fields(old), fields(new));
    let find = |list: &[(&str, &Value)], name: &str| {
        list.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| (*f).clone())
    };
    let compact = |field: &Value| serde_json::to_string(field).unwrap_or_default();
    let mut changes = Vec::new();
    for (name, field) in &new_fields {
        match find(&old_fields, name) {
            None => changes.push(format!("+ field `{name}`: {}", compact(field))),
            Some(previous) if previous != **field => {
                if canonical(&previous) == canonical(field) {
                    changes.push(format!("~ field `{name}`: doc changed"));
                    continue;
                }
                let mut described = false;
                if canonical(&previous["type"]) != canonical(&field["type"]) {
                    changes.push(format!(
                        "~ field `{name}`: {} -> {}",
                        compact(&previous["type"]),
                        compact(&field["type"])
                    ));
                    described = true;
                }
                if previous.get("default") != field.get("default") {
                    changes.push(format!(
                        "~ field `{name}`: default {} -> {}",
                        previous.get("default").map_or("none".into(), compact),
                        field.get("default").map_or("none".into(), compact)
                    ));
                    described = true;
                }
                if !described {
                    changes.push(format!(
                        "~ field `{name}`: {} -> {}",
                        compact(&previous),
                        compact(field)
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for (name, field) in &old_fields {
        if find(&new_fields, name).is_none() {
            changes.push(format!("- field `{name}`: {}", compact(field)));
        }
    }
    for key in ["name", "namespace"] {
        if old.get(key) != new.get(key) {
            changes.push(format!(
                "~ record {key}: {} -> {}",
                old.get(key).map_or("none".into(), compact),
                new.get(key).map_or("none".into(), compact)
            ));
        }
    }
    if old.get("doc") != new.get("doc") {
        changes.push("~ record doc changed".into());
    }
    let order = |list: &[(&str, &Value)], other: &[(&str, &Value)]| -> Vec<String> {
        list.iter()
            .map(|(n, _)| *n)
            .filter(|n| other.iter().any(|(o, _)| o == n))
            .map(str::to_owned)
            .collect()
    };
    if order(&old_fields, &new_fields) != order(&new_fields, &old_fields) {
        changes.push(format!(
            "~ field order: {} -> {}",
            order(&old_fields, &new_fields).join(", "),
            order(&new_fields, &old_fields).join(", ")
        ));
    }
    changes
}
