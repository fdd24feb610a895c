//! Persistence for messages in the message service's SQLite file.

use dchat_core::{RoomId, UserId};
use sqlx::{Row, SqliteConnection, SqlitePool, sqlite::SqliteRow};

use crate::service::StoredMessage;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const COLUMNS: &str = "room_id, msg_offset, user_id, body, ts_ms, idem_key";

/// Writes, which only the writer task performs, on its own connection and transaction.
pub(crate) mod write {
    use super::*;

    /// Inserts one message inside the writer's open transaction.
    pub(crate) async fn insert(conn: &mut SqliteConnection, message: &StoredMessage) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO messages (room_id, msg_offset, user_id, body, ts_ms, idem_key) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(message.room_id.as_str())
        .bind(message.offset)
        .bind(message.user_id.to_string())
        .bind(&message.text)
        .bind(message.ts_ms)
        .bind(message.idempotency_key.as_deref())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The highest offset stored for the room, 0 when it has no messages.
    pub(crate) async fn head(conn: &mut SqliteConnection, room_id: &RoomId) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COALESCE(MAX(msg_offset), 0) FROM messages WHERE room_id = ?")
            .bind(room_id.as_str())
            .fetch_one(conn)
            .await?
            .try_get(0)
    }

    /// The message an earlier append with this key stored, if any.
    pub(crate) async fn by_key(
        conn: &mut SqliteConnection,
        room_id: &RoomId,
        user_id: UserId,
        key: &str,
    ) -> Result<Option<StoredMessage>, sqlx::Error> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM messages WHERE room_id = ? AND user_id = ? AND idem_key = ?"))
            .bind(room_id.as_str())
            .bind(user_id.to_string())
            .bind(key)
            .fetch_optional(conn)
            .await?
            .map(from_row)
            .transpose()
    }
}

/// Reads, from the shared pool; they never block the writer (WAL).
#[derive(Debug, Clone)]
pub(crate) struct MessageReader {
    pool: SqlitePool,
}

impl MessageReader {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Up to `limit` messages with offset >= `from`, oldest first.
    pub(crate) async fn starting_at(
        &self,
        room_id: &RoomId,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE room_id = ? AND msg_offset >= ? ORDER BY msg_offset LIMIT ?"
        ))
        .bind(room_id.as_str())
        .bind(from)
        .bind(limit)
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
        Ok(messages)
    }

    /// The highest committed offset of the room, 0 when it has none.
    pub(crate) async fn head(&self, room_id: &RoomId) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COALESCE(MAX(msg_offset), 0) FROM messages WHERE room_id = ?")
            .bind(room_id.as_str())
            .fetch_one(&self.pool)
            .await?
            .try_get(0)
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
