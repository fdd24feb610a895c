//! The WebSocket connections open on this gateway, by user: how a logout (on any gateway)
//! closes a token's connections and how leaving a room ends the subscriptions to it.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use crate::{live::mailbox, state::GatewayState};

/// The close code of a connection whose token was logged out.
pub(crate) const LOGGED_OUT: u16 = 4001;

/// What the gateway may tell a connection from outside.
#[derive(Debug)]
pub(crate) enum Control {
    /// Close the connection with this WebSocket close code and reason.
    Close { code: u16, reason: &'static str },
    /// The user is no longer a member of this room: end the subscription.
    Left { room_id: String },
    /// Revocations may have been missed: check the token again.
    Reverify,
    /// Time to ping the client; the last ping must have been answered.
    Ping,
    /// The auth service says the session now ends at this time (ms since the epoch).
    SessionUntil(i64),
}

#[derive(Debug)]
struct Entry {
    conn_id: u64,
    /// SHA-256 of the connection's token, as the auth service names revoked tokens.
    token_sha256: Vec<u8>,
    control: mailbox::Sender<Control>,
}

/// The digest by which revocations name a token.
pub(crate) fn token_sha256(token: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

#[derive(Debug, Default)]
pub(crate) struct Connections {
    by_user: Mutex<HashMap<String, Vec<Entry>>>,
}

/// A connection's place in the registry; dropping it removes the connection.
#[derive(Debug)]
pub(crate) struct Registration {
    state: GatewayState,
    user_id: String,
    conn_id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut by_user = self.state.live().connections.lock();
        if let Some(entries) = by_user.get_mut(&self.user_id) {
            entries.retain(|entry| entry.conn_id != self.conn_id);
            if entries.is_empty() {
                by_user.remove(&self.user_id);
            }
        }
    }
}

impl Connections {
    // A std mutex: held for a few vector operations, never across an await.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<Entry>>> {
        self.by_user.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn register(
        state: &GatewayState,
        user_id: &str,
        token: &str,
        conn_id: u64,
        control: mailbox::Sender<Control>,
    ) -> Registration {
        let entry = Entry { conn_id, token_sha256: token_sha256(token), control };
        state.live().connections.lock().entry(user_id.to_owned()).or_default().push(entry);
        Registration { state: state.clone(), user_id: user_id.to_owned(), conn_id }
    }

    /// Closes every connection opened with `token` (after a logout on this gateway).
    pub(crate) fn close_token(&self, token: &str) {
        self.close_revoked(&token_sha256(token));
    }

    /// Closes every connection whose token has this digest (after a logout anywhere).
    pub(crate) fn close_revoked(&self, revoked_sha256: &[u8]) {
        for entries in self.lock().values() {
            for entry in entries.iter().filter(|entry| entry.token_sha256 == revoked_sha256) {
                let _ = entry.control.send(Control::Close { code: LOGGED_OUT, reason: "logged out" }, None);
            }
        }
    }

    /// Closes every connection with this close code (the gateway is stopping).
    pub(crate) fn close_all(&self, code: u16, reason: &'static str) {
        self.order_all(|| Control::Close { code, reason });
    }

    /// Asks every connection to check its token again.
    pub(crate) fn reverify_all(&self) {
        self.order_all(|| Control::Reverify);
    }

    /// Has every connection ping its client.
    pub(crate) fn ping_all(&self) {
        self.order_all(|| Control::Ping);
    }

    fn order_all(&self, order: impl Fn() -> Control) {
        for entries in self.lock().values() {
            for entry in entries {
                let _ = entry.control.send(order(), None);
            }
        }
    }

    /// Ends `user_id`'s subscriptions to `room_id` (after a leave).
    pub(crate) fn left(&self, room_id: &str, user_id: &str) {
        if let Some(entries) = self.lock().get(user_id) {
            for entry in entries {
                let _ = entry.control.send(Control::Left { room_id: room_id.to_owned() }, None);
            }
        }
    }
}

/// How many live subscriptions each user holds through this gateway, over all their
/// connections: WebSocket subscriptions and `gateway.v1` live streams alike. Each costs the
/// gateway a room feed or an upstream stream, so one user may not hold without bound what a
/// connection alone is limited in.
#[derive(Debug, Default)]
pub(crate) struct UserSubscriptions {
    counts: Mutex<HashMap<String, usize>>,
}

/// One live subscription counted against its user; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct SubscriptionSlot {
    state: GatewayState,
    user_id: String,
}

/// A user already holds as many live subscriptions as allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManySubscriptions {
    pub(crate) limit: usize,
}

impl std::fmt::Display for TooManySubscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at most {} live subscriptions per user; end one first", self.limit)
    }
}

impl UserSubscriptions {
    // A std mutex: held for one map operation, never across an await.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more live subscription of `user_id`, unless they hold the most allowed.
    pub(crate) fn claim(state: &GatewayState, user_id: &str) -> Result<SubscriptionSlot, TooManySubscriptions> {
        let limit = state.config().ws_max_subscriptions_per_user;
        let mut counts = state.live().user_subscriptions.lock();
        let count = counts.entry(user_id.to_owned()).or_default();
        if *count >= limit {
            return Err(TooManySubscriptions { limit });
        }
        *count += 1;
        Ok(SubscriptionSlot { state: state.clone(), user_id: user_id.to_owned() })
    }
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        let mut counts = self.state.live().user_subscriptions.lock();
        if let Some(count) = counts.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user_id);
            }
        }
    }
}
