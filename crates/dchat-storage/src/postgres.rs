//! PostgreSQL plumbing: one database for the whole deployment, one schema per service.
//!
//! Each service's pool runs in its own schema (`auth`, `room`, `message`), set as the
//! connections' `search_path`, so the services' SQL names its tables without a schema and
//! each keeps its own `_sqlx_migrations` table. Migrations run at start; sqlx holds a
//! database-wide advisory lock while it migrates, so replicas that start at the same
//! moment apply each migration once, in turn.
//!
//! Every connection bounds how long a stuck peer can hold it up: a statement runs at most
//! [`STATEMENT_TIMEOUT`], waits for a lock at most [`LOCK_TIMEOUT`], and a transaction left
//! idle (its process paused or gone) is ended after [`IDLE_IN_TRANSACTION_TIMEOUT`], which
//! frees its row locks for the other replicas. Commits are synchronous.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Connection, Executor, PgConnection, Row,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};

use crate::OpenError;

/// The longest one statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a statement waits for a row lock before it fails (and its caller retries).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(2);
/// A transaction idle this long (a paused or vanished process) is ended by the server.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Connects to the database at `url` with a pool of `max_connections` whose connections
/// work in `schema`, creating the schema if it is missing.
pub async fn open_postgres(url: &str, schema: &str, max_connections: u32) -> Result<PgPool, OpenError> {
    let shown = redacted(url);
    let open_err = |source| OpenError::Open { path: format!("{shown} (schema {schema})"), source };
    if !schema.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') || schema.is_empty() {
        return Err(open_err(sqlx::Error::Configuration(format!("not a plain schema name: {schema:?}").into())));
    }
    let millis = |duration: Duration| duration.as_millis().to_string();
    let options = PgConnectOptions::from_str(url).map_err(open_err)?.options([
        ("search_path", schema.to_owned()),
        ("statement_timeout", millis(STATEMENT_TIMEOUT)),
        ("lock_timeout", millis(LOCK_TIMEOUT)),
        ("idle_in_transaction_session_timeout", millis(IDLE_IN_TRANSACTION_TIMEOUT)),
        ("synchronous_commit", "on".to_owned()),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .min_connections(1)
        // A database that is down answers the caller within a few seconds, as a 503.
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
        .map_err(open_err)?;
    create_schema(&pool, schema).await.map_err(open_err)?;
    Ok(pool)
}

/// `CREATE SCHEMA IF NOT EXISTS` can still fail when another replica creates the schema at
/// the same moment (a unique violation on the catalog); that replica's schema is as good.
async fn create_schema(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    match pool.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str()).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(err)) if matches!(err.code().as_deref(), Some("23505" | "42P06")) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Runs `migrator` in the pool's schema.
pub async fn migrate_postgres(
    pool: &PgPool,
    migrator: &sqlx::migrate::Migrator,
    schema: &str,
) -> Result<(), OpenError> {
    migrator.run(pool).await.map_err(|source| OpenError::Migrate { path: format!("schema {schema}"), source })
}

/// Proof that this process is the only one running a service on a database: a connection
/// of its own holding a session advisory lock named after the service, released when the
/// process (or the guard) goes. A start-time guard against a second replica, for as long as
/// replicas of a service cannot share a database safely; it fences nothing at run time.
#[derive(Debug)]
pub struct SoleReplica {
    _connection: PgConnection,
}

/// Why a second replica was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(
        "another {service} service already uses this database ({url}): replicas of a service share a database only with NATS between them; set --nats-url (DCHAT_NATS_URL), or run one replica"
    )]
    Taken { service: String, url: String },
    #[error("failed to check for another {service} service on {url}: {source}")]
    Database { service: String, url: String, source: sqlx::Error },
}

/// Takes the `service`'s advisory lock on the database at `url`, or says who holds it.
pub async fn claim_sole_replica(url: &str, service: &str) -> Result<SoleReplica, ReplicaError> {
    let database = |source| ReplicaError::Database { service: service.to_owned(), url: redacted(url), source };
    let mut connection = PgConnection::connect(url).await.map_err(database)?;
    let taken: bool = sqlx::query("SELECT pg_try_advisory_lock(hashtext('dchat replica: ' || $1))")
        .bind(service)
        .fetch_one(&mut connection)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(database)?;
    if !taken {
        return Err(ReplicaError::Taken { service: service.to_owned(), url: redacted(url) });
    }
    Ok(SoleReplica { _connection: connection })
}

/// The URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(super::redacted("postgres://dchat:s3cret@db:5432/chat"), "postgres://dchat:***@db:5432/chat");
        assert_eq!(super::redacted("postgres://postgres@127.0.0.1/x"), "postgres://postgres@127.0.0.1/x");
        assert_eq!(super::redacted("postgres:///x"), "postgres:///x");
    }
}
