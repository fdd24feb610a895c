//! The room rules: who may create, join and leave, and who gets told about it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{
    RoomError,
    feed::{ChangeFeed, MembershipBus, Watcher},
    store::{MemberInsert, RoomInsert, RoomStore},
};
use dchat_core::{RoomId, RoomName, UserId, ValidationError, now_ms};
use dchat_storage::StoreError;

/// The most rooms one page of [`RoomService::rooms_page`] holds.
pub(crate) const MAX_ROOMS_PAGE: u32 = 500;

/// Rooms in a page when the caller asks for none in particular.
pub(crate) const DEFAULT_ROOMS_PAGE: u32 = 100;

/// A room as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub room_id: RoomId,
    pub name: RoomName,
    pub created_ms: i64,
    pub member_count: u64,
    /// Who created it (none for `general`): its admin until rooms have roles.
    pub created_by: Option<UserId>,
}

/// A membership that changed: `member` is true after a join, false after a leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub member: bool,
}

#[derive(Debug, Clone)]
pub struct RoomService {
    store: Arc<dyn RoomStore>,
    feed: ChangeFeed,
}

impl RoomService {
    /// The room rules over `store`, whichever backend it is, hearing and publishing the
    /// hints of membership changes on `bus`. Watchers hear of changes once
    /// [`RoomService::run_until_stopped`] runs.
    pub async fn start(store: Arc<dyn RoomStore>, bus: MembershipBus) -> Result<Self, RoomError> {
        let feed = ChangeFeed::start(store.clone(), bus).await.map_err(StoreError::Other)?;
        Ok(Self { store, feed })
    }

    /// Follows the log of membership changes (every replica's) until `stopping`.
    pub async fn run_until_stopped(self, stopping: CancellationToken) {
        self.feed.run_until_stopped(stopping).await;
    }

    /// The bus of one process for the hints of membership changes (its one follower reads
    /// them; a gap only sends it to the log).
    pub fn local_bus() -> dchat_bus::LocalBus<(u64, MembershipChange)> {
        dchat_bus::LocalBus::new(1024, 1024)
    }

    /// Creates a room; `creator` becomes its first member. Returns false, changing nothing,
    /// when a room with this id exists: the seed's clients create the room they are about
    /// to join every time, and take anything but success as a failure. The existing room
    /// keeps its name and `creator` is not made a member (joining is a separate call).
    /// An id that differs from an existing room's only in case is refused
    /// ([`RoomError::IdTaken`]): `General` beside `general` would pass for it.
    #[tracing::instrument(skip_all, fields(room_id = %room_id))]
    pub async fn create_room(
        &self,
        room_id: RoomId,
        name: RoomName,
        creator: Option<UserId>,
    ) -> Result<bool, RoomError> {
        match self.store.insert_room(&room_id, &name, creator, now_ms()).await? {
            RoomInsert::Made(Some(seq)) => {
                if let Some(user_id) = creator {
                    self.feed.publish_and_wait(seq, MembershipChange { room_id, user_id, member: true }).await;
                }
            }
            RoomInsert::Made(None) => {}
            RoomInsert::Taken(holder) if holder == room_id.as_str() => return Ok(false),
            RoomInsert::Taken(holder) => return Err(RoomError::IdTaken { requested: room_id, existing: holder }),
        }
        tracing::info!("room created");
        Ok(true)
    }

    /// Adds `user_id` to the room; joining twice is not an error.
    pub async fn join(&self, room_id: RoomId, user_id: UserId) -> Result<(), RoomError> {
        match self.store.insert_member(&room_id, user_id, now_ms()).await? {
            MemberInsert::NoSuchRoom => Err(RoomError::NotFound(room_id)),
            MemberInsert::AlreadyMember => Ok(()),
            MemberInsert::Joined(seq) => {
                self.feed.publish_and_wait(seq, MembershipChange { room_id, user_id, member: true }).await;
                Ok(())
            }
        }
    }

    /// Removes `user_id` from the room; leaving a room one is not in is not an error.
    pub async fn leave(&self, room_id: RoomId, user_id: UserId) -> Result<(), RoomError> {
        if let Some(seq) = self.store.delete_member(&room_id, user_id, now_ms()).await? {
            self.feed.publish_and_wait(seq, MembershipChange { room_id, user_id, member: false }).await;
        }
        Ok(())
    }

    pub async fn room(&self, room_id: RoomId) -> Result<Room, RoomError> {
        self.store.room(&room_id).await?.ok_or(RoomError::NotFound(room_id))
    }

    pub async fn exists(&self, room_id: &RoomId) -> Result<bool, RoomError> {
        Ok(self.store.room(room_id).await?.is_some())
    }

    pub async fn rooms(&self) -> Result<Vec<Room>, RoomError> {
        Ok(self.store.rooms().await?)
    }

    /// One page of every room: up to `limit` (at most [`MAX_ROOMS_PAGE`]) after `after`.
    pub async fn rooms_page(&self, after: &str, limit: u32) -> Result<Vec<Room>, RoomError> {
        // Any text is a cursor (rooms sort by id), but no room id holds a control character,
        // and PostgreSQL cannot compare a NUL: refused alike on every backend.
        if after.chars().any(char::is_control) {
            return Err(ValidationError::new("after", "contains a control character").into());
        }
        Ok(self.store.rooms_after(after, limit.clamp(1, MAX_ROOMS_PAGE)).await?)
    }

    pub async fn rooms_of(&self, user_id: UserId) -> Result<Vec<Room>, RoomError> {
        Ok(self.store.rooms_of(user_id).await?)
    }

    /// The members of an existing room with their join times.
    pub async fn members(&self, room_id: RoomId) -> Result<Vec<(UserId, i64)>, RoomError> {
        let members = self.store.members(&room_id).await?;
        // An empty list may mean "no such room"; only then pay for the second query.
        if members.is_empty() && !self.exists(&room_id).await? {
            return Err(RoomError::NotFound(room_id));
        }
        Ok(members)
    }

    pub async fn is_member(&self, room_id: &RoomId, user_id: UserId) -> Result<bool, RoomError> {
        Ok(self.store.is_member(room_id, user_id).await?)
    }

    /// Whether two users are members of one room together (a user shares a room with
    /// themself when they are in any).
    pub async fn share_a_room(&self, user_id: UserId, other: UserId) -> Result<bool, RoomError> {
        Ok(self.store.share_a_room(user_id, other).await?)
    }

    /// Registers a watcher of every membership change from now on.
    pub(crate) fn watch(&self) -> Watcher {
        self.feed.register()
    }

    /// Records that a watcher applied every change up to `seq`.
    pub(crate) fn ack(&self, watcher_id: u64, seq: u64) {
        self.feed.ack(watcher_id, seq);
    }

    /// Forgets a watcher that went away; changes no longer wait for it.
    pub(crate) fn unwatch(&self, watcher_id: u64) {
        self.feed.deregister(watcher_id);
    }
}
