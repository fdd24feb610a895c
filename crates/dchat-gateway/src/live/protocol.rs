//! The WebSocket protocol's frames: JSON text, one object per frame, tagged by `type`.
//!
//! Client frames are parsed here; server frames are built here and serialized once. A
//! message frame in particular is serialized once per gateway and the same bytes go to
//! every recipient.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use dchat_websocket::Frame;

use crate::cache::profiles::Profile;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ClientFrame {
    Subscribe {
        room_id: String,
        #[serde(default)]
        after: Option<i64>,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Unsubscribe {
        room_id: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Send {
        room_id: String,
        text: String,
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Typing {
        room_id: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
}

/// Parses a client frame; on failure, returns the frame's `ref` (if it had one) with the
/// reason, so the error reply can be matched to the request.
pub(crate) fn parse(text: &str) -> Result<ClientFrame, (Option<Value>, String)> {
    let value: Value = serde_json::from_str(text).map_err(|err| (None, format!("not JSON: {err}")))?;
    let reference = value.get("ref").cloned();
    serde_json::from_value(value).map_err(|err| (reference, format!("bad frame: {err}")))
}

#[derive(Serialize)]
struct MessageFrame<'a> {
    r#type: &'static str,
    room_id: &'a str,
    offset: i64,
    user_id: &'a str,
    display_name: &'a str,
    username: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    bot: bool,
    text: &'a str,
    ts_ms: i64,
    client_id: Option<&'a str>,
}

/// `{"type":"message", ...}`, with the sender's display name, `username` and, for a bot,
/// `"bot":true`.
pub(crate) fn message(message: &dchat_proto::message::v1::Msg, sender: &Profile) -> Frame {
    Frame::json(&MessageFrame {
        r#type: "message",
        room_id: &message.room_id,
        offset: message.offset,
        user_id: &message.user_id,
        display_name: &sender.display_name,
        username: &sender.username,
        bot: sender.bot,
        text: &message.text,
        ts_ms: message.ts_ms,
        client_id: crate::keys::shown(&message.idempotency_key),
    })
}

/// `{"type":"subscribed","room_id":R,"head":H}`: the backlog is delivered.
pub(crate) fn subscribed(room_id: &str, head: i64, reference: Option<&Value>) -> Frame {
    Frame::json(&serde_json::json!({ "type": "subscribed", "room_id": room_id, "head": head, "ref": reference }))
}

/// `{"type":"unsubscribed","room_id":R}`
pub(crate) fn unsubscribed(room_id: &str, reference: Option<&Value>) -> Frame {
    Frame::json(&serde_json::json!({ "type": "unsubscribed", "room_id": room_id, "ref": reference }))
}

/// `{"type":"ack",...}`: the message is durable at `offset`.
pub(crate) fn ack(client_id: Option<&str>, room_id: &str, offset: i64, ts_ms: i64, reference: Option<&Value>) -> Frame {
    Frame::json(&serde_json::json!({
        "type": "ack", "client_id": client_id, "room_id": room_id, "offset": offset, "ts_ms": ts_ms, "ref": reference,
    }))
}

/// Who a presence or typing frame is about: the display name the presence service has for
/// them (their heartbeat may set it) and their `username`.
pub(crate) struct Someone<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) display_name: &'a str,
    pub(crate) username: &'a str,
}

/// `{"type":"presence",...}` with status `online` or `offline`.
pub(crate) fn presence(room_id: &str, who: &Someone<'_>, online: bool) -> Frame {
    let status = if online { "online" } else { "offline" };
    Frame::json(&serde_json::json!({
        "type": "presence", "room_id": room_id, "user_id": who.user_id, "display_name": who.display_name,
        "username": who.username, "status": status,
    }))
}

/// `{"type":"typing",...}`
pub(crate) fn typing(room_id: &str, who: &Someone<'_>) -> Frame {
    Frame::json(&serde_json::json!({
        "type": "typing", "room_id": room_id, "user_id": who.user_id, "display_name": who.display_name,
        "username": who.username,
    }))
}

/// `{"type":"error","ref","code","message"}`; `room_id` when the error concerns one room.
pub(crate) fn error(reference: Option<&Value>, code: &str, message: &str, room_id: Option<&str>) -> Frame {
    Frame::json(
        &serde_json::json!({ "type": "error", "ref": reference, "code": code, "message": message, "room_id": room_id }),
    )
}
