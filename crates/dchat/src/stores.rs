//! Which storage each stateful service runs on: its own SQLite file in the data folder, or,
//! with `--database-url`, its own schema of one PostgreSQL database. The only place that
//! chooses a backend; each service sees only its store traits.
//!
//! A second process running the same service on the same PostgreSQL database is refused at
//! start ([`SoleReplica`]) unless the service can share it: the message service can when
//! NATS carries its messages between processes (`--nats-url`); the auth and room services
//! cannot yet (their revocations and membership changes reach only their own process's
//! watchers).

use std::sync::Arc;

use anyhow::Context;
use dchat_auth::{AccountStore, PgAuthStore, SqliteAuthStore, TokenStore, TotpStore};
use dchat_message::{MessageAppender, MessageLog, PgMessageStore, SqliteMessageStore};
use dchat_room::{PgRoomStore, RoomStore, SqliteRoomStore};
use dchat_storage::postgres::{SoleReplica, claim_sole_replica};

use crate::Config;

/// The auth service's three stores (one database behind them all).
pub(crate) struct AuthStores {
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) totp: Arc<dyn TotpStore>,
    pub(crate) tokens: Arc<dyn TokenStore>,
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
    async fn claim(&mut self, url: &str, service: &str) -> anyhow::Result<()> {
        self.0.push(claim_sole_replica(url, service).await?);
        Ok(())
    }
}

pub(crate) async fn auth(config: &Config, claims: &mut Claims) -> anyhow::Result<AuthStores> {
    if let Some(url) = &config.database_url {
        claims.claim(url, "auth").await?;
        let store = Arc::new(PgAuthStore::open(url).await.context("open the auth schema")?);
        return Ok(AuthStores { accounts: store.clone(), totp: store.clone(), tokens: store });
    }
    let path = config.auth_db_path();
    let pool = dchat_storage::open_sqlite(&path, config.durability, 4).await?;
    let store = Arc::new(SqliteAuthStore::migrate(pool, &path).await?);
    Ok(AuthStores { accounts: store.clone(), totp: store.clone(), tokens: store })
}

pub(crate) async fn room(config: &Config, claims: &mut Claims) -> anyhow::Result<Arc<dyn RoomStore>> {
    if let Some(url) = &config.database_url {
        claims.claim(url, "room").await?;
        return Ok(Arc::new(PgRoomStore::open(url).await.context("open the room schema")?));
    }
    let path = config.room_db_path();
    let pool = dchat_storage::open_sqlite(&path, config.durability, 4).await?;
    Ok(Arc::new(SqliteRoomStore::migrate(pool, &path).await?))
}

pub(crate) async fn message(config: &Config, claims: &mut Claims) -> anyhow::Result<MessageStores> {
    if let Some(url) = &config.database_url {
        // With NATS between them, message services may share the database: each hears
        // the others' messages, and its subscriptions re-read heads from the database.
        if config.nats_url.is_none() {
            claims.claim(url, "message").await?;
        }
        let store = PgMessageStore::open(url).await.context("open the message schema")?;
        return Ok(MessageStores { appender: Box::new(store.appender()), log: Arc::new(store) });
    }
    let path = config.message_db_path();
    let pool = dchat_storage::open_sqlite(&path, config.durability, 8).await?;
    let store = SqliteMessageStore::migrate(pool, &path).await?;
    let appender = Box::new(store.appender().await.context("open the message writer's connection")?);
    Ok(MessageStores { log: Arc::new(store), appender })
}
