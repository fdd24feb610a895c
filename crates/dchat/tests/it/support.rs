//! `spawn_app()`: the all-in-one server on port 0 with fresh SQLite files, and typed
//! helpers for what most tests do (register a user, make a room, append).

use std::{net::SocketAddr, path::Path};

use dchat::{App, Config, Role};
use dchat_proto::{
    auth::v1::{RegisterRequest, auth_service_client::AuthServiceClient},
    message::v1::{AppendReq, ListReq, Msg, message_service_client::MessageServiceClient},
    presence::v1::presence_service_client::PresenceServiceClient,
    room::v1::{CreateRoomReq, room_service_client::RoomServiceClient},
};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub(crate) struct TestApp {
    /// One connection to the server, shared by the typed clients below.
    pub(crate) channel: Channel,
    pub(crate) auth: AuthServiceClient<Channel>,
    pub(crate) rooms: RoomServiceClient<Channel>,
    pub(crate) messages: MessageServiceClient<Channel>,
    pub(crate) presence: PresenceServiceClient<Channel>,
    /// Base URL of the HTTP API, e.g. `http://127.0.0.1:41234` (the ui in the split topology).
    pub(crate) http: String,
    /// Base URL of the gateway itself (gRPC gateway.v1 is served there, not by the ui).
    pub(crate) gateway_http: String,
    /// The configuration with every service's real address filled in.
    pub(crate) services: Config,
    shutdown: CancellationToken,
    servers: std::sync::Mutex<Vec<JoinHandle<anyhow::Result<()>>>>,
    /// The PostgreSQL database of a test on PostgreSQL, dropped with the app.
    pub(crate) _database: Option<dchat_storage::testing::TestDatabase>,
}

/// How the server under test is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topology {
    /// `dchat serve`: every service and the gateway in one app.
    AllInOne,
    /// One app per role (auth, room, message, presence, gateway, ui), each on its own
    /// ports, talking over loopback sockets as separate processes would. Tests reach the
    /// ui, which forwards to the gateway.
    Split,
    /// The split topology with the auth, room and message services on PostgreSQL (a
    /// database of the test's own, in the server `DCHAT_TEST_DATABASE_URL` names).
    SplitOnPostgres,
}

/// Whether the PostgreSQL variant of `test` can run; says loudly when it cannot (and
/// fails under CI, which must run it).
#[allow(clippy::print_stderr)] // A skipped test must be visible in the test output.
pub(crate) fn postgres_configured(test: &str) -> bool {
    let configured = std::env::var_os(dchat_storage::testing::DATABASE_URL_VAR).is_some();
    if !configured {
        assert!(std::env::var_os("CI").is_none(), "CI must set {}", dchat_storage::testing::DATABASE_URL_VAR);
        eprintln!(
            "SKIPPED {test} on PostgreSQL: set {} (for example postgres://postgres@127.0.0.1:5432/postgres)",
            dchat_storage::testing::DATABASE_URL_VAR
        );
    }
    configured
}

/// The NATS server tests may use (`DCHAT_TEST_NATS_URL`); says loudly when there is none
/// (and fails under CI, which must run those tests).
#[allow(clippy::print_stderr)] // A skipped test must be visible in the test output.
pub(crate) fn nats_url(test: &str) -> Option<String> {
    let url = std::env::var("DCHAT_TEST_NATS_URL").ok();
    if url.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must set DCHAT_TEST_NATS_URL");
        eprintln!("SKIPPED {test}: set DCHAT_TEST_NATS_URL (for example nats://127.0.0.1:4222)");
    }
    url
}

/// Generates, for each named `async fn(Topology)`, a module with one test per topology:
/// all in one, split, and split on PostgreSQL.
macro_rules! in_both_topologies {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn all_in_one() {
                    super::$name(crate::support::Topology::AllInOne).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn split() {
                    super::$name(crate::support::Topology::Split).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn split_on_postgres() {
                    if crate::support::postgres_configured(concat!(stringify!($name), "::split_on_postgres")) {
                        super::$name(crate::support::Topology::SplitOnPostgres).await
                    }
                }
            }
        )*
    };
}
pub(crate) use in_both_topologies;

