//! Persistence for messages, in two halves that match how they are used:
//! [`MessageLog`], the shared reads of what is committed, and [`MessageAppender`], the
//! writer's side. One file per backend, and the contract tests every backend must pass.
//!
//! Methods are ordered create, read, with the same order and docs in every backend. The
//! memory above the log (complete history pages, committed heads) is the service's, not a
//! backend's: see `reader`.

mod sqlite;
#[cfg(test)]
mod tests;

use std::{collections::HashMap, sync::Arc};

use dchat_core::{RoomId, UserId};
use dchat_storage::StoreError;

#[cfg(test)]
pub(crate) use self::sqlite::ROWS_PER_INSERT;
pub use self::sqlite::{SqliteMessageAppender, SqliteMessageStore};
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

    /// Lets go of the database, once nothing more will be read or written (it waits for
    /// the appender to be dropped).
    async fn close(&self);
}

/// The writer's side of the log: what the one writer task needs to append.
///
/// Architecture Invariant: there is one appender per database, owned by the message
/// service's writer task, and nothing else inserts messages. The writer assigns offsets
/// from its own record of each room's head and checks idempotency keys optimistically
/// (see `writer`); both are exact only because no other writer exists. Replicas of the
/// message service must replace exactly this: one writer per room (a lease), or a head
/// row locked in the insert's transaction.
#[tonic::async_trait]
pub trait MessageAppender: Send + std::fmt::Debug + 'static {
    /// Inserts `messages`, all of them or none. A message whose (room, user, idempotency
    /// key) is stored already is a [`StoreError::Conflict`], and then nothing is inserted.
    async fn insert_batch(&mut self, messages: &[Arc<StoredMessage>]) -> Result<(), StoreError>;

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
