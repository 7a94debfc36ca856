//! The event manager over the Noop and Mock backends and a failing test backend: errors,
//! metadata, mock assertions, the events container, strict vs resilient mode.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use app_metrics::backend::BoxFuture;
use app_metrics::backend::{BackendError, EventBackend, EventDescriptor, EventSink, OutgoingEvent};
use app_metrics::config::MetricsConfig;
use app_metrics::mock::{ANY, Expected, NOT_NONE};
use app_metrics::{
    DeliveryReport, ErrorKind, EventError, EventMaker, EventManager, EventPublisher,
};
use common::{LoginEvent, QueryEvent, QueryType};

const TIMEOUT: Duration = Duration::from_secs(5);

fn config(application: &str) -> MetricsConfig {
    MetricsConfig::builder(application)
        .enabled(false)
        .mock(true)
        .build()
        .expect("valid config")
}

async fn mock_manager() -> EventManager {
    let manager = EventManager::mock(&config("testapp"));
    manager.initialize().await.expect("mock initializes");
    manager
}

fn query(rows: i64) -> QueryEvent {
    QueryEvent {
        r#type: QueryType::Sync,
        duration: Duration::from_millis(1500),
        username: Some("ada".into()),
        rows,
    }
}

#[tokio::test]
async fn creating_a_publisher_before_initialize_is_an_error() {
    for manager in [
        EventManager::mock(&config("testapp")),
        EventManager::noop(&config("testapp")),
    ] {
        let err = manager
            .create_publisher::<QueryEvent>("query")
            .await
            .unwrap_err();
        assert!(matches!(err, EventError::Uninitialized));
        assert_eq!(
            err.to_string(),
            "the event manager is not initialized: call `EventManager::initialize().await` before creating publishers"
        );
    }
}

