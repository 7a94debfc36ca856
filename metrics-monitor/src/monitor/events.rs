//! Per-event-type send counters, found by [`EventKey`] without hashing: the publishing
//! path's counters live here, one cache line per event type, apart from the delivery
//! thread's.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::labeled::SharedMap;
use metrics_core::sensor::EventKey;

/// How many event keys get a slot of their own (later keys share a map).
const SLOTS: usize = 256;

/// What the publishing path counts for one event type.
#[repr(align(64))]
pub(crate) struct EventCounters {
    pub(crate) topic: Box<str>,
    pub(crate) event: Box<str>,
    sent: AtomicU64,
    bytes: AtomicU64,
}

impl EventCounters {
    fn new(topic: &str, event: &str) -> Self {
        Self {
            topic: topic.into(),
            event: event.into(),
            sent: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn add(&self, bytes: u64) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Events sent and bytes sent.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// The counters of every event type seen, by key.
pub(crate) struct EventTable {
    slots: Box<[OnceLock<EventCounters>]>,
    overflow: SharedMap<Overflow, EventCounters>,
}

/// The map key of an event key without a slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Overflow(EventKey);

impl From<&Overflow> for Overflow {
    fn from(key: &Overflow) -> Self {
        *key
    }
}

impl EventTable {
    pub(crate) fn new() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: SharedMap::new(),
        }
    }

    /// Counts one event of `bytes` for `key`, naming it `topic`, `event` the first time.
    pub(crate) fn sent(&self, key: EventKey, topic: &str, event: &str, bytes: u64) {
        let make = || EventCounters::new(topic, event);
        match self.slots.get(key.index()) {
            Some(slot) => slot.get_or_init(make).add(bytes),
            None => self.overflow.with(&Overflow(key), make, |c| c.add(bytes)),
        }
    }

    /// Runs `f` on the counters of every event type seen.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&EventCounters)) {
        self.slots.iter().filter_map(OnceLock::get).for_each(&mut f);
        for (_, counters) in self.overflow.entries() {
            f(&counters);
        }
    }

    /// Events sent, all types together.
    pub(crate) fn total_sent(&self) -> u64 {
        let mut total = 0;
        self.for_each(|c| total += c.counts().0);
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_beyond_the_slots_are_counted_too() {
        let table = EventTable::new();
        let low = EventKey::new();
        table.sent(low, "t", "query", 10);
        table.sent(low, "t", "query", 5);
        // A key past the slots, whatever keys other tests took.
        let high = std::iter::repeat_with(EventKey::new)
            .find(|k| k.index() >= SLOTS)
            .expect("keys grow");
        table.sent(high, "t", "login", 7);
        let mut seen = Vec::new();
        table.for_each(|c| seen.push((c.topic.to_string(), c.event.to_string(), c.counts())));
        seen.sort();
        assert_eq!(
            seen,
            [
                ("t".into(), "login".into(), (1, 7)),
                ("t".into(), "query".into(), (2, 15))
            ]
        );
        assert_eq!(table.total_sent(), 3);
    }
}
