//! Abuse limits of one gateway: token buckets keyed by user, room creator or webhook.
//! (Failed logins and registrations are limited by the auth service, in its database, so
//! that those limits hold across gateways.)
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`; an action takes one.
//! Buckets live in memory per gateway process: a determined attacker spreading over many
//! gateways gets proportionally more, which these limits accept in exchange for needing no
//! shared store.
//!
//! Ours rather than `governor`'s keyed limiter because the login limits once needed a check
//! that charges nothing; they moved to the auth service, and this could become governor.
//! Buckets that refilled (nobody used them for a while) are forgotten by a sweep the gateway
//! runs periodically, and at most once a second when a limiter holds too many, never by
//! every insertion: a spray of new keys costs each of them one map insert.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

/// Buckets a limiter holds before an insertion sweeps out the idle ones (at most once per
/// [`SWEEP_GAP`]).
const MAX_BUCKETS: usize = 100_000;

/// The least time between two sweeps that insertions start.
const SWEEP_GAP: Duration = Duration::from_secs(1);

/// One limit: a burst and a refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

/// Every limit of the gateway; `enabled: false` (`DCHAT_RATE_LIMIT=off`) lifts them all.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    pub enabled: bool,
    /// Messages per user (default 20, then 10/s).
    pub messages: Rate,
    /// Rooms created per user, a taken id included (default 10, then 1 per 30 s).
    pub rooms: Rate,
    /// Posts per incoming webhook (default 10, then 1/s, as Slack allows): a runaway script
    /// cannot flood its room.
    pub webhook_posts: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            messages: Rate { burst: 20.0, per_second: 10.0 },
            rooms: Rate { burst: 10.0, per_second: 1.0 / 30.0 },
            webhook_posts: Rate { burst: 10.0, per_second: 1.0 },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
struct Buckets<K> {
    by_key: HashMap<K, Bucket>,
    last_sweep: Instant,
    /// Sweeps made so far (tests read it).
    sweeps: u64,
}

#[derive(Debug)]
pub(crate) struct Limiter<K> {
    rate: Rate,
    enabled: bool,
    buckets: Mutex<Buckets<K>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub(crate) fn new(rate: Rate, enabled: bool) -> Self {
        let buckets = Buckets { by_key: HashMap::new(), last_sweep: Instant::now(), sweeps: 0 };
        Self { rate, enabled, buckets: Mutex::new(buckets) }
    }

    // A std mutex: held for one map operation (or a sweep), never across an await.
    fn lock(&self) -> MutexGuard<'_, Buckets<K>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the buckets that refilled: remembering them changes nothing.
    pub(crate) fn retain_recent(&self) {
        let mut buckets = self.lock();
        self.sweep(&mut buckets, Instant::now());
    }

    fn sweep(&self, buckets: &mut Buckets<K>, now: Instant) {
        let Rate { burst, per_second } = self.rate;
        buckets.by_key.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < burst);
        buckets.last_sweep = now;
        buckets.sweeps += 1;
    }

    /// The bucket of `key` brought up to date.
    fn refilled(&self, buckets: &Buckets<K>, key: &K, now: Instant) -> Bucket {
        match buckets.by_key.get(key) {
            Some(bucket) => {
                let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
                Bucket { tokens: (bucket.tokens + elapsed * self.rate.per_second).min(self.rate.burst), at: now }
            }
            None => Bucket { tokens: self.rate.burst, at: now },
        }
    }

    /// How long until one token is available (zero if one is now).
    fn wait_for_token(&self, bucket: Bucket) -> Duration {
        if bucket.tokens >= 1.0 || self.rate.per_second <= 0.0 {
            return if bucket.tokens >= 1.0 { Duration::ZERO } else { Duration::MAX };
        }
        Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate.per_second)
    }

    /// Takes a token from `key`; `Err` (taking nothing) says how long to wait.
    pub(crate) fn take(&self, key: &K) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.lock();
        let mut bucket = self.refilled(&buckets, key, now);
        let wait = self.wait_for_token(bucket);
        if wait > Duration::ZERO {
            return Err(wait);
        }
        bucket.tokens -= 1.0;
        if buckets.by_key.len() >= MAX_BUCKETS && now.saturating_duration_since(buckets.last_sweep) >= SWEEP_GAP {
            self.sweep(&mut buckets, now);
        }
        buckets.by_key.insert(key.clone(), bucket);
        Ok(())
    }
}

/// Whole seconds for `Retry-After`, rounded up and at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_the_time_to_wait() {
        let limiter = Limiter::new(Rate { burst: 3.0, per_second: 0.5 }, true);
        for _ in 0..3 {
            limiter.take(&"k").unwrap();
        }
        let wait = limiter.take(&"k").unwrap_err();
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2), "{wait:?}");
        assert_eq!(retry_after_secs(wait), 2);
        assert!(limiter.take(&"other").is_ok(), "keys are independent");
    }

    /// A spray of new keys, each used once: they are forgotten once refilled, and past the
    /// cap an insertion sweeps at most once a second rather than every time.
    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_swept_and_a_spray_of_new_keys_sweeps_at_most_once_a_second() {
        let limiter = Limiter::new(Rate { burst: 2.0, per_second: 1.0 }, true);
        for key in 0..MAX_BUCKETS + 5_000 {
            limiter.take(&key).unwrap();
        }
        assert_eq!(limiter.lock().sweeps, 0, "nothing was idle yet to sweep, and the last sweep is under a second old");
        assert_eq!(limiter.lock().by_key.len(), MAX_BUCKETS + 5_000);
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.take(&usize::MAX).unwrap();
        limiter.take(&(usize::MAX - 1)).unwrap();
        assert_eq!(limiter.lock().sweeps, 1, "one sweep for two insertions past the cap");
        assert_eq!(limiter.lock().by_key.len(), 2, "the refilled buckets went");
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.retain_recent();
        assert!(limiter.lock().by_key.is_empty());
    }

    #[test]
    fn a_disabled_limiter_allows_everything() {
        let limiter = Limiter::new(Rate { burst: 0.0, per_second: 0.0 }, false);
        for _ in 0..100 {
            limiter.take(&1).unwrap();
        }
    }
}
