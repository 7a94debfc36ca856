//! Real peers for the CI tier: found through the environment `.ci/peers.sh start` writes.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use app_metrics::Config;

pub struct Peers {
    pub kafka: String,
    pub registry: String,
}

pub fn peers(test: &str) -> Option<Peers> {
    match (
        std::env::var("APP_METRICS_TEST_KAFKA"),
        std::env::var("APP_METRICS_TEST_REGISTRY"),
    ) {
        (Ok(kafka), Ok(registry)) => Some(Peers { kafka, registry }),
        _ if std::env::var("APP_METRICS_REQUIRE_PEERS").is_ok_and(|v| v == "1") => {
            panic!(
                "{test}: APP_METRICS_REQUIRE_PEERS=1 but APP_METRICS_TEST_KAFKA / APP_METRICS_TEST_REGISTRY \
                 are not set; start the peers with .ci/peers.sh start"
            )
        }
        _ => {
            // Straight to the stderr handle: the harness captures `eprintln!`, and a skip
            // must be visible.
            let _ = writeln!(
                std::io::stderr(),
                "{test}: skipped: APP_METRICS_TEST_KAFKA and APP_METRICS_TEST_REGISTRY are not set \
                 (run `.ci/peers.sh start` and source its env file)"
            );
            None
        }
    }
}

/// A fresh application name per test run: Tansu keeps topics while it runs.
pub fn unique_app(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Strict settings for `application` on the peers.
pub fn config(peers: &Peers, application: &str, create_topics: bool) -> Config {
    let mut config = super::cluster_config(application, &peers.kafka, &peers.registry);
    config.kafka = config
        .kafka
        .to_builder()
        .create_topics(create_topics)
        .build()
        .expect("valid Kafka settings");
    config
}

/// Runs `.ci/peers.sh <command>` (bounded by the script's own timeouts).
pub fn peers_script(command: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/peers.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .arg(command)
        .status()
        .expect("run .ci/peers.sh");
    assert!(status.success(), ".ci/peers.sh {command} failed: {status}");
}
