//! [`AccountStore`] and [`TokenStore`] in the auth service's own SQLite file.

use std::path::Path;

use dchat_core::{DisplayName, Email, UserId, UserName};
use dchat_storage::{OpenError, StoreError};
use sqlx::{Row, SqlitePool, sqlite::SqliteRow};

use super::{AccountStore, Credentials, Revoke, SessionDetails, SessionRecord, TokenStore, TokenTimes};
use crate::service::User;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The auth service's tables in SQLite: accounts and the tokens that open them.
#[derive(Debug, Clone)]
pub struct SqliteAuthStore {
    pool: SqlitePool,
}

const USER_COLUMNS: &str = "user_id, email, username, display_name, password_hash";

impl SqliteAuthStore {
    /// Brings the database behind `pool` (the file at `path`) up to date and keeps it.
    pub async fn migrate(pool: SqlitePool, path: &Path) -> Result<Self, OpenError> {
        dchat_storage::migrate(&pool, &MIGRATOR, path).await?;
        Ok(Self { pool })
    }
}

#[tonic::async_trait]
impl AccountStore for SqliteAuthStore {
    /// Inserts an account. A taken email or username is a [`StoreError::Conflict`].
    async fn insert_user(&self, user: &User, password_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (user_id, email, username, display_name, password_hash, created_ms)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(user.user_id.to_string())
        .bind(user.email.as_ref().map(Email::as_str))
        .bind(user.username.as_ref().map(UserName::as_str))
        .bind(user.display_name.as_str())
        .bind(password_hash)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether an account uses this email, and whether one uses this username.
    async fn taken(&self, email: Option<&Email>, username: Option<&UserName>) -> Result<(bool, bool), StoreError> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?), EXISTS (SELECT 1 FROM users WHERE username = ?)",
        )
        .bind(email.map(Email::as_str))
        .bind(username.map(UserName::as_str))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// The account with this email, with its password hash.
    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"))
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(credentials_from_row)
            .transpose()
    }

    /// The account with this username, with its password hash.
    async fn credentials_by_username(&self, username: &UserName) -> Result<Option<Credentials>, StoreError> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?"))
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(credentials_from_row)
            .transpose()
    }

    /// The account by id.
    async fn user(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = ?"))
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| credentials_from_row(row).map(|credentials| credentials.user))
            .transpose()
    }

    /// The account by id, with its password hash.
    async fn credentials_by_id(&self, user_id: UserId) -> Result<Option<Credentials>, StoreError> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = ?"))
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(credentials_from_row)
            .transpose()
    }

    /// Replaces the password hash. Returns whether the account exists.
    async fn update_password_hash(&self, user_id: UserId, password_hash: &str) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET password_hash = ? WHERE user_id = ?")
            .bind(password_hash)
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Sets a display name. Returns whether the account exists.
    async fn update_display_name(&self, user_id: UserId, display_name: &DisplayName) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET display_name = ? WHERE user_id = ?")
            .bind(display_name.as_str())
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Deletes an account that could not be completed (its tokens go with it).
    async fn delete_user(&self, user_id: UserId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM users WHERE user_id = ?").bind(user_id.to_string()).execute(&self.pool).await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl TokenStore for SqliteAuthStore {
    /// Stores the hash of a new token.
    async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: UserId,
        now_ms: i64,
        expires_ms: i64,
        details: &SessionDetails,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, created_ms, expires_ms, last_used_ms, session_id, user_agent, address)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id.to_string())
        .bind(now_ms)
        .bind(expires_ms)
        .bind(now_ms)
        .bind(&details.session_id)
        .bind(&details.user_agent)
        .bind(&details.address)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account a live token belongs to, with its times. Live: not revoked, before its
    /// hard end, and used less than `idle_ms` ago.
    async fn user_by_token(
        &self,
        token_hash: &[u8],
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Option<(User, TokenTimes)>, StoreError> {
        sqlx::query(
            "SELECT u.user_id, u.email, u.username, u.display_name, u.password_hash, t.expires_ms, t.last_used_ms
             FROM tokens t JOIN users u ON u.user_id = t.user_id
             WHERE t.token_hash = ? AND t.revoked_ms IS NULL AND t.expires_ms > ? AND t.last_used_ms > ?",
        )
        .bind(token_hash)
        .bind(now_ms)
        .bind(now_ms.saturating_sub(idle_ms))
        .fetch_optional(&self.pool)
        .await?
        .map(|row| {
            let times =
                TokenTimes { expires_ms: row.try_get("expires_ms")?, last_used_ms: row.try_get("last_used_ms")? };
            credentials_from_row(row).map(|credentials| (credentials.user, times))
        })
        .transpose()
    }

    /// A user's live sessions, the last used first.
    async fn sessions_of(&self, user_id: UserId, now_ms: i64, idle_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT session_id, user_agent, address, created_ms, last_used_ms, expires_ms, token_hash FROM tokens
             WHERE user_id = ? AND revoked_ms IS NULL AND expires_ms > ? AND last_used_ms > ?
             ORDER BY last_used_ms DESC, created_ms DESC",
        )
        .bind(user_id.to_string())
        .bind(now_ms)
        .bind(now_ms.saturating_sub(idle_ms))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SessionRecord {
                    details: SessionDetails {
                        session_id: row.try_get::<Option<String>, _>("session_id")?.unwrap_or_default(),
                        user_agent: row.try_get("user_agent")?,
                        address: row.try_get("address")?,
                    },
                    created_ms: row.try_get("created_ms")?,
                    last_used_ms: row.try_get("last_used_ms")?,
                    expires_ms: row.try_get("expires_ms")?,
                    token_hash: row.try_get("token_hash")?,
                })
            })
            .collect()
    }

    /// Revokes some of a user's sessions; returns the digests of the tokens this revoked.
    async fn revoke_sessions(&self, user_id: UserId, which: &Revoke, now_ms: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        let filter = match which {
            Revoke::Session(_) => "AND session_id = ?",
            Revoke::AllBut(_) => "AND token_hash <> ?",
            Revoke::All => "",
        };
        let sql = format!(
            "UPDATE tokens SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL AND expires_ms > ? {filter} RETURNING token_hash"
        );
        let query = sqlx::query(&sql).bind(now_ms).bind(user_id.to_string()).bind(now_ms);
        let query = match which {
            Revoke::Session(session_id) => query.bind(session_id.clone()),
            Revoke::AllBut(token_hash) => query.bind(token_hash.clone()),
            Revoke::All => query,
        };
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter().map(|row| Ok(row.try_get::<Vec<u8>, _>("token_hash")?)).collect()
    }

    /// Records a use of a token (never moving its last use back).
    async fn touch_token(&self, token_hash: &[u8], now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET last_used_ms = ? WHERE token_hash = ? AND last_used_ms < ?")
            .bind(now_ms)
            .bind(token_hash)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes a token. Returns `None` for a token we never issued, otherwise whether this
    /// call revoked it (false: it was revoked already).
    async fn revoke_token(&self, token_hash: &[u8], now_ms: i64) -> Result<Option<bool>, StoreError> {
        let revoked = sqlx::query("UPDATE tokens SET revoked_ms = ? WHERE token_hash = ? AND revoked_ms IS NULL")
            .bind(now_ms)
            .bind(token_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if revoked == 1 {
            return Ok(Some(true));
        }
        let known = sqlx::query("SELECT 1 FROM tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        Ok(known.then_some(false))
    }

    /// Forgets tokens that ended before `cutoff_ms`, at their hard end or after `idle_ms`
    /// without use: they can never verify again.
    async fn delete_tokens_expired_before(&self, cutoff_ms: i64, idle_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM tokens WHERE expires_ms < ? OR last_used_ms < ?")
            .bind(cutoff_ms)
            .bind(cutoff_ms.saturating_sub(idle_ms))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

fn decode_err(err: dchat_core::ValidationError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(err))
}

fn credentials_from_row(row: SqliteRow) -> Result<Credentials, StoreError> {
    let user_id: String = row.try_get(0)?;
    let email: Option<String> = row.try_get(1)?;
    let username: Option<String> = row.try_get(2)?;
    let display_name: String = row.try_get(3)?;
    Ok(Credentials {
        user: User {
            user_id: UserId::parse(&user_id).map_err(decode_err)?,
            email: email.as_deref().map(Email::parse).transpose().map_err(decode_err)?,
            username: username.as_deref().map(UserName::parse).transpose().map_err(decode_err)?,
            display_name: DisplayName::parse(&display_name).map_err(decode_err)?,
        },
        password_hash: row.try_get(4)?,
    })
}
