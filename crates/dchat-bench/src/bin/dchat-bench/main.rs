//! `dchat-bench`: load scenarios against the server at `--url`, or against one it starts
//! (fresh data, abuse limits off) from the `dchat` binary: as one child process, or as one
//! child process per role. Progress is printed every second while a scenario runs; at the
//! end, a table (each run and the median of the runs) and, with `--json`, the reports as JSON.
//!
//! The load generator is a binary of its own so that the server links none of it; it
//! reaches the server only through its sockets, as any client does.

mod connections;
mod feeds;
mod launch;
mod progress;

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dchat_bench::{FanoutOptions, IngestOptions, Progress, Report, SeedOptions, Transport, WebappOptions};
use launch::{LocalServer, ServerKind};
use tracing_subscriber::EnvFilter;

// The server runs on mimalloc; the load generator does too, so that neither side of a
// measurement pays for glibc's allocator under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// dchat-bench: measure a running dchat, or one started from the `dchat` binary next to
/// this one: fan-out, ingest, idle connections, room feeds, the seed's workload.
#[derive(Debug, Parser)]
#[command(name = "dchat-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
    /// Log filter, as in RUST_LOG [default: info].
    #[arg(long, global = true, env = "DCHAT_LOG")]
    log: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = cli
        .log
        .as_deref()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // Logs go to stderr: stdout carries the report (and the workers' lines to their parent).
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(cli.command))
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// R rooms of M WebSocket members, S senders: delivery rate, send-to-receive latency,
    /// and lost/duplicated/out-of-order counts per member; with `--baseline`, the same
    /// against a bare broadcast server (no storage, no auth).
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Rooms [default: 10].
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// WebSocket members per room [default: 10].
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Distinct users behind each room's members; 0 = one per member [default: 0].
        #[arg(long, default_value_t = 0)]
        users_per_room: usize,
        /// Sending connections; sender s sends to room s % rooms, so fewer senders than rooms
        /// leave rooms without messages [default: 10, one per room].
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Messages per second over all senders; 0 sends as fast as acks allow [default: 1000].
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// A sweep: comma-separated message rates, run in turn (overrides --rate).
        #[arg(long, value_delimiter = ',')]
        rates: Vec<f64>,
        /// Also run each step against the bare broadcast baseline and report the ratio.
        #[arg(long)]
        baseline: bool,
        /// Seconds of sending before the measured window, whose latencies are not recorded [default: 1].
        #[arg(long, default_value_t = 1.0)]
        warmup_secs: f64,
        /// Write an SVG chart of latency percentiles against delivery rate here.
        #[arg(long)]
        chart: Option<PathBuf>,
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
    /// One user subscribed to N rooms (500 to a connection): the server's memory per room
    /// feed, the ring each room's live messages pass through on a gateway.
    Feeds {
        #[command(flatten)]
        common: Common,
        /// Rooms to create and subscribe to [default: 2000].
        #[arg(long, default_value_t = 2000)]
        rooms: usize,
    },
    /// N idle, subscribed WebSocket connections: the server's memory per connection and
    /// the connect rate. Above one process's descriptor limit, several processes share them.
    Connections {
        #[command(flatten)]
        common: Common,
        /// Connections to open and hold [default: 1000].
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Load-generator processes; 0 = one per 9,000 connections [default: 0].
        #[arg(long, default_value_t = 0)]
        processes: usize,
        /// Source addresses 127.0.0.1 .. 127.0.0.K to connect from [default: 4].
        #[arg(long, default_value_t = 4)]
        sources: usize,
        /// Users the connections log in as [default: 8].
        #[arg(long, default_value_t = 8)]
        users: usize,
        /// Handshakes in flight per process [default: 64].
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
    },
    /// The seed's HTTP workload (register, login, create and join a room, then append and
    /// list 4:2) with U users, paced like its Locust file or closed loop.
    Seed {
        #[command(flatten)]
        common: Common,
        /// Simulated users [default: 200].
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// Wait 0.5-1.5 s between tasks, as the seed's Locust users do (default: no wait).
        #[arg(long)]
        paced: bool,
    },
    /// What one incoming message costs the web app in headless Chromium, with many
    /// messages in the room: from the frame's arrival to the end of its render, layout
    /// included. Needs Debian's chromium and chromium-driver.
    Webapp {
        #[command(flatten)]
        common: Common,
        /// Messages in the room before the measured ones, all received by the page [default: 5000].
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        /// Messages measured, one at a time [default: 100].
        #[arg(long, default_value_t = 100)]
        measured: usize,
        /// The room to measure in [default: a fresh one]; `general` for apps that know no
        /// `#/room/` addresses.
        #[arg(long)]
        room: Option<String>,
        /// The Chromium binary [default: /usr/bin/chromium].
        #[arg(long, default_value = "/usr/bin/chromium")]
        chromium: PathBuf,
        /// The chromedriver binary [default: /usr/bin/chromedriver].
        #[arg(long, default_value = "/usr/bin/chromedriver")]
        chromedriver: PathBuf,
    },
    /// Serve the bare broadcast baseline (used by `fanout --baseline`).
    #[command(hide = true)]
    BareServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: std::net::SocketAddr,
    },
    /// Open and hold a share of `connections` (started by it).
    #[command(hide = true)]
    ConnectionsWorker(connections::WorkerArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Base URL of a running dchat (http://host:port); without it, one is started.
    #[arg(long)]
    url: Option<String>,
    /// The server to start when no --url is given: all (one child process) or split (one
    /// child process per role) [default: all].
    #[arg(long, value_enum, default_value_t = ServerKind::All)]
    server: ServerKind,
    /// The `dchat` binary to start when no --url is given [default: the `dchat` next to
    /// this binary, as `cargo build --release` leaves it].
    #[arg(long, env = "DCHAT_BIN")]
    dchat_bin: Option<PathBuf>,
    /// Process id of the server at --url, to report its CPU and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds of load per run [default: 10].
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
    /// Runs of each step; the table ends with their median [default: 1].
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Also write the report(s) as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl Common {
    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_secs)
    }

    /// The server to measure: the given URL, or a fresh one (kept alive by the guard).
    async fn target(&self) -> anyhow::Result<(String, Option<u32>, Option<LocalServer>)> {
        if let Some(url) = &self.url {
            return Ok((url.clone(), self.server_pid, None));
        }
        let server = LocalServer::start(self.server, self.dchat_bin.as_deref()).await?;
        Ok((server.url.clone(), server.pid, Some(server)))
    }
}

