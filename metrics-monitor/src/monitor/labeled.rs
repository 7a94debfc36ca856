//! Values by label, read and updated without a lock: a copy-on-write map (labels are few
//! and stable: topics, events, error kinds, partitions) of shared atomics.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hashbrown::{Equivalent, HashMap};

use metrics_core::sync::lock;

/// Values keyed by `K`, read without a lock; a new key copies the map (the only path
/// that locks).
pub(crate) struct SharedMap<K, V> {
    map: ArcSwap<HashMap<K, Arc<V>>>,
    insert: Mutex<()>,
}

impl<K: Eq + Hash + Clone, V> SharedMap<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            map: ArcSwap::from_pointee(HashMap::new()),
            insert: Mutex::new(()),
        }
    }

    /// Runs `f` on the value of `key`, made by `make` the first time.
    pub(crate) fn with<Q, R>(&self, key: &Q, make: impl FnOnce() -> V, f: impl FnOnce(&V) -> R) -> R
    where
        Q: Hash + Equivalent<K> + ?Sized,
        for<'a> &'a Q: Into<K>,
    {
        if let Some(value) = self.map.load().get(key) {
            return f(value);
        }
        let _insert = lock(&self.insert);
        let current = self.map.load();
        if let Some(value) = current.get(key) {
            return f(value);
        }
        let value = Arc::new(make());
        let result = f(&value);
        let mut next = HashMap::clone(&current);
        next.insert(key.into(), value);
        self.map.store(Arc::new(next));
        result
    }

    /// The value of `key`, if it exists.
    #[cfg(test)]
    pub(crate) fn get<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<Arc<V>> {
        self.map.load().get(key).cloned()
    }

    /// Every entry.
    pub(crate) fn entries(&self) -> Vec<(K, Arc<V>)> {
        self.map
            .load()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }
}

/// Counters keyed by `K`.
pub(crate) type Labeled<K> = SharedMap<K, AtomicU64>;

impl<K: Eq + Hash + Clone> SharedMap<K, AtomicU64> {
    /// Adds `n` to the counter of `key`.
    pub(crate) fn add<Q>(&self, key: &Q, n: u64)
    where
        Q: Hash + Equivalent<K> + ?Sized,
        for<'a> &'a Q: Into<K>,
    {
        self.with(key, AtomicU64::default, |c| {
            c.fetch_add(n, Ordering::Relaxed)
        });
    }

    /// The counter of `key`, if it exists.
    #[cfg(test)]
    pub(crate) fn count<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<u64> {
        self.get(key).map(|c| c.load(Ordering::Relaxed))
    }

    /// Every counter.
    pub(crate) fn counts(&self) -> Vec<(K, u64)> {
        self.entries()
            .into_iter()
            .map(|(k, c)| (k, c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Three label values, looked up without building the owned key.
#[derive(Hash)]
pub(crate) struct Triple<'a>(pub &'a str, pub &'a str, pub &'a str);

impl Equivalent<(Box<str>, Box<str>, Box<str>)> for Triple<'_> {
    fn equivalent(&self, key: &(Box<str>, Box<str>, Box<str>)) -> bool {
        *key.0 == *self.0 && *key.1 == *self.1 && *key.2 == *self.2
    }
}

impl From<&Triple<'_>> for (Box<str>, Box<str>, Box<str>) {
    fn from(t: &Triple<'_>) -> Self {
        (t.0.into(), t.1.into(), t.2.into())
    }
}

/// An HTTP response's method, route template and status, looked up without building the
/// owned key.
#[derive(Hash)]
pub(crate) struct Response<'a>(pub &'a str, pub &'a str, pub u16);

impl Equivalent<(Box<str>, Box<str>, u16)> for Response<'_> {
    fn equivalent(&self, key: &(Box<str>, Box<str>, u16)) -> bool {
        *key.0 == *self.0 && *key.1 == *self.1 && key.2 == self.2
    }
}

impl From<&Response<'_>> for (Box<str>, Box<str>, u16) {
    fn from(r: &Response<'_>) -> Self {
        (r.0.into(), r.1.into(), r.2)
    }
}

/// Two label values, looked up without building the owned key.
#[derive(Hash)]
pub(crate) struct Pair<'a>(pub &'a str, pub &'a str);

impl Equivalent<(Box<str>, Box<str>)> for Pair<'_> {
    fn equivalent(&self, key: &(Box<str>, Box<str>)) -> bool {
        *key.0 == *self.0 && *key.1 == *self.1
    }
}

impl From<&Pair<'_>> for (Box<str>, Box<str>) {
    fn from(pair: &Pair<'_>) -> Self {
        (pair.0.into(), pair.1.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn counters_are_created_once_and_shared() {
        let by_topic: Labeled<Box<str>> = Labeled::new();
        by_topic.add("a", 1);
        by_topic.add("a", 2);
        by_topic.add("b", 5);
        assert_eq!(by_topic.count("a"), Some(3));
        assert_eq!(by_topic.count("c"), None);
        let mut all = by_topic.counts();
        all.sort();
        assert_eq!(all, [("a".into(), 3), ("b".into(), 5)]);
    }

    #[test]
    fn pairs_hash_like_their_owned_keys() {
        let pairs: Labeled<(Box<str>, Box<str>)> = Labeled::new();
        pairs.add(&Pair("t", "query"), 2);
        pairs.add(&Pair("t", "query"), 1);
        pairs.add(&Pair("t", "login"), 1);
        assert_eq!(pairs.count(&Pair("t", "query")), Some(3));
        assert_eq!(pairs.counts().len(), 2);
    }

    #[test]
    fn concurrent_increments_are_all_counted() {
        let counters: Arc<Labeled<Box<str>>> = Arc::new(Labeled::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let counters = Arc::clone(&counters);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        counters.add(if i % 2 == 0 { "even" } else { "odd" }, 1);
                        counters.add(&*format!("t{t}"), 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counters.count("even"), Some(2000));
        assert_eq!(counters.count("odd"), Some(2000));
        assert_eq!(counters.count("t3"), Some(1000));
    }
}
