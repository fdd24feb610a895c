//! Persistence for accounts and tokens: [`AccountStore`] and [`TokenStore`], the traits
//! every backend implements, one file per backend, and the contract tests every backend
//! must pass.
//!
//! Methods are ordered create, read, update, delete, with the same order and docs in every
//! backend. The rules (password policy, who may log in) live in the service.

mod sqlite;
#[cfg(test)]
mod tests;

use dchat_core::{DisplayName, Email, UserId, UserName};
use dchat_storage::StoreError;

pub use self::sqlite::SqliteAuthStore;
use crate::service::User;

/// An account with its password hash, as the store returns it for a login.
#[derive(Debug)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// Accounts: who they are and how they sign in.
#[tonic::async_trait]
pub trait AccountStore: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts an account. A taken email or username is a [`StoreError::Conflict`].
    async fn insert_user(&self, user: &User, password_hash: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Whether an account uses this email, and whether one uses this username.
    async fn taken(&self, email: Option<&Email>, username: Option<&UserName>) -> Result<(bool, bool), StoreError>;

    /// The account with this email, with its password hash.
    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;

    /// The account with this username, with its password hash.
    async fn credentials_by_username(&self, username: &UserName) -> Result<Option<Credentials>, StoreError>;

    /// The account by id.
    async fn user(&self, user_id: UserId) -> Result<Option<User>, StoreError>;

    /// The account by id, with its password hash.
    async fn credentials_by_id(&self, user_id: UserId) -> Result<Option<Credentials>, StoreError>;

    /// Sets a display name. Returns whether the account exists.
    async fn update_display_name(&self, user_id: UserId, display_name: &DisplayName) -> Result<bool, StoreError>;

    /// Replaces the password hash. Returns whether the account exists.
    async fn update_password_hash(&self, user_id: UserId, password_hash: &str) -> Result<bool, StoreError>;

    /// Deletes an account that could not be completed (its tokens go with it).
    async fn delete_user(&self, user_id: UserId) -> Result<(), StoreError>;
}

/// When a live token was last used and when it ends for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    /// The hard end: sign-in plus the longest a session may last.
    pub expires_ms: i64,
    /// The last use recorded (at most a minute or so old: uses are recorded sparingly).
    pub last_used_ms: i64,
}

/// What a new session records of where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionDetails {
    /// Its public id (see `token::session_id`).
    pub session_id: String,
    /// The browser or program that signed in, as its User-Agent said (shortened).
    pub user_agent: String,
    /// The address it signed in from.
    pub address: String,
}

/// A live session, as its user may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub details: SessionDetails,
    pub created_ms: i64,
    pub last_used_ms: i64,
    pub expires_ms: i64,
    /// The token's digest, to tell the current session and to announce revocations.
    pub token_hash: Vec<u8>,
}

/// Which of a user's sessions to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// The one with this public id.
    Session(String),
    /// All but the one with this token digest.
    AllBut(Vec<u8>),
    /// All of them.
    All,
}

/// Tokens (sessions), kept only as their SHA-256, with a hard end, a last use and a
/// revocation.
#[tonic::async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores the hash of a new token, used now.
    async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: UserId,
        now_ms: i64,
        expires_ms: i64,
        details: &SessionDetails,
    ) -> Result<(), StoreError>;

    /// A user's live sessions (see [`TokenStore::user_by_token`]), the last used first.
    async fn sessions_of(&self, user_id: UserId, now_ms: i64, idle_ms: i64) -> Result<Vec<SessionRecord>, StoreError>;

    /// Revokes some of a user's sessions that have not reached their hard end; returns the
    /// digests of the tokens this revoked (none for a session id that is not theirs).
    async fn revoke_sessions(&self, user_id: UserId, which: &Revoke, now_ms: i64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// The account a live token belongs to, with its times. Live: not revoked, before its
    /// hard end, and used less than `idle_ms` ago.
    async fn user_by_token(
        &self,
        token_hash: &[u8],
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Option<(User, TokenTimes)>, StoreError>;

    /// Records a use of a token (never moving its last use back).
    async fn touch_token(&self, token_hash: &[u8], now_ms: i64) -> Result<(), StoreError>;

    /// Revokes a token. Returns `None` for a token we never issued, otherwise whether this
    /// call revoked it (false: it was revoked already).
    async fn revoke_token(&self, token_hash: &[u8], now_ms: i64) -> Result<Option<bool>, StoreError>;

    /// Forgets tokens that ended before `cutoff_ms`, at their hard end or after `idle_ms`
    /// without use: they can never verify again.
    async fn delete_tokens_expired_before(&self, cutoff_ms: i64, idle_ms: i64) -> Result<u64, StoreError>;
}
