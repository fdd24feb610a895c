//! Persistence for accounts and tokens: [`AccountStore`], [`TotpStore`] and [`TokenStore`],
//! the traits every backend implements, one file per backend, and the contract tests every
//! backend must pass.
//!
//! Methods are ordered create, read, update, delete, with the same order and docs in every
//! backend. The rules (password policy, who may log in) live in the service.

mod postgres;
mod rows;
mod sqlite;
#[cfg(test)]
mod tests;

use dchat_core::{DisplayName, Email, RoomId, UserId, UserName};
use dchat_storage::StoreError;

pub use self::{
    postgres::{PgAuthStore, SCHEMA},
    sqlite::SqliteAuthStore,
};
use crate::service::User;

/// An account with its password hash, as the store returns it for a login.
#[derive(Debug)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// An account registered before every account had a username, waiting for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unnamed {
    pub user_id: UserId,
    pub email: Option<Email>,
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

    /// Up to `limit` accounts that have no username yet.
    async fn unnamed_users(&self, limit: u32) -> Result<Vec<Unnamed>, StoreError>;

    /// Sets a display name. Returns whether the account exists.
    async fn update_display_name(&self, user_id: UserId, display_name: &DisplayName) -> Result<bool, StoreError>;

    /// Gives an account without a username a derived one (which its owner may change once).
    /// Returns whether it had none; a taken name is a [`StoreError::Conflict`].
    async fn assign_derived_username(&self, user_id: UserId, username: &UserName) -> Result<bool, StoreError>;

    /// Replaces a derived username with one its owner chose, which they keep. Returns
    /// whether the account's username was still derived; a taken name is a
    /// [`StoreError::Conflict`].
    async fn replace_derived_username(&self, user_id: UserId, username: &UserName) -> Result<bool, StoreError>;

    /// Marks an account as a bot or not. Returns whether the account exists.
    async fn update_bot(&self, user_id: UserId, bot: bool) -> Result<bool, StoreError>;

    /// Replaces the password hash. Returns whether the account exists.
    async fn update_password_hash(&self, user_id: UserId, password_hash: &str) -> Result<bool, StoreError>;

    /// Deletes an account that could not be completed (its tokens go with it).
    async fn delete_user(&self, user_id: UserId) -> Result<(), StoreError>;
}

/// An account's second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpState {
    /// The shared secret: set at enrolment, checked only once `enabled`.
    pub secret: Vec<u8>,
    pub enabled: bool,
    /// The last 30 s step whose code was accepted; a code is good once.
    pub last_step: i64,
}

/// Two-factor sign-in: a TOTP secret per account and its one-time recovery codes.
#[tonic::async_trait]
pub trait TotpStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a fresh secret awaiting confirmation, unless two-factor sign-in is on (then
    /// returns false and changes nothing).
    async fn begin_totp(&self, user_id: UserId, secret: &[u8]) -> Result<bool, StoreError>;

    /// The account's second factor, if it ever began one.
    async fn totp(&self, user_id: UserId) -> Result<Option<TotpState>, StoreError>;

    /// Turns two-factor sign-in on with the stored secret, recording `step` as used and
    /// replacing the recovery codes by these digests. Returns false when it was on already
    /// or no secret was begun.
    async fn enable_totp(&self, user_id: UserId, step: i64, recovery_hashes: &[Vec<u8>]) -> Result<bool, StoreError>;

    /// Records the use of the code of `step`; false when that step or a later one was used.
    async fn use_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError>;

    /// Spends an unused recovery code; false when there is none with this digest.
    async fn use_recovery_code(&self, user_id: UserId, code_hash: &[u8], now_ms: i64) -> Result<bool, StoreError>;

    /// The recovery codes not yet used.
    async fn recovery_codes_left(&self, user_id: UserId) -> Result<u32, StoreError>;

    /// Turns two-factor sign-in off and forgets its secret and recovery codes.
    async fn disable_totp(&self, user_id: UserId) -> Result<(), StoreError>;
}

/// What a bearer secret opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A sign-in: ends after a stretch without use or at its hard end.
    Session,
    /// A personal access token for scripts: named, ends only at the expiry its owner chose.
    Personal,
    /// An incoming webhook: posts as its bot into one room and opens nothing else.
    Webhook,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Personal => "personal",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Session, Self::Personal, Self::Webhook].into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// What a new token records besides its secret's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDetails {
    /// Its public id (see `token::public_id`), by which its owner lists and revokes it.
    pub id: String,
    pub kind: TokenKind,
    /// The name its owner gave a personal token or a webhook; empty for sessions.
    pub name: String,
    /// The browser or program that signed in, as its User-Agent said (shortened).
    pub user_agent: String,
    /// The address it signed in from.
    pub address: String,
    /// A webhook's room.
    pub room_id: Option<RoomId>,
    /// Who made a webhook (its owner is the bot it posts as).
    pub created_by: Option<UserId>,
}

impl TokenDetails {
    /// A sign-in's details.
    pub fn session(id: String, user_agent: String, address: String) -> Self {
        Self { id, kind: TokenKind::Session, name: String::new(), user_agent, address, room_id: None, created_by: None }
    }
}

/// When a live token was last used and when it ends for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    pub kind: TokenKind,
    /// The hard end: sign-in plus the longest a session may last, or the expiry chosen.
    pub expires_ms: i64,
    /// The last use recorded (at most a minute or so old: uses are recorded sparingly).
    pub last_used_ms: i64,
}

