//! [`MessageLog`] and [`MessageAppender`] in the message service's own PostgreSQL schema
//! (`message`), which every replica of the service shares.
//!
//! Offsets are assigned under each room's head row (`room_heads`), locked `FOR UPDATE` in
//! room order from the read of the heads to the commit that inserts the messages and
//! raises the heads. Another replica appending to the same room waits for that commit and
//! then reads the raised head, so offsets are gapless, never repeated, and committed in
//! offset order: a reader that sees offset k can read every offset below it. A refused or
//! failed batch rolls back its heads with its messages, so it uses up no offset. A replica
//! paused while it holds the locks is cut off by the server after
//! `idle_in_transaction_session_timeout` (see `dchat_storage::postgres`); its transaction
//! aborts and its callers get an error to retry on.

use std::{collections::HashMap, sync::Arc};

use dchat_core::{RoomId, UserId};
use dchat_storage::{OpenError, StoreError};
use sqlx::{PgPool, Row};

use super::{MessageAppender, MessageLog, message_from_row};
use crate::service::StoredMessage;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The schema the message service's tables live in.
pub const SCHEMA: &str = "message";

const COLUMNS: &str = "room_id, msg_offset, user_id, body, ts_ms, idem_key";

/// The message table in PostgreSQL, for readers and for any number of appenders.
#[derive(Debug, Clone)]
pub struct PgMessageStore {
    pool: PgPool,
}

/// One writer task's appender. Several may append at once, in this process or others.
#[derive(Debug)]
pub struct PgMessageAppender {
    pool: PgPool,
}

impl PgMessageStore {
    /// Connects to the database at `url` (a pool of 8 connections in [`SCHEMA`]) and brings
    /// the schema up to date.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::migrate(dchat_storage::postgres::open_postgres(url, SCHEMA, 8).await?).await
    }

    /// Brings the `message` schema behind `pool` (opened for [`SCHEMA`]) up to date.
    pub async fn migrate(pool: PgPool) -> Result<Self, OpenError> {
        dchat_storage::postgres::migrate_postgres(&pool, &MIGRATOR, SCHEMA).await?;
        Ok(Self { pool })
    }

    /// An appender. Each takes a connection per batch from the shared pool, so one that
    /// the server dropped (a restart, a timeout) costs one failed batch, not the writer.
    pub fn appender(&self) -> PgMessageAppender {
        PgMessageAppender { pool: self.pool.clone() }
    }
}

#[tonic::async_trait]
impl MessageLog for PgMessageStore {
    /// The messages of `room_id` with offsets `first..=last` that exist, oldest first.
    async fn range(&self, room_id: &RoomId, first: i64, last: i64) -> Result<Vec<StoredMessage>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = $1 AND msg_offset BETWEEN $2 AND $3 ORDER BY msg_offset"
        ))
        .bind(room_id.as_str())
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
    }

    /// The latest `limit` messages of `room_id` with offsets below `before`, oldest first.
    async fn before(&self, room_id: &RoomId, before: i64, limit: i64) -> Result<Vec<StoredMessage>, StoreError> {
        let mut messages = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = $1 AND msg_offset < $2 ORDER BY msg_offset DESC LIMIT $3"
        ))
        .bind(room_id.as_str())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// The highest offset stored for `room_id`, 0 when it has no messages.
    async fn head(&self, room_id: &RoomId) -> Result<i64, StoreError> {
        head(&self.pool, room_id).await
    }

    /// The heads of those of `rooms` that have messages, in one query however many.
    async fn heads(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, i64)>, StoreError> {
        let ids: Vec<&str> = rooms.iter().map(RoomId::as_str).collect();
        let rows = sqlx::query("SELECT room_id, head FROM room_heads WHERE room_id = ANY($1)")
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let room_id: String = row.try_get(0)?;
                Ok((RoomId::parse(&room_id).map_err(StoreError::corrupt)?, row.try_get(1)?))
            })
            .collect()
    }

    /// Lets go of the database.
    async fn close(&self) {
        self.pool.close().await;
    }
}

