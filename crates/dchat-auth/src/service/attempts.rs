//! Failed-login and registration limits, kept in the auth service's database so that they
//! hold across every gateway and every auth replica (an attacker spreading guesses over
//! gateways gains nothing).
//!
//! A login is refused before its password is hashed while its address, its account from
//! that address, or (unless it comes from a device that signed in to the account before,
//! so that strangers failing on purpose cannot lock the owner out) its account has failed
//! too often; a failure counts against all three, for accounts that do not exist alike, so
//! the limits reveal nothing. A registration counts against its address.

use dchat_core::now_ms;

use crate::{
    AuthError, AuthService,
    store::{AttemptStore, Gcra},
};

/// One limit: `burst` attempts at once, then one per `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptRate {
    pub burst: u32,
    pub per_second: f64,
}

impl AttemptRate {
    fn gcra(self) -> Gcra {
        // Rates below one per millisecond are what these limits are for; a zero rate waits
        // as long as an i64 of ms allows.
        let interval_ms = if self.per_second > 0.0 { (1000.0 / self.per_second).ceil() as i64 } else { i64::MAX / 4 };
        Gcra { interval_ms: interval_ms.max(1), burst: i64::from(self.burst.max(1)) }
    }
}

/// The auth service's limits (`DCHAT_RATE_LIMIT=off` lifts them all).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptLimits {
    pub enabled: bool,
    /// Failed logins per address, and per account from one address (5, then 1 per 10 s).
    pub failed_logins: AttemptRate,
    /// Failed logins per account from anywhere but its known devices (20, then 1 per 10 s).
    pub failed_logins_per_account: AttemptRate,
    /// Registrations per address (20, then 1 per second).
    pub registrations: AttemptRate,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            failed_logins: AttemptRate { burst: 5, per_second: 0.1 },
            failed_logins_per_account: AttemptRate { burst: 20, per_second: 0.1 },
            registrations: AttemptRate { burst: 20, per_second: 1.0 },
        }
    }
}

/// The names of the limits, as the refusal reports them (and metrics count them).
const BY_ADDRESS: &str = "failed_logins_by_address";
const BY_ACCOUNT_AND_ADDRESS: &str = "failed_logins_by_account_and_address";
const BY_ACCOUNT: &str = "failed_logins_by_account";
const REGISTRATIONS: &str = "registrations_by_address";

/// Who is attempting a login: where from, which account (as typed, compared without case),
/// and whether from a device the account knows.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub address: String,
    pub account: String,
    pub known_device: bool,
}

impl Attempt {
    /// The keys the attempt counts against, with their limits and rates.
    fn keys(&self, limits: &AttemptLimits) -> Vec<(String, &'static str, Gcra)> {
        let account = self.account.trim().to_lowercase();
        let mut keys = vec![
            (format!("ip:{}", self.address), BY_ADDRESS, limits.failed_logins.gcra()),
            (format!("pair:{account} from {}", self.address), BY_ACCOUNT_AND_ADDRESS, limits.failed_logins.gcra()),
        ];
        if !self.known_device {
            keys.push((format!("account:{account}"), BY_ACCOUNT, limits.failed_logins_per_account.gcra()));
        }
        keys
    }
}

fn refused(limit: &'static str, wait_ms: i64) -> AuthError {
    AuthError::RateLimited { limit, retry_after_secs: u64::try_from(wait_ms.max(0)).unwrap_or(0).div_ceil(1000).max(1) }
}

impl AuthService {
    fn attempt_store(&self) -> Option<&dyn AttemptStore> {
        self.limits.enabled.then_some(self.attempts.as_ref())
    }

    /// Refuses a login attempt that its limits do not allow now, before any password hash.
    pub(crate) async fn check_login_attempt(&self, attempt: &Attempt) -> Result<(), AuthError> {
        let Some(store) = self.attempt_store() else { return Ok(()) };
        let now = now_ms();
        for (key, limit, rate) in attempt.keys(&self.limits) {
            let wait = store.attempt_wait(&key, now, rate).await?;
            if wait > 0 {
                return Err(refused(limit, wait));
            }
        }
        Ok(())
    }

    /// Counts a failed login against every key of the attempt.
    pub(crate) async fn count_failed_login(&self, attempt: &Attempt) -> Result<(), AuthError> {
        let Some(store) = self.attempt_store() else { return Ok(()) };
        let now = now_ms();
        let mut keys = attempt.keys(&self.limits);
        // A known device's failures still count against the account, for strangers' sake.
        if attempt.known_device {
            let known_as_stranger = Attempt { known_device: false, ..attempt.clone() };
            keys = known_as_stranger.keys(&self.limits);
        }
        for (key, _, rate) in keys {
            store.take_attempt(&key, now, rate).await?;
        }
        Ok(())
    }

    /// Counts a registration from `address`, or refuses it.
    pub(crate) async fn count_registration(&self, address: &str) -> Result<(), AuthError> {
        let Some(store) = self.attempt_store() else { return Ok(()) };
        let wait =
            store.take_attempt(&format!("register:{address}"), now_ms(), self.limits.registrations.gcra()).await?;
        if wait > 0 {
            return Err(refused(REGISTRATIONS, wait));
        }
        Ok(())
    }

    /// Forgets keys that have fully refilled (run now and then).
    pub(crate) async fn forget_idle_attempts(&self) {
        if let Err(error) = self.attempts.delete_idle_attempts(now_ms()).await {
            tracing::warn!(%error, "could not forget idle login attempts");
        }
    }
}
