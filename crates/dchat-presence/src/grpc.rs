//! `presence.v1.PresenceService` over gRPC: decode, call [`PresenceService`], encode.

use dchat_bus::BusEvent;
use dchat_core::DisplayName;
use dchat_proto::{
    BoxStream, from_validation, parse_room_id, parse_user_id,
    presence::v1::{self as pb, presence_event::Type, presence_service_server},
};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{PresenceError, PresenceEvent, PresenceKind, PresenceService};

/// Longest session id accepted.
const MAX_SESSION_ID_BYTES: usize = 128;

#[derive(Debug, Clone)]
pub struct PresenceGrpc {
    service: PresenceService,
    /// Ends open event streams when the process is stopping.
    stopping: CancellationToken,
}

impl PresenceGrpc {
    pub fn new(service: PresenceService, stopping: CancellationToken) -> Self {
        Self { service, stopping }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> presence_service_server::PresenceServiceServer<Self> {
        presence_service_server::PresenceServiceServer::new(self)
    }
}

impl From<PresenceError> for Status {
    fn from(err: PresenceError) -> Self {
        match err {
            PresenceError::Invalid(err) => from_validation(err),
            PresenceError::TooManySessions => Status::resource_exhausted(err.to_string()),
        }
    }
}

fn event_to_pb(event: PresenceEvent) -> pb::PresenceEvent {
    let kind = match event.kind {
        PresenceKind::Join => Type::Join,
        PresenceKind::Leave => Type::Leave,
        PresenceKind::Typing => Type::Typing,
    };
    pb::PresenceEvent {
        r#type: kind.into(),
        room_id: event.room_id.to_string(),
        user_id: event.user_id.to_string(),
        display_name: event.display_name,
        ts_ms: event.ts_ms,
    }
}

/// A display name when one is given; heartbeats may omit it.
fn optional_display_name(raw: &str) -> Result<Option<DisplayName>, Status> {
    if raw.trim().is_empty() { Ok(None) } else { DisplayName::parse(raw).map(Some).map_err(from_validation) }
}

fn session_id(raw: &str) -> Result<&str, Status> {
    if raw.len() > MAX_SESSION_ID_BYTES {
        return Err(Status::invalid_argument(format!("session_id: is longer than {MAX_SESSION_ID_BYTES} bytes")));
    }
    Ok(if raw.is_empty() { "default" } else { raw })
}

impl PresenceGrpc {
    /// JOIN for everyone online in the room now, then JOIN and LEAVE as they happen.
    fn events(&self, request: pb::RoomId) -> Result<Response<BoxStream<pb::PresenceEvent>>, Status> {
        let room_id = parse_room_id(&request.room_id)?;
        let (snapshot, events) = self.service.subscribe(&room_id);
        let snapshot = futures::stream::iter(snapshot.into_iter().map(|event| Ok(event_to_pb(event))));
        let live = events.map(|event| match event {
            BusEvent::Payload(event) => Ok(event_to_pb(event)),
            // A subscriber that missed events would show a wrong roster: make it start over
            // (the room's channel is larger when it comes back).
            BusEvent::Gap => Err(Status::data_loss("the presence stream fell behind; resubscribe")),
        });
        let stream = snapshot.chain(live).take_until(self.stopping.clone().cancelled_owned());
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl presence_service_server::PresenceService for PresenceGrpc {
    async fn heartbeat(&self, request: Request<pb::HeartbeatReq>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        let display_name = optional_display_name(&req.display_name)?;
        self.service.heartbeat(
            parse_room_id(&req.room_id)?,
            parse_user_id(&req.user_id)?,
            display_name,
            session_id(&req.session_id)?,
        )?;
        Ok(Response::new(pb::Ack { ok: true, error: String::new() }))
    }

    async fn roster(&self, request: Request<pb::RoomId>) -> Result<Response<pb::RosterReply>, Status> {
        let room_id = parse_room_id(&request.into_inner().room_id)?;
        let users = self
            .service
            .roster(&room_id)
            .into_iter()
            .map(|online| pb::PresenceUser {
                user_id: online.user_id.to_string(),
                display_name: online.display_name,
                last_seen_ms: online.last_seen_ms,
            })
            .collect();
        Ok(Response::new(pb::RosterReply { users }))
    }

    type SubscribePresenceStream = BoxStream<pb::PresenceEvent>;

    async fn subscribe_presence(
        &self,
        request: Request<pb::RoomId>,
    ) -> Result<Response<Self::SubscribePresenceStream>, Status> {
        self.events(request.into_inner())
    }

    type SubscribeStream = BoxStream<pb::PresenceEvent>;

    async fn subscribe(&self, request: Request<pb::RoomId>) -> Result<Response<Self::SubscribeStream>, Status> {
        self.events(request.into_inner())
    }

    async fn typing(&self, request: Request<pb::HeartbeatReq>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        let display_name = optional_display_name(&req.display_name)?;
        self.service.typing(parse_room_id(&req.room_id)?, parse_user_id(&req.user_id)?, display_name);
        Ok(Response::new(pb::Ack { ok: true, error: String::new() }))
    }

    async fn disconnect(&self, request: Request<pb::DisconnectReq>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        self.service.disconnect(
            &parse_room_id(&req.room_id)?,
            parse_user_id(&req.user_id)?,
            session_id(&req.session_id)?,
        );
        Ok(Response::new(pb::Ack { ok: true, error: String::new() }))
    }
}
