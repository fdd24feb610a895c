//! `dchat-bench feeds`: what a room's live feed costs the gateway, read from the server's
//! memory before and after one user subscribes to many rooms.

use std::time::{Duration, Instant};

use dchat_bench::{Progress, Report};
use serde_json::json;

use super::progress;

/// Time for the server's allocator to settle after the last subscription, before reading.
const SETTLE: Duration = Duration::from_secs(2);

/// The gateway's default cap on one connection's subscriptions.
const PER_CONNECTION: usize = 500;

pub(super) async fn run(url: &str, server_pid: Option<u32>, rooms: usize) -> anyhow::Result<Report> {
    let setup = dchat_bench::prepare_room_feeds(url, &super::run_id(), rooms).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server_pid.and_then(dchat_bench::sample_process);
    let progress = Progress::default();
    let started = Instant::now();
    let opening = dchat_bench::open_room_feeds(url, &setup, PER_CONNECTION, &progress);
    let held = progress::during("feeds", "subscriptions", &progress, opening).await?;
    let elapsed = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = server_pid.and_then(dchat_bench::sample_process);
    let per_feed = before
        .zip(after)
        .map(|(before, after)| after.rss_bytes.saturating_sub(before.rss_bytes) as f64 / held.rooms.max(1) as f64);
    let mb = |sample: Option<dchat_bench::ProcessSample>| sample.map(|sample| sample.rss_bytes as f64 / 1_048_576.0);
    match per_feed {
        Some(bytes) => progress::print(&format!(
            "{} room feeds over {} connections: server RSS {:.1} MB -> {:.1} MB, {bytes:.0} B per room feed",
            held.rooms,
            held.connections,
            mb(before).unwrap_or(0.0),
            mb(after).unwrap_or(0.0),
        )),
        None => progress::print(&format!("{} room feeds (server memory unknown: no --server-pid)", held.rooms)),
    }
    Ok(Report {
        scenario: "feeds".to_owned(),
        parameters: json!({
            "rooms": rooms, "connections": held.connections,
            "server_rss_before_mb": mb(before), "server_rss_after_mb": mb(after),
            "server_bytes_per_room_feed": per_feed,
        }),
        rate_per_sec: held.rooms as f64 / elapsed.as_secs_f64().max(1e-9),
        operations: held.rooms as u64,
        duration_secs: elapsed.as_secs_f64(),
        server: before.zip(after).map(|(before, after)| dchat_bench::process_usage(&before, &after)),
        ..Report::default()
    })
}
