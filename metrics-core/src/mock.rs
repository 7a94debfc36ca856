//! The mock backend (`METRICS_MOCK=true`): records every published event for test
//! assertions, with Safir's `assert_published` family and `ANY` / `NOT_NONE` wildcards.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::{BoxFuture, EventBackend, EventDescriptor, EventSink, OutgoingEvent};
use crate::error::EventError;
use crate::metadata::EventMetadata;
use crate::payload::{EventField, FieldValue};
use crate::sensor::SinkSensors;

/// Records events instead of sending them; see [`EventPublisher::published`](crate::EventPublisher::published).
#[derive(Debug, Default, Clone, Copy)]
pub struct MockBackend;

impl EventBackend for MockBackend {
    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
        let sink = MockSink {
            events: MockEvents::default(),
            sensors: event.sink_sensors(),
        };
        Box::pin(async { Ok(Arc::new(sink) as Arc<dyn EventSink>) })
    }
}

/// The mock's sink for one event type.
#[derive(Debug)]
pub struct MockSink {
    events: MockEvents,
    sensors: SinkSensors,
}

impl MockSink {
    /// The events recorded so far (a shared handle: it sees later events too).
    pub fn events(&self) -> MockEvents {
        self.events.clone()
    }

    fn record(&self, event: &dyn OutgoingEvent) {
        let started = self.sensors.observe(event);
        let offset = {
            let mut events = self.events.lock();
            events.push(PublishedEvent {
                metadata: event.metadata().clone(),
                fields: event.field_values(),
            });
            events.len() as i64 - 1
        };
        // Recorded is delivered, at once: partition 0, the offset is the event's index.
        self.sensors
            .completed(started, 0, offset, std::time::Duration::ZERO);
    }
}

impl EventSink for MockSink {
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        self.record(event);
        Ok(())
    }
}

/// One recorded event: its metadata and payload fields.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedEvent {
    /// The metadata the manager added.
    pub metadata: EventMetadata,
    /// The payload's fields, in schema order.
    pub fields: Vec<(&'static str, FieldValue)>,
}

impl PublishedEvent {
    /// The value of payload field `name`, if the payload has one.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value)
    }
}

impl fmt::Display for PublishedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (index, (name, value)) in self.fields.iter().enumerate() {
            write!(f, "{}{name}: {value:?}", if index == 0 { "" } else { ", " })?;
        }
        f.write_str("}")
    }
}

/// What an expected field must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// Any value, `None` included (Safir's `ANY`).
    Any,
    /// Any value but `None` (Safir's `NOT_NONE`).
    NotNone,
    /// Exactly this value.
    Value(FieldValue),
}

/// Matches any value of a field, `None` included.
pub const ANY: Matcher = Matcher::Any;
/// Matches any value of a field except `None`.
pub const NOT_NONE: Matcher = Matcher::NotNone;

impl Matcher {
    fn matches(&self, actual: &FieldValue) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::NotNone => *actual != FieldValue::Null,
            Matcher::Value(expected) => expected == actual,
        }
    }
}

/// Anything [`Expected::field`] accepts: a [`Matcher`] or a field value (`3`, `"ada"`,
/// `Duration::from_secs(1)`, an enum, `None::<String>`...).
pub trait IntoMatcher {
    /// Converts into a matcher.
    fn into_matcher(self) -> Matcher;
}

impl IntoMatcher for Matcher {
    fn into_matcher(self) -> Matcher {
        self
    }
}

impl<T: EventField> IntoMatcher for T {
    fn into_matcher(self) -> Matcher {
        Matcher::Value(self.field_value())
    }
}

/// An expected event for the mock's assertions.
///
/// [`Expected::new`] checks only the fields it lists; [`Expected::payload`] checks every
/// field of a payload, and [`field`](Self::field) then overrides single fields (for
/// example with [`ANY`] for a measured duration).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    fields: Vec<(String, Matcher)>,
}

