//! The ingest baseline: raw batched inserts into SQLite with dchat's durability settings
//! (WAL, `synchronous=FULL`), several rows per statement, no network, no auth, no offsets. The ratio of dchat's
//! durable append rate to this is what the server adds.

use std::time::{Duration, Instant};

use dchat_storage::Durability;
use serde_json::json;

use crate::{BenchError, Latency, Report, report::histogram};

/// Rows per transaction, as dchat's writer batches at most.
const BATCH: usize = 1024;
/// Rows per INSERT statement (BATCH is a multiple of it).
const ROWS_PER_INSERT: usize = 256;

/// Inserts message-sized rows in transactions of [`BATCH`] for `duration`.
pub async fn sqlite_insert_baseline(duration: Duration) -> Result<Report, BenchError> {
    let dir = tempfile::tempdir().map_err(|err| BenchError::Database(err.to_string()))?;
    let path = dir.path().join("baseline.db");
    let pool = dchat_storage::open_sqlite(&path, Durability::Full, 1)
        .await
        .map_err(|err| BenchError::Database(err.to_string()))?;
    let db = |err: sqlx::Error| BenchError::Database(err.to_string());
    sqlx::query("CREATE TABLE rows (room TEXT NOT NULL, n INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (room, n)) WITHOUT ROWID")
        .execute(&pool)
        .await
        .map_err(db)?;
    let mut commits = histogram();
    let started = Instant::now();
    let mut n = 0i64;
    while started.elapsed() < duration {
        let commit_started = Instant::now();
        let mut tx = pool.begin().await.map_err(db)?;
        // Multi-row statements, as dchat's writer uses: the fastest way in through sqlx.
        for _ in 0..BATCH / ROWS_PER_INSERT {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO rows (room, n, body) ");
            insert.push_values(n..n + ROWS_PER_INSERT as i64, |mut row, k| {
                row.push_bind("r").push_bind(k).push_bind("a message of a typical length for a chat");
            });
            insert.build().execute(&mut *tx).await.map_err(db)?;
            n += ROWS_PER_INSERT as i64;
        }
        tx.commit().await.map_err(db)?;
        let _ = commits.record(u64::try_from(commit_started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1));
    }
    let elapsed = started.elapsed().as_secs_f64();
    pool.close().await;
    let rows = u64::try_from(n).unwrap_or_default();
    Ok(Report {
        scenario: "sqlite-baseline".to_owned(),
        parameters: json!({"batch": BATCH, "durability": "full", "duration_secs": duration.as_secs_f64()}),
        rate_per_sec: rows as f64 / elapsed,
        operations: rows,
        duration_secs: elapsed,
        latency: Latency::from_micros(&commits),
        lost: 0,
        duplicated: 0,
        out_of_order: 0,
        errors: 0,
        ..Report::default()
    })
}
