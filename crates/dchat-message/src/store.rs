//! Persistence for messages in the message service's SQLite file.

use dchat_core::{RoomId, UserId};
use std::{collections::HashMap, sync::Arc};

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, sqlite::SqliteRow};

use crate::{
    heads::CommittedHeads,
    pages::{Pages, covering},
    service::StoredMessage,
};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const COLUMNS: &str = "room_id, msg_offset, user_id, body, ts_ms, idem_key";

/// Writes, which only the writer task performs, on its own connection.
pub(crate) mod write {
    use super::*;

    /// Rows per INSERT statement: one statement per row would cost a round trip to SQLite
    /// each; this many rows use 6 x 400 = 2,400 of SQLite's 32,766 bind variables.
    pub(crate) const ROWS_PER_INSERT: usize = 400;

    /// Inserts messages, several rows per statement (more than one statement needs the
    /// caller's transaction to be atomic).
    pub(crate) async fn insert_many(
        conn: &mut SqliteConnection,
        messages: &[Arc<StoredMessage>],
    ) -> Result<(), sqlx::Error> {
        for chunk in messages.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (room_id, msg_offset, user_id, body, ts_ms, idem_key) ",
            );
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

    /// Keys per lookup statement.
    const KEYS_PER_LOOKUP: usize = 500;

    /// The offsets and times of earlier messages of `user_id` in `room_id` stored with any
    /// of `keys`, by key.
    pub(crate) async fn by_keys(
        conn: &mut SqliteConnection,
        room_id: &RoomId,
        user_id: UserId,
        keys: &[&str],
    ) -> Result<HashMap<String, (i64, i64)>, sqlx::Error> {
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
            for row in lookup.build().fetch_all(&mut *conn).await? {
                found.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
            }
        }
        Ok(found)
    }

    /// The highest offset stored for the room, 0 when it has no messages.
    pub(crate) async fn head(conn: &mut SqliteConnection, room_id: &RoomId) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COALESCE(MAX(msg_offset), 0) FROM messages WHERE room_id = ?")
            .bind(room_id.as_str())
            .fetch_one(conn)
            .await?
            .try_get(0)
    }
}

/// Reads, from the shared pool (they never block the writer: WAL) or, for history that is
/// final and for heads, from memory ([`Pages`], [`CommittedHeads`]).
#[derive(Debug, Clone)]
pub(crate) struct MessageReader {
    pool: SqlitePool,
    pages: Pages,
    heads: CommittedHeads,
}

impl MessageReader {
    pub(crate) fn new(pool: SqlitePool, heads: CommittedHeads) -> Self {
        Self { pool, pages: Pages::default(), heads }
    }

    /// Up to `limit` messages with offset >= `from`, oldest first.
    pub(crate) async fn starting_at(
        &self,
        room_id: &RoomId,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        let lo = from.max(1);
        let hi = lo.saturating_add(limit - 1);
        if self.heads.get(room_id).is_some_and(|head| lo > head) {
            // Nothing after the head is committed (a subscriber that is up to date asks this).
            return Ok(Vec::new());
        }
        if let Some(messages) = self.pages.range(room_id, lo, hi) {
            return Ok(messages);
        }
        // Read whole blocks, so that the complete ones serve the next reader from memory.
        let (first, last) = covering(lo, hi);
        let messages = self.offsets(room_id, first, last).await?;
        self.pages.remember(room_id, &messages);
        Ok(messages
            .into_iter()
            .filter(|message| message.offset >= lo)
            .take(usize::try_from(limit).unwrap_or(0))
            .collect())
    }

    /// The messages with offsets `first..=last` that exist, oldest first.
    async fn offsets(&self, room_id: &RoomId, first: i64, last: i64) -> Result<Vec<StoredMessage>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND msg_offset BETWEEN ? AND ? ORDER BY msg_offset"
        ))
        .bind(room_id.as_str())
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
    }

    /// The latest `limit` messages with offset < `before`, oldest first.
    pub(crate) async fn before_offset(
        &self,
        room_id: &RoomId,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        if before <= 1 {
            return Ok(Vec::new());
        }
        if let Some(messages) = self.pages.range(room_id, before.saturating_sub(limit).max(1), before - 1) {
            return Ok(messages);
        }
        let mut messages = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND msg_offset < ? ORDER BY msg_offset DESC LIMIT ?"
        ))
        .bind(room_id.as_str())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        self.pages.remember(room_id, &messages);
        Ok(messages)
    }

    /// The highest committed offset of the room, 0 when it has none.
    pub(crate) async fn head(&self, room_id: &RoomId) -> Result<i64, sqlx::Error> {
        if let Some(head) = self.heads.get(room_id) {
            return Ok(head);
        }
        let head = sqlx::query("SELECT COALESCE(MAX(msg_offset), 0) FROM messages WHERE room_id = ?")
            .bind(room_id.as_str())
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        self.heads.raise(room_id, head);
        Ok(head)
    }
}

fn from_row(row: SqliteRow) -> Result<StoredMessage, sqlx::Error> {
    let decode = |err: dchat_core::ValidationError| sqlx::Error::Decode(Box::new(err));
    let room_id: String = row.try_get(0)?;
    let user_id: String = row.try_get(2)?;
    Ok(StoredMessage {
        room_id: RoomId::parse(&room_id).map_err(decode)?,
        offset: row.try_get(1)?,
        user_id: UserId::parse(&user_id).map_err(decode)?,
        text: row.try_get(3)?,
        ts_ms: row.try_get(4)?,
        idempotency_key: row.try_get(5)?,
    })
}
