//! Rooms: create, join, leave, and the lists of rooms and members.

use axum::{Json, extract::State};
use dchat_proto::room::v1::{CreateRoomReq, Empty, JoinLeaveReq, Room, RoomId, UserRef};
use tonic::Code;

use crate::{
    auth::CurrentUser,
    dto::{CreateRoomBody, MemberView, MembersView, OK, Ok, RoomBody, RoomCreatedView, RoomQuery, RoomView, RoomsView},
    error::{ApiError, ApiJson, ApiQuery},
    rest::require_member,
    state::GatewayState,
};

fn room_view(room: Room) -> RoomView {
    RoomView { room_id: room.room_id, name: room.name, member_count: room.member_count }
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
/// 400 for an invalid id or name.
/// - When the id is taken the answer is still 200 (the seed's clients create the room they
///   join every time), with `created: false`; nothing changes: the room keeps its name and
///   the caller is not made a member.
pub(crate) async fn create(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateRoomBody>,
) -> Result<Json<RoomCreatedView>, ApiError> {
    let request = CreateRoomReq { room_id: body.room_id, name: body.name, creator_user_id: user.user_id };
    let created = state.rooms().create_room(request).await?.into_inner().created;
    Ok(Json(RoomCreatedView { ok: true, created }))
}

/// # POST /api/room/join
///
/// Joins an existing room. 403 when there is no such room.
pub(crate) async fn join(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<RoomBody>,
) -> Result<Json<Ok>, ApiError> {
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
pub(crate) async fn leave(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<RoomBody>,
) -> Result<Json<Ok>, ApiError> {
    state.rooms().leave_room(JoinLeaveReq { room_id: body.room_id, user_id: user.user_id }).await?;
    Ok(Json(OK))
}

/// # GET /api/room/list
///
/// The rooms the caller is a member of.
pub(crate) async fn list(State(state): State<GatewayState>, user: CurrentUser) -> Result<Json<RoomsView>, ApiError> {
    let rooms = collect_rooms(state.rooms().list_user_rooms(UserRef { user_id: user.user_id }).await).await?;
    Ok(Json(rooms))
}

/// # GET /api/room/public
///
/// Every room, for browsing and joining.
pub(crate) async fn public(State(state): State<GatewayState>, _user: CurrentUser) -> Result<Json<RoomsView>, ApiError> {
    Ok(Json(collect_rooms(state.rooms().list_rooms(Empty {}).await).await?))
}

/// # GET /api/room/members?room_id=
///
/// The members of a room the caller is in, with display names.
pub(crate) async fn members(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<RoomQuery>,
) -> Result<Json<MembersView>, ApiError> {
    require_member(&state, &query.room_id, &user).await?;
    let mut stream = state.rooms().list_members(RoomId { room_id: query.room_id }).await?.into_inner();
    let mut members = Vec::new();
    while let Some(member) = stream.message().await? {
        let display_name = state.inner.names.get(&member.user_id).await;
        members.push(MemberView { user_id: member.user_id, display_name, joined_ms: member.joined_ms });
    }
    Ok(Json(MembersView { members }))
}
