//! Tokens this gateway verified lately, so that a busy client costs one `Verify` call per
//! half minute instead of one per request.
//!
//! Remembering a token is only safe while this gateway hears of every revocation: entries
//! are kept only while the revocation watch is connected (the cache is emptied when it
//! breaks), a revocation forgets its token at once, and an answer to a `Verify` that was
//! in flight while any revocation arrived is not remembered (it may predate it). An entry
//! never outlives its token's expiry. A logout through another gateway reaches this one
//! within the watch's latency (milliseconds on a LAN).

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dchat_proto::auth::v1::User;

use crate::connections::token_sha256;

/// How long a verified token is taken on trust (a display name changed through another
/// gateway shows here within this time, too).
const TRUST_FOR: Duration = Duration::from_secs(30);
/// Entries kept at most; past this, the cache starts over rather than grow.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct VerifiedTokens {
    /// SHA-256 of the token -> its user and until when it is trusted.
    entries: Mutex<HashMap<Vec<u8>, (User, Instant)>>,
    /// Whether the revocation watch is connected.
    following: AtomicBool,
    /// Bumped by every revocation: answers fetched across a bump are not remembered.
    generation: AtomicU64,
}

/// What a lookup needs to remember the answer it goes on to fetch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
}

impl VerifiedTokens {
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<u8>, (User, Instant)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The remembered user of `token`, or a ticket to remember the answer with.
    pub(crate) fn get(&self, token: &str) -> Result<User, Ticket> {
        let ticket = Ticket { generation: self.generation.load(Ordering::Acquire) };
        if !self.following.load(Ordering::Acquire) {
            return Err(ticket);
        }
        let digest = token_sha256(token);
        match self.lock().get(&digest) {
            Some((user, until)) if *until > Instant::now() => Ok(user.clone()),
            _ => Err(ticket),
        }
    }

    /// Remembers a `Verify` answer, unless a revocation arrived since `ticket` was taken.
    pub(crate) fn remember(&self, token: &str, user: &User, ticket: Ticket) {
        let now_ms = dchat_core::now_ms();
        let token_left = Duration::from_millis(u64::try_from(user.token_expires_ms - now_ms).unwrap_or(0));
        let until = Instant::now() + TRUST_FOR.min(token_left);
        let digest = token_sha256(token);
        let mut entries = self.lock();
        // Checked under the lock, which revocations also take: none can slip in between.
        if !self.following.load(Ordering::Acquire) || self.generation.load(Ordering::Acquire) != ticket.generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(digest, (user.clone(), until));
    }

    /// A token was revoked (here, or anywhere: by its digest).
    pub(crate) fn forget_digest(&self, digest: &[u8]) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(digest);
    }

    pub(crate) fn forget(&self, token: &str) {
        self.forget_digest(&token_sha256(token));
    }

    /// The user changed their profile: their tokens are verified afresh.
    pub(crate) fn forget_user(&self, user_id: &str) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (user, _)| user.user_id != user_id);
    }

    /// The revocation watch is (re)connected, or broke: either way, start from nothing.
    pub(crate) fn set_following(&self, following: bool) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.following.store(following, Ordering::Release);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, expires_in_ms: i64) -> User {
        User { user_id: id.to_owned(), token_expires_ms: dchat_core::now_ms() + expires_in_ms, ..User::default() }
    }

    #[test]
    fn nothing_is_remembered_unless_revocations_are_followed() {
        let cache = VerifiedTokens::default();
        let ticket = cache.get("t").unwrap_err();
        cache.remember("t", &user("u", 60_000), ticket);
        assert!(cache.get("t").is_err());

        cache.set_following(true);
        let ticket = cache.get("t").unwrap_err();
        cache.remember("t", &user("u", 60_000), ticket);
        assert_eq!(cache.get("t").unwrap().user_id, "u");

        cache.set_following(false);
        assert!(cache.get("t").is_err(), "a broken watch empties the cache");
    }

    #[test]
    fn a_revocation_forgets_the_token_and_voids_answers_in_flight() {
        let cache = VerifiedTokens::default();
        cache.set_following(true);
        let ticket = cache.get("a").unwrap_err();
        cache.remember("a", &user("u", 60_000), ticket);
        let in_flight = cache.get("b").unwrap_err();
        cache.forget("a");
        assert!(cache.get("a").is_err());
        cache.remember("b", &user("u", 60_000), in_flight);
        assert!(cache.get("b").is_err(), "verified before a revocation, answered after it: not trusted");
    }

    #[test]
    fn an_expired_token_is_not_remembered_and_a_profile_change_forgets_its_user() {
        let cache = VerifiedTokens::default();
        cache.set_following(true);
        let ticket = cache.get("old").unwrap_err();
        cache.remember("old", &user("u", -1), ticket);
        assert!(cache.get("old").is_err());
        let ticket = cache.get("t").unwrap_err();
        cache.remember("t", &user("u", 60_000), ticket);
        cache.forget_user("u");
        assert!(cache.get("t").is_err());
    }
}
