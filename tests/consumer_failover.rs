//! Consumer failover on a real broker (the peer tier of `.ci/run`): two members of one
//! group read a two-partition topic while events are published; one member, a child
//! process, is killed with -9 mid-stream. The survivor takes over its partition, every
//! event is processed at least once, and the duplicates are at most what the dead member
//! processed since its last commit. The survivor's Monitor tells the story.
//!
//! The child is this test binary again, running the ignored `group_member` test with its
//! settings in the environment: it prints `processed N` for each event it handles.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_metrics::decode::Event;
use app_metrics::kafka::consumer::StartAt;
use app_metrics::kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use app_metrics::kafka::rdkafka::client::DefaultClientContext;
use app_metrics::kafka::rdkafka::config::ClientConfig;
use app_metrics::monitoring::Monitor;
use app_metrics::sensor::SensorDelegate;
use app_metrics::{Config, EventPublisher};
use common::QueryEvent;
use common::peers::{peers, unique_app};
use common::procs;

/// Both members commit what they processed every second: the bound on duplicates.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Events published, and how fast.
const EVENTS: usize = 4_000;
const PER_SECOND: u64 = 200;

const CHILD_APPLICATION: &str = "APP_METRICS_FAILOVER_APPLICATION";
const CHILD_GROUP: &str = "APP_METRICS_FAILOVER_GROUP";

/// A group member on `group`, reading `application`'s topic on the peer tier's broker.
async fn member(
    config: &Config,
    group: &str,
    sensors: Arc<SensorDelegate>,
) -> app_metrics::kafka::consumer::EventConsumer {
    app_metrics::make_consumer(config, &sensors)
        .expect("consumer settings")
        .group(group)
        // A new group processes the topic from its first event.
        .start_at(StartAt::Beginning)
        .commit_interval(COMMIT_INTERVAL)
        // The survivor takes over once the group gives up on the dead member: 6 s.
        .property("session.timeout.ms", "6000")
        .property("heartbeat.interval.ms", "1000")
        .build()
        .await
        .expect("consumer")
}

fn settings(kafka: &str, registry: &str, application: &str) -> Config {
    let peers = common::peers::Peers {
        kafka: kafka.to_owned(),
        registry: registry.to_owned(),
    };
    common::resilient(common::peers::config(&peers, application, false))
}

