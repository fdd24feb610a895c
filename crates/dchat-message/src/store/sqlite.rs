//! [`MessageLog`] and [`MessageAppender`] in the message service's own SQLite file.
//!
//! Readers share a pool (in WAL mode they never block the writer); the appender keeps one
//! connection of its own for the writer task. One process owns the file and has one
//! appender, so the appender counts each room's offsets from the heads it committed: no
//! other writer can take one between its read of a head and its insert.

use std::{collections::HashMap, path::Path, sync::Arc};

use dchat_core::{RoomId, UserId};
use dchat_storage::{OpenError, StoreError};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, pool::PoolConnection};

use super::{MessageAppender, MessageLog, message_from_row};
use crate::service::StoredMessage;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const COLUMNS: &str = "room_id, msg_offset, user_id, body, ts_ms, idem_key";

/// Rows per INSERT statement: one statement per row would cost a round trip to SQLite each;
/// this many rows use 6 x 400 = 2,400 of SQLite's 32,766 bind variables.
pub(crate) const ROWS_PER_INSERT: usize = 400;

/// Keys per lookup statement.
const KEYS_PER_LOOKUP: usize = 500;

/// The message table in SQLite, for readers.
#[derive(Debug, Clone)]
pub struct SqliteMessageStore {
    pool: SqlitePool,
}

/// The writer's own connection to the message table, and the head of each room it has
/// appended to (read once, then kept: nothing else writes).
#[derive(Debug)]
pub struct SqliteMessageAppender {
    conn: PoolConnection<Sqlite>,
    heads: HashMap<RoomId, i64>,
}

impl SqliteMessageStore {
    /// Brings the database behind `pool` (the file at `path`) up to date and keeps it.
    pub async fn migrate(pool: SqlitePool, path: &Path) -> Result<Self, OpenError> {
        dchat_storage::migrate(&pool, &MIGRATOR, path).await?;
        Ok(Self { pool })
    }

    /// The appender, on a connection of its own. Make one only: see [`MessageAppender`].
    pub async fn appender(&self) -> Result<SqliteMessageAppender, StoreError> {
        Ok(SqliteMessageAppender { conn: self.pool.acquire().await?, heads: HashMap::new() })
    }
}

#[tonic::async_trait]
impl MessageLog for SqliteMessageStore {
    /// The messages of `room_id` with offsets `first..=last` that exist, oldest first.
    async fn range(&self, room_id: &RoomId, first: i64, last: i64) -> Result<Vec<StoredMessage>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND msg_offset BETWEEN ? AND ? ORDER BY msg_offset"
        ))
        .bind(room_id.as_str())
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| message_from_row(&row))
        .collect()
    }

    /// The latest `limit` messages of `room_id` with offsets below `before`, oldest first.
    async fn before(&self, room_id: &RoomId, before: i64, limit: i64) -> Result<Vec<StoredMessage>, StoreError> {
        let mut messages = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND msg_offset < ? ORDER BY msg_offset DESC LIMIT ?"
        ))
        .bind(room_id.as_str())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| message_from_row(&row))
        .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// The highest offset stored for `room_id`, 0 when it has no messages.
    async fn head(&self, room_id: &RoomId) -> Result<i64, StoreError> {
        head(&self.pool, room_id).await
    }

    /// The heads of those of `rooms` that have messages. (A file has one writer, so no
    /// process asks this of SQLite in service; one indexed lookup per room suffices.)
    async fn heads(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, i64)>, StoreError> {
        let mut heads = Vec::with_capacity(rooms.len());
        for room_id in rooms {
            let head = head(&self.pool, room_id).await?;
            if head > 0 {
                heads.push((room_id.clone(), head));
            }
        }
        Ok(heads)
    }

    /// Lets go of the database, once nothing more will be read or written (it waits for
    /// the appender to be dropped).
    async fn close(&self) {
        self.pool.close().await;
    }
}

