//! JSON shapes of the HTTP API: the seed's field names, plus dchat's additions.
//!
//! These are the only `Serialize`/`Deserialize` types of the HTTP API. Fields a client may
//! omit are `Option`s or defaulted; a field of the wrong type is a 400.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Register)]
pub(crate) struct RegisterBody {
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) username: String,
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Login)]
pub(crate) struct LoginBody {
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) username: String,
    pub(crate) password: String,
    /// For an account with two-factor sign-in: the authenticator's six digits or an unused
    /// recovery code. Without it such a login answers 401 `second_factor_required`.
    #[serde(default)]
    pub(crate) second_factor: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CreateRoom)]
pub(crate) struct CreateRoomBody {
    pub(crate) room_id: String,
    pub(crate) name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = RoomRef)]
pub(crate) struct RoomBody {
    pub(crate) room_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Append)]
pub(crate) struct AppendBody {
    pub(crate) room_id: String,
    pub(crate) text: String,
    /// Idempotency key: the same key returns the same offset and stores nothing new.
    #[serde(default)]
    pub(crate) client_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    pub(crate) room_id: String,
    #[serde(default)]
    pub(crate) from_offset: Option<i64>,
    #[serde(default)]
    pub(crate) limit: Option<i32>,
    #[serde(default)]
    pub(crate) before: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Heartbeat)]
pub(crate) struct HeartbeatBody {
    pub(crate) room_id: String,
    #[serde(default)]
    pub(crate) display_name: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RoomQuery {
    pub(crate) room_id: String,
}

/// `GET /api/room/public?after=&limit=`: the page after the room id `after`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RoomsPageQuery {
    #[serde(default)]
    pub(crate) after: String,
    #[serde(default)]
    pub(crate) limit: Option<u32>,
}

/// One page of rooms; `next` is the `after` of the next page, absent on the last.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RoomsPage)]
pub(crate) struct RoomsPageView {
    pub(crate) rooms: Vec<RoomView>,
    pub(crate) next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserQuery {
    pub(crate) user_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SetName)]
pub(crate) struct SetNameBody {
    pub(crate) display_name: String,
}

/// `POST /api/sessions/revoke`: one session by id, or every one.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = RevokeSession)]
pub(crate) struct RevokeSessionBody {
    /// The session to end (from `GET /api/sessions`); required unless `everywhere`.
    pub(crate) session_id: Option<String>,
    /// End every session of the caller, this one included.
    pub(crate) everywhere: Option<bool>,
}

/// `POST /api/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChangePassword)]
pub(crate) struct ChangePasswordBody {
    pub(crate) current_password: String,
    pub(crate) new_password: String,
}

/// One live session of the caller.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionInfo)]
pub(crate) struct SessionInfoView {
    pub(crate) session_id: String,
    pub(crate) created_ms: i64,
    pub(crate) last_used_ms: i64,
    /// When it ends unless used again.
    pub(crate) expires_ms: i64,
    /// The browser or program that signed in, as it named itself.
    pub(crate) user_agent: String,
    /// The address it signed in from.
    pub(crate) address: String,
    /// The session of this request.
    pub(crate) current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Sessions)]
pub(crate) struct SessionsView {
    pub(crate) ok: bool,
    pub(crate) sessions: Vec<SessionInfoView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Ok)]
pub(crate) struct OkView {
    pub(crate) ok: bool,
}

pub(crate) const OK: OkView = OkView { ok: true };

/// Every refusal's body: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorView {
    pub(crate) error: ErrorDetail,
}

