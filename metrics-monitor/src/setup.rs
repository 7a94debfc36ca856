//! `setup_monitoring`: one call that attaches the Monitor and the configured exporters to
//! the application's sensor hub, and starts what runs in the background.

use std::sync::Arc;

use metrics_core::sensor::Sensor;
use metrics_core::sensor::{SensorDelegate, SensorId, SystemClock};

use crate::config::MonitoringConfig;
use crate::custom_sensor::CustomSensor;
use crate::health::{HealthAlert, HealthMonitor, HealthThresholds};
use crate::logging::LoggingSensor;
use crate::monitor::Monitor;

/// Why monitoring could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitoringError {
    /// Rates and health checks run as tasks on the tokio runtime, and there is none.
    #[error(
        "setup_monitoring needs a tokio runtime: call it from async code (e.g. in #[tokio::main])"
    )]
    NoRuntime,
    /// The StatsD client could not be created.
    #[cfg(feature = "statsd")]
    #[error("cannot send to the StatsD server {address:?} (METRICS_MONITOR_STATSD_ADDRESS)")]
    Statsd {
        /// The configured address.
        address: String,
        /// Why.
        #[source]
        source: cadence::MetricError,
    },
}

/// What [`setup_monitoring`] attached and started. Dropping it stops the background
/// tasks; [`detach`](Self::detach) also removes its sensors from the hub.
#[derive(Debug)]
pub struct Monitoring {
    monitor: Arc<Monitor>,
    delegate: Arc<SensorDelegate>,
    health: Option<Arc<HealthMonitor>>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<Arc<crate::prometheus::PrometheusMonitor>>,
    #[cfg(feature = "statsd")]
    statsd: Option<Arc<crate::statsd::StatsdMonitor>>,
    attached: Vec<SensorId>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Monitoring {
    /// The Monitor: counts, latencies, offsets, rates, the application's own metrics.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// The application's sensor hub monitoring is attached to.
    pub fn sensors(&self) -> &Arc<SensorDelegate> {
        &self.delegate
    }

    /// A [`CustomSensor`] named `name` for the application's own metrics: what it records
    /// reaches every attached sensor (the Monitor, so `/stats` and Prometheus; StatsD).
    pub fn custom_sensor(&self, name: &str) -> CustomSensor {
        CustomSensor::new(name, Arc::clone(&self.delegate))
    }

    /// The health checks, if on.
    pub fn health(&self) -> Option<&Arc<HealthMonitor>> {
        self.health.as_ref()
    }

    /// The Prometheus export, if on.
    #[cfg(feature = "prometheus")]
    pub fn prometheus(&self) -> Option<&Arc<crate::prometheus::PrometheusMonitor>> {
        self.prometheus.as_ref()
    }

    /// The StatsD sensor, if `METRICS_MONITOR_STATSD_ADDRESS` is set (to
    /// [`flush`](crate::StatsdMonitor::flush) by hand or
    /// [`send_metric`](crate::StatsdMonitor::send_metric)).
    #[cfg(feature = "statsd")]
    pub fn statsd(&self) -> Option<&Arc<crate::statsd::StatsdMonitor>> {
        self.statsd.as_ref()
    }

    /// An axum router serving `GET /metrics`, `GET /health` and `GET /stats`, to `merge`
    /// into the application's router (add [`WebSensorLayer`](crate::WebSensorLayer) to
    /// report the application's own requests).
    #[cfg(feature = "http")]
    pub fn router(&self) -> axum::Router {
        crate::http::router(crate::http::Endpoints {
            monitor: Arc::clone(&self.monitor),
            prometheus: self.prometheus.clone(),
            health: self.health.clone(),
        })
    }

    /// Stops the background tasks and removes the sensors it attached from the hub
    /// (StatsD lines still buffered are sent first).
    pub fn detach(mut self) {
        for id in self.attached.drain(..) {
            self.delegate.remove(id);
        }
    }
}

impl Drop for Monitoring {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        #[cfg(feature = "statsd")]
        if let Some(statsd) = &self.statsd {
            statsd.flush();
        }
    }
}

