//! [`RoomStore`] in the room service's own PostgreSQL schema (`room`), which every replica
//! of the service shares.

use dchat_core::{RoomId, RoomName, UserId};
use dchat_storage::{OpenError, StoreError};
use sqlx::{PgPool, Row};

use super::{MemberInsert, RoomInsert, RoomStore, change_from_row, room_from_row};
use crate::service::{MembershipChange, Room};

/// The room service's tables in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgRoomStore {
    pool: PgPool,
}

/// The schema the room service's tables live in.
pub const SCHEMA: &str = "room";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl PgRoomStore {
    /// Connects to the database at `url` (a pool of 4 connections in [`SCHEMA`]) and brings
    /// the schema up to date.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::migrate(dchat_storage::postgres::open_postgres(url, SCHEMA, 4).await?).await
    }

    /// Brings the `room` schema behind `pool` (opened for [`SCHEMA`]) up to date and keeps it.
    pub async fn migrate(pool: PgPool) -> Result<Self, OpenError> {
        dchat_storage::postgres::migrate_postgres(&pool, &MIGRATOR, SCHEMA).await?;
        Ok(Self { pool })
    }
}

/// Logs a join or leave in the transaction that makes it. Its number comes from the counter
/// row, which stays locked until the transaction ends: numbers are consecutive and commit
/// in order across replicas. (Every such transaction locks its member row first and the
/// counter last, so two of them cannot deadlock.)
async fn log_change(
    tx: &mut sqlx::PgConnection,
    room_id: &RoomId,
    user_id: UserId,
    member: bool,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "WITH next AS (UPDATE membership_counter SET seq = seq + 1 RETURNING seq)
         INSERT INTO membership_changes (seq, room_id, user_id, member, at_ms)
         SELECT next.seq, $1, $2, $3, $4 FROM next RETURNING seq",
    )
    .bind(room_id.as_str())
    .bind(user_id.to_string())
    .bind(member)
    .bind(now_ms)
    .fetch_one(tx)
    .await?;
    u64::try_from(seq).map_err(StoreError::corrupt)
}

#[tonic::async_trait]
impl RoomStore for PgRoomStore {
    /// Inserts a room and, when given, its creator as first member (a logged join),
    /// atomically. When the id is taken, changes nothing.
    async fn insert_room(
        &self,
        room_id: &RoomId,
        name: &RoomName,
        creator: Option<UserId>,
        now_ms: i64,
    ) -> Result<RoomInsert, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The unique index on the folded id decides between replicas creating one room.
        let inserted = sqlx::query(
            "INSERT INTO rooms (room_id, name, created_by, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(room_id.as_str())
        .bind(name.as_str())
        .bind(creator.map(|user_id| user_id.to_string()))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            let holder: Option<String> =
                sqlx::query_scalar("SELECT room_id FROM rooms WHERE lower(room_id) = lower($1)")
                    .bind(room_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(RoomInsert::Taken(holder.unwrap_or_else(|| room_id.to_string())));
        }
        let mut change = None;
        if let Some(user_id) = creator {
            sqlx::query("INSERT INTO members (room_id, user_id, joined_ms) VALUES ($1, $2, $3)")
                .bind(room_id.as_str())
                .bind(user_id.to_string())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            change = Some(log_change(&mut tx, room_id, user_id, true, now_ms).await?);
        }
        tx.commit().await?;
        Ok(RoomInsert::Made(change))
    }

