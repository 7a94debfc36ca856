//! A durable Kafka-compatible broker the test starts itself: Tansu with its log in SQLite,
//! on 127.0.0.1, killed with -9 and started again on the same store. Built by
//! `.ci/peers.sh install` (`cargo install tansu --features libsql`); see
//! `docs/architecture.md` ("Test tiers").

use std::path::{Path, PathBuf};
use std::process::Command;

use super::procs::{self, ChildGuard};

/// A scratch directory removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new, empty directory under the system's temporary directory.
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(super::peers::unique_app(prefix));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Tansu binary built with SQLite storage: `APP_METRICS_TEST_TANSU_DURABLE`, else where
/// `.ci/peers.sh install` puts it.
pub fn durable_tansu_bin() -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("APP_METRICS_TEST_TANSU_DURABLE") {
        return Some(PathBuf::from(bin));
    }
    let home = std::env::var_os("HOME")?;
    let bin = Path::new(&home).join(".cache/app-metrics/tansu-sqlite/bin/tansu");
    bin.exists().then_some(bin)
}

/// A Tansu broker storing its log in `tansu.db` under its own scratch directory.
pub struct DurableBroker {
    /// Declared first so that it is dropped (killed) before the store is removed.
    process: Option<ChildGuard>,
    bin: PathBuf,
    store: ScratchDir,
    /// Where the broker listens.
    pub port: u16,
    /// The address it gives clients in metadata: its own port, or a proxy's in front of it.
    advertised_port: u16,
    authentication: bool,
    starts: u32,
}

impl DurableBroker {
    /// Starts a broker on a free port, advertising that port.
    pub fn start(bin: &Path) -> Self {
        let port = procs::free_port();
        Self::start_advertising(bin, port, port)
    }

    /// Starts a broker on `port` that tells clients to connect to `advertised_port`.
    pub fn start_advertising(bin: &Path, port: u16, advertised_port: u16) -> Self {
        let mut broker = Self {
            process: None,
            bin: bin.to_owned(),
            store: ScratchDir::new("app_metrics_durable_tansu"),
            port,
            advertised_port,
            authentication: false,
            starts: 0,
        };
        broker.restart();
        broker
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the broker (again) on the same port and the same store, and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        self.starts += 1;
        let log = self.store.path().join(format!("tansu.{}.log", self.starts));
        let mut command = Command::new(&self.bin);
        command
            .current_dir(self.store.path())
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.advertised_port))
            // A relative path: Tansu opens it under its working directory, the store.
            .arg("--storage-engine")
            .arg("sqlite://tansu.db");
        if self.authentication {
            command.arg("--authentication");
        }
        let mut process = procs::spawn("durable tansu", &mut command, &log);
        process.wait_for_port(self.port);
        self.process = Some(process);
    }

    /// Creates a SCRAM user with Tansu's own CLI (on a broker that does not require
    /// authentication yet: the user is kept in the store).
    pub fn create_user(&self, mechanism: &str, name: &str, password: &str) {
        procs::run(
            self.bin.to_str().expect("UTF-8 path"),
            &[
                "user",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
                "--mechanism",
                mechanism,
                name,
                password,
            ],
            self.store.path(),
        );
    }

    /// Restarts the broker on the same store with client authentication required.
    pub fn require_authentication(&mut self) {
        self.authentication = true;
        self.restart();
    }

    /// The broker's log of its current run, for failure messages.
    pub fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(ChildGuard::log_tail)
            .unwrap_or_default()
    }
}