#[tokio::test]
async fn a_second_publisher_with_the_same_name_is_an_error() {
    let manager = mock_manager().await;
    manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    let err = manager
        .create_publisher::<LoginEvent>("query")
        .await
        .unwrap_err();
    assert!(matches!(&err, EventError::DuplicateEvent { name } if name == "query"));
    assert!(
        err.to_string()
            .starts_with("an event publisher named \"query\" already exists"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_event_names_are_refused_by_every_backend() {
    for manager in [
        EventManager::mock(&config("testapp")),
        EventManager::noop(&config("testapp")),
    ] {
        manager.initialize().await.unwrap();
        let err = manager
            .create_publisher::<QueryEvent>("query-event")
            .await
            .unwrap_err();
        assert!(matches!(err, EventError::InvalidName(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("invalid event name \"query-event\""),
            "{err}"
        );
        // The bad name did not use up anything: a valid one still works.
        manager
            .create_publisher::<QueryEvent>("query_event")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn invalid_application_names_are_refused_at_configuration() {
    let err = MetricsConfig::builder("my-app")
        .enabled(false)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("METRICS_APPLICATION"), "{err}");
}

#[tokio::test]
async fn publishing_after_close_is_an_error() {
    let manager = mock_manager().await;
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    manager.close(TIMEOUT).await.unwrap();
    let err = publisher.publish(query(1)).unwrap_err();
    assert!(matches!(err, EventError::Closed { .. }));
    assert!(
        err.to_string().contains("the event manager is closed"),
        "{err}"
    );
    assert!(
        manager
            .create_publisher::<LoginEvent>("login")
            .await
            .is_err()
    );
    // Closing again is harmless.
    assert_eq!(
        manager.close(TIMEOUT).await.unwrap(),
        DeliveryReport::default()
    );
}

#[tokio::test]
async fn topic_follows_safir_naming_and_the_mock_has_no_registry() {
    let manager = mock_manager().await;
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    assert_eq!(manager.topic(), "lsst.square.metrics.events.testapp");
    assert_eq!(publisher.topic(), "lsst.square.metrics.events.testapp");
    assert_eq!(
        publisher.subject(),
        None,
        "the mock backend registers no schema"
    );
    assert_eq!(publisher.schema_id(), None);
    assert!(
        publisher
            .schema()
            .contains(r#""name":"query","namespace":"lsst.square.metrics.events.testapp""#)
    );
}

#[tokio::test]
async fn publish_enriches_every_event_with_metadata() {
    let manager = mock_manager().await;
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    let before = chrono::Utc::now();
    let metadata: Vec<_> = (0..50)
        .map(|i| publisher.publish(query(i)).unwrap())
        .collect();
    let after = chrono::Utc::now();
    let ids: HashSet<_> = metadata.iter().map(|m| m.id()).collect();
    assert_eq!(ids.len(), 50, "ids are unique");
    for meta in &metadata {
        assert_eq!(meta.id().get_version_num(), 4);
        assert_eq!(meta.application(), "testapp");
        assert_eq!(
            meta.timestamp().timestamp_nanos_opt(),
            Some(meta.timestamp_ns())
        );
        assert!(before <= meta.timestamp() && meta.timestamp() <= after);
    }
    let recorded = publisher.published().unwrap().events();
    assert_eq!(
        recorded
            .iter()
            .map(|e| e.metadata.clone())
            .collect::<Vec<_>>(),
        metadata
    );
}

#[tokio::test]
async fn publishers_are_cheap_clones_usable_from_many_tasks() {
    let manager = mock_manager().await;
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let publisher = publisher.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    publisher.publish(query(task * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    publisher.published().unwrap().assert_count(200);
}

#[tokio::test]
async fn noop_builds_events_and_records_nothing() {
    let manager = EventManager::noop(&config("testapp"));
    manager.initialize().await.unwrap();
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    let meta = publisher.publish(query(1)).unwrap();
    assert_eq!(meta.application(), "testapp");
    publisher.publish_confirmed(query(2)).await.unwrap();
    assert!(publisher.published().is_none());
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
}

#[tokio::test]
async fn mock_assertions_pass_on_matching_events() {
    let manager = mock_manager().await;
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    for rows in 1..=4 {
        publisher.publish(query(rows)).unwrap();
    }
    publisher
        .publish_confirmed(QueryEvent {
            username: None,
            ..query(5)
        })
        .await
        .unwrap();
    let published = publisher.published().unwrap();
    published.assert_count(5);
    // A contiguous run, in order, among other events.
    published.assert_published(&[
        Expected::new().field("rows", 2),
        Expected::new().field("rows", 3),
    ]);
    // Any order.
    published.assert_published_any_order(&[
        Expected::new().field("rows", 4),
        Expected::new().field("username", NOT_NONE),
        Expected::new().field("username", None::<String>),
    ]);
    // Exactly all, with whole payloads and wildcards.
    let all: Vec<Expected> = (1..=4)
        .map(|rows| Expected::payload(&query(rows)).field("duration", ANY))
        .chain([Expected::new()
            .field("rows", 5)
            .field("username", ANY)
            .field("type", QueryType::Sync)])
        .collect();
    published.assert_published_all(&all);
}

#[tokio::test]
async fn mock_failures_show_expected_and_actual() {
    let manager = mock_manager().await;
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    publisher.publish(query(1)).unwrap();
    publisher.publish(query(2)).unwrap();
    let published = publisher.published().unwrap();

    let err = published
        .check_published(&[
            Expected::new().field("rows", 2),
            Expected::new().field("rows", 1),
        ])
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("the expected events were not published as one run in this order"),
        "{text}"
    );
    assert!(
        text.contains("expected:\n  {rows: Int(2)}\n  {rows: Int(1)}"),
        "{text}"
    );
    assert!(text.contains("published (2):\n  {type: Enum(\"sync\"), duration: Duration(1.5), username: Str(\"ada\"), rows: Int(1)}"), "{text}");

    let err = published
        .check_published_all(&[Expected::payload(&query(1)), Expected::payload(&query(3))])
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("event #1: rows: expected Int(3), got Int(2)"),
        "{err}"
    );

    let err = published
        .check_published_all(&[Expected::payload(&query(1))])
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("expected 1 events, 2 were published"),
        "{err}"
    );

    // Two expectations cannot both claim the one event with rows 1.
    let err = published
        .check_published_any_order(&[
            Expected::new().field("rows", 1),
            Expected::new().field("rows", 1),
        ])
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("no distinct published event matches expected #1: {rows: Int(1)}"),
        "{err}"
    );

    let err = published
        .check_published(&[Expected::new().field("row", 1)])
        .unwrap_err();
    assert!(err.to_string().contains("{row: Int(1)}"), "{err}");
    assert!(
        published
            .check_published_all(&[Expected::new().field("row", 1), Expected::new()])
            .unwrap_err()
            .to_string()
            .ends_with("event #0: no field named \"row\"")
    );

    let err = published.check_count(3).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("expected 3 published events, found 2"),
        "{err}"
    );
}

#[tokio::test]
#[should_panic(expected = "the published events differ from the expected ones")]
async fn mock_assertions_panic_for_tests() {
    let manager = mock_manager().await;
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    publisher.publish(query(1)).unwrap();
    publisher
        .published()
        .unwrap()
        .assert_published_all(&[Expected::payload(&query(2))]);
}

/// Every publisher of the test application, built once.
struct Events {
    query: EventPublisher<QueryEvent>,
    login: EventPublisher<LoginEvent>,
}

impl EventMaker for Events {
    async fn make(manager: &EventManager) -> Result<Self, EventError> {
        Ok(Events {
            query: manager.create_publisher("query").await?,
            login: manager.create_publisher("login").await?,
        })
    }
}

#[tokio::test]
async fn the_events_container_is_built_once_and_shared() {
    let manager = mock_manager().await;
    let events: Arc<Events> = manager.make_events().await.unwrap();
    let shared = Arc::clone(&events);
    tokio::spawn(async move {
        shared.login.publish(LoginEvent {
            username: "ada".into(),
            success: true,
            provider: None,
        })
    })
    .await
    .unwrap()
    .unwrap();
    events.query.publish(query(7)).unwrap();
    events
        .login
        .published()
        .unwrap()
        .assert_published_all(&[Expected::new().field("username", "ada")]);
    events.query.published().unwrap().assert_count(1);
    // Building it twice would create the same publishers twice.
    assert!(matches!(
        manager.make_events::<Events>().await,
        Err(EventError::DuplicateEvent { .. })
    ));
}

/// A backend failure of `kind` saying `message`.
fn failure(kind: ErrorKind, message: &str) -> EventError {
    BackendError::new(kind, std::io::Error::other(message.to_owned())).into()
}

/// A backend whose sends fail and whose flushes leave events behind.
#[derive(Debug, Default)]
struct FailingBackend {
    sends: Arc<AtomicUsize>,
    fail_sink_creation: bool,
}

#[derive(Debug)]
struct FailingSink {
    sends: Arc<AtomicUsize>,
}

impl EventSink for FailingSink {
    fn send(&self, _: &dyn OutgoingEvent) -> Result<(), EventError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        Err(failure(ErrorKind::QueueFull, "queue full"))
    }
    fn send_confirmed(&self, _: &dyn OutgoingEvent) -> BoxFuture<'static, Result<(), EventError>> {
        Box::pin(async { Err(failure(ErrorKind::Delivery, "broker down")) })
    }
}

impl EventBackend for FailingBackend {
    fn initialize(&self) -> BoxFuture<'_, Result<(), EventError>> {
        Box::pin(async { Err(failure(ErrorKind::Unavailable, "no broker")) })
    }
    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
        let result: Result<Arc<dyn EventSink>, EventError> = if self.fail_sink_creation {
            Err(failure(
                ErrorKind::Unavailable,
                &format!("registry unreachable for {}", event.name),
            ))
        } else {
            Ok(Arc::new(FailingSink {
                sends: Arc::clone(&self.sends),
            }))
        };
        Box::pin(async move { result })
    }
    fn flush(&self, _: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        Box::pin(async {
            Ok(DeliveryReport {
                undelivered: 3,
                ..DeliveryReport::default()
            })
        })
    }
    fn close(&self, _: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        Box::pin(async {
            Ok(DeliveryReport {
                undelivered: 3,
                ..DeliveryReport::default()
            })
        })
    }
}

