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
    #[response(status = 401, description = "Not signed in, or a wrong password")]
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
    /// Machine-readable: `invalid_argument`, `unauthenticated`, `forbidden`, `not_found`,
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
}
