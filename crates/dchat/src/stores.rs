//! Which storage each stateful service runs on: its own SQLite file in the data folder, or,
//! with `--database-url`, its own schema of one PostgreSQL database. The only place that
//! chooses a backend; each service sees only its store traits.
//!
//! Replicas of a service may share a PostgreSQL database only when NATS carries what each
//! announces (new messages, revocations, membership changes) to the others (`--nats-url`);
//! without it, a second process running the same service on the same database is refused
//! at start ([`SoleReplica`]), since its announcements would reach only its own watchers.

use std::sync::Arc;

use anyhow::Context;
use dchat_auth::{AccountStore, AttemptStore, PgAuthStore, SqliteAuthStore, TokenStore, TotpStore};
use dchat_message::{MessageAppender, MessageLog, PgMessageStore, SqliteMessageStore};
use dchat_room::{PgRoomStore, RoomStore, SqliteRoomStore};
use dchat_storage::postgres::{SoleReplica, claim_sole_replica};

use crate::Config;

/// The auth service's stores (one database behind them all).
pub(crate) struct AuthStores {
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) totp: Arc<dyn TotpStore>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) attempts: Arc<dyn AttemptStore>,
}

/// The message service's log and its appender.
pub(crate) struct MessageStores {
    pub(crate) log: Arc<dyn MessageLog>,
    pub(crate) appender: Box<dyn MessageAppender>,
}

/// Guards held while the process runs: see [`SoleReplica`].
#[derive(Debug, Default)]
pub(crate) struct Claims(Vec<SoleReplica>);

impl Claims {
    /// Claims the service's place on the database, unless NATS lets replicas share it.
    async fn claim_unless_shared(&mut self, config: &Config, url: &str, service: &str) -> anyhow::Result<()> {
        if config.nats_url.is_none() {
            self.0.push(claim_sole_replica(url, service).await?);
        }
        Ok(())
    }
}

pub(crate) async fn auth(config: &Config, claims: &mut Claims) -> anyhow::Result<AuthStores> {
    if let Some(url) = &config.database_url {
        claims.claim_unless_shared(config, url, "auth").await?;
        let store = Arc::new(PgAuthStore::open(url).await.context("open the auth schema")?);
        return Ok(AuthStores { accounts: store.clone(), totp: store.clone(), tokens: store.clone(), attempts: store });
    }
    let path = config.auth_db_path();
    let pool = dchat_storage::open_sqlite(&path, config.durability, 4).await?;
    let store = Arc::new(SqliteAuthStore::migrate(pool, &path).await?);
    Ok(AuthStores { accounts: store.clone(), totp: store.clone(), tokens: store.clone(), attempts: store })
}

pub(crate) async fn room(config: &Config, claims: &mut Claims) -> anyhow::Result<Arc<dyn RoomStore>> {
    if let Some(url) = &config.database_url {
        claims.claim_unless_shared(config, url, "room").await?;
        return Ok(Arc::new(PgRoomStore::open(url).await.context("open the room schema")?));
    }
    let path = config.room_db_path();
    let pool = dchat_storage::open_sqlite(&path, config.durability, 4).await?;
    Ok(Arc::new(SqliteRoomStore::migrate(pool, &path).await?))
}

pub(crate) async fn message(config: &Config, claims: &mut Claims) -> anyhow::Result<MessageStores> {
    if let Some(url) = &config.database_url {
        // With NATS between them, message services share the database: each hears the
        // others' messages, and its subscriptions re-read heads from the database.
        claims.claim_unless_shared(config, url, "message").await?;
        let store = PgMessageStore::open(url).await.context("open the message schema")?;
        return Ok(MessageStores { appender: Box::new(store.appender()), log: Arc::new(store) });
    }
    let path = config.message_db_path();
    let pool = dchat_storage::open_sqlite(&path, config.durability, 8).await?;
    let store = SqliteMessageStore::migrate(pool, &path).await?;
    let appender = Box::new(store.appender().await.context("open the message writer's connection")?);
    Ok(MessageStores { log: Arc::new(store), appender })
}
