//! Persistence for accounts and token hashes in the auth service's SQLite file.

use dchat_core::{DisplayName, Email, UserId, UserName};
use sqlx::{Row, SqlitePool, sqlite::SqliteRow};

use crate::service::User;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// An account with its password hash, as the store returns it for a login.
#[derive(Debug)]
pub(crate) struct Credentials {
    pub(crate) user: User,
    pub(crate) password_hash: String,
}

/// The auth service's tables. Methods are ordered create, read, update, delete.
#[derive(Debug, Clone)]
pub(crate) struct AuthStore {
    pool: SqlitePool,
}

const USER_COLUMNS: &str = "user_id, email, username, display_name, password_hash";

impl AuthStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Inserts an account. A taken email or username is a unique violation.
    pub(crate) async fn insert_user(&self, user: &User, password_hash: &str, now_ms: i64) -> Result<(), sqlx::Error> {
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

    /// Stores the hash of a new token.
    pub(crate) async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: UserId,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO tokens (token_hash, user_id, created_ms, expires_ms) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(user_id.to_string())
            .bind(now_ms)
            .bind(expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether an account uses this email, and whether one uses this username.
    pub(crate) async fn taken(
        &self,
        email: Option<&Email>,
        username: Option<&UserName>,
    ) -> Result<(bool, bool), sqlx::Error> {
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
    pub(crate) async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>, sqlx::Error> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"))
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(credentials_from_row)
            .transpose()
    }

    /// The account with this username, with its password hash.
    pub(crate) async fn credentials_by_username(
        &self,
        username: &UserName,
    ) -> Result<Option<Credentials>, sqlx::Error> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?"))
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(credentials_from_row)
            .transpose()
    }

    /// The account by id.
    pub(crate) async fn user(&self, user_id: UserId) -> Result<Option<User>, sqlx::Error> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = ?"))
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| credentials_from_row(row).map(|credentials| credentials.user))
            .transpose()
    }

    /// The account a live (unexpired, unrevoked) token belongs to, and when the token expires.
    pub(crate) async fn user_by_token(
        &self,
        token_hash: &[u8],
        now_ms: i64,
    ) -> Result<Option<(User, i64)>, sqlx::Error> {
        sqlx::query(
            "SELECT u.user_id, u.email, u.username, u.display_name, u.password_hash, t.expires_ms
             FROM tokens t JOIN users u ON u.user_id = t.user_id
             WHERE t.token_hash = ? AND t.revoked_ms IS NULL AND t.expires_ms > ?",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| {
            let expires_ms: i64 = row.try_get("expires_ms")?;
            credentials_from_row(row).map(|credentials| (credentials.user, expires_ms))
        })
        .transpose()
    }

    /// Sets a display name. Returns whether the account exists.
    pub(crate) async fn update_display_name(
        &self,
        user_id: UserId,
        display_name: &DisplayName,
    ) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query("UPDATE users SET display_name = ? WHERE user_id = ?")
            .bind(display_name.as_str())
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Revokes a token. Returns `None` for a token we never issued, otherwise whether this
    /// call revoked it (false: it was revoked already).
    pub(crate) async fn revoke_token(&self, token_hash: &[u8], now_ms: i64) -> Result<Option<bool>, sqlx::Error> {
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

    /// Deletes an account that could not be completed (its tokens go with it).
    pub(crate) async fn delete_user(&self, user_id: UserId) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM users WHERE user_id = ?").bind(user_id.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    /// Forgets tokens that expired before `cutoff_ms`: they can never verify again.
    pub(crate) async fn delete_tokens_expired_before(&self, cutoff_ms: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM tokens WHERE expires_ms < ?")
            .bind(cutoff_ms)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

fn decode_err(err: dchat_core::ValidationError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(err))
}

fn credentials_from_row(row: SqliteRow) -> Result<Credentials, sqlx::Error> {
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
