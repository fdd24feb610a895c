//! Incoming webhooks: a room's admin (its creator, until rooms have roles) makes a URL whose
//! POSTs of `{"text": ...}` appear in the room as a bot's messages, live to everyone in it.
//! The URL holds a secret shown once; the auth service keeps its digest and the bot account
//! it posts as. Each webhook has its own rate limit, apart from any user's.

use axum::{
    Json,
    extract::{Path, State},
};
use dchat_proto::{
    auth::v1::{CreateWebhookRequest, DeleteWebhookRequest, RoomRef, Token, Webhook},
    message::v1::AppendReq,
    room::v1::RoomId,
};

use crate::{
    auth::CurrentUser,
    dto::{
        AppendView, CreateWebhookBody, DeleteWebhookBody, OK, OkView, RoomQuery, WebhookCreatedView, WebhookPostBody,
        WebhookView, WebhooksView,
    },
    error::{ApiError, ApiJson, ApiQuery},
    rest::require_member,
    state::GatewayState,
};

fn webhook_view(hook: Webhook) -> WebhookView {
    let bot = hook.bot.unwrap_or_default();
    WebhookView {
        webhook_id: hook.webhook_id,
        room_id: hook.room_id,
        bot_user_id: bot.user_id,
        name: bot.display_name,
        username: bot.username,
        created_by: hook.created_by,
        created_ms: hook.created_ms,
        last_used_ms: hook.last_used_ms,
    }
}

/// Fails with 403 unless `user` administers `room_id`: for someone outside the room, the
/// same answer as for a room that does not exist.
async fn require_admin(state: &GatewayState, room_id: &str, user: &CurrentUser) -> Result<(), ApiError> {
    require_member(state, room_id, user).await?;
    let room = state.rooms().get_room(RoomId { room_id: room_id.to_owned() }).await?.into_inner();
    if room.created_by != user.user_id {
        return Err(ApiError::Forbidden("only the room's creator manages its webhooks".to_owned()));
    }
    Ok(())
}

/// # GET /api/room/webhooks?room_id=
///
/// The room's webhooks, the newest first (never their secrets). Its admin only.
#[utoipa::path(
    get,
    path = "/api/room/webhooks",
    tag = "webhooks",
    summary = "The webhooks of a room the caller administers",
    params(crate::dto::RoomQuery),
    responses((status = 200, description = "OK", body = crate::dto::WebhooksView), crate::dto::Refusals)
)]
pub(crate) async fn list(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<RoomQuery>,
) -> Result<Json<WebhooksView>, ApiError> {
    require_admin(&state, &query.room_id, &user).await?;
    let hooks = state.auth().list_webhooks(RoomRef { room_id: query.room_id }).await?.into_inner().webhooks;
    Ok(Json(WebhooksView { ok: true, webhooks: hooks.into_iter().map(webhook_view).collect() }))
}

/// # POST /api/room/webhooks
///
/// Creates a webhook posting into the room as a new bot named `name`. The answer's `url`
/// (`/api/hooks/<token>`) is shown this once. Its admin only; at most 20 per room.
#[utoipa::path(
    post,
    path = "/api/room/webhooks",
    tag = "webhooks",
    summary = "Create an incoming webhook (its URL is shown once)",
    request_body = crate::dto::CreateWebhookBody,
    responses((status = 200, description = "OK", body = crate::dto::WebhookCreatedView), crate::dto::Refusals)
)]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateWebhookBody>,
) -> Result<Json<WebhookCreatedView>, ApiError> {
    require_admin(&state, &body.room_id, &user).await?;
    let request = CreateWebhookRequest { created_by: user.user_id, room_id: body.room_id.clone(), name: body.name };
    let created = state.auth().create_webhook(request).await?.into_inner();
    let hook = created.info.ok_or(ApiError::Internal)?;
    Ok(Json(WebhookCreatedView {
        ok: true,
        url: format!("/api/hooks/{}", created.token),
        token: created.token,
        webhook: webhook_view(hook),
    }))
}

/// # POST /api/room/webhooks/delete
///
/// Deletes a webhook: its URL stops working and its bot leaves the room (its messages
/// stay). Its admin only; 404 when the room has no such webhook.
#[utoipa::path(
    post,
    path = "/api/room/webhooks/delete",
    tag = "webhooks",
    summary = "Delete an incoming webhook",
    request_body = crate::dto::DeleteWebhookBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn delete(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<DeleteWebhookBody>,
) -> Result<Json<OkView>, ApiError> {
    require_admin(&state, &body.room_id, &user).await?;
    let request = DeleteWebhookRequest { room_id: body.room_id.clone(), webhook_id: body.webhook_id };
    state.auth().delete_webhook(request).await?;
    Ok(Json(OK))
}

/// # POST /api/hooks/{token}
///
/// Posts `text` into the webhook's room as its bot, as `POST /api/message/append` does
/// (`client_id` makes a retry idempotent). No other credential: the URL is the secret.
/// 401 for an unknown or deleted webhook; 429 past its rate limit.
#[utoipa::path(
    post,
    path = "/api/hooks/{token}",
    tag = "webhooks",
    summary = "Post into a room through an incoming webhook",
    params(("token" = String, Path, description = "The webhook's secret, from its URL")),
    request_body = crate::dto::WebhookPostBody,
    responses((status = 200, description = "OK", body = crate::dto::AppendView), crate::dto::Refusals)
)]
pub(crate) async fn post(
    State(state): State<GatewayState>,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<WebhookPostBody>,
) -> Result<Json<AppendView>, ApiError> {
    let identity = state.auth().verify_webhook(Token { access_token: token }).await?.into_inner();
    state.limit_webhook_post(&identity.webhook_id)?;
    let bot = identity.bot.ok_or(ApiError::Internal)?;
    if crate::keys::reserved(body.client_id.as_deref()) {
        return Err(ApiError::BadRequest(crate::keys::RESERVED.to_owned()));
    }
    state.profile_seen(&bot, false);
    let request = AppendReq {
        room_id: identity.room_id,
        user_id: bot.user_id,
        text: body.text,
        idempotency_key: crate::keys::or_fresh(body.client_id),
    };
    let appended = state.messages().append(request).await?.into_inner();
    Ok(Json(AppendView { ok: true, offset: appended.offset, ts_ms: appended.ts_ms, duplicate: appended.duplicate }))
}
