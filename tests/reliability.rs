//! The failure policy's guarantees on real processes (the peer tier of `.ci/run`): a durable
//! broker killed with -9 mid-stream, SCRAM authentication against a broker that requires
//! it, and network faults injected by a loopback proxy in front of the broker and of the
//! registry. Each test starts its own durable Tansu (SQLite storage) on 127.0.0.1 and stops
//! it by PID; the registry is the peer tier's. The tests run one at a time (they time
//! `publish()` and count log lines).
//!
//! Needs `APP_METRICS_TEST_KAFKA` / `APP_METRICS_TEST_REGISTRY` (`.ci/peers.sh start`) and the
//! durable Tansu (`.ci/peers.sh install`); skipped otherwise, unless
//! `APP_METRICS_REQUIRE_PEERS=1`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_metrics::config::{SaslMechanism, SecurityProtocol};
use app_metrics::kafka::KafkaBackend;
use app_metrics::kafka::consumer::StartAt;
use app_metrics::sensor::SensorDelegate;
use app_metrics::{Config, EventManager, EventPublisher};
use common::durable::{DurableBroker, durable_tansu_bin};
use common::fault_proxy::{Fault, FaultProxy};
use common::log_capture::LogCapture;
use common::peers::{Peers, peers, unique_app};
use common::{QueryEvent, QueryType, procs};
use uuid::Uuid;

/// How long the tests wait for deliveries and reads.
const TIMEOUT: Duration = Duration::from_secs(120);
/// `publish()` only enqueues, whatever the broker does: 99.9 % of calls take less than
/// this ...
const PUBLISH_P999: Duration = Duration::from_millis(2);
/// ... and none more than this (a preempted thread on a busy machine included).
const SLOWEST_PUBLISH: Duration = Duration::from_millis(20);

struct Env {
    tansu: PathBuf,
    peers: Peers,
}

/// The environment of a test of this binary, and its turn: the tests run one at a time
/// (they time `publish()` and count log lines). `None` when the peers are absent.
async fn begin(test: &str) -> Option<(Env, tokio::sync::MutexGuard<'static, ()>)> {
    let env = test_env(test)?;
    Some((env, LogCapture::global().exclusive().await))
}

fn test_env(test: &str) -> Option<Env> {
    let peers = peers(test)?;
    match durable_tansu_bin() {
        Some(tansu) => Some(Env { tansu, peers }),
        None if require_peers() => {
            panic!("{test}: no durable Tansu; build it with .ci/peers.sh install")
        }
        None => {
            // Straight to stderr: the harness captures `eprintln!`, and a skip must show.
            let _ = writeln!(
                std::io::stderr(),
                "{test}: skipped: no durable Tansu (.ci/peers.sh install builds it)"
            );
            None
        }
    }
}

/// The event number `i`: its row count carries `i`, so a test can tell events apart by
/// payload as well as by id.
fn numbered(i: usize) -> QueryEvent {
    QueryEvent {
        r#type: QueryType::Sync,
        duration: Duration::from_millis(i as u64 % 1000),
        username: Some(format!("user-{}", i % 7)),
        rows: i as i64,
    }
}

/// Settings for a fresh application on `bootstrap`, creating its topic; `strict` or
/// resilient. One log line per problem every 5 s, so a fault of tens of seconds shows
/// whether the limit holds.
fn settings(bootstrap: &str, registry: &str, application: &str, strict: bool) -> Config {
    let peers = Peers {
        kafka: bootstrap.to_owned(),
        registry: registry.to_owned(),
    };
    let mut config = common::peers::config(&peers, &unique_app(application), true);
    config.metrics = config
        .metrics
        .to_builder()
        .raise_on_error(strict)
        .backoff_interval(BACKOFF_INTERVAL)
        .retry_max_backoff(Duration::from_secs(2))
        .build()
        .expect("valid settings");
    config
}

const BACKOFF_INTERVAL: Duration = Duration::from_secs(5);

struct Started {
    backend: Arc<KafkaBackend>,
    manager: EventManager,
    queries: EventPublisher<QueryEvent>,
}

async fn start(config: &Config) -> Started {
    let backend = common::backend(config, None);
    let manager = common::manager(config, &backend);
    manager.initialize().await.expect("initialize");
    let queries = manager
        .create_publisher("query")
        .await
        .expect("query publisher");
    Started {
        backend,
        manager,
        queries,
    }
}

