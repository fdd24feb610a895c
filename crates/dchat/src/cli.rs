//! The command line. Every option can also come from an environment variable (the seed's
//! names where the seed had one) or the TOML file given by `--config`; flags win over the
//! environment, which wins over the file, which wins over the defaults.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use dchat_storage::Durability;

use crate::{Config, Role};

/// dchat: a distributed real-time chat server.
///
/// `dchat serve` runs everything in one process with SQLite files in ./data. The other
/// subcommands run one service each, on the seed's ports, for the split topology.
#[derive(Debug, Parser)]
#[command(name = "dchat", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// TOML configuration file (optional; see README for its keys).
    #[arg(long, global = true, env = "DCHAT_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log filter, as in RUST_LOG [default: info].
    #[arg(long, global = true, env = "DCHAT_LOG")]
    pub log: Option<String>,

    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in this process (the all-in-one server).
    Serve {
        /// Where the gRPC services listen, all on one port [default: 127.0.0.1:50050].
        #[arg(long, env = "DCHAT_GRPC_BIND")]
        grpc_bind: Option<SocketAddr>,
        /// Where HTTP (API, WebSocket, web app) is served [default: 127.0.0.1:8080].
        #[arg(long, env = "DCHAT_HTTP_BIND")]
        http_bind: Option<SocketAddr>,
    },
    /// Run only the auth service [listens on AUTH_BIND, default 127.0.0.1:50051].
    Auth(RoleArgs),
    /// Run only the room service [listens on ROOM_BIND, default 127.0.0.1:50052].
    Room(RoleArgs),
    /// Run only the presence service [listens on PRESENCE_BIND, default 127.0.0.1:50053].
    Presence(RoleArgs),
    /// Run only the message service [listens on MESSAGE_BIND, default 127.0.0.1:50054].
    Message(RoleArgs),
    /// Run only the gateway: the HTTP API [listens on GATEWAY_BIND, default 127.0.0.1:50055].
    Gateway(RoleArgs),
    /// Run only the ui: the web app, forwarding the rest to GATEWAY_ADDR [listens on UI_BIND, default 127.0.0.1:8080].
    Ui(RoleArgs),
}

#[derive(Debug, Args)]
pub struct RoleArgs {
    /// Address to listen on (overrides the role's *_BIND variable).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
}

/// Options shared by every role; each role reads the ones it needs.
#[derive(Debug, Args)]
pub struct Options {
    /// Folder for SQLite files whose paths are not set one by one [default: ./data].
    #[arg(long, global = true, env = "DCHAT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// SQLite commit durability: full (acknowledged once on disk) or normal [default: full].
    #[arg(long, global = true, env = "DCHAT_DURABILITY")]
    pub durability: Option<Durability>,

    /// A PostgreSQL database (postgres://...) for the auth, room and message services, each
    /// in its own schema (auth, room, message) [default: SQLite files in the data folder].
    #[arg(long, global = true, env = "DCHAT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// A NATS server (nats://host:port) carrying new messages between processes, so that
    /// several message services may share the PostgreSQL database [default: none].
    #[arg(long, global = true, env = "DCHAT_NATS_URL")]
    pub nats_url: Option<String>,

    /// What this deployment's NATS subjects start with; deployments sharing one NATS server
    /// must each have their own [default: dchat].
    #[arg(long, global = true, env = "DCHAT_NATS_PREFIX")]
    pub nats_prefix: Option<String>,

    /// Shared secret every role sends to, and every service requires on, the internal gRPC
    /// ports (at least 16 characters) [default: none, which allows only loopback binds].
    #[arg(long, global = true, env = "DCHAT_INTERNAL_TOKEN", hide_env_values = true)]
    pub internal_token: Option<String>,
    /// Serve internal gRPC ports on non-loopback addresses without DCHAT_INTERNAL_TOKEN:
    /// only where nothing but dchat's own roles can reach them.
    #[arg(long, global = true, env = "DCHAT_INSECURE_INTERNAL")]
    pub insecure_internal: bool,

    /// Where the auth service is reached [default: 127.0.0.1:50051].
    #[arg(long, global = true, env = "AUTH_ADDR")]
    pub auth_addr: Option<String>,
    /// Where the room service is reached [default: 127.0.0.1:50052].
    #[arg(long, global = true, env = "ROOM_ADDR")]
    pub room_addr: Option<String>,
    /// Where the presence service is reached [default: 127.0.0.1:50053].
    #[arg(long, global = true, env = "PRESENCE_ADDR")]
    pub presence_addr: Option<String>,
    /// Where the message service is reached [default: 127.0.0.1:50054].
    #[arg(long, global = true, env = "MESSAGE_ADDR")]
    pub message_addr: Option<String>,

