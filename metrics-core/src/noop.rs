//! The no-op backend (`METRICS_ENABLED=false`): events are built and validated, then
//! dropped.

use std::any::Any;
use std::sync::Arc;

use crate::backend::{BoxFuture, EventBackend, EventDescriptor, EventSink, OutgoingEvent};
use crate::error::EventError;

/// Sends nothing; logs each event at debug level.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopBackend;

#[derive(Debug)]
struct NoopSink {
    name: String,
}

impl EventBackend for NoopBackend {
    fn create_sink(
        &self,
        event: &EventDescriptor,
    ) -> BoxFuture<'_, Result<Arc<dyn EventSink>, EventError>> {
        let sink = NoopSink {
            name: event.name.clone(),
        };
        Box::pin(async move { Ok(Arc::new(sink) as Arc<dyn EventSink>) })
    }
}

impl EventSink for NoopSink {
    fn send(&self, event: &dyn OutgoingEvent) -> Result<(), EventError> {
        tracing::debug!(event = %self.name, id = %event.metadata().id(), "metrics disabled: event not sent");
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
