//! The no-op backend (`METRICS_ENABLED=false`): events are built and validated, then
//! dropped.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{
    BoxFuture, DeliveryReport, EventBackend, EventDescriptor, EventSink, OutgoingEvent,
};
use crate::error::EventError;

/// Sends nothing; logs each event at debug level.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopBackend;

#[derive(Debug)]
struct NoopSink {
    name: String,
}

impl NoopSink {
    fn log(&self, event: &dyn OutgoingEvent) {
        tracing::debug!(event = %self.name, id = %event.metadata().id(), "metrics disabled: event not sent");
    }
}

impl EventBackend for NoopBackend {
    fn initialize(&self) -> BoxFuture<'_, Result<(), EventError>> {
        Box::pin(async { Ok(()) })
    }

    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
        let sink = NoopSink {
            name: event.name.clone(),
        };
        Box::pin(async move { Ok(Arc::new(sink) as Arc<dyn EventSink>) })
    }

    fn flush(&self, _timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        Box::pin(async { Ok(DeliveryReport::default()) })
    }

    fn close(&self, _timeout: Duration) -> BoxFuture<'_, Result<DeliveryReport, EventError>> {
        Box::pin(async { Ok(DeliveryReport::default()) })
    }
}

impl EventSink for NoopSink {
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        self.log(event);
        Ok(())
    }

    fn send_confirmed(
        &self,
        event: &dyn OutgoingEvent,
    ) -> BoxFuture<'static, Result<(), EventError>> {
        self.log(event);
        Box::pin(async { Ok(()) })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
