//! PostgreSQL for tests: a fresh database per test, made in the server that
//! `DCHAT_TEST_DATABASE_URL` names and dropped when the test is done, passed or failed
//! (its connections are ended first).
//!
//! Without that variable the PostgreSQL half of a test is skipped, and says so loudly on
//! stderr; under CI (`CI` set) it fails instead, since CI must run it.

use sqlx::{Connection, Executor, PgConnection};

/// The variable naming the PostgreSQL server tests may create databases in.
pub const DATABASE_URL_VAR: &str = "DCHAT_TEST_DATABASE_URL";

/// A database of one test's own.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a database, or returns `None` (after saying so) when no server is configured.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var(DATABASE_URL_VAR) else {
            assert!(std::env::var_os("CI").is_none(), "CI must set {DATABASE_URL_VAR}");
            #[allow(clippy::print_stderr)] // A skipped test must be seen in the test output.
            {
                eprintln!(
                    "SKIPPED {test} on PostgreSQL: set {DATABASE_URL_VAR} (for example postgres://postgres@127.0.0.1:5432/postgres)"
                );
            }
            return None;
        };
        let name = format!("dchat_test_{}", uuid_like());
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to DCHAT_TEST_DATABASE_URL");
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create a test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(Self { url, name, admin_url })
    }
}

impl Drop for TestDatabase {
    /// Drops the database on a thread of its own, since a test's runtime may be unwinding.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.map_err(std::io::Error::other)?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .map_err(std::io::Error::other)?;
                admin.close().await.map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            tracing::warn!(database = self.name, "a test database was not dropped");
        }
    }
}

/// 64 random bits in hex, from the clock and the process: unique enough for test names.
fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// `url` with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(super::with_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(super::with_database("postgres://u@h:5432", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(
            super::with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