/// A live token, as its owner (or a webhook's room admins) may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub details: TokenDetails,
    /// Whose token it is (for a webhook, its bot).
    pub user_id: UserId,
    pub created_ms: i64,
    pub last_used_ms: i64,
    pub expires_ms: i64,
    /// The token's digest, to tell the current session and to announce revocations.
    pub token_hash: Vec<u8>,
}

/// Which of a user's tokens of one kind to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// The one with this public id.
    One(String),
    /// All but the one with this token digest.
    AllBut(Vec<u8>),
    /// All of them.
    All,
}

/// What [`TokenStore::revoke_token`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRevoke {
    /// Not a session or personal token we issued.
    Unknown,
    AlreadyRevoked,
    /// Revoked now: this entry of the revocation log.
    Revoked(u64),
}

/// Tokens of every kind, kept only as their SHA-256, with a hard end, a last use and a
/// revocation, and the numbered log of revocations.
///
/// Each revocation of a session or personal token is recorded in the log in the transaction
/// that revokes it, numbered 1, 2, 3, ... in commit order (whichever process commits it),
/// so that a follower that read entry `k` can read every entry before it.
#[tonic::async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores the hash of a new token, used now.
    async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: UserId,
        now_ms: i64,
        expires_ms: i64,
        details: &TokenDetails,
    ) -> Result<(), StoreError>;

    /// A user's live tokens of one kind (see [`TokenStore::user_by_token`]), the last used
    /// first.
    async fn tokens_of(
        &self,
        user_id: UserId,
        kind: TokenKind,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Vec<TokenRecord>, StoreError>;

    /// The live webhooks of a room, the newest first.
    async fn webhooks_of(&self, room_id: &RoomId, now_ms: i64) -> Result<Vec<TokenRecord>, StoreError>;

    /// The account a live session or personal token belongs to, with its times. Live: not
    /// revoked, before its hard end, and (sessions only) used less than `idle_ms` ago.
    /// Webhook tokens never open an account this way.
    async fn user_by_token(
        &self,
        token_hash: &[u8],
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Option<(User, TokenTimes)>, StoreError>;

    /// The bot and room of a live webhook token, with its public id.
    async fn webhook_by_token(
        &self,
        token_hash: &[u8],
        now_ms: i64,
    ) -> Result<Option<(User, RoomId, String)>, StoreError>;

    /// Records a use of a token (never moving its last use back).
    async fn touch_token(&self, token_hash: &[u8], now_ms: i64) -> Result<(), StoreError>;

    /// Revokes some of a user's tokens of one kind that have not reached their hard end;
    /// returns the digests of the tokens this revoked (none for an id that is not theirs)
    /// with their entries in the log.
    async fn revoke_tokens(
        &self,
        user_id: UserId,
        kind: TokenKind,
        which: &Revoke,
        now_ms: i64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Revokes a webhook of a room by its public id; returns its digest if this revoked it.
    async fn revoke_webhook(&self, room_id: &RoomId, id: &str, now_ms: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Revokes a session or personal token (a logout; a webhook's is `Unknown` here: only
    /// its room's admins delete it).
    async fn revoke_token(&self, token_hash: &[u8], now_ms: i64) -> Result<TokenRevoke, StoreError>;

    /// The number of the newest entry of the revocation log (0 before the first).
    async fn last_revocation(&self) -> Result<u64, StoreError>;

    /// Up to `limit` entries of the revocation log numbered after `seq`, in order.
    async fn revocations_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Forgets the entries of the revocation log numbered `seq` and below.
    async fn delete_revocations_through(&self, seq: u64) -> Result<(), StoreError>;

    /// Forgets tokens that ended before `cutoff_ms`: at their hard end, or (sessions) after
    /// `idle_ms` without use. They can never verify again.
    async fn delete_tokens_expired_before(&self, cutoff_ms: i64, idle_ms: i64) -> Result<u64, StoreError>;
}

/// A rate in the generic cell rate algorithm: one attempt every `interval_ms`, `burst` at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    pub interval_ms: i64,
    pub burst: i64,
}

impl Gcra {
    /// How far ahead of now a key's theoretical arrival time may run.
    fn window_ms(self) -> i64 {
        self.interval_ms.saturating_mul(self.burst)
    }
}

/// Attempts per key under a rate, shared by every process that uses the store (GCRA: one
/// row per key holding the theoretical arrival time of its next attempt).
#[tonic::async_trait]
pub trait AttemptStore: Send + Sync + std::fmt::Debug + 'static {
    /// Counts one attempt of `key` if `rate` allows it now, and returns 0; otherwise counts
    /// nothing and returns how long to wait, in ms. Atomic across processes.
    async fn take_attempt(&self, key: &str, now_ms: i64, rate: Gcra) -> Result<i64, StoreError>;

    /// How long `key` must wait before `rate` allows one more attempt (0: now), counting
    /// nothing.
    async fn attempt_wait(&self, key: &str, now_ms: i64, rate: Gcra) -> Result<i64, StoreError>;

    /// Forgets keys whose every attempt has refilled by `now_ms`.
    async fn delete_idle_attempts(&self, now_ms: i64) -> Result<u64, StoreError>;
}

/// The wait a key with theoretical arrival time `tat_ms` has under `rate` (0: none).
fn wait_ms(tat_ms: Option<i64>, now_ms: i64, rate: Gcra) -> i64 {
    let next = tat_ms.unwrap_or(now_ms).max(now_ms).saturating_add(rate.interval_ms);
    (next - now_ms - rate.window_ms()).max(0)
}
