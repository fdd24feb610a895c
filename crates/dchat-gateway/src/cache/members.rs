//! Room memberships this gateway confirmed lately, so that subscribing (and each gRPC
//! gateway call) does not ask the room service every time.
//!
//! Trusted only while the membership watch is connected (see [`WatchedCache`]). A leave
//! forgets the entry before the watch acknowledges it, and the room service answers the
//! leave only after that acknowledgement: once a leave returns, no gateway still believes
//! in the membership. Only "is a member" is remembered; a "no" is asked again each time.

use std::time::{Duration, Instant};

use crate::cache::watched::{Ticket, WatchedCache};

/// A safety net: even while the watch is connected, a membership is re-checked this often.
const TRUST_FOR: Duration = Duration::from_secs(600);

/// (room id, user id) pairs known to be members.
#[derive(Debug, Default)]
pub(crate) struct KnownMembers {
    cache: WatchedCache<(String, String), ()>,
}

impl KnownMembers {
    pub(crate) fn get(&self, room_id: &str, user_id: &str) -> Result<(), Ticket> {
        self.cache.get(&(room_id.to_owned(), user_id.to_owned()))
    }

    pub(crate) fn remember(&self, room_id: &str, user_id: &str, ticket: Ticket) {
        self.cache.remember((room_id.to_owned(), user_id.to_owned()), (), Instant::now() + TRUST_FOR, ticket);
    }

    /// The user left the room.
    pub(crate) fn forget(&self, room_id: &str, user_id: &str) {
        self.cache.forget(&(room_id.to_owned(), user_id.to_owned()));
    }

    pub(crate) fn set_following(&self, following: bool) {
        self.cache.set_following(following);
    }
}
