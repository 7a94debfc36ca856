//! The no-op backend (`METRICS_ENABLED=false`): events are built and validated, then
//! dropped.

use std::sync::Arc;

use crate::backend::{BoxFuture, EventBackend, EventDescriptor, EventSink, OutgoingEvent};
use crate::error::EventError;
use crate::sensor::SinkSensors;

/// Sends nothing; logs each event at debug level.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopBackend;

#[derive(Debug)]
struct NoopSink {
    sensors: SinkSensors,
}

impl EventBackend for NoopBackend {
    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
        let sink = NoopSink {
            sensors: event.sink_sensors(),
        };
        Box::pin(async move { Ok(Arc::new(sink) as Arc<dyn EventSink>) })
    }
}

impl EventSink for NoopSink {
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        tracing::debug!(event = self.sensors.event(), id = %event.metadata().id(), "metrics disabled: event not sent");
        // Nothing is sent, so nothing can fail: reported as delivered nowhere.
        let started = self.sensors.observe(event);
        self.sensors
            .completed(started, -1, -1, std::time::Duration::ZERO);
        Ok(())
    }
}
