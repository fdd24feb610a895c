//! The WebSocket opening handshake (RFC 6455 section 4.2), and the socket it hands over.
//!
//! Ours rather than axum's so that the connection gets the socket itself: live frames are
//! framed once and written straight to it (see `frame`), without a WebSocket library's
//! buffers and locks in every delivery. Under dchat's own HTTP server
//! that socket is the TCP stream; served some other way, it is hyper's upgraded
//! connection, which works the same and costs a little more.

use std::pin::Pin;

use axum::{
    body::Bytes,
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::{
    io::AsyncWrite,
    net::{TcpStream, tcp::OwnedWriteHalf},
};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::{
    admission::{Slot, Upgraded},
    inbound::SocketRead,
};

/// The writing half of a connection's socket.
pub type SocketWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// A valid upgrade request, not yet answered. As an extractor, it refuses anything else
/// with an [`UpgradeRejection`] (400 and the reason, unless the handler words it its way).
#[derive(Debug)]
pub struct UpgradeRequest {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
    /// The connection's place in the server's account, when served by [`crate::serve`].
    slot: Option<Slot>,
}

/// The upgraded connection: its two halves, and what the server read past the request.
pub struct Socket {
    pub read: SocketRead,
    pub write: SocketWrite,
    /// Bytes the HTTP server read past the upgrade request: the first of the client's.
    pub already_read: Bytes,
    pub under: Under,
    /// Keeps the connection counted as open and working (never shed for room) for as
    /// long as the socket is held.
    pub hold: Option<Upgraded>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("under", &self.under).finish_non_exhaustive()
    }
}

/// What the socket's halves write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Under {
    /// The TCP stream itself.
    Tcp,
    /// hyper's upgraded connection (served by something other than [`crate::serve`]).
    Upgraded,
}

/// Why a request is not a WebSocket upgrade this server can take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UpgradeRejection(pub String);

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.0).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UpgradeRequest {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, UpgradeRejection> {
        Self::from_parts(parts)
    }
}

impl UpgradeRequest {
    fn from_parts(parts: &mut Parts) -> Result<Self, UpgradeRejection> {
        let headers = &parts.headers;
        if !has_token(headers, header::CONNECTION, "upgrade") || !has_token(headers, header::UPGRADE, "websocket") {
            return Err(UpgradeRejection(
                "not a WebSocket upgrade: Connection: upgrade and Upgrade: websocket are required".into(),
            ));
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|version| version != "13") {
            return Err(UpgradeRejection("Sec-WebSocket-Version must be 13".into()));
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return Err(UpgradeRejection("Sec-WebSocket-Key is missing".into()));
        };
        let accept = HeaderValue::try_from(derive_accept_key(key.as_bytes()))
            .map_err(|_| UpgradeRejection("Sec-WebSocket-Key is not valid".into()))?;
        // Only HTTP/1.1 connections can be taken over (and only once).
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| UpgradeRejection("this connection cannot be upgraded; use HTTP/1.1".into()))?;
        let slot = parts.extensions.remove::<Slot>();
        Ok(Self { accept, on_upgrade, slot })
    }

    /// The 101 answer, and the connection it gives once it is sent.
    pub fn accept(self) -> (Response, impl Future<Output = Option<Socket>> + Send) {
        let response = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (header::SEC_WEBSOCKET_ACCEPT, self.accept),
            ],
        )
            .into_response();
        let (on_upgrade, slot) = (self.on_upgrade, self.slot);
        (response, async move { on_upgrade.await.ok().map(|upgraded| socket(upgraded, slot)) })
    }
}

fn socket(upgraded: hyper::upgrade::Upgraded, slot: Option<Slot>) -> Socket {
    let hold = slot.map(|slot| slot.upgrade());
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let (read, write) = parts.io.into_inner().into_split();
            let write: Pin<Box<OwnedWriteHalf>> = Box::pin(write);
            Socket { read: Box::pin(read), write, already_read: parts.read_buf, under: Under::Tcp, hold }
        }
        Err(upgraded) => {
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            Socket {
                read: Box::pin(read),
                write: Box::pin(write),
                already_read: Bytes::new(),
                under: Under::Upgraded,
                hold,
            }
        }
    }
}

