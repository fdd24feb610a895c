//! Persistence for rooms and memberships: the [`RoomStore`] trait every backend implements,
//! one file per backend, and the contract tests every backend must pass.
//!
//! Methods are ordered create, read, delete, with the same order and docs in every backend.
//! The rules (who may do what, who is told) live in the service; a store only keeps rows.

mod postgres;
mod sqlite;
#[cfg(test)]
mod tests;

use dchat_core::{RoomId, RoomName, UserId};
use dchat_storage::StoreError;
use sqlx::{ColumnIndex, Decode, Row, Type};

pub use self::{
    postgres::{PgRoomStore, SCHEMA},
    sqlite::SqliteRoomStore,
};
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

/// A room from the columns every backend's room queries select: id, name, created_ms, the
/// member count, created_by.
fn room_from_row<R>(row: &R) -> Result<Room, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let room_id: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let member_count: i64 = row.try_get(3)?;
    let created_by: Option<String> = row.try_get(4)?;
    Ok(Room {
        room_id: RoomId::parse(&room_id).map_err(StoreError::corrupt)?,
        name: RoomName::parse(&name).map_err(StoreError::corrupt)?,
        created_ms: row.try_get(2)?,
        member_count: u64::try_from(member_count).unwrap_or(0),
        created_by: created_by.as_deref().map(UserId::parse).transpose().map_err(StoreError::corrupt)?,
    })
}