fn failing_manager(strict: bool, backend: FailingBackend) -> EventManager {
    let config = MetricsConfig::builder("testapp")
        .enabled(false)
        .raise_on_error(strict)
        .build()
        .unwrap();
    EventManager::new(&config, Arc::new(backend), Arc::default())
}

#[tokio::test]
async fn resilient_mode_keeps_the_application_running() {
    let sends = Arc::new(AtomicUsize::new(0));
    let manager = failing_manager(
        false,
        FailingBackend {
            sends: Arc::clone(&sends),
            ..Default::default()
        },
    );
    manager
        .initialize()
        .await
        .expect("initialize failure is logged, not returned");
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    for rows in 0..10 {
        publisher
            .publish(query(rows))
            .expect("a dropped event is logged, not returned");
    }
    assert_eq!(sends.load(Ordering::SeqCst), 10);
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 3);
    // The caller of a confirmed publish asked to know.
    let err = publisher.publish_confirmed(query(1)).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Delivery), "{err:?}");
}

#[tokio::test]
async fn strict_mode_returns_initialize_errors_and_stays_uninitialized() {
    let manager = failing_manager(true, FailingBackend::default());
    let err = manager.initialize().await.unwrap_err();
    assert_eq!(err.to_string(), "no broker");
    assert_eq!(err.kind(), Some(ErrorKind::Unavailable));
    let err = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventError::Uninitialized),
        "still uninitialized after a failed initialize: {err:?}"
    );
}

