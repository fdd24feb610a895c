//! What every handler shares: clients of the four services, configuration, caches.

use std::{
    hash::{BuildHasher, RandomState},
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use dchat_proto::{
    Transport, auth::v1::auth_service_client::AuthServiceClient,
    message::v1::message_service_client::MessageServiceClient,
    presence::v1::presence_service_client::PresenceServiceClient, room::v1::room_service_client::RoomServiceClient,
};
use tokio_util::sync::CancellationToken;

use crate::{
    cache::{
        members::KnownMembers,
        profiles::{Profile, Profiles},
        verified::VerifiedTokens,
    },
    error::ApiError,
    limits::{Limiter, RateLimits, retry_after_secs},
    live::{
        RoomFeeds,
        connections::{Connections, UserSubscriptions},
        presence::PresenceSessions,
    },
    ops::RequestMetrics,
};

/// The gateway's section of the configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Lifetime of the session cookie, in seconds; matches the token lifetime.
    pub cookie_max_age_secs: u64,
    /// Mark the session cookie `Secure` (set when dchat is served over HTTPS).
    pub secure_cookies: bool,
    /// Origins, besides the server's own, whose pages may open WebSockets.
    pub allowed_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` is believed (the `ui` role's addresses).
    pub trusted_proxies: Vec<IpAddr>,
    /// Frames queued for one WebSocket before it counts as lagging and is closed (4008).
    pub ws_queue_frames: usize,
    /// Messages a room's live feed keeps for subscribers that fall behind it; one further
    /// behind fills the hole from history.
    pub ws_feed_frames: usize,
    /// Rooms one WebSocket may be subscribed to at once (default 500).
    pub ws_max_subscriptions: usize,
    /// Live subscriptions one user may hold through this gateway over all their connections,
    /// `gateway.v1` live streams included (default 2,000).
    pub ws_max_subscriptions_per_user: usize,
    /// How often every open WebSocket is pinged; one that sent nothing since the last ping
    /// is closed (4002). `None`: never.
    pub ws_ping: Option<Duration>,
    /// How often open WebSockets renew their presence; well inside the presence TTL.
    pub presence_heartbeat: Duration,
    pub limits: RateLimits,
    /// Marks browsers that signed in before, whose logins skip the per-account limit.
    pub device_key: crate::device::DeviceKey,
    /// The bearer token `/metrics` requires; without one it answers loopback clients only.
    pub metrics_token: Option<String>,
    /// Renders `/metrics`; `None` when this process records no metrics.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Serve the web app from this folder instead of the embedded files (development).
    pub web_dir: Option<std::path::PathBuf>,
}

/// The limiters of [`RateLimits`], with their keys.
#[derive(Debug)]
pub(crate) struct Limiters {
    messages_by_user: Limiter<String>,
    rooms_by_user: Limiter<String>,
    posts_by_webhook: Limiter<String>,
}

impl Limiters {
    /// Forgets every limiter's refilled buckets.
    fn retain_recent(&self) {
        self.messages_by_user.retain_recent();
        self.rooms_by_user.retain_recent();
        self.posts_by_webhook.retain_recent();
    }
}

/// A refusal by the limit named `limit` (a label of `dchat_rate_limited_total`).
/// Counts a refusal by a service's limit in `dchat_rate_limited_total` (by the names the
/// auth service reports; any other is counted as `other`).
pub(crate) fn count_refusal(limit: &str) {
    let limit: &'static str = match limit {
        "failed_logins_by_address" => "failed_logins_by_address",
        "failed_logins_by_account_and_address" => "failed_logins_by_account_and_address",
        "failed_logins_by_account" => "failed_logins_by_account",
        "registrations_by_address" => "registrations_by_address",
        _ => "other",
    };
    metrics::counter!("dchat_rate_limited_total", "limit" => limit).increment(1);
}

fn rate_limited(what: &str, limit: &'static str, wait: Duration) -> ApiError {
    metrics::counter!("dchat_rate_limited_total", "limit" => limit).increment(1);
    ApiError::RateLimited { message: format!("too many {what}; slow down"), retry_after_secs: retry_after_secs(wait) }
}

/// How the gateway reaches each service it forwards to.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub auth: Transport,
    pub rooms: Transport,
    pub messages: Transport,
    pub presence: Transport,
}

/// Everything a handler reaches, grouped by concern. Handlers use its methods, which name
/// what they do ("a token ended"), or the group accessors below; none reaches into the
/// fields, so a group can change shape without touching every handler.
#[derive(Debug, Clone)]
pub struct GatewayState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// How the gateway reaches the services.
    pub(crate) clients: Clients,
    /// What it remembers for a while (see `cache`).
    pub(crate) caches: Caches,
    /// Its WebSocket connections and what keeps them fed (see `live`).
    pub(crate) live: Live,
    /// Metrics: the exporter's handle, and the HTTP request metrics' (see `ops`).
    pub(crate) ops: Ops,
    pub(crate) config: GatewayConfig,
    pub(crate) limiters: Limiters,
    /// Cancelled when the process stops: ends room feeds and background work.
    pub(crate) stopping: CancellationToken,
    next_connection_id: AtomicU64,
}

/// The services' gRPC clients.
#[derive(Debug)]
pub(crate) struct Clients {
    pub(crate) auth: AuthServiceClient<Transport>,
    pub(crate) rooms: RoomServiceClient<Transport>,
    pub(crate) messages: MessageServiceClient<Transport>,
    pub(crate) presence: PresenceServiceClient<Transport>,
    /// The raw transports, for health checks.
    pub(crate) channels: Upstreams,
}

/// Answers remembered so as not to ask a service on every request.
#[derive(Debug)]
pub(crate) struct Caches {
    pub(crate) profiles: Profiles,
    /// Tokens verified lately (see `verified`).
    pub(crate) verified: VerifiedTokens,
    /// Memberships confirmed lately (see `members`).
    pub(crate) members: KnownMembers,
}

/// The live side: connections, their feeds and their presence.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) feeds: RoomFeeds,
    pub(crate) connections: Connections,
    /// Live subscriptions per user (see `connections`).
    pub(crate) user_subscriptions: UserSubscriptions,
    /// The presence sessions this gateway keeps alive for its WebSocket clients.
    pub(crate) presence_sessions: PresenceSessions,
}

/// What `/metrics` serves and the request metrics it is made of.
#[derive(Debug)]
pub(crate) struct Ops {
    pub(crate) metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub(crate) request_metrics: RequestMetrics,
}

impl GatewayState {
    pub fn new(upstreams: Upstreams, config: GatewayConfig, stopping: CancellationToken) -> Self {
        let auth = AuthServiceClient::new(upstreams.auth.clone());
        let limits = &config.limits;
        let limiters = Limiters {
            messages_by_user: Limiter::new(limits.messages, limits.enabled),
            rooms_by_user: Limiter::new(limits.rooms, limits.enabled),
            posts_by_webhook: Limiter::new(limits.webhook_posts, limits.enabled),
        };
        Self {
            inner: Arc::new(Inner {
                caches: Caches {
                    profiles: Profiles::new(auth.clone()),
                    verified: VerifiedTokens::default(),
                    members: KnownMembers::default(),
                },
                clients: Clients {
                    auth,
                    rooms: RoomServiceClient::new(upstreams.rooms.clone()),
                    messages: MessageServiceClient::new(upstreams.messages.clone()),
                    presence: PresenceServiceClient::new(upstreams.presence.clone()),
                    channels: upstreams,
                },
                live: Live {
                    feeds: RoomFeeds::default(),
                    connections: Connections::default(),
                    user_subscriptions: UserSubscriptions::default(),
                    presence_sessions: PresenceSessions::new(RandomState::new().hash_one(std::process::id())),
                },
                ops: Ops { metrics: config.metrics.clone(), request_metrics: RequestMetrics::default() },
                config,
                limiters,
                stopping,
                next_connection_id: AtomicU64::new(1),
            }),
        }
    }

    /// The gateway's settings.
    pub(crate) fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// What the gateway remembers for a while: profiles, verified tokens, memberships.
    pub(crate) fn caches(&self) -> &Caches {
        &self.inner.caches
    }

    /// Its WebSocket connections, their feeds and their presence sessions.
    pub(crate) fn live(&self) -> &Live {
        &self.inner.live
    }

    /// What `/metrics` serves.
    pub(crate) fn ops(&self) -> &Ops {
        &self.inner.ops
    }

    /// The raw transports to the services, for health checks.
    pub(crate) fn upstreams(&self) -> &Upstreams {
        &self.inner.clients.channels
    }

    /// Cancelled when the process stops.
    pub(crate) fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    /// How a user is shown next to what they wrote: display name, `@username`, bot badge.
    pub(crate) async fn profile(&self, user_id: &str) -> std::sync::Arc<Profile> {
        self.inner.caches.profiles.get(user_id).await
    }

    /// A token this gateway handed out or saw has ended (logout, revocation): it is no
    /// longer trusted from the cache, and the WebSockets opened with it close now.
    pub(crate) fn token_ended(&self, token: &str) {
        self.inner.caches.verified.forget(token);
        self.inner.live.connections.close_token(token);
    }

    /// A user's profile is known afresh (signed in or changed): their name is remembered,
    /// and, when it changed, tokens verified with the old one are asked about again.
    pub(crate) fn profile_seen(&self, user: &dchat_proto::auth::v1::User, changed: bool) {
        self.inner.caches.profiles.remember(&user.user_id, Profile::from(user));
        if changed {
            self.inner.caches.verified.forget_user(&user.user_id);
        }
    }

    /// The user a token belongs to: remembered, or asked of the auth service.
    pub(crate) async fn verify(&self, token: &str) -> Result<dchat_proto::auth::v1::User, tonic::Status> {
        let ticket = match self.inner.caches.verified.get(token) {
            Ok(user) => return Ok(user),
            Err(ticket) => ticket,
        };
        let user =
            self.auth().verify(dchat_proto::auth::v1::Token { access_token: token.to_owned() }).await?.into_inner();
        self.inner.caches.verified.remember(token, &user, ticket);
        Ok(user)
    }

    /// Whether `user_id` is a member of `room_id` (a missing room answers no): remembered,
    /// or asked of the room service.
    pub(crate) async fn is_member(&self, room_id: &str, user_id: &str) -> Result<bool, tonic::Status> {
        let ticket = match self.inner.caches.members.get(room_id, user_id) {
            Ok(()) => return Ok(true),
            Err(ticket) => ticket,
        };
        let request = dchat_proto::room::v1::JoinLeaveReq { room_id: room_id.to_owned(), user_id: user_id.to_owned() };
        let member = self.rooms().is_member(request).await?.into_inner().success;
        if member {
            self.inner.caches.members.remember(room_id, user_id, ticket);
        }
        Ok(member)
    }

    /// Whether `caller` may look `user_id` up: themself, or someone they share a room with.
    /// Anyone else is answered as if there were no such user, so that accounts cannot be
    /// listed by trying ids.
    pub(crate) async fn may_look_up(&self, caller: &str, user_id: &str) -> Result<(), tonic::Status> {
        if caller == user_id {
            return Ok(());
        }
        let pair = dchat_proto::room::v1::UserPair { user_id: caller.to_owned(), other_user_id: user_id.to_owned() };
        if self.rooms().shares_room(pair).await?.into_inner().success {
            Ok(())
        } else {
            Err(tonic::Status::not_found(format!("user {user_id} does not exist")))
        }
    }

    /// Background work of the gateway (following membership changes, keeping its clients'
    /// presence alive, pinging its WebSockets) until stopped, when it closes the open
    /// WebSockets.
    pub async fn run_until_stopped(self) {
        let stopping = self.inner.stopping.clone();
        let period = self.inner.config.presence_heartbeat;
        let close_connections = async {
            stopping.cancelled().await;
            // 1012: "service restart"; clients reconnect and resume from their offsets.
            self.inner.live.connections.close_all(1012, "server stopping");
        };
        // One timer for every connection: a timer each would be memory in every idle client.
        let ping = async {
            let Some(every) = self.inner.config.ws_ping else { return };
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stopping.cancelled() => return,
                    _ = ticks.tick() => self.inner.live.connections.ping_all(),
                }
            }
        };
        // Buckets that refilled are forgotten once a minute (see `limits`).
        let sweep_limits = async {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stopping.cancelled() => return,
                    _ = ticks.tick() => self.inner.limiters.retain_recent(),
                }
            }
        };
        tokio::join!(
            ping,
            sweep_limits,
            crate::live::presence::keep_alive(self.clone(), period, stopping.clone()),
            crate::live::watches::follow(self.clone(), stopping.clone()),
            close_connections,
        );
    }

    pub(crate) fn limit_room_creation(&self, user_id: &str) -> Result<(), ApiError> {
        self.inner
            .limiters
            .rooms_by_user
            .take(&user_id.to_owned())
            .map_err(|wait| rate_limited("rooms created", "rooms_by_user", wait))
    }

    pub(crate) fn limit_webhook_post(&self, webhook_id: &str) -> Result<(), ApiError> {
        self.inner
            .limiters
            .posts_by_webhook
            .take(&webhook_id.to_owned())
            .map_err(|wait| rate_limited("posts through this webhook", "posts_by_webhook", wait))
    }

    pub(crate) fn limit_message(&self, user_id: &str) -> Result<(), ApiError> {
        self.inner
            .limiters
            .messages_by_user
            .take(&user_id.to_owned())
            .map_err(|wait| rate_limited("messages", "messages_by_user", wait))
    }

    pub(crate) fn next_connection_id(&self) -> u64 {
        self.inner.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    // Clients are cheap handles onto one shared transport; each call takes a copy.
    pub(crate) fn auth(&self) -> AuthServiceClient<Transport> {
        self.inner.clients.auth.clone()
    }

    pub(crate) fn rooms(&self) -> RoomServiceClient<Transport> {
        self.inner.clients.rooms.clone()
    }

    pub(crate) fn messages(&self) -> MessageServiceClient<Transport> {
        self.inner.clients.messages.clone()
    }

    pub(crate) fn presence(&self) -> PresenceServiceClient<Transport> {
        self.inner.clients.presence.clone()
    }
}
