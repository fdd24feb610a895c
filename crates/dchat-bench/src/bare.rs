//! The fan-out baseline: a bare broadcast server built from what dchat's gateway uses (its
//! HTTP server loop and WebSocket layer with the same limits, tokio's broadcast channel,
//! serde_json), speaking the frames of dchat's protocol that the fan-out scenario uses,
//! with no accounts, no authorization, no storage and no gRPC hop. What dchat delivers,
//! divided by what this delivers on the same machine in the same run, is the cost of
//! everything dchat adds.
//!
//! Each connection follows one room (its latest `subscribe`); a room's offsets count up
//! in memory from 1.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, response::Response, routing::get};
use dchat_websocket::{Frame, Inbound, MAX_INBOUND_BYTES, Reader, Socket, UpgradeRequest};
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::TcpListener, sync::broadcast};
use tokio_util::sync::CancellationToken;

/// Frames a slow member may fall behind before it misses some (and the bench counts them lost).
const ROOM_BACKLOG: usize = 16 * 1024;

#[derive(Default)]
struct Rooms {
    rooms: Mutex<HashMap<String, Room>>,
}

struct Room {
    head: i64,
    feed: broadcast::Sender<Bytes>,
}

impl Rooms {
    /// Runs `f` on the room (created on first use) under the lock. Looked up by `&str`
    /// first, so the key is allocated once per room, not once per message.
    fn with_room<T>(&self, room_id: &str, f: impl FnOnce(&mut Room) -> T) -> T {
        let mut rooms = self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(room) = rooms.get_mut(room_id) {
            return f(room);
        }
        f(rooms.entry(room_id.to_owned()).or_insert_with(|| Room { head: 0, feed: broadcast::channel(ROOM_BACKLOG).0 }))
    }

    fn feed(&self, room_id: &str) -> (i64, broadcast::Receiver<Bytes>) {
        self.with_room(room_id, |room| (room.head, room.feed.subscribe()))
    }

    /// Assigns the next offset and pushes the frame to every member, under the room's lock
    /// so that offsets reach the channel in order.
    fn publish(&self, room_id: &str, text: &str, client_id: Option<&str>) -> i64 {
        self.with_room(room_id, |room| {
            room.head += 1;
            let frame =
                json!({"type": "message", "room_id": room_id, "offset": room.head, "text": text, "client_id": client_id});
            let _ = room.feed.send(Frame::json(&frame).into_bytes());
            room.head
        })
    }
}

/// Serves the bare broadcast protocol on `GET /api/ws` until `shutdown`.
pub async fn serve_bare(listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = Router::new().route("/api/ws", get(upgrade)).with_state(Arc::new(Rooms::default()));
    // The gateway's server loop with its timeouts, and no cap: a measuring stick, not a server.
    let limits = dchat_websocket::ConnectionLimits {
        max_connections: usize::MAX,
        max_per_address: usize::MAX,
        exempt: Vec::new(),
        exempt_loopback: true,
    };
    let config = dchat_websocket::ServeConfig { limits, ..dchat_websocket::ServeConfig::default() };
    dchat_websocket::serve(listener, app, shutdown, config).await
}

async fn upgrade(State(rooms): State<Arc<Rooms>>, upgrade: UpgradeRequest) -> Response {
    let (response, socket) = upgrade.accept();
    tokio::spawn(async move {
        if let Some(socket) = socket.await {
            connection(socket, rooms).await;
        }
    });
    response
}

async fn connection(socket: Socket, rooms: Arc<Rooms>) {
    let mut incoming = Reader::new(socket.read, socket.already_read, MAX_INBOUND_BYTES);
    let mut write = socket.write;
    let mut feed: Option<broadcast::Receiver<Bytes>> = None;
    loop {
        let pushed = async {
            match feed.as_mut() {
                Some(feed) => feed.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = pushed => match frame {
                Ok(frame) => {
                    if write.write_all(&frame).await.is_err() {
                        return;
                    }
                }
                // Fell behind by more than the backlog: the bench sees the gap as loss.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => feed = None,
            },
            inbound = incoming.next() => {
                let text = match inbound {
                    Ok(Inbound::Text(text)) => text,
                    Ok(Inbound::Ping(payload)) => {
                        if write.write_all(&Frame::pong(&payload).into_bytes()).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Ok(Inbound::Pong | Inbound::Binary(_)) => continue,
                    Ok(Inbound::Close(_)) | Err(_) => return,
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                let room_id = frame["room_id"].as_str().unwrap_or_default();
                let reply = match frame["type"].as_str() {
                    Some("subscribe") => {
                        let (head, receiver) = rooms.feed(room_id);
                        feed = Some(receiver);
                        json!({"type": "subscribed", "room_id": room_id, "head": head})
                    }
                    Some("send") => {
                        let client_id = frame["client_id"].as_str();
                        let offset = rooms.publish(room_id, frame["text"].as_str().unwrap_or_default(), client_id);
                        json!({"type": "ack", "room_id": room_id, "offset": offset, "client_id": client_id})
                    }
                    _ => json!({"type": "error", "code": "bad_request", "message": "unknown frame"}),
                };
                if write.write_all(&Frame::json(&reply).into_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}
