//! Bounded histories of measurements (count, mean, p50, p95, max over the last N) and
//! cumulative histograms in seconds, both written lock-free.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Upper bounds, in seconds, of the latency histograms' buckets: from 100 µs (an
/// in-process broker) to 10 s (a struggling cluster).
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// [`LATENCY_BUCKETS`] in nanoseconds, to place a latency with integer comparisons.
const LATENCY_BUCKETS_NANOS: [u64; LATENCY_BUCKETS.len()] = {
    let mut nanos = [0; LATENCY_BUCKETS.len()];
    let mut i = 0;
    while i < nanos.len() {
        // Rounded: 0.0001 s is 100,000 ns, not 100,000.000000001.
        nanos[i] = (LATENCY_BUCKETS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    nanos
};

/// The last `capacity` values (as `f64` bits) in a ring, and how many were ever recorded.
pub(crate) struct History {
    slots: Box<[AtomicU64]>,
    recorded: AtomicU64,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.max(1)).map(|_| AtomicU64::new(0)).collect(),
            recorded: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, value: f64) {
        let index = self.recorded.fetch_add(1, Ordering::Relaxed);
        let slot = (index % self.slots.len() as u64) as usize;
        self.slots[slot].store(value.to_bits(), Ordering::Relaxed);
    }

    /// Statistics of the values in the window (a concurrent writer may replace one while
    /// it is read: the statistics are of recent values either way).
    pub(crate) fn stats(&self) -> WindowStats {
        let recorded = self.recorded.load(Ordering::Relaxed);
        let filled = recorded.min(self.slots.len() as u64) as usize;
        let mut values: Vec<f64> = self.slots[..filled]
            .iter()
            .map(|slot| f64::from_bits(slot.load(Ordering::Relaxed)))
            .collect();
        values.sort_by(f64::total_cmp);
        WindowStats::of_sorted(&values, recorded)
    }
}

/// Count, mean, median, 95th percentile and maximum of the last values recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WindowStats {
    /// How many values were ever recorded.
    pub total: u64,
    /// How many are in the window (at most the history's bound).
    pub count: u64,
    /// Their arithmetic mean (not the median: see `p50`).
    pub mean: f64,
    /// Their median (nearest rank).
    pub p50: f64,
    /// Their 95th percentile (nearest rank).
    pub p95: f64,
    /// The largest.
    pub max: f64,
}

impl WindowStats {
    /// The statistics of `sorted` (ascending), `total` values ever recorded.
    pub fn of_sorted(sorted: &[f64], total: u64) -> Self {
        let Some(max) = sorted.last().copied() else {
            return Self {
                total,
                ..Self::default()
            };
        };
        Self {
            total,
            count: sorted.len() as u64,
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            p50: nearest_rank(sorted, 50.0),
            p95: nearest_rank(sorted, 95.0),
            max,
        }
    }
}

/// The nearest-rank percentile `p` (0-100] of a non-empty ascending slice: the smallest
/// value with at least `p`% of the values at or below it.
pub(crate) fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A cumulative histogram: counts per bucket of [`LATENCY_BUCKETS`], the count and the
/// sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, values at or below it)`, cumulative, ascending.
    pub buckets: Vec<(f64, u64)>,
    /// How many values were recorded.
    pub count: u64,
    /// Their sum in seconds.
    pub sum: f64,
}

impl HistogramSnapshot {
    /// Each bucket's own count (not cumulative), ending with `+Inf`: the form
    /// `prometheus-client` takes, which sums them itself.
    ///
    /// ```
    /// use metrics_monitor::HistogramSnapshot;
    ///
    /// let h = HistogramSnapshot { buckets: vec![(0.1, 2), (1.0, 5)], count: 6, sum: 3.0 };
    /// assert_eq!(h.per_bucket(), [(0.1, 2), (1.0, 3), (f64::INFINITY, 1)]);
    /// ```
    pub fn per_bucket(&self) -> Vec<(f64, u64)> {
        let mut below = 0;
        let mut own: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let n = cumulative.saturating_sub(below);
                below = below.max(cumulative);
                (bound, n)
            })
            .collect();
        own.push((f64::INFINITY, self.count.saturating_sub(below)));
        own
    }
}

/// A latency series: the bounded history for statistics and a cumulative histogram for
/// exporters. Each starts a cache line: different threads write different series.
#[repr(align(64))]
pub(crate) struct Latency {
    history: History,
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    pub(crate) fn new(max_history: usize) -> Self {
        Self {
            history: History::new(max_history),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, elapsed: Duration) {
        self.history.record(elapsed.as_secs_f64());
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_NANOS.partition_point(|bound| *bound < nanos);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> WindowStats {
        self.history.stats()
    }

    pub(crate) fn histogram(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len());
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            buckets,
            count,
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: sort a copy, take the nearest rank by the textbook formula.
    fn reference(values: &[f64], p: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let rank = (p / 100.0 * n).ceil().max(1.0) as usize;
        sorted[rank - 1]
    }

    #[test]
    fn percentiles_match_a_sorted_reference() {
        // A shuffled, skewed sample with duplicates.
        let values: Vec<f64> = (0..137u64)
            .map(|i| ((i * 7919) % 137) as f64 * if i % 10 == 0 { 10.0 } else { 0.01 })
            .collect();
        let history = History::new(1000);
        for v in &values {
            history.record(*v);
        }
        let stats = history.stats();
        assert_eq!(stats.count, 137);
        assert_eq!(stats.p50, reference(&values, 50.0));
        assert_eq!(stats.p95, reference(&values, 95.0));
        assert_eq!(stats.max, reference(&values, 100.0));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((stats.mean - mean).abs() < 1e-9);
        assert_ne!(stats.mean, stats.p50, "the mean is not the median");
    }

    #[test]
    fn the_history_keeps_only_the_last_values() {
        let history = History::new(4);
        for v in 1..=10 {
            history.record(f64::from(v));
        }
        let stats = history.stats();
        assert_eq!((stats.total, stats.count), (10, 4));
        assert_eq!(stats.max, 10.0);
        assert_eq!(stats.p50, 8.0, "of 7, 8, 9, 10");
        assert_eq!(stats.mean, 8.5);
    }

    #[test]
    fn an_empty_history_has_zero_statistics() {
        let stats = History::new(3).stats();
        assert_eq!(stats, WindowStats::default());
    }

    #[test]
    fn small_samples_use_the_nearest_rank() {
        assert_eq!(nearest_rank(&[5.0], 95.0), 5.0);
        assert_eq!(nearest_rank(&[1.0, 2.0], 50.0), 1.0);
        assert_eq!(nearest_rank(&[1.0, 2.0], 51.0), 2.0);
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 95.0), 4.0);
    }

    #[test]
    fn latencies_land_in_second_sized_buckets() {
        let latency = Latency::new(10);
        latency.record(Duration::from_micros(300)); // 0.0003 s → le 0.0005
        latency.record(Duration::from_millis(1)); // exactly 0.001 → le 0.001
        latency.record(Duration::from_secs(20)); // beyond the last bound → +Inf only
        let h = latency.histogram();
        assert_eq!(h.count, 3);
        let at = |bound: f64| h.buckets.iter().find(|(b, _)| *b == bound).unwrap().1;
        assert_eq!(at(0.00025), 0);
        assert_eq!(at(0.0005), 1);
        assert_eq!(at(0.001), 2);
        assert_eq!(at(10.0), 2);
        assert!((h.sum - 20.0013).abs() < 1e-9, "{}", h.sum);
        assert_eq!(latency.stats().max, 20.0, "seconds, not milliseconds");
    }
}
