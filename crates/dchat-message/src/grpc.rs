//! `message.v1.MessageService` over gRPC: decode, call [`MessageService`], encode.

use dchat_core::IdempotencyKey;
use dchat_proto::{
    BoxStream, from_validation, internal,
    message::v1::{self as pb, message_service_server},
    parse_room_id, parse_user_id, stream_of,
};
use dchat_storage::StoreError;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{Appended, MessageError, MessageService, Reader, StoredMessage, service::DEFAULT_PAGE};

#[derive(Debug, Clone)]
pub struct MessageGrpc {
    service: MessageService,
    /// Ends open subscription streams when the process is stopping, so that the server's
    /// graceful shutdown does not wait for them forever.
    stopping: CancellationToken,
}

impl MessageGrpc {
    pub fn new(service: MessageService, stopping: CancellationToken) -> Self {
        Self { service, stopping }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> message_service_server::MessageServiceServer<Self> {
        message_service_server::MessageServiceServer::new(self)
    }
}

impl From<MessageError> for Status {
    fn from(err: MessageError) -> Self {
        match err {
            MessageError::Invalid(err) => from_validation(err),
            MessageError::NotMember(_) => Status::permission_denied(err.to_string()),
            MessageError::Overloaded => Status::resource_exhausted(err.to_string()),
            MessageError::Unavailable(message) => Status::unavailable(message),
            MessageError::Storage(StoreError::Unavailable(err)) => {
                tracing::warn!(error = %err, "the message database is unavailable");
                Status::unavailable("the message database is unavailable; retry")
            }
            MessageError::Storage(err) => internal("access the message database", &err),
        }
    }
}

fn to_pb(message: &StoredMessage) -> pb::Msg {
    pb::Msg {
        room_id: message.room_id.as_str().to_owned(),
        user_id: message.user_id.to_hyphenated_string(),
        text: message.text.clone(),
        offset: message.offset,
        ts_ms: message.ts_ms,
        idempotency_key: message.idempotency_key.clone().unwrap_or_default(),
    }
}

/// [`to_pb`] for a message of our own, whose texts move instead of being copied.
fn into_pb(message: StoredMessage) -> pb::Msg {
    pb::Msg {
        room_id: message.room_id.as_str().to_owned(),
        user_id: message.user_id.to_hyphenated_string(),
        text: message.text,
        offset: message.offset,
        ts_ms: message.ts_ms,
        idempotency_key: message.idempotency_key.unwrap_or_default(),
    }
}

/// Most appends one `AppendMany` may carry: the writer's largest batch.
const MAX_APPEND_MANY: usize = 1024;

fn accepted(appended: Appended) -> pb::AppendResp {
    pb::AppendResp {
        success: true,
        offset: appended.offset,
        error: String::new(),
        ts_ms: appended.ts_ms,
        duplicate: appended.duplicate,
        code: 0,
    }
}

/// A refused append inside `AppendMany`, with the status code it would have had alone.
fn refused(status: &Status) -> pb::AppendResp {
    pb::AppendResp {
        success: false,
        error: status.message().to_owned(),
        code: status.code() as i32,
        ..Default::default()
    }
}

/// The reader a request names; none is a trusted service call (see [`Reader::Service`]).
fn reader(user_id: &str) -> Result<Reader, Status> {
    if user_id.is_empty() { Ok(Reader::Service) } else { Ok(Reader::Member(parse_user_id(user_id)?)) }
}

/// An offset the caller gave, checked as every route checks offsets.
fn offset(field: &'static str, value: i64) -> Result<i64, Status> {
    dchat_core::check_offset(field, value).map_err(from_validation)
}

#[tonic::async_trait]
impl message_service_server::MessageService for MessageGrpc {
    async fn append(&self, request: Request<pb::AppendReq>) -> Result<Response<pb::AppendResp>, Status> {
        let req = request.into_inner();
        let room_id = parse_room_id(&req.room_id)?;
        let user_id = parse_user_id(&req.user_id)?;
        let key = IdempotencyKey::parse_optional(&req.idempotency_key).map_err(from_validation)?;
        let appended = self.service.append(room_id, user_id, &req.text, key).await?;
        Ok(Response::new(accepted(appended)))
    }