/// What a paced publishing run saw.
struct Paced {
    /// The id of every event `publish()` accepted, in order.
    ids: Vec<Uuid>,
    /// The numbers of the events `publish()` refused, with its error.
    refused: BTreeMap<i64, String>,
    /// How long each `publish()` took, sorted.
    durations: Vec<Duration>,
}

impl Paced {
    fn slowest(&self) -> Duration {
        self.durations.last().copied().unwrap_or_default()
    }

    fn p999(&self) -> Duration {
        let index = (self.durations.len() * 999 / 1000).min(self.durations.len().saturating_sub(1));
        self.durations.get(index).copied().unwrap_or_default()
    }

    /// `publish()` never blocked.
    fn assert_never_blocked(&self) {
        assert!(
            self.p999() <= PUBLISH_P999 && self.slowest() <= SLOWEST_PUBLISH,
            "publish() took {:?} at the 99.9th percentile (allowed {PUBLISH_P999:?}) and {:?} at \
             most (allowed {SLOWEST_PUBLISH:?})",
            self.p999(),
            self.slowest()
        );
    }
}

/// Publishes `count` numbered events at `per_second` on a thread of its own (the test
/// meanwhile kills and restarts things).
fn publish_paced(
    queries: &EventPublisher<QueryEvent>,
    count: usize,
    per_second: u32,
) -> std::thread::JoinHandle<Paced> {
    let queries = queries.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut paced = Paced {
            ids: Vec::with_capacity(count),
            refused: BTreeMap::new(),
            durations: Vec::with_capacity(count),
        };
        for i in 0..count {
            let due = start + Duration::from_secs(1) * i as u32 / per_second;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let before = Instant::now();
            let published = queries.publish(numbered(i));
            paced.durations.push(before.elapsed());
            match published {
                Ok(metadata) => paced.ids.push(metadata.id()),
                Err(error) => {
                    paced.refused.insert(i as i64, error.to_string());
                }
            }
        }
        paced.durations.sort_unstable();
        paced
    })
}

