//! Rooms: create, join, leave, and the lists of rooms and members.

use std::collections::HashMap;

use axum::{Json, extract::State};
use dchat_proto::room::v1::{CreateRoomReq, JoinLeaveReq, Room, RoomId, RoomsPage, UserRef};
use tonic::Code;

use crate::{
    auth::CurrentUser,
    dto::{
        CreateRoomBody, MemberView, MembersView, OK, OkView, RoomBody, RoomCreatedView, RoomQuery, RoomView,
        RoomsPageQuery, RoomsPageView, RoomsView,
    },
    error::{ApiError, ApiJson, ApiQuery},
    rest::require_member,
    state::GatewayState,
};

fn room_view(room: Room) -> RoomView {
    RoomView { room_id: room.room_id, name: room.name, member_count: room.member_count, role: None }
}

async fn collect_rooms(
    stream: Result<tonic::Response<tonic::Streaming<Room>>, tonic::Status>,
) -> Result<RoomsView, ApiError> {
    let mut stream = stream?.into_inner();
    let mut rooms = Vec::new();
    while let Some(room) = stream.message().await? {
        rooms.push(room_view(room));
    }
    Ok(RoomsView { rooms })
}

/// # POST /api/room/create
///
/// Creates a room with `room_id` and `name`; the caller becomes its first member.
/// 400 for an invalid id or name; 429 past 10 rooms, then 1 per 30 s, per user.
/// - When the id is taken the answer is still 200 (the seed's clients create the room they
///   join every time), with `created: false`; nothing changes: the room keeps its name and
///   the caller is not made a member.
#[utoipa::path(
    post,
    path = "/api/room/create",
    tag = "rooms",
    summary = "Create a room; the caller joins it. An existing id answers 200 with created = false and changes nothing; one that differs from an existing room's only in case is 409",
    request_body = crate::dto::CreateRoomBody,
    responses((status = 200, description = "OK", body = crate::dto::RoomCreatedView), crate::dto::Refusals)
)]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateRoomBody>,
) -> Result<Json<RoomCreatedView>, ApiError> {
    state.limit_room_creation(&user.user_id)?;
    let request = CreateRoomReq { room_id: body.room_id, name: body.name, creator_user_id: user.user_id };
    let created = state.rooms().create_room(request).await?.into_inner().created;
    Ok(Json(RoomCreatedView { ok: true, created }))
}

/// # POST /api/room/join
///
/// Joins an existing room. 403 when there is no such room.
#[utoipa::path(
    post,
    path = "/api/room/join",
    tag = "rooms",
    summary = "Join a room",
    request_body = crate::dto::RoomBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn join(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<RoomBody>,
) -> Result<Json<OkView>, ApiError> {
    let request = JoinLeaveReq { room_id: body.room_id.clone(), user_id: user.user_id };
    match state.rooms().join_room(request).await {
        Ok(_) => Ok(Json(OK)),
        Err(status) if status.code() == Code::NotFound => Err(ApiError::room_forbidden(&body.room_id)),
        Err(status) => Err(status.into()),
    }
}

/// # POST /api/room/leave
///
/// Leaves a room; leaving a room one is not in is fine.
#[utoipa::path(
    post,
    path = "/api/room/leave",
    tag = "rooms",
    summary = "Leave a room",
    request_body = crate::dto::RoomBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn leave(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<RoomBody>,
) -> Result<Json<OkView>, ApiError> {
    state.rooms().leave_room(JoinLeaveReq { room_id: body.room_id, user_id: user.user_id }).await?;
    Ok(Json(OK))
}

/// # GET /api/room/list
///
/// The rooms the caller is a member of, each with the caller's `role` in it: `owner` for
/// the room's creator, else `member`.
#[utoipa::path(
    get,
    path = "/api/room/list",
    tag = "rooms",
    summary = "The caller's rooms",
    responses((status = 200, description = "OK", body = crate::dto::RoomsView), crate::dto::Refusals)
)]
pub(crate) async fn list(State(state): State<GatewayState>, user: CurrentUser) -> Result<Json<RoomsView>, ApiError> {
    let mut stream = state.rooms().list_user_rooms(UserRef { user_id: user.user_id.clone() }).await?.into_inner();
    let mut rooms = Vec::new();
    while let Some(room) = stream.message().await? {
        let role = if room.created_by == user.user_id { "owner" } else { "member" };
        rooms.push(RoomView { role: Some(role), ..room_view(room) });
    }
    Ok(Json(RoomsView { rooms }))
}