    /// Adds a member and logs the join.
    async fn insert_member(&self, room_id: &RoomId, user_id: UserId, now_ms: i64) -> Result<MemberInsert, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One statement, so a concurrent delete of the room cannot slip in between a check
        // and the insert.
        let inserted = sqlx::query(
            "INSERT INTO members (room_id, user_id, joined_ms)
             SELECT room_id, $1, $2 FROM rooms WHERE room_id = $3
             ON CONFLICT DO NOTHING",
        )
        .bind(user_id.to_string())
        .bind(now_ms)
        .bind(room_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let seq = log_change(&mut tx, room_id, user_id, true, now_ms).await?;
            tx.commit().await?;
            return Ok(MemberInsert::Joined(seq));
        }
        drop(tx);
        Ok(match self.room(room_id).await? {
            Some(_) => MemberInsert::AlreadyMember,
            None => MemberInsert::NoSuchRoom,
        })
    }

    /// The room, or `None`.
    async fn room(&self, room_id: &RoomId) -> Result<Option<Room>, StoreError> {
        sqlx::query(
            "SELECT r.room_id, r.name, r.created_ms, (SELECT COUNT(*) FROM members m WHERE m.room_id = r.room_id),
                    r.created_by
             FROM rooms r WHERE r.room_id = $1",
        )
        .bind(room_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| room_from_row(&row))
        .transpose()
    }

    /// Every room, by id.
    async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        sqlx::query(
            "SELECT r.room_id, r.name, r.created_ms, (SELECT COUNT(*) FROM members m WHERE m.room_id = r.room_id),
                    r.created_by
             FROM rooms r ORDER BY r.room_id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| room_from_row(&row))
        .collect()
    }

    /// Up to `limit` rooms with ids after `after`, by id.
    async fn rooms_after(&self, after: &str, limit: u32) -> Result<Vec<Room>, StoreError> {
        sqlx::query(
            "SELECT r.room_id, r.name, r.created_ms, (SELECT COUNT(*) FROM members m WHERE m.room_id = r.room_id),
                    r.created_by
             FROM rooms r WHERE r.room_id > $1 ORDER BY r.room_id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| room_from_row(&row))
        .collect()
    }

    /// The rooms `user_id` is a member of, by id.
    async fn rooms_of(&self, user_id: UserId) -> Result<Vec<Room>, StoreError> {
        sqlx::query(
            "SELECT r.room_id, r.name, r.created_ms, (SELECT COUNT(*) FROM members m WHERE m.room_id = r.room_id),
                    r.created_by
             FROM members mine JOIN rooms r ON r.room_id = mine.room_id
             WHERE mine.user_id = $1 ORDER BY r.room_id",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| room_from_row(&row))
        .collect()
    }

    /// The members of a room with their join times, oldest first.
    async fn members(&self, room_id: &RoomId) -> Result<Vec<(UserId, i64)>, StoreError> {
        let rows = sqlx::query("SELECT user_id, joined_ms FROM members WHERE room_id = $1 ORDER BY joined_ms, user_id")
            .bind(room_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let user_id: String = row.try_get(0)?;
                let user_id = UserId::parse(&user_id).map_err(StoreError::corrupt)?;
                Ok((user_id, row.try_get(1)?))
            })
            .collect()
    }

    /// Whether `user_id` is a member of `room_id`.
    async fn is_member(&self, room_id: &RoomId, user_id: UserId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2")
            .bind(room_id.as_str())
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Whether two users are members of one room together.
    async fn share_a_room(&self, user_id: UserId, other: UserId) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM members mine JOIN members theirs ON theirs.room_id = mine.room_id
             WHERE mine.user_id = $1 AND theirs.user_id = $2 LIMIT 1",
        )
        .bind(user_id.to_string())
        .bind(other.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The number of the newest logged change (0 before the first).
    async fn last_change(&self) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM membership_counter").fetch_one(&self.pool).await?;
        u64::try_from(seq).map_err(StoreError::corrupt)
    }

    /// Up to `limit` logged changes numbered after `seq`, in order.
    async fn changes_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, MembershipChange)>, StoreError> {
        sqlx::query("SELECT seq, room_id, user_id, member FROM membership_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(change_from_row)
            .collect()
    }

    /// Removes a member and logs the leave. Returns the change, or `None` when they were
    /// not a member.
    async fn delete_member(&self, room_id: &RoomId, user_id: UserId, now_ms: i64) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM members WHERE room_id = $1 AND user_id = $2")
            .bind(room_id.as_str())
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted != 1 {
            return Ok(None);
        }
        let seq = log_change(&mut tx, room_id, user_id, false, now_ms).await?;
        tx.commit().await?;
        Ok(Some(seq))
    }

    /// Forgets the logged changes numbered `seq` and below.
    async fn delete_changes_through(&self, seq: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM membership_changes WHERE seq <= $1")
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
