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
use crate::service::{MembershipChange, Room};

/// What [`RoomStore::insert_room`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomInsert {
    /// The room was made; the creator's join (if there was a creator) is this change.
    Made(Option<u64>),
    /// The id is taken by this room (which may differ from the one asked for in case).
    Taken(String),
}

/// What [`RoomStore::insert_member`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberInsert {
    NoSuchRoom,
    AlreadyMember,
    /// Joined: this change of the membership log.
    Joined(u64),
}

/// Rooms and who is in them, and the numbered log of every join and leave.
///
/// Each join and leave is recorded in the log in the transaction that makes it, numbered
/// 1, 2, 3, ... in commit order (whichever process commits it), so that a follower that
/// read change `k` can read every change before it.
#[tonic::async_trait]
pub trait RoomStore: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts a room and, when given, its creator as first member (a logged join),
    /// atomically. When the id is taken, changes nothing.
    async fn insert_room(
        &self,
        room_id: &RoomId,
        name: &RoomName,
        creator: Option<UserId>,
        now_ms: i64,
    ) -> Result<RoomInsert, StoreError>;

    /// Adds a member and logs the join.
    async fn insert_member(&self, room_id: &RoomId, user_id: UserId, now_ms: i64) -> Result<MemberInsert, StoreError>;

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

    /// The number of the newest logged change (0 before the first).
    async fn last_change(&self) -> Result<u64, StoreError>;

    /// Up to `limit` logged changes numbered after `seq`, in order.
    async fn changes_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, MembershipChange)>, StoreError>;

    /// Removes a member and logs the leave. Returns the change, or `None` when they were
    /// not a member.
    async fn delete_member(&self, room_id: &RoomId, user_id: UserId, now_ms: i64) -> Result<Option<u64>, StoreError>;

    /// Forgets the logged changes numbered `seq` and below.
    async fn delete_changes_through(&self, seq: u64) -> Result<(), StoreError>;
}

/// A logged change from the columns every backend's change queries select: seq, room_id,
/// user_id, member.
fn change_from_row<R>(row: &R) -> Result<(u64, MembershipChange), StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let seq: i64 = row.try_get(0)?;
    let room_id: String = row.try_get(1)?;
    let user_id: String = row.try_get(2)?;
    let change = MembershipChange {
        room_id: RoomId::parse(&room_id).map_err(StoreError::corrupt)?,
        user_id: UserId::parse(&user_id).map_err(StoreError::corrupt)?,
        member: row.try_get(3)?,
    };
    Ok((u64::try_from(seq).map_err(StoreError::corrupt)?, change))
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
