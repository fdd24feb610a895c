//! The WebSocket endpoint `GET /api/ws`: push instead of polling.
//!
//! `protocol` defines the frames, `session` runs one connection, `writer` its socket's
//! sending half and live subscriptions, `forward` a subscription's backlog, and `feeds` the
//! one upstream subscription per room that all of this gateway's connections share.

mod cancel;
mod feeds;
mod forward;
mod protocol;
mod session;
#[cfg(test)]
mod test_waker;
mod writer;

pub(crate) use feeds::RoomFeeds;

use axum::{
    extract::{Query, State, WebSocketUpgrade},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};

use crate::{auth::CurrentUser, error::ApiError, state::GatewayState};

/// Inbound frames (and messages) larger than this close the connection.
const MAX_INBOUND_BYTES: usize = 64 * 1024;

/// The upgrade request's query: `access_token` for clients that cannot set headers.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct UpgradeQuery {
    access_token: Option<String>,
}

/// # GET /api/ws
///
/// Upgrades to the WebSocket protocol. Authenticated by the session cookie or a bearer
/// token on the upgrade request, or else by an `access_token` query parameter (RFC 6750
/// section 2.3; for WebSocket clients that cannot set headers). A browser's `Origin` must
/// be this server's own (or in the configured allow-list); requests without `Origin`
/// (non-browser clients) pass.
pub(crate) async fn upgrade(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    Query(query): Query<UpgradeQuery>,
    user: Result<CurrentUser, ApiError>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let user = match (user, query.access_token) {
        (Ok(user), _) => user,
        (Err(ApiError::Unauthenticated(_)), Some(token)) => CurrentUser::from_token(&state, token).await?,
        (Err(err), _) => return Err(err),
    };
    let response = upgrade
        // tungstenite's defaults (128 KiB read buffer, 64 MiB messages) are far too generous
        // for idle chat connections and for what a client may make us buffer. The read
        // buffer is allocated (and zeroed) for every connection, idle or not; clients send
        // little, and a larger frame gets room of its own size when its header arrives.
        // 256 bytes rather than 1 KiB: 740 B less per idle connection, and the WebSocket
        // ingest benchmark (32 sends in flight per socket) measured no difference.
        .read_buffer_size(256)
        .write_buffer_size(16 * 1024)
        .max_message_size(MAX_INBOUND_BYTES)
        .max_frame_size(MAX_INBOUND_BYTES)
        // The connection gets a task of its own rather than living inside axum's upgrade
        // future, which would keep room for the upgrade's state as long as the connection.
        .on_upgrade(move |socket| {
            tokio::spawn(session::serve(socket, state, user));
            std::future::ready(())
        });
    Ok(response.into_response())
}

fn check_origin(state: &GatewayState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let same_origin = !host.is_empty() && origin_host == host;
    if same_origin || state.inner.config.allowed_origins.iter().any(|allowed| allowed == origin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("origin {origin:?} may not open a WebSocket here")))
    }
}
