//! Accounts and sessions: register, login, logout, the caller's profile, user lookup.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use dchat_proto::auth::v1::{AuthResponse, LoginRequest, RegisterRequest, SetDisplayNameRequest, Token, User, UserId};

use crate::{
    auth::{ClientIp, CurrentUser, expired_cookie, limited_login, session_cookie, with_device_cookie},
    dto::{LoginBody, LookupView, OK, RegisterBody, SessionView, SetNameBody, UserQuery, UserView},
    error::{ApiError, ApiJson, ApiQuery},
    state::GatewayState,
};

fn user_view(user: User) -> UserView {
    UserView {
        user_id: user.user_id,
        email: user.email,
        username: user.username,
        display_name: user.display_name,
        bot: user.bot,
        username_changeable: user.username_changeable,
    }
}

/// The session as JSON (for non-browser clients) and as an HttpOnly cookie (for browsers),
/// with the known-device cookie after a login.
fn session_response(
    state: &GatewayState,
    session: AuthResponse,
    device_cookie: Option<String>,
) -> Result<Response, ApiError> {
    let user = session.user.ok_or(ApiError::Internal)?;
    state.profile_seen(&user, false);
    let cookie = session_cookie(&session.access_token, state);
    let body = SessionView {
        ok: true,
        token: session.access_token,
        expires_at_ms: session.expires_at_ms,
        user: user_view(user),
    };
    Ok(with_device_cookie(([(header::SET_COOKIE, cookie)], Json(body)).into_response(), device_cookie))
}

/// # POST /api/register
///
/// Creates an account from `email` and/or `username`, `password` and `display_name`, puts it
/// in `general`, and logs it in. 409 when the email or username is taken.
#[utoipa::path(
    post,
    path = "/api/register",
    tag = "session",
    summary = "Create an account and log in",
    request_body = crate::dto::RegisterBody,
    responses((status = 200, description = "OK", body = crate::dto::SessionView), crate::dto::Refusals)
)]
pub(crate) async fn register(
    State(state): State<GatewayState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    crate::origin::same_site_only(&state, &headers, "a registration")?;
    let request = RegisterRequest {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        username: body.username,
        client: Some(crate::auth::sign_in_client(crate::auth::user_agent(&headers), ip)),
    };
    let session = state.auth().register(request).await?.into_inner();
    session_response(&state, session, None)
}

/// # POST /api/login
///
/// Logs in by `email` or `username` and `password`. 401 on any mismatch.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "session",
    summary = "Log in by email or username",
    request_body = crate::dto::LoginBody,
    responses((status = 200, description = "OK", body = crate::dto::SessionView), crate::dto::Refusals)
)]
pub(crate) async fn login(
    State(state): State<GatewayState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let request = LoginRequest {
        email: body.email,
        password: body.password,
        username: body.username,
        client: None,
        second_factor: body.second_factor,
        known_device: false,
    };
    let login = limited_login(&state, ip, &headers, request).await?;
    session_response(&state, login.session, Some(login.device_cookie))
}

/// # POST /api/logout
///
/// Revokes the caller's token for good and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "session",
    summary = "Revoke the session token and clear the cookie",
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn logout(State(state): State<GatewayState>, user: CurrentUser) -> Result<Response, ApiError> {
    state.auth().logout(Token { access_token: user.token.clone() }).await?;
    // Open WebSockets of this session end now, not when they next send something.
    state.token_ended(&user.token);
    Ok(([(header::SET_COOKIE, expired_cookie())], Json(OK)).into_response())
}

/// # GET /api/me
///
/// The caller's account.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "session",
    summary = "The caller's account",
    responses((status = 200, description = "OK", body = crate::dto::UserView), crate::dto::Refusals)
)]
pub(crate) async fn me(user: CurrentUser) -> Json<UserView> {
    Json(user_view(user.account))
}

/// # POST /api/profile/setname
///
/// Changes the caller's display name.
#[utoipa::path(
    post,
    path = "/api/profile/setname",
    tag = "session",
    summary = "Change the caller's display name",
    request_body = crate::dto::SetNameBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn set_name(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<SetNameBody>,
) -> Result<Json<crate::dto::OkView>, ApiError> {
    let request = SetDisplayNameRequest { user_id: user.user_id, display_name: body.display_name };
    let updated = state.auth().set_display_name(request).await?.into_inner();
    state.profile_seen(&updated, true);
    Ok(Json(OK))
}

/// # GET /api/user/lookup?user_id=
///
/// The display name of the caller or of someone they share a room with; anyone else is 404,
/// as an unknown id is.
#[utoipa::path(
    get,
    path = "/api/user/lookup",
    tag = "session",
    summary = "The display name of the caller or of a user who shares a room with them; anyone else is 404",
    params(crate::dto::UserQuery),
    responses((status = 200, description = "OK", body = crate::dto::LookupView), crate::dto::Refusals)
)]
pub(crate) async fn lookup(
    State(state): State<GatewayState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<Json<LookupView>, ApiError> {
    state.may_look_up(&caller.user_id, &query.user_id).await?;
    let user = state.auth().get_user(UserId { user_id: query.user_id }).await?.into_inner();
    Ok(Json(LookupView {
        user_id: user.user_id,
        display_name: user.display_name,
        username: user.username,
        bot: user.bot,
    }))
}