#[tokio::test]
async fn strict_mode_reports_dropped_and_undelivered_events() {
    // A strict manager over a backend that initializes, but fails to send.
    #[derive(Debug, Default)]
    struct InitOk(FailingBackend);
    impl EventBackend for InitOk {
        fn initialize(&self) -> BoxFuture<'_, Result<(), EventError>> {
            Box::pin(async { Ok(()) })
        }
        fn create_sink(
            &self,
            event: &EventDescriptor,
        ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
            self.0.create_sink(event)
        }
        fn flush(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
            self.0.flush(timeout)
        }
        fn close(&self, timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
            self.0.close(timeout)
        }
    }
    let config = MetricsConfig::builder("testapp")
        .enabled(false)
        .raise_on_error(true)
        .build()
        .unwrap();
    let manager = EventManager::new(&config, Arc::new(InitOk::default()), Arc::default());
    manager.initialize().await.unwrap();
    let publisher = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap();
    let err = publisher.publish(query(1)).unwrap_err();
    assert_eq!(err.to_string(), "queue full");
    assert_eq!(err.kind(), Some(ErrorKind::QueueFull));
    let err = manager.flush(Duration::from_millis(10)).await.unwrap_err();
    assert_eq!(err.to_string(), "3 event(s) were not delivered within 10ms");
    let err = manager.close(Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(
        err,
        EventError::Undelivered { undelivered: 3, .. }
    ));
}

#[tokio::test]
async fn a_failed_publisher_creation_frees_the_name() {
    let manager = failing_manager(
        false,
        FailingBackend {
            fail_sink_creation: true,
            ..Default::default()
        },
    );
    manager.initialize().await.unwrap();
    for _ in 0..2 {
        let err = manager
            .create_publisher::<QueryEvent>("query")
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with("registry unreachable"),
            "not DuplicateEvent on retry: {err:?}"
        );
    }
}
