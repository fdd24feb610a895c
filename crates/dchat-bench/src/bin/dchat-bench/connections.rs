//! `dchat-bench connections`: opens N idle, subscribed WebSockets, from this process or,
//! past one process's file descriptors, from several worker processes (this binary's
//! hidden `bench connections-worker`), then reads what the server's resident memory grew
//! by. A worker reports progress on stdout and holds its connections until its stdin closes.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Args;
use dchat_bench::{IdleSetup, Progress, Report};
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::Command,
};

use super::progress;

/// Connections one load-generator process opens at most: well under its 20,000 descriptors.
const PER_PROCESS: usize = 9_000;
/// Time for the server to finish what each new connection started before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(super) struct Plan {
    pub(super) count: usize,
    pub(super) processes: usize,
    pub(super) sources: usize,
    pub(super) users: usize,
    pub(super) in_flight: usize,
}

#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    #[arg(long)]
    url: String,
    #[arg(long)]
    room: String,
    #[arg(long, value_delimiter = ',')]
    tokens: Vec<String>,
    #[arg(long)]
    count: usize,
    #[arg(long)]
    first: usize,
    #[arg(long)]
    sources: usize,
    #[arg(long)]
    in_flight: usize,
}

pub(super) async fn run(url: &str, server_pid: Option<u32>, plan: &Plan) -> anyhow::Result<Report> {
    let setup = dchat_bench::prepare_idle(url, &super::run_id(), plan.users).await?;
    let before = server_pid.and_then(dchat_bench::sample_process);
    let processes = if plan.processes == 0 { plan.count.div_ceil(PER_PROCESS).max(1) } else { plan.processes };
    let progress = Progress::default();
    let started = Instant::now();
    let opening = async {
        if processes == 1 {
            let held =
                dchat_bench::open_idle(url, &setup, plan.count, 0, plan.sources, plan.in_flight, &progress).await?;
            Ok::<_, anyhow::Error>((held.opened, Held::Here { _connections: held }))
        } else {
            let (opened, workers) = start_workers(url, &setup, processes, plan, &progress).await?;
            Ok((opened, Held::InWorkers(workers)))
        }
    };
    let (opened, held) = progress::during("connections", "connections", &progress, opening).await?;
    let connect_secs = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = server_pid.and_then(dchat_bench::sample_process);
    if let Held::InWorkers(workers) = held {
        // Closing their stdin tells the workers to let go; then they are waited for.
        for mut worker in workers {
            drop(worker.stdin.take());
            let _ = worker.wait().await;
        }
    }
    Ok(report(plan, opened, connect_secs, before, after, server_pid))
}

/// Where the open connections are held until the server's memory has been read.
enum Held {
    /// Kept only to be dropped (closed) after the reading.
    Here {
        _connections: dchat_bench::IdleConnections,
    },
    InWorkers(Vec<tokio::process::Child>),
}

/// Starts `processes` workers sharing the connections and waits until each has opened its
/// share; returns how many were opened, and the workers (still holding them).
async fn start_workers(
    url: &str,
    setup: &IdleSetup,
    processes: usize,
    plan: &Plan,
    progress: &Progress,
) -> anyhow::Result<(usize, Vec<tokio::process::Child>)> {
    let share = plan.count.div_ceil(processes);
    let mut workers = Vec::new();
    let mut waiting = Vec::new();
    let mut first = 0;
    while first < plan.count {
        let count = share.min(plan.count - first);
        let (child, done) = start_worker(url, setup, count, first, plan, progress.clone())?;
        workers.push(child);
        waiting.push(done);
        first += count;
    }
    let mut opened = 0;
    for done in waiting {
        opened += done.await.context("a connections worker")??;
    }
    Ok((opened, workers))
}