#[tonic::async_trait]
impl MessageAppender for PgMessageAppender {
    /// Appends `messages`, all of them or none, each at the next offset of its room, and
    /// returns them with their offsets. A stored (room, user, idempotency key) is a
    /// [`StoreError::Conflict`], and then nothing is stored and no offset is used.
    async fn append_batch(&mut self, messages: Vec<StoredMessage>) -> Result<Vec<Arc<StoredMessage>>, StoreError> {
        let mut rooms: Vec<&str> = messages.iter().map(|message| message.room_id.as_str()).collect();
        rooms.sort_unstable();
        rooms.dedup();
        // A room's head row exists before any transaction locks it; made in a statement of
        // its own so that no transaction holds a new row's lock while it waits for others.
        sqlx::query("INSERT INTO room_heads (room_id, head) SELECT unnest($1::text[]), 0 ON CONFLICT DO NOTHING")
            .bind(&rooms)
            .execute(&self.pool)
            .await?;

        let mut tx = self.pool.begin().await?;
        // Locked in room order, so two batches over the same rooms never wait on each other
        // in a circle.
        let locked =
            sqlx::query("SELECT room_id, head FROM room_heads WHERE room_id = ANY($1) ORDER BY room_id FOR UPDATE")
                .bind(&rooms)
                .fetch_all(&mut *tx)
                .await?;
        let mut heads: HashMap<String, i64> = HashMap::with_capacity(locked.len());
        for row in locked {
            heads.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let mut numbered = Vec::with_capacity(messages.len());
        for mut message in messages {
            let head = heads
                .get_mut(message.room_id.as_str())
                .ok_or_else(|| StoreError::Other(format!("no head row for room {}", message.room_id).into()))?;
            *head += 1;
            message.offset = *head;
            numbered.push(Arc::new(message));
        }
        let column = |f: fn(&StoredMessage) -> String| numbered.iter().map(|m| f(m)).collect::<Vec<String>>();
        sqlx::query(
            "INSERT INTO messages (room_id, msg_offset, user_id, body, ts_ms, idem_key)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[])",
        )
        .bind(column(|m| m.room_id.to_string()))
        .bind(numbered.iter().map(|m| m.offset).collect::<Vec<i64>>())
        .bind(column(|m| m.user_id.to_hyphenated_string()))
        .bind(column(|m| m.text.clone()))
        .bind(numbered.iter().map(|m| m.ts_ms).collect::<Vec<i64>>())
        .bind(numbered.iter().map(|m| m.idempotency_key.clone()).collect::<Vec<Option<String>>>())
        .execute(&mut *tx)
        .await?;
        let (head_rooms, head_values): (Vec<String>, Vec<i64>) = heads.into_iter().unzip();
        sqlx::query(
            "UPDATE room_heads h SET head = v.head FROM unnest($1::text[], $2::bigint[]) AS v(room_id, head)
             WHERE h.room_id = v.room_id",
        )
        .bind(head_rooms)
        .bind(head_values)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let rows = sqlx::query(
            "SELECT idem_key, msg_offset, ts_ms FROM messages
             WHERE room_id = $1 AND user_id = $2 AND idem_key = ANY($3)",
        )
        .bind(room_id.as_str())
        .bind(user_id.to_string())
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            found.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
        }
        Ok(found)
    }

    /// The highest offset stored for `room_id`, 0 when it has no messages.
    async fn head(&mut self, room_id: &RoomId) -> Result<i64, StoreError> {
        head(&self.pool, room_id).await
    }
}

async fn head(pool: &PgPool, room_id: &RoomId) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COALESCE((SELECT head FROM room_heads WHERE room_id = $1), 0)")
        .bind(room_id.as_str())
        .fetch_one(pool)
        .await?
        .try_get(0)?)
}
