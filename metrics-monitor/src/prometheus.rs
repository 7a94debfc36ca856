//! `PrometheusMonitor`: the Monitor's figures as Prometheus metrics, read at scrape time
//! (nothing is added to the publishing path), rendered by `prometheus-client` as
//! OpenMetrics or the classic text format.

use std::sync::Arc;

use crate::monitor::{BySensor, HistogramSnapshot, LatencyKind, Monitor, PartitionSnapshot};
use metrics_core::ErrorKind;
use metrics_core::sensor::DecodeErrorKind;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use strum::IntoEnumIterator;

/// The exposition formats `/metrics` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics text 1.0.0, which Prometheus and Telegraf ask for.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4, for older scrapers and `curl`.
    Classic,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an `Accept` header prefers, as the Prometheus client libraries decide:
    /// OpenMetrics when it is accepted with at least the weight of `text/plain`, the
    /// classic format otherwise (and without a header).
    ///
    /// ```
    /// use metrics_monitor::Format;
    ///
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("*/*")), Format::Classic);
    /// assert_eq!(Format::negotiate(None), Format::Classic);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Classic;
        };
        let mut openmetrics: f32 = 0.0;
        let mut classic: f32 = 0.0;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => classic = classic.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= classic {
            Self::OpenMetrics
        } else {
            Self::Classic
        }
    }
}

/// Reads a [`Monitor`] at each scrape; register it into any `prometheus-client` registry.
#[derive(Debug, Clone)]
pub struct MonitorCollector {
    monitor: Arc<Monitor>,
}

impl MonitorCollector {
    /// A collector of `monitor`.
    pub fn new(monitor: Arc<Monitor>) -> Self {
        Self { monitor }
    }
}

/// Label names and values of one sample.
type Labels = Vec<(&'static str, String)>;

/// Writes metric families into a scrape. A family appears once it has a sample; label
/// values known in advance (error kinds of each event, topics) start at zero.
struct Writer<'a, 'b>(&'a mut DescriptorEncoder<'b>);

impl Writer<'_, '_> {
    fn counter(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) -> std::fmt::Result {
        let samples: Vec<_> = samples.into_iter().collect();
        if samples.is_empty() {
            return Ok(());
        }
        let mut metric =
            self.0
                .encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
        for (labels, value) in samples {
            metric
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        Ok(())
    }

    fn gauge(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) -> std::fmt::Result {
        let samples: Vec<_> = samples.into_iter().collect();
        if samples.is_empty() {
            return Ok(());
        }
        let mut metric = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in samples {
            metric.encode_family(&labels)?.encode_gauge(&value)?;
        }
        Ok(())
    }

    /// A histogram family `name` with one sample per label set (its unit, if any, is in
    /// the name: no `# UNIT` line, which some OpenMetrics parsers refuse on histograms).
    fn histogram<'h>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, &'h HistogramSnapshot)>,
    ) -> std::fmt::Result {
        let samples: Vec<_> = samples.into_iter().collect();
        if samples.is_empty() {
            return Ok(());
        }
        let mut metric = self
            .0
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        for (labels, h) in samples {
            metric
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.per_bucket(), None)?;
        }
        Ok(())
    }
}

/// One figure of a partition's snapshot.
type PartitionFigure = fn(&PartitionSnapshot) -> Option<i64>;

/// One sample without labels.
fn single<T>(value: T) -> [(Labels, T); 1] {
    [(Vec::new(), value)]
}

/// Samples of a map keyed by one label.
fn by<'a, T: Copy + 'a>(
    label: &'static str,
    map: impl IntoIterator<Item = (&'a String, &'a T)>,
) -> Vec<(Labels, T)> {
    map.into_iter()
        .map(|(value, n)| (vec![(label, value.clone())], *n))
        .collect()
}

