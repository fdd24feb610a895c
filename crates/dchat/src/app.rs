//! [`App`]: binds a listener, opens the services of one [`Role`], and serves them over
//! gRPC until told to stop.
//!
//! One code path for every topology: services reach each other only through gRPC clients.
//! In the all-in-one role every service sits on one tonic server and the clients point at
//! that server's own address, so the tests of `dchat serve` exercise the same calls as a
//! split deployment.

use std::net::SocketAddr;

use anyhow::Context;
use dchat_auth::{AuthGrpc, AuthService};
use dchat_message::{MessageGrpc, MessageService};
use dchat_presence::{PresenceGrpc, PresenceService};
use dchat_proto::room::v1::room_service_client::RoomServiceClient;
use dchat_room::{RoomGrpc, RoomService};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::transport::{Server, server::Router};

use crate::{Config, channels::lazy_channel};

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every service, on one gRPC port.
    All,
    Auth,
    Room,
    Message,
    Presence,
}

/// A built process: its listener is bound (so its address is known), its databases are
/// open, and nothing is served until [`App::run_until_stopped`].
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    grpc_addr: SocketAddr,
    router: Router,
    /// Shared with the gRPC adapters: cancelling it ends their open streams.
    stopping: CancellationToken,
    /// Set when this process runs the message service, which must drain on shutdown.
    message: Option<MessageService>,
    workers: TaskTracker,
}

impl App {
    /// Binds the role's listener and opens its services. Binding first lets a test ask for
    /// port 0 and learn the real port from [`App::grpc_addr`] before anything runs.
    pub async fn build(config: Config, role: Role) -> anyhow::Result<Self> {
        let bind = match role {
            Role::All => config.grpc_bind,
            Role::Auth => config.auth.bind,
            Role::Room => config.room.bind,
            Role::Message => config.message.bind,
            Role::Presence => config.presence.bind,
        };
        let listener = TcpListener::bind(bind).await.with_context(|| format!("bind {bind}"))?;
        let grpc_addr = listener.local_addr().context("read the bound address")?;
        // In one process, the room service is this very server.
        let room_addr = if role == Role::All { grpc_addr.to_string() } else { config.room.addr.clone() };
        let stopping = CancellationToken::new();
        let workers = TaskTracker::new();
        let (health, health_service) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(dchat_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("build the gRPC reflection service")?;
        let mut server = Server::builder().tcp_nodelay(true);
        let mut router = server.add_service(health_service).add_service(reflection);
        let mut message = None;

        if matches!(role, Role::All | Role::Room) {
            let service = RoomService::open(&config.room_config()).await?;
            let grpc = RoomGrpc::new(service, stopping.clone()).into_server();
            health.set_serving::<dchat_proto::room::v1::room_service_server::RoomServiceServer<RoomGrpc>>().await;
            router = router.add_service(grpc);
        }
        if matches!(role, Role::All | Role::Auth) {
            let rooms = RoomServiceClient::new(lazy_channel(&room_addr)?);
            let service = AuthService::open(&config.auth_config(), rooms).await?;
            let grpc = AuthGrpc::new(service).into_server();
            health.set_serving::<dchat_proto::auth::v1::auth_service_server::AuthServiceServer<AuthGrpc>>().await;
            router = router.add_service(grpc);
        }
        if matches!(role, Role::All | Role::Message) {
            let rooms = RoomServiceClient::new(lazy_channel(&room_addr)?);
            let service = MessageService::open(&config.message_config(), rooms).await?;
            let grpc = MessageGrpc::new(service.clone(), stopping.clone()).into_server();
            health
                .set_serving::<dchat_proto::message::v1::message_service_server::MessageServiceServer<MessageGrpc>>()
                .await;
            router = router.add_service(grpc);
            message = Some(service);
        }
        if matches!(role, Role::All | Role::Presence) {
            let service = PresenceService::new(&config.presence_config());
            workers.spawn(service.clone().run_sweeper(stopping.clone()));
            let grpc = PresenceGrpc::new(service, stopping.clone()).into_server();
            health
                .set_serving::<dchat_proto::presence::v1::presence_service_server::PresenceServiceServer<PresenceGrpc>>(
                )
                .await;
            router = router.add_service(grpc);
        }
        workers.close();
        tracing::info!(?role, %grpc_addr, "dchat is listening");
        Ok(Self { listener, grpc_addr, router, stopping, message, workers })
    }

    /// The address the gRPC server listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, ends open streams, lets
    /// in-flight calls finish, commits every queued append and closes the databases.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stopping = self.stopping.clone();
        let signal = async move {
            shutdown.cancelled().await;
            stopping.cancel();
        };
        let served = self
            .router
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), signal)
            .await
            .context("serve gRPC");
        // Whatever ended the server, stop the background work cleanly.
        self.stopping.cancel();
        if let Some(message) = &self.message {
            message.shutdown().await;
        }
        self.workers.wait().await;
        tracing::info!("dchat stopped");
        served
    }
}
