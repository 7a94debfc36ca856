//! Per-second rates, from the difference of counters between two samples taken by a
//! clock (the system's, or a manual one in tests).

use std::time::Instant;

use serde::Serialize;

/// The counters rates are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) events: u64,
    pub(crate) send_errors: u64,
}

/// Events per second between the last two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Events handed to the producer per second.
    pub messages_sent_per_second: f64,
    /// Messages read per second.
    pub messages_received_per_second: f64,
    /// Decoded events handed to the application per second.
    pub events_per_second: f64,
    /// Send errors per second.
    pub send_errors_per_second: f64,
}

/// The previous sample and the rates since it.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    last: Option<(Instant, Counts)>,
    rates: Rates,
}

impl Sampler {
    /// Takes a sample at `now`; the rates are over the time since the previous one (a
    /// sample at the same instant changes nothing).
    pub(crate) fn sample(&mut self, now: Instant, counts: Counts) -> Rates {
        if let Some((then, before)) = self.last {
            let seconds = now.saturating_duration_since(then).as_secs_f64();
            if seconds <= 0.0 {
                return self.rates;
            }
            let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / seconds;
            self.rates = Rates {
                messages_sent_per_second: rate(counts.sent, before.sent),
                messages_received_per_second: rate(counts.received, before.received),
                events_per_second: rate(counts.events, before.events),
                send_errors_per_second: rate(counts.send_errors, before.send_errors),
            };
        }
        self.last = Some((now, counts));
        self.rates
    }

    pub(crate) fn rates(&self) -> Rates {
        self.rates
    }
}
