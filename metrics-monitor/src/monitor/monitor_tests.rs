//! Every hook's effect on the Monitor, with a manual clock.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use metrics_core::sensor::*;

/// One event type for every hook call of these tests.
static KEY: std::sync::LazyLock<EventKey> = std::sync::LazyLock::new(EventKey::new);

fn monitor() -> (Arc<ManualClock>, Monitor) {
    let clock = Arc::new(ManualClock::new());
    let monitor = Monitor::with_options(MonitorOptions::all(100), clock.clone());
    (clock, monitor)
}

fn send(at: Instant) -> SendInfo<'static> {
    SendInfo {
        key: *KEY,
        topic: "events",
        event: "query",
        key_size: 0,
        value_size: 90,
        at,
    }
}

const TP: TopicPartition<'static> = TopicPartition {
    topic: "events",
    partition: 0,
};

#[test]
fn a_send_is_counted_in_flight_until_it_completes_and_its_latency_recorded() {
    let (clock, m) = monitor();
    let state = m.on_send_initiated(&send(clock.now())).unwrap();
    let s = m.snapshot();
    assert_eq!(
        (s.messages_sent, s.messages_in_flight, s.bytes_sent),
        (1, 1, 90)
    );
    assert_eq!(s.messages_sent_by_topic["events"], 1);
    assert_eq!(s.messages_sent_by_event["events"]["query"], 1);
    assert_eq!(s.seconds_since_last_delivery, None);

    clock.advance(Duration::from_millis(250));
    let done = Delivered {
        key: *KEY,
        topic: "events",
        event: "query",
        partition: 0,
        offset: 41,
        at: clock.now(),
    };
    m.on_send_completed(state, &done).unwrap();
    clock.advance(Duration::from_secs(2));
    let s = m.snapshot();
    assert_eq!((s.messages_delivered, s.messages_in_flight), (1, 0));
    assert_eq!(s.send_latency_seconds.count, 1);
    assert!(
        (s.send_latency_seconds.max - 0.25).abs() < 1e-9,
        "seconds: {:?}",
        s.send_latency_seconds
    );
    assert_eq!(s.seconds_since_last_delivery, Some(2.0));
    assert_eq!(m.histogram(LatencyKind::Send).count, 1);
}

#[test]
fn send_errors_are_counted_by_kind_and_event_and_end_the_flight() {
    let (clock, m) = monitor();
    let state = m.on_send_initiated(&send(clock.now())).unwrap();
    let error = std::io::Error::other("queue full");
    m.on_send_error(
        state,
        &SendFailure {
            key: *KEY,
            topic: "events",
            event: "query",
            kind: ErrorKind::QueueFull,
            error: &error,
            at: clock.now(),
        },
    )
    .unwrap();
    m.on_topic_buffer_full("events").unwrap();
    let s = m.snapshot();
    assert_eq!((s.send_errors, s.messages_in_flight), (1, 0));
    assert_eq!(s.send_errors_by_kind["queue_full"], 1);
    assert_eq!(s.send_errors_by_event["events"]["query"]["queue_full"], 1);
    assert_eq!(s.topic_buffer_full["events"], 1);
    assert_eq!(
        s.send_latency_seconds.count, 0,
        "no latency for a failed send"
    );
}

#[test]
fn encode_and_registry_calls_are_recorded() {
    let (_, m) = monitor();
    m.on_encode(&Encoded {
        key: *KEY,
        topic: "events",
        event: "query",
        bytes: 80,
        elapsed: Some(Duration::from_nanos(900)),
    })
    .unwrap();
    let call = |cache_hit, error| RegistryCall {
        operation: metrics_core::sensor::RegistryOperation::Register,
        target: "events.query",
        cache_hit,
        elapsed: Duration::from_millis(if cache_hit { 0 } else { 12 }),
        error,
    };
    m.on_registry_call(&call(false, None)).unwrap();
    m.on_registry_call(&call(true, None)).unwrap();
    m.on_registry_call(&call(false, Some(ErrorKind::Unavailable)))
        .unwrap();
    let s = m.snapshot();
    assert_eq!(s.encode_seconds.count, 1);
    assert!((s.encode_seconds.max - 9e-7).abs() < 1e-12);
    assert_eq!(
        (
            s.registry_calls,
            s.registry_cache_hits,
            s.registry_cache_misses,
            s.registry_errors
        ),
        (3, 1, 2, 1)
    );
    assert_eq!(
        s.registry_latency_seconds.count, 2,
        "cache hits have no latency"
    );
}