/// The child member: processes events until killed (bounded: 120 s), printing each.
#[tokio::test]
#[ignore = "a child process of a_killed_group_member_s_partitions_are_taken_over"]
async fn group_member() {
    let (Ok(application), Ok(group), Some(peers)) = (
        std::env::var(CHILD_APPLICATION),
        std::env::var(CHILD_GROUP),
        peers("group_member"),
    ) else {
        panic!("group_member runs as a child of a_killed_group_member_s_partitions_are_taken_over");
    };
    let config = settings(&peers.kafka, &peers.registry, &application);
    let consumer = member(&config, &group, Arc::new(SensorDelegate::new())).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Ok(Some(message))) = tokio::time::timeout_at(deadline, consumer.recv()).await {
        let rows = message
            .process(|event: Event<QueryEvent>| async move { event.payload.rows })
            .await
            .expect("decodes");
        println!("processed {rows} at {}", unix_micros());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_group_member_s_partitions_are_taken_over() {
    let Some(peers) = peers("a_killed_group_member_s_partitions_are_taken_over") else {
        return;
    };
    let application = unique_app("failover");
    let group = unique_app("failover_group");
    let config = settings(&peers.kafka, &peers.registry, &application);
    let topic = config.metrics.topic().to_owned();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &peers.kafka)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            [&NewTopic::new(&topic, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topic");
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let manager =
        app_metrics::make_manager(&config, &Arc::new(SensorDelegate::new())).expect("manager");
    manager.initialize().await.expect("initialize");
    let queries: EventPublisher<QueryEvent> = manager.create_publisher("query").await.unwrap();

    // The child member first, then the survivor, in this process, with a Monitor.
    let log = std::env::temp_dir().join(format!("{group}.log"));
    let mut child = procs::spawn(
        "group member",
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "group_member", "--ignored", "--nocapture"])
            .env(CHILD_APPLICATION, &application)
            .env(CHILD_GROUP, &group),
        &log,
    );
    // The child alone first: it holds both partitions and processes a warm-up (events
    // numbered below 0, left out of the counts).
    for i in 1..=10 {
        queries
            .publish(QueryEvent {
                rows: -i,
                ..common::roundtrip::query(0)
            })
            .expect("publish");
    }
    manager.flush(Duration::from_secs(60)).await.expect("flush");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !processed_by(&log).keys().any(|row| *row < 0) {
        assert!(
            Instant::now() < deadline,
            "the child member processed nothing in 60 s:\n{}",
            child.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Then the survivor: its joining splits the partitions, before anything is published.
    let monitor = Arc::new(Monitor::new());
    let sensors = Arc::new(SensorDelegate::new());
    sensors.add(monitor.clone());
    let survivor = member(&config, &group, sensors).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while monitor.snapshot().assignments == 0 {
        assert!(
            Instant::now() < deadline,
            "the survivor got no partition in 60 s"
        );
        if let Ok(message) = tokio::time::timeout(Duration::from_millis(200), survivor.recv()).await
        {
            drop(message.expect("recv"));
        }
    }

    // Publish in the background: EVENTS at PER_SECOND. The child is killed once it has
    // processed a good share of them.
    let publishing = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for i in 0..EVENTS {
            tokio::time::sleep_until(start + Duration::from_millis(i as u64 * 1000 / PER_SECOND))
                .await;
            queries
                .publish(QueryEvent {
                    rows: i as i64,
                    ..common::roundtrip::query(i)
                })
                .expect("publish");
        }
        manager.flush(Duration::from_secs(60)).await.expect("flush");
        manager
    });

    let mut survivor_rows = HashMap::<i64, usize>::new();
    let mut child_rows = HashMap::<i64, (usize, u64)>::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let mut next_look = started;
    let mut killed = None;
    let mut killed_micros = 0;
    let mut taken_over = None;
    loop {
        // Kill once the child has processed 300 events, or at the latest after a third of
        // the stream (looking at its output five times a second).
        if killed.is_none() && Instant::now() >= next_look {
            next_look += Duration::from_millis(200);
            let processed = processed_by(&log).keys().filter(|row| **row >= 0).count();
            if processed >= 300 || started.elapsed().as_secs() >= EVENTS as u64 / PER_SECOND / 3 {
                let before = monitor.snapshot();
                child.kill();
                killed_micros = unix_micros();
                child_rows = processed_by(&log);
                child_rows.retain(|row, _| *row >= 0);
                killed = Some((Instant::now(), before));
                eprintln!(
                    "killed the child member (pid {}) after it processed {} events",
                    child.pid(),
                    child_rows.len()
                );
            }
        }
        if let (Some((at, before)), None) = (&killed, taken_over)
            && monitor.snapshot().rebalances > before.rebalances
        {
            taken_over = Some(at.elapsed());
        }
        let everything = (0..EVENTS as i64)
            .all(|row| survivor_rows.contains_key(&row) || child_rows.contains_key(&row));
        if killed.is_some() && everything {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every event processed in 120 s: survivor {}, child {} of {EVENTS}; never \
             processed: {:?}; survivor's partitions: {:?}",
            survivor_rows.len(),
            child_rows.len(),
            ranges((0..EVENTS as i64).filter(|row| {
                !survivor_rows.contains_key(row) && !child_rows.contains_key(row)
            })),
            monitor.snapshot().partitions
        );
        let Ok(message) = tokio::time::timeout(Duration::from_millis(200), survivor.recv()).await
        else {
            continue;
        };
        let message = message.expect("recv").expect("a group consumer never ends");
        let rows = message
            .process(|event: Event<QueryEvent>| async move { event.payload.rows })
            .await
            .expect("decodes");
        if rows >= 0 {
            *survivor_rows.entry(rows).or_default() += 1;
        }
    }
    let manager = publishing.await.unwrap();
    survivor.refresh_end_offsets().await.expect("end offsets");
    survivor.commit().await.expect("commit");

    let (killed_at, before) = killed.unwrap();
    let after = monitor.snapshot();
    let duplicated: Vec<i64> = (0..EVENTS as i64)
        .filter(|row| survivor_rows.contains_key(row) && child_rows.contains_key(row))
        .collect();
    let duplicates = duplicated.len()
        + survivor_rows
            .values()
            .chain(child_rows.values().map(|(n, _)| n))
            .map(|n| n - 1)
            .sum::<usize>();
    // What the child processed in its last commit interval (plus the consumer's 200 ms
    // housekeeping tick and the commit's own round trip): the events a commit can miss.
    let window = (COMMIT_INTERVAL + Duration::from_millis(500)).as_micros() as u64;
    let last_interval: Vec<i64> = child_rows
        .iter()
        .filter(|(_, at)| at.1 + window >= killed_micros)
        .map(|(row, _)| *row)
        .collect();
    let allowed = last_interval.len();
    let outside: Vec<&i64> = duplicated
        .iter()
        .filter(|row| !last_interval.contains(row))
        .collect();
    let lags: Vec<_> = after
        .partitions
        .iter()
        .map(|p| (p.partition, p.lag))
        .collect();
    eprintln!(
        "figures: failover: {EVENTS} events; child processed {} before SIGKILL, survivor {}; \
         duplicates {duplicates} (allowed {allowed}: what the child processed in its last commit \
         interval); survivor rebalances {} before the kill, {} after, the takeover's rebalance seen \
         {taken_over:.1?} after the kill, everything processed {:.1?} after it; partitions \
         and lag at the end {lags:?}",
        child_rows.len(),
        survivor_rows.len(),
        before.rebalances,
        after.rebalances,
        killed_at.elapsed()
    );
    assert!(
        !child_rows.is_empty(),
        "the child processed events before it was killed"
    );
    assert!(
        duplicates <= allowed && outside.is_empty(),
        "{duplicates} duplicates: more than one commit interval's worth ({allowed}); processed \
         again although the child processed them before its last commit interval: {outside:?}"
    );
    assert!(
        after.rebalances > before.rebalances,
        "the survivor saw the rebalance that gave it the dead member's partition"
    );
    assert_eq!(
        lags.len(),
        2,
        "the survivor reads both partitions at the end: {lags:?}"
    );
    assert!(
        lags.iter().all(|(_, lag)| *lag == Some(0)),
        "nothing left to read: {lags:?}"
    );
    survivor.close().await.unwrap();
    manager.close(Duration::from_secs(10)).await.unwrap();
    let _ = std::fs::remove_file(&log);
}

/// What the child printed it processed: by event number, how often and when (last).
fn processed_by(log: &std::path::Path) -> HashMap<i64, (usize, u64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut rows = HashMap::<i64, (usize, u64)>::new();
    for line in text.lines() {
        let Some((row, at)) = line
            .strip_prefix("processed ")
            .and_then(|r| r.split_once(" at "))
        else {
            continue;
        };
        if let (Ok(row), Ok(at)) = (row.parse(), at.trim().parse()) {
            let entry = rows.entry(row).or_default();
            *entry = (entry.0 + 1, at);
        }
    }
    rows
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// `rows` (ascending) as inclusive ranges, for failure messages.
fn ranges(rows: impl Iterator<Item = i64>) -> Vec<(i64, i64)> {
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for row in rows {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == row => *end = row,
            _ => ranges.push((row, row)),
        }
    }
    ranges
}
