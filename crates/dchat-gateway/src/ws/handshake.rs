//! The WebSocket opening handshake (RFC 6455 section 4.2), and the socket it hands over.
//!
//! Ours rather than axum's so that the connection gets the socket itself: live frames are
//! framed once per room and written straight to it (see `frame` and `writer`), without a
//! WebSocket library's buffers and locks in every delivery. Under dchat's own HTTP server
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

use crate::{error::ApiError, ws::inbound::SocketRead};

/// The writing half of a connection's socket.
pub(crate) type SocketWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// A valid upgrade request, not yet answered.
#[derive(Debug)]
pub(crate) struct UpgradeRequest {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// The upgraded connection: its two halves, and what the server read past the request.
pub(crate) struct Socket {
    pub(crate) read: SocketRead,
    pub(crate) write: SocketWrite,
    pub(crate) already_read: Bytes,
}

impl<S: Send + Sync> FromRequestParts<S> for UpgradeRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        if !has_token(headers, header::CONNECTION, "upgrade") || !has_token(headers, header::UPGRADE, "websocket") {
            return Err(ApiError::BadRequest(
                "not a WebSocket upgrade: Connection: upgrade and Upgrade: websocket are required".into(),
            ));
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|version| version != "13") {
            return Err(ApiError::BadRequest("Sec-WebSocket-Version must be 13".into()));
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return Err(ApiError::BadRequest("Sec-WebSocket-Key is missing".into()));
        };
        let accept = HeaderValue::try_from(derive_accept_key(key.as_bytes()))
            .map_err(|_| ApiError::BadRequest("Sec-WebSocket-Key is not valid".into()))?;
        // Only HTTP/1.1 connections can be taken over (and only once).
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| ApiError::BadRequest("this connection cannot be upgraded; use HTTP/1.1".into()))?;
        Ok(Self { accept, on_upgrade })
    }
}

impl UpgradeRequest {
    /// The 101 answer, and the connection it gives once it is sent.
    pub(crate) fn accept(self) -> (Response, impl Future<Output = Option<Socket>> + Send) {
        let response = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (header::SEC_WEBSOCKET_ACCEPT, self.accept),
            ],
        )
            .into_response();
        let on_upgrade = self.on_upgrade;
        (response, async move { on_upgrade.await.ok().map(socket) })
    }
}

fn socket(upgraded: hyper::upgrade::Upgraded) -> Socket {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let (read, write) = parts.io.into_inner().into_split();
            let write: Pin<Box<OwnedWriteHalf>> = Box::pin(write);
            Socket { read: Box::pin(read), write, already_read: parts.read_buf }
        }
        Err(upgraded) => {
            tracing::debug!("the upgraded connection is not a bare TCP stream; writing through hyper's upgrade");
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            Socket { read: Box::pin(read), write: Box::pin(write), already_read: Bytes::new() }
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
