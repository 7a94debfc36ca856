//! What `setup_monitoring` and `MonitoringSetup` promise, on the Mock backend: StatsD lines
//! sent at every sample interval (not when a packet fills or at exit), the application's
//! own Prometheus registry served by `/metrics`, and alert hooks given before the first
//! check.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app_metrics::config::MetricsConfig;
use app_metrics::config::MonitoringConfig;
use app_metrics::monitoring::{HealthCheck, MonitoringSetup};
use app_metrics::{EventManager, EventPayload, setup_monitoring};

/// A user logged in.
#[derive(EventPayload)]
struct LoginEvent {
    username: String,
}

fn mock_manager(application: &str) -> EventManager {
    let config = MetricsConfig::builder(application)
        .enabled(false)
        .mock(true)
        .build()
        .unwrap();
    EventManager::mock(&config)
}

/// Lines received on `server` until `want` of them match `pattern` or `timeout` passes.
fn receive(server: &UdpSocket, pattern: &str, want: usize, timeout: Duration) -> Vec<String> {
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let mut buf = [0u8; 65536];
    while lines
        .iter()
        .filter(|l: &&String| l.contains(pattern))
        .count()
        < want
        && Instant::now() < deadline
    {
        if let Ok(n) = server.recv(&mut buf) {
            let packet = String::from_utf8_lossy(&buf[..n]).into_owned();
            lines.extend(packet.lines().map(str::to_owned));
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statsd_lines_of_a_quiet_application_arrive_at_the_sample_interval() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = MonitoringConfig::builder()
        .statsd_address(server.local_addr().unwrap().to_string())
        .sample_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let manager = mock_manager("quiet");
    let monitoring = setup_monitoring(manager.sensors(), manager.application(), &config).unwrap();
    manager.initialize().await.unwrap();
    let logins = manager
        .create_publisher::<LoginEvent>("login")
        .await
        .unwrap();
    // Three events: a few hundred bytes, far from a full packet.
    for name in ["ada", "grace", "alan"] {
        logins
            .publish(LoginEvent {
                username: name.into(),
            })
            .unwrap();
    }
    monitoring
        .custom_sensor("app")
        .record_histogram("lookup_ms", 0.25);
    let server = tokio::task::spawn_blocking(move || {
        let lines = receive(&server, "messages_sent", 3, Duration::from_secs(5));
        (server, lines)
    });
    let (_server, lines) = server.await.unwrap();
    let sent: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("messages_sent"))
        .collect();
    assert_eq!(sent.len(), 3, "sent while the application runs: {lines:?}");
    assert!(
        sent[0].starts_with("app_metrics.messages_sent:1|c|#app:quiet,"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("app_metrics.app.lookup_ms:0.25|ms")),
        "{lines:?}"
    );
    // Still running: nothing was closed or dropped to get them out.
    assert!(monitoring.statsd().is_some());
    drop(monitoring);
}

#[tokio::test]
async fn the_applications_own_registry_is_served_with_ours() {
    use app_metrics::monitoring::Format;
    use app_metrics::monitoring::prometheus_client::metrics::counter::Counter;
    use app_metrics::monitoring::prometheus_client::registry::Registry;

    let mut registry = Registry::default();
    let orders = Counter::<u64>::default();
    registry.register("myapp_orders", "Orders taken.", orders.clone());
    let manager = mock_manager("own_registry");
    let monitoring = MonitoringSetup::new(
        manager.application(),
        &MonitoringConfig::builder().build().unwrap(),
    )
    .prometheus_registry(registry)
    .attach(manager.sensors())
    .unwrap();
    manager.initialize().await.unwrap();
    let logins = manager
        .create_publisher::<LoginEvent>("login")
        .await
        .unwrap();
    logins
        .publish(LoginEvent {
            username: "ada".into(),
        })
        .unwrap();
    // The application's counter keeps counting after it was handed over.
    orders.inc_by(5);
    let text = monitoring
        .prometheus()
        .unwrap()
        .render(Format::Classic)
        .unwrap();
    assert!(text.contains("myapp_orders_total 5"), "{text}");
    assert!(
        text.contains("app_metrics_messages_delivered_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn an_alert_hook_given_at_setup_hears_the_first_failure() {
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let heard = Arc::clone(&alerts);
    let config = MonitoringConfig::builder()
        .max_memory_mb(1) // any process is above 1 MiB
        .health_check_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let manager = mock_manager("alerted");
    let monitoring = MonitoringSetup::new(manager.application(), &config)
        .on_alert(move |alert| heard.lock().unwrap().push((alert.check, alert.failing)))
        .attach(manager.sensors())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alerts.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*alerts.lock().unwrap(), [(HealthCheck::Memory, true)]);

    // A hook added now, long after the failure began, learns of it at once.
    let late = Arc::new(Mutex::new(Vec::new()));
    let heard = Arc::clone(&late);
    monitoring
        .health()
        .unwrap()
        .on_change(move |alert| heard.lock().unwrap().push((alert.check, alert.failing)));
    assert_eq!(*late.lock().unwrap(), [(HealthCheck::Memory, true)]);
}
