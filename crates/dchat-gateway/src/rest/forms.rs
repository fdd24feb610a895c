//! The seed's variant 2 routes ("object-based-system"), kept so that its clients and its
//! Locust workload run unchanged: HTML-form login and registration with a session cookie,
//! `POST /send`, `GET /history` and `GET /logout`, all about room `general`.
//!
//! Two rules exist only for that workload, which names its users `user<N>` by spawn count
//! (so names repeat between runs and during its ramp-up) and posts `room_id=room1`, a room
//! that never exists:
//! - registering a taken username with that account's own password signs in, as a login
//!   would (with the same throttling of failures); with another password it is refused;
//! - `POST /send` honours a `room_id` only when it names a room the sender is a member of;
//!   any other goes to `general`, the one room the seed's form routes ever used.

use axum::{
    Form, Json,
    extract::{FromRequest, Request, State, rejection::FormRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use dchat_proto::{
    auth::v1::{LoginRequest, RegisterRequest, Token},
    message::v1::{AppendReq, ListReq},
};
use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::{
    auth::{
        ClientIp, CurrentUser, expired_cookie, limited_login, session_cookie, token_from_headers, with_device_cookie,
    },
    error::ApiError,
    rest::messages::room_error,
    state::GatewayState,
};

/// The room of the seed's form routes.
const GENERAL: &str = "general";

/// How many of the latest messages `GET /history` returns.
const HISTORY_LIMIT: i32 = 100;

/// `axum::Form` with our error format: a wrong content type is 415, bad fields 400.
#[derive(Debug)]
pub(crate) struct ApiForm<T>(T);

impl<S, T> FromRequest<S> for ApiForm<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request = crate::error::refuse_declared_oversize(request).await?;
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(FormRejection::InvalidFormContentType(_)) => Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/x-www-form-urlencoded".to_owned(),
            )),
            Err(FormRejection::BytesRejection(rejection)) => Err(ApiError::from_body(&rejection)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// The seed's variant 2 login and registration form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = FormCredentials)]
pub(crate) struct Credentials {
    username: String,
    password: String,
}

/// The seed's variant 2 message form: `message` or `text`, and an optional `room_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = FormSend)]
pub(crate) struct SendForm {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    room_id: Option<String>,
}

/// One message of `GET /history`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = HistoryItem)]
pub(crate) struct HistoryItem {
    sender: String,
    content: String,
}

/// A session cookie (and, after a login, the known-device cookie) and a redirect to the
/// chat page.
fn logged_in(state: &GatewayState, token: &str, device_cookie: Option<String>) -> Response {
    let response = ([(header::SET_COOKIE, session_cookie(token, state))], Redirect::to("/chat")).into_response();
    with_device_cookie(response, device_cookie)
}

/// # POST /register
///
/// Form fields `username` and `password`. 303 to `/chat` with a session cookie.
/// - A taken username with that account's password signs in (see the module docs); with
///   another password it is 409.
#[utoipa::path(
    post,
    path = "/register",
    tag = "seed-v2",
    summary = "Seed variant 2: form registration (username, password); 303 to /chat. A taken username with that account's password signs in; with another, 409",
    request_body(content = Credentials, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in; to /chat"), (status = 409, description = "Username taken", body = crate::dto::ErrorView))
)]
pub(crate) async fn register(
    State(state): State<GatewayState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiForm(form): ApiForm<Credentials>,
) -> Result<Response, ApiError> {
    crate::origin::same_site_only(&state, &headers, "a registration")?;
    let request = RegisterRequest {
        email: String::new(),
        password: form.password.clone(),
        display_name: String::new(),
        username: form.username.clone(),
        client: Some(crate::auth::sign_in_client(crate::auth::user_agent(&headers), ip)),
    };
    let taken = match state.auth().register(request).await {
        Ok(session) => return Ok(logged_in(&state, &session.into_inner().access_token, None)),
        Err(status) if status.code() == Code::AlreadyExists => status,
        Err(status) => return Err(status.into()),
    };
    let login = LoginRequest {
        email: String::new(),
        password: form.password,
        username: form.username,
        client: None,
        second_factor: String::new(),
        known_device: false,
    };
    match limited_login(&state, ip, &headers, login).await {
        Ok(login) => Ok(logged_in(&state, &login.session.access_token, Some(login.device_cookie))),
        Err(ApiError::Unauthenticated(_)) => Err(taken.into()),
        Err(err) => Err(err),
    }
}