impl Collector for MonitorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = self.monitor.snapshot();
        let mut w = Writer(&mut encoder);

        let sent = s.messages_sent_by_event.iter().flat_map(|(topic, events)| {
            events.iter().map(move |(event, n)| {
                (vec![("topic", topic.clone()), ("event", event.clone())], *n)
            })
        });
        w.counter(
            "messages_sent",
            "Events handed to the producer.",
            None,
            sent,
        )?;
        w.counter(
            "messages_delivered",
            "Events the broker acknowledged.",
            None,
            single(s.messages_delivered),
        )?;
        let errors = s.messages_sent_by_event.iter().flat_map(|(topic, events)| {
            let failed = s.send_errors_by_event.get(topic);
            events.keys().flat_map(move |event| {
                let kinds = failed.and_then(|f| f.get(event));
                ErrorKind::ALL.into_iter().map(move |kind| {
                    let n = kinds
                        .and_then(|k| k.get(kind.as_str()))
                        .copied()
                        .unwrap_or(0);
                    let labels = vec![
                        ("topic", topic.clone()),
                        ("event", event.clone()),
                        ("kind", kind.as_str().to_owned()),
                    ];
                    (labels, n)
                })
            })
        });
        w.counter(
            "send_errors",
            "Events not delivered, by error kind.",
            None,
            errors,
        )?;
        w.gauge(
            "messages_in_flight",
            "Events handed to the producer, not yet acknowledged or failed.",
            single(s.messages_in_flight as f64),
        )?;
        w.counter(
            "sent",
            "Bytes handed to the producer.",
            Some(Unit::Bytes),
            single(s.bytes_sent),
        )?;
        let full = s.messages_sent_by_topic.keys().map(|topic| {
            let n = s.topic_buffer_full.get(topic).copied().unwrap_or(0);
            (vec![("topic", topic.clone())], n)
        });
        w.counter(
            "topic_buffer_full",
            "Times the producer's buffer was full.",
            None,
            full,
        )?;
        let registry = [
            (vec![("cache", "hit".to_owned())], s.registry_cache_hits),
            (vec![("cache", "miss".to_owned())], s.registry_cache_misses),
        ];
        w.counter(
            "registry_calls",
            "Schema Registry calls, by cache outcome.",
            None,
            registry,
        )?;
        w.counter(
            "registry_errors",
            "Schema Registry calls that failed.",
            None,
            single(s.registry_errors),
        )?;

        w.counter(
            "messages_received",
            "Messages read.",
            None,
            by("topic", &s.messages_received_by_topic),
        )?;
        w.counter(
            "events",
            "Decoded events handed to the application.",
            None,
            by("event", &s.events_by_event),
        )?;
        w.gauge(
            "events_active",
            "Events in the application's handler.",
            single(s.events_active as f64),
        )?;
        let decode = (s.messages_received > 0).then(|| {
            DecodeErrorKind::ALL.into_iter().map(|kind| {
                let n = s
                    .decode_errors_by_kind
                    .get(kind.as_str())
                    .copied()
                    .unwrap_or(0);
                (vec![("kind", kind.as_str().to_owned())], n)
            })
        });
        w.counter(
            "decode_errors",
            "Messages that could not be decoded, by kind.",
            None,
            decode.into_iter().flatten(),
        )?;
        w.counter(
            "commits",
            "Commits of consumed offsets.",
            None,
            single(s.commits),
        )?;
        w.counter(
            "commit_errors",
            "Commits the broker refused.",
            None,
            single(s.commit_errors),
        )?;
        w.counter(
            "rebalances",
            "Consumer-group rebalances.",
            None,
            single(s.rebalances),
        )?;
        w.counter(
            "assignments",
            "Partition assignments the consumer took.",
            None,
            single(s.assignments),
        )?;
        w.counter(
            "assignment_errors",
            "Partition assignments that failed.",
            None,
            single(s.assignment_errors),
        )?;
        let partition_gauges: [(&str, &str, PartitionFigure); 4] = [
            (
                "consumer_lag",
                "Messages not read yet: end offset - (last read + 1).",
                |p| p.lag,
            ),
            (
                "consumer_read_offset",
                "Offset of the last message read, by partition.",
                |p| p.read_offset,
            ),
            (
                "consumer_committed_offset",
                "Last committed offset (the next to read after a restart), by partition.",
                |p| p.committed_offset,
            ),
            (
                "consumer_end_offset",
                "End offset (high watermark) as last seen, by partition.",
                |p| p.end_offset,
            ),
        ];
        for (name, help, value) in partition_gauges {
            let samples = s.partitions.iter().filter_map(|p| {
                let labels = vec![
                    ("topic", p.topic.clone()),
                    ("partition", p.partition.to_string()),
                ];
                value(p).map(|v| (labels, v as f64))
            });
            w.gauge(name, help, samples)?;
        }
        let http = s.http_responses.iter().flat_map(|(method, routes)| {
            routes.iter().flat_map(move |(route, statuses)| {
                statuses.iter().map(move |(status, n)| {
                    let labels = vec![
                        ("method", method.clone()),
                        ("route", route.clone()),
                        ("status", status.to_string()),
                    ];
                    (labels, *n)
                })
            })
        });
        w.counter(
            "http_responses",
            "HTTP responses, by method, route template and status.",
            None,
            http,
        )?;

        for kind in LatencyKind::iter() {
            let histogram = self.monitor.histogram(kind);
            w.histogram(
                &format!("{}_seconds", kind.name()),
                kind.help(),
                [(Vec::new(), &histogram)],
            )?;
        }

        let custom = &s.custom;
        w.counter(
            "custom",
            "The application's own counters, by custom sensor and name.",
            None,
            by_sensor(&custom.counters, |n| *n),
        )?;
        w.gauge(
            "custom_gauge",
            "The application's own gauges, by custom sensor and name.",
            by_sensor(&custom.gauges, |v| *v),
        )?;
        w.histogram(
            "custom_histogram",
            "The application's own histograms, by custom sensor and name.",
            by_sensor(&custom.histograms, |h| &h.buckets),
        )
    }
}

