//! Persistence for messages, in two halves that match how they are used:
//! [`MessageLog`], the shared reads of what is committed, and [`MessageAppender`], the
//! writer's side. One file per backend, and the contract tests every backend must pass.
//!
//! Methods are ordered create, read, with the same order and docs in every backend. The
//! memory above the log (complete history pages, committed heads) is the service's, not a
//! backend's: see `reader`.

mod postgres;
mod sqlite;
#[cfg(test)]
mod tests;

use std::{collections::HashMap, sync::Arc};

use dchat_core::{RoomId, UserId};
use dchat_storage::StoreError;
use sqlx::{ColumnIndex, Decode, Row, Type};

#[cfg(test)]
pub(crate) use self::sqlite::ROWS_PER_INSERT;
pub use self::{
    postgres::{PgMessageAppender, PgMessageStore, SCHEMA},
    sqlite::{SqliteMessageAppender, SqliteMessageStore},
};
use crate::service::StoredMessage;

/// The committed messages, for any number of readers.
#[tonic::async_trait]
pub trait MessageLog: Send + Sync + std::fmt::Debug + 'static {
    /// The messages of `room_id` with offsets `first..=last` that exist, oldest first.
    async fn range(&self, room_id: &RoomId, first: i64, last: i64) -> Result<Vec<StoredMessage>, StoreError>;

    /// The latest `limit` messages of `room_id` with offsets below `before`, oldest first.
    async fn before(&self, room_id: &RoomId, before: i64, limit: i64) -> Result<Vec<StoredMessage>, StoreError>;

    /// The highest offset stored for `room_id`, 0 when it has no messages.
    async fn head(&self, room_id: &RoomId) -> Result<i64, StoreError>;

    /// The heads of those of `rooms` that have messages, in one query however many.
    async fn heads(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, i64)>, StoreError>;

    /// Lets go of the database, once nothing more will be read or written (it waits for
    /// the appender to be dropped).
    async fn close(&self);
}

/// The writer's side of the log: what a writer task needs to append.
///
/// The appender assigns offsets, in the transaction that inserts the messages, so that
/// each room's offsets are 1, 2, 3, ... without a gap or a repeat whoever else appends,
/// and commit order is offset order. How depends on the backend: SQLite has one appender
/// per database (one process owns the file) and counts from the heads it has committed;
/// PostgreSQL, shared by every replica of the service, locks each room's head row until
/// the commit.
///
/// Architecture Invariant: messages are inserted only through an appender, and an
/// appender assigns every offset it inserts, under its backend's rule above.
#[tonic::async_trait]
pub trait MessageAppender: Send + std::fmt::Debug + 'static {
    /// Appends `messages` (their `offset` is ignored), all of them or none, each at the
    /// next offset of its room in the order given, and returns them with their offsets. A
    /// message whose (room, user, idempotency key) is stored already is a
    /// [`StoreError::Conflict`], and then nothing is stored and no offset is used.
    async fn append_batch(&mut self, messages: Vec<StoredMessage>) -> Result<Vec<Arc<StoredMessage>>, StoreError>;

    /// The offsets and times of the messages of `user_id` in `room_id` stored with any of
    /// `keys`, by key.
    async fn offsets_of_keys(
        &mut self,
        room_id: &RoomId,
        user_id: UserId,
        keys: &[&str],
    ) -> Result<HashMap<String, (i64, i64)>, StoreError>;

    /// The highest offset stored for `room_id`, 0 when it has no messages.
    async fn head(&mut self, room_id: &RoomId) -> Result<i64, StoreError>;
}

/// A message from the columns every backend's queries select: room_id, msg_offset,
/// user_id, body, ts_ms, idem_key.
fn message_from_row<R>(row: &R) -> Result<StoredMessage, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let room_id: String = row.try_get(0)?;
    let user_id: String = row.try_get(2)?;
    Ok(StoredMessage {
        room_id: RoomId::parse(&room_id).map_err(StoreError::corrupt)?,
        offset: row.try_get(1)?,
        user_id: UserId::parse(&user_id).map_err(StoreError::corrupt)?,
        text: row.try_get(3)?,
        ts_ms: row.try_get(4)?,
        idempotency_key: row.try_get(5)?,
    })
}
