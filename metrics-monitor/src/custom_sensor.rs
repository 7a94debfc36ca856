//! [`CustomSensor`]: the application's own counters, gauges and histograms, sent to every
//! attached sensor the way the pipeline's own figures are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::monitor::CustomSnapshot;
use crate::monitor::custom::Custom;
use metrics_core::sensor::{CustomKind, CustomMetric, SensorDelegate};
use metrics_core::sync::lock;

/// Upper bounds of a custom histogram's buckets unless
/// [`CustomSensor::histogram_buckets`] says otherwise: the Prometheus client libraries'
/// default, suited to durations in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A named source of the application's own metrics (Faust's `CustomSensor`).
///
/// Every value goes through the sensor hub to each attached sensor's
/// [`on_custom_metric`](metrics_core::sensor::Sensor::on_custom_metric): the Monitor keeps it (and so
/// `/stats` and Prometheus show it), a StatsD sensor sends it, a logging sensor logs it.
/// [`get_metrics`](Self::get_metrics) answers this sensor's own figures.
///
/// ```
/// use std::sync::Arc;
/// use metrics_monitor::Monitor;
/// use metrics_core::sensor::SensorDelegate;
/// use metrics_monitor::CustomSensor;
///
/// let hub = Arc::new(SensorDelegate::new());
/// let monitor = Arc::new(Monitor::new());
/// hub.add(monitor.clone());
///
/// let orders = CustomSensor::new("orders", Arc::clone(&hub));
/// orders.increment_counter("processed", 3);
/// orders.set_gauge("backlog", 12.0);
/// orders.record_histogram("amount", 0.2);
///
/// assert_eq!(orders.get_metrics().counters["orders"]["processed"], 3);
/// assert_eq!(monitor.get_metrics().gauges["orders"]["backlog"], 12.0);
/// ```
pub struct CustomSensor {
    name: Box<str>,
    hub: Arc<SensorDelegate>,
    figures: Custom,
    buckets: Mutex<HashMap<Box<str>, Arc<[f64]>>>,
}

impl std::fmt::Debug for CustomSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSensor")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CustomSensor {
    /// A sensor named `name` reporting to the sensors of `hub`.
    pub fn new(name: impl Into<Box<str>>, hub: Arc<SensorDelegate>) -> Self {
        Self {
            name: name.into(),
            hub,
            figures: Custom::new(1000),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The sensor's name: the `sensor` label (Prometheus) or the first part of the metric
    /// name (StatsD) of everything it records.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Uses `bounds` (ascending upper bounds, in the unit of the values) as the buckets of
    /// the histogram `key`. Call it before the first value: an exporter keeps the
    /// buckets the first value came with. Bounds that are not finite or not ascending
    /// are dropped.
    pub fn histogram_buckets(&self, key: &str, bounds: &[f64]) {
        let mut kept: Vec<f64> = Vec::with_capacity(bounds.len());
        for bound in bounds {
            if bound.is_finite() && kept.last().is_none_or(|last| last < bound) {
                kept.push(*bound);
            }
        }
        lock(&self.buckets).insert(key.into(), kept.into());
    }

    /// Adds `n` to the counter `key`.
    pub fn increment_counter(&self, key: &str, n: u64) {
        self.record(key, CustomKind::Counter, n as f64, SystemTime::now());
    }

    /// Sets the gauge `key` to `value`.
    pub fn set_gauge(&self, key: &str, value: f64) {
        self.record(key, CustomKind::Gauge, value, SystemTime::now());
    }

    /// Records `value` as one observation of the histogram `key`.
    pub fn record_histogram(&self, key: &str, value: f64) {
        self.record(key, CustomKind::Histogram, value, SystemTime::now());
    }

    /// Records a reading of `key` taken at `timestamp` (a gauge: the last value wins;
    /// exporters that keep no time use the value alone).
    pub fn record_metric(&self, key: &str, value: f64, timestamp: SystemTime) {
        self.record(key, CustomKind::Gauge, value, timestamp);
    }

    /// What this sensor recorded: its counters, gauges and histograms (under its name).
    pub fn get_metrics(&self) -> CustomSnapshot {
        self.figures.snapshot()
    }

    fn record(&self, key: &str, kind: CustomKind, value: f64, at: SystemTime) {
        let declared = match kind {
            CustomKind::Histogram => lock(&self.buckets).get(key).cloned(),
            _ => None,
        };
        let buckets: &[f64] = match (&declared, kind) {
            (Some(bounds), _) => bounds,
            (None, CustomKind::Histogram) => &DEFAULT_BUCKETS,
            _ => &[],
        };
        let metric = CustomMetric {
            sensor: &self.name,
            name: key,
            kind,
            value,
            buckets,
            at,
        };
        self.figures.record(&metric);
        self.hub.on_custom_metric(&metric);
    }
}
