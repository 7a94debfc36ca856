//! The states of start/end hook pairs: [`Paired`] keeps, for one operation, each state
//! a start hook returned and the list of sensors that returned them, so the end hooks go
//! to exactly those sensors.

use std::sync::Arc;
use std::time::Instant;

use super::delegate::Sensors;
use super::hooks::*;
use super::{Sensor, SensorResult};
use smallvec::SmallVec;

/// The hooks' states of one operation, one per sensor that saw it start, with the list of
/// those sensors: the end hooks go to exactly them, even if sensors were added or removed
/// meanwhile.
pub struct Paired<S> {
    sensors: Arc<Sensors>,
    states: SmallVec<[S; 4]>,
}

impl<S> std::fmt::Debug for Paired<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paired")
            .field("sensors", &self.sensors.len())
            .finish_non_exhaustive()
    }
}

impl<S: Copy> Paired<S> {
    /// Runs the start hook `call` on each of `sensors`; a sensor that fails gets
    /// `default` as its state.
    pub(super) fn start(
        sensors: Arc<Sensors>,
        default: S,
        hook: &'static str,
        call: impl Fn(&dyn Sensor) -> SensorResult<S>,
    ) -> Self {
        let states = sensors
            .iter()
            .map(|entry| entry.run(hook, &call).unwrap_or(default))
            .collect();
        Self { sensors, states }
    }

    fn end(self, hook: &'static str, call: impl Fn(&dyn Sensor, S) -> SensorResult) {
        for (entry, state) in self.sensors.iter().zip(self.states) {
            entry.run(hook, |sensor| call(sensor, state));
        }
    }

    fn map(self, hook: &'static str, call: impl Fn(&dyn Sensor, S) -> SensorResult<S>) -> Self {
        let states = self
            .sensors
            .iter()
            .zip(self.states)
            .map(|(entry, state)| {
                entry
                    .run(hook, |sensor| call(sensor, state))
                    .unwrap_or(state)
            })
            .collect();
        Self {
            sensors: self.sensors,
            states,
        }
    }
}

impl Paired<SendState> {
    /// The broker acknowledged the event.
    pub fn on_send_completed(self, done: &Delivered<'_>) {
        self.end("on_send_completed", |s, state| {
            s.on_send_completed(state, done)
        });
    }

    /// The event was not delivered.
    pub fn on_send_error(self, failure: &SendFailure<'_>) {
        self.end("on_send_error", |s, state| s.on_send_error(state, failure));
    }
}

impl Paired<MessageState> {
    /// The consumer is done with the message.
    pub fn on_message_out(self, message: &MessageIn<'_>) {
        self.end("on_message_out", |s, state| {
            s.on_message_out(state, message)
        });
    }
}

impl Paired<StreamEventState> {
    /// The application's handler returned.
    pub fn on_stream_event_out(self, event: &StreamEvent<'_>) {
        self.end("on_stream_event_out", |s, state| {
            s.on_stream_event_out(state, event)
        });
    }
}

impl Paired<DecodeState> {
    /// The message was decoded.
    pub fn on_decode_end(self, decoded: &Decoded<'_>) {
        self.end("on_decode_end", |s, state| s.on_decode_end(state, decoded));
    }

    /// The message could not be decoded.
    pub fn on_decode_error(self, failure: &DecodeFailure<'_>) {
        self.end("on_decode_error", |s, state| {
            s.on_decode_error(state, failure)
        });
    }
}

impl Paired<CommitState> {
    /// The commit ended.
    pub fn on_commit_completed(self, done: &CommitDone) {
        self.end("on_commit_completed", |s, state| {
            s.on_commit_completed(state, done)
        });
    }
}

impl Paired<RebalanceState> {
    /// The group returned the new assignment.
    pub fn on_rebalance_return(self, at: Instant) -> Self {
        self.map("on_rebalance_return", |s, state| {
            s.on_rebalance_return(state, at)
        })
    }

    /// The consumer resumed.
    pub fn on_rebalance_end(self, at: Instant) {
        self.end("on_rebalance_end", |s, state| s.on_rebalance_end(state, at));
    }
}

impl Paired<AssignmentState> {
    /// The consumer took its assigned partitions.
    pub fn on_assignment_completed(self, at: Instant) {
        self.end("on_assignment_completed", |s, state| {
            s.on_assignment_completed(state, at)
        });
    }

    /// The assignment failed.
    pub fn on_assignment_error(self, failure: &AssignmentFailure<'_>) {
        self.end("on_assignment_error", |s, state| {
            s.on_assignment_error(state, failure)
        });
    }
}

impl Paired<WebRequestState> {
    /// The response is ready.
    pub fn on_web_request_end(self, response: &WebResponse<'_>) {
        self.end("on_web_request_end", |s, state| {
            s.on_web_request_end(state, response)
        });
    }
}