/// Rooms in a page of `GET /api/room/public`, unless the caller asks for fewer.
const PUBLIC_PAGE: u32 = 100;

/// Most rooms in one page of `GET /api/room/public`.
const MAX_PUBLIC_PAGE: u32 = 500;

/// # GET /api/room/public?after=&limit=
///
/// Every room, for browsing and joining, a page at a time in id order: `limit` (default
/// 100, at most 500) rooms after the id `after`; `next` is the `after` of the next page.
#[utoipa::path(
    get,
    path = "/api/room/public",
    tag = "rooms",
    summary = "Every room, a page at a time in id order: limit (default 100, at most 500) after the id `after`; next is the after of the next page",
    params(crate::dto::RoomsPageQuery),
    responses((status = 200, description = "OK", body = crate::dto::RoomsPageView), crate::dto::Refusals)
)]
pub(crate) async fn public(
    State(state): State<GatewayState>,
    _user: CurrentUser,
    ApiQuery(query): ApiQuery<RoomsPageQuery>,
) -> Result<Json<RoomsPageView>, ApiError> {
    let limit = match query.limit {
        None => PUBLIC_PAGE,
        Some(limit @ 1..=MAX_PUBLIC_PAGE) => limit,
        Some(_) => return Err(ApiError::BadRequest(format!("limit: 1 to {MAX_PUBLIC_PAGE}"))),
    };
    let page = RoomsPage { after: query.after, limit };
    let RoomsView { rooms } = collect_rooms(state.rooms().list_rooms_page(page).await).await?;
    // A full page may have more after it; the next one says.
    let next = (rooms.len() == limit as usize).then(|| rooms.last().map(|room| room.room_id.clone())).flatten();
    Ok(Json(RoomsPageView { rooms, next }))
}

/// # GET /api/room/members?room_id=
///
/// The members of a room the caller is in, with display names, usernames and bot badges.
/// Members whose display names look alike (see `dchat_core::name_skeleton`) are each marked
/// `lookalike`: nobody can tell from the names which is the imitation, so the client shows
/// their usernames.
#[utoipa::path(
    get,
    path = "/api/room/members",
    tag = "rooms",
    summary = "Members of a room the caller is in",
    params(crate::dto::RoomQuery),
    responses((status = 200, description = "OK", body = crate::dto::MembersView), crate::dto::Refusals)
)]
pub(crate) async fn members(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<RoomQuery>,
) -> Result<Json<MembersView>, ApiError> {
    require_member(&state, &query.room_id, &user).await?;
    let mut stream = state.rooms().list_members(RoomId { room_id: query.room_id }).await?.into_inner();
    let mut members = Vec::new();
    // Each name's skeleton, made once, and how many members share it.
    let mut skeletons = Vec::new();
    let mut shared: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
    while let Some(member) = stream.message().await? {
        let profile = state.profile(&member.user_id).await;
        let skeleton = dchat_core::name_skeleton(&profile.display_name);
        *shared.entry(skeleton.clone()).or_default() += 1;
        skeletons.push(skeleton);
        members.push(MemberView {
            user_id: member.user_id,
            display_name: profile.display_name.clone(),
            username: profile.username.clone(),
            bot: profile.bot,
            lookalike: false,
            joined_ms: member.joined_ms,
        });
    }
    for (member, skeleton) in members.iter_mut().zip(&skeletons) {
        // An unknown user's empty name imitates nobody.
        member.lookalike = !skeleton.is_empty() && shared.get(skeleton).is_some_and(|n| *n > 1);
    }
    Ok(Json(MembersView { members }))
}
