//! What can go wrong in the auth service, shaped by what the caller does next.

use dchat_core::{UserId, ValidationError};
use dchat_storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The request itself is wrong; retrying it unchanged will fail again.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The email or username belongs to someone already (the field says which).
    #[error("{0} is already registered")]
    AlreadyExists(&'static str),
    /// Wrong login or password. Deliberately does not say which.
    #[error("invalid credentials")]
    BadCredentials,
    /// The password given to change it is not the current one.
    #[error("the current password is wrong")]
    WrongPassword,
    /// No live session of this user has this id.
    #[error("no such session")]
    NoSuchSession,
    /// No live personal token or webhook has this id.
    #[error("no such token")]
    NoSuchToken,
    /// The password was right; the account needs its second factor too (the client asks
    /// for it and signs in again).
    #[error("a code from the authenticator app or a recovery code is required")]
    SecondFactorRequired,
    /// The second factor given is wrong or was used already.
    #[error("the code is wrong or was used already")]
    BadSecondFactor,
    /// A personal access token asked to manage the account; only a signed-in session may.
    #[error("sign in with your password to manage your account")]
    SessionRequired,
    /// The account's state forbids this (a username already changed, a second factor on).
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The token is unknown, expired or revoked.
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("user {0} does not exist")]
    NotFound(UserId),
    /// A service we depend on did not answer; the caller may retry later.
    #[error("{0}")]
    Unavailable(String),
    /// Too many attempts (`limit` names which); the client may try again after the wait.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { limit: &'static str, retry_after_secs: u64 },
    /// Password hashing failed (it should not; logged as internal).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Stored data cannot be used (a bug or a damaged database; logged as internal).
    #[error("{0}")]
    Corrupt(String),
    /// The store failed (see [`StoreError`] for whether a retry may help).
    #[error("auth storage failed: {0}")]
    Storage(#[from] StoreError),
}