    type ListStream = BoxStream<pb::Msg>;

    async fn list(&self, request: Request<pb::ListReq>) -> Result<Response<Self::ListStream>, Status> {
        let req = request.into_inner();
        let room_id = parse_room_id(&req.room_id)?;
        let reader = reader(&req.user_id)?;
        let limit = match req.limit {
            0 => DEFAULT_PAGE,
            limit if limit < 0 => {
                return Err(Status::invalid_argument("limit: must not be negative"));
            }
            limit => i64::from(limit),
        };
        let before = offset("before", req.before)?;
        let from_offset = offset("from_offset", req.from_offset)?;
        let messages = if before > 0 {
            self.service.list_before(room_id, reader, before, limit).await?
        } else {
            self.service.list_from(room_id, reader, from_offset, limit).await?
        };
        Ok(Response::new(stream_of(messages.into_iter().map(into_pb).collect())))
    }

    type SubscribeStream = BoxStream<pb::Msg>;

    async fn subscribe(&self, request: Request<pb::RoomId>) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = request.into_inner();
        let room_id = parse_room_id(&req.room_id)?;
        let reader = reader(&req.user_id)?;
        let after = req.after.map(|after| offset("after", after)).transpose()?;
        let deliveries = self.service.subscribe(room_id, reader, after).await?;
        let stream = deliveries
            .map(|delivery| delivery.map(|message| to_pb(&message)).map_err(Status::from))
            .take_until(self.stopping.clone().cancelled_owned());
        Ok(Response::new(Box::pin(stream)))
    }

    async fn append_many(&self, request: Request<pb::AppendManyReq>) -> Result<Response<pb::AppendManyResp>, Status> {
        let appends = request.into_inner().appends;
        if appends.len() > MAX_APPEND_MANY {
            return Err(Status::invalid_argument(format!("appends: at most {MAX_APPEND_MANY} per call")));
        }
        // Malformed entries are answered in place; the others go to the writer in order.
        let mut parsed = Vec::with_capacity(appends.len());
        let mut results: Vec<Option<pb::AppendResp>> = Vec::with_capacity(appends.len());
        for req in appends {
            let decoded = (|| {
                let key = IdempotencyKey::parse_optional(&req.idempotency_key).map_err(from_validation)?;
                Ok::<_, Status>((parse_room_id(&req.room_id)?, parse_user_id(&req.user_id)?, req.text, key))
            })();
            match decoded {
                Ok(append) => {
                    parsed.push(append);
                    results.push(None);
                }
                Err(status) => results.push(Some(refused(&status))),
            }
        }
        let mut outcomes = self.service.append_many(parsed).await.into_iter();
        let results = results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| match outcomes.next() {
                    Some(Ok(appended)) => accepted(appended),
                    Some(Err(err)) => refused(&Status::from(err)),
                    None => refused(&Status::internal("missing result")),
                })
            })
            .collect();
        Ok(Response::new(pb::AppendManyResp { results }))
    }

    type TailStream = BoxStream<pb::Msg>;

    async fn tail(&self, request: Request<pb::TailReq>) -> Result<Response<Self::TailStream>, Status> {
        let req = request.into_inner();
        let room_id = parse_room_id(&req.room_id)?;
        let after = req.after.map(|after| offset("after", after)).transpose()?;
        let stream = self
            .service
            .tail(room_id, after)
            .map(|delivery| delivery.map(|message| to_pb(&message)).map_err(Status::from))
            .take_until(self.stopping.clone().cancelled_owned());
        Ok(Response::new(Box::pin(stream)))
    }

    async fn next_offset(&self, request: Request<pb::RoomId>) -> Result<Response<pb::Offset>, Status> {
        let room_id = parse_room_id(&request.into_inner().room_id)?;
        Ok(Response::new(pb::Offset { value: self.service.next_offset(&room_id).await? }))
    }
}
