//! `gateway.v1.GatewayService`: the seed's public gRPC face, served on the gateway's HTTP
//! port next to the JSON API (gRPC requests are told apart by their path).
//!
//! Callers authenticate with `authorization: Bearer <token>` metadata. Identities come from
//! the token only: a request's `user_id` field may be left empty, and one that names
//! somebody else is refused. A live stream (`ReplayAndSubscribe`, `SubscribePresence`)
//! lasts only as long as its token: it ends with UNAUTHENTICATED when the token is logged
//! out, on any gateway, or expires, as a WebSocket is closed then.

use dchat_proto::{
    BoxStream,
    auth::v1 as auth,
    gateway::v1::{ReplayReq, gateway_service_server},
    message::v1 as message,
    presence::v1 as presence,
    room::v1 as room,
};
use std::{
    pin::Pin,
    task::{Context, Poll},
};

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, metadata::MetadataMap};

use crate::{
    live::{
        connections::{Connections, Control, LOGGED_OUT, SubscriptionSlot, UserSubscriptions},
        expiry::{self, Renewal, SessionClock},
        mailbox,
    },
    state::GatewayState,
};

#[derive(Debug, Clone)]
pub(crate) struct GatewayGrpc {
    state: GatewayState,
}

/// The tonic service of the gateway, for the router.
pub(crate) fn service(state: GatewayState) -> gateway_service_server::GatewayServiceServer<GatewayGrpc> {
    gateway_service_server::GatewayServiceServer::new(GatewayGrpc { state })
}

fn bearer(metadata: &MetadataMap) -> Option<String> {
    crate::auth::bearer_token(metadata.get("authorization")?.to_str().ok()?)
}

/// The caller's IP address as the connection shows it.
fn peer_ip<T>(request: &Request<T>) -> std::net::IpAddr {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
        .or_else(|| request.remote_addr().map(|addr| addr.ip()))
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
}

/// A rate limit as gRPC says it.
fn limited(err: crate::error::ApiError) -> Status {
    Status::resource_exhausted(err.to_string())
}

/// The claimed `user_id` must be empty or the caller's own.
fn check_claim(claimed: &str, user: &auth::User) -> Result<(), Status> {
    if claimed.is_empty() || claimed == user.user_id {
        Ok(())
    } else {
        Err(Status::permission_denied("user_id does not match the token; leave it empty"))
    }
}

impl GatewayGrpc {
    async fn caller(&self, metadata: &MetadataMap) -> Result<auth::User, Status> {
        Ok(self.session(metadata).await?.0)
    }

    /// The caller and the token that vouches for them.
    async fn session(&self, metadata: &MetadataMap) -> Result<(auth::User, String), Status> {
        let Some(token) = bearer(metadata) else {
            return Err(Status::unauthenticated("send `authorization: Bearer <token>` metadata"));
        };
        let user = self.state.verify(&token).await?;
        Ok((user, token))
    }

    /// A place among the user's live subscriptions, for a live stream.
    fn claim_subscription(&self, user: &auth::User) -> Result<SubscriptionSlot, Status> {
        UserSubscriptions::claim(&self.state, &user.user_id)
            .map_err(|too_many| Status::resource_exhausted(too_many.to_string()))
    }

    /// `stream`, for as long as `token` is good: it ends with UNAUTHENTICATED once the
    /// token is logged out (the revocation reaches the registry of connections, as it does
    /// for WebSockets) or expires, and quietly when the gateway stops. It holds `slot` as
    /// long as it lasts.
    fn while_signed_in<T: Send + 'static>(
        &self,
        user: &auth::User,
        token: String,
        slot: SubscriptionSlot,
        stream: impl Stream<Item = Result<T, Status>> + Send + 'static,
    ) -> BoxStream<T> {
        let state = self.state.clone();
        let (control_tx, mut control) = mailbox::mailbox();
        let registration = Connections::register(&state, &user.user_id, &token, state.next_connection_id(), control_tx);
        let mut clock = SessionClock::new(user.token_expires_ms);
        let ended = async move {
            let _registration = registration;
            let _slot = slot;
            let expiry = tokio::time::sleep_until(clock.ends());
            tokio::pin!(expiry);
            loop {
                tokio::select! {
                    // At the session's end as known here, the auth service has the last word:
                    // the session may have been used elsewhere meanwhile.
                    () = &mut expiry => match expiry::renew(&state, &token).await {
                        Renewal::Until(ends_ms) => {
                            clock.set_end(ends_ms);
                            expiry.as_mut().reset(clock.ends());
                        }
                        Renewal::Ended => {
                            return Some(Status::unauthenticated("the session expired; log in again"));
                        }
                        Renewal::Unknown => return Some(Status::unavailable("the session could not be checked; try again")),
                    },
                    () = state.stopping().cancelled() => return None,
                    order = control.recv() => match order {
                        Control::Close { code: LOGGED_OUT, .. } => return Some(Status::unauthenticated("logged out")),
                        // The gateway is stopping.
                        Control::Close { .. } => return None,
                        // Revocations may have been missed while the watch was down.
                        Control::Reverify if state.verify(&token).await.is_err() => {
                            return Some(Status::unauthenticated("logged out"));
                        }
                        Control::Reverify | Control::Ping | Control::Left { .. } | Control::SessionUntil(_) => {}
                    },
                }
            }
        };
        Box::pin(Guarded { inner: Box::pin(stream), ended: Some(Box::pin(ended)) })
    }

    async fn require_member(&self, room_id: &str, user: &auth::User) -> Result<(), Status> {
        if self.state.is_member(room_id, &user.user_id).await? {
            Ok(())
        } else {
            Err(Status::permission_denied(format!("room {room_id:?} does not exist or you are not a member")))
        }
    }
}

