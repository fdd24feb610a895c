//! Persistence for rooms and memberships: the [`RoomStore`] trait every backend implements,
//! one file per backend, and the contract tests every backend must pass.
//!
//! Methods are ordered create, read, delete, with the same order and docs in every backend.
//! The rules (who may do what, who is told) live in the service; a store only keeps rows.

mod sqlite;
#[cfg(test)]
mod tests;

use dchat_core::{RoomId, RoomName, UserId};
use dchat_storage::StoreError;

pub use self::sqlite::SqliteRoomStore;
use crate::service::Room;

/// Rooms and who is in them.
#[tonic::async_trait]
pub trait RoomStore: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts a room and, when given, its creator as first member, atomically.
    /// When the id is taken, changes nothing and returns the id of the room that holds it,
    /// which may differ from `room_id` in case.
    async fn insert_room(
        &self,
        room_id: &RoomId,
        name: &RoomName,
        creator: Option<UserId>,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError>;

    /// Adds a member. Returns `None` when the room does not exist, `Some(false)` when the
    /// user was already a member.
    async fn insert_member(&self, room_id: &RoomId, user_id: UserId, now_ms: i64) -> Result<Option<bool>, StoreError>;

    /// The room, or `None`.
    async fn room(&self, room_id: &RoomId) -> Result<Option<Room>, StoreError>;

    /// Every room, by id.
    async fn rooms(&self) -> Result<Vec<Room>, StoreError>;

    /// Up to `limit` rooms with ids after `after`, by id.
    async fn rooms_after(&self, after: &str, limit: u32) -> Result<Vec<Room>, StoreError>;

    /// The rooms `user_id` is a member of, by id.
    async fn rooms_of(&self, user_id: UserId) -> Result<Vec<Room>, StoreError>;

    /// The members of a room with their join times, oldest first.
    async fn members(&self, room_id: &RoomId) -> Result<Vec<(UserId, i64)>, StoreError>;

    /// Whether `user_id` is a member of `room_id`.
    async fn is_member(&self, room_id: &RoomId, user_id: UserId) -> Result<bool, StoreError>;

    /// Whether two users are members of one room together.
    async fn share_a_room(&self, user_id: UserId, other: UserId) -> Result<bool, StoreError>;

    /// Removes a member. Returns whether they were one.
    async fn delete_member(&self, room_id: &RoomId, user_id: UserId) -> Result<bool, StoreError>;
}
