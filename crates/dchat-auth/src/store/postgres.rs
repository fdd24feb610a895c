//! [`AccountStore`], [`TotpStore`] and [`TokenStore`] in the auth service's own PostgreSQL
//! schema (`auth`), which every replica of the service shares.

use dchat_core::{DisplayName, Email, RoomId, UserId, UserName};
use dchat_storage::{OpenError, StoreError};
use sqlx::{PgPool, Row};

use super::{
    AccountStore, AttemptStore, Credentials, Gcra, Revoke, TokenDetails, TokenKind, TokenRecord, TokenRevoke,
    TokenStore, TokenTimes, TotpState, TotpStore, Unnamed,
    rows::{TOKEN_COLUMNS, USER_COLUMNS, credentials_from_row, decode_err, kind_from_row, token_from_row},
    wait_ms,
};
use crate::service::User;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The schema the auth service's tables live in.
pub const SCHEMA: &str = "auth";

/// The auth service's tables in PostgreSQL: accounts and the tokens that open them.
#[derive(Debug, Clone)]
pub struct PgAuthStore {
    pool: PgPool,
}

impl PgAuthStore {
    /// Connects to the database at `url` (a pool of 4 connections in [`SCHEMA`]) and brings
    /// the schema up to date.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::migrate(dchat_storage::postgres::open_postgres(url, SCHEMA, 4).await?).await
    }

    /// Brings the `auth` schema behind `pool` (opened with `dchat_storage::postgres::open_postgres`
    /// for [`SCHEMA`]) up to date and keeps it.
    pub async fn migrate(pool: PgPool) -> Result<Self, OpenError> {
        dchat_storage::postgres::migrate_postgres(&pool, &MIGRATOR, SCHEMA).await?;
        Ok(Self { pool })
    }

    async fn credentials_where(&self, filter: &str, value: String) -> Result<Option<Credentials>, StoreError> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE {filter} = $1"))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| credentials_from_row(&row))
            .transpose()
    }
}

