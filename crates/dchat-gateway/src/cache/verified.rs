//! Tokens this gateway verified lately, so that a busy client costs one `Verify` call per
//! half minute instead of one per request.
//!
//! Trusted only while the revocation watch is connected (see [`WatchedCache`]): a
//! revocation forgets its token at once, a logout or profile change through this gateway
//! too, and an entry never outlives a quarter of what was left of its session: each
//! verification is a use of the session, which moves its end, so a client that keeps using
//! the session keeps it on even when the uses between verifications are not reported. A logout through another gateway
//! reaches this one within the watch's latency (milliseconds on a LAN).

use std::time::{Duration, Instant};

use dchat_proto::auth::v1::User;

use crate::{
    cache::watched::{Ticket, WatchedCache},
    live::connections::token_sha256,
};

/// How long a verified token is taken on trust (a display name changed through another
/// gateway shows here within this time, too).
const TRUST_FOR: Duration = Duration::from_secs(30);

/// SHA-256 of a token -> its user.
#[derive(Debug, Default)]
pub(crate) struct VerifiedTokens {
    cache: WatchedCache<Vec<u8>, User>,
}

impl VerifiedTokens {
    pub(crate) fn get(&self, token: &str) -> Result<User, Ticket> {
        self.cache.get(&token_sha256(token))
    }

    pub(crate) fn remember(&self, token: &str, user: &User, ticket: Ticket) {
        let token_left =
            Duration::from_millis(u64::try_from(user.token_expires_ms - dchat_core::now_ms()).unwrap_or(0));
        self.cache.remember(token_sha256(token), user.clone(), Instant::now() + TRUST_FOR.min(token_left / 4), ticket);
    }

    /// A token was revoked (here, or anywhere: by its digest).
    pub(crate) fn forget_digest(&self, digest: &[u8]) {
        self.cache.forget(&digest.to_vec());
    }

    pub(crate) fn forget(&self, token: &str) {
        self.cache.forget(&token_sha256(token));
    }

    /// The user changed their profile: their tokens are verified afresh.
    pub(crate) fn forget_user(&self, user_id: &str) {
        self.cache.forget_where(|_, user| user.user_id == user_id);
    }

    pub(crate) fn set_following(&self, following: bool) {
        self.cache.set_following(following);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, expires_in_ms: i64) -> User {
        User { user_id: id.to_owned(), token_expires_ms: dchat_core::now_ms() + expires_in_ms, ..User::default() }
    }

    #[test]
    fn an_expired_token_is_not_remembered_and_a_profile_change_forgets_its_user() {
        let tokens = VerifiedTokens::default();
        tokens.set_following(true);
        let ticket = tokens.get("old").unwrap_err();
        tokens.remember("old", &user("u", -1), ticket);
        assert!(tokens.get("old").is_err());
        let ticket = tokens.get("t").unwrap_err();
        tokens.remember("t", &user("u", 60_000), ticket);
        assert_eq!(tokens.get("t").unwrap().user_id, "u");
        tokens.forget_user("u");
        assert!(tokens.get("t").is_err());
    }
}