/// Attaches monitoring to the application's sensor hub as `config` says, and starts the
/// rate sampler and the health checks on the current tokio runtime: [`MonitoringSetup`]
/// with nothing added.
///
/// Attached, in order: the [`Monitor`]; a [`LoggingSensor`] when
/// `METRICS_MONITOR_LOG_LEVEL` is set; a `StatsdMonitor` when
/// `METRICS_MONITOR_STATSD_ADDRESS` is set (feature `statsd`, every line tagged
/// `app:{application}`), flushed at every sample interval. The Prometheus export
/// (feature `prometheus`) and the health checks read the Monitor. Whatever the hub
/// observes is monitored: the event manager, consumers, the web layer, custom sensors.
///
/// ```
/// use std::sync::Arc;
/// use metrics_core::sensor::SensorDelegate;
/// use metrics_monitor::{MonitoringConfig, setup_monitoring};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let sensors = Arc::new(SensorDelegate::new());
/// let monitoring = setup_monitoring(&sensors, "app", &MonitoringConfig::builder().build()?)?;
/// assert_eq!(monitoring.monitor().snapshot().messages_sent, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// No tokio runtime is running, or the StatsD client cannot be created.
pub fn setup_monitoring(
    sensors: &Arc<SensorDelegate>,
    application: &str,
    config: &MonitoringConfig,
) -> Result<Monitoring, MonitoringError> {
    MonitoringSetup::new(application, config).attach(sensors)
}

type AlertHook = Box<dyn Fn(&HealthAlert) + Send + Sync>;

/// [`setup_monitoring`] with everything that must be given before monitoring starts: a
/// Monitor the application already holds (e.g. for a sensor of its own that reads it),
/// the application's sensors (attached and detached with ours), alert hooks (registered
/// before the first health check, so none misses a failure), and the application's own
/// Prometheus registry (served by `/metrics` next to ours).
///
/// ```
/// use std::sync::Arc;
/// use metrics_core::sensor::SensorDelegate;
/// use metrics_monitor::{Monitor, MonitoringConfig, MonitoringSetup};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let sensors = Arc::new(SensorDelegate::new());
/// let monitor = Arc::new(Monitor::new());
/// let config = MonitoringConfig::builder().build()?;
/// let monitoring = MonitoringSetup::new("app", &config)
///     .monitor(Arc::clone(&monitor))
///     .on_alert(|alert| eprintln!("{:?} failing: {}", alert.check, alert.failing))
///     .attach(&sensors)?;
/// assert!(monitoring.health().is_some());
/// assert!(Arc::ptr_eq(monitoring.monitor(), &monitor));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "nothing is attached until `attach`"]
pub struct MonitoringSetup<'a> {
    application: &'a str,
    config: &'a MonitoringConfig,
    monitor: Option<Arc<Monitor>>,
    sensors: Vec<Arc<dyn Sensor>>,
    alert_hooks: Vec<AlertHook>,
    #[cfg(feature = "prometheus")]
    registry: Option<prometheus_client::registry::Registry>,
}

impl std::fmt::Debug for MonitoringSetup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoringSetup")
            .field("application", &self.application)
            .field("config", self.config)
            .field("monitor", &self.monitor.is_some())
            .field("sensors", &self.sensors.len())
            .field("alert_hooks", &self.alert_hooks.len())
            .finish_non_exhaustive()
    }
}

impl<'a> MonitoringSetup<'a> {
    /// Monitoring of `application` (the StatsD `app` tag) as `config` says, nothing else
    /// yet.
    pub fn new(application: &'a str, config: &'a MonitoringConfig) -> Self {
        Self {
            application,
            config,
            monitor: None,
            sensors: Vec::new(),
            alert_hooks: Vec::new(),
            #[cfg(feature = "prometheus")]
            registry: None,
        }
    }

    /// Attaches `monitor` instead of a new Monitor (its options are the ones it was built
    /// with, not `config`'s).
    pub fn monitor(mut self, monitor: Arc<Monitor>) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Attaches the application's `sensor` after ours (and detaches it with them).
    pub fn sensor(mut self, sensor: Arc<dyn Sensor>) -> Self {
        self.sensors.push(sensor);
        self
    }