/// Samples of the application's own metrics, labelled with their sensor and name.
fn by_sensor<'a, T, V>(metrics: &'a BySensor<T>, value: impl Fn(&'a T) -> V) -> Vec<(Labels, V)> {
    let mut samples = Vec::new();
    for (sensor, named) in metrics {
        for (name, v) in named {
            let labels = vec![("sensor", sensor.clone()), ("name", name.clone())];
            samples.push((labels, value(v)));
        }
    }
    samples
}

/// The Monitor's figures for Prometheus, in their own registry (prefix `app_metrics` by
/// default) or in the application's.
///
/// ```
/// use std::sync::Arc;
/// use metrics_monitor::Monitor;
/// use metrics_monitor::{Format, PrometheusMonitor};
///
/// let prometheus = PrometheusMonitor::new(Arc::new(Monitor::new()), "app_metrics");
/// let text = prometheus.render(Format::Classic).unwrap();
/// assert!(text.contains("# TYPE app_metrics_messages_delivered_total counter"));
/// assert!(text.contains("app_metrics_messages_delivered_total 0"));
/// ```
#[derive(Debug)]
pub struct PrometheusMonitor {
    monitor: Arc<Monitor>,
    registry: Registry,
}

impl PrometheusMonitor {
    /// Exports `monitor` in a new registry whose metric names start with `prefix`.
    pub fn new(monitor: Arc<Monitor>, prefix: &str) -> Self {
        Self::with_registry(monitor, Registry::default(), prefix)
    }

    /// Exports `monitor` in the application's own `registry`, under `prefix`, next to its
    /// metrics: `/metrics` then serves them all.
    pub fn with_registry(monitor: Arc<Monitor>, mut registry: Registry, prefix: &str) -> Self {
        registry
            .sub_registry_with_prefix(prefix)
            .register_collector(Box::new(MonitorCollector::new(Arc::clone(&monitor))));
        Self { monitor, registry }
    }

    /// The Monitor exported.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// The registry (to add the application's own metrics before serving).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Every metric of the registry in `format`.
    ///
    /// # Errors
    ///
    /// Only if a metric of the registry fails to encode itself.
    pub fn render(&self, format: Format) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut text, &self.registry)?
            }
            Format::Classic => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
