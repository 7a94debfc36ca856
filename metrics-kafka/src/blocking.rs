//! Blocking Kafka client calls (metadata, flush, commits, watermarks) run off the async
//! threads, for the producer's backend and the consumer alike.

use std::time::Duration;

use metrics_core::EventError;

use crate::error::Error;

/// An error for blocking client work that never answered (it panicked or was cancelled).
pub(crate) trait Unanswered {
    /// The error.
    fn unanswered() -> Self;
}

impl Unanswered for EventError {
    fn unanswered() -> Self {
        Error::NoAnswer {
            step: "a blocking Kafka client call panicked or was cancelled",
            waited: Duration::ZERO,
        }
        .into()
    }
}

/// Runs blocking client work (metadata, flush, commits, watermarks) off the async threads.
pub(crate) async fn blocking<T: Send + 'static, E: Unanswered + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(E::unanswered()))
}