/// A fresh deployment of `topology` with its data in a new temporary folder.
pub(crate) async fn spawn(topology: Topology) -> (TestApp, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(topology, test_config(dir.path())).await;
    (app, dir)
}

/// A deployment of `topology` from `config` (whose binds the split topology overrides).
pub(crate) async fn spawn_with(topology: Topology, mut config: Config) -> TestApp {
    match topology {
        Topology::AllInOne => spawn_app_with(config).await,
        Topology::Split => spawn_split(config).await,
        Topology::SplitOnPostgres => {
            let database = dchat_storage::testing::TestDatabase::create("a split deployment")
                .await
                .expect("DCHAT_TEST_DATABASE_URL is set for a test on PostgreSQL");
            config.database_url = Some(database.url.clone());
            TestApp { _database: Some(database), ..spawn_split(config).await }
        }
    }
}

/// Every role as its own app on its own loopback ports; the services are found by address.
async fn spawn_split(mut config: Config) -> TestApp {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    for bind in [
        &mut config.room.bind,
        &mut config.auth.bind,
        &mut config.message.bind,
        &mut config.presence.bind,
        &mut config.gateway.bind,
    ] {
        *bind = any;
    }
    let shutdown = CancellationToken::new();
    let mut servers = Vec::new();
    // The room service first: the auth and message services find it by address.
    for role in [Role::Room, Role::Auth, Role::Message, Role::Presence] {
        let app = App::build(config.clone(), role).await.expect("build a service role");
        let addr = app.grpc_addr().expect("a gRPC listener").to_string();
        match role {
            Role::Room => config.room.addr = addr,
            Role::Auth => config.auth.addr = addr,
            Role::Message => config.message.addr = addr,
            _ => config.presence.addr = addr,
        }
        servers.push(tokio::spawn(app.run_until_stopped(shutdown.clone())));
    }
    let gateway = App::build(config.clone(), Role::Gateway).await.expect("build the gateway role");
    config.gateway.addr = gateway.http_addr().expect("an HTTP listener").to_string();
    servers.push(tokio::spawn(gateway.run_until_stopped(shutdown.clone())));
    let mut ui_config = config.clone();
    ui_config.ui.bind = any;
    let ui = App::build(ui_config, Role::Ui).await.expect("build the ui role");
    let http = format!("http://{}", ui.http_addr().expect("an HTTP listener"));
    servers.push(tokio::spawn(ui.run_until_stopped(shutdown.clone())));
    let channel_to = |addr: &str| Channel::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
    let auth = channel_to(&config.auth.addr);
    TestApp {
        auth: AuthServiceClient::new(auth.clone()),
        rooms: RoomServiceClient::new(channel_to(&config.room.addr)),
        messages: MessageServiceClient::new(channel_to(&config.message.addr)),
        presence: PresenceServiceClient::new(channel_to(&config.presence.addr)),
        channel: auth,
        gateway_http: format!("http://{}", config.gateway.addr),
        http,
        services: config,
        shutdown,
        servers: std::sync::Mutex::new(servers),
        _database: None,
    }
}

/// A registered user: their id and a live token.
#[derive(Debug, Clone)]
pub(crate) struct TestUser {
    pub(crate) user_id: String,
    pub(crate) token: String,
}

/// A fresh all-in-one server with its data in a new temporary folder.
pub(crate) async fn spawn_app() -> (TestApp, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(test_config(dir.path())).await;
    (app, dir)
}

/// The configuration tests start from: data in `dir`, gRPC on a free port.
pub(crate) fn test_config(dir: &Path) -> Config {
    let mut config = Config::with_data_dir(dir);
    config.grpc_bind = "127.0.0.1:0".parse().unwrap();
    config.http_bind = "127.0.0.1:0".parse().unwrap();
    // Most tests send faster than a person; the limits have tests of their own.
    config.gateway.rate_limit = false;
    config
}

