//! Every metric the Grafana dashboard (`dashboards/app-metrics.json`) queries is one the
//! Prometheus export produces, once a Monitor has seen every kind of hook.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_metrics::ErrorKind;
use app_metrics::monitoring::Monitor;
use app_metrics::monitoring::{Format, PrometheusMonitor};
use app_metrics::sensor::SensorDelegate;
use app_metrics::sensor::*;

/// One event type for every hook call of these tests.
static KEY: std::sync::LazyLock<app_metrics::sensor::EventKey> =
    std::sync::LazyLock::new(app_metrics::sensor::EventKey::new);

/// The metric names an expression mentions (identifiers starting with `prefix`).
fn metric_names(expr: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find(prefix) {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// A monitor that saw a send, a failure, a full buffer, a registry call, a consumed and
/// decoded message, a decode error, a commit, a rebalance and a web request.
fn exercised() -> Arc<Monitor> {
    let monitor = Arc::new(Monitor::new());
    let delegate = SensorDelegate::new();
    delegate.add(monitor.clone());
    let at = Instant::now();
    let later = at + Duration::from_millis(2);
    let send = SendInfo {
        key: *KEY,
        topic: "events",
        event: "query",
        key_size: 0,
        value_size: 90,
        at,
    };
    delegate.on_encode(&Encoded {
        key: *KEY,
        topic: "events",
        event: "query",
        bytes: 85,
        elapsed: Some(Duration::from_micros(1)),
    });
    delegate
        .on_send_initiated(&send)
        .unwrap()
        .on_send_completed(&Delivered {
            key: *KEY,
            topic: "events",
            event: "query",
            partition: 0,
            offset: 1,
            at: later,
        });
    let error = std::io::Error::other("timed out");
    delegate
        .on_send_initiated(&send)
        .unwrap()
        .on_send_error(&SendFailure {
            key: *KEY,
            topic: "events",
            event: "query",
            kind: ErrorKind::Delivery,
            error: &error,
            at: later,
        });
    delegate.on_topic_buffer_full("events");
    delegate.on_registry_call(&RegistryCall {
        operation: RegistryOperation::Register,
        target: "events.query",
        cache_hit: false,
        elapsed: Duration::from_millis(9),
        error: None,
    });
    let tp = TopicPartition {
        topic: "events",
        partition: 0,
    };
    let message = MessageIn {
        tp,
        offset: 4,
        size: 90,
        at,
    };
    let read = delegate.on_message_in(&message).unwrap();
    delegate
        .on_decode_start(&message)
        .unwrap()
        .on_decode_end(&Decoded {
            tp,
            offset: 4,
            schema_id: 1,
            at: later,
        });
    delegate
        .on_decode_start(&message)
        .unwrap()
        .on_decode_error(&DecodeFailure {
            tp,
            offset: 5,
            kind: DecodeErrorKind::Framing,
            at: later,
        });
    let event = StreamEvent {
        tp,
        offset: 4,
        event: "query",
        at,
    };
    delegate
        .on_stream_event_in(&event)
        .unwrap()
        .on_stream_event_out(&StreamEvent { at: later, ..event });
    read.on_message_out(&message);
    delegate
        .on_commit_initiated(at)
        .unwrap()
        .on_commit_completed(&CommitDone {
            ok: true,
            at: later,
        });
    delegate.on_tp_commit(&[PartitionOffset { tp, offset: 5 }]);
    delegate.track_tp_end_offset(&PartitionOffset { tp, offset: 9 });
    delegate
        .on_rebalance_start(at)
        .unwrap()
        .on_rebalance_return(later)
        .on_rebalance_end(later);
    let request = WebRequest {
        method: "GET",
        route: "/query",
        at,
    };
    delegate
        .on_web_request_start(&request)
        .unwrap()
        .on_web_request_end(&WebResponse {
            method: "GET",
            route: "/query",
            status: 200,
            at: later,
        });
    monitor
}

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/app-metrics.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("JSON");
    let mut queried = BTreeSet::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            queried.extend(metric_names(
                target["expr"].as_str().expect("an expression"),
                "app_metrics_",
            ));
        }
    }
    let variable = &dashboard["templating"]["list"][1]["query"]["query"];
    queried.extend(metric_names(
        variable.as_str().expect("a query"),
        "app_metrics_",
    ));

    let text = PrometheusMonitor::new(exercised(), "app_metrics")
        .render(Format::Classic)
        .unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect();
    let missing: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics we do not export: {missing:?}\nexported: {exported:?}"
    );
    assert!(queried.len() >= 20, "{queried:?}");
}