/// Every event on the application's topic, read with our consumer and decoded whatever
/// its type: (id, its number where it is a numbered query).
async fn read_back(config: &Config) -> Vec<(Uuid, Option<i64>)> {
    let consumer = app_metrics::make_consumer(config, &Arc::new(SensorDelegate::new()))
        .expect("consumer settings")
        .start_at(StartAt::Beginning)
        .stop_at_end(true)
        .build()
        .await
        .expect("consumer");
    let mut events = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while let Some(message) = tokio::time::timeout_at(deadline.into(), consumer.recv())
        .await
        .expect("the topic read to its end in time")
        .expect("read")
    {
        let event = message.decode().await.expect("decodes").to_json();
        let id = event["id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
        events.push((id.expect("every event has an id"), event["rows"].as_i64()));
    }
    consumer.close().await.expect("close");
    events
}

fn require_peers() -> bool {
    std::env::var("APP_METRICS_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// The ids on the topic as Confluent's Python client and AvroDeserializer read them;
/// `None` (said on stderr) where that client is not installed and peers are optional.
fn read_back_with_confluent(config: &Config) -> Option<Vec<Uuid>> {
    let have_client = std::process::Command::new("python3")
        .args(["-c", "import confluent_kafka, fastavro"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_client {
        assert!(
            !require_peers(),
            "APP_METRICS_REQUIRE_PEERS=1 but confluent-kafka is not installed (pip install 'confluent-kafka[avro]')"
        );
        eprintln!("confluent-kafka not installed: the Python read-back is skipped");
        return None;
    }
    let bootstrap = config.kafka.brokers().expect("brokers").join(",");
    let output = std::process::Command::new("timeout")
        .arg("180")
        .arg("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/read_ids.py"))
        .args(["--bootstrap", &bootstrap])
        .args([
            "--registry",
            config.registry.url().expect("registry url").as_str(),
        ])
        .args(["--topic", &config.metrics.topic()])
        .output()
        .expect("run .ci/read_ids.py");
    assert!(
        output.status.success(),
        "read_ids.py failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let ids = String::from_utf8(output.stdout).expect("UTF-8");
    Some(
        ids.lines()
            .map(|id| Uuid::parse_str(id.trim()).expect("a UUID"))
            .collect(),
    )
}

/// How the ids read back compare with those published: (missing, duplicated, unknown).
fn compare(published: &[Uuid], read: impl IntoIterator<Item = Uuid>) -> (usize, usize, usize) {
    let published: HashSet<Uuid> = published.iter().copied().collect();
    let mut seen = HashMap::<Uuid, usize>::new();
    for id in read {
        *seen.entry(id).or_default() += 1;
    }
    let missing = published.iter().filter(|id| !seen.contains_key(id)).count();
    let duplicated = seen.values().map(|n| n - 1).sum();
    let unknown = seen.keys().filter(|id| !published.contains(id)).count();
    (missing, duplicated, unknown)
}

/// At most one WARN/ERROR line per problem (log statement, and event where it names one)
/// per `BACKOFF_INTERVAL` since `since` (plus the first); returns the counts, for the
/// test's figures.
fn assert_log_lines_limited(since: Instant, problem: &str) -> Vec<(String, usize)> {
    let counts = LogCapture::global().warnings_by_problem(since);
    let allowed = 1 + (since.elapsed().as_secs_f64() / BACKOFF_INTERVAL.as_secs_f64()) as usize;
    for (problem_at, lines) in &counts {
        assert!(
            *lines <= allowed,
            "{problem}: {lines} log lines from {problem_at} in {:.0?} (allowed {allowed}: one per \
             METRICS_BACKOFF_INTERVAL)",
            since.elapsed()
        );
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_with_sigkill_mid_stream_loses_nothing_and_duplicates_nothing() {
    let test = "a_broker_killed_with_sigkill_mid_stream_loses_nothing_and_duplicates_nothing";
    let Some((env, _one_at_a_time)) = begin(test).await else {
        return;
    };
    let since = Instant::now();
    let mut broker = DurableBroker::start(&env.tansu);
    let config = settings(&broker.bootstrap(), &env.peers.registry, "crash", false);
    let app = start(&config).await;

    // 1,000 events/s for 30 s; the broker is killed at 10 s and back at 30 s.
    let publishing = publish_paced(&app.queries, 30_000, 1_000);
    tokio::time::sleep(Duration::from_secs(10)).await;
    broker.kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    broker.restart();
    let down = killed.elapsed();
    let paced = tokio::task::spawn_blocking(move || publishing.join().unwrap())
        .await
        .unwrap();

    let report = app.manager.flush(TIMEOUT).await.expect("flush");
    let stats = app.backend.stats();
    let read = read_back(&config).await;
    let (missing, duplicated, unknown) = compare(&paced.ids, read.iter().map(|(id, _)| *id));
    let confluent = read_back_with_confluent(&config);
    let logs = assert_log_lines_limited(since, "broker crash");
    eprintln!(
        "figures: broker crash: sent {}, refused {}, delivered {}, failed {}, dropped {}, read back {} \
         (missing {missing}, duplicated {duplicated}, unknown {unknown}), Confluent read back {:?}, \
         publish() p99.9 {:?} and slowest {:?}, broker down {down:.1?}, log lines by problem {logs:?}",
        paced.ids.len(),
        paced.refused.len(),
        stats.delivered(),
        stats.failed(),
        stats.dropped(),
        read.len(),
        confluent.as_ref().map(Vec::len),
        paced.p999(),
        paced.slowest(),
    );
    assert_eq!(report.undelivered, 0, "{report}");
    assert_eq!((paced.ids.len(), paced.refused.len()), (30_000, 0));
    assert_eq!(
        (stats.delivered(), stats.failed(), stats.dropped()),
        (30_000, 0, 0),
        "delivered, failed, dropped; broker log:\n{}",
        broker.log_tail()
    );
    assert_eq!(
        (missing, duplicated, unknown),
        (0, 0, 0),
        "every id exactly once"
    );
    if let Some(confluent) = confluent {
        assert_eq!(
            compare(&paced.ids, confluent),
            (0, 0, 0),
            "Confluent's reader: every id exactly once"
        );
    }
    paced.assert_never_blocked();
    app.manager.close(TIMEOUT).await.unwrap();
}

/// Strict mode during a crash: the bounded queue fills while the broker is down, and
/// `publish()` refuses what does not fit. What it refused is exactly what never arrives.
///
/// (Failing events by delivery timeout instead would make librdkafka's idempotent producer
/// bump its epoch, which Tansu 0.6's SQLite engine does not survive: it panics in its
/// idempotence check. `strict_mode_reports_a_black_holed_broker_and_a_half_open_connection` covers
/// that path.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refuses_exactly_what_a_broker_crash_would_lose() {
    let Some((env, _one_at_a_time)) =
        begin("strict_mode_refuses_exactly_what_a_broker_crash_would_lose").await
    else {
        return;
    };
    let mut broker = DurableBroker::start(&env.tansu);
    let mut config = settings(
        &broker.bootstrap(),
        &env.peers.registry,
        "crash_strict",
        true,
    );
    config.kafka = config
        .kafka
        .to_builder()
        .queue_max_messages(3_000)
        .build()
        .expect("valid Kafka settings");
    let app = start(&config).await;

    // 1,000 events/s for 20 s; the broker is down from 5 s to 15 s: 3 s of it fit the queue.
    let publishing = publish_paced(&app.queries, 20_000, 1_000);
    tokio::time::sleep(Duration::from_secs(5)).await;
    broker.kill();
    tokio::time::sleep(Duration::from_secs(10)).await;
    broker.restart();
    let paced = tokio::task::spawn_blocking(move || publishing.join().unwrap())
        .await
        .unwrap();
    let refused = &paced.refused;
    let report = app
        .manager
        .flush(TIMEOUT)
        .await
        .expect("strict: all delivered");

    let read = read_back(&config).await;
    let arrived: HashSet<i64> = read.iter().filter_map(|(_, n)| *n).collect();
    let missing: HashSet<i64> = (0..20_000).filter(|n| !arrived.contains(n)).collect();
    let told: HashSet<i64> = refused.keys().copied().collect();
    eprintln!(
        "figures: strict broker crash: sent 20000, refused {} (first: {:?}), missing {}, read \
         back {} (distinct {}), publish() p99.9 {:?} and slowest {:?}, {report}",
        told.len(),
        refused.values().next(),
        missing.len(),
        read.len(),
        arrived.len(),
        paced.p999(),
        paced.slowest()
    );
    assert!(
        !told.is_empty(),
        "a 10 s outage at 1,000 events/s overflows a 3,000-event queue"
    );
    assert_eq!(read.len(), arrived.len(), "no duplicates");
    let told_but_arrived: Vec<_> = told.difference(&missing).collect();
    let lost_untold: Vec<_> = missing.difference(&told).collect();
    assert!(
        told_but_arrived.is_empty() && lost_untold.is_empty(),
        "refused but arrived: {told_but_arrived:?}; missing but accepted: {lost_untold:?}"
    );
    paced.assert_never_blocked();
    app.manager.close(TIMEOUT).await.unwrap();
}

/// A password no other text contains.
const PASSWORD: &str = "pw-7f3c9e1b-only-in-this-test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_authentication_against_a_broker_that_requires_it() {
    let Some((env, _one_at_a_time)) =
        begin("scram_authentication_against_a_broker_that_requires_it").await
    else {
        return;
    };
    let capture = LogCapture::global();
    let since = Instant::now();
    let mut broker = DurableBroker::start(&env.tansu);
    broker.create_user("scram512", "metrics512", PASSWORD);
    broker.create_user("scram256", "metrics256", PASSWORD);
    broker.require_authentication();

    let sasl = |mechanism: SaslMechanism, user: &str, password: &str| {
        let mut config = settings(&broker.bootstrap(), &env.peers.registry, "scram", true);
        config.kafka = config
            .kafka
            .to_builder()
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_mechanism(mechanism)
            .sasl_username(user)
            .sasl_password(password)
            // librdkafka's own debug lines about the SASL exchange, to search for the
            // password below.
            .property("debug", "security,broker")
            .build()
            .expect("valid Kafka settings");
        config
    };

    let mut outputs = Vec::new();
    for (mechanism, user) in [
        (SaslMechanism::ScramSha512, "metrics512"),
        (SaslMechanism::ScramSha256, "metrics256"),
    ] {
        let config = sasl(mechanism, user, PASSWORD);
        outputs.push(format!("{config:?} {:?}", config.kafka));
        let app = start(&config).await;
        for i in 0..100 {
            app.queries.publish(numbered(i)).expect("publish");
        }
        let report = app.manager.flush(TIMEOUT).await.expect("flush");
        assert_eq!(report.undelivered, 0, "{mechanism}: {report}");
        let read = read_back(&config).await;
        assert_eq!(
            read.len(),
            100,
            "{mechanism}: everything read back, with the same credentials"
        );
        app.manager.close(TIMEOUT).await.unwrap();
        eprintln!(
            "figures: {mechanism} as {user}: 100 sent, {} read back",
            read.len()
        );
    }

    // Refused credentials are a settings problem: start-up fails in both modes, at once.
    for (case, user, password, strict) in [
        ("a wrong password", "metrics512", "not-the-password", true),
        ("a wrong password", "metrics512", "not-the-password", false),
        ("a missing user", "nobody", PASSWORD, true),
        ("a missing user", "nobody", PASSWORD, false),
    ] {
        let mut config = sasl(SaslMechanism::ScramSha512, user, password);
        config.metrics = config
            .metrics
            .to_builder()
            .raise_on_error(strict)
            .build()
            .unwrap();
        let backend = common::backend(&config, None);
        let manager = common::manager(&config, &backend);
        let started = Instant::now();
        let error = manager
            .initialize()
            .await
            .expect_err("start-up fails with refused credentials");
        let refused_after = started.elapsed();
        let shown = app_metrics::ErrorChain(&error).to_string();
        let mode = if strict { "strict" } else { "resilient" };
        eprintln!("figures: {case} ({mode}): refused after {refused_after:.1?}: {shown}");
        assert!(
            shown.contains("authentication") && shown.contains("KAFKA_SASL_PASSWORD"),
            "{case} ({mode}): the error names authentication and the settings to check: {shown}"
        );
        assert!(
            refused_after < Duration::from_secs(5),
            "{case} ({mode}): refused only after {refused_after:?}"
        );
        outputs.push(shown);
        outputs.push(format!("{error:?}"));
        let _ = manager.close(Duration::from_secs(5)).await;
    }

    let logged = capture.since(since);
    assert!(
        logged.iter().any(|line| line.text.contains("SASL")),
        "librdkafka's security debug lines were captured ({} lines)",
        logged.len()
    );
    for text in logged.iter().map(|l| &l.text).chain(&outputs) {
        assert!(!text.contains(PASSWORD), "the password appears in: {text}");
    }
    eprintln!(
        "figures: SCRAM: {} log lines and {} errors and settings searched, no password",
        logged.len(),
        outputs.len()
    );
}

/// A durable broker behind a fault proxy: clients are told (in metadata) to reach the broker
/// through the proxy.
fn broker_behind_proxy(env: &Env) -> (DurableBroker, FaultProxy) {
    let broker_port = procs::free_port();
    let proxy = FaultProxy::start(broker_port);
    let broker = DurableBroker::start_advertising(&env.tansu, broker_port, proxy.port);
    (broker, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_broker_gets_every_event_once_it_answers_again() {
    let Some((env, _one_at_a_time)) =
        begin("a_black_holed_broker_gets_every_event_once_it_answers_again").await
    else {
        return;
    };
    let (broker, proxy) = broker_behind_proxy(&env);
    let bootstrap = format!("127.0.0.1:{}", proxy.port);
    let config = settings(&bootstrap, &env.peers.registry, "black_hole", false);
    let app = start(&config).await;

    // 200 events/s for 40 s; bytes to and from the broker vanish from 5 s to 35 s.
    let publishing = publish_paced(&app.queries, 8_000, 200);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let since = Instant::now();
    proxy.set(Fault::BlackHole);
    tokio::time::sleep(Duration::from_secs(30)).await;
    proxy.set(Fault::Forward);
    let restored = Instant::now();
    let paced = tokio::task::spawn_blocking(move || publishing.join().unwrap())
        .await
        .unwrap();
    let report = app.manager.flush(TIMEOUT).await.expect("flush");
    let caught_up = restored.elapsed();
    let logs = assert_log_lines_limited(since, "black hole");
    let stats = app.backend.stats();
    let read = read_back(&config).await;
    let (missing, duplicated, unknown) = compare(&paced.ids, read.iter().map(|(id, _)| *id));
    eprintln!(
        "figures: black hole 30 s: sent {}, delivered {}, failed {}, read back {} (missing {missing}, \
         duplicated {duplicated}), publish() p99.9 {:?} and slowest {:?}, all delivered {caught_up:.1?} after the \
         network came back, connections {}, log lines by problem {logs:?}",
        paced.ids.len(),
        stats.delivered(),
        stats.failed(),
        read.len(),
        paced.p999(),
        paced.slowest(),
        proxy.connections()
    );
    assert_eq!(report.undelivered, 0, "{report}");
    assert_eq!(
        (missing, duplicated, unknown),
        (0, 0, 0),
        "every id exactly once"
    );
    paced.assert_never_blocked();
    app.manager.close(TIMEOUT).await.unwrap();
    drop(broker);
}

/// In strict mode, an event sent while the broker is black-holed, or into a half-open
/// connection, fails with the delivery timeout (3 s here). Each case has its own broker:
/// after a timeout the idempotent producer bumps its epoch, which Tansu's SQLite engine
/// does not survive (see above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_reports_a_black_holed_broker_and_a_half_open_connection() {
    let test = "strict_mode_reports_a_black_holed_broker_and_a_half_open_connection";
    let Some((env, _one_at_a_time)) = begin(test).await else {
        return;
    };
    for (case, fault) in [
        (
            "black hole",
            (|proxy: &FaultProxy| proxy.set(Fault::BlackHole)) as fn(&FaultProxy),
        ),
        ("half-open", |proxy: &FaultProxy| proxy.sever()),
    ] {
        let (_broker, proxy) = broker_behind_proxy(&env);
        let bootstrap = format!("127.0.0.1:{}", proxy.port);
        let mut config = settings(&bootstrap, &env.peers.registry, "network_strict", true);
        config.kafka = config
            .kafka
            .to_builder()
            .delivery_timeout(Duration::from_secs(3))
            .build()
            .expect("valid Kafka settings");
        let app = start(&config).await;
        app.queries
            .publish_confirmed(numbered(0))
            .await
            .expect("delivered before the fault");

        fault(&proxy);
        let started = Instant::now();
        let error = app
            .queries
            .publish_confirmed(numbered(1))
            .await
            .expect_err("strict: the event fails");
        let shown = app_metrics::ErrorChain(&error).to_string();
        eprintln!(
            "figures: strict {case}: failed after {:.1?}: {shown}",
            started.elapsed()
        );
        assert!(
            shown.to_lowercase().contains("timed out"),
            "{case}: the error says the delivery timed out: {shown}"
        );
        let flushed = app.manager.flush(Duration::from_secs(1)).await;
        assert!(flushed.is_ok(), "{case}: nothing left queued: {flushed:?}");
        proxy.set(Fault::Forward);
        let _ = app.manager.close(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_broker_connection_is_noticed_and_replaced() {
    let Some((env, _one_at_a_time)) =
        begin("a_half_open_broker_connection_is_noticed_and_replaced").await
    else {
        return;
    };
    let (_broker, proxy) = broker_behind_proxy(&env);
    let bootstrap = format!("127.0.0.1:{}", proxy.port);
    let config = settings(&bootstrap, &env.peers.registry, "half_open", false);
    let app = start(&config).await;
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(app.queries.publish(numbered(i)).unwrap().id());
    }
    assert_eq!(app.manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    let connections = proxy.connections();

    // The broker's side of every connection vanishes without a FIN; new ones would work.
    proxy.sever();
    let severed = Instant::now();
    for i in 100..200 {
        ids.push(app.queries.publish(numbered(i)).unwrap().id());
    }
    let report = app.manager.flush(TIMEOUT).await.expect("flush");
    let noticed = severed.elapsed();
    let logs = assert_log_lines_limited(severed, "half-open connection");
    let read = read_back(&config).await;
    eprintln!(
        "figures: half-open: 100 events after the cut delivered in {noticed:.1?} over {} new \
         connection(s); read back {}; log lines by problem {logs:?}",
        proxy.connections() - connections,
        read.len()
    );
    assert_eq!(report.undelivered, 0, "{report}");
    assert!(proxy.connections() > connections, "the client reconnected");
    // librdkafka gives up on a silent connection after `socket.timeout.ms` (60 s).
    assert!(
        noticed < Duration::from_secs(90),
        "the dead connection was noticed only after {noticed:?}"
    );
    assert_eq!(
        compare(&ids, read.iter().map(|(id, _)| *id)),
        (0, 0, 0),
        "every id exactly once"
    );
    app.manager.close(TIMEOUT).await.unwrap();
}

/// The registry behind the proxy answers 500, then does not answer, then recovers: at
/// start-up, and again at a later schema's first registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_errors_and_timeouts_delay_events_without_losing_them() {
    let Some((env, _one_at_a_time)) =
        begin("registry_errors_and_timeouts_delay_events_without_losing_them").await
    else {
        return;
    };
    let registry_port: u16 = env
        .peers
        .registry
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("registry port");
    let proxy = FaultProxy::start(registry_port);
    let registry = format!("http://127.0.0.1:{}", proxy.port);
    let mut config = settings(&env.peers.kafka, &registry, "registry_faults", false);
    config.registry = config
        .registry
        .to_builder()
        .request_timeout(Duration::from_secs(2))
        .build()
        .expect("valid registry settings");

    // Start-up: 500s for 4 s, then no answer for 4 s, then the registry is back.
    let since = Instant::now();
    proxy.set(Fault::Http500);
    let app = start(&config).await;
    let mut published = Vec::new();
    for i in 0..50 {
        published.push(app.queries.publish(numbered(i)).expect("resilient").id());
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set(Fault::BlackHole);
    for i in 50..100 {
        published.push(app.queries.publish(numbered(i)).expect("resilient").id());
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set(Fault::Forward);
    let report = app.manager.flush(TIMEOUT).await.expect("flush");
    assert_eq!(report.undelivered, 0, "{report}");
    let recovered_at_startup = since.elapsed();

    // A later event's first registration meets the same faults.
    proxy.set(Fault::Http500);
    let logins = app
        .manager
        .create_publisher::<common::LoginEvent>("login")
        .await
        .expect("resilient: the publisher is handed out while registration retries");
    for i in 0..20 {
        logins
            .publish(common::roundtrip::login(i))
            .expect("resilient");
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set(Fault::BlackHole);
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.set(Fault::Forward);
    let report = app.manager.flush(TIMEOUT).await.expect("flush");
    assert_eq!(report.undelivered, 0, "{report}");
    let logs = assert_log_lines_limited(since, "registry faults");
    let stats = app.backend.stats();
    eprintln!(
        "figures: registry faults: 100 queries held through 8 s of faults at start-up, delivered \
         {recovered_at_startup:.1?} after start; 20 logins through a second 8 s; delivered {}, \
         dropped {}; log lines by problem {logs:?}",
        stats.delivered(),
        stats.dropped()
    );
    assert_eq!((stats.delivered(), stats.dropped()), (120, 0));
    let read = read_back(&config).await;
    assert_eq!(read.len(), 120, "every event once on the topic");
    app.manager.close(TIMEOUT).await.unwrap();

    // Strict mode: start-up waits for the answer, and a 500 is an error that says so.
    let mut strict = config.clone();
    strict.metrics = strict
        .metrics
        .to_builder()
        .raise_on_error(true)
        .build()
        .unwrap();
    proxy.set(Fault::Http500);
    let backend = common::backend(&strict, None);
    let manager = common::manager(&strict, &backend);
    manager.initialize().await.expect("initialize");
    let error = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .expect_err("strict: registration fails");
    let shown = app_metrics::ErrorChain(&error).to_string();
    assert!(
        shown.contains("500"),
        "the error gives the registry's answer: {shown}"
    );
    proxy.set(Fault::BlackHole);
    let error = manager
        .create_publisher::<common::LoginEvent>("login")
        .await
        .expect_err("strict: registration times out");
    let shown_timeout = app_metrics::ErrorChain(&error).to_string();
    eprintln!("figures: strict registry faults: 500 -> {shown}; no answer -> {shown_timeout}");
    assert!(
        shown_timeout.to_lowercase().contains("time"),
        "the error says the registry did not answer in time: {shown_timeout}"
    );
    proxy.set(Fault::Forward);
    let _ = manager.close(Duration::from_secs(5)).await;
}
