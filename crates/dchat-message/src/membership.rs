//! Who may touch which room: the room service's answer, cached.
//!
//! A check costs a network round trip to the room service only on a cache miss. Only "is a
//! member" is remembered: a join through another room replica may reach us a moment after
//! it returned, and a remembered "no" would refuse the new member meanwhile. The cache
//! stays correct because the room service streams every membership change to us
//! (`WatchMembership`): a leave forgets its entry, and whenever that stream is down the
//! cache is emptied and not refilled, so a missed change can never leave a stale "yes"
//! behind. A generation counter closes the last race: an answer fetched while a change
//! arrived is used once but not cached.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use dchat_core::{RoomId, UserId};
use dchat_proto::{
    Transport,
    room::v1::{JoinLeaveReq, MembershipAck, MembershipEvent, room_service_client::RoomServiceClient},
};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::MessageError;

/// Entries kept at most; past this the cache starts over (a bound against id probing).
const MAX_ENTRIES: usize = 100_000;

/// What subscribers are told so they can end a stream when its reader leaves the room.
#[derive(Debug, Clone)]
pub(crate) enum MembershipNews {
    Left {
        room_id: RoomId,
        user_id: UserId,
    },
    /// Changes may have been missed: re-check membership.
    Reset,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Whether the watch stream is up; only then may answers be cached.
    live: bool,
    generation: u64,
    /// Memberships known to hold.
    entries: HashSet<(RoomId, UserId)>,
}

impl CacheState {
    fn reset(&mut self, live: bool) {
        self.live = live;
        self.generation += 1;
        self.entries.clear();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Membership {
    rooms: RoomServiceClient<Transport>,
    state: Arc<Mutex<CacheState>>,
    news: broadcast::Sender<MembershipNews>,
}

impl Membership {
    pub(crate) fn new(rooms: RoomServiceClient<Transport>) -> Self {
        let (news, _) = broadcast::channel(1024);
        Self { rooms, state: Arc::default(), news }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `user_id` is a member of `room_id` (false for a room that does not exist).
    pub(crate) async fn is_member(&self, room_id: &RoomId, user_id: UserId) -> Result<bool, MessageError> {
        let generation = {
            let state = self.lock();
            if state.entries.contains(&(room_id.clone(), user_id)) {
                return Ok(true);
            }
            state.generation
        };
        let request = JoinLeaveReq { room_id: room_id.to_string(), user_id: user_id.to_string() };
        let member = match self.rooms.clone().is_member(request).await {
            Ok(response) => response.into_inner().success,
            Err(status) => {
                tracing::warn!(%status, "room service did not answer a membership check");
                return Err(MessageError::Unavailable("the room service is unavailable; retry".to_owned()));
            }
        };
        let mut state = self.lock();
        if member && state.live && state.generation == generation {
            if state.entries.len() >= MAX_ENTRIES {
                state.entries.clear();
            }
            state.entries.insert((room_id.clone(), user_id));
        }
        Ok(member)
    }

    /// News for live subscriptions.
    pub(crate) fn news(&self) -> broadcast::Receiver<MembershipNews> {
        self.news.subscribe()
    }

    /// Follows the room service's membership changes until `shutdown`, reconnecting with
    /// backoff whenever the stream breaks (the room service may start after us).
    pub(crate) async fn run_until_stopped(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                result = self.follow_changes() => {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    self.lock().reset(false);
                    let _ = self.news.send(MembershipNews::Reset);
                    match result {
                        Ok(()) => tracing::info!("membership watch ended; reconnecting"),
                        Err(status) => tracing::warn!(%status, retry_in = ?backoff, "membership watch failed; reconnecting"),
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn follow_changes(&self) -> Result<(), tonic::Status> {
        let (acks, ack_stream) = mpsc::channel(1024);
        let mut changes = self.rooms.clone().watch_membership(ReceiverStream::new(ack_stream)).await?.into_inner();
        while let Some(event) = changes.message().await? {
            self.apply(&event);
            // Only now that the cache holds the change may the join or leave return.
            if acks.send(MembershipAck { seq: event.seq }).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    fn apply(&self, event: &MembershipEvent) {
        if event.room_id.is_empty() {
            // The marker: the room service now sends us every change.
            self.lock().reset(true);
            tracing::info!("membership watch is live");
            return;
        }
        let (Ok(room_id), Ok(user_id)) = (RoomId::parse(&event.room_id), UserId::parse(&event.user_id)) else {
            tracing::warn!(?event, "ignored a malformed membership event");
            return;
        };
        {
            let mut state = self.lock();
            state.generation += 1;
            if !event.member {
                state.entries.remove(&(room_id.clone(), user_id));
            }
        }
        if !event.member {
            let _ = self.news.send(MembershipNews::Left { room_id, user_id });
        }
    }
}