    /// Calls `hook` when a health check starts or stops failing (with the health checks
    /// on: `METRICS_HEALTH_CHECKS`).
    pub fn on_alert(mut self, hook: impl Fn(&HealthAlert) + Send + Sync + 'static) -> Self {
        self.alert_hooks.push(Box::new(hook));
        self
    }

    /// Exports into the application's own `registry` (its metrics registered before),
    /// so that `/metrics` serves both. Our metrics keep their prefix.
    #[cfg(feature = "prometheus")]
    pub fn prometheus_registry(mut self, registry: prometheus_client::registry::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Attaches everything to the application's sensor hub and starts the background
    /// tasks.
    ///
    /// # Errors
    ///
    /// No tokio runtime is running, or the StatsD client cannot be created.
    pub fn attach(self, sensors: &Arc<SensorDelegate>) -> Result<Monitoring, MonitoringError> {
        let config = self.config;
        tokio::runtime::Handle::try_current().map_err(|_| MonitoringError::NoRuntime)?;
        #[cfg(feature = "statsd")]
        let statsd = match config.statsd_address() {
            Some(address) => Some(Arc::new(
                crate::statsd::StatsdMonitor::new(
                    address,
                    config.statsd_prefix(),
                    &[("app", self.application)],
                )
                .map_err(|source| MonitoringError::Statsd {
                    address: address.to_owned(),
                    source,
                })?,
            )),
            None => None,
        };
        let delegate = Arc::clone(sensors);
        let monitor = self.monitor.unwrap_or_else(|| {
            Arc::new(Monitor::with_options(
                config.monitor_options(),
                Arc::new(SystemClock),
            ))
        });
        // The Monitor counts sends directly: no clock reading, no state per event.
        let mut attached = vec![delegate.add_direct(monitor.clone())];
        if let Some(level) = config.log_level() {
            let logging = LoggingSensor::new(level, config.log_detail())
                .with_target(config.log_target())
                .with_format(config.log_format());
            attached.push(delegate.add(Arc::new(logging)));
        }
        #[cfg(feature = "statsd")]
        if let Some(statsd) = &statsd {
            attached.push(delegate.add(statsd.clone()));
        }
        for sensor in self.sensors {
            attached.push(delegate.add(sensor));
        }

        let mut tasks = Vec::new();
        let sampled = Arc::clone(&monitor);
        #[cfg(feature = "statsd")]
        let flushed = statsd.clone();
        tasks.push(spawn_every(config.sample_interval(), move || {
            sampled.sample();
            // A quiet application's StatsD lines do not wait for a full packet.
            #[cfg(feature = "statsd")]
            if let Some(statsd) = &flushed {
                statsd.flush();
            }
        }));
        let health = config.health().then(|| {
            let health =
                HealthMonitor::new(Arc::clone(&monitor), HealthThresholds::from_config(config));
            for hook in self.alert_hooks {
                health.on_change(hook);
            }
            Arc::new(health)
        });
        if let Some(health) = &health {
            tasks.push(health.spawn(config.health_check_interval()));
        }
        tracing::debug!(sensors = delegate.len(), "monitoring attached");
        Ok(Monitoring {
            #[cfg(feature = "prometheus")]
            prometheus: config.prometheus().then(|| {
                let registry = self.registry.unwrap_or_default();
                Arc::new(crate::prometheus::PrometheusMonitor::with_registry(
                    Arc::clone(&monitor),
                    registry,
                    config.prometheus_prefix(),
                ))
            }),
            #[cfg(feature = "statsd")]
            statsd,
            monitor,
            delegate,
            health,
            attached,
            tasks,
        })
    }
}

/// Runs `tick` every `interval` on the current tokio runtime (a late tick is not caught up
/// in a burst) until the returned task is aborted.
pub(crate) fn spawn_every(
    interval: std::time::Duration,
    mut tick: impl FnMut() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            tick();
        }
    })
}
