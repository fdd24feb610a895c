//! Usernames for everyone: the unique `@handle` shown next to every display name.
//!
//! The seed's variant 1 registers by email alone, so such an account gets a username
//! derived from the address (`ada.lovelace@example.com` becomes `ada.lovelace`, or
//! `ada.lovelace2` when that is taken), which its owner may replace once with one of their
//! choosing. Accounts made before usernames were universal are named the same way when
//! the service starts. A derived name comes from the email's local part, so registering
//! `user_1733@test.local` never takes a name the seed's variant 2 (`user1`, `user2`, ...)
//! would ask for.

use dchat_core::{DisplayName, Email, UserId, UserName, now_ms};
use dchat_storage::StoreError;
use rand::Rng;

use super::{AuthService, User};
use crate::AuthError;

/// Accounts named per batch by [`AuthService::name_unnamed_accounts`].
const BATCH: u32 = 500;

impl AuthService {
    /// Gives every account without a username a derived one. Several replicas starting at
    /// once may race for the same names: a conflict derives again.
    pub(super) async fn name_unnamed_accounts(&self) -> Result<(), AuthError> {
        let mut named = 0u64;
        loop {
            let unnamed = self.accounts.unnamed_users(BATCH).await?;
            if unnamed.is_empty() {
                break;
            }
            for account in unnamed {
                for _ in 0..5 {
                    let username = self.free_derived_username(account.email.as_ref()).await?;
                    match self.accounts.assign_derived_username(account.user_id, &username).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(err) => return Err(err.into()),
                    }
                }
                named += 1;
            }
        }
        if named > 0 {
            tracing::info!(accounts = named, "gave accounts registered by email alone a username");
        }
        Ok(())
    }

    /// A username nobody has, derived from an email (or, without one, `user`).
    pub(super) async fn free_derived_username(&self, email: Option<&Email>) -> Result<UserName, AuthError> {
        let base = username_base(email.map_or("", |email| email.as_str().split('@').next().unwrap_or_default()));
        self.free_username_like(&base).await
    }

    /// `base` if nobody has it, else `base2` .. `base9`, else `base-` and four random hex
    /// digits.
    pub(super) async fn free_username_like(&self, base: &str) -> Result<UserName, AuthError> {
        let numbered = (2..10).map(|n| format!("{base}{n}"));
        let random = (0..20).map(|_| format!("{base}-{:04x}", rand::rng().random::<u16>()));
        for candidate in std::iter::once(base.to_owned()).chain(numbered).chain(random) {
            let Ok(username) = UserName::parse(&candidate) else { continue };
            if !self.accounts.taken(None, Some(&username)).await?.1 {
                return Ok(username);
            }
        }
        Err(AuthError::Unavailable("no free username found; try again".to_owned()))
    }

    /// Replaces a derived username with one its owner chose; allowed once.
    pub async fn change_username(&self, user_id: UserId, username: UserName) -> Result<User, AuthError> {
        match self.accounts.replace_derived_username(user_id, &username).await {
            Ok(true) => {}
            Ok(false) => {
                self.user(user_id).await?;
                return Err(AuthError::NotAllowed("this username was chosen or changed already; it stays"));
            }
            Err(StoreError::Conflict { .. }) => return Err(AuthError::AlreadyExists("username")),
            Err(err) => return Err(err.into()),
        }
        tracing::info!(%user_id, "username changed");
        self.user(user_id).await
    }

    /// Marks an account as a bot (a script or an integration), or not.
    pub async fn set_bot(&self, user_id: UserId, bot: bool) -> Result<User, AuthError> {
        if !self.accounts.update_bot(user_id, bot).await? {
            return Err(AuthError::NotFound(user_id));
        }
        self.user(user_id).await
    }

    /// Creates the bot account a webhook posts as: no password ever opens it.
    pub(super) async fn create_bot(&self, name: &DisplayName) -> Result<User, AuthError> {
        let slug = username_base(name.as_str());
        let base = if slug == "user" { "bot".to_owned() } else { format!("{}-bot", truncate(&slug, 28)) };
        for _ in 0..3 {
            let bot = User {
                user_id: UserId::generate(),
                email: None,
                username: self.free_username_like(&base).await?,
                display_name: name.clone(),
                bot: true,
                username_derived: false,
            };
            match self.accounts.insert_user(&bot, NO_PASSWORD, now_ms()).await {
                Ok(()) => return Ok(bot),
                Err(StoreError::Conflict { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(AuthError::Unavailable("no free username found for the bot; try again".to_owned()))
    }
}

/// Not a PHC string: no password verifies against it, so a bot cannot be signed in to.
const NO_PASSWORD: &str = "!";

/// The username-shaped part of a local part or a name: lowercase ASCII letters, digits,
/// `_`, `-` and `.` (anything else becomes `.`, runs of them one), starting with a letter or
/// digit, 3 to 28 characters (room for a suffix), else `user`.
fn username_base(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '.' };
        let joiner = matches!(c, '_' | '-' | '.');
        if joiner && (out.is_empty() || out.ends_with(['_', '-', '.'])) {
            continue;
        }
        out.push(c);
    }
    let out = truncate(out.trim_end_matches(['_', '-', '.']), 28).trim_end_matches(['_', '-', '.']).to_owned();
    if out.len() < UserName::MIN_CHARS { "user".to_owned() } else { out }
}

fn truncate(s: &str, max: usize) -> &str {
    // ASCII only by construction, so any index is a boundary; `get` keeps that honest.
    s.get(..max.min(s.len())).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::username_base;

    #[test]
    fn derived_usernames_are_valid_and_readable() {
        for (raw, want) in [
            ("ada.lovelace", "ada.lovelace"),
            ("Ada+Chat", "ada.chat"),
            ("user_1733000000000123", "user_1733000000000123"),
            ("..x", "user"),
            ("José", "jos"),
            ("Ünïcødé only", "n.c.d.only"),
            ("CI Alerts", "ci.alerts"),
            ("", "user"),
            ("a-very-long-local-part-that-goes-on-and-on", "a-very-long-local-part-that"),
        ] {
            let base = username_base(raw);
            assert_eq!(base, want, "{raw:?}");
            assert!(dchat_core::UserName::parse(&base).is_ok(), "{base:?}");
            assert!(dchat_core::UserName::parse(&format!("{base}-ffff")).is_ok(), "{base:?} with a suffix");
        }
    }
}
