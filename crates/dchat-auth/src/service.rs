//! The auth rules: registration, login, token verification and revocation.
//!
//! A sign-in opens a session, named by its token. It ends after `session_idle` without use
//! or `session_max` after sign-in, whichever comes first, or when revoked. Each verification
//! is a use; to keep verifications from becoming a write each, a use is recorded only when
//! the last recorded one is older than [`touch_every`] (a minute, or a quarter of the idle
//! time when that is shorter), so a session may end up to that much earlier than its last
//! use plus the idle time.
//!
//! Besides sessions, an account may hold personal access tokens for scripts and, as a
//! room's bot, incoming webhooks (`tokens.rs`); may turn on a second factor (`totp.rs`); and
//! always has a unique username, derived for the seed's email-only registrations and then
//! changeable once (`handles.rs`).

mod attempts;
mod handles;
mod tokens;
mod totp;

pub use self::{
    tokens::{Minted, TokenInfo, WebhookInfo},
    totp::{TotpEnrolment, TotpStatus},
};

use std::{sync::Arc, time::Duration};

use dchat_bus::{Bus, ChangeLog, Follower, LocalBus, LogError, Topic, follow::Watch};
use dchat_core::{DisplayName, Email, Password, RoomId, UserId, UserName, now_ms};
use dchat_proto::{
    Transport,
    room::v1::{JoinLeaveReq, room_service_client::RoomServiceClient},
};
use dchat_storage::StoreError;
use tokio_util::sync::CancellationToken;

use self::attempts::Attempt;
pub use self::attempts::{AttemptLimits, AttemptRate};
use crate::{
    AuthError,
    password::PasswordHashing,
    store::{
        AccountStore, AttemptStore, Revoke, TokenDetails, TokenKind, TokenRevoke, TokenStore, TokenTimes, TotpStore,
    },
    token,
};

/// The auth service's section of the configuration.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A session ends after this long without use (`DCHAT_SESSION_IDLE_SECS`, default
    /// 30 days; the seed's `TOKEN_TTL_SECS`, when set, caps it).
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not (`DCHAT_SESSION_MAX_SECS`,
    /// default 90 days; capped by `TOKEN_TTL_SECS` too).
    pub session_max: Duration,
    /// Shortest password accepted at registration, in characters (default 8).
    pub password_min_chars: usize,
    /// Refuse new passwords that are among the most common or made of the account's own
    /// details (default on).
    pub refuse_common_passwords: bool,
    /// Failed-login and registration limits (`service/attempts.rs`).
    pub limits: AttemptLimits,
}

/// An account as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: UserId,
    pub email: Option<Email>,
    /// Unique; `@username` wherever the user is shown.
    pub username: UserName,
    pub display_name: DisplayName,
    /// Shown with a badge: a script, an integration or a webhook.
    pub bot: bool,
    /// The username was derived from the email, and its owner may still change it once.
    pub username_derived: bool,
}

/// A validated registration: at least one of `email` and `username` is set.
#[derive(Debug)]
pub struct Registration {
    pub email: Option<Email>,
    pub username: Option<UserName>,
    /// When absent, the username (or the email's local part) is used.
    pub display_name: Option<DisplayName>,
    /// Raw text; checked against the configured minimum length by [`AuthService::register`].
    pub password: String,
}

/// Who is logging in.
#[derive(Debug)]
pub enum Login {
    Email(Email),
    Username(UserName),
}

/// The second factor given at sign-in, if any: a code of the authenticator app or an
/// unused recovery code. Required once the account has two-factor sign-in on.
#[derive(Debug, Default)]
pub struct SecondFactor(pub String);

/// Where a sign-in comes from, as the gateway saw it; kept with the session for its user.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub user_agent: String,
    pub address: String,
}

/// One live session, as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Public: never the token nor its digest.
    pub session_id: String,
    pub created_ms: i64,
    pub last_used_ms: i64,
    /// When it ends unless used again.
    pub expires_ms: i64,
    pub user_agent: String,
    pub address: String,
    /// The session of the token that asked.
    pub current: bool,
}

/// The longest User-Agent kept with a session, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// A fresh token and the account it opens.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user: User,
    /// When the session ends unless it is used (ms since the epoch).
    pub expires_at_ms: i64,
}