#[tonic::async_trait]
impl AccountStore for PgAuthStore {
    /// Inserts an account. A taken email or username is a [`StoreError::Conflict`].
    async fn insert_user(&self, user: &User, password_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (user_id, email, username, display_name, bot, username_derived, password_hash, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.user_id.to_string())
        .bind(user.email.as_ref().map(Email::as_str))
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(user.bot)
        .bind(user.username_derived)
        .bind(password_hash)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether an account uses this email, and whether one uses this username.
    async fn taken(&self, email: Option<&Email>, username: Option<&UserName>) -> Result<(bool, bool), StoreError> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1), EXISTS (SELECT 1 FROM users WHERE username = $2)",
        )
        .bind(email.map(Email::as_str))
        .bind(username.map(UserName::as_str))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// The account with this email, with its password hash.
    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        self.credentials_where("u.email", email.to_string()).await
    }

    /// The account with this username, with its password hash.
    async fn credentials_by_username(&self, username: &UserName) -> Result<Option<Credentials>, StoreError> {
        self.credentials_where("u.username", username.to_string()).await
    }

    /// The account by id.
    async fn user(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.credentials_by_id(user_id).await?.map(|credentials| credentials.user))
    }

    /// The account by id, with its password hash.
    async fn credentials_by_id(&self, user_id: UserId) -> Result<Option<Credentials>, StoreError> {
        self.credentials_where("u.user_id", user_id.to_string()).await
    }

    /// Up to `limit` accounts that have no username yet.
    async fn unnamed_users(&self, limit: u32) -> Result<Vec<Unnamed>, StoreError> {
        let rows = sqlx::query("SELECT user_id, email FROM users WHERE username IS NULL LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let email: Option<String> = row.try_get(1)?;
                Ok(Unnamed {
                    user_id: UserId::parse(row.try_get(0)?).map_err(decode_err)?,
                    email: email.as_deref().map(Email::parse).transpose().map_err(decode_err)?,
                })
            })
            .collect()
    }

    /// Sets a display name. Returns whether the account exists.
    async fn update_display_name(&self, user_id: UserId, display_name: &DisplayName) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET display_name = $1 WHERE user_id = $2")
            .bind(display_name.as_str())
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Gives an account without a username a derived one. Returns whether it had none.
    async fn assign_derived_username(&self, user_id: UserId, username: &UserName) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE users SET username = $1, username_derived = TRUE WHERE user_id = $2 AND username IS NULL",
        )
        .bind(username.as_str())
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Replaces a derived username with a chosen one. Returns whether it was still derived.
    async fn replace_derived_username(&self, user_id: UserId, username: &UserName) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE users SET username = $1, username_derived = FALSE WHERE user_id = $2 AND username_derived",
        )
        .bind(username.as_str())
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Marks an account as a bot or not. Returns whether the account exists.
    async fn update_bot(&self, user_id: UserId, bot: bool) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET bot = $1 WHERE user_id = $2")
            .bind(bot)
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Replaces the password hash. Returns whether the account exists.
    async fn update_password_hash(&self, user_id: UserId, password_hash: &str) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET password_hash = $1 WHERE user_id = $2")
            .bind(password_hash)
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Deletes an account that could not be completed (its tokens go with it).
    async fn delete_user(&self, user_id: UserId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM users WHERE user_id = $1").bind(user_id.to_string()).execute(&self.pool).await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl TotpStore for PgAuthStore {
    /// Stores a fresh secret awaiting confirmation, unless two-factor sign-in is on.
    async fn begin_totp(&self, user_id: UserId, secret: &[u8]) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET totp_secret = $1 WHERE user_id = $2 AND NOT totp_enabled")
            .bind(secret)
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// The account's second factor, if it ever began one.
    async fn totp(&self, user_id: UserId) -> Result<Option<TotpState>, StoreError> {
        let row = sqlx::query(
            "SELECT totp_secret, totp_enabled, totp_last_step FROM users WHERE user_id = $1 AND totp_secret IS NOT NULL",
        )
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok(TotpState { secret: row.try_get(0)?, enabled: row.try_get(1)?, last_step: row.try_get(2)? }))
            .transpose()
    }

    /// Turns two-factor sign-in on, with `step` used and these recovery codes.
    async fn enable_totp(&self, user_id: UserId, step: i64, recovery_hashes: &[Vec<u8>]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET totp_enabled = TRUE, totp_last_step = $1
             WHERE user_id = $2 AND NOT totp_enabled AND totp_secret IS NOT NULL",
        )
        .bind(step)
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        for code_hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id.to_string())
                .bind(code_hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records the use of the code of `step`; false when that step or a later one was used.
    async fn use_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET totp_last_step = $1 WHERE user_id = $2 AND totp_last_step < $3")
            .bind(step)
            .bind(user_id.to_string())
            .bind(step)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Spends an unused recovery code; false when there is none with this digest.
    async fn use_recovery_code(&self, user_id: UserId, code_hash: &[u8], now_ms: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE recovery_codes SET used_ms = $1 WHERE user_id = $2 AND code_hash = $3 AND used_ms IS NULL",
        )
        .bind(now_ms)
        .bind(user_id.to_string())
        .bind(code_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// The recovery codes not yet used.
    async fn recovery_codes_left(&self, user_id: UserId) -> Result<u32, StoreError> {
        let left: i64 = sqlx::query("SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_ms IS NULL")
            .bind(user_id.to_string())
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    /// Turns two-factor sign-in off and forgets its secret and recovery codes.
    async fn disable_totp(&self, user_id: UserId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET totp_secret = NULL, totp_enabled = FALSE, totp_last_step = 0 WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Logs revoked tokens' digests in the transaction that revokes them. Their numbers come
/// from the counter row, which stays locked until the transaction ends: consecutive, and
/// committed in order across replicas. (Token rows are locked before the counter, always.)
async fn log_revocations(
    tx: &mut sqlx::PgConnection,
    digests: Vec<Vec<u8>>,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let count = i64::try_from(digests.len()).map_err(StoreError::corrupt)?;
    let last: i64 = sqlx::query_scalar("UPDATE revocation_counter SET seq = seq + $1 RETURNING seq")
        .bind(count)
        .fetch_one(&mut *tx)
        .await?;
    let first = u64::try_from(last - count + 1).map_err(StoreError::corrupt)?;
    let logged: Vec<(u64, Vec<u8>)> = (first..).zip(digests).collect();
    let seqs: Vec<i64> = (last - count + 1..=last).collect();
    let hashes: Vec<&[u8]> = logged.iter().map(|(_, digest)| digest.as_slice()).collect();
    sqlx::query("INSERT INTO revocations (seq, token_hash) SELECT * FROM unnest($1::BIGINT[], $2::BYTEA[])")
        .bind(seqs)
        .bind(hashes)
        .execute(&mut *tx)
        .await?;
    Ok(logged)
}

#[tonic::async_trait]
impl TokenStore for PgAuthStore {
    /// Stores the hash of a new token, used now.
    async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: UserId,
        now_ms: i64,
        expires_ms: i64,
        details: &TokenDetails,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, created_ms, expires_ms, last_used_ms, session_id, kind, name,
                                 user_agent, address, room_id, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(token_hash)
        .bind(user_id.to_string())
        .bind(now_ms)
        .bind(expires_ms)
        .bind(now_ms)
        .bind(&details.id)
        .bind(details.kind.as_str())
        .bind(&details.name)
        .bind(&details.user_agent)
        .bind(&details.address)
        .bind(details.room_id.as_ref().map(RoomId::as_str))
        .bind(details.created_by.map(|user_id| user_id.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A user's live tokens of one kind, the last used first.
    async fn tokens_of(
        &self,
        user_id: UserId,
        kind: TokenKind,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens t
             WHERE t.user_id = $1 AND t.kind = $2 AND t.revoked_ms IS NULL AND t.expires_ms > $3
               AND (t.kind <> 'session' OR t.last_used_ms > $4)
             ORDER BY t.last_used_ms DESC, t.created_ms DESC"
        ))
        .bind(user_id.to_string())
        .bind(kind.as_str())
        .bind(now_ms)
        .bind(now_ms.saturating_sub(idle_ms))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The live webhooks of a room, the newest first.
    async fn webhooks_of(&self, room_id: &RoomId, now_ms: i64) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens t
             WHERE t.room_id = $1 AND t.kind = 'webhook' AND t.revoked_ms IS NULL AND t.expires_ms > $2
             ORDER BY t.created_ms DESC"
        ))
        .bind(room_id.as_str())
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The account a live session or personal token belongs to, with its times.
    async fn user_by_token(
        &self,
        token_hash: &[u8],
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Option<(User, TokenTimes)>, StoreError> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, t.kind, t.expires_ms, t.last_used_ms
             FROM tokens t JOIN users u ON u.user_id = t.user_id
             WHERE t.token_hash = $1 AND t.kind IN ('session', 'personal') AND t.revoked_ms IS NULL
               AND t.expires_ms > $2 AND (t.kind <> 'session' OR t.last_used_ms > $3)"
        ))
        .bind(token_hash)
        .bind(now_ms)
        .bind(now_ms.saturating_sub(idle_ms))
        .fetch_optional(&self.pool)
        .await?
        .map(|row| {
            let times = TokenTimes {
                kind: kind_from_row(&row)?,
                expires_ms: row.try_get("expires_ms")?,
                last_used_ms: row.try_get("last_used_ms")?,
            };
            Ok((credentials_from_row(&row)?.user, times))
        })
        .transpose()
    }

    /// The bot and room of a live webhook token, with its public id.
    async fn webhook_by_token(
        &self,
        token_hash: &[u8],
        now_ms: i64,
    ) -> Result<Option<(User, RoomId, String)>, StoreError> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, t.room_id, t.session_id
             FROM tokens t JOIN users u ON u.user_id = t.user_id
             WHERE t.token_hash = $1 AND t.kind = 'webhook' AND t.revoked_ms IS NULL AND t.expires_ms > $2"
        ))
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| {
            let room_id: String = row.try_get("room_id")?;
            let room_id = RoomId::parse(&room_id).map_err(decode_err)?;
            Ok((credentials_from_row(&row)?.user, room_id, row.try_get("session_id")?))
        })
        .transpose()
    }

    /// Records a use of a token (never moving its last use back).
    async fn touch_token(&self, token_hash: &[u8], now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET last_used_ms = $1 WHERE token_hash = $2 AND last_used_ms < $3")
            .bind(now_ms)
            .bind(token_hash)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes some of a user's tokens of one kind; returns the digests this revoked.
    async fn revoke_tokens(
        &self,
        user_id: UserId,
        kind: TokenKind,
        which: &Revoke,
        now_ms: i64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let filter = match which {
            Revoke::One(_) => "AND session_id = $5",
            Revoke::AllBut(_) => "AND token_hash <> $5",
            Revoke::All => "",
        };
        let sql = format!(
            "UPDATE tokens SET revoked_ms = $1
             WHERE user_id = $2 AND kind = $3 AND revoked_ms IS NULL AND expires_ms > $4 {filter} RETURNING token_hash"
        );
        let query = sqlx::query(&sql).bind(now_ms).bind(user_id.to_string()).bind(kind.as_str()).bind(now_ms);
        let query = match which {
            Revoke::One(id) => query.bind(id.clone()),
            Revoke::AllBut(token_hash) => query.bind(token_hash.clone()),
            Revoke::All => query,
        };
        let mut tx = self.pool.begin().await?;
        let rows = query.fetch_all(&mut *tx).await?;
        let digests = rows.into_iter().map(|row| row.try_get::<Vec<u8>, _>("token_hash")).collect::<Result<_, _>>()?;
        let logged = log_revocations(&mut tx, digests).await?;
        tx.commit().await?;
        Ok(logged)
    }

    /// Revokes a webhook of a room by its public id; returns its digest if this revoked it.
    async fn revoke_webhook(&self, room_id: &RoomId, id: &str, now_ms: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query(
            "UPDATE tokens SET revoked_ms = $1
             WHERE room_id = $2 AND session_id = $3 AND kind = 'webhook' AND revoked_ms IS NULL RETURNING token_hash",
        )
        .bind(now_ms)
        .bind(room_id.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get::<Vec<u8>, _>(0)).transpose()?)
    }

    /// Revokes a session or personal token (a logout; a webhook's is `Unknown` here: only
    /// its room's admins delete it).
    async fn revoke_token(&self, token_hash: &[u8], now_ms: i64) -> Result<TokenRevoke, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query(
            "UPDATE tokens SET revoked_ms = $1
             WHERE token_hash = $2 AND kind IN ('session', 'personal') AND revoked_ms IS NULL",
        )
        .bind(now_ms)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked == 1 {
            let logged = log_revocations(&mut tx, vec![token_hash.to_vec()]).await?;
            tx.commit().await?;
            return Ok(logged.first().map_or(TokenRevoke::AlreadyRevoked, |(seq, _)| TokenRevoke::Revoked(*seq)));
        }
        let known = sqlx::query("SELECT 1 FROM tokens WHERE token_hash = $1 AND kind IN ('session', 'personal')")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        Ok(if known { TokenRevoke::AlreadyRevoked } else { TokenRevoke::Unknown })
    }

    /// The number of the newest entry of the revocation log (0 before the first).
    async fn last_revocation(&self) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM revocation_counter").fetch_one(&self.pool).await?;
        u64::try_from(seq).map_err(StoreError::corrupt)
    }

    /// Up to `limit` entries of the revocation log numbered after `seq`, in order.
    async fn revocations_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT seq, token_hash FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let seq: i64 = row.try_get(0)?;
                Ok((u64::try_from(seq).map_err(StoreError::corrupt)?, row.try_get(1)?))
            })
            .collect()
    }

    /// Forgets the entries of the revocation log numbered `seq` and below.
    async fn delete_revocations_through(&self, seq: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM revocations WHERE seq <= $1")
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets tokens that ended before `cutoff_ms`: at their hard end, or (sessions) after
    /// `idle_ms` without use.
    async fn delete_tokens_expired_before(&self, cutoff_ms: i64, idle_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM tokens WHERE expires_ms < $1 OR (kind = 'session' AND last_used_ms < $2)")
            .bind(cutoff_ms)
            .bind(cutoff_ms.saturating_sub(idle_ms))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

#[tonic::async_trait]
impl AttemptStore for PgAuthStore {
    /// Counts one attempt of `key` if `rate` allows it now, and returns 0; otherwise counts
    /// nothing and returns how long to wait, in ms.
    async fn take_attempt(&self, key: &str, now_ms: i64, rate: Gcra) -> Result<i64, StoreError> {
        // One statement: two processes counting the same key cannot both take its last one.
        let taken: Option<i64> = sqlx::query_scalar(
            "INSERT INTO attempts (key, tat_ms) VALUES ($1, $2 + $3)
             ON CONFLICT (key) DO UPDATE SET tat_ms = GREATEST(attempts.tat_ms, $2) + $3
             WHERE GREATEST(attempts.tat_ms, $2) + $3 - $2 <= $4
             RETURNING tat_ms",
        )
        .bind(key)
        .bind(now_ms)
        .bind(rate.interval_ms)
        .bind(rate.window_ms())
        .fetch_optional(&self.pool)
        .await?;
        match taken {
            Some(_) => Ok(0),
            None => self.attempt_wait(key, now_ms, rate).await.map(|wait| wait.max(1)),
        }
    }

    /// How long `key` must wait before `rate` allows one more attempt (0: now).
    async fn attempt_wait(&self, key: &str, now_ms: i64, rate: Gcra) -> Result<i64, StoreError> {
        let tat_ms: Option<i64> = sqlx::query_scalar("SELECT tat_ms FROM attempts WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(wait_ms(tat_ms, now_ms, rate))
    }

    /// Forgets keys whose every attempt has refilled by `now_ms`.
    async fn delete_idle_attempts(&self, now_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM attempts WHERE tat_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
