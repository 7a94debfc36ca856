//! Metrics the application adds itself (Faust's `CustomSensor`): counters, gauges and
//! histograms by name.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::labeled::{Labeled, SharedMap};
use super::series::{History, WindowStats};

/// The application's own metrics.
pub(crate) struct Custom {
    counters: Labeled<Box<str>>,
    /// `f64` bits.
    gauges: SharedMap<Box<str>, AtomicU64>,
    histograms: SharedMap<Box<str>, History>,
    max_history: usize,
}

/// The application's own metrics, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomSnapshot {
    /// Counters.
    pub counters: BTreeMap<String, u64>,
    /// Gauges.
    pub gauges: BTreeMap<String, f64>,
    /// Histograms: statistics of their recent values.
    pub histograms: BTreeMap<String, WindowStats>,
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

    pub(crate) fn count(&self, name: &str, n: u64) {
        self.counters.add(name, n);
    }

    pub(crate) fn set_gauge(&self, name: &str, value: f64) {
        self.gauges.with(name, AtomicU64::default, |g| {
            g.store(value.to_bits(), Ordering::Relaxed)
        });
    }

    pub(crate) fn record(&self, name: &str, value: f64) {
        let max_history = self.max_history;
        self.histograms
            .with(name, || History::new(max_history), |h| h.record(value));
    }

    pub(crate) fn snapshot(&self) -> CustomSnapshot {
        CustomSnapshot {
            counters: super::strings(self.counters.counts()),
            gauges: self
                .gauges
                .entries()
                .into_iter()
                .map(|(k, v)| (k.into(), f64::from_bits(v.load(Ordering::Relaxed))))
                .collect(),
            histograms: self
                .histograms
                .entries()
                .into_iter()
                .map(|(k, h)| (k.into(), h.stats()))
                .collect(),
        }
    }
}
