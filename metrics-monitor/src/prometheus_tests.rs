//! The export parsed back by real exposition-format parsers, in both formats.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use metrics_core::ErrorKind;
use metrics_core::sensor::{
    Delivered, EventKey, RegistryCall, RegistryOperation, SendFailure, SendInfo, Sensor,
    WebRequest, WebResponse,
};
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue, PrometheusValue};
use prometheus_client::metrics::counter::Counter;

use super::*;

/// The key of event type `event` (each name its own).
fn key(event: &str) -> EventKey {
    static QUERY: LazyLock<EventKey> = LazyLock::new(EventKey::new);
    static LOGIN: LazyLock<EventKey> = LazyLock::new(EventKey::new);
    if event == "login" { *LOGIN } else { *QUERY }
}

/// A monitor that saw three sends (two `query`, one `login`), one of them failing with a
/// full queue, a 3 ms delivery, a registry call, an HTTP response and a custom counter.
fn exercised() -> Arc<Monitor> {
    let monitor = Arc::new(Monitor::new());
    let at = Instant::now();
    let send = |event| SendInfo {
        key: key(event),
        topic: "events",
        event,
        key_size: 0,
        value_size: 100,
        at,
    };
    let first = monitor.on_send_initiated(&send("query")).unwrap();
    monitor
        .on_send_completed(
            first,
            &Delivered {
                key: key("query"),
                topic: "events",
                event: "query",
                partition: 0,
                offset: 0,
                at: at + Duration::from_millis(3),
            },
        )
        .unwrap();
    monitor.on_send_initiated(&send("query")).unwrap();
    let failed = monitor.on_send_initiated(&send("login")).unwrap();
    let error = std::io::Error::other("queue full");
    monitor
        .on_send_error(
            failed,
            &SendFailure {
                key: key("login"),
                topic: "events",
                event: "login",
                kind: ErrorKind::QueueFull,
                error: &error,
                at,
            },
        )
        .unwrap();
    monitor
        .on_registry_call(&RegistryCall {
            operation: RegistryOperation::Register,
            target: "events.query",
            cache_hit: false,
            elapsed: Duration::from_millis(20),
            error: None,
        })
        .unwrap();
    let web = monitor
        .on_web_request_start(&WebRequest {
            method: "GET",
            route: "/query/{id}",
            at,
        })
        .unwrap();
    monitor
        .on_web_request_end(
            web,
            &WebResponse {
                method: "GET",
                route: "/query/{id}",
                status: 200,
                at: at + Duration::from_millis(1),
            },
        )
        .unwrap();
    let hub = Arc::new(metrics_core::sensor::SensorDelegate::new());
    hub.add(monitor.clone());
    crate::CustomSensor::new("app", hub).increment_counter("cache_hits", 7);
    monitor
}

fn openmetrics(text: &str) -> MetricsExposition<OpenMetricsType, OpenMetricsValue> {
    openmetrics_parser::openmetrics::parse_openmetrics(text)
        .unwrap_or_else(|e| panic!("not valid OpenMetrics: {e:?}\n{text}"))
}

