//! What every handler shares: clients of the four services, configuration, caches.

use std::sync::Arc;

use dchat_proto::{
    auth::v1::auth_service_client::AuthServiceClient, message::v1::message_service_client::MessageServiceClient,
    presence::v1::presence_service_client::PresenceServiceClient, room::v1::room_service_client::RoomServiceClient,
};
use tonic::transport::Channel;

use crate::names::DisplayNames;

/// The gateway's section of the configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Lifetime of the session cookie, in seconds; matches the token lifetime.
    pub cookie_max_age_secs: u64,
    /// Mark the session cookie `Secure` (set when dchat is served over HTTPS).
    pub secure_cookies: bool,
}

/// gRPC channels to the services the gateway forwards to.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub auth: Channel,
    pub rooms: Channel,
    pub messages: Channel,
    pub presence: Channel,
}

#[derive(Debug, Clone)]
pub struct GatewayState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) auth: AuthServiceClient<Channel>,
    pub(crate) rooms: RoomServiceClient<Channel>,
    pub(crate) messages: MessageServiceClient<Channel>,
    pub(crate) presence: PresenceServiceClient<Channel>,
    pub(crate) config: GatewayConfig,
    pub(crate) names: DisplayNames,
}

impl GatewayState {
    pub fn new(upstreams: Upstreams, config: GatewayConfig) -> Self {
        let auth = AuthServiceClient::new(upstreams.auth);
        Self {
            inner: Arc::new(Inner {
                names: DisplayNames::new(auth.clone()),
                auth,
                rooms: RoomServiceClient::new(upstreams.rooms),
                messages: MessageServiceClient::new(upstreams.messages),
                presence: PresenceServiceClient::new(upstreams.presence),
                config,
            }),
        }
    }

    // Clients are cheap handles onto one shared HTTP/2 connection; each call takes a copy.
    pub(crate) fn auth(&self) -> AuthServiceClient<Channel> {
        self.inner.auth.clone()
    }

    pub(crate) fn rooms(&self) -> RoomServiceClient<Channel> {
        self.inner.rooms.clone()
    }

    pub(crate) fn messages(&self) -> MessageServiceClient<Channel> {
        self.inner.messages.clone()
    }

    pub(crate) fn presence(&self) -> PresenceServiceClient<Channel> {
        self.inner.presence.clone()
    }
}