fn report(
    plan: &Plan,
    opened: usize,
    connect: Duration,
    before: Option<dchat_bench::ProcessSample>,
    after: Option<dchat_bench::ProcessSample>,
    server_pid: Option<u32>,
) -> Report {
    let per_connection = before
        .zip(after)
        .map(|(before, after)| after.rss_bytes.saturating_sub(before.rss_bytes) as f64 / opened.max(1) as f64);
    let rate = opened as f64 / connect.as_secs_f64().max(1e-9);
    match per_connection {
        Some(bytes) => progress::print(&format!(
            "{opened} idle connections: server RSS {:.1} MB -> {:.1} MB, {bytes:.0} B per connection; {rate:.0} connections/s",
            before.map_or(0.0, |sample| sample.rss_bytes as f64 / 1_048_576.0),
            after.map_or(0.0, |sample| sample.rss_bytes as f64 / 1_048_576.0),
        )),
        None => progress::print(&format!(
            "{opened} idle connections at {rate:.0}/s (server memory unknown: no --server-pid{})",
            if server_pid.is_some() { " or no /proc" } else { "" }
        )),
    }
    Report {
        scenario: "connections".to_owned(),
        parameters: json!({
            "count": plan.count, "sources": plan.sources, "users": plan.users, "in_flight": plan.in_flight,
            "server_rss_before_mb": before.map(|sample| sample.rss_bytes as f64 / 1_048_576.0),
            "server_rss_after_mb": after.map(|sample| sample.rss_bytes as f64 / 1_048_576.0),
            "server_bytes_per_connection": per_connection,
        }),
        rate_per_sec: rate,
        operations: opened as u64,
        duration_secs: connect.as_secs_f64(),
        errors: plan.count.saturating_sub(opened) as u64,
        server: before.zip(after).map(|(before, after)| dchat_bench::process_usage(&before, &after)),
        ..Report::default()
    }
}

/// Starts a worker for connections `first..first + count`; the task ends with how many it
/// opened, once it has opened them all (it keeps holding them).
fn start_worker(
    url: &str,
    setup: &IdleSetup,
    count: usize,
    first: usize,
    plan: &Plan,
    progress: Progress,
) -> anyhow::Result<(tokio::process::Child, tokio::task::JoinHandle<anyhow::Result<usize>>)> {
    let exe = std::env::current_exe().context("find this binary")?;
    let mut child = Command::new(exe)
        .args(["--log", "warn", "connections-worker", "--url", url, "--room", &setup.room_id])
        .args(["--tokens", &setup.tokens.join(",")])
        .args(["--count", &count.to_string(), "--first", &first.to_string()])
        .args(["--sources", &plan.sources.to_string(), "--in-flight", &plan.in_flight.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("start a connections worker")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let done = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut reported = 0;
        while let Some(line) = lines.next_line().await? {
            if let Some(n) = line.strip_prefix("progress ").and_then(|n| n.parse::<usize>().ok()) {
                progress.add((n - reported.min(n)) as u64);
                reported = reported.max(n);
            } else if let Some(n) = line.strip_prefix("opened ").and_then(|n| n.parse::<usize>().ok()) {
                progress.add((n - reported.min(n)) as u64);
                return Ok(n);
            }
        }
        anyhow::bail!("a connections worker exited before opening its connections")
    });
    Ok((child, done))
}

/// `dchat-bench connections-worker`: opens its share, says so, holds them until stdin closes.
pub(super) async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let setup = IdleSetup { room_id: args.room, tokens: args.tokens };
    let progress = Progress::default();
    let reporter = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(500));
            loop {
                ticks.tick().await;
                let _ = writeln!(std::io::stdout(), "progress {}", progress.read().0);
            }
        })
    };
    let held =
        dchat_bench::open_idle(&args.url, &setup, args.count, args.first, args.sources, args.in_flight, &progress)
            .await;
    reporter.abort();
    let held = held?;
    writeln!(std::io::stdout(), "opened {}", held.opened)?;
    // Holds until the parent closes our stdin (or exits).
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    drop(held);
    Ok(())
}
