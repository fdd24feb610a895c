//! Configuration: built-in defaults, then an optional TOML file, then environment
//! variables and flags (which clap reads; see [`crate::cli`]). The only place that decides
//! where data lives and where services listen.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use dchat_storage::Durability;
use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// Everything a dchat process may need; each role reads its own sections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder of the SQLite files whose paths are not set one by one (default `./data`).
    pub data_dir: PathBuf,
    /// Where `dchat serve` listens for gRPC: every service on one port (default 127.0.0.1:50050).
    pub grpc_bind: SocketAddr,
    /// Where `dchat serve` serves HTTP: the API, WebSocket and web app (default 127.0.0.1:8080).
    pub http_bind: SocketAddr,
    /// SQLite commit durability: `full` (default: acknowledged only once on disk) or `normal`.
    pub durability: Durability,
    /// A PostgreSQL database (`DCHAT_DATABASE_URL`, `postgres://...`) in which the auth, room
    /// and message services keep their data instead of SQLite, each in its own schema
    /// (default none: SQLite files).
    pub database_url: Option<String>,
    /// A NATS server (`DCHAT_NATS_URL`, `nats://host:port`) that carries new messages
    /// between processes, so that several message services may share one PostgreSQL
    /// database (default none: each process hears only its own).
    pub nats_url: Option<String>,
    /// What every NATS subject of this deployment starts with (`DCHAT_NATS_PREFIX`, default
    /// `dchat`): deployments sharing one NATS server must each have their own.
    pub nats_prefix: String,
    /// Shared secret of the internal gRPC ports (`DCHAT_INTERNAL_TOKEN`): every role sends
    /// it, every service requires it. Without it an internal port binds only to loopback.
    pub internal_token: Option<String>,
    /// Serve internal gRPC ports on other addresses without a token (`--insecure-internal`):
    /// for networks where nothing but dchat's roles can reach them (default false).
    pub insecure_internal: bool,
    pub auth: AuthSection,
    pub room: RoomSection,
    pub message: MessageSection,
    pub presence: PresenceSection,
    pub gateway: GatewaySection,
    pub ui: UiSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySection {
    /// Where the ui role reaches the gateway (`GATEWAY_ADDR`, default 127.0.0.1:50055).
    pub addr: String,
    /// Where `dchat gateway` listens (`GATEWAY_BIND`, default 127.0.0.1:50055).
    pub bind: SocketAddr,
    /// Mark the session cookie `Secure`, for deployments behind HTTPS (default false).
    pub secure_cookies: bool,
    /// Origins, besides the server's own, whose pages may open WebSockets (default none).
    pub allowed_origins: Vec<String>,
    /// Frames queued for one WebSocket before it is closed as lagging (default 4096).
    pub ws_queue_frames: usize,
    /// Messages a room's live feed keeps for subscribers that fall behind it; one further
    /// behind reads the hole from history (default 4096).
    pub ws_feed_frames: usize,
    /// Rooms one WebSocket may be subscribed to at once; one more gets an error frame
    /// (`too_many_subscriptions`, default 500).
    pub ws_max_subscriptions: usize,
    /// Live subscriptions one user may hold through a gateway over all their connections,
    /// WebSocket subscriptions and `gateway.v1` live streams alike; one more is refused
    /// (`too_many_subscriptions`, RESOURCE_EXHAUSTED; default 2000).
    pub ws_max_subscriptions_per_user: usize,
    /// Seconds between pings to every WebSocket; one that has sent nothing, not even the
    /// pong, by the next ping is closed with 4002. Keeps idle connections open through
    /// proxies that close quiet ones, and ends those whose client is gone (default 30; 0:
    /// never).
    pub ws_ping_secs: u64,
    /// Abuse limits on logins, registrations and messages (`DCHAT_RATE_LIMIT`, default on).
    pub rate_limit: bool,
    /// Peers whose `X-Forwarded-For` is believed, i.e. the ui role's addresses
    /// (`DCHAT_TRUSTED_PROXIES`, default the loopback addresses). They front many clients,
    /// so the per-address connection cap does not apply to them.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Connections an HTTP port holds at once, WebSockets included; at the cap the one that
    /// has waited longest for its client is closed to make room (`DCHAT_MAX_CONNECTIONS`,
    /// default the process's file descriptor limit less 512).
    pub max_connections: Option<usize>,
    /// Connections one address may hold at once (`DCHAT_MAX_CONNECTIONS_PER_ADDRESS`,
    /// default 512). Trusted proxies and loopback addresses are held by the total only.
    pub max_connections_per_address: usize,
    /// Bearer token `/metrics` requires (`DCHAT_METRICS_TOKEN`); without one, `/metrics`
    /// answers clients on this machine only.
    pub metrics_token: Option<String>,
    /// Secret that marks browsers as known devices of an account, whose logins skip the
    /// per-account limit on failed logins; the same for every gateway of a deployment
    /// (`DCHAT_DEVICE_KEY`, default: one drawn per process, forgotten at restart).
    pub device_key: Option<String>,
    /// Serve the web app from this folder, read on every request, instead of the files
    /// built into the binary: for working on the web app (`DCHAT_WEB_DIR`, default none).
    pub web_dir: Option<PathBuf>,
    /// Seconds a client has to send a request's body once its head has arrived; a JSON
    /// route answers 408 after that (`DCHAT_BODY_TIMEOUT_SECS`, default 30).
    pub body_timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSection {
    /// Where `dchat ui` serves the web app and forwards to the gateway (`UI_BIND`,
    /// default 127.0.0.1:8080).
    pub bind: SocketAddr,
}

impl Default for UiSection {
    fn default() -> Self {
        Self { bind: loopback(8080) }
    }
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:50055".to_owned(),
            bind: loopback(50055),
            secure_cookies: false,
            allowed_origins: Vec::new(),
            ws_queue_frames: 4096,
            ws_feed_frames: 4096,
            ws_ping_secs: 30,
            ws_max_subscriptions: 500,
            ws_max_subscriptions_per_user: 2000,
            rate_limit: true,
            trusted_proxies: vec![
                std::net::IpAddr::from([127, 0, 0, 1]),
                std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
            max_connections: None,
            max_connections_per_address: 512,
            body_timeout_secs: dchat_websocket::BODY_TIMEOUT.as_secs(),
            device_key: None,
            metrics_token: None,
            web_dir: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Where the others reach the auth service (`AUTH_ADDR`, default 127.0.0.1:50051).
    pub addr: String,
    /// Where `dchat auth` listens (`AUTH_BIND`, default 127.0.0.1:50051).
    pub bind: SocketAddr,
    /// Its SQLite file (`AUTH_DB`, default `<data_dir>/auth.db`).
    pub db: Option<PathBuf>,
    /// The seed's token lifetime in seconds (`TOKEN_TTL_SECS`): when set, it caps both
    /// session times below, as the seed's fixed token lifetime did (default unset).
    pub token_ttl_secs: Option<u64>,
    /// A session ends after this many seconds without use (`DCHAT_SESSION_IDLE_SECS`,
    /// default 30 days). Use includes an open WebSocket's frames.
    pub session_idle_secs: u64,
    /// A session ends this many seconds after sign-in, used or not
    /// (`DCHAT_SESSION_MAX_SECS`, default 90 days).
    pub session_max_secs: u64,
    /// Shortest password accepted at registration (default 8).
    pub password_min_chars: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomSection {
    /// `ROOM_ADDR`, default 127.0.0.1:50052.
    pub addr: String,
    /// `ROOM_BIND`, default 127.0.0.1:50052.
    pub bind: SocketAddr,
    /// `ROOM_DB`, default `<data_dir>/room.db`.
    pub db: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageSection {
    /// `MESSAGE_ADDR`, default 127.0.0.1:50054.
    pub addr: String,
    /// `MESSAGE_BIND`, default 127.0.0.1:50054.
    pub bind: SocketAddr,
    /// `MESSAGE_DB`, default `<data_dir>/message.db`.
    pub db: Option<PathBuf>,
    /// Longest message, in characters (default 4000).
    pub max_text_chars: usize,
    /// Appends waiting for the writer before RESOURCE_EXHAUSTED (default 16384).
    pub max_queued_appends: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceSection {
    /// `PRESENCE_ADDR`, default 127.0.0.1:50053.
    pub addr: String,
    /// `PRESENCE_BIND`, default 127.0.0.1:50053.
    pub bind: SocketAddr,
    /// Seconds a session stays online after its last heartbeat (`PRESENCE_TTL_SECS`, 20).
    pub ttl_secs: u64,
}

/// Descriptors kept back from HTTP connections, for databases, gRPC channels and logs.
const DESCRIPTOR_RESERVE: u64 = 512;

/// The default connection cap: the process's file descriptor limit, less the reserve.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given, which lives on this stack.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let descriptors = if known && limit.rlim_cur != libc::RLIM_INFINITY { limit.rlim_cur } else { 1024 };
    usize::try_from(descriptors.saturating_sub(DESCRIPTOR_RESERVE).max(64)).unwrap_or(usize::MAX)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            grpc_bind: loopback(50050),
            http_bind: loopback(8080),
            durability: Durability::Full,
            database_url: None,
            nats_url: None,
            nats_prefix: "dchat".to_owned(),
            internal_token: None,
            insecure_internal: false,
            auth: AuthSection::default(),
            room: RoomSection::default(),
            message: MessageSection::default(),
            presence: PresenceSection::default(),
            gateway: GatewaySection::default(),
            ui: UiSection::default(),
        }
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:50051".to_owned(),
            bind: loopback(50051),
            db: None,
            token_ttl_secs: None,
            session_idle_secs: 30 * 86_400,
            session_max_secs: 90 * 86_400,
            password_min_chars: 8,
        }
    }
}

impl Default for RoomSection {
    fn default() -> Self {
        Self { addr: "127.0.0.1:50052".to_owned(), bind: loopback(50052), db: None }
    }
}

impl Default for MessageSection {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:50054".to_owned(),
            bind: loopback(50054),
            db: None,
            max_text_chars: dchat_core::MessageText::DEFAULT_MAX_CHARS,
            max_queued_appends: 16_384,
        }
    }
}

