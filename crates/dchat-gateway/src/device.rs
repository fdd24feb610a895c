//! Known devices: a browser that signed in to an account before carries a cookie that says
//! so, and its logins skip the per-account limit on failed logins.
//!
//! That limit is what stops a password being guessed from many addresses at once; without
//! this exemption it would also let a stranger lock the owner out, by failing on purpose.
//! The cookie is `HMAC-SHA256(key, account)`: it names no account, cannot be made for
//! another account without the key, and proves only that this browser once knew the
//! password. The key is the gateway's (`DCHAT_DEVICE_KEY`, the same on every gateway of a
//! deployment); without one each process draws its own, and a restart forgets devices.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Name of the known-device cookie.
pub(crate) const DEVICE_COOKIE: &str = "dchat_device";

/// A year: a device stays known across token lifetimes.
const MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// The key that marks devices.
#[derive(Clone)]
pub struct DeviceKey([u8; 32]);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

impl DeviceKey {
    /// A key from the operator's secret (any length; it is hashed).
    pub fn from_secret(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// A key of this process's own.
    pub fn random() -> Self {
        Self(rand::random())
    }

    fn mac(&self, account: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(normalized(account).as_bytes());
        mac
    }

    /// The cookie value that marks this device as known to `account`.
    fn mark(&self, account: &str) -> String {
        hex::encode(self.mac(account).finalize().into_bytes())
    }

    /// Whether the request comes from a device that signed in to `account` before.
    pub(crate) fn recognizes(&self, headers: &HeaderMap, account: &str) -> bool {
        let Some(value) = crate::auth::cookie(headers, DEVICE_COOKIE) else { return false };
        let Ok(tag) = hex::decode(value) else { return false };
        // `verify_slice` compares in constant time.
        self.mac(account).verify_slice(&tag).is_ok()
    }

    /// `Set-Cookie` that marks this device as known to `account`.
    pub(crate) fn cookie(&self, account: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{DEVICE_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={MAX_AGE_SECS}{secure}",
            self.mark(account)
        )
    }
}

/// Accounts are named case-insensitively, as the limits count them.
pub(crate) fn normalized(account: &str) -> String {
    account.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; {DEVICE_COOKIE}={value}")).unwrap());
        headers
    }

    #[test]
    fn a_device_is_known_only_to_the_account_it_signed_in_to_and_only_under_the_same_key() {
        let key = DeviceKey::from_secret("a secret of the deployment");
        let cookie = key.cookie("Ada@Example.com", false);
        let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        assert!(key.recognizes(&with_cookie(value), "ada@example.com"), "accounts compare case-insensitively");
        assert!(!key.recognizes(&with_cookie(value), "bob@example.com"));
        assert!(!DeviceKey::from_secret("another").recognizes(&with_cookie(value), "ada@example.com"));
        assert!(!key.recognizes(&with_cookie("zz"), "ada@example.com"));
        assert!(!key.recognizes(&HeaderMap::new(), "ada@example.com"));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    }
}