/// How the hints of revocations (each digest with its entry in the store's revocation log)
/// travel between auth replicas: `Topic::Revocations`. Each replica follows the log
/// ([`Follower`]) and passes every revocation to its gateways' watches; a watch that missed
/// some ends, and its gateway checks every open connection's token again.
pub type RevocationBus = Arc<dyn Bus<(u64, Vec<u8>)>>;

/// The store's revocation log, as a follower reads it.
#[derive(Debug)]
struct RevocationLog(Arc<dyn TokenStore>);

#[dchat_bus::async_trait]
impl ChangeLog<Vec<u8>> for RevocationLog {
    async fn last_seq(&self) -> Result<u64, LogError> {
        Ok(self.0.last_revocation().await?)
    }

    async fn changes_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
        Ok(self.0.revocations_after(seq, limit).await?)
    }

    async fn forget_through(&self, seq: u64) -> Result<(), LogError> {
        Ok(self.0.delete_revocations_through(seq).await?)
    }
}

/// Revocations a gateway's watch may fall behind by before it is told to start over.
const WATCH_CHANNEL: usize = 1_024;

#[derive(Debug, Clone)]
pub struct AuthService {
    accounts: Arc<dyn AccountStore>,
    tokens: Arc<dyn TokenStore>,
    totp: Arc<dyn TotpStore>,
    revocations: Follower<Vec<u8>>,
    attempts: Arc<dyn AttemptStore>,
    limits: AttemptLimits,
    hashing: PasswordHashing,
    rooms: RoomServiceClient<Transport>,
    session_idle_ms: i64,
    session_max_ms: i64,
    password_min_chars: usize,
    refuse_common_passwords: bool,
}

impl AuthService {
    /// The auth rules over the stores the binary opened; the hints of revocations travel
    /// on `revocations` (followed once [`AuthService::run_until_stopped`] runs). `rooms` is
    /// how new users join `general`.
    pub async fn new(
        config: &AuthConfig,
        accounts: Arc<dyn AccountStore>,
        tokens: Arc<dyn TokenStore>,
        totp: Arc<dyn TotpStore>,
        attempts: Arc<dyn AttemptStore>,
        revocations: RevocationBus,
        rooms: RoomServiceClient<Transport>,
    ) -> Result<Self, AuthError> {
        let revocations =
            Follower::start(Arc::new(RevocationLog(tokens.clone())), revocations, Topic::Revocations, WATCH_CHANNEL)
                .await
                .map_err(StoreError::Other)?;
        let service = Self {
            accounts,
            tokens,
            totp,
            revocations,
            attempts,
            limits: config.limits.clone(),
            hashing: PasswordHashing::new(),
            rooms,
            session_idle_ms: i64::try_from(config.session_idle.as_millis()).unwrap_or(i64::MAX),
            session_max_ms: i64::try_from(config.session_max.as_millis()).unwrap_or(i64::MAX),
            password_min_chars: config.password_min_chars,
            refuse_common_passwords: config.refuse_common_passwords,
        };
        // Expired tokens can never verify again; a day's grace keeps "expired" distinguishable
        // from "never issued" in the logs for a while.
        match service.tokens.delete_tokens_expired_before(now_ms() - 86_400_000, service.session_idle_ms).await {
            Ok(n) if n > 0 => tracing::info!(tokens = n, "forgot expired tokens"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "failed to delete expired tokens"),
        }
        service.name_unnamed_accounts().await?;
        Ok(service)
    }

