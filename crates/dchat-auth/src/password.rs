//! argon2id password hashing, off the async runtime and bounded in concurrency.

use std::sync::{Arc, LazyLock};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use dchat_core::Password;
use tokio::sync::Semaphore;

use crate::AuthError;

/// Hashes passwords with argon2id (the crate's default parameters: 19 MiB, 2 passes).
///
/// Each hash takes tens of milliseconds of CPU and 19 MiB of memory, so hashing runs on
/// blocking threads and at most a few at a time: a registration storm queues instead of
/// exhausting memory or starving the request handlers.
#[derive(Debug, Clone)]
pub(crate) struct PasswordHashing {
    permits: Arc<Semaphore>,
}

/// Guesses below which a new password is refused as common (see [`refuse_guessable`]).
const MIN_GUESSES: u64 = 10_000;

/// Refuses a new password that an attacker would try among the first ten thousand: one of
/// the most common passwords, or one made of the account's own details (`user_inputs`:
/// its username, email, display name). zxcvbn (Dropbox's estimator, whose lists hold the
/// 30,000 most common passwords) says how many guesses a password takes.
pub(crate) fn refuse_guessable(password: &Password, user_inputs: &[&str]) -> Result<(), AuthError> {
    let estimate = zxcvbn::zxcvbn(password.expose(), user_inputs);
    if estimate.guesses() < MIN_GUESSES {
        return Err(AuthError::Invalid(dchat_core::ValidationError::new(
            "password",
            "is one of the most common passwords, or made of your own name or email; choose another",
        )));
    }
    Ok(())
}

/// A hash of a password nobody has, verified when a login names an unknown account so that
/// "no such user" costs as much time as "wrong password".
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    Argon2::default().hash_password(b"dchat dummy password for timing").ok().map(|hash| hash.to_string())
});

impl PasswordHashing {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { permits: Arc::new(Semaphore::new(cores)) }
    }

    /// The PHC string (`$argon2id$v=19$...`) of `password` with a fresh random salt.
    pub(crate) async fn hash(&self, password: Password) -> Result<String, AuthError> {
        let _permit = self.permits.acquire().await.map_err(|err| AuthError::Hashing(err.to_string()))?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| AuthError::Hashing(err.to_string()))
        })
        .await
        .map_err(|err| AuthError::Hashing(err.to_string()))?
    }

    /// Whether `password` matches `hash`; with no hash, burns the same time and says no.
    pub(crate) async fn verify(&self, password: Password, hash: Option<String>) -> Result<bool, AuthError> {
        let _permit = self.permits.acquire().await.map_err(|err| AuthError::Hashing(err.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let known = hash.is_some();
            let Some(hash) = hash.or_else(|| DUMMY_HASH.clone()) else {
                return false;
            };
            let matches = Argon2::default().verify_password(password.expose().as_bytes(), hash.as_str()).is_ok();
            known && matches
        })
        .await
        .map_err(|err| AuthError::Hashing(err.to_string()))
    }
}
