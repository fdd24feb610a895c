//! [`App`]: binds the listeners of one [`Role`], opens its services, and serves them until
//! told to stop.
//!
//! One code path for every topology: services and the gateway reach each other only
//! through gRPC clients. What differs is the clients' [`Transport`]: in a split deployment
//! it is an HTTP/2 channel to the configured address; in the all-in-one role it is this
//! process's own gRPC router, called directly (the same generated clients and servers,
//! protobuf and status codes, without a loopback socket in between). The same router is
//! also served on the gRPC port for outside clients.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use dchat_auth::{AuthGrpc, AuthService};
use dchat_gateway::{GatewayState, Upstreams};
use dchat_message::{MessageGrpc, MessageService};
use dchat_presence::{PresenceGrpc, PresenceService};
use dchat_proto::{InternalToken, RequireInternalToken, Transport, room::v1::room_service_client::RoomServiceClient};
use dchat_room::{RoomGrpc, RoomService};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};

use crate::{
    Config,
    channels::remote,
    stores::{self, Claims},
};

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every service on one gRPC port, and the gateway on the HTTP port.
    All,
    Auth,
    Room,
    Message,
    Presence,
    /// The HTTP gateway alone, forwarding to the services at their configured addresses.
    Gateway,
    /// The web app, forwarding everything else to the gateway at its configured address.
    Ui,
}

/// A built process: its listeners are bound (so their addresses are known), its databases
/// are open, and nothing is served until [`App::run_until_stopped`].
#[derive(Debug)]
pub struct App {
    grpc: Option<(TcpListener, Routes)>,
    /// What the gRPC port requires of its callers (see [`InternalToken`]).
    internal_token: Option<InternalToken>,
    http: Option<(TcpListener, axum::Router)>,
    /// The HTTP server's timeouts and connection limits.
    serve: dchat_websocket::ServeConfig,
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    /// Shared with the gRPC adapters: cancelling it ends their open streams.
    stopping: CancellationToken,
    /// Set when this process runs the message service, which must drain on shutdown.
    message: Option<MessageService>,
    workers: TaskTracker,
    /// This process's places on a shared database, held while it runs (see `stores`).
    _claims: Claims,
}

/// Refuses to serve the internal gRPC port where others could reach it unprotected: the
/// services trust their callers (the `user_id` they pass, a call with none), so off
/// loopback they need [`InternalToken`], or the operator's word that the network is private.
fn check_internal_bind(addr: SocketAddr, token: Option<&InternalToken>, insecure: bool) -> anyhow::Result<()> {
    if addr.ip().is_loopback() || token.is_some() {
        return Ok(());
    }
    if insecure {
        tracing::warn!(%addr, "internal gRPC served off loopback without DCHAT_INTERNAL_TOKEN (--insecure-internal)");
        return Ok(());
    }
    anyhow::bail!(
        "refusing to serve the internal gRPC port on {addr} without DCHAT_INTERNAL_TOKEN: its services trust their \
         callers; set the same DCHAT_INTERNAL_TOKEN for every role, bind to loopback, or pass --insecure-internal \
         if nothing but dchat's roles can reach {addr}"
    )
}

async fn bind(addr: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("bind {addr}"))?;
    let local = listener.local_addr().context("read the bound address")?;
    Ok((listener, local))
}

