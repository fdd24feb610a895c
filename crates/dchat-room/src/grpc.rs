//! `room.v1.RoomService` over gRPC: decode, call [`RoomService`], encode. The only file
//! of this crate that knows tonic.

use dchat_bus::Followed;
use dchat_core::RoomName;
use dchat_proto::{
    BoxStream, from_validation, internal, parse_room_id, parse_user_id,
    room::v1::{self as pb, room_service_server},
    stream_of,
};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use dchat_storage::StoreError;

use crate::{MembershipChange, Room, RoomError, RoomService, feed::Watcher};

#[derive(Debug, Clone)]
pub struct RoomGrpc {
    service: RoomService,
    /// Ends open watch streams when the process is stopping, so that the server's
    /// graceful shutdown does not wait for them forever.
    stopping: CancellationToken,
}

impl RoomGrpc {
    pub fn new(service: RoomService, stopping: CancellationToken) -> Self {
        Self { service, stopping }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> room_service_server::RoomServiceServer<Self> {
        room_service_server::RoomServiceServer::new(self)
    }
}

impl From<RoomError> for Status {
    fn from(err: RoomError) -> Self {
        match err {
            RoomError::Invalid(err) => from_validation(err),
            RoomError::NotFound(_) => Status::not_found(err.to_string()),
            RoomError::IdTaken { .. } => Status::already_exists(err.to_string()),
            RoomError::Storage(StoreError::Unavailable(err)) => {
                tracing::warn!(error = %err, "the room database is unavailable");
                Status::unavailable("the room database is unavailable; retry")
            }
            RoomError::Storage(err) => internal("access the room database", &err),
        }
    }
}

fn to_pb(room: Room) -> pb::Room {
    pb::Room {
        room_id: room.room_id.to_string(),
        name: room.name.to_string(),
        created_ms: room.created_ms,
        member_count: room.member_count,
        created_by: room.created_by.map(|user_id| user_id.to_string()).unwrap_or_default(),
    }
}

fn ok() -> Response<pb::Ack> {
    Response::new(pb::Ack { success: true, ..Default::default() })
}

#[tonic::async_trait]
impl room_service_server::RoomService for RoomGrpc {
    async fn create_room(&self, request: Request<pb::CreateRoomReq>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        let room_id = parse_room_id(&req.room_id)?;
        let name = RoomName::parse(&req.name).map_err(from_validation)?;
        let creator = if req.creator_user_id.is_empty() { None } else { Some(parse_user_id(&req.creator_user_id)?) };
        let created = self.service.create_room(room_id, name, creator).await?;
        Ok(Response::new(pb::Ack { success: true, error: String::new(), created }))
    }

    async fn join_room(&self, request: Request<pb::JoinLeaveReq>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        self.service.join(parse_room_id(&req.room_id)?, parse_user_id(&req.user_id)?).await?;
        Ok(ok())
    }

    async fn leave_room(&self, request: Request<pb::JoinLeaveReq>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        self.service.leave(parse_room_id(&req.room_id)?, parse_user_id(&req.user_id)?).await?;
        Ok(ok())
    }

    type ListRoomsStream = BoxStream<pb::Room>;

    async fn list_rooms(&self, _request: Request<pb::Empty>) -> Result<Response<Self::ListRoomsStream>, Status> {
        let rooms = self.service.rooms().await?;
        Ok(Response::new(stream_of(rooms.into_iter().map(to_pb).collect())))
    }

    type ListMembersStream = BoxStream<pb::Member>;

    async fn list_members(&self, request: Request<pb::RoomId>) -> Result<Response<Self::ListMembersStream>, Status> {
        let room_id = parse_room_id(&request.into_inner().room_id)?;
        let members = self.service.members(room_id.clone()).await?;
        let members = members
            .into_iter()
            .map(|(user_id, joined_ms)| pb::Member {
                user_id: user_id.to_string(),
                room_id: room_id.to_string(),
                joined_ms,
            })
            .collect();
        Ok(Response::new(stream_of(members)))
    }

    async fn room_exists(&self, request: Request<pb::RoomId>) -> Result<Response<pb::Ack>, Status> {
        let room_id = parse_room_id(&request.into_inner().room_id)?;
        let exists = self.service.exists(&room_id).await?;
        let error = if exists { String::new() } else { format!("room {room_id} does not exist") };
        Ok(Response::new(pb::Ack { success: exists, error, created: false }))
    }

    type ListRoomsPageStream = BoxStream<pb::Room>;

    async fn list_rooms_page(
        &self,
        request: Request<pb::RoomsPage>,
    ) -> Result<Response<Self::ListRoomsPageStream>, Status> {
        let page = request.into_inner();
        let limit = if page.limit == 0 { crate::service::DEFAULT_ROOMS_PAGE } else { page.limit };
        let rooms = self.service.rooms_page(&page.after, limit).await?;
        Ok(Response::new(stream_of(rooms.into_iter().map(to_pb).collect())))
    }

    type ListUserRoomsStream = BoxStream<pb::Room>;

    async fn list_user_rooms(
        &self,
        request: Request<pb::UserRef>,
    ) -> Result<Response<Self::ListUserRoomsStream>, Status> {
        let user_id = parse_user_id(&request.into_inner().user_id)?;
        let rooms = self.service.rooms_of(user_id).await?;
        Ok(Response::new(stream_of(rooms.into_iter().map(to_pb).collect())))
    }

    async fn is_member(&self, request: Request<pb::JoinLeaveReq>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        let member = self.service.is_member(&parse_room_id(&req.room_id)?, parse_user_id(&req.user_id)?).await?;
        Ok(Response::new(pb::Ack { success: member, ..Default::default() }))
    }

    async fn shares_room(&self, request: Request<pb::UserPair>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        let shared =
            self.service.share_a_room(parse_user_id(&req.user_id)?, parse_user_id(&req.other_user_id)?).await?;
        Ok(Response::new(pb::Ack { success: shared, ..Default::default() }))
    }

    async fn get_room(&self, request: Request<pb::RoomId>) -> Result<Response<pb::Room>, Status> {
        let room = self.service.room(parse_room_id(&request.into_inner().room_id)?).await?;
        Ok(Response::new(to_pb(room)))
    }

    type WatchMembershipStream = BoxStream<pb::MembershipEvent>;

    async fn watch_membership(
        &self,
        request: Request<tonic::Streaming<pb::MembershipAck>>,
    ) -> Result<Response<Self::WatchMembershipStream>, Status> {
        let mut acks = request.into_inner();
        // Register before sending the marker: every change after the marker is in the stream.
        let Watcher { id, baseline, changes } = self.service.watch();
        let service = self.service.clone();
        tokio::spawn(async move {
            while let Ok(Some(ack)) = acks.message().await {
                service.ack(id, ack.seq);
            }
            // The watcher hung up (or broke its stream): stop waiting for it.
            service.unwatch(id);
        });
        let marker =
            futures::stream::once(async move { Ok(pb::MembershipEvent { seq: baseline, ..Default::default() }) });
        let changes = changes.map(|event| match event {
            Followed::Change(seq, MembershipChange { room_id, user_id, member }) => {
                Ok(pb::MembershipEvent { room_id: room_id.to_string(), user_id: user_id.to_string(), member, seq })
            }
            // A watcher that missed changes must not keep a cache built on them: end its
            // stream with an error so it starts over.
            Followed::Reset => Err(Status::data_loss("membership watch fell behind; reconnect")),
        });
        let stream = marker.chain(changes).take_until(self.stopping.clone().cancelled_owned());
        Ok(Response::new(Box::pin(stream)))
    }
}
