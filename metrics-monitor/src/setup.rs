//! `setup_monitoring`: one call that attaches the Monitor, the configured exporters and
//! the application's own sensors to a manager, and starts what runs in the background.

use std::sync::Arc;

use metrics_core::monitor::MonitorOptions;
use metrics_core::sensor::{SensorDelegate, SensorId, SystemClock};
use metrics_core::{EventManager, Monitor, Sensor};

use crate::config::MonitoringConfig;
use crate::health::{HealthMonitor, HealthThresholds};
use crate::logging::LoggingSensor;

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
/// tasks; [`detach`](Self::detach) also removes the sensors from the manager.
#[derive(Debug)]
pub struct Monitoring {
    monitor: Arc<Monitor>,
    delegate: Arc<SensorDelegate>,
    health: Option<Arc<HealthMonitor>>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<Arc<crate::prometheus::PrometheusMonitor>>,
    attached: Vec<SensorId>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Monitoring {
    /// The Monitor: counts, latencies, offsets, rates, the application's own metrics.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// The manager's sensors, with everything attached.
    pub fn delegate(&self) -> &Arc<SensorDelegate> {
        &self.delegate
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

    /// Stops the background tasks and removes the attached sensors from the manager.
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
    }
}

/// Attaches monitoring to `manager` as `config` says, plus the application's own
/// `sensors`, and starts the rate sampler and the health checks on the current tokio
/// runtime.
///
/// Attached, in order: the [`Monitor`]; a [`LoggingSensor`] when
/// `METRICS_MONITOR_LOG_LEVEL` is set; a `StatsdMonitor` when
/// `METRICS_MONITOR_STATSD_ADDRESS` is set (feature `statsd`); then `sensors`. The
/// Prometheus export (feature `prometheus`) and the health checks read the Monitor.
///
/// ```
/// use std::sync::Arc;
/// use metrics_core::{EventManager, MetricsConfig};
/// use metrics_monitor::{MonitoringConfig, setup_monitoring};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let manager = EventManager::noop(&MetricsConfig::builder("app").build()?);
/// let monitoring = setup_monitoring(&manager, &MonitoringConfig::builder().build()?, Vec::new())?;
/// assert_eq!(monitoring.monitor().snapshot().messages_sent, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// No tokio runtime is running, or the StatsD client cannot be created.
pub fn setup_monitoring(
    manager: &EventManager,
    config: &MonitoringConfig,
    sensors: Vec<Arc<dyn Sensor>>,
) -> Result<Monitoring, MonitoringError> {
    tokio::runtime::Handle::try_current().map_err(|_| MonitoringError::NoRuntime)?;
    let delegate = Arc::clone(manager.sensors());
    let monitor = Arc::new(Monitor::with_options(
        MonitorOptions::all(config.max_history()),
        Arc::new(SystemClock),
    ));
    let mut attached = vec![delegate.add(monitor.clone())];
    if let Some(level) = config.log_level() {
        attached.push(delegate.add(Arc::new(LoggingSensor::new(level, config.log_detail()))));
    }
    #[cfg(feature = "statsd")]
    let mut flushed = None;
    #[cfg(feature = "statsd")]
    if let Some(address) = config.statsd_address() {
        let statsd = crate::statsd::StatsdMonitor::new(
            address,
            config.statsd_prefix(),
            &[("app", manager.application())],
        )
        .map_err(|source| MonitoringError::Statsd {
            address: address.to_owned(),
            source,
        })?;
        let statsd = Arc::new(statsd);
        flushed = Some(Arc::clone(&statsd));
        attached.push(delegate.add(statsd));
    }
    for sensor in sensors {
        attached.push(delegate.add(sensor));
    }

    let mut tasks = Vec::new();
    let sampled = Arc::clone(&monitor);
    tasks.push(spawn_every(config.sample_interval(), move || {
        sampled.sample();
        // A quiet application's StatsD metrics do not wait for a full packet.
        #[cfg(feature = "statsd")]
        if let Some(statsd) = &flushed {
            statsd.flush();
        }
    }));
    let health = config.health().then(|| {
        Arc::new(HealthMonitor::new(
            Arc::clone(&monitor),
            HealthThresholds::from_config(config),
        ))
    });
    if let Some(health) = &health {
        tasks.push(health.spawn(config.health_check_interval()));
    }
    tracing::debug!(sensors = delegate.len(), "monitoring attached");
    Ok(Monitoring {
        #[cfg(feature = "prometheus")]
        prometheus: config.prometheus().then(|| {
            Arc::new(crate::prometheus::PrometheusMonitor::new(
                Arc::clone(&monitor),
                config.prometheus_prefix(),
            ))
        }),
        monitor,
        delegate,
        health,
        attached,
        tasks,
    })
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