#[test]
fn openmetrics_output_parses_with_names_units_and_values() {
    let text = PrometheusMonitor::new(exercised(), "app_metrics")
        .render(Format::OpenMetrics)
        .unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let families = openmetrics(&text).families;

    let sent = &families["app_metrics_messages_sent"];
    assert_eq!(sent.family_type, OpenMetricsType::Counter);
    let by_event: Vec<(Vec<String>, f64)> = sent
        .iter_samples()
        .map(|s| {
            let labels = s.get_labelset().unwrap();
            let names = ["topic", "event"].map(|n| labels.get_label_value(n).unwrap().to_owned());
            let OpenMetricsValue::Counter(c) = &s.value else {
                panic!("a counter")
            };
            (names.to_vec(), c.value.as_f64())
        })
        .collect();
    assert!(
        by_event.contains(&(vec!["events".into(), "query".into()], 2.0)),
        "{by_event:?}"
    );
    assert!(
        by_event.contains(&(vec!["events".into(), "login".into()], 1.0)),
        "{by_event:?}"
    );

    let latency = &families["app_metrics_send_latency_seconds"];
    assert_eq!(latency.family_type, OpenMetricsType::Histogram);
    let OpenMetricsValue::Histogram(h) = &latency.iter_samples().next().unwrap().value else {
        panic!("a histogram")
    };
    assert_eq!(h.count, Some(1));
    assert!(
        (h.sum.as_ref().unwrap().as_f64() - 0.003).abs() < 1e-9,
        "seconds, not milliseconds"
    );
    let le = |bound: f64| {
        h.buckets
            .iter()
            .find(|b| b.upper_bound == bound)
            .unwrap()
            .count
            .as_f64()
    };
    assert_eq!((le(0.0025), le(0.005)), (0.0, 1.0));

    let errors = &families["app_metrics_send_errors"];
    let failed: Vec<(String, String, f64)> = errors
        .iter_samples()
        .filter_map(|s| {
            let labels = s.get_labelset().unwrap();
            let OpenMetricsValue::Counter(c) = &s.value else {
                return None;
            };
            let event = labels.get_label_value("event")?.to_owned();
            let kind = labels.get_label_value("kind")?.to_owned();
            (c.value.as_f64() > 0.0).then_some((event, kind, c.value.as_f64()))
        })
        .collect();
    assert_eq!(failed, [("login".to_owned(), "queue_full".to_owned(), 1.0)]);
    assert_eq!(
        errors.iter_samples().count(),
        12,
        "every error kind of both events, from zero"
    );
    let in_flight = &families["app_metrics_messages_in_flight"];
    assert_eq!(in_flight.family_type, OpenMetricsType::Gauge);
    let OpenMetricsValue::Gauge(n) = &in_flight.iter_samples().next().unwrap().value else {
        panic!()
    };
    assert_eq!(n.as_f64(), 1.0, "one send neither delivered nor failed");
    assert_eq!(families["app_metrics_sent_bytes"].unit, "bytes");
    assert!(families.contains_key("app_metrics_http_response_seconds"));
    assert!(families.contains_key("app_metrics_registry_latency_seconds"));
}

#[test]
fn classic_output_parses_with_names_units_and_values() {
    let text = PrometheusMonitor::new(exercised(), "app_metrics")
        .render(Format::Classic)
        .unwrap();
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE app_metrics_messages_sent_total counter"),
        "{text}"
    );
    let families = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not the classic text format: {e:?}\n{text}"))
        .families;
    let counter = |family: &str, label: (&str, &str)| -> f64 {
        let family = families
            .get(family)
            .unwrap_or_else(|| panic!("no family {family} in\n{text}"));
        family
            .iter_samples()
            .find(|s| s.get_labelset().unwrap().get_label_value(label.0) == Some(label.1))
            .map(|s| match &s.value {
                PrometheusValue::Counter(c) => c.value.as_f64(),
                other => panic!("not a counter: {other:?}"),
            })
            .unwrap_or_else(|| {
                panic!(
                    "no sample with {}={} in {}",
                    label.0, label.1, family.family_name
                )
            })
    };
    assert_eq!(
        counter("app_metrics_messages_sent_total", ("event", "query")),
        2.0
    );
    assert_eq!(
        counter("app_metrics_send_errors_total", ("kind", "queue_full")),
        1.0
    );
    assert_eq!(
        counter("app_metrics_registry_calls_total", ("cache", "miss")),
        1.0
    );
    assert_eq!(
        counter("app_metrics_custom_total", ("name", "cache_hits")),
        7.0
    );
    assert_eq!(
        counter("app_metrics_http_responses_total", ("route", "/query/{id}")),
        1.0
    );
    let sent_bytes = &families["app_metrics_sent_bytes_total"];
    let PrometheusValue::Counter(bytes) = &sent_bytes.iter_samples().next().unwrap().value else {
        panic!()
    };
    assert_eq!(bytes.value.as_f64(), 300.0);
    let latency = &families["app_metrics_send_latency_seconds"];
    let PrometheusValue::Histogram(h) = &latency.iter_samples().next().unwrap().value else {
        panic!("a histogram")
    };
    assert_eq!(h.count, Some(1));
    let le = |bound: f64| {
        h.buckets
            .iter()
            .find(|b| b.upper_bound == bound)
            .unwrap()
            .count
            .as_f64()
    };
    assert_eq!((le(0.0025), le(0.005)), (0.0, 1.0));
}

