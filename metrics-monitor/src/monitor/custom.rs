//! The application's own metrics, as recorded through
//! [`CustomSensor`](crate::CustomSensor)s: counters, gauges and histograms by
//! sensor and name.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::labeled::{Labeled, Pair, SharedMap};
use super::series::{HistogramSnapshot, History, WindowStats};
use metrics_core::sensor::{CustomKind, CustomMetric};

/// `(sensor, name)`.
type Key = (Box<str>, Box<str>);

/// The application's own metrics.
pub(crate) struct Custom {
    counters: Labeled<Key>,
    /// `f64` bits.
    gauges: SharedMap<Key, AtomicU64>,
    histograms: SharedMap<Key, CustomHistogram>,
    max_history: usize,
}

/// Values by sensor, then metric name.
pub type BySensor<T> = BTreeMap<String, BTreeMap<String, T>>;

/// The application's own metrics, by sensor, then name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomSnapshot {
    /// Counters.
    pub counters: BySensor<u64>,
    /// Gauges.
    pub gauges: BySensor<f64>,
    /// Histograms.
    pub histograms: BySensor<CustomHistogramSnapshot>,
}

/// One custom histogram: statistics of its recent values and its buckets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomHistogramSnapshot {
    /// Count, mean, p50, p95 and max of the recent values.
    pub recent: WindowStats,
    /// Every value ever recorded, in buckets.
    pub buckets: HistogramSnapshot,
}

/// A histogram with the bounds its first value came with.
struct CustomHistogram {
    history: History,
    bounds: Box<[f64]>,
    /// One per bound, then `+Inf`.
    counts: Box<[AtomicU64]>,
    /// `f64` bits of the sum.
    sum: AtomicU64,
}

impl CustomHistogram {
    fn new(bounds: &[f64], max_history: usize) -> Self {
        Self {
            history: History::new(max_history),
            bounds: bounds.into(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    fn record(&self, value: f64) {
        self.history.record(value);
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    fn snapshot(&self) -> CustomHistogramSnapshot {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        let count = cumulative + self.counts[self.bounds.len()].load(Ordering::Relaxed);
        CustomHistogramSnapshot {
            recent: self.history.stats(),
            buckets: HistogramSnapshot {
                buckets,
                count,
                sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
            },
        }
    }
}

impl Custom {
    pub(crate) fn new(max_history: usize) -> Self {
        Self {
            counters: Labeled::new(),
            gauges: SharedMap::new(),
            histograms: SharedMap::new(),
            max_history,
        }
    }

    /// Records one value. A counter's increment is rounded to a whole number; a
    /// negative or non-finite one is ignored (counters only go up).
    pub(crate) fn record(&self, metric: &CustomMetric<'_>) {
        let key = Pair(metric.sensor, metric.name);
        match metric.kind {
            CustomKind::Counter if metric.value.is_finite() && metric.value >= 0.0 => {
                self.counters.add(&key, metric.value.round() as u64);
            }
            CustomKind::Counter => {}
            CustomKind::Gauge => self.gauges.with(&key, AtomicU64::default, |g| {
                g.store(metric.value.to_bits(), Ordering::Relaxed)
            }),
            CustomKind::Histogram => {
                let max_history = self.max_history;
                self.histograms.with(
                    &key,
                    || CustomHistogram::new(metric.buckets, max_history),
                    |h| h.record(metric.value),
                );
            }
            // A kind added to the hook after this Monitor was written: not kept.
            _ => {}
        }
    }

    pub(crate) fn snapshot(&self) -> CustomSnapshot {
        fn nest<T>(entries: impl IntoIterator<Item = (Key, T)>) -> BySensor<T> {
            let mut nested = BySensor::new();
            for ((sensor, name), value) in entries {
                nested
                    .entry(sensor.into())
                    .or_insert_with(BTreeMap::new)
                    .insert(name.into(), value);
            }
            nested
        }
        CustomSnapshot {
            counters: nest(self.counters.counts()),
            gauges: nest(
                self.gauges
                    .entries()
                    .into_iter()
                    .map(|(k, g)| (k, f64::from_bits(g.load(Ordering::Relaxed)))),
            ),
            histograms: nest(
                self.histograms
                    .entries()
                    .into_iter()
                    .map(|(k, h)| (k, h.snapshot())),
            ),
        }
    }
}
