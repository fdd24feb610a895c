//! The caller's sessions and password: list the sessions signed in to the account, end one
//! or all of them, change the password (which ends every other session). Ending a session
//! closes its open WebSockets on every gateway (the auth service announces the revocation).

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use dchat_proto::auth::v1::{ChangePasswordRequest, RevokeSessionRequest, Token};

use crate::{
    auth::{CurrentUser, expired_cookie},
    dto::{ChangePasswordBody, OK, RevokeSessionBody, SessionInfoView, SessionsView},
    error::{ApiError, ApiJson},
    state::GatewayState,
};

/// # GET /api/sessions
///
/// The caller's live sessions, the last used first; the caller's own is `current`.
#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "session",
    summary = "The caller's live sessions",
    responses((status = 200, description = "OK", body = crate::dto::SessionsView), crate::dto::Refusals)
)]
pub(crate) async fn list(State(state): State<GatewayState>, user: CurrentUser) -> Result<Json<SessionsView>, ApiError> {
    let sessions = state.auth().list_sessions(Token { access_token: user.token }).await?.into_inner().sessions;
    let sessions = sessions
        .into_iter()
        .map(|session| SessionInfoView {
            session_id: session.session_id,
            created_ms: session.created_ms,
            last_used_ms: session.last_used_ms,
            expires_ms: session.expires_ms,
            user_agent: session.user_agent,
            address: session.address,
            current: session.current,
        })
        .collect();
    Ok(Json(SessionsView { ok: true, sessions }))
}

/// # POST /api/sessions/revoke
///
/// Ends one of the caller's sessions (`session_id`) or all of them (`everywhere: true`).
/// Ending the caller's own clears its cookie. 404 for an id that is not one of theirs.
#[utoipa::path(
    post,
    path = "/api/sessions/revoke",
    tag = "session",
    summary = "End one of the caller's sessions, or all of them",
    request_body = crate::dto::RevokeSessionBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn revoke(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<RevokeSessionBody>,
) -> Result<Response, ApiError> {
    let everywhere = body.everywhere.unwrap_or(false);
    let session_id = body.session_id.unwrap_or_default();
    if !everywhere && session_id.is_empty() {
        return Err(ApiError::BadRequest("session_id: required unless everywhere is true".to_owned()));
    }
    // Whether the caller ends their own session, to clear its cookie too.
    let own = everywhere || {
        let listed = state.auth().list_sessions(Token { access_token: user.token.clone() }).await?.into_inner();
        listed.sessions.iter().any(|session| session.current && session.session_id == session_id)
    };
    let request = RevokeSessionRequest { access_token: user.token.clone(), session_id, everywhere };
    state.auth().revoke_session(request).await?;
    if own {
        state.token_ended(&user.token);
        return Ok(([(header::SET_COOKIE, expired_cookie())], Json(OK)).into_response());
    }
    Ok(Json(OK).into_response())
}

/// # POST /api/password
///
/// Changes the caller's password; `current_password` must be right (403 otherwise). Every
/// other session of the caller ends; this one stays signed in.
#[utoipa::path(
    post,
    path = "/api/password",
    tag = "session",
    summary = "Change the caller's password, ending their other sessions",
    request_body = crate::dto::ChangePasswordBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn change_password(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<Json<crate::dto::OkView>, ApiError> {
    let request = ChangePasswordRequest {
        access_token: user.token,
        current_password: body.current_password,
        new_password: body.new_password,
    };
    state.auth().change_password(request).await?;
    Ok(Json(OK))
}
