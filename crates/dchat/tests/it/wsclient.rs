//! A WebSocket test client speaking dchat's JSON frames.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::CloseFrame},
};

use crate::support::TestApp;

pub(crate) struct WsClient {
    pub(crate) stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How long a test waits for a frame it expects.
const FRAME_TIMEOUT: Duration = Duration::from_secs(15);

impl WsClient {
    /// Connects with a bearer token (and an optional Origin header).
    pub(crate) async fn try_connect(
        app: &TestApp,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        Self::try_connect_url(&app.http, token, origin).await
    }

    pub(crate) async fn connect_url(http: &str, token: &str) -> Self {
        Self::try_connect_url(http, token, None).await.expect("WebSocket upgrade")
    }

    async fn try_connect_url(
        http: &str,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/api/ws", http.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self { stream })
    }

    pub(crate) async fn connect(app: &TestApp, token: &str) -> Self {
        Self::try_connect(app, token, None).await.expect("WebSocket upgrade")
    }

    pub(crate) async fn send(&mut self, frame: Value) {
        self.stream.send(Message::text(frame.to_string())).await.unwrap();
    }

    pub(crate) async fn send_raw(&mut self, text: &str) {
        self.stream.send(Message::text(text.to_owned())).await.unwrap();
    }

    /// The next JSON frame; panics on close or timeout.
    pub(crate) async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("a frame in time")
                .expect("the connection stays open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The next frame of `kind`, skipping others (presence, typing, ...).
    pub(crate) async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Subscribes and waits for `subscribed`, returning the messages replayed before it.
    pub(crate) async fn subscribe(&mut self, room_id: &str, after: Option<i64>) -> Vec<Value> {
        let mut frame = json!({"type": "subscribe", "room_id": room_id});
        if let Some(after) = after {
            frame["after"] = json!(after);
        }
        self.send(frame).await;
        let mut replayed = Vec::new();
        loop {
            let frame = self.next().await;
            match frame["type"].as_str() {
                Some("subscribed") => return replayed,
                Some("message") => replayed.push(frame),
                Some("error") => panic!("subscribe failed: {frame}"),
                _ => {}
            }
        }
    }

    /// The next JSON frame, or the close frame if the server closes first.
    pub(crate) async fn next_frame_or_close(&mut self) -> Result<Value, Option<CloseFrame>> {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("a JSON frame")),
                Some(Ok(Message::Close(frame))) => return Err(frame),
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("connection failed before a close frame: {err}"),
                None => return Err(None),
            }
        }
    }

    /// Reads until the server closes; returns the close frame.
    pub(crate) async fn until_closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(FRAME_TIMEOUT, self.stream.next()).await.expect("a close in time") {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("connection failed before a close frame: {err}"),
                None => return None,
            }
        }
    }
}

/// The offsets of message frames.
pub(crate) fn offsets(frames: &[Value]) -> Vec<i64> {
    frames.iter().map(|frame| frame["offset"].as_i64().unwrap()).collect()
}