impl Expected {
    /// An expectation that checks only the fields given with [`field`](Self::field).
    pub fn new() -> Self {
        Self::default()
    }

    /// An expectation that every field equals `payload`'s.
    pub fn payload<P: crate::EventPayload>(payload: &P) -> Self {
        Self {
            fields: payload
                .field_values()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), Matcher::Value(value)))
                .collect(),
        }
    }

    /// Expects field `name` to match `value` (replacing an earlier expectation for it).
    pub fn field(mut self, name: &str, value: impl IntoMatcher) -> Self {
        let matcher = value.into_matcher();
        match self.fields.iter_mut().find(|(field, _)| field == name) {
            Some(slot) => slot.1 = matcher,
            None => self.fields.push((name.to_owned(), matcher)),
        }
        self
    }

    /// Why `event` does not match, or `None` if it does.
    fn mismatch(&self, event: &PublishedEvent) -> Option<String> {
        let problems: Vec<String> = self
            .fields
            .iter()
            .filter_map(|(name, matcher)| match event.field(name) {
                None => Some(format!("no field named {name:?}")),
                Some(actual) if !matcher.matches(actual) => Some(format!(
                    "{name}: expected {}, got {actual:?}",
                    describe(matcher)
                )),
                Some(_) => None,
            })
            .collect();
        (!problems.is_empty()).then(|| problems.join(", "))
    }
}

fn describe(matcher: &Matcher) -> String {
    match matcher {
        Matcher::Any => "ANY".to_owned(),
        Matcher::NotNone => "NOT_NONE".to_owned(),
        Matcher::Value(value) => format!("{value:?}"),
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (index, (name, matcher)) in self.fields.iter().enumerate() {
            write!(
                f,
                "{}{name}: {}",
                if index == 0 { "" } else { ", " },
                describe(matcher)
            )?;
        }
        f.write_str("}")
    }
}

/// A failed mock assertion: what was expected, what was published, and the difference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MockAssertionError(String);

/// The events one mock publisher recorded, with assertions.
///
/// The `assert_*` methods panic with a message showing expected and actual events (for
/// tests); the `check_*` methods return the same message as an error.
#[derive(Debug, Clone, Default)]
pub struct MockEvents {
    inner: Arc<Mutex<Vec<PublishedEvent>>>,
}

