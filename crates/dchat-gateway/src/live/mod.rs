//! Live delivery: the WebSocket endpoint `GET /api/ws` and everything that keeps its
//! connections fed, and the registry that lets the rest of the gateway reach them.
//!
//! `protocol` defines the JSON frames, `session` runs one connection, `writer` its socket's
//! sending half and live subscriptions, `forward` a subscription's backlog, and `feeds` the
//! one upstream subscription per room that all of this gateway's connections share.
//! `mailbox` is the queue each connection keeps, `connections` the registry by user (and
//! each user's count of live subscriptions), `presence` the presence sessions this gateway
//! keeps alive for its clients, `watches` follows membership changes and revocations
//! into the open connections, and `expiry` ends them when their session ends. The WebSocket wire protocol is `dchat-websocket`.

mod cancel;
pub(crate) mod connections;
pub(crate) mod expiry;
mod feeds;
mod forward;
pub(crate) mod mailbox;
pub(crate) mod presence;
mod protocol;
mod session;
#[cfg(test)]
mod test_waker;
pub(crate) mod watches;
mod writer;

pub(crate) use feeds::RoomFeeds;

use dchat_websocket::{UpgradeRejection, UpgradeRequest};

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::Response,
};

use crate::{auth::CurrentUser, error::ApiError, state::GatewayState};

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
#[utoipa::path(
    get,
    path = "/api/ws",
    tag = "realtime",
    summary = "WebSocket upgrade (JSON text frames: subscribe, unsubscribe, send, typing); the token may also come as ?access_token=",
    responses(
        (status = 101, description = "Switching protocols"),
        (status = 400, description = "Not a WebSocket upgrade", body = crate::dto::ErrorView),
        (status = 401, description = "Not signed in", body = crate::dto::ErrorView),
        (status = 403, description = "Another site's page", body = crate::dto::ErrorView)
    )
)]
pub(crate) async fn upgrade(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    Query(query): Query<UpgradeQuery>,
    user: Result<CurrentUser, ApiError>,
    upgrade: Result<UpgradeRequest, UpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|UpgradeRejection(reason)| ApiError::BadRequest(reason))?;
    crate::origin::same_site_only(&state, &headers, "a WebSocket")?;
    let user = match (user, query.access_token) {
        (Ok(user), _) => user,
        (Err(ApiError::Unauthenticated(_)), Some(token)) => CurrentUser::from_token(&state, token).await?,
        (Err(err), _) => return Err(err),
    };
    let (response, socket) = upgrade.accept();
    // The connection gets a task of its own rather than living inside the one that waits
    // for the upgrade, which would keep room for the upgrade's state as long as the
    // connection.
    tokio::spawn(async move {
        if let Some(socket) = socket.await {
            tokio::spawn(session::serve(socket, state, user));
        }
    });
    Ok(response)
}