/// Builds (binding the port) and then spawns the server: no waiting for readiness needed.
pub(crate) async fn spawn_app_with(mut config: Config) -> TestApp {
    let app = App::build(config.clone(), Role::All).await.expect("build the app");
    let addr = app.grpc_addr().expect("a gRPC listener");
    let http = format!("http://{}", app.http_addr().expect("an HTTP listener"));
    let shutdown = CancellationToken::new();
    let servers = vec![tokio::spawn(app.run_until_stopped(shutdown.clone()))];
    for service_addr in
        [&mut config.auth.addr, &mut config.room.addr, &mut config.message.addr, &mut config.presence.addr]
    {
        *service_addr = addr.to_string();
    }
    let channel = connect(addr).await;
    TestApp {
        auth: AuthServiceClient::new(channel.clone()),
        rooms: RoomServiceClient::new(channel.clone()),
        messages: MessageServiceClient::new(channel.clone()),
        presence: PresenceServiceClient::new(channel.clone()),
        channel,
        gateway_http: http.clone(),
        http,
        services: config,
        shutdown,
        servers: std::sync::Mutex::new(servers),
        _database: None,
    }
}

pub(crate) async fn connect(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.expect("connect to the test server")
}

impl TestApp {
    /// Stops the server the way SIGTERM does and waits until it has closed its databases.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        for server in self.servers.into_inner().unwrap() {
            server.await.expect("server task").expect("server ran cleanly");
        }
    }

    /// Starts one more gateway in front of the same services; returns its base URL.
    pub(crate) async fn spawn_gateway(&self) -> String {
        let mut config = self.services.clone();
        config.gateway.bind = "127.0.0.1:0".parse().unwrap();
        let gateway = App::build(config, Role::Gateway).await.expect("build a gateway");
        let http = format!("http://{}", gateway.http_addr().expect("an HTTP listener"));
        self.servers.lock().unwrap().push(tokio::spawn(gateway.run_until_stopped(self.shutdown.clone())));
        http
    }

    /// Registers `name` (as username and `name@example.com`) with a valid password.
    pub(crate) async fn register(&self, name: &str) -> TestUser {
        let response = self
            .auth
            .clone()
            .register(RegisterRequest {
                client: None,
                email: format!("{name}@example.com"),
                password: "correct horse".to_owned(),
                display_name: format!("{name} display"),
                username: name.to_owned(),
            })
            .await
            .expect("register")
            .into_inner();
        let user = response.user.expect("register returns the user");
        TestUser { user_id: user.user_id, token: response.access_token }
    }

    /// Creates `room_id` with `creator` as its first member.
    pub(crate) async fn create_room(&self, room_id: &str, creator: &TestUser) {
        self.rooms
            .clone()
            .create_room(CreateRoomReq {
                room_id: room_id.to_owned(),
                name: format!("Room {room_id}"),
                creator_user_id: creator.user_id.clone(),
            })
            .await
            .expect("create room");
    }

    pub(crate) async fn append(
        &self,
        room_id: &str,
        user: &TestUser,
        text: &str,
        key: &str,
    ) -> Result<i64, tonic::Status> {
        let request = AppendReq {
            room_id: room_id.to_owned(),
            user_id: user.user_id.clone(),
            text: text.to_owned(),
            idempotency_key: key.to_owned(),
        };
        Ok(self.messages.clone().append(request).await?.into_inner().offset)
    }

    /// History from `from_offset` (or, with `before` > 0, before it).
    pub(crate) async fn list(
        &self,
        room_id: &str,
        user: &TestUser,
        from_offset: i64,
        before: i64,
        limit: i32,
    ) -> Result<Vec<Msg>, tonic::Status> {
        let request =
            ListReq { room_id: room_id.to_owned(), from_offset, limit, before, user_id: user.user_id.clone() };
        let mut stream = self.messages.clone().list(request).await?.into_inner();
        let mut messages = Vec::new();
        while let Some(message) = stream.message().await? {
            messages.push(message);
        }
        Ok(messages)
    }

    /// Every message of a room, paging through history 500 at a time.
    pub(crate) async fn all_messages(&self, room_id: &str, user: &TestUser) -> Vec<Msg> {
        let mut all = Vec::new();
        loop {
            let from = all.last().map_or(1, |last: &Msg| last.offset + 1);
            let page = self.list(room_id, user, from, 0, 500).await.expect("list");
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }
}

/// Asserts that `result` failed with `code`, naming `what` on failure.
#[track_caller]
pub(crate) fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: tonic::Code, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected {code:?}, got Ok({value:?})"),
        Err(status) => assert_eq!(status.code(), code, "{what}: {status:?}"),
    }
}