impl MockEvents {
    fn lock(&self) -> MutexGuard<'_, Vec<PublishedEvent>> {
        // A list of recorded events stays valid after a panic elsewhere.
        crate::sync::lock(&self.inner)
    }

    /// A copy of every event recorded so far, in publish order.
    pub fn events(&self) -> Vec<PublishedEvent> {
        self.lock().clone()
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets the recorded events.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn failure(&self, what: &str, expected: &[Expected], detail: &str) -> MockAssertionError {
        let mut message = format!("{what}\nexpected:\n");
        for event in expected {
            let _ = writeln!(message, "  {event}");
        }
        let events = self.lock();
        let _ = writeln!(message, "published ({}):", events.len());
        for event in events.iter() {
            let _ = writeln!(message, "  {event}");
        }
        if !detail.is_empty() {
            let _ = write!(message, "{detail}");
        }
        MockAssertionError(message)
    }

    /// Checks that `expected` was published as one contiguous run, in order, possibly
    /// among other events (Safir's `assert_published(expected)`).
    pub fn check_published(&self, expected: &[Expected]) -> Result<(), MockAssertionError> {
        let found = {
            let events = self.lock();
            expected.is_empty()
                || events.windows(expected.len()).any(|window| {
                    window
                        .iter()
                        .zip(expected)
                        .all(|(event, want)| want.mismatch(event).is_none())
                })
        };
        if found {
            Ok(())
        } else {
            Err(self.failure(
                "the expected events were not published as one run in this order",
                expected,
                "",
            ))
        }
    }

    /// Checks that every `expected` event was published, each matching a different event,
    /// in any order (Safir's `assert_published(expected, any_order=True)`).
    pub fn check_published_any_order(
        &self,
        expected: &[Expected],
    ) -> Result<(), MockAssertionError> {
        let unmatched = {
            let events = self.lock();
            unmatched_expectations(expected, &events)
        };
        match unmatched.first() {
            None => Ok(()),
            Some(&index) => Err(self.failure(
                "the expected events were not all published",
                expected,
                &format!(
                    "no distinct published event matches expected #{index}: {}",
                    expected[index]
                ),
            )),
        }
    }

    /// Checks that exactly `expected` was published, in order, and nothing else (Safir's
    /// `assert_published_all`).
    pub fn check_published_all(&self, expected: &[Expected]) -> Result<(), MockAssertionError> {
        let detail = {
            let events = self.lock();
            if events.len() != expected.len() {
                Some(format!(
                    "expected {} events, {} were published",
                    expected.len(),
                    events.len()
                ))
            } else {
                events
                    .iter()
                    .zip(expected)
                    .enumerate()
                    .find_map(|(index, (event, want))| {
                        want.mismatch(event)
                            .map(|why| format!("event #{index}: {why}"))
                    })
            }
        };
        match detail {
            None => Ok(()),
            Some(detail) => Err(self.failure(
                "the published events differ from the expected ones",
                expected,
                &detail,
            )),
        }
    }

    /// Checks that exactly `count` events were published.
    pub fn check_count(&self, count: usize) -> Result<(), MockAssertionError> {
        let actual = self.len();
        if actual == count {
            Ok(())
        } else {
            Err(self.failure(
                &format!("expected {count} published events, found {actual}"),
                &[],
                "",
            ))
        }
    }

    /// Panicking form of [`check_published`](Self::check_published).
    ///
    /// # Panics
    /// When the check fails, with expected and published events in the message.
    #[track_caller]
    pub fn assert_published(&self, expected: &[Expected]) {
        if let Err(error) = self.check_published(expected) {
            panic!("{error}");
        }
    }

    /// Panicking form of [`check_published_any_order`](Self::check_published_any_order).
    ///
    /// # Panics
    /// When the check fails, with expected and published events in the message.
    #[track_caller]
    pub fn assert_published_any_order(&self, expected: &[Expected]) {
        if let Err(error) = self.check_published_any_order(expected) {
            panic!("{error}");
        }
    }

    /// Panicking form of [`check_published_all`](Self::check_published_all).
    ///
    /// # Panics
    /// When the check fails, with expected and published events in the message.
    #[track_caller]
    pub fn assert_published_all(&self, expected: &[Expected]) {
        if let Err(error) = self.check_published_all(expected) {
            panic!("{error}");
        }
    }

    /// Panicking form of [`check_count`](Self::check_count).
    ///
    /// # Panics
    /// When the count differs.
    #[track_caller]
    pub fn assert_count(&self, count: usize) {
        if let Err(error) = self.check_count(count) {
            panic!("{error}");
        }
    }
}

/// Indexes of expectations left without a distinct matching event by a maximum bipartite
/// matching (wildcards can match several events, so a greedy pass is not enough).
fn unmatched_expectations(expected: &[Expected], events: &[PublishedEvent]) -> Vec<usize> {
    fn augment(
        want: usize,
        expected: &[Expected],
        events: &[PublishedEvent],
        owner: &mut [Option<usize>],
        visited: &mut [bool],
    ) -> bool {
        for (slot, event) in events.iter().enumerate() {
            if visited[slot] || expected[want].mismatch(event).is_some() {
                continue;
            }
            visited[slot] = true;
            let free = match owner[slot] {
                None => true,
                Some(other) => augment(other, expected, events, owner, visited),
            };
            if free {
                owner[slot] = Some(want);
                return true;
            }
        }
        false
    }
    let mut owner = vec![None; events.len()];
    (0..expected.len())
        .filter(|&want| {
            let mut visited = vec![false; events.len()];
            !augment(want, expected, events, &mut owner, &mut visited)
        })
        .collect()
}
