//! Messages: append and history.

use std::{collections::HashMap, sync::Arc};

use axum::{Json, extract::State};
use dchat_proto::message::v1::{AppendReq, ListReq};
use tonic::Code;

use crate::{
    auth::CurrentUser,
    cache::profiles::Profile,
    dto::{AppendBody, AppendView, ListQuery, MessageView, MessagesView},
    error::{ApiError, ApiJson, ApiQuery},
    state::GatewayState,
};

/// Turns "not a member" from the message service into the room answer that does not tell
/// a missing room from a closed one.
pub(crate) fn room_error(room_id: &str, status: tonic::Status) -> ApiError {
    if status.code() == Code::PermissionDenied { ApiError::room_forbidden(room_id) } else { status.into() }
}

/// # POST /api/message/append
///
/// Stores `text` in `room_id` and answers its offset once it is durable. With `client_id`,
/// a retry returns the original offset and stores nothing new. Members only.
#[utoipa::path(
    post,
    path = "/api/message/append",
    tag = "messages",
    summary = "Append a message once it is durable; client_id makes retries idempotent",
    request_body = crate::dto::AppendBody,
    responses((status = 200, description = "OK", body = crate::dto::AppendView), crate::dto::Refusals)
)]
pub(crate) async fn append(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<AppendBody>,
) -> Result<Json<AppendView>, ApiError> {
    state.limit_message(&user.user_id)?;
    if crate::keys::reserved(body.client_id.as_deref()) {
        return Err(ApiError::BadRequest(crate::keys::RESERVED.to_owned()));
    }
    let request = AppendReq {
        room_id: body.room_id.clone(),
        user_id: user.user_id,
        text: body.text,
        idempotency_key: crate::keys::or_fresh(body.client_id),
    };
    let appended =
        state.messages().append(request).await.map_err(|status| room_error(&body.room_id, status))?.into_inner();
    Ok(Json(AppendView { ok: true, offset: appended.offset, ts_ms: appended.ts_ms, duplicate: appended.duplicate }))
}

/// # GET /api/message/list?room_id=&from_offset=&limit=&before=
///
/// Oldest first: messages with offset >= `from_offset`, or with `before`, the latest
/// `limit` messages before that offset. `limit` defaults to 100 and is capped at 500.
/// Members only.
#[utoipa::path(
    get,
    path = "/api/message/list",
    tag = "messages",
    summary = "History, oldest first: from from_offset, or the latest limit before `before`",
    params(crate::dto::ListQuery),
    responses((status = 200, description = "OK", body = crate::dto::MessagesView), crate::dto::Refusals)
)]
pub(crate) async fn list(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<MessagesView, ApiError> {
    let request = ListReq {
        room_id: query.room_id.clone(),
        from_offset: query.from_offset.unwrap_or(0),
        limit: query.limit.unwrap_or(100),
        before: query.before.unwrap_or(0),
        user_id: user.user_id,
    };
    let mut stream =
        state.messages().list(request).await.map_err(|status| room_error(&query.room_id, status))?.into_inner();
    // A page names each sender once: a page of 50 often has a handful of senders. The map
    // is this request's own and its keys are our own user ids, so it needs no SipHash.
    let mut profiles: HashMap<String, Arc<Profile>, foldhash::fast::RandomState> = HashMap::default();
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await? {
        let profile = match profiles.get(&message.user_id) {
            Some(profile) => profile.clone(),
            None => {
                let profile = state.profile(&message.user_id).await;
                profiles.insert(message.user_id.clone(), profile.clone());
                profile
            }
        };
        messages.push(MessageView {
            offset: message.offset,
            ts_ms: message.ts_ms,
            user_id: message.user_id,
            display_name: profile.display_name.clone(),
            username: profile.username.clone(),
            bot: profile.bot,
            text: message.text,
            client_id: crate::keys::shown(&message.idempotency_key).map(str::to_owned),
        });
    }
    Ok(MessagesView { messages })
}
