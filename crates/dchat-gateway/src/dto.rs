//! JSON shapes of the HTTP API: the seed's field names, plus dchat's additions.
//!
//! These are the only `Serialize`/`Deserialize` types of the HTTP API. Fields a client may
//! omit are `Option`s or defaulted; a field of the wrong type is a 400.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub(crate) struct RegisterBody {
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) username: String,
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) display_name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginBody {
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) username: String,
    pub(crate) password: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateRoomBody {
    pub(crate) room_id: String,
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RoomBody {
    pub(crate) room_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AppendBody {
    pub(crate) room_id: String,
    pub(crate) text: String,
    /// Idempotency key: the same key returns the same offset and stores nothing new.
    #[serde(default)]
    pub(crate) client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) room_id: String,
    #[serde(default)]
    pub(crate) from_offset: Option<i64>,
    #[serde(default)]
    pub(crate) limit: Option<i32>,
    #[serde(default)]
    pub(crate) before: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct HeartbeatBody {
    pub(crate) room_id: String,
    #[serde(default)]
    pub(crate) display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RoomQuery {
    pub(crate) room_id: String,
}

/// `GET /api/room/public?after=&limit=`: the page after the room id `after`.
#[derive(Debug, Deserialize)]
pub(crate) struct RoomsPageQuery {
    #[serde(default)]
    pub(crate) after: String,
    #[serde(default)]
    pub(crate) limit: Option<u32>,
}

/// One page of rooms; `next` is the `after` of the next page, absent on the last.
#[derive(Debug, Serialize)]
pub(crate) struct RoomsPageView {
    pub(crate) rooms: Vec<RoomView>,
    pub(crate) next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserQuery {
    pub(crate) user_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SetNameBody {
    pub(crate) display_name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Ok {
    pub(crate) ok: bool,
}

pub(crate) const OK: Ok = Ok { ok: true };

/// The answer to `POST /api/room/create`: `created` is false when the room existed.
#[derive(Debug, Serialize)]
pub(crate) struct RoomCreatedView {
    pub(crate) ok: bool,
    pub(crate) created: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct UserView {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) username: String,
    pub(crate) display_name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionView {
    pub(crate) ok: bool,
    pub(crate) token: String,
    pub(crate) expires_at_ms: i64,
    pub(crate) user: UserView,
}

#[derive(Debug, Serialize)]
pub(crate) struct RoomView {
    pub(crate) room_id: String,
    pub(crate) name: String,
    pub(crate) member_count: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct RoomsView {
    pub(crate) rooms: Vec<RoomView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct MemberView {
    pub(crate) user_id: String,
    pub(crate) display_name: String,
    pub(crate) joined_ms: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct MembersView {
    pub(crate) members: Vec<MemberView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AppendView {
    pub(crate) ok: bool,
    pub(crate) offset: i64,
    pub(crate) ts_ms: i64,
    pub(crate) duplicate: bool,
}

#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
pub(crate) struct MessagesView {
    pub(crate) messages: Vec<MessageView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct OnlineView {
    pub(crate) user_id: String,
    pub(crate) display_name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct RosterView {
    pub(crate) users: Vec<OnlineView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LookupView {
    pub(crate) user_id: String,
    pub(crate) display_name: String,
}