/// The refusals a JSON route may answer, each with an [`ErrorView`] body, for the
/// OpenAPI document (`responses(..., Refusals)`); not every route meets every one.
#[derive(Debug, IntoResponses)]
#[allow(dead_code)] // Only its derive is used: it describes responses, nobody builds one.
pub(crate) enum Refusals {
    #[response(status = 400, description = "Invalid input")]
    BadRequest(ErrorView),
    #[response(status = 401, description = "Not signed in, a wrong password, or a second factor required")]
    Unauthenticated(ErrorView),
    #[response(status = 403, description = "Not allowed, or no such room; or another site's page")]
    Forbidden(ErrorView),
    #[response(status = 404, description = "No such user or route")]
    NotFound(ErrorView),
    #[response(status = 408, description = "The body did not arrive within 30 s")]
    RequestTimeout(ErrorView),
    #[response(status = 409, description = "Taken")]
    Conflict(ErrorView),
    #[response(status = 413, description = "Body over 64 KiB")]
    PayloadTooLarge(ErrorView),
    #[response(status = 415, description = "Wrong content type")]
    UnsupportedMediaType(ErrorView),
    #[response(status = 429, description = "Rate limited; see Retry-After")]
    RateLimited(ErrorView),
    #[response(status = 503, description = "A service is unavailable; retry")]
    Unavailable(ErrorView),
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ErrorDetail)]
pub(crate) struct ErrorDetail {
    /// Machine-readable: `invalid_argument`, `unauthenticated`, `second_factor_required`
    /// (a login whose password was right: send it again with `second_factor`), `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `request_timeout`, `payload_too_large`,
    /// `unsupported_media_type`, `rate_limited`, `unavailable`.
    pub(crate) code: String,
    pub(crate) message: String,
}

/// The answer to `POST /api/room/create`: `created` is false when the room existed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RoomCreated)]
pub(crate) struct RoomCreatedView {
    pub(crate) ok: bool,
    pub(crate) created: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub(crate) struct UserView {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) bot: bool,
    /// The username was derived from the email and may be changed once.
    pub(crate) username_changeable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub(crate) struct SessionView {
    pub(crate) ok: bool,
    pub(crate) token: String,
    pub(crate) expires_at_ms: i64,
    pub(crate) user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Room)]
pub(crate) struct RoomView {
    pub(crate) room_id: String,
    pub(crate) name: String,
    pub(crate) member_count: u64,
    /// `GET /api/room/list` only: the caller's role, `owner` (who created it, and manages
    /// its webhooks) or `member`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Rooms)]
pub(crate) struct RoomsView {
    pub(crate) rooms: Vec<RoomView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Member)]
pub(crate) struct MemberView {
    pub(crate) user_id: String,
    pub(crate) display_name: String,
    pub(crate) username: String,
    pub(crate) bot: bool,
    /// The display name looks like another member's (the same letters once case, accents,
    /// spacing and look-alike characters are set aside): check the `@username`.
    pub(crate) lookalike: bool,
    pub(crate) joined_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Members)]
pub(crate) struct MembersView {
    pub(crate) members: Vec<MemberView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Appended)]
pub(crate) struct AppendView {
    pub(crate) ok: bool,
    pub(crate) offset: i64,
    pub(crate) ts_ms: i64,
    pub(crate) duplicate: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Message)]
pub(crate) struct MessageView {
    pub(crate) offset: i64,
    pub(crate) ts_ms: i64,
    pub(crate) user_id: String,
    pub(crate) display_name: String,
    /// The sender's unique handle, shown as `@username`.
    pub(crate) username: String,
    /// Present, and true, when the sender is a bot.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) bot: bool,
    pub(crate) text: String,
    /// The sender's idempotency key, so a client can match its pending messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
}

/// A page of history. Its JSON is written by hand (`rest/page.rs`); the derived
/// `Serialize` is the reference the tests hold that writer to.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Messages)]
pub(crate) struct MessagesView {
    pub(crate) messages: Vec<MessageView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Online)]
pub(crate) struct OnlineView {
    pub(crate) user_id: String,
    pub(crate) display_name: String,
    pub(crate) username: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Roster)]
pub(crate) struct RosterView {
    pub(crate) users: Vec<OnlineView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Lookup)]
pub(crate) struct LookupView {
    pub(crate) user_id: String,
    pub(crate) display_name: String,
    pub(crate) username: String,
    pub(crate) bot: bool,
}

/// `POST /api/profile/username`: a username derived from the email, replaced once.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SetUsername)]
pub(crate) struct SetUsernameBody {
    pub(crate) username: String,
}

/// `POST /api/profile/bot`: whether the caller's account is a bot (shown with a badge).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SetBot)]
pub(crate) struct SetBotBody {
    pub(crate) bot: bool,
}

