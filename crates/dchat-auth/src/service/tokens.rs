//! Personal access tokens and incoming webhooks: bearer secrets that are not sign-ins.
//!
//! A personal access token lets a user's scripts act as the user: it is named, ends at the
//! expiry its owner chose (never by idleness), is shown once and kept as a digest like every
//! token, and can do everything a session can except manage the account (see
//! `verify_session`). A webhook is a secret that posts into one room as a bot account made
//! for it; it opens nothing else, and its room's admins list and delete it.

use dchat_core::{DisplayName, RoomId, TokenName, UserId, ValidationError, now_ms};
use dchat_proto::room::v1::JoinLeaveReq;

use super::{AuthService, User};
use crate::{
    AuthError,
    store::{Revoke, TokenDetails, TokenKind, TokenRecord},
    token,
};

/// Live personal tokens one user may hold.
const MAX_PERSONAL_TOKENS: usize = 50;
/// Live webhooks one room may hold.
const MAX_WEBHOOKS: usize = 20;
/// The longest a personal token may live, in days.
const MAX_TOKEN_DAYS: u32 = 365;

/// A personal access token as its owner sees it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub last_used_ms: i64,
    pub expires_ms: i64,
}

/// A webhook as its room's admins see it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookInfo {
    pub id: String,
    pub room_id: RoomId,
    /// The bot it posts as.
    pub bot: User,
    pub created_by: Option<UserId>,
    pub created_ms: i64,
    pub last_used_ms: i64,
}

/// A secret shown this once, with what it is.
#[derive(Debug, Clone)]
pub struct Minted<T> {
    pub secret: String,
    pub info: T,
}

