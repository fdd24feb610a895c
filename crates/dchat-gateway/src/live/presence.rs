//! The presence this gateway keeps alive for its WebSocket clients.
//!
//! The presence service forgets a session one TTL after its last heartbeat. Heartbeating
//! every connection on its own would cost a timer in each of them and a call per connection
//! per period: 19,000 idle sockets made nearly 3,000 calls a second. Instead a user's
//! connections to one room through this gateway share one presence session, and one task
//! heartbeats every shared session once per period.
//!
//! A session is named after the gateway, the user and a generation that changes each time
//! the user's first connection to the room arrives: a disconnect of the session that just
//! ended can never take down the one that replaced it, whatever order the calls land in.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use dchat_proto::presence::v1::{DisconnectReq, HeartbeatReq};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::state::GatewayState;

/// Heartbeat calls in flight at once when the period comes round.
const CONCURRENT_HEARTBEATS: usize = 16;

/// A user's presence in one room through this gateway.
#[derive(Debug)]
struct Shared {
    /// Connections of the user subscribed to the room here.
    connections: usize,
    session_id: String,
    display_name: String,
}

impl Shared {
    fn heartbeat(&self, room_id: &str, user_id: &str) -> HeartbeatReq {
        HeartbeatReq {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            display_name: self.display_name.clone(),
            session_id: self.session_id.clone(),
        }
    }
}

/// Shared presence sessions by (room id, user id).
#[derive(Debug)]
pub(crate) struct PresenceSessions {
    /// Random per process, so that the sessions of two gateways never collide.
    instance_id: u64,
    sessions: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    by_room_user: HashMap<(String, String), Shared>,
    generation: u64,
}

impl PresenceSessions {
    pub(crate) fn new(instance_id: u64) -> Self {
        Self { instance_id, sessions: Mutex::default() }
    }

    // A std mutex: held for a map operation, never across an await.
    fn lock(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection of `user_id` subscribed to `room_id`: the heartbeat that puts the user
    /// online there (sent at once, so the roster the client gets next includes itself).
    pub(crate) fn enter(&self, room_id: &str, user_id: &str, display_name: &str) -> HeartbeatReq {
        let instance_id = self.instance_id;
        let mut sessions = self.lock();
        let Sessions { by_room_user, generation } = &mut *sessions;
        let shared = by_room_user.entry((room_id.to_owned(), user_id.to_owned())).or_insert_with(|| {
            *generation += 1;
            Shared {
                connections: 0,
                session_id: format!("ws-{instance_id}-{user_id}-{generation}"),
                display_name: String::new(),
            }
        });
        shared.connections += 1;
        // The name the user's newest connection knows is the one to show.
        display_name.clone_into(&mut shared.display_name);
        shared.heartbeat(room_id, user_id)
    }

    /// A connection left the room (unsubscribed or closed): when it was the user's last one
    /// here, the disconnect that ends the shared session.
    pub(crate) fn leave(&self, room_id: &str, user_id: &str) -> Option<DisconnectReq> {
        let mut sessions = self.lock();
        let key = (room_id.to_owned(), user_id.to_owned());
        let shared = sessions.by_room_user.get_mut(&key)?;
        shared.connections -= 1;
        if shared.connections > 0 {
            return None;
        }
        let shared = sessions.by_room_user.remove(&key)?;
        let (room_id, user_id) = key;
        Some(DisconnectReq { room_id, user_id, session_id: shared.session_id })
    }

    /// A heartbeat for every shared session.
    fn heartbeats(&self) -> Vec<HeartbeatReq> {
        self.lock().by_room_user.iter().map(|((room_id, user_id), shared)| shared.heartbeat(room_id, user_id)).collect()
    }
}

/// Heartbeats every shared session once per `period` until `stopping`.
pub(crate) async fn keep_alive(state: GatewayState, period: Duration, stopping: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopping.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let beats = state.live().presence_sessions.heartbeats();
        futures::stream::iter(beats)
            .for_each_concurrent(CONCURRENT_HEARTBEATS, |beat| {
                let state = state.clone();
                async move {
                    if let Err(status) = state.presence().heartbeat(beat).await {
                        tracing::debug!(%status, "presence heartbeat failed");
                    }
                }
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_of_a_user_share_a_session_that_ends_with_the_last() {
        let sessions = PresenceSessions::new(7);
        let first = sessions.enter("general", "u1", "Ada");
        let second = sessions.enter("general", "u1", "Ada");
        assert_eq!(first.session_id, second.session_id);
        assert_eq!(sessions.heartbeats().len(), 1);
        assert!(sessions.leave("general", "u1").is_none(), "one connection is still there");
        let ended = sessions.leave("general", "u1").expect("the last connection ends the session");
        assert_eq!(ended.session_id, first.session_id);
        assert!(sessions.heartbeats().is_empty());
        assert!(sessions.leave("general", "u1").is_none(), "nothing left to end");
    }

    #[test]
    fn a_session_that_replaces_an_ended_one_has_a_new_name() {
        let sessions = PresenceSessions::new(7);
        let before = sessions.enter("general", "u1", "Ada");
        let ended = sessions.leave("general", "u1").unwrap();
        let after = sessions.enter("general", "u1", "Ada");
        assert_ne!(ended.session_id, after.session_id, "a late disconnect must not end the new session");
        assert_eq!(before.session_id, ended.session_id);
    }

    #[test]
    fn rooms_and_users_have_sessions_of_their_own() {
        let sessions = PresenceSessions::new(7);
        let a = sessions.enter("general", "u1", "Ada");
        let b = sessions.enter("random", "u1", "Ada");
        let c = sessions.enter("general", "u2", "Bob");
        assert_eq!(sessions.heartbeats().len(), 3);
        assert!(a.session_id != b.session_id && a.session_id != c.session_id && b.session_id != c.session_id);
    }
}