/// `POST /api/tokens`: a personal access token for scripts.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CreateToken)]
pub(crate) struct CreateTokenBody {
    /// What it is for, to recognise it in the list.
    pub(crate) name: String,
    /// 1 to 365 (default 30).
    #[serde(default)]
    pub(crate) expires_in_days: Option<u32>,
}

/// One personal access token: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PersonalToken)]
pub(crate) struct TokenView {
    pub(crate) token_id: String,
    pub(crate) name: String,
    pub(crate) created_ms: i64,
    pub(crate) last_used_ms: i64,
    pub(crate) expires_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PersonalTokens)]
pub(crate) struct TokensView {
    pub(crate) ok: bool,
    pub(crate) tokens: Vec<TokenView>,
}

/// A new personal access token: `token` is shown this once (use it as `Authorization:
/// Bearer <token>`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TokenCreated)]
pub(crate) struct TokenCreatedView {
    pub(crate) ok: bool,
    pub(crate) token: String,
    pub(crate) info: TokenView,
}

/// `POST /api/tokens/revoke`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = RevokeToken)]
pub(crate) struct RevokeTokenBody {
    pub(crate) token_id: String,
}

/// `POST /api/room/webhooks`: an incoming webhook posting into the room as a new bot.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CreateWebhook)]
pub(crate) struct CreateWebhookBody {
    pub(crate) room_id: String,
    /// The bot's display name.
    pub(crate) name: String,
}

/// One webhook of a room: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhook)]
pub(crate) struct WebhookView {
    pub(crate) webhook_id: String,
    pub(crate) room_id: String,
    /// The bot it posts as.
    pub(crate) bot_user_id: String,
    pub(crate) name: String,
    pub(crate) username: String,
    pub(crate) created_by: String,
    pub(crate) created_ms: i64,
    pub(crate) last_used_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhooks)]
pub(crate) struct WebhooksView {
    pub(crate) ok: bool,
    pub(crate) webhooks: Vec<WebhookView>,
}

/// A new webhook: `url` (and the `token` in it) is shown this once; POST `{"text": ...}` to it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookCreated)]
pub(crate) struct WebhookCreatedView {
    pub(crate) ok: bool,
    /// The path to POST to, on this server: `/api/hooks/<token>`.
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) webhook: WebhookView,
}

/// `POST /api/room/webhooks/delete`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = DeleteWebhook)]
pub(crate) struct DeleteWebhookBody {
    pub(crate) room_id: String,
    pub(crate) webhook_id: String,
}

/// `POST /api/hooks/{token}`: what a webhook posts.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = WebhookPost)]
pub(crate) struct WebhookPostBody {
    pub(crate) text: String,
    /// Idempotency key, as for `POST /api/message/append`.
    #[serde(default)]
    pub(crate) client_id: Option<String>,
}

/// `GET /api/2fa`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TwoFactorStatus)]
pub(crate) struct TotpStatusView {
    pub(crate) ok: bool,
    pub(crate) enabled: bool,
    pub(crate) recovery_codes_left: u32,
}

/// `POST /api/2fa/setup`: what the authenticator app needs; on only after `/api/2fa/enable`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TwoFactorSetup)]
pub(crate) struct TotpSetupView {
    pub(crate) ok: bool,
    /// The shared secret in base32, to type into the app.
    pub(crate) secret: String,
    /// The same as an `otpauth://` link (what a QR code would hold).
    pub(crate) otpauth_url: String,
}

/// `POST /api/2fa/enable`: a code the app computed from the secret of `/api/2fa/setup`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TwoFactorCode)]
pub(crate) struct TotpCodeBody {
    pub(crate) code: String,
}

/// Recovery codes, each good once in place of a code of the app: shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RecoveryCodes)]
pub(crate) struct RecoveryCodesView {
    pub(crate) ok: bool,
    pub(crate) recovery_codes: Vec<String>,
}

/// `POST /api/2fa/disable`: the account's password.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TwoFactorDisable)]
pub(crate) struct TotpDisableBody {
    pub(crate) password: String,
}