#[tonic::async_trait]
impl MessageAppender for SqliteMessageAppender {
    /// Appends `messages`, all of them or none, each at the next offset of its room, and
    /// returns them with their offsets. A stored (room, user, idempotency key) is a
    /// [`StoreError::Conflict`], and then nothing is stored and no offset is used.
    async fn append_batch(&mut self, messages: Vec<StoredMessage>) -> Result<Vec<Arc<StoredMessage>>, StoreError> {
        // Offsets are staged, and become the heads only once the batch is stored.
        let mut staged: HashMap<RoomId, i64> = HashMap::new();
        let mut numbered = Vec::with_capacity(messages.len());
        for mut message in messages {
            let head = match staged.get(&message.room_id).or_else(|| self.heads.get(&message.room_id)) {
                Some(head) => *head,
                None => head(&mut *self.conn, &message.room_id).await?,
            };
            message.offset = head + 1;
            staged.insert(message.room_id.clone(), message.offset);
            numbered.push(Arc::new(message));
        }
        let conn: &mut SqliteConnection = &mut self.conn;
        if numbered.len() <= ROWS_PER_INSERT {
            // One statement is atomic and, outside a transaction, durable when it returns:
            // BEGIN and COMMIT would only add two round trips to SQLite's worker thread.
            insert_many(conn, &numbered).await?;
        } else {
            let mut tx = conn.begin().await?;
            insert_many(&mut tx, &numbered).await?;
            tx.commit().await?;
        }
        self.heads.extend(staged);
        Ok(numbered)
    }

    /// The offsets and times of the messages of `user_id` in `room_id` stored with any of
    /// `keys`, by key.
    async fn offsets_of_keys(
        &mut self,
        room_id: &RoomId,
        user_id: UserId,
        keys: &[&str],
    ) -> Result<HashMap<String, (i64, i64)>, StoreError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            // Without the hint SQLite may prefer the primary key and scan the whole room;
            // `idem_key IN (...)` implies `idem_key IS NOT NULL`, so the partial index applies.
            let mut lookup = QueryBuilder::<Sqlite>::new(
                "SELECT idem_key, msg_offset, ts_ms FROM messages INDEXED BY messages_by_idempotency_key WHERE room_id = ",
            );
            lookup
                .push_bind(room_id.as_str())
                .push(" AND user_id = ")
                .push_bind(user_id.to_string())
                .push(" AND idem_key IN (");
            let mut separated = lookup.separated(", ");
            for key in chunk {
                separated.push_bind(*key);
            }
            lookup.push(")");
            for row in lookup.build().fetch_all(&mut *self.conn).await? {
                found.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
            }
        }
        Ok(found)
    }

    /// The highest offset stored for `room_id`, 0 when it has no messages.
    async fn head(&mut self, room_id: &RoomId) -> Result<i64, StoreError> {
        head(&mut *self.conn, room_id).await
    }
}

/// Inserts messages, several rows per statement (more than one statement needs the
/// caller's transaction to be atomic).
async fn insert_many(conn: &mut SqliteConnection, messages: &[Arc<StoredMessage>]) -> Result<(), sqlx::Error> {
    for chunk in messages.chunks(ROWS_PER_INSERT) {
        let mut insert =
            QueryBuilder::<Sqlite>::new("INSERT INTO messages (room_id, msg_offset, user_id, body, ts_ms, idem_key) ");
        insert.push_values(chunk, |mut row, message| {
            row.push_bind(message.room_id.as_str())
                .push_bind(message.offset)
                .push_bind(message.user_id.to_hyphenated_string())
                .push_bind(message.text.as_str())
                .push_bind(message.ts_ms)
                .push_bind(message.idempotency_key.as_deref());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn head<'e>(executor: impl sqlx::SqliteExecutor<'e>, room_id: &RoomId) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COALESCE(MAX(msg_offset), 0) FROM messages WHERE room_id = ?")
        .bind(room_id.as_str())
        .fetch_one(executor)
        .await?
        .try_get(0)?)
}
