//! The client side of a benchmark: users, rooms and WebSockets over the public API.

use futures::{SinkExt, StreamExt, stream::SplitSink, stream::SplitStream};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::WebSocketConfig},
};

use crate::BenchError;

/// Read buffer of every client socket (tungstenite's default is 128 KiB).
pub(crate) const READ_BUFFER: usize = 1024;

pub(crate) type WsSink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
pub(crate) type WsStream = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// The server under test.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    http: reqwest::Client,
    base: String,
    /// The bare broadcast baseline: no accounts and no rooms to create.
    bare: bool,
}

/// A registered benchmark user.
#[derive(Debug, Clone)]
pub(crate) struct BenchUser {
    pub(crate) token: String,
}

impl Server {
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn new(base: &str) -> Self {
        Self { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_owned(), bare: false }
    }

    /// The bare broadcast server: registration, rooms and tokens are skipped.
    pub(crate) fn bare(base: &str) -> Self {
        Self { bare: true, ..Self::new(base) }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value, BenchError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(BenchError::Refused { what: path.to_owned(), status: status.as_u16(), body: text });
        }
        serde_json::from_str(&text).map_err(|err| BenchError::Protocol(format!("{path}: {err}")))
    }

    /// Registers `count` users named after `prefix`, eight registrations at a time.
    pub(crate) async fn register_users(&self, prefix: &str, count: usize) -> Result<Vec<BenchUser>, BenchError> {
        if self.bare {
            return Ok(vec![BenchUser { token: String::new() }; count]);
        }
        let registrations = (0..count).map(|i| async move {
            let body = json!({"username": format!("{prefix}{i}"), "password": "bench password", "display_name": format!("bench {i}")});
            let session = self.post("/api/register", None, body).await?;
            let token = session["token"].as_str().ok_or_else(|| BenchError::Protocol("register: no token".into()))?;
            Ok::<_, BenchError>(BenchUser { token: token.to_owned() })
        });
        futures::stream::iter(registrations).buffered(8).collect::<Vec<_>>().await.into_iter().collect()
    }

    pub(crate) async fn create_room(&self, owner: &BenchUser, room_id: &str) -> Result<(), BenchError> {
        if self.bare {
            return Ok(());
        }
        self.post("/api/room/create", Some(&owner.token), json!({"room_id": room_id, "name": room_id})).await.map(drop)
    }

    pub(crate) async fn join_room(&self, user: &BenchUser, room_id: &str) -> Result<(), BenchError> {
        if self.bare {
            return Ok(());
        }
        self.post("/api/room/join", Some(&user.token), json!({"room_id": room_id})).await.map(drop)
    }

    /// Appends one message over REST.
    pub(crate) async fn append(&self, user: &BenchUser, room_id: &str, text: &str) -> Result<(), BenchError> {
        self.post("/api/message/append", Some(&user.token), json!({"room_id": room_id, "text": text})).await.map(drop)
    }

    /// The WebSocket endpoint's URL.
    pub(crate) fn ws_url(&self) -> String {
        format!("{}/api/ws", self.base.replacen("http", "ws", 1))
    }

    /// Opens a WebSocket as `user`.
    pub(crate) async fn connect(&self, user: &BenchUser) -> Result<(WsSink, WsStream), BenchError> {
        let mut request = self.ws_url().into_client_request()?;
        let bearer = format!("Bearer {}", user.token)
            .parse()
            .map_err(|_| BenchError::Protocol("token is not a header".into()))?;
        request.headers_mut().insert("authorization", bearer);
        // tungstenite zeroes the free part of its read buffer before every read: with its
        // 128 KiB default that memset was a quarter of the load generator's CPU.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        // Nagle off, as on the server: a benchmark of small frames must not measure delayed ACKs.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        Ok(socket.split())
    }
}

pub(crate) async fn send_frame(sink: &mut WsSink, frame: &Value) -> Result<(), BenchError> {
    sink.send(Message::text(frame.to_string())).await.map_err(BenchError::from)
}

/// The next JSON text frame, `None` when the connection ended.
pub(crate) async fn next_frame(stream: &mut WsStream) -> Result<Option<Value>, BenchError> {
    let Some(text) = next_text(stream).await? else { return Ok(None) };
    serde_json::from_str(text.as_str()).map(Some).map_err(|err| BenchError::Protocol(err.to_string()))
}

/// The next text frame unparsed, `None` when the connection ended.
pub(crate) async fn next_text<S>(
    stream: &mut S,
) -> Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>, BenchError>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(message) = stream.next().await {
        match message? {
            Message::Text(text) => return Ok(Some(text)),
            Message::Close(_) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

/// Subscribes and waits for the `subscribed` frame.
pub(crate) async fn subscribe(sink: &mut WsSink, stream: &mut WsStream, room_id: &str) -> Result<(), BenchError> {
    send_frame(sink, &subscribe_frame(room_id)).await?;
    loop {
        let Some(frame) = next_frame(stream).await? else { return Err(closed_while_subscribing()) };
        if subscribed(&frame)? {
            return Ok(());
        }
    }
}

/// The frame that subscribes to `room_id`.
pub(crate) fn subscribe_frame(room_id: &str) -> Value {
    json!({"type": "subscribe", "room_id": room_id})
}

/// Whether `frame` says the subscription is live; an error frame refuses it, and anything
/// else (a backlog, presence) comes before the answer.
pub(crate) fn subscribed(frame: &Value) -> Result<bool, BenchError> {
    match frame["type"].as_str() {
        Some("subscribed") => Ok(true),
        Some("error") => Err(BenchError::Protocol(format!("subscribe: {frame}"))),
        _ => Ok(false),
    }
}

/// What a subscription that never got its answer fails with.
pub(crate) fn closed_while_subscribing() -> BenchError {
    BenchError::Protocol("the connection closed while subscribing".into())
}