fn parse_transport(raw: &str) -> Result<Transport, String> {
    match raw {
        "ws" | "websocket" => Ok(Transport::WebSocket),
        "rest" | "http" => Ok(Transport::Rest),
        other => Err(format!("expected ws or rest, got {other:?}")),
    }
}

fn run_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{:x}", nanos % 0xffff_ffff)
}

/// Runs one command; fails if any correctness counter is not zero.
async fn run(command: BenchCommand) -> anyhow::Result<()> {
    let (common, reports) = match command {
        BenchCommand::Fanout {
            common,
            rooms,
            members,
            users_per_room,
            senders,
            rate,
            rates,
            baseline,
            warmup_secs,
            chart,
        } => {
            let rates = if rates.is_empty() { vec![rate] } else { rates };
            let mut medians = Vec::new();
            let mut bare_medians = Vec::new();
            for rate in rates {
                let options = |server_pid| FanoutOptions {
                    rooms,
                    members,
                    users_per_room,
                    senders,
                    rate_per_sec: rate,
                    duration: common.duration(),
                    warmup: Duration::from_secs_f64(warmup_secs),
                    run_id: run_id(),
                    server_pid,
                    progress: Progress::default(),
                };
                let runs = repeat(&common, "deliveries", async || {
                    let (url, pid, _server) = common.target().await?;
                    let options = options(pid);
                    let fanout = dchat_bench::fanout(&url, &options);
                    Ok(progress::during("fanout", "deliveries", &options.progress, fanout).await?)
                })
                .await?;
                medians.push(runs);
                if baseline {
                    let runs = repeat(&common, "deliveries", async || {
                        let bare = LocalServer::start_bare().await?;
                        let options = options(bare.pid);
                        let fanout = dchat_bench::fanout_bare(&bare.url, &options);
                        Ok(progress::during("fanout-bare", "deliveries", &options.progress, fanout).await?)
                    })
                    .await?;
                    print_ratio("bare broadcast", medians.last(), &runs);
                    bare_medians.push(runs);
                }
            }
            if let Some(path) = &chart {
                let title = format!("dchat fan-out: {rooms} rooms x {members} members, {senders} senders");
                dchat_bench::latency_chart(&medians, &bare_medians, &title, path)?;
                tracing::info!(path = %path.display(), "wrote the latency chart");
            }
            (common, medians.into_iter().chain(bare_medians).collect())
        }
        BenchCommand::Ingest { common, connections, window, transport, baseline } => {
            let mut reports = vec![
                repeat(&common, "appends", async || {
                    let (url, _, _server) = common.target().await?;
                    let options = IngestOptions {
                        connections,
                        window,
                        duration: common.duration(),
                        transport,
                        run_id: run_id(),
                        progress: Progress::default(),
                    };
                    let ingest = dchat_bench::ingest(&url, &options);
                    Ok(progress::during("ingest", "appends", &options.progress, ingest).await?)
                })
                .await?,
            ];
            if baseline {
                let runs =
                    repeat(&common, "rows", async || Ok(dchat_bench::sqlite_insert_baseline(common.duration()).await?))
                        .await?;
                print_ratio("SQLite baseline", reports.first(), &runs);
                reports.push(runs);
            }
            (common, reports)
        }
        BenchCommand::Connections { common, count, processes, sources, users, in_flight } => {
            let plan = connections::Plan { count, processes, sources, users, in_flight };
            let report = repeat(&common, "connections", async || {
                let (url, pid, _server) = common.target().await?;
                connections::run(&url, pid, &plan).await
            })
            .await?;
            (common, vec![report])
        }
        BenchCommand::Feeds { common, rooms } => {
            let report = repeat(&common, "subscriptions", async || {
                let (url, pid, _server) = common.target().await?;
                feeds::run(&url, pid, rooms).await
            })
            .await?;
            (common, vec![report])
        }
        BenchCommand::Seed { common, users, paced } => {
            let report = repeat(&common, "requests", async || {
                let (url, pid, _server) = common.target().await?;
                let options = SeedOptions {
                    users,
                    paced,
                    duration: common.duration(),
                    run_id: run_id(),
                    server_pid: pid,
                    progress: Progress::default(),
                };
                let seed = dchat_bench::seed(&url, &options);
                Ok(progress::during("seed", "requests", &options.progress, seed).await?)
            })
            .await?;
            (common, vec![report])
        }
        BenchCommand::Webapp { common, messages, measured, room, chromium, chromedriver } => {
            let report = repeat(&common, "messages", async || {
                let (url, _, _server) = common.target().await?;
                let options = WebappOptions {
                    messages,
                    measured,
                    room: room.clone(),
                    chromium: chromium.clone(),
                    chromedriver: chromedriver.clone(),
                    run_id: run_id(),
                };
                Ok(dchat_bench::webapp(&url, &options).await?)
            })
            .await?;
            (common, vec![report])
        }
        BenchCommand::BareServer { bind } => return launch::serve_bare_here(bind).await,
        BenchCommand::ConnectionsWorker(args) => return connections::worker(args).await,
    };
    finish(&common, &reports)
}

