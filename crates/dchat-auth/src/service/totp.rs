//! Two-factor sign-in with time-based one-time passwords (RFC 6238: HMAC-SHA1, six digits,
//! 30 s steps, the ones a phone's authenticator app shows) and one-time recovery codes.
//!
//! Enrolment is two steps, so that a mistyped secret never locks anyone out: `begin_totp`
//! stores a fresh secret and shows it; `enable_totp` turns it on only when given a code the
//! app computed from it, and answers ten recovery codes, shown that once and kept as
//! SHA-256. A code is accepted for its own step and one either side (clock drift), and
//! never twice: the last step used is recorded, so a code seen over a shoulder is spent.

use dchat_core::{UserId, ValidationError};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use super::{AuthService, SecondFactor};
use crate::AuthError;

/// Seconds per step: what authenticator apps assume.
const STEP_SECS: u64 = 30;
/// Recovery codes handed out at enrolment.
const RECOVERY_CODES: usize = 10;
/// The issuer shown in the authenticator app.
const ISSUER: &str = "dchat";

/// What the app needs to compute codes: the secret in base32, and as an `otpauth://` URL.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub otpauth_url: String,
}

/// Whether an account signs in with a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpStatus {
    pub enabled: bool,
    pub recovery_codes_left: u32,
}

impl AuthService {
    /// Starts enrolment for the session's user: a fresh secret, not yet required.
    pub async fn begin_totp(&self, session: &str) -> Result<TotpEnrolment, AuthError> {
        let user = self.verify_session(session).await?;
        let mut secret = vec![0u8; 20];
        rand::rng().fill_bytes(&mut secret);
        if !self.totp.begin_totp(user.user_id, &secret).await? {
            return Err(AuthError::NotAllowed("two-factor sign-in is on already; turn it off first"));
        }
        let totp = totp(secret)?;
        let secret_base32 = totp.get_secret_base32();
        let otpauth_url = format!(
            "otpauth://totp/{ISSUER}:{account}?secret={secret_base32}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP_SECS}",
            account = user.username,
        );
        Ok(TotpEnrolment { secret_base32, otpauth_url })
    }

    /// Turns two-factor sign-in on, given a code computed from the secret `begin_totp` showed;
    /// answers the recovery codes, shown this once.
    pub async fn enable_totp(&self, session: &str, code: &str) -> Result<Vec<String>, AuthError> {
        let user = self.verify_session(session).await?;
        let state = self.totp.totp(user.user_id).await?;
        let Some(state) = state.filter(|state| !state.enabled) else {
            return Err(AuthError::NotAllowed("start the enrolment first, or it is on already"));
        };
        // The session is fine; the code is wrong input (a typo, a phone's clock far off).
        let wrong = || ValidationError::new("code", "does not match; check the app's clock and try the next code");
        let step = matching_step(&totp(state.secret)?, code).ok_or_else(wrong)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<Vec<u8>> = codes.iter().map(|code| recovery_hash(code)).collect();
        if !self.totp.enable_totp(user.user_id, step, &hashes).await? {
            return Err(AuthError::NotAllowed("start the enrolment first, or it is on already"));
        }
        tracing::info!(user_id = %user.user_id, "two-factor sign-in turned on");
        Ok(codes)
    }

    /// Turns two-factor sign-in off, given the account's password.
    pub async fn disable_totp(&self, session: &str, password: &str) -> Result<(), AuthError> {
        let user = self.verify_session(session).await?;
        self.confirm_password(user.user_id, password).await?;
        self.totp.disable_totp(user.user_id).await?;
        tracing::info!(user_id = %user.user_id, "two-factor sign-in turned off");
        Ok(())
    }

    /// Whether the session's user signs in with a second factor.
    pub async fn totp_status(&self, session: &str) -> Result<TotpStatus, AuthError> {
        let user = self.verify_session(session).await?;
        let enabled = self.totp.totp(user.user_id).await?.is_some_and(|state| state.enabled);
        let recovery_codes_left = if enabled { self.totp.recovery_codes_left(user.user_id).await? } else { 0 };
        Ok(TotpStatus { enabled, recovery_codes_left })
    }

    /// At sign-in, after the password matched: nothing to do without two-factor sign-in;
    /// otherwise a fresh code of the app or an unused recovery code.
    pub(super) async fn check_second_factor(&self, user_id: UserId, given: &SecondFactor) -> Result<(), AuthError> {
        let Some(state) = self.totp.totp(user_id).await?.filter(|state| state.enabled) else {
            return Ok(());
        };
        let given = given.0.trim();
        if given.is_empty() {
            return Err(AuthError::SecondFactorRequired);
        }
        if let Some(step) = matching_step(&totp(state.secret)?, given) {
            if self.totp.use_totp_step(user_id, step).await? {
                return Ok(());
            }
            return Err(AuthError::BadSecondFactor);
        }
        if self.totp.use_recovery_code(user_id, &recovery_hash(given), dchat_core::now_ms()).await? {
            tracing::info!(%user_id, "signed in with a recovery code");
            return Ok(());
        }
        Err(AuthError::BadSecondFactor)
    }
}

fn totp(secret: Vec<u8>) -> Result<TOTP, AuthError> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECS, secret)
        .map_err(|err| AuthError::Corrupt(format!("a stored TOTP secret is unusable: {err}")))
}

/// The step (of now, or one either side) whose code is `code`, compared in constant time.
fn matching_step(totp: &TOTP, code: &str) -> Option<i64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(dchat_core::now_ms()).unwrap_or_default() / 1000;
    let current = now / STEP_SECS;
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        if bool::from(totp.generate(step * STEP_SECS).as_bytes().ct_eq(code.as_bytes())) {
            found = Some(i64::try_from(step).unwrap_or(i64::MAX));
        }
    }
    found
}

/// Ten characters from an alphabet without look-alikes, as `xxxxx-xxxxx`.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let chars: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// What is stored of a recovery code: typed in any case, with or without its dash.
fn recovery_hash(code: &str) -> Vec<u8> {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).flat_map(char::to_lowercase).collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let totp = totp(vec![7u8; 20]).unwrap();
        let now = u64::try_from(dchat_core::now_ms()).unwrap() / 1000 / STEP_SECS;
        for (step, expected) in [(now, true), (now - 1, true), (now + 1, true), (now - 2, false), (now + 3, false)] {
            let code = totp.generate(step * STEP_SECS);
            // Two steps can share a code by chance (one in a million); the step is what counts.
            let matched = matching_step(&totp, &code);
            assert_eq!(matched == Some(i64::try_from(step).unwrap()), expected, "step {step} vs now {now}");
        }
        assert_eq!(matching_step(&totp, "12345"), None);
        assert_eq!(matching_step(&totp, "abcdef"), None);
    }

    #[test]
    fn recovery_codes_are_read_in_any_case_with_or_without_the_dash() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(recovery_hash(&code), recovery_hash(&code.to_uppercase().replace('-', "")));
        assert_ne!(recovery_hash(&code), recovery_hash(&recovery_code()));
    }
}
