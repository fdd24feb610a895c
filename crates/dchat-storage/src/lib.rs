//! Database plumbing shared by the services: opening SQLite and PostgreSQL the way dchat
//! needs them, and [`StoreError`], the one error every store answers with.
//!
//! Every service owns its own database file (SQLite) or schema (PostgreSQL, see
//! [`postgres`]) and its own migrations; this crate only knows how to open one with the
//! durability settings we promise (WAL and `synchronous=FULL` unless configured otherwise;
//! synchronous commits), never what is inside it.

pub mod postgres;
#[cfg(feature = "testing")]
pub mod testing;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// How hard a commit works to survive power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=FULL`: a commit is on disk before it is acknowledged (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: in WAL mode, a power cut may lose the last commits, but the
    /// database never corrupts. Process crashes lose nothing.
    Normal,
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            other => Err(format!("unknown durability {other:?}: expected \"full\" or \"normal\"")),
        }
    }
}

/// Why a database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("failed to create the folder for {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("failed to open {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("failed to migrate {path}: {source}")]
    Migrate { path: String, source: sqlx::migrate::MigrateError },
}

/// Opens (creating if needed) the SQLite file at `path` in WAL mode.
///
/// `max_connections` bounds the pool; a service with a single writer passes 1 for its
/// write pool so that SQLite never has to arbitrate between writers.
///
/// A folder this creates is readable by its owner only (0700), and so is a new database
/// file (0600); SQLite gives its `-wal` and `-shm` files the database file's mode. Folders
/// and files that already exist keep theirs: they are the operator's.
pub async fn open_sqlite(path: &Path, durability: Durability, max_connections: u32) -> Result<SqlitePool, OpenError> {
    let display = path.display().to_string();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_dir(parent).map_err(|source| OpenError::CreateDir { path: display.clone(), source })?;
    }
    private_file(path).map_err(|source| OpenError::CreateDir { path: display.clone(), source })?;
    let synchronous = match durability {
        Durability::Full => SqliteSynchronous::Full,
        Durability::Normal => SqliteSynchronous::Normal,
    };
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        // Readers and the writer share the file; a short wait beats a spurious SQLITE_BUSY.
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_with(options)
        .await
        .map_err(|source| OpenError::Open { path: display, source })
}

/// Creates `dir` and any missing parents with mode 0700.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the file at `path` with mode 0600 unless it exists.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Runs `migrator` against `pool`, naming `path` in any error.
pub async fn migrate(pool: &SqlitePool, migrator: &sqlx::migrate::Migrator, path: &Path) -> Result<(), OpenError> {
    migrator.run(pool).await.map_err(|source| OpenError::Migrate { path: path.display().to_string(), source })
}

/// A store failed, shaped by what its caller does next: a conflict is the caller's to
/// answer (the thing exists), an unavailable database may answer a retry, anything else is
/// a fault to log. Service errors hold this, never a driver's error type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write; `constraint` names it where the
    /// database says which.
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    /// The database could not be reached or gave up waiting (a busy pool, a lost
    /// connection): the same call may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: a bug, a corrupt row, a failed migration.
    #[error("database failed: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A row the store wrote could not be read back as the value it stands for.
    pub fn corrupt(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Other(Box::new(err))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Database(db_err) if db_err.is_unique_violation() => {
                let constraint = db_err.constraint().map_or_else(|| db_err.message().to_owned(), str::to_owned);
                Self::Conflict { constraint }
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
                Self::Unavailable(Box::new(err))
            }
            sqlx::Error::Database(ref db_err) if db_err.code().as_deref().is_some_and(retryable_sqlstate) => {
                Self::Unavailable(Box::new(err))
            }
            err => Self::Other(Box::new(err)),
        }
    }
}

/// PostgreSQL's answers that say "not now" rather than "never": a lost or refused
/// connection (class 08), a server shutting down or restarting (57P01-57P03), too little
/// of something (class 53), a serialization failure or deadlock (40001, 40P01), a lock or
/// statement timeout (55P03, 57014), and a transaction ended for idling (25P03).
fn retryable_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03" | "57014" | "25P03")
}