    /// Where the gateway is reached [default: 127.0.0.1:50055].
    #[arg(long, global = true, env = "GATEWAY_ADDR")]
    pub gateway_addr: Option<String>,
    /// Where `dchat gateway` listens [default: 127.0.0.1:50055].
    #[arg(long, global = true, env = "GATEWAY_BIND")]
    pub gateway_bind: Option<SocketAddr>,
    /// Abuse limits on logins, registrations and messages: on or off (for load tests) [default: on].
    #[arg(long, global = true, env = "DCHAT_RATE_LIMIT", value_parser = parse_switch)]
    pub rate_limit: Option<bool>,
    /// Where `dchat ui` listens [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "UI_BIND")]
    pub ui_bind: Option<SocketAddr>,
    /// Comma-separated addresses whose X-Forwarded-For the gateway believes (the ui's) [default: 127.0.0.1,::1].
    #[arg(long, global = true, env = "DCHAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Comma-separated origins, besides the server's own, whose pages may open WebSockets [default: none].
    #[arg(long, global = true, env = "DCHAT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Connections an HTTP port holds at once; at the cap the one that waited longest for
    /// its client is closed to make room [default: the file descriptor limit less 512].
    #[arg(long, global = true, env = "DCHAT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections one address (other than a trusted proxy) may hold at once [default: 512].
    #[arg(long, global = true, env = "DCHAT_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Bearer token /metrics requires [default: none, and /metrics answers this machine only].
    #[arg(long, global = true, env = "DCHAT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Secret that marks browsers as known devices (their logins skip the per-account limit
    /// on failed logins); the same on every gateway [default: one per process].
    #[arg(long, global = true, env = "DCHAT_DEVICE_KEY", hide_env_values = true)]
    pub device_key: Option<String>,
    /// Serve the web app from this folder (e.g. crates/dchat-gateway/web), read on every
    /// request, instead of the files built in: edit, reload, see [default: built in].
    #[arg(long, global = true, env = "DCHAT_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Seconds a client has to send a request's body after its head (then 408) [default: 30].
    #[arg(long, global = true, env = "DCHAT_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Mark the session cookie Secure, when served behind HTTPS [default: false].
    #[arg(long, global = true, env = "DCHAT_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,

    /// Where `dchat auth` listens [default: 127.0.0.1:50051].
    #[arg(long, global = true, env = "AUTH_BIND")]
    pub auth_bind: Option<SocketAddr>,
    /// Where `dchat room` listens [default: 127.0.0.1:50052].
    #[arg(long, global = true, env = "ROOM_BIND")]
    pub room_bind: Option<SocketAddr>,
    /// Where `dchat presence` listens [default: 127.0.0.1:50053].
    #[arg(long, global = true, env = "PRESENCE_BIND")]
    pub presence_bind: Option<SocketAddr>,
    /// Where `dchat message` listens [default: 127.0.0.1:50054].
    #[arg(long, global = true, env = "MESSAGE_BIND")]
    pub message_bind: Option<SocketAddr>,

    /// SQLite file of the auth service [default: <data-dir>/auth.db].
    #[arg(long, global = true, env = "AUTH_DB")]
    pub auth_db: Option<PathBuf>,
    /// SQLite file of the room service [default: <data-dir>/room.db].
    #[arg(long, global = true, env = "ROOM_DB")]
    pub room_db: Option<PathBuf>,
    /// SQLite file of the message service [default: <data-dir>/message.db].
    #[arg(long, global = true, env = "MESSAGE_DB")]
    pub message_db: Option<PathBuf>,
    /// Accepted for compatibility with the seed; presence is kept in memory by design.
    #[arg(long, global = true, env = "PRESENCE_DB")]
    pub presence_db: Option<PathBuf>,

