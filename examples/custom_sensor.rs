//! An application's own sensor next to the Monitor: it watches deliveries and keeps the
//! slowest one per event, and counts large events through a `CustomSensor`.
//!
//! ```sh
//! cargo run --example custom_sensor
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app_metrics::monitoring::{CustomSensor, MonitoringSetup};
use app_metrics::sensor::{Delivered, SendInfo, SendState, Sensor, SensorDelegate, SensorResult};
use app_metrics::{Config, EventPayload};

/// A user logged in.
#[derive(EventPayload)]
struct LoginEvent {
    username: String,
    success: bool,
}

/// Keeps the slowest delivery of each event and counts events above a size through a
/// `CustomSensor` (so the count reaches every exporter: `/stats`, Prometheus, StatsD).
struct SlowestDelivery {
    slowest: Mutex<BTreeMap<String, Duration>>,
    counts: CustomSensor,
    large: usize,
}

impl Sensor for SlowestDelivery {
    fn name(&self) -> &str {
        "slowest_delivery"
    }

    fn metrics(&self) -> Option<serde_json::Value> {
        let slowest = self.slowest.lock().ok()?;
        let millis: BTreeMap<&String, f64> = slowest
            .iter()
            .map(|(event, d)| (event, d.as_secs_f64() * 1000.0))
            .collect();
        Some(serde_json::json!({ "slowest_delivery_ms": millis }))
    }

    fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
        if send.value_size >= self.large {
            self.counts.increment_counter("large_events", 1);
        }
        Ok(SendState::at(send.at))
    }

    fn on_send_completed(&self, state: SendState, done: &Delivered<'_>) -> SensorResult {
        let took = state.elapsed(done.at);
        let mut slowest = self
            .slowest
            .lock()
            .map_err(|_| app_metrics::sensor::SensorError::msg("poisoned"))?;
        let entry = slowest.entry(done.event.to_owned()).or_default();
        *entry = (*entry).max(took);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env_or_embedded("custom_sensor")?;
    if config.kafka.is_embedded() {
        eprintln!(
            "KAFKA_BOOTSTRAP_SERVERS is unset: using the embedded development broker and registry (in-process; events never leave this process)"
        );
    }
    // The application's sensor hub: monitoring, the sensor below and the manager share it.
    let sensors = Arc::new(SensorDelegate::new());
    let slowest = SlowestDelivery {
        slowest: Mutex::default(),
        counts: CustomSensor::new("custom_sensor", Arc::clone(&sensors)),
        large: 100,
    };
    let monitoring = MonitoringSetup::new(config.metrics.application(), &config.monitoring)
        .sensor(Arc::new(slowest))
        .attach(&sensors)?;
    let manager = app_metrics::make_manager(&config, &sensors)?;

    manager.initialize().await?;
    let logins = manager.create_publisher::<LoginEvent>("login").await?;
    for i in 0..50 {
        let username = if i % 10 == 0 {
            "a-rather-long-user-name-".repeat(2)
        } else {
            format!("user{i}")
        };
        logins.publish(LoginEvent {
            username,
            success: i % 7 != 0,
        })?;
    }
    manager.close(Duration::from_secs(30)).await?;

    let all = sensors.combined_metrics();
    println!(
        "{}",
        serde_json::to_string_pretty(&all["slowest_delivery"])?
    );
    println!(
        "large events: {}",
        monitoring.monitor().get_metrics().counters["custom_sensor"]["large_events"]
    );
    println!("delivered: {}", all["monitor"]["messages_delivered"]);
    // The sensor holds a CustomSensor on the hub it is attached to: detaching breaks that
    // cycle, so a long-running application that stops monitoring frees it.
    monitoring.detach();
    Ok(())
}