/// Whether a comma-separated header holds `token`, in any case.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};
    use hyper::{body::Incoming, server::conn::http1};
    use tokio::{
        io::{AsyncRead, AsyncWriteExt},
        net::TcpListener,
        sync::oneshot,
    };
    use tokio_tungstenite::tungstenite::Message;

    use super::*;
    use crate::{
        frame::Frame,
        inbound::{Inbound, Reader},
    };

    /// Serves one upgrade on `io` with hyper, as the gateway does, and hands over its socket.
    fn serve_one_upgrade<I>(io: I) -> oneshot::Receiver<Socket>
    where
        I: AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (handed, socket) = oneshot::channel();
        let handed = std::sync::Mutex::new(Some(handed));
        let service = hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
            let handed = handed.lock().unwrap().take();
            async move {
                let (mut parts, _) = request.into_parts();
                let upgrade = UpgradeRequest::from_request_parts(&mut parts, &()).await.expect("a valid upgrade");
                let (response, socket) = upgrade.accept();
                tokio::spawn(async move {
                    if let (Some(socket), Some(handed)) = (socket.await, handed) {
                        let _ = handed.send(socket);
                    }
                });
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(io), service).with_upgrades());
        socket
    }

    /// A client completes the handshake (tungstenite checks the accept key), and frames go
    /// both ways over the socket the gateway was handed.
    async fn frames_flow<C>(client_io: C, socket: oneshot::Receiver<Socket>, under: Under)
    where
        C: AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut client, _) =
            tokio_tungstenite::client_async("ws://localhost/api/ws", client_io).await.expect("handshake");
        let mut socket = socket.await.expect("the upgraded socket");
        assert_eq!(socket.under, under);
        socket.write.write_all(&Frame::json(&"from the server").into_bytes()).await.unwrap();
        let Some(Ok(Message::Text(text))) = client.next().await else { panic!("a text frame") };
        assert_eq!(text.as_str(), r#""from the server""#);
        client.send(Message::text("from the client")).await.unwrap();
        let mut reader = Reader::new(socket.read, socket.already_read, 1024);
        assert_eq!(reader.next().await, Ok(Inbound::Text("from the client".into())));
    }

    #[tokio::test]
    async fn an_upgraded_tcp_connection_is_handed_over_as_the_bare_stream() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        frames_flow(client, serve_one_upgrade(server), Under::Tcp).await;
    }

    #[tokio::test]
    async fn any_other_upgraded_connection_works_through_hyper() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        frames_flow(client, serve_one_upgrade(server), Under::Upgraded).await;
    }

    #[tokio::test]
    async fn requests_that_are_not_upgrades_are_refused_with_400() {
        let request = |headers: &[(&str, &str)]| {
            let mut builder = axum::http::Request::builder().uri("/api/ws");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(()).unwrap().into_parts().0
        };
        let upgrade = [("connection", "keep-alive, Upgrade"), ("upgrade", "WebSocket")];
        let version = ("sec-websocket-version", "13");
        let key = ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        for (case, headers) in [
            ("no upgrade headers", vec![version, key]),
            ("an old version", vec![upgrade[0], upgrade[1], ("sec-websocket-version", "8"), key]),
            ("no key", vec![upgrade[0], upgrade[1], version]),
            ("not upgradable (no hyper connection)", vec![upgrade[0], upgrade[1], version, key]),
        ] {
            let refused = UpgradeRequest::from_parts(&mut request(&headers));
            assert!(matches!(refused, Err(UpgradeRejection(_))), "{case}");
            let rejection = UpgradeRequest::from_request_parts(&mut request(&headers), &()).await.unwrap_err();
            assert_eq!(rejection.into_response().status(), StatusCode::BAD_REQUEST, "{case}");
        }
    }
}
