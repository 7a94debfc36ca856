//! Read, committed and end offsets per topic partition, and the lag they give.

use std::sync::atomic::{AtomicI64, Ordering};

use hashbrown::Equivalent;
use serde::Serialize;

use super::labeled::SharedMap;
use metrics_core::sensor::TopicPartition;

/// "No offset seen yet".
const NONE: i64 = -1;

struct Offsets {
    read: AtomicI64,
    committed: AtomicI64,
    end: AtomicI64,
}

/// A topic partition looked up without building the owned key.
#[derive(Hash)]
struct Key<'a>(&'a str, i32);

impl Equivalent<(Box<str>, i32)> for Key<'_> {
    fn equivalent(&self, key: &(Box<str>, i32)) -> bool {
        *key.0 == *self.0 && key.1 == self.1
    }
}

impl From<&Key<'_>> for (Box<str>, i32) {
    fn from(key: &Key<'_>) -> Self {
        (key.0.into(), key.1)
    }
}

/// Which offset of a partition.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Which {
    Read,
    Committed,
    End,
}

/// The offsets of every partition seen, updated without a lock.
pub(crate) struct PartitionOffsets {
    map: SharedMap<(Box<str>, i32), Offsets>,
}

/// One partition's offsets and lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionSnapshot {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the last message read.
    pub read_offset: Option<i64>,
    /// The last committed offset (the next one to read after a restart).
    pub committed_offset: Option<i64>,
    /// The end offset (high watermark): the offset the next message will get.
    pub end_offset: Option<i64>,
    /// Messages not read yet: `end − (last read + 1)`, or `end − committed` before any
    /// read; never negative.
    pub lag: Option<i64>,
}

/// Messages not read yet: `end − (last read + 1)`; before any read, `end − committed`;
/// never negative (an end offset older than the read position gives 0); `None` without
/// an end offset or a position.
pub(crate) fn lag(read: Option<i64>, committed: Option<i64>, end: Option<i64>) -> Option<i64> {
    let position = match (read, committed) {
        (Some(read), _) => read + 1,
        (None, Some(committed)) => committed,
        (None, None) => return None,
    };
    end.map(|end| (end - position).max(0))
}

fn known(value: i64) -> Option<i64> {
    (value != NONE).then_some(value)
}

impl PartitionOffsets {
    pub(crate) fn new() -> Self {
        Self {
            map: SharedMap::new(),
        }
    }

    /// Records `offset` as the partition's `which` offset. Read and committed offsets
    /// only move forward (a rebalance does not reset them); the end offset is the latest
    /// seen.
    pub(crate) fn set(&self, tp: &TopicPartition<'_>, which: Which, offset: i64) {
        let make = || Offsets {
            read: AtomicI64::new(NONE),
            committed: AtomicI64::new(NONE),
            end: AtomicI64::new(NONE),
        };
        self.map
            .with(&Key(tp.topic, tp.partition), make, |offsets| match which {
                Which::Read => offsets.read.fetch_max(offset, Ordering::Relaxed),
                Which::Committed => offsets.committed.fetch_max(offset, Ordering::Relaxed),
                Which::End => offsets.end.swap(offset, Ordering::Relaxed),
            });
    }

    /// Every partition's offsets and lag, sorted by topic and partition.
    pub(crate) fn snapshot(&self) -> Vec<PartitionSnapshot> {
        let mut all: Vec<PartitionSnapshot> = self
            .map
            .entries()
            .into_iter()
            .map(|((topic, partition), offsets)| {
                let read = known(offsets.read.load(Ordering::Relaxed));
                let committed = known(offsets.committed.load(Ordering::Relaxed));
                let end = known(offsets.end.load(Ordering::Relaxed));
                PartitionSnapshot {
                    topic: topic.to_string(),
                    partition,
                    read_offset: read,
                    committed_offset: committed,
                    end_offset: end,
                    lag: lag(read, committed, end),
                }
            })
            .collect();
        all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: TopicPartition<'static> = TopicPartition {
        topic: "events",
        partition: 2,
    };

    #[test]
    fn lag_is_end_minus_the_next_offset_to_read() {
        assert_eq!(lag(Some(0), None, Some(1)), Some(0));
        assert_eq!(lag(Some(0), None, Some(5)), Some(4));
        assert_eq!(
            lag(Some(99), Some(50), Some(100)),
            Some(0),
            "read wins over committed"
        );
        assert_eq!(lag(None, Some(0), Some(0)), Some(0), "an empty partition");
        assert_eq!(lag(None, Some(0), Some(3)), Some(3));
        assert_eq!(lag(Some(5), None, None), None, "no end offset yet");
        assert_eq!(lag(Some(10), None, Some(3)), Some(0), "never negative");
    }

    #[test]
    fn offsets_only_move_forward_except_the_end() {
        let offsets = PartitionOffsets::new();
        offsets.set(&TP, Which::Read, 7);
        offsets.set(&TP, Which::Read, 3);
        offsets.set(&TP, Which::Committed, 8);
        offsets.set(&TP, Which::End, 20);
        offsets.set(&TP, Which::End, 15);
        let all = offsets.snapshot();
        assert_eq!(
            all,
            [PartitionSnapshot {
                topic: "events".into(),
                partition: 2,
                read_offset: Some(7),
                committed_offset: Some(8),
                end_offset: Some(15),
                lag: Some(7),
            }]
        );
    }

    #[test]
    fn lag_counts_the_messages_after_the_read_position() {
        assert_eq!(
            lag(Some(9), None, Some(10)),
            Some(0),
            "the last message was read"
        );
        assert_eq!(lag(Some(4), None, Some(10)), Some(5));
        assert_eq!(lag(None, Some(3), Some(10)), Some(7));
        assert_eq!(lag(Some(12), None, Some(10)), Some(0), "a stale end offset");
        assert_eq!(lag(None, None, Some(10)), None);
    }
}
