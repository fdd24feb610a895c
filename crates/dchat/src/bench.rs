//! `dchat bench`: runs a load scenario against the server at `--url`, or against an
//! all-in-one server it starts in this process (fresh data, abuse limits off), and prints a
//! table (and, with `--json`, writes the report).

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Args, Subcommand};
use dchat_bench::{FanoutOptions, IngestOptions, Report, Transport};
use tokio_util::sync::CancellationToken;

use crate::{App, Config, Role};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// R rooms of M WebSocket members, S senders: delivery rate, send-to-receive latency,
    /// and lost/duplicated/out-of-order counts per member.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Rooms [default: 10].
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// WebSocket members per room [default: 10].
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Sending connections, spread over the rooms [default: 4].
        #[arg(long, default_value_t = 4)]
        senders: usize,
        /// Messages per second over all senders; 0 sends as fast as acks allow [default: 1000].
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
    },
    /// Durable appends per second and ack latency, over WebSocket or REST; with
    /// `--baseline`, also raw batched SQLite inserts with the same durability.
    Ingest {
        #[command(flatten)]
        common: Common,
        /// Connections (WebSocket) or workers (REST) [default: 16].
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Sends in flight per WebSocket connection [default: 32].
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// ws or rest [default: ws].
        #[arg(long, default_value = "ws", value_parser = parse_transport)]
        transport: Transport,
        /// Also measure the SQLite baseline in this run.
        #[arg(long)]
        baseline: bool,
    },
}

#[derive(Debug, Args)]
pub struct Common {
    /// Base URL of a running dchat (http://host:port); without it, one is started here.
    #[arg(long)]
    url: Option<String>,
    /// Seconds of load [default: 10].
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
    /// Also write the report(s) as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_transport(raw: &str) -> Result<Transport, String> {
    match raw {
        "ws" | "websocket" => Ok(Transport::WebSocket),
        "rest" | "http" => Ok(Transport::Rest),
        other => Err(format!("expected ws or rest, got {other:?}")),
    }
}

/// A server started for the benchmark, stopped when dropped.
struct LocalServer {
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn target(url: Option<String>) -> anyhow::Result<(String, Option<LocalServer>)> {
    if let Some(url) = url {
        return Ok((url, None));
    }
    let dir = tempfile::tempdir().context("create a data folder")?;
    let mut config = Config::with_data_dir(dir.path());
    config.grpc_bind = "127.0.0.1:0".parse()?;
    config.http_bind = "127.0.0.1:0".parse()?;
    config.gateway.rate_limit = false;
    let app = App::build(config, Role::All).await?;
    let url = format!("http://{}", app.http_addr().context("an HTTP listener")?);
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    tracing::info!(%url, "started an all-in-one server for the benchmark");
    Ok((url, Some(LocalServer { shutdown, _dir: dir })))
}

fn run_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{:x}", nanos % 0xffff_ffff)
}

/// Runs one `dchat bench` command; fails if any correctness counter is not zero.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    let (common, reports) = match command {
        BenchCommand::Fanout { common, rooms, members, senders, rate } => {
            let (url, _server) = target(common.url.clone()).await?;
            let options = FanoutOptions {
                rooms,
                members,
                senders,
                rate_per_sec: rate,
                duration: Duration::from_secs_f64(common.duration_secs),
                run_id: run_id(),
            };
            (common, vec![dchat_bench::fanout(&url, &options).await?])
        }
        BenchCommand::Ingest { common, connections, window, transport, baseline } => {
            let (url, _server) = target(common.url.clone()).await?;
            let duration = Duration::from_secs_f64(common.duration_secs);
            let options = IngestOptions { connections, window, duration, transport, run_id: run_id() };
            let mut reports = vec![dchat_bench::ingest(&url, &options).await?];
            if baseline {
                reports.push(dchat_bench::sqlite_insert_baseline(duration).await?);
            }
            (common, reports)
        }
    };
    report(&common, &reports)
}

fn report(common: &Common, reports: &[Report]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout();
    for report in reports {
        writeln!(stdout, "{}", report.table())?;
    }
    if let [server, baseline] = reports
        && baseline.scenario == "sqlite-baseline"
    {
        writeln!(stdout, "ratio to the SQLite baseline: {:.2}", server.rate_per_sec / baseline.rate_per_sec)?;
    }
    if let Some(path) = &common.json {
        std::fs::write(path, serde_json::to_vec_pretty(reports)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    anyhow::ensure!(reports.iter().all(Report::is_correct), "a correctness counter is not zero");
    Ok(())
}