/// # POST /login
///
/// Form fields `username` and `password`. 303 to `/chat` with a session cookie; 401 otherwise.
#[utoipa::path(
    post,
    path = "/login",
    tag = "seed-v2",
    summary = "Seed variant 2: form login (username, password); 303 to /chat",
    request_body(content = Credentials, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in; to /chat"), (status = 401, description = "Wrong username or password", body = crate::dto::ErrorView))
)]
pub(crate) async fn login(
    State(state): State<GatewayState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiForm(form): ApiForm<Credentials>,
) -> Result<Response, ApiError> {
    let request = LoginRequest {
        email: String::new(),
        password: form.password,
        username: form.username,
        client: None,
        second_factor: String::new(),
        known_device: false,
    };
    let login = limited_login(&state, ip, &headers, request).await?;
    Ok(logged_in(&state, &login.session.access_token, Some(login.device_cookie)))
}

/// # POST /send
///
/// Form field `message` (or `text`), optional `room_id`: a room the sender is a member
/// of, or else `general` (see the module docs). 204.
#[utoipa::path(
    post,
    path = "/send",
    tag = "seed-v2",
    summary = "Seed variant 2: form field message (or text), optional room_id: a room the sender is a member of, or else general",
    request_body(content = SendForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204, description = "Stored"), (status = 400, description = "No text", body = crate::dto::ErrorView), (status = 401, description = "Not signed in", body = crate::dto::ErrorView))
)]
pub(crate) async fn send(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiForm(form): ApiForm<SendForm>,
) -> Result<StatusCode, ApiError> {
    state.limit_message(&user.user_id)?;
    let room_id = match form.room_id.filter(|room_id| !room_id.is_empty()) {
        Some(room_id) if member_of(&state, &room_id, &user).await? => room_id,
        _ => GENERAL.to_owned(),
    };
    let text = form.message.or(form.text).unwrap_or_default();
    let request = AppendReq {
        room_id: room_id.clone(),
        user_id: user.user_id,
        text,
        idempotency_key: crate::keys::or_fresh(None),
    };
    state.messages().append(request).await.map_err(|status| room_error(&room_id, status))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `user` is in `room_id`; a malformed id names no room of theirs.
async fn member_of(state: &GatewayState, room_id: &str, user: &CurrentUser) -> Result<bool, ApiError> {
    match state.is_member(room_id, &user.user_id).await {
        Ok(member) => Ok(member),
        Err(status) if status.code() == Code::InvalidArgument => Ok(false),
        Err(status) => Err(status.into()),
    }
}

/// # GET /history
///
/// The latest messages of `general` as `[{sender, content}]`, oldest first.
#[utoipa::path(
    get,
    path = "/history",
    tag = "seed-v2",
    summary = "Seed variant 2: latest messages of general as [{sender, content}]",
    responses((status = 200, description = "OK", body = Vec<HistoryItem>), crate::dto::Refusals)
)]
pub(crate) async fn history(
    State(state): State<GatewayState>,
    user: CurrentUser,
) -> Result<Json<Vec<HistoryItem>>, ApiError> {
    let next = state
        .messages()
        .next_offset(dchat_proto::message::v1::RoomId { room_id: GENERAL.to_owned(), ..Default::default() })
        .await?
        .into_inner()
        .value;
    let request = ListReq {
        room_id: GENERAL.to_owned(),
        from_offset: 0,
        limit: HISTORY_LIMIT,
        before: next,
        user_id: user.user_id,
    };
    let mut stream = state.messages().list(request).await.map_err(|status| room_error(GENERAL, status))?.into_inner();
    let mut items = Vec::new();
    while let Some(message) = stream.message().await? {
        items.push(HistoryItem {
            sender: state.profile(&message.user_id).await.display_name.clone(),
            content: message.text,
        });
    }
    Ok(Json(items))
}

/// # GET /logout and POST /logout
///
/// Revokes the session (if any), clears the cookie, and goes back to `/`. The seed's pages
/// link to `GET /logout`, so it stays, for this server's own pages only: a link or image on
/// another site must not sign the user out (403).
#[utoipa::path(
    method(get, post),
    path = "/logout",
    tag = "seed-v2",
    summary = "Seed variant 2: revoke the session, clear the cookie, 303 to /. From this server's own pages only (403 for another site's link or page)",
    responses((status = 303, description = "Signed out; to /"), (status = 403, description = "Another site's page", body = crate::dto::ErrorView))
)]
pub(crate) async fn logout(State(state): State<GatewayState>, headers: HeaderMap) -> Result<Response, ApiError> {
    crate::origin::same_site_only(&state, &headers, "a logout")?;
    if let Some(token) = token_from_headers(&headers) {
        if let Err(status) = state.auth().logout(Token { access_token: token.clone() }).await {
            tracing::debug!(%status, "logout of an unknown token");
        }
        state.token_ended(&token);
    }
    Ok(([(header::SET_COOKIE, expired_cookie())], Redirect::to("/")).into_response())
}