impl App {
    /// Binds the role's listeners and opens its services. Binding first lets a test ask for
    /// port 0 and learn the real port before anything runs.
    pub async fn build(mut config: Config, role: Role) -> anyhow::Result<Self> {
        let own_bind = *config.bind_mut(role);
        let (grpc_bind, http_bind) = match role {
            Role::All => (Some(own_bind), Some(config.http_bind)),
            Role::Gateway | Role::Ui => (None, Some(own_bind)),
            Role::Auth | Role::Room | Role::Message | Role::Presence => (Some(own_bind), None),
        };
        let internal_token = config.internal_token.as_deref().map(InternalToken::parse).transpose()?;
        if let Some(addr) = grpc_bind {
            check_internal_bind(addr, internal_token.as_ref(), config.insecure_internal)?;
        }
        let grpc_listener = match grpc_bind {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let http_listener = match http_bind {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let grpc_addr = grpc_listener.as_ref().map(|(_, addr)| *addr);
        let http_addr = http_listener.as_ref().map(|(_, addr)| *addr);

        let stopping = CancellationToken::new();
        let workers = TaskTracker::new();
        let mut message = None;
        let mut grpc = None;
        let mut claims = Claims::default();
        if let Some((listener, _)) = grpc_listener {
            let (routes, message_service) =
                Self::grpc_services(&config, role, internal_token.as_ref(), &stopping, &workers, &mut claims).await?;
            message = message_service;
            grpc = Some((listener, routes));
        }
        let http = match http_listener {
            None => None,
            Some((listener, _)) if role == Role::Ui => {
                Some((listener, dchat_gateway::ui_router(&config.gateway.addr, config.gateway.web_dir.clone())))
            }
            Some((listener, _)) => {
                let upstreams = match &grpc {
                    // In one process, every service is this very router.
                    Some((_, routes)) => {
                        let local = Transport::local(routes.clone());
                        Upstreams {
                            auth: local.clone(),
                            rooms: local.clone(),
                            messages: local.clone(),
                            presence: local,
                        }
                    }
                    None => {
                        let token = internal_token.as_ref();
                        Upstreams {
                            auth: remote(&config.auth.addr, token)?,
                            rooms: remote(&config.room.addr, token)?,
                            messages: remote(&config.message.addr, token)?,
                            presence: remote(&config.presence.addr, token)?,
                        }
                    }
                };
                let state = GatewayState::new(upstreams, config.gateway_config(), stopping.clone());
                workers.spawn(state.clone().run_until_stopped());
                Some((listener, dchat_gateway::router(state)))
            }
        };
        if let Some(metrics) = crate::telemetry::metrics() {
            // The recorder drains histogram samples only when asked to.
            let stopping = stopping.clone();
            workers.spawn(async move {
                let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    tokio::select! {
                        () = stopping.cancelled() => return,
                        _ = ticks.tick() => metrics.run_upkeep(),
                    }
                }
            });
        }
        workers.close();
        tracing::info!(?role, ?grpc_addr, ?http_addr, "dchat is listening");
        let serve = config.serve_config();
        Ok(Self {
            grpc,
            internal_token,
            http,
            serve,
            grpc_addr,
            http_addr,
            stopping,
            message,
            workers,
            _claims: claims,
        })
    }

    /// The gRPC router of the role's services, with health and reflection.
    async fn grpc_services(
        config: &Config,
        role: Role,
        internal_token: Option<&InternalToken>,
        stopping: &CancellationToken,
        workers: &TaskTracker,
        claims: &mut Claims,
    ) -> anyhow::Result<(Routes, Option<MessageService>)> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(dchat_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("build the gRPC reflection service")?;
        let mut routes = Routes::new(health_service).add_service(reflection);
        let mut message = None;
        // One connection to NATS carries every bus of the process. Without it, what the
        // services announce reaches this process only (one replica of each).
        let nats = match &config.nats_url {
            Some(url) => Some(dchat_bus::NatsConnection::connect(url, &config.nats_prefix).await?),
            None => None,
        };
        // The auth and message services ask the room service about memberships: in one
        // process they call it through the router, which holds it from here on.
        let mut rooms = None;

        if matches!(role, Role::All | Role::Room) {
            let store = stores::room(config, claims).await?;
            let bus: dchat_room::MembershipBus = match &nats {
                Some(nats) => Arc::new(dchat_bus::NatsBus::new(nats, dchat_room::MembershipCodec)),
                None => Arc::new(RoomService::local_bus()),
            };
            let service = RoomService::start(store, bus).await.context("start the room service")?;
            workers.spawn(service.clone().run_until_stopped(stopping.clone()));
            let grpc = RoomGrpc::new(service, stopping.clone()).into_server();
            health.set_serving::<dchat_proto::room::v1::room_service_server::RoomServiceServer<RoomGrpc>>().await;
            routes = routes.add_service(grpc);
            rooms = Some(Transport::local(routes.clone()));
        }
        let rooms_client = || -> anyhow::Result<_> {
            let transport = match &rooms {
                Some(local) => local.clone(),
                None => remote(&config.room.addr, internal_token)?,
            };
            Ok(RoomServiceClient::new(transport))
        };
        if matches!(role, Role::All | Role::Auth) {
            let stores::AuthStores { accounts, totp, tokens, attempts } = stores::auth(config, claims).await?;
            let revocations: dchat_auth::RevocationBus = match &nats {
                Some(nats) => Arc::new(dchat_bus::NatsBus::new(nats, dchat_auth::RevocationCodec)),
                None => Arc::new(AuthService::local_bus()),
            };
            let service =
                AuthService::new(&config.auth_config(), accounts, tokens, totp, attempts, revocations, rooms_client()?)
                    .await
                    .context("start the auth service")?;
            workers.spawn(service.clone().run_until_stopped(stopping.clone()));
            let grpc = AuthGrpc::new(service, stopping.clone()).into_server();
            health.set_serving::<dchat_proto::auth::v1::auth_service_server::AuthServiceServer<AuthGrpc>>().await;
            routes = routes.add_service(grpc);
        }
        if matches!(role, Role::All | Role::Message) {
            let stores::MessageStores { log, appender } = stores::message(config, claims).await?;
            // Without NATS, live messages reach this process's subscribers only; with it,
            // every message service's subscribers, whichever one committed them.
            let bus: dchat_message::MessageBus = match &nats {
                Some(nats) => Arc::new(dchat_bus::NatsBus::new(nats, dchat_message::MessageCodec)),
                None => Arc::new(MessageService::local_bus()),
            };
            let service = MessageService::new(&config.message_config(), log, appender, bus, rooms_client()?);
            let grpc = MessageGrpc::new(service.clone(), stopping.clone()).into_server();
            health
                .set_serving::<dchat_proto::message::v1::message_service_server::MessageServiceServer<MessageGrpc>>()
                .await;
            routes = routes.add_service(grpc);
            message = Some(service);
        }
        if matches!(role, Role::All | Role::Presence) {
            let mut service = PresenceService::new(&config.presence_config(), Arc::new(PresenceService::local_bus()));
            if let Some(nats) = &nats {
                // Every replica applies what every other receives: each knows every session.
                service = service.with_peers(Arc::new(dchat_bus::NatsBus::new(nats, dchat_presence::PeerCodec)));
                workers.spawn(service.clone().run_peers(stopping.clone()));
            }
            workers.spawn(service.clone().run_sweeper(stopping.clone()));
            let grpc = PresenceGrpc::new(service, stopping.clone()).into_server();
            health
                .set_serving::<dchat_proto::presence::v1::presence_service_server::PresenceServiceServer<PresenceGrpc>>(
                )
                .await;
            routes = routes.add_service(grpc);
        }
        Ok((routes.prepare(), message))
    }

    /// The address the gRPC services listen on, if this role has any.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The address HTTP is served on, if this role serves HTTP.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, ends open streams, lets
    /// in-flight calls finish, commits every queued append and closes the databases.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            stopping.cancel();
        });
        let grpc = self.grpc.map(|(listener, routes)| {
            let stopping = self.stopping.clone();
            let require_token = RequireInternalToken::new(self.internal_token.clone());
            tokio::spawn(async move {
                // Small gRPC frames must not wait for Nagle's algorithm (a 40 ms stall against
                // delayed ACKs); `tcp_nodelay` on the builder only covers listeners tonic binds.
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                Server::builder()
                    .layer(require_token)
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, stopping.cancelled_owned())
                    .await
                    .context("serve gRPC")
            })
        });
        let http = self.http.map(|(listener, router)| {
            let stopping = self.stopping.clone();
            let serve_config = self.serve.clone();
            tokio::spawn(async move {
                dchat_websocket::serve(listener, router, stopping, serve_config).await.context("serve HTTP")
            })
        });
        let mut result = Ok(());
        let mut running: Vec<_> = [grpc, http].into_iter().flatten().collect();
        while !running.is_empty() {
            // Whichever server ends first (a failure, or the shutdown) ends the others too.
            let (outcome, _, rest) = futures::future::select_all(running).await;
            running = rest;
            self.stopping.cancel();
            if let Err(err) = outcome.context("join a server task").and_then(|served| served) {
                tracing::error!(error = %format!("{err:#}"), "server failed");
                result = Err(err);
            }
        }
        if let Some(message) = &self.message {
            message.shutdown().await;
        }
        self.workers.wait().await;
        tracing::info!("dchat stopped");
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_port_off_loopback_needs_a_token_or_the_operators_word() {
        let open: SocketAddr = "0.0.0.0:50052".parse().unwrap();
        let token = InternalToken::parse("0123456789abcdef").unwrap();
        assert!(check_internal_bind(open, None, false).is_err());
        assert!(check_internal_bind(open, Some(&token), false).is_ok());
        assert!(check_internal_bind(open, None, true).is_ok());
        assert!(check_internal_bind("[::1]:50052".parse().unwrap(), None, false).is_ok());
        assert!(check_internal_bind("127.0.0.2:50052".parse().unwrap(), None, false).is_ok());
    }
}
