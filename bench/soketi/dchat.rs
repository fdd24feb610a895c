//! dchat's WebSocket protocol for the Soketi kit's load client (`--proto dchat`), written
//! against the real server. `bench/soketi/run.sh` copies the kit to a scratch folder and
//! puts this file in place of the kit's `loadgen/src/proto/dchat.rs`.
//!
//! client -> server: {"type":"subscribe","room_id":R}
//! server -> client: {"type":"subscribed","room_id":R,"head":H}
//! server -> client: {"type":"message","room_id":R,"offset":N,...,"text":T,...}
//! client -> server: {"type":"send","room_id":R,"text":T,"client_id":C}
//! server -> client: {"type":"ack","client_id":C,"room_id":R,"offset":N,...}
//!
//! Authentication: the token rides in the URL (`--ws-path "/api/ws?access_token=..."`),
//! since the kit's engine opens sockets from a URL alone. `client_id` is dchat's
//! idempotency key, so it is unique per message here: a repeated one would be
//! acknowledged with the first message's offset and not delivered again.

use super::{find_marker, json_room, Inbound, Publisher, SubProto};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[derive(Clone, Debug)]
pub struct DchatCfg {
    /// Path (and query) of the WebSocket endpoint, appended to --url.
    pub ws_path: String,
    /// Prefix for the client_id of published messages.
    pub client_id_prefix: String,
}

impl Default for DchatCfg {
    fn default() -> Self {
        DchatCfg { ws_path: "/api/ws".into(), client_id_prefix: "fanout-pub".into() }
    }
}

pub struct DchatSub {
    cfg: DchatCfg,
}

impl DchatSub {
    pub fn new(cfg: DchatCfg) -> Self {
        DchatSub { cfg }
    }
}

impl SubProto for DchatSub {
    fn ws_url(&self, base: &str) -> String {
        format!("{}{}", base.trim_end_matches('/'), self.cfg.ws_path)
    }
    fn ready_on_open(&self) -> bool {
        true
    }
    fn subscribe_frames(&self, room: &str) -> Vec<String> {
        vec![serde_json::json!({"type": "subscribe", "room_id": json_room(room)}).to_string()]
    }
    fn confirms_subscribe(&self) -> bool {
        true
    }
    fn parse(&self, frame: &str) -> Inbound {
        if frame.contains("\"type\":\"message\"") {
            if let Some((seq, sent_us)) = find_marker(frame) {
                return Inbound::Event { seq, sent_us };
            }
            return Inbound::Ignore;
        }
        if frame.contains("\"type\":\"subscribed\"") {
            return Inbound::Subscribed;
        }
        if frame.contains("\"type\":\"error\"") {
            return Inbound::Error(frame.to_string());
        }
        // presence and typing frames
        Inbound::Ignore
    }
    fn keepalive(&self) -> Option<(Duration, String)> {
        None
    }
}

/// Publisher over its own WebSocket: one `send` in flight, waits for its `ack`.
pub struct DchatWsPub {
    ws: WebSocketStream<TcpStream>,
    client_id: String,
    sent: u64,
}

impl DchatWsPub {
    pub async fn connect(cfg: &DchatCfg, base_url: &str, idx: usize) -> Result<Self, String> {
        let url = format!("{}{}", base_url.trim_end_matches('/'), cfg.ws_path);
        let ws = crate::ws_connect(&url).await?;
        let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
        Ok(DchatWsPub { ws, client_id: format!("{}-{run}-{idx}", cfg.client_id_prefix), sent: 0 })
    }
}

impl Publisher for DchatWsPub {
    async fn publish(&mut self, room: &str, text: &str) -> Result<(), String> {
        self.sent += 1;
        let client_id = format!("{}-{}", self.client_id, self.sent);
        let f = serde_json::json!({"type": "send", "room_id": json_room(room), "text": text, "client_id": client_id});
        self.ws.send(Message::text(f.to_string())).await.map_err(|e| e.to_string())?;
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let s = t.as_str();
                    if s.contains("\"type\":\"ack\"") {
                        return Ok(());
                    }
                    if s.contains("\"type\":\"error\"") {
                        return Err(s.to_string());
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Err("publisher socket closed".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
            }
        }
    }
}