#[test]
fn the_applications_own_registry_serves_its_metrics_and_ours() {
    let mut registry = prometheus_client::registry::Registry::default();
    let logins = Counter::<u64>::default();
    registry.register("myapp_logins", "Logins.", logins.clone());
    logins.inc_by(4);
    let prometheus = PrometheusMonitor::with_registry(exercised(), registry, "app_metrics");
    let families = openmetrics(&prometheus.render(Format::OpenMetrics).unwrap()).families;
    assert!(families.contains_key("myapp_logins"));
    assert!(families.contains_key("app_metrics_messages_sent"));
}

#[test]
fn content_negotiation_follows_the_accept_header() {
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::negotiate(Some("text/plain;version=0.0.4")),
        Format::Classic
    );
    assert_eq!(
        Format::negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
        Format::Classic
    );
    assert_eq!(Format::negotiate(Some("application/json")), Format::Classic);
    assert_eq!(
        Format::negotiate(Some(
            "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )),
        Format::OpenMetrics,
        "Telegraf's header"
    );
}

/// Latencies chosen to land in known buckets: `(latency, how many)`. 1,000 in all.
const WORKLOAD: [(Duration, u64); 5] = [
    (Duration::from_micros(50), 146),  // le 0.0001
    (Duration::from_micros(300), 655), // le 0.0005
    (Duration::from_millis(3), 100),   // le 0.005
    (Duration::from_millis(30), 90),   // le 0.05
    (Duration::from_secs(20), 9),      // beyond 10 s: +Inf only
];

/// The cumulative count each bucket of a histogram fed [`WORKLOAD`] must read.
fn expected_bucket(bound: f64) -> u64 {
    WORKLOAD
        .iter()
        .filter(|(latency, _)| latency.as_secs_f64() <= bound)
        .map(|(_, n)| n)
        .sum()
}

/// A monitor whose send, encode and registry latencies each saw [`WORKLOAD`].
fn timed() -> Arc<Monitor> {
    let monitor = Arc::new(Monitor::new());
    let at = Instant::now();
    for (latency, n) in WORKLOAD {
        for _ in 0..n {
            let send = SendInfo {
                key: key("query"),
                topic: "events",
                event: "query",
                key_size: 0,
                value_size: 10,
                at,
            };
            let state = monitor.on_send_initiated(&send).unwrap();
            let done = Delivered {
                key: key("query"),
                topic: "events",
                event: "query",
                partition: 0,
                offset: 0,
                at: at + latency,
            };
            monitor.on_send_completed(state, &done).unwrap();
            let encoded = metrics_core::sensor::Encoded {
                key: key("query"),
                topic: "events",
                event: "query",
                bytes: 10,
                elapsed: Some(latency),
            };
            monitor.on_encode(&encoded).unwrap();
            let call = RegistryCall {
                operation: RegistryOperation::SchemaById,
                target: "1",
                cache_hit: false,
                elapsed: latency,
                error: None,
            };
            monitor.on_registry_call(&call).unwrap();
        }
    }
    monitor
}

/// `(count, sum, [(le, cumulative count)])` of a parsed histogram sample.
type Parsed = (u64, f64, Vec<(f64, u64)>);

/// The count, sum and buckets of a histogram as the parser read it.
fn parsed(h: &openmetrics_parser::HistogramValue) -> Parsed {
    let buckets = h
        .buckets
        .iter()
        .map(|b| (b.upper_bound, b.count.as_f64() as u64))
        .collect();
    let sum = h.sum.as_ref().map_or(f64::NAN, |s| s.as_f64());
    (h.count.unwrap_or(0), sum, buckets)
}

/// Checks one parsed histogram against [`WORKLOAD`]: every bucket as expected, never
/// decreasing, `+Inf` equal to `_count`.
fn assert_workload(name: &str, (count, sum, buckets): Parsed) {
    let total: u64 = WORKLOAD.iter().map(|(_, n)| n).sum();
    assert_eq!(count, total, "{name}_count");
    let expected_sum: f64 = WORKLOAD
        .iter()
        .map(|(latency, n)| latency.as_secs_f64() * *n as f64)
        .sum();
    assert!((sum - expected_sum).abs() < 1e-6, "{name}_sum {sum}");
    assert_eq!(buckets.len(), crate::monitor::LATENCY_BUCKETS.len() + 1);
    for window in buckets.windows(2) {
        assert!(
            window[0].1 <= window[1].1,
            "{name} buckets decrease: {buckets:?}"
        );
    }
    for (bound, n) in &buckets {
        let expected = if bound.is_infinite() {
            total
        } else {
            expected_bucket(*bound)
        };
        assert_eq!(
            *n, expected,
            "{name}_bucket{{le=\"{bound}\"}} in {buckets:?}"
        );
    }
}

#[test]
fn histogram_buckets_are_cumulative_once_in_openmetrics() {
    let text = PrometheusMonitor::new(timed(), "app_metrics")
        .render(Format::OpenMetrics)
        .unwrap();
    let families = openmetrics(&text).families;
    for name in ["send_latency", "encode", "registry_latency"] {
        let name = format!("app_metrics_{name}_seconds");
        let family = &families[name.as_str()];
        let OpenMetricsValue::Histogram(h) = &family.iter_samples().next().unwrap().value else {
            panic!("{name} is a histogram")
        };
        assert_workload(&name, parsed(h));
    }
}

#[test]
fn histogram_buckets_are_cumulative_once_in_the_classic_format() {
    let text = PrometheusMonitor::new(timed(), "app_metrics")
        .render(Format::Classic)
        .unwrap();
    let families = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not the classic text format: {e:?}\n{text}"))
        .families;
    for name in ["send_latency", "encode", "registry_latency"] {
        let name = format!("app_metrics_{name}_seconds");
        let family = &families[name.as_str()];
        let PrometheusValue::Histogram(h) = &family.iter_samples().next().unwrap().value else {
            panic!("{name} is a histogram")
        };
        assert_workload(&name, parsed(h));
    }
}

#[test]
fn custom_metrics_are_exported_with_their_sensor_and_name() {
    let monitor = Arc::new(Monitor::new());
    let hub = Arc::new(metrics_core::sensor::SensorDelegate::new());
    hub.add(monitor.clone());
    let batches = crate::CustomSensor::new("batches", hub);
    batches.histogram_buckets("size", &[1.0, 5.0, 10.0]);
    for value in [0.5, 0.5, 0.5, 2.0, 2.0, 7.0, 50.0] {
        batches.record_histogram("size", value);
    }
    batches.set_gauge("backlog", 3.5);
    batches.increment_counter("flushed", 2);
    let text = PrometheusMonitor::new(monitor, "app_metrics")
        .render(Format::OpenMetrics)
        .unwrap();
    let families = openmetrics(&text).families;
    let sample = |family: &str| {
        let family = families
            .get(family)
            .unwrap_or_else(|| panic!("no {family} in\n{text}"));
        let sample = family.iter_samples().next().unwrap();
        let labels = sample.get_labelset().unwrap();
        assert_eq!(labels.get_label_value("sensor"), Some("batches"));
        sample.value.clone()
    };
    let OpenMetricsValue::Histogram(h) = sample("app_metrics_custom_histogram") else {
        panic!("a histogram")
    };
    let buckets: Vec<(f64, f64)> = h
        .buckets
        .iter()
        .map(|b| (b.upper_bound, b.count.as_f64()))
        .collect();
    assert_eq!(
        buckets,
        [(1.0, 3.0), (5.0, 5.0), (10.0, 6.0), (f64::INFINITY, 7.0)]
    );
    assert_eq!(h.count, Some(7));
    assert_eq!(h.sum.unwrap().as_f64(), 62.5);
    let OpenMetricsValue::Gauge(g) = sample("app_metrics_custom_gauge") else {
        panic!("a gauge")
    };
    assert_eq!(g.as_f64(), 3.5);
    let OpenMetricsValue::Counter(c) = sample("app_metrics_custom") else {
        panic!("a counter")
    };
    assert_eq!(c.value.as_f64(), 2.0);
}