    /// The seed's token lifetime in seconds: when set, caps both session times [default: unset].
    #[arg(long, global = true, env = "TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// A session ends after this many seconds without use, an open WebSocket's frames
    /// included [default: 2592000, 30 days].
    #[arg(long, global = true, env = "DCHAT_SESSION_IDLE_SECS")]
    pub session_idle_secs: Option<u64>,
    /// A session ends this many seconds after sign-in, used or not [default: 7776000, 90 days].
    #[arg(long, global = true, env = "DCHAT_SESSION_MAX_SECS")]
    pub session_max_secs: Option<u64>,
    /// Shortest password accepted at registration [default: 8].
    #[arg(long, global = true, env = "DCHAT_PASSWORD_MIN_CHARS")]
    pub password_min_chars: Option<usize>,
    /// Seconds a user stays online after their last heartbeat [default: 20].
    #[arg(long, global = true, env = "PRESENCE_TTL_SECS")]
    pub presence_ttl_secs: Option<u64>,
    /// Longest message text, in characters [default: 4000].
    #[arg(long, global = true, env = "DCHAT_MAX_MESSAGE_CHARS")]
    pub max_message_chars: Option<usize>,
}

impl Cli {
    /// The configuration this command line describes, and the role to run.
    pub fn into_config(self) -> anyhow::Result<(Config, Role)> {
        let mut config = Config::load(self.config.as_deref())?;
        self.options.apply(&mut config);
        let (role, bind) = match self.command {
            Command::Serve { grpc_bind, http_bind } => {
                config.http_bind = http_bind.unwrap_or(config.http_bind);
                (Role::All, grpc_bind)
            }
            Command::Auth(args) => (Role::Auth, args.bind),
            Command::Room(args) => (Role::Room, args.bind),
            Command::Presence(args) => (Role::Presence, args.bind),
            Command::Message(args) => (Role::Message, args.bind),
            Command::Gateway(args) => (Role::Gateway, args.bind),
            Command::Ui(args) => (Role::Ui, args.bind),
        };
        if let Some(bind) = bind {
            *config.bind_mut(role) = bind;
        }
        Ok((config, role))
    }
}

impl Options {
    fn apply(self, config: &mut Config) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        set(&mut config.data_dir, self.data_dir);
        set(&mut config.durability, self.durability);
        if self.database_url.is_some() {
            config.database_url = self.database_url;
        }
        if self.nats_url.is_some() {
            config.nats_url = self.nats_url;
        }
        set(&mut config.nats_prefix, self.nats_prefix);
        if self.internal_token.is_some() {
            config.internal_token = self.internal_token;
        }
        config.insecure_internal |= self.insecure_internal;
        set(&mut config.auth.addr, self.auth_addr);
        set(&mut config.room.addr, self.room_addr);
        set(&mut config.presence.addr, self.presence_addr);
        set(&mut config.message.addr, self.message_addr);
        set(&mut config.gateway.addr, self.gateway_addr);
        set(&mut config.gateway.bind, self.gateway_bind);
        set(&mut config.gateway.secure_cookies, self.secure_cookies);
        if self.max_connections.is_some() {
            config.gateway.max_connections = self.max_connections;
        }
        set(&mut config.gateway.max_connections_per_address, self.max_connections_per_address);
        set(&mut config.gateway.body_timeout_secs, self.body_timeout_secs);
        if self.metrics_token.is_some() {
            config.gateway.metrics_token = self.metrics_token;
        }
        if self.device_key.is_some() {
            config.gateway.device_key = self.device_key;
        }
        if self.web_dir.is_some() {
            config.gateway.web_dir = self.web_dir;
        }
        set(&mut config.gateway.rate_limit, self.rate_limit);
        set(&mut config.ui.bind, self.ui_bind);
        set(&mut config.gateway.trusted_proxies, self.trusted_proxies);
        set(&mut config.gateway.allowed_origins, self.allowed_origins);
        set(&mut config.auth.bind, self.auth_bind);
        set(&mut config.room.bind, self.room_bind);
        set(&mut config.presence.bind, self.presence_bind);
        set(&mut config.message.bind, self.message_bind);
        if self.auth_db.is_some() {
            config.auth.db = self.auth_db;
        }
        if self.room_db.is_some() {
            config.room.db = self.room_db;
        }
        if self.message_db.is_some() {
            config.message.db = self.message_db;
        }
        if self.token_ttl_secs.is_some() {
            config.auth.token_ttl_secs = self.token_ttl_secs;
        }
        set(&mut config.auth.session_idle_secs, self.session_idle_secs);
        set(&mut config.auth.session_max_secs, self.session_max_secs);
        set(&mut config.auth.password_min_chars, self.password_min_chars);
        set(&mut config.presence.ttl_secs, self.presence_ttl_secs);
        set(&mut config.message.max_text_chars, self.max_message_chars);
    }
}

/// `on`/`off` (also `true`/`false`, `1`/`0`), for switches set from the environment.
fn parse_switch(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        other => Err(format!("expected on or off, got {other:?}")),
    }
}