/// Forwards a server stream from a service unchanged.
fn forward<T: Send + 'static>(response: Response<tonic::Streaming<T>>) -> Response<BoxStream<T>> {
    Response::new(Box::pin(response.into_inner()))
}

#[tonic::async_trait]
impl gateway_service_server::GatewayService for GatewayGrpc {
    async fn register(&self, request: Request<auth::RegisterRequest>) -> Result<Response<auth::AuthResponse>, Status> {
        let ip = peer_ip(&request);
        let user_agent = request.metadata().get("user-agent").and_then(|value| value.to_str().ok()).map(str::to_owned);
        let mut request = request.into_inner();
        request.client = Some(crate::auth::sign_in_client(user_agent.as_deref(), ip));
        self.state.auth().register(request).await
    }

    async fn login(&self, request: Request<auth::LoginRequest>) -> Result<Response<auth::AuthResponse>, Status> {
        let ip = peer_ip(&request);
        // gRPC clients carry no cookies, so none is a known device; their User-Agent is
        // shown in the user's sessions.
        let mut headers = axum::http::HeaderMap::new();
        let user_agent = request.metadata().get("user-agent").map(|value| value.as_bytes());
        if let Some(value) = user_agent.and_then(|bytes| axum::http::HeaderValue::from_bytes(bytes).ok()) {
            headers.insert(axum::http::header::USER_AGENT, value);
        }
        match crate::auth::limited_login(&self.state, ip, &headers, request.into_inner()).await {
            Ok(login) => Ok(Response::new(login.session)),
            Err(crate::error::ApiError::RateLimited { message, .. }) => Err(Status::resource_exhausted(message)),
            Err(_) => Err(Status::unauthenticated("invalid credentials")),
        }
    }

    async fn logout(&self, request: Request<auth::Token>) -> Result<Response<auth::Ack>, Status> {
        let metadata_token = bearer(request.metadata());
        let mut token = request.into_inner();
        if token.access_token.is_empty() {
            token.access_token = metadata_token.unwrap_or_default();
        }
        let access_token = token.access_token.clone();
        let ack = self.state.auth().logout(token).await?;
        self.state.token_ended(&access_token);
        Ok(ack)
    }