/// Runs `scenario` `common.runs` times, prints each run, and returns the median.
async fn repeat(
    common: &Common,
    unit: &str,
    mut scenario: impl AsyncFnMut() -> anyhow::Result<Report>,
) -> anyhow::Result<Report> {
    let mut runs = Vec::new();
    for run in 0..common.runs.max(1) {
        let report = scenario().await?;
        progress::print(&format!("run {} of {}: {unit}\n{}", run + 1, common.runs.max(1), report.table()));
        runs.push(report);
    }
    dchat_bench::median(&runs).context("no run")
}

fn print_ratio(baseline_name: &str, dchat: Option<&Report>, baseline: &Report) {
    if let Some(dchat) = dchat {
        let ratio = dchat.rate_per_sec / baseline.rate_per_sec.max(f64::MIN_POSITIVE);
        progress::print(&format!("ratio to the {baseline_name}: {ratio:.2}"));
    }
}

fn finish(common: &Common, reports: &[Report]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "== medians ==")?;
    for report in reports {
        writeln!(stdout, "{}", report.table())?;
    }
    if let Some(path) = &common.json {
        std::fs::write(path, serde_json::to_vec_pretty(reports)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    anyhow::ensure!(reports.iter().all(Report::is_correct), "a correctness counter is not zero");
    Ok(())
}