#[test]
fn consumed_messages_events_and_decodes_are_counted_and_paired() {
    let (clock, m) = monitor();
    let message = MessageIn {
        tp: TP,
        offset: 7,
        size: 100,
        at: clock.now(),
    };
    let message_state = m.on_message_in(&message).unwrap();
    let decode_state = m.on_decode_start(&message).unwrap();
    clock.advance(Duration::from_micros(40));
    m.on_decode_end(
        decode_state,
        &Decoded {
            tp: TP,
            offset: 7,
            schema_id: 3,
            at: clock.now(),
        },
    )
    .unwrap();
    let event = StreamEvent {
        tp: TP,
        offset: 7,
        event: "query",
        at: clock.now(),
    };
    let event_state = m.on_stream_event_in(&event).unwrap();
    let s = m.snapshot();
    assert_eq!(
        (
            s.messages_received,
            s.messages_active,
            s.events_total,
            s.events_active
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(s.events_by_event["query"], 1);
    clock.advance(Duration::from_millis(3));
    m.on_stream_event_out(
        event_state,
        &StreamEvent {
            at: clock.now(),
            ..event
        },
    )
    .unwrap();
    m.on_message_out(message_state, &message).unwrap();
    let s = m.snapshot();
    assert_eq!((s.messages_active, s.events_active), (0, 0));
    assert!((s.event_processing_seconds.max - 0.003).abs() < 1e-9);
    assert!((s.decode_seconds.max - 0.00004).abs() < 1e-12);
    assert_eq!(s.partitions[0].read_offset, Some(7));
}

#[test]
fn decode_errors_are_counted_by_kind() {
    let (clock, m) = monitor();
    let message = MessageIn {
        tp: TP,
        offset: 1,
        size: 3,
        at: clock.now(),
    };
    let state = m.on_decode_start(&message).unwrap();
    m.on_decode_error(
        state,
        &DecodeFailure {
            tp: TP,
            offset: 1,
            kind: DecodeErrorKind::Framing,
            at: clock.now(),
        },
    )
    .unwrap();
    assert_eq!(m.snapshot().decode_errors_by_kind["framing"], 1);
}

#[test]
fn commits_offsets_and_lag() {
    let (clock, m) = monitor();
    let state = m.on_commit_initiated(clock.now()).unwrap();
    clock.advance(Duration::from_millis(8));
    m.on_commit_completed(
        state,
        &CommitDone {
            ok: false,
            at: clock.now(),
        },
    )
    .unwrap();
    m.on_tp_commit(&[PartitionOffset { tp: TP, offset: 5 }])
        .unwrap();
    m.track_tp_end_offset(&PartitionOffset { tp: TP, offset: 12 })
        .unwrap();
    let s = m.snapshot();
    assert_eq!((s.commits, s.commit_errors), (1, 1));
    assert!((s.commit_latency_seconds.max - 0.008).abs() < 1e-9);
    assert_eq!(s.partitions[0].committed_offset, Some(5));
    assert_eq!(
        s.partitions[0].lag,
        Some(7),
        "nothing read: end - committed"
    );
    m.on_message_in(&MessageIn {
        tp: TP,
        offset: 11,
        size: 1,
        at: clock.now(),
    })
    .unwrap();
    assert_eq!(m.snapshot().partitions[0].lag, Some(0), "end - (11 + 1)");
}

#[test]
fn rebalance_latencies_are_measured_not_zero() {
    let (clock, m) = monitor();
    let state = m.on_rebalance_start(clock.now()).unwrap();
    clock.advance(Duration::from_millis(300));
    let state = m.on_rebalance_return(state, clock.now()).unwrap();
    assert!(state.returned.is_some());
    clock.advance(Duration::from_millis(200));
    m.on_rebalance_end(state, clock.now()).unwrap();
    // Offsets survive a rebalance.
    m.on_message_in(&MessageIn {
        tp: TP,
        offset: 3,
        size: 1,
        at: clock.now(),
    })
    .unwrap();
    let s = m.snapshot();
    assert_eq!(s.rebalances, 1);
    assert!((s.rebalance_return_seconds.max - 0.3).abs() < 1e-9);
    assert!((s.rebalance_end_seconds.max - 0.5).abs() < 1e-9);
    assert_eq!(
        s.messages_received, 1,
        "counters are not reset by a rebalance"
    );
}

#[test]
fn http_responses_are_counted_by_status_and_route_template() {
    let (clock, m) = monitor();
    for (status, ms) in [(200, 5), (200, 7), (503, 1)] {
        let request = WebRequest {
            method: "GET",
            route: "/users/{id}",
            at: clock.now(),
        };
        let state = m.on_web_request_start(&request).unwrap();
        clock.advance(Duration::from_millis(ms));
        m.on_web_request_end(
            state,
            &WebResponse {
                method: "GET",
                route: "/users/{id}",
                status,
                at: clock.now(),
            },
        )
        .unwrap();
    }
    let s = m.snapshot();
    assert_eq!(s.http_responses_by_status[&200], 2);
    assert_eq!(s.http_responses_by_status[&503], 1);
    assert_eq!(s.http_responses["GET"]["/users/{id}"][&200], 2);
    assert_eq!(s.http_response_seconds.count, 3);
    assert!(
        (s.http_response_seconds.max - 0.007).abs() < 1e-9,
        "measured, not ~0"
    );
}

#[test]
fn rates_come_from_samples_of_the_injected_clock() {
    let (clock, m) = monitor();
    assert_eq!(m.sample(), Rates::default(), "the first sample only starts");
    for _ in 0..30 {
        m.on_send_initiated(&send(clock.now())).unwrap();
    }
    clock.advance(Duration::from_secs(2));
    let rates = m.sample();
    assert_eq!(rates.messages_sent_per_second, 15.0);
    assert_eq!(m.snapshot().rates, rates);
    // A sample at the same instant changes nothing; an idle second gives 0.
    assert_eq!(m.sample(), rates);
    clock.advance(Duration::from_secs(1));
    assert_eq!(m.sample().messages_sent_per_second, 0.0);
}

#[test]
fn custom_metrics_count_gauge_and_histogram_through_the_hub() {
    let m = Arc::new(monitor().1);
    let hub = Arc::new(metrics_core::sensor::SensorDelegate::new());
    hub.add(m.clone());
    let batches = crate::CustomSensor::new("batches", Arc::clone(&hub));
    batches.increment_counter("cache_hits", 2);
    batches.increment_counter("cache_hits", 3);
    batches.set_gauge("queue_depth", 4.5);
    batches.record_metric("queue_depth", 6.0, std::time::SystemTime::now());
    batches.histogram_buckets("size", &[1.0, 2.5, f64::NAN, 2.0, 10.0]);
    for v in [1.0, 2.0, 3.0, 4.0, 20.0] {
        batches.record_histogram("size", v);
    }
    for custom in [m.get_metrics(), batches.get_metrics()] {
        assert_eq!(custom.counters["batches"]["cache_hits"], 5);
        assert_eq!(
            custom.gauges["batches"]["queue_depth"], 6.0,
            "the last reading"
        );
        let h = &custom.histograms["batches"]["size"];
        let recent = h.recent;
        assert_eq!((recent.count, recent.p50, recent.max), (5, 3.0, 20.0));
        assert_eq!(
            h.buckets.buckets,
            [(1.0, 1), (2.5, 2), (10.0, 4)],
            "NaN and the bound out of order dropped"
        );
        assert_eq!((h.buckets.count, h.buckets.sum), (5, 30.0));
    }
}

#[test]
fn the_snapshot_renders_as_json() {
    let (clock, m) = monitor();
    m.on_send_initiated(&send(clock.now())).unwrap();
    let json = serde_json::to_value(m.snapshot()).unwrap();
    assert_eq!(json["messages_sent"], 1);
    assert_eq!(json["messages_sent_by_event"]["events"]["query"], 1);
    assert!(json["send_latency_seconds"]["p95"].is_number());
    assert_eq!(m.metrics().unwrap(), json);
}

#[test]
fn counters_add_up_across_threads() {
    let m = Arc::new(Monitor::new());
    let delegate = Arc::new(SensorDelegate::new());
    delegate.add(m.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let delegate = Arc::clone(&delegate);
            std::thread::spawn(move || {
                for _ in 0..2_500 {
                    let at = Instant::now();
                    let started = delegate.on_send_initiated(&send(at)).unwrap();
                    started.on_send_completed(&Delivered {
                        key: *KEY,
                        topic: "events",
                        event: "query",
                        partition: 0,
                        offset: 0,
                        at,
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = m.snapshot();
    assert_eq!(
        (s.messages_sent, s.messages_delivered, s.messages_in_flight),
        (10_000, 10_000, 0)
    );
}

#[test]
fn two_event_types_with_the_same_names_are_reported_together() {
    // Two managers in one process publishing the same event: two keys, one label set.
    let (clock, m) = monitor();
    let other = EventKey::new();
    m.on_send_initiated(&send(clock.now())).unwrap();
    m.on_send_initiated(&SendInfo {
        key: other,
        ..send(clock.now())
    })
    .unwrap();
    let s = m.snapshot();
    assert_eq!(s.messages_sent, 2);
    assert_eq!(s.messages_sent_by_topic["events"], 2);
    assert_eq!(s.messages_sent_by_event["events"]["query"], 2);
    assert_eq!((s.bytes_sent, s.messages_in_flight), (180, 2));
}
