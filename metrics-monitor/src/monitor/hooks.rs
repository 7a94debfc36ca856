//! How each sensor hook changes the [`Monitor`]: a few atomic operations each.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::labeled::{Response, Triple};
use super::offsets::Which;
use super::{LatencyKind, Monitor};
use metrics_core::sensor::{
    AssignmentFailure, AssignmentState, CommitDone, CommitState, CustomMetric, DecodeFailure,
    DecodeState, Decoded, Delivered, DirectSendSensor, Encoded, MessageIn, MessageState,
    PartitionOffset, RebalanceState, RegistryCall, SendFailure, SendInfo, SendState, Sensor,
    SensorResult, StreamEvent, StreamEventState, WebRequestState, WebResponse,
};

impl Sensor for Monitor {
    fn name(&self) -> &str {
        "monitor"
    }

    fn metrics(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.snapshot()).ok()
    }

    fn on_send_initiated(&self, send: &SendInfo<'_>) -> SensorResult<SendState> {
        let bytes = (send.key_size + send.value_size) as u64;
        self.events.sent(send.key, send.topic, send.event, bytes);
        Ok(SendState::at(send.at))
    }

    fn on_send_completed(&self, state: SendState, done: &Delivered<'_>) -> SensorResult {
        self.delivered(state.elapsed(done.at), done.at);
        Ok(())
    }

    fn on_send_error(&self, _state: SendState, failure: &SendFailure<'_>) -> SensorResult {
        self.send_failed(failure);
        Ok(())
    }

    fn on_topic_buffer_full(&self, topic: &str) -> SensorResult {
        self.topic_buffer_full.add(topic, 1);
        Ok(())
    }

    fn on_custom_metric(&self, metric: &CustomMetric<'_>) -> SensorResult {
        self.custom.record(metric);
        Ok(())
    }

    fn on_encode(&self, encoded: &Encoded<'_>) -> SensorResult {
        self.encoded(encoded);
        Ok(())
    }

    fn on_registry_call(&self, call: &RegistryCall<'_>) -> SensorResult {
        self.registry_calls.fetch_add(1, Ordering::Relaxed);
        if call.cache_hit {
            self.registry_cache_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.latencies
                .get(LatencyKind::Registry)
                .record(call.elapsed);
        }
        if call.error.is_some() {
            self.registry_errors.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn on_message_in(&self, message: &MessageIn<'_>) -> SensorResult<MessageState> {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.received_by_topic.add(message.tp.topic, 1);
        self.messages_active.fetch_add(1, Ordering::Relaxed);
        self.offsets.set(&message.tp, Which::Read, message.offset);
        Ok(MessageState::at(message.at))
    }

    fn on_message_out(&self, _state: MessageState, _message: &MessageIn<'_>) -> SensorResult {
        self.messages_active.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_stream_event_in(&self, event: &StreamEvent<'_>) -> SensorResult<StreamEventState> {
        self.events_total.fetch_add(1, Ordering::Relaxed);
        self.events_by_event.add(event.event, 1);
        self.events_active.fetch_add(1, Ordering::Relaxed);
        Ok(StreamEventState::at(event.at))
    }

    fn on_stream_event_out(
        &self,
        state: StreamEventState,
        event: &StreamEvent<'_>,
    ) -> SensorResult {
        self.events_active.fetch_sub(1, Ordering::Relaxed);
        self.latencies
            .get(LatencyKind::EventProcessing)
            .record(state.elapsed(event.at));
        Ok(())
    }

    fn on_decode_end(&self, state: DecodeState, decoded: &Decoded<'_>) -> SensorResult {
        self.latencies
            .get(LatencyKind::Decode)
            .record(state.elapsed(decoded.at));
        Ok(())
    }

    fn on_decode_error(&self, state: DecodeState, failure: &DecodeFailure<'_>) -> SensorResult {
        self.decode_errors_by_kind[failure.kind as usize].fetch_add(1, Ordering::Relaxed);
        self.latencies
            .get(LatencyKind::Decode)
            .record(state.elapsed(failure.at));
        Ok(())
    }

    fn on_commit_completed(&self, state: CommitState, done: &CommitDone) -> SensorResult {
        self.commits.fetch_add(1, Ordering::Relaxed);
        if !done.ok {
            self.commit_errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latencies
            .get(LatencyKind::Commit)
            .record(state.elapsed(done.at));
        Ok(())
    }

    fn on_tp_commit(&self, offsets: &[PartitionOffset<'_>]) -> SensorResult {
        for committed in offsets {
            self.offsets
                .set(&committed.tp, Which::Committed, committed.offset);
        }
        Ok(())
    }

    fn track_tp_end_offset(&self, end: &PartitionOffset<'_>) -> SensorResult {
        self.offsets.set(&end.tp, Which::End, end.offset);
        Ok(())
    }

    fn on_assignment_completed(&self, state: AssignmentState, at: Instant) -> SensorResult {
        self.latencies
            .get(LatencyKind::Assignment)
            .record(state.elapsed(at));
        Ok(())
    }

    fn on_assignment_error(
        &self,
        _state: AssignmentState,
        _failure: &AssignmentFailure<'_>,
    ) -> SensorResult {
        self.assignment_errors.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_rebalance_start(&self, at: Instant) -> SensorResult<RebalanceState> {
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        Ok(RebalanceState::at(at))
    }

    fn on_rebalance_return(
        &self,
        state: RebalanceState,
        at: Instant,
    ) -> SensorResult<RebalanceState> {
        self.latencies
            .get(LatencyKind::RebalanceReturn)
            .record(state.elapsed(at));
        Ok(RebalanceState {
            returned: Some(at),
            ..state
        })
    }

    fn on_rebalance_end(&self, state: RebalanceState, at: Instant) -> SensorResult {
        self.latencies
            .get(LatencyKind::RebalanceEnd)
            .record(state.elapsed(at));
        Ok(())
    }

    fn on_web_request_end(
        &self,
        state: WebRequestState,
        response: &WebResponse<'_>,
    ) -> SensorResult {
        self.http_responses.add(
            &Response(response.method, response.route, response.status),
            1,
        );
        self.latencies
            .get(LatencyKind::Http)
            .record(state.elapsed(response.at));
        Ok(())
    }
}

/// The Monitor's publishing counters, as `setup_monitoring` attaches them: no clock
/// reading on the publishing thread, the send latency as librdkafka measured it.
impl DirectSendSensor for Monitor {
    fn on_sent(&self, encoded: &Encoded<'_>, value_size: usize) {
        self.encoded(encoded);
        self.events
            .sent(encoded.key, encoded.topic, encoded.event, value_size as u64);
    }

    fn on_delivered(&self, latency: Duration) {
        // Seconds since the last delivery need no more than the coarse clock.
        self.delivered(latency, self.clock.recent());
    }

    fn on_send_failed(&self, failure: &SendFailure<'_>) {
        self.send_failed(failure);
    }
}

/// What the two ways in (the `Sensor` hooks and the direct ones) share.
impl Monitor {
    fn encoded(&self, encoded: &Encoded<'_>) {
        if let Some(elapsed) = encoded.elapsed {
            self.latencies.get(LatencyKind::Encode).record(elapsed);
        }
    }

    fn delivered(&self, latency: Duration, at: Instant) {
        self.latencies.get(LatencyKind::Send).record(latency);
        let since_created = at.saturating_duration_since(self.created).as_nanos();
        let nanos = u64::try_from(since_created).unwrap_or(u64::MAX - 1) + 1;
        // Deliveries are reported by one thread, in order: a plain store keeps the
        // latest (the check only guards against a report from another thread).
        let last = &self.outcomes.last_delivery;
        if nanos > last.load(Ordering::Relaxed) {
            last.store(nanos, Ordering::Relaxed);
        }
        // Released after the send's count, which `in_flight` reads second.
        self.outcomes.delivered.fetch_add(1, Ordering::Release);
    }

    fn send_failed(&self, failure: &SendFailure<'_>) {
        self.outcomes.send_errors.fetch_add(1, Ordering::Release);
        self.send_errors_by_kind[failure.kind as usize].fetch_add(1, Ordering::Relaxed);
        self.send_errors_by_event.add(
            &Triple(failure.topic, failure.event, failure.kind.as_str()),
            1,
        );
    }
}