    /// Creates an account, puts it in `general`, and logs it in.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, registration: Registration, client: Client) -> Result<Session, AuthError> {
        // Counted by address when a gateway says where it comes from (a trusted service
        // call says nothing).
        if !client.address.is_empty() {
            self.count_registration(&client.address).await?;
        }
        let password = Password::parse_new(&registration.password, self.password_min_chars)?;
        let display_name = match registration.display_name {
            Some(name) => name,
            None => default_display_name(registration.username.as_ref(), registration.email.as_ref())?,
        };
        let (username, username_derived) = match registration.username {
            Some(username) => (username, false),
            None => (self.free_derived_username(registration.email.as_ref()).await?, true),
        };
        let mut user = User {
            user_id: UserId::generate(),
            email: registration.email,
            username,
            display_name,
            bot: false,
            username_derived,
        };
        if self.refuse_common_passwords {
            crate::password::refuse_guessable(&password, &personal_details(&user))?;
        }
        // Cheap check first so that a taken name does not cost a password hash. The insert
        // below still decides races between two registrations of one name.
        self.ensure_free(&user).await?;
        let password_hash = self.hashing.hash(password).await?;
        // A derived username another registration took meanwhile is derived again.
        let mut attempts = 0;
        while let Err(err) = self.accounts.insert_user(&user, &password_hash, now_ms()).await {
            if let StoreError::Conflict { .. } = err {
                self.ensure_free(&user).await?;
                if user.username_derived && attempts < 3 {
                    attempts += 1;
                    user.username = self.free_derived_username(user.email.as_ref()).await?;
                    continue;
                }
            }
            return Err(err.into());
        }
        if let Err(err) = self.join_general(user.user_id).await {
            // Without `general` the account is half made; undo it so that registering again works.
            if let Err(delete_err) = self.accounts.delete_user(user.user_id).await {
                tracing::error!(error = %delete_err, "failed to delete a half-registered user");
            }
            return Err(err);
        }
        tracing::info!(user_id = %user.user_id, "user registered");
        self.issue_token(user, client).await
    }

    /// Checks credentials and issues a token. Every failure looks the same to the caller.
    #[tracing::instrument(skip_all)]
    /// Signs in, under the failed-login limits when the gateway says where the attempt
    /// comes from (`known_device`: from a browser that signed in to the account before).
    pub async fn login(
        &self,
        login: Login,
        password: &str,
        second: SecondFactor,
        client: Client,
        known_device: bool,
    ) -> Result<Session, AuthError> {
        let attempt = (!client.address.is_empty()).then(|| Attempt {
            address: client.address.clone(),
            account: match &login {
                Login::Email(email) => email.to_string(),
                Login::Username(username) => username.to_string(),
            },
            known_device,
        });
        if let Some(attempt) = &attempt {
            self.check_login_attempt(attempt).await?;
        }
        let signed_in = self.login_unlimited(login, password, second, client).await;
        if let (Some(attempt), Err(AuthError::BadCredentials | AuthError::BadSecondFactor)) = (&attempt, &signed_in) {
            self.count_failed_login(attempt).await?;
        }
        signed_in
    }

    async fn login_unlimited(
        &self,
        login: Login,
        password: &str,
        second: SecondFactor,
        client: Client,
    ) -> Result<Session, AuthError> {
        let Ok(password) = Password::parse_existing(password) else {
            return Err(AuthError::BadCredentials);
        };
        let credentials = match &login {
            Login::Email(email) => self.accounts.credentials_by_email(email).await?,
            Login::Username(username) => self.accounts.credentials_by_username(username).await?,
        };
        let (user, hash) = match credentials {
            Some(credentials) => (Some(credentials.user), Some(credentials.password_hash)),
            None => (None, None),
        };
        if !self.hashing.verify(password, hash).await? {
            return Err(AuthError::BadCredentials);
        }
        let Some(user) = user else {
            return Err(AuthError::BadCredentials);
        };
        // Only someone who knows the password learns that a second factor is needed.
        self.check_second_factor(user.user_id, &second).await?;
        self.issue_token(user, client).await
    }

    /// The account a live token belongs to, and when its session ends unless used again
    /// (ms since the epoch). The verification is a use of the session.
    pub async fn verify(&self, token: &str) -> Result<(User, i64), AuthError> {
        let (user, times) = self.verify_token(token).await?;
        let ends = match times.kind {
            TokenKind::Session => times.expires_ms.min(times.last_used_ms.saturating_add(self.session_idle_ms)),
            TokenKind::Personal | TokenKind::Webhook => times.expires_ms,
        };
        Ok((user, ends))
    }

    /// The account of a live session or personal token, recording the use.
    async fn verify_token(&self, token: &str) -> Result<(User, TokenTimes), AuthError> {
        if !token::looks_valid(token) {
            return Err(AuthError::InvalidToken);
        }
        let token_hash = token::hash(token);
        let now = now_ms();
        let (user, mut times) =
            self.tokens.user_by_token(&token_hash, now, self.session_idle_ms).await?.ok_or(AuthError::InvalidToken)?;
        if now.saturating_sub(times.last_used_ms) >= touch_every(self.session_idle_ms) {
            self.tokens.touch_token(&token_hash, now).await?;
            times.last_used_ms = now;
        }
        Ok((user, times))
    }

    /// The account of a signed-in session: what managing the account itself (sessions,
    /// tokens, password, second factor) requires, so that a script's personal token can
    /// never mint more tokens or lock its owner out.
    async fn verify_session(&self, token: &str) -> Result<User, AuthError> {
        let (user, times) = self.verify_token(token).await?;
        if times.kind != TokenKind::Session {
            return Err(AuthError::SessionRequired);
        }
        Ok(user)
    }

    /// Revokes a token for good. Revoking twice is fine; an unknown token is an error.
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        if !token::looks_valid(token) {
            return Err(AuthError::InvalidToken);
        }
        let token_hash = token::hash(token);
        match self.tokens.revoke_token(&token_hash, now_ms()).await? {
            TokenRevoke::Unknown => Err(AuthError::InvalidToken),
            TokenRevoke::AlreadyRevoked => Ok(()),
            TokenRevoke::Revoked(seq) => {
                self.revocations.committed(seq, token_hash);
                Ok(())
            }
        }
    }

    /// The live sessions of the token's user, the last used first, its own marked.
    pub async fn sessions(&self, token: &str) -> Result<Vec<SessionInfo>, AuthError> {
        let user = self.verify_session(token).await?;
        let current = token::hash(token);
        let records = self.tokens.tokens_of(user.user_id, TokenKind::Session, now_ms(), self.session_idle_ms).await?;
        Ok(records
            .into_iter()
            .map(|record| SessionInfo {
                current: record.token_hash == current,
                session_id: record.details.id,
                created_ms: record.created_ms,
                last_used_ms: record.last_used_ms,
                expires_ms: record.expires_ms.min(record.last_used_ms.saturating_add(self.session_idle_ms)),
                user_agent: record.details.user_agent,
                address: record.details.address,
            })
            .collect())
    }

    /// Ends one session of the token's user (possibly the token's own).
    pub async fn revoke_session(&self, token: &str, session_id: &str) -> Result<(), AuthError> {
        let user = self.verify_session(token).await?;
        let revoked = self.revoke(user.user_id, TokenKind::Session, &Revoke::One(session_id.to_owned())).await?;
        if revoked == 0 {
            return Err(AuthError::NoSuchSession);
        }
        Ok(())
    }

    /// Ends every session of the token's user, its own included.
    pub async fn sign_out_everywhere(&self, token: &str) -> Result<(), AuthError> {
        let user = self.verify_session(token).await?;
        self.revoke(user.user_id, TokenKind::Session, &Revoke::All).await.map(drop)
    }

    /// Changes the password of the token's user, who must give the current one, and ends
    /// every other session of theirs (the one changing it stays signed in). Personal access
    /// tokens stay: they are listed in the settings, to be revoked one by one.
    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Result<(), AuthError> {
        let user = self.verify_session(token).await?;
        self.confirm_password(user.user_id, current).await?;
        let new = Password::parse_new(new, self.password_min_chars)?;
        if self.refuse_common_passwords {
            crate::password::refuse_guessable(&new, &personal_details(&user))?;
        }
        let hash = self.hashing.hash(new).await?;
        if !self.accounts.update_password_hash(user.user_id, &hash).await? {
            return Err(AuthError::InvalidToken);
        }
        let ended = self.revoke(user.user_id, TokenKind::Session, &Revoke::AllBut(token::hash(token))).await?;
        tracing::info!(user_id = %user.user_id, ended, "password changed; other sessions ended");
        Ok(())
    }

    /// Checks that `password` is the account's own, before a change only its owner may make.
    async fn confirm_password(&self, user_id: UserId, password: &str) -> Result<(), AuthError> {
        let credentials = self.accounts.credentials_by_id(user_id).await?.ok_or(AuthError::InvalidToken)?;
        let Ok(password) = Password::parse_existing(password) else {
            return Err(AuthError::WrongPassword);
        };
        if !self.hashing.verify(password, Some(credentials.password_hash)).await? {
            return Err(AuthError::WrongPassword);
        }
        Ok(())
    }

    /// Revokes tokens and tells the gateways, which close their open connections.
    async fn revoke(&self, user_id: UserId, kind: TokenKind, which: &Revoke) -> Result<usize, AuthError> {
        let revoked = self.tokens.revoke_tokens(user_id, kind, which, now_ms()).await?;
        let count = revoked.len();
        for (seq, token_hash) in revoked {
            self.revocations.committed(seq, token_hash);
        }
        Ok(count)
    }

    /// SHA-256 digests of tokens revoked from now on, by any replica.
    pub fn revocations(&self) -> Watch<Vec<u8>> {
        self.revocations.watch()
    }

    /// Follows the revocation log (every replica's revocations), and now and then forgets
    /// login attempts that refilled, until `stopping`.
    pub async fn run_until_stopped(self, stopping: CancellationToken) {
        let sweep = async {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                ticks.tick().await;
                self.forget_idle_attempts().await;
            }
        };
        tokio::select! {
            () = self.revocations.clone().run_until_stopped(stopping.clone()) => {}
            () = sweep => {}
            () = stopping.cancelled() => {}
        }
    }

    /// The bus of one process for the hints of revocations (its one follower reads them; a
    /// gap only sends it to the log).
    pub fn local_bus() -> LocalBus<(u64, Vec<u8>)> {
        LocalBus::new(1024, 1024)
    }

    pub async fn user(&self, user_id: UserId) -> Result<User, AuthError> {
        self.accounts.user(user_id).await?.ok_or(AuthError::NotFound(user_id))
    }

    pub async fn set_display_name(&self, user_id: UserId, display_name: DisplayName) -> Result<User, AuthError> {
        if !self.accounts.update_display_name(user_id, &display_name).await? {
            return Err(AuthError::NotFound(user_id));
        }
        self.user(user_id).await
    }

    async fn ensure_free(&self, user: &User) -> Result<(), AuthError> {
        match self.accounts.taken(user.email.as_ref(), Some(&user.username)).await? {
            (true, _) => Err(AuthError::AlreadyExists("email")),
            (_, true) => Err(AuthError::AlreadyExists("username")),
            (false, false) => Ok(()),
        }
    }

    async fn issue_token(&self, user: User, client: Client) -> Result<Session, AuthError> {
        let token = token::generate();
        let now = now_ms();
        let hard_end = now.saturating_add(self.session_max_ms);
        let details = TokenDetails::session(
            token::public_id(),
            client.user_agent.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect(),
            client.address.chars().take(64).collect(),
        );
        self.tokens.insert_token(&token::hash(&token), user.user_id, now, hard_end, &details).await?;
        Ok(Session { token, user, expires_at_ms: hard_end.min(now.saturating_add(self.session_idle_ms)) })
    }

    async fn join_general(&self, user_id: UserId) -> Result<(), AuthError> {
        let request = JoinLeaveReq { room_id: RoomId::general().to_string(), user_id: user_id.to_string() };
        self.rooms.clone().join_room(request).await.map(|_| ()).map_err(|status| {
            tracing::warn!(%status, "room service refused to add a new user to general");
            AuthError::Unavailable("the room service is unavailable; try again".to_owned())
        })
    }
}

/// What a password must not be made of: the account's own names and email.
fn personal_details(user: &User) -> Vec<&str> {
    let email = user.email.as_ref().map(Email::as_str);
    let local_part = email.and_then(|email| email.split('@').next());
    [Some(user.username.as_str()), email, local_part, Some(user.display_name.as_str())].into_iter().flatten().collect()
}

/// How stale a session's recorded last use may get before a verification records a new
/// one: a minute, or a quarter of the idle time when that is shorter.
fn touch_every(idle_ms: i64) -> i64 {
    (idle_ms / 4).clamp(0, 60_000)
}

/// The display name of an account registered without one.
fn default_display_name(username: Option<&UserName>, email: Option<&Email>) -> Result<DisplayName, AuthError> {
    let source = match (username, email) {
        (Some(username), _) => username.as_str(),
        (None, Some(email)) => email.as_str().split('@').next().unwrap_or_default(),
        (None, None) => "",
    };
    let name: String = source.chars().take(DisplayName::MAX_CHARS).collect();
    Ok(DisplayName::parse(&name)?)
}