    async fn get_user(&self, request: Request<auth::UserId>) -> Result<Response<auth::User>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let req = request.into_inner();
        self.state.may_look_up(&caller.user_id, &req.user_id).await?;
        let mut user = self.state.auth().get_user(req).await?.into_inner();
        // What a member needs (id, handle, display name); the email is the account holder's
        // business.
        user.email.clear();
        user.token_expires_ms = 0;
        Ok(Response::new(user))
    }

    async fn create_room(&self, request: Request<room::CreateRoomReq>) -> Result<Response<room::Ack>, Status> {
        let user = self.caller(request.metadata()).await?;
        let mut req = request.into_inner();
        check_claim(&req.creator_user_id, &user)?;
        self.state.limit_room_creation(&user.user_id).map_err(limited)?;
        req.creator_user_id = user.user_id;
        self.state.rooms().create_room(req).await
    }

    async fn join_room(&self, request: Request<room::JoinLeaveReq>) -> Result<Response<room::Ack>, Status> {
        let user = self.caller(request.metadata()).await?;
        let mut req = request.into_inner();
        check_claim(&req.user_id, &user)?;
        req.user_id = user.user_id;
        self.state.rooms().join_room(req).await
    }

    async fn leave_room(&self, request: Request<room::JoinLeaveReq>) -> Result<Response<room::Ack>, Status> {
        let user = self.caller(request.metadata()).await?;
        let mut req = request.into_inner();
        check_claim(&req.user_id, &user)?;
        req.user_id = user.user_id;
        self.state.rooms().leave_room(req).await
    }

    type ListRoomsStream = BoxStream<room::Room>;

    async fn list_rooms(&self, request: Request<room::Empty>) -> Result<Response<Self::ListRoomsStream>, Status> {
        self.caller(request.metadata()).await?;
        Ok(forward(self.state.rooms().list_rooms(room::Empty {}).await?))
    }

    type ListMembersStream = BoxStream<room::Member>;

    async fn list_members(&self, request: Request<room::RoomId>) -> Result<Response<Self::ListMembersStream>, Status> {
        let user = self.caller(request.metadata()).await?;
        let req = request.into_inner();
        self.require_member(&req.room_id, &user).await?;
        Ok(forward(self.state.rooms().list_members(req).await?))
    }

    async fn heartbeat(&self, request: Request<presence::HeartbeatReq>) -> Result<Response<presence::Ack>, Status> {
        let user = self.caller(request.metadata()).await?;
        let mut req = request.into_inner();
        check_claim(&req.user_id, &user)?;
        self.require_member(&req.room_id, &user).await?;
        if req.display_name.trim().is_empty() {
            req.display_name = user.display_name;
        }
        req.user_id = user.user_id;
        req.session_id = "grpc".to_owned();
        self.state.presence().heartbeat(req).await
    }

    type SubscribePresenceStream = BoxStream<presence::PresenceEvent>;

    async fn subscribe_presence(
        &self,
        request: Request<presence::RoomId>,
    ) -> Result<Response<Self::SubscribePresenceStream>, Status> {
        let (user, token) = self.session(request.metadata()).await?;
        let req = request.into_inner();
        self.require_member(&req.room_id, &user).await?;
        let slot = self.claim_subscription(&user)?;
        let events = self.state.presence().subscribe_presence(req).await?.into_inner();
        Ok(Response::new(self.while_signed_in(&user, token, slot, events)))
    }

    async fn roster(&self, request: Request<presence::RoomId>) -> Result<Response<presence::RosterReply>, Status> {
        let user = self.caller(request.metadata()).await?;
        let req = request.into_inner();
        self.require_member(&req.room_id, &user).await?;
        self.state.presence().roster(req).await
    }

    async fn append(&self, request: Request<message::AppendReq>) -> Result<Response<message::AppendResp>, Status> {
        let user = self.caller(request.metadata()).await?;
        let mut req = request.into_inner();
        check_claim(&req.user_id, &user)?;
        self.state.limit_message(&user.user_id).map_err(limited)?;
        if crate::keys::reserved(Some(&req.idempotency_key)) {
            return Err(Status::invalid_argument(crate::keys::RESERVED));
        }
        req.user_id = user.user_id;
        req.idempotency_key = crate::keys::or_fresh(Some(req.idempotency_key).filter(|key| !key.is_empty()));
        self.state.messages().append(req).await
    }

    type ListStream = BoxStream<message::Msg>;

    async fn list(&self, request: Request<message::ListReq>) -> Result<Response<Self::ListStream>, Status> {
        let user = self.caller(request.metadata()).await?;
        let mut req = request.into_inner();
        check_claim(&req.user_id, &user)?;
        req.user_id = user.user_id;
        Ok(Response::new(Box::pin(
            self.state.messages().list(req).await?.into_inner().map(|message| message.map(unkeyed)),
        )))
    }

    type ReplayAndSubscribeStream = BoxStream<message::Msg>;

    async fn replay_and_subscribe(
        &self,
        request: Request<ReplayReq>,
    ) -> Result<Response<Self::ReplayAndSubscribeStream>, Status> {
        let (user, token) = self.session(request.metadata()).await?;
        let req = request.into_inner();
        let slot = self.claim_subscription(&user)?;
        let subscribe = message::RoomId {
            room_id: req.room_id,
            user_id: user.user_id.clone(),
            after: Some(req.last_seen_offset.max(0)),
        };
        let stream = self.state.messages().subscribe(subscribe).await?.into_inner().map(|message| message.map(unkeyed));
        Ok(Response::new(self.while_signed_in(&user, token, slot, stream)))
    }
}

/// A message as a client sees it: the gateway's own idempotency keys are not shown.
fn unkeyed(mut message: message::Msg) -> message::Msg {
    if crate::keys::shown(&message.idempotency_key).is_none() {
        message.idempotency_key.clear();
    }
    message
}

/// A stream that ends when `ended` completes, with its status as the last item if it gives
/// one (see [`GatewayGrpc::while_signed_in`]).
struct Guarded<T> {
    inner: BoxStream<T>,
    ended: Option<Pin<Box<dyn Future<Output = Option<Status>> + Send>>>,
}

impl<T> Stream for Guarded<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(ended) = self.ended.as_mut() else { return Poll::Ready(None) };
        if let Poll::Ready(reason) = ended.as_mut().poll(cx) {
            self.ended = None;
            return Poll::Ready(reason.map(Err));
        }
        let next = self.inner.as_mut().poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            // The stream is over: let go of its registration now.
            self.ended = None;
        }
        next
    }
}