impl AuthService {
    /// Creates a personal access token of the session's user, valid for `days`.
    pub async fn create_personal_token(
        &self,
        session: &str,
        name: TokenName,
        days: u32,
    ) -> Result<Minted<TokenInfo>, AuthError> {
        let user = self.verify_session(session).await?;
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            let reason = format!("must be 1 to {MAX_TOKEN_DAYS} days");
            return Err(ValidationError::new("expires_in_days", reason).into());
        }
        let now = now_ms();
        let live = self.tokens.tokens_of(user.user_id, TokenKind::Personal, now, self.session_idle_ms).await?;
        if live.len() >= MAX_PERSONAL_TOKENS {
            return Err(AuthError::NotAllowed("at most 50 personal access tokens; revoke one first"));
        }
        let secret = token::generate();
        let details = TokenDetails {
            id: token::public_id(),
            kind: TokenKind::Personal,
            name: name.to_string(),
            user_agent: String::new(),
            address: String::new(),
            room_id: None,
            created_by: None,
        };
        let expires_ms = now.saturating_add(i64::from(days) * 86_400_000);
        self.tokens.insert_token(&token::hash(&secret), user.user_id, now, expires_ms, &details).await?;
        tracing::info!(user_id = %user.user_id, token_id = details.id, "personal access token created");
        let info = TokenInfo { id: details.id, name: details.name, created_ms: now, last_used_ms: now, expires_ms };
        Ok(Minted { secret, info })
    }

    /// The session's user's live personal tokens, the last used first.
    pub async fn personal_tokens(&self, session: &str) -> Result<Vec<TokenInfo>, AuthError> {
        let user = self.verify_session(session).await?;
        let records = self.tokens.tokens_of(user.user_id, TokenKind::Personal, now_ms(), self.session_idle_ms).await?;
        Ok(records
            .into_iter()
            .map(|record| TokenInfo {
                id: record.details.id,
                name: record.details.name,
                created_ms: record.created_ms,
                last_used_ms: record.last_used_ms,
                expires_ms: record.expires_ms,
            })
            .collect())
    }

    /// Revokes one of the session's user's personal tokens; its open connections close.
    pub async fn revoke_personal_token(&self, session: &str, id: &str) -> Result<(), AuthError> {
        let user = self.verify_session(session).await?;
        if self.revoke(user.user_id, TokenKind::Personal, &Revoke::One(id.to_owned())).await? == 0 {
            return Err(AuthError::NoSuchToken);
        }
        Ok(())
    }

    /// Creates a webhook posting into `room_id` as a new bot named `name`. Whether
    /// `created_by` may is the caller's decision (the gateway asks the room service).
    pub async fn create_webhook(
        &self,
        created_by: UserId,
        room_id: RoomId,
        name: DisplayName,
    ) -> Result<Minted<WebhookInfo>, AuthError> {
        let now = now_ms();
        if self.tokens.webhooks_of(&room_id, now).await?.len() >= MAX_WEBHOOKS {
            return Err(AuthError::NotAllowed("at most 20 webhooks per room; delete one first"));
        }
        let bot = self.create_bot(&name).await?;
        let join = JoinLeaveReq { room_id: room_id.to_string(), user_id: bot.user_id.to_string() };
        if let Err(status) = self.rooms.clone().join_room(join).await {
            tracing::warn!(%status, "room service refused to add a webhook's bot");
            if let Err(err) = self.accounts.delete_user(bot.user_id).await {
                tracing::error!(error = %err, "failed to delete the bot of a webhook not made");
            }
            return Err(match status.code() {
                tonic::Code::NotFound | tonic::Code::InvalidArgument => AuthError::NotAllowed("no such room"),
                _ => AuthError::Unavailable("the room service is unavailable; try again".to_owned()),
            });
        }
        let secret = token::generate();
        let details = TokenDetails {
            id: token::public_id(),
            kind: TokenKind::Webhook,
            name: name.to_string(),
            user_agent: String::new(),
            address: String::new(),
            room_id: Some(room_id.clone()),
            created_by: Some(created_by),
        };
        self.tokens.insert_token(&token::hash(&secret), bot.user_id, now, i64::MAX, &details).await?;
        tracing::info!(%room_id, webhook_id = details.id, "webhook created");
        let info = WebhookInfo {
            id: details.id,
            room_id,
            bot,
            created_by: Some(created_by),
            created_ms: now,
            last_used_ms: now,
        };
        Ok(Minted { secret, info })
    }

    /// The live webhooks of a room, the newest first.
    pub async fn webhooks(&self, room_id: &RoomId) -> Result<Vec<WebhookInfo>, AuthError> {
        let records = self.tokens.webhooks_of(room_id, now_ms()).await?;
        let mut hooks = Vec::with_capacity(records.len());
        for record in records {
            hooks.push(self.webhook_info(record).await?);
        }
        Ok(hooks)
    }

    /// Deletes a webhook of a room: its URL stops working and its bot leaves the room (its
    /// messages stay, under its name).
    pub async fn delete_webhook(&self, room_id: &RoomId, id: &str) -> Result<(), AuthError> {
        let hooks = self.tokens.webhooks_of(room_id, now_ms()).await?;
        let Some(hook) = hooks.into_iter().find(|hook| hook.details.id == id) else {
            return Err(AuthError::NoSuchToken);
        };
        if self.tokens.revoke_webhook(room_id, id, now_ms()).await?.is_none() {
            return Err(AuthError::NoSuchToken);
        }
        let leave = JoinLeaveReq { room_id: room_id.to_string(), user_id: hook.user_id.to_string() };
        if let Err(status) = self.rooms.clone().leave_room(leave).await {
            tracing::warn!(%status, "a deleted webhook's bot could not leave its room");
        }
        tracing::info!(%room_id, webhook_id = id, "webhook deleted");
        Ok(())
    }

    /// The bot and room of a live webhook secret, recording the use.
    pub async fn webhook(&self, secret: &str) -> Result<(User, RoomId, String), AuthError> {
        if !token::looks_valid(secret) {
            return Err(AuthError::InvalidToken);
        }
        let token_hash = token::hash(secret);
        let now = now_ms();
        let found = self.tokens.webhook_by_token(&token_hash, now).await?.ok_or(AuthError::InvalidToken)?;
        self.tokens.touch_token(&token_hash, now).await?;
        Ok(found)
    }

    async fn webhook_info(&self, record: TokenRecord) -> Result<WebhookInfo, AuthError> {
        let room_id = record.details.room_id.ok_or(AuthError::NoSuchToken)?;
        Ok(WebhookInfo {
            id: record.details.id,
            room_id,
            bot: self.user(record.user_id).await?,
            created_by: record.details.created_by,
            created_ms: record.created_ms,
            last_used_ms: record.last_used_ms,
        })
    }
}
