//! A cache that is only trusted while a watch stream tells it about every change.
//!
//! The gateway remembers answers of the services (a token's user, a room's members) to save
//! a call per request. Remembering is only safe while the watch that reports revocations or
//! leaves is connected, so: entries are used and kept only while `following` (the cache is
//! emptied when the watch connects or breaks), a change forgets its entry at once, and an
//! answer fetched while any change arrived is not remembered (it may predate the change):
//! every change bumps a generation, and [`WatchedCache::remember`] needs the generation seen
//! before the call.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

/// Entries kept at most; past this, the cache starts over rather than grow.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub(crate) struct WatchedCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    following: AtomicBool,
    generation: AtomicU64,
}

impl<K, V> Default for WatchedCache<K, V> {
    fn default() -> Self {
        Self { entries: Mutex::default(), following: AtomicBool::new(false), generation: AtomicU64::new(0) }
    }
}

/// The generation a lookup saw: what [`WatchedCache::remember`] checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> WatchedCache<K, V> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The remembered value, or a ticket to remember the answer the caller goes to fetch.
    pub(crate) fn get(&self, key: &K) -> Result<V, Ticket> {
        let ticket = Ticket { generation: self.generation.load(Ordering::Acquire) };
        if !self.following.load(Ordering::Acquire) {
            return Err(ticket);
        }
        match self.lock().get(key) {
            Some((value, until)) if *until > Instant::now() => Ok(value.clone()),
            _ => Err(ticket),
        }
    }

    /// Remembers `value` until `until`, unless a change arrived since `ticket` was taken.
    pub(crate) fn remember(&self, key: K, value: V, until: Instant, ticket: Ticket) {
        let mut entries = self.lock();
        // Checked under the lock, which every change also takes: none can slip in between.
        if !self.following.load(Ordering::Acquire) || self.generation.load(Ordering::Acquire) != ticket.generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (value, until));
    }

    /// A change: forget every entry `matches` selects.
    pub(crate) fn forget_where(&self, mut matches: impl FnMut(&K, &V) -> bool) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|key, (value, _)| !matches(key, value));
    }

    /// A change to one key.
    pub(crate) fn forget(&self, key: &K) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// The watch is (re)connected, or broke: either way, start from nothing.
    pub(crate) fn set_following(&self, following: bool) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.following.store(following, Ordering::Release);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn nothing_is_remembered_unless_the_watch_is_followed() {
        let cache = WatchedCache::<&str, u32>::default();
        let ticket = cache.get(&"k").unwrap_err();
        cache.remember("k", 1, later(), ticket);
        assert!(cache.get(&"k").is_err());

        cache.set_following(true);
        let ticket = cache.get(&"k").unwrap_err();
        cache.remember("k", 1, later(), ticket);
        assert_eq!(cache.get(&"k").ok(), Some(1));

        cache.set_following(false);
        assert!(cache.get(&"k").is_err(), "a broken watch empties the cache");
    }

    #[test]
    fn a_change_forgets_its_entry_and_voids_answers_in_flight() {
        let cache = WatchedCache::<&str, u32>::default();
        cache.set_following(true);
        let ticket = cache.get(&"a").unwrap_err();
        cache.remember("a", 1, later(), ticket);
        let in_flight = cache.get(&"b").unwrap_err();
        cache.forget(&"a");
        assert!(cache.get(&"a").is_err());
        cache.remember("b", 2, later(), in_flight);
        assert!(cache.get(&"b").is_err(), "fetched before a change, answered after it: not trusted");
    }

    #[test]
    fn entries_expire_and_can_be_forgotten_by_value() {
        let cache = WatchedCache::<&str, u32>::default();
        cache.set_following(true);
        let ticket = cache.get(&"old").unwrap_err();
        cache.remember("old", 1, Instant::now(), ticket);
        assert!(cache.get(&"old").is_err());
        let ticket = cache.get(&"t").unwrap_err();
        cache.remember("t", 7, later(), ticket);
        cache.forget_where(|_, value| *value == 7);
        assert!(cache.get(&"t").is_err());
    }
}