impl Default for PresenceSection {
    fn default() -> Self {
        Self { addr: "127.0.0.1:50053".to_owned(), bind: loopback(50053), ttl_secs: 20 }
    }
}

impl Config {
    /// Defaults, overlaid with `file` when given.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.extract().map_err(Box::new)
    }

    /// The address `role` listens on first: the gRPC port of a service role (and of
    /// `serve`), the HTTP port of the gateway and ui roles. `serve`'s HTTP port is
    /// `http_bind`.
    pub fn bind_mut(&mut self, role: crate::Role) -> &mut SocketAddr {
        use crate::Role;
        match role {
            Role::All => &mut self.grpc_bind,
            Role::Auth => &mut self.auth.bind,
            Role::Room => &mut self.room.bind,
            Role::Message => &mut self.message.bind,
            Role::Presence => &mut self.presence.bind,
            Role::Gateway => &mut self.gateway.bind,
            Role::Ui => &mut self.ui.bind,
        }
    }

    /// Every service's files in `dir` (tests point this at a temporary folder).
    pub fn with_data_dir(dir: impl Into<PathBuf>) -> Self {
        Self { data_dir: dir.into(), ..Self::default() }
    }

    /// The session times in seconds, `TOKEN_TTL_SECS` capping both: (idle, max).
    fn session_secs(&self) -> (u64, u64) {
        let cap = self.auth.token_ttl_secs.unwrap_or(u64::MAX);
        (self.auth.session_idle_secs.min(cap), self.auth.session_max_secs.min(cap))
    }

    pub fn auth_config(&self) -> dchat_auth::AuthConfig {
        let (idle, max) = self.session_secs();
        dchat_auth::AuthConfig {
            session_idle: Duration::from_secs(idle),
            session_max: Duration::from_secs(max),
            password_min_chars: self.auth.password_min_chars,
            // The seed's load tests register with "secret" and "pass"; the setting that lets
            // their length through lets their commonness through too.
            refuse_common_passwords: self.auth.password_min_chars >= AuthSection::default().password_min_chars,
            // One switch for every abuse limit, wherever it is kept.
            limits: dchat_auth::AttemptLimits { enabled: self.gateway.rate_limit, ..Default::default() },
        }
    }

    /// The auth service's SQLite file (`AUTH_DB`, default `auth.db` in the data folder).
    pub fn auth_db_path(&self) -> PathBuf {
        self.auth.db.clone().unwrap_or_else(|| self.data_dir.join("auth.db"))
    }

    /// The message service's SQLite file (`MESSAGE_DB`, default `message.db` in the data
    /// folder).
    pub fn message_db_path(&self) -> PathBuf {
        self.message.db.clone().unwrap_or_else(|| self.data_dir.join("message.db"))
    }

    /// The room service's SQLite file (`ROOM_DB`, default `room.db` in the data folder).
    pub fn room_db_path(&self) -> PathBuf {
        self.room.db.clone().unwrap_or_else(|| self.data_dir.join("room.db"))
    }

    pub fn message_config(&self) -> dchat_message::MessageConfig {
        dchat_message::MessageConfig {
            max_text_chars: self.message.max_text_chars,
            max_queued_appends: self.message.max_queued_appends,
            // Replicas share the log only on PostgreSQL, and only with NATS between them.
            shared_log: self.database_url.is_some() && self.nats_url.is_some(),
        }
    }

    pub fn gateway_config(&self) -> dchat_gateway::GatewayConfig {
        dchat_gateway::GatewayConfig {
            // The cookie may outlive an idle session (which the server then refuses), never
            // the longest one.
            cookie_max_age_secs: self.session_secs().1,
            secure_cookies: self.gateway.secure_cookies,
            allowed_origins: self.gateway.allowed_origins.clone(),
            trusted_proxies: self.gateway.trusted_proxies.clone(),
            ws_queue_frames: self.gateway.ws_queue_frames,
            ws_feed_frames: self.gateway.ws_feed_frames,
            ws_max_subscriptions: self.gateway.ws_max_subscriptions.max(1),
            ws_max_subscriptions_per_user: self.gateway.ws_max_subscriptions_per_user.max(1),
            ws_ping: (self.gateway.ws_ping_secs > 0).then(|| Duration::from_secs(self.gateway.ws_ping_secs)),
            // A third of the TTL: two heartbeats may be lost before presence lapses.
            presence_heartbeat: Duration::from_secs(self.presence.ttl_secs.max(1)) / 3,
            limits: dchat_gateway::RateLimits { enabled: self.gateway.rate_limit, ..Default::default() },
            device_key: self
                .gateway
                .device_key
                .as_deref()
                .map_or_else(dchat_gateway::DeviceKey::random, dchat_gateway::DeviceKey::from_secret),
            metrics_token: self.gateway.metrics_token.clone(),
            metrics: crate::telemetry::metrics(),
            web_dir: self.gateway.web_dir.clone(),
        }
    }

    /// The HTTP server's limits, for the gateway and ui roles.
    pub fn serve_config(&self) -> dchat_websocket::ServeConfig {
        let limits = dchat_websocket::ConnectionLimits {
            max_connections: self.gateway.max_connections.unwrap_or_else(default_max_connections),
            max_per_address: self.gateway.max_connections_per_address,
            exempt: self.gateway.trusted_proxies.clone(),
            exempt_loopback: true,
        };
        let body_timeout = Duration::from_secs(self.gateway.body_timeout_secs.max(1));
        dchat_websocket::ServeConfig { limits, body_timeout, ..dchat_websocket::ServeConfig::default() }
    }

    pub fn presence_config(&self) -> dchat_presence::PresenceConfig {
        dchat_presence::PresenceConfig { ttl: Duration::from_secs(self.presence.ttl_secs.max(1)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_file_overrides_defaults_section_by_section() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dchat.toml");
        std::fs::write(&file, "data_dir = \"/srv/chat\"\ndurability = \"normal\"\n[message]\nmax_text_chars = 10\n")
            .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/chat"));
        assert_eq!(config.message.max_text_chars, 10);
        assert_eq!(config.durability, Durability::Normal);
        assert_eq!(config.message.addr, "127.0.0.1:50054");
        assert_eq!(config.message_db_path(), PathBuf::from("/srv/chat/message.db"));
    }

    #[test]
    fn unknown_keys_in_the_file_are_an_error_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dchat.toml");
        std::fs::write(&file, "[message]\nmax_txt_chars = 10\n").unwrap();
        assert!(Config::load(Some(&file)).is_err());
    }
}
