//! Abuse limits: token buckets keyed by account, IP address or user.
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`; an action takes one.
//! Buckets live in memory per gateway process: a determined attacker spreading over many
//! gateways gets proportionally more, which these limits accept in exchange for needing no
//! shared store.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

/// Buckets kept at most per limiter; past this, full (idle) buckets are forgotten.
const MAX_BUCKETS: usize = 100_000;

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
    /// Failed logins per address, and per account from one address (default 5, then 1 per
    /// 10 s).
    pub failed_logins: Rate,
    /// Failed logins per account from anywhere, softer (default 20, then 1 per 10 s): what
    /// stops guessing from many addresses. A device that signed in to the account before
    /// is not held by it, so strangers failing on purpose cannot lock the owner out.
    pub failed_logins_per_account: Rate,
    /// Registrations per IP (default 20, then 1/s).
    pub registrations: Rate,
    /// Messages per user (default 20, then 10/s).
    pub messages: Rate,
    /// Rooms created per user, a taken id included (default 10, then 1 per 30 s).
    pub rooms: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            failed_logins: Rate { burst: 5.0, per_second: 0.1 },
            failed_logins_per_account: Rate { burst: 20.0, per_second: 0.1 },
            registrations: Rate { burst: 20.0, per_second: 1.0 },
            messages: Rate { burst: 20.0, per_second: 10.0 },
            rooms: Rate { burst: 10.0, per_second: 1.0 / 30.0 },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub(crate) struct Limiter<K> {
    rate: Rate,
    enabled: bool,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub(crate) fn new(rate: Rate, enabled: bool) -> Self {
        Self { rate, enabled, buckets: Mutex::default() }
    }

    // A std mutex: held for one map operation, never across an await.
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Bucket>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bucket of `key` brought up to date.
    fn refilled(&self, buckets: &HashMap<K, Bucket>, key: &K, now: Instant) -> Bucket {
        match buckets.get(key) {
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

    /// Whether `key` has a token now, without taking it; `Err` says how long to wait.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let buckets = self.lock();
        let bucket = self.refilled(&buckets, key, Instant::now());
        match self.wait_for_token(bucket) {
            Duration::ZERO => Ok(()),
            wait => Err(wait),
        }
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
        if buckets.len() >= MAX_BUCKETS {
            let burst = self.rate.burst;
            let per_second = self.rate.per_second;
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < burst);
        }
        buckets.insert(key.clone(), bucket);
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
        assert!(limiter.check(&"k").is_err());
        assert!(limiter.take(&"other").is_ok(), "keys are independent");
    }

    #[test]
    fn a_disabled_limiter_allows_everything() {
        let limiter = Limiter::new(Rate { burst: 0.0, per_second: 0.0 }, false);
        for _ in 0..100 {
            limiter.take(&1).unwrap();
        }
    }
}
