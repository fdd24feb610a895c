//! Presence over HTTP: heartbeats and the roster, for clients that do not hold a WebSocket.

use axum::{Json, extract::State};
use dchat_proto::presence::v1::{HeartbeatReq, RoomId};

use crate::{
    auth::CurrentUser,
    dto::{HeartbeatBody, OK, OkView, OnlineView, RoomQuery, RosterView},
    error::{ApiError, ApiJson, ApiQuery},
    rest::require_member,
    state::GatewayState,
};

/// Session id of HTTP heartbeats: all of one user's HTTP clients count as one session.
const HTTP_SESSION: &str = "http";

/// # POST /api/presence/heartbeat
///
/// Marks the caller online in `room_id` for the presence TTL. Members only.
#[utoipa::path(
    post,
    path = "/api/presence/heartbeat",
    tag = "presence",
    summary = "Mark the caller online in a room for the presence TTL",
    request_body = crate::dto::HeartbeatBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn heartbeat(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<HeartbeatBody>,
) -> Result<Json<OkView>, ApiError> {
    require_member(&state, &body.room_id, &user).await?;
    let display_name = body.display_name.filter(|name| !name.trim().is_empty()).unwrap_or(user.display_name);
    let request = HeartbeatReq {
        room_id: body.room_id,
        user_id: user.user_id,
        display_name,
        session_id: HTTP_SESSION.to_owned(),
    };
    state.presence().heartbeat(request).await?;
    Ok(Json(OK))
}

/// # GET /api/presence/roster?room_id=
///
/// Who is online in a room the caller is in.
#[utoipa::path(
    get,
    path = "/api/presence/roster",
    tag = "presence",
    summary = "Who is online in a room",
    params(crate::dto::RoomQuery),
    responses((status = 200, description = "OK", body = crate::dto::RosterView), crate::dto::Refusals)
)]
pub(crate) async fn roster(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<RoomQuery>,
) -> Result<Json<RosterView>, ApiError> {
    require_member(&state, &query.room_id, &user).await?;
    let roster = state.presence().roster(RoomId { room_id: query.room_id }).await?.into_inner();
    let mut users = Vec::with_capacity(roster.users.len());
    for user in roster.users {
        let username = state.profile(&user.user_id).await.username.clone();
        users.push(OnlineView { user_id: user.user_id, display_name: user.display_name, username });
    }
    Ok(Json(RosterView { users }))
}
