//! The server a benchmark measures when no `--url` is given: started in this process, or
//! as child processes of this same binary (all-in-one, or one process per role), each on
//! port 0 with a fresh data folder and abuse limits off.

use std::{path::Path, process::Stdio};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
};
use tokio_util::sync::CancellationToken;

use crate::{App, Config, Role};

/// Where the benchmark's server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerKind {
    /// In this process, sharing its runtime with the load generator.
    Inproc,
    /// `dchat serve` as a child process.
    All,
    /// `dchat room`, `auth`, `message`, `presence` and `gateway`, one child process each.
    Split,
}

/// A server started for the benchmark; stopped when dropped.
#[derive(Debug)]
pub(super) struct LocalServer {
    pub(super) url: String,
    /// The process holding the WebSocket connections (the gateway's), when it is a child.
    pub(super) pid: Option<u32>,
    shutdown: CancellationToken,
    children: Vec<Child>,
    /// The servers' data and logs, deleted with the server.
    dir: tempfile::TempDir,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for child in &mut self.children {
            // kill_on_drop would also do it; starting it here stops them all at once.
            let _ = child.start_kill();
        }
    }
}

impl LocalServer {
    fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("create a data folder")?;
        Ok(Self { url: String::new(), pid: None, shutdown: CancellationToken::new(), children: Vec::new(), dir })
    }

    /// dchat, run as `kind` says.
    pub(super) async fn start(kind: ServerKind) -> anyhow::Result<Self> {
        let mut server = Self::new()?;
        match kind {
            ServerKind::Inproc => server.start_in_process().await?,
            ServerKind::All => {
                let lines =
                    server.spawn(&["serve", "--grpc-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0"]).await?;
                server.url = http_url(&lines)?;
            }
            ServerKind::Split => server.start_split().await?,
        }
        tracing::info!(url = %server.url, ?kind, "started a server for the benchmark");
        Ok(server)
    }

    /// The bare broadcast baseline, started like `kind` starts dchat: in this process, or as
    /// a child process (`split` has no roles to split, so it is one process too).
    pub(super) async fn start_bare(kind: ServerKind) -> anyhow::Result<Self> {
        let mut server = Self::new()?;
        if kind == ServerKind::Inproc {
            let listener = TcpListener::bind("127.0.0.1:0").await.context("bind the baseline")?;
            server.url = format!("http://{}", listener.local_addr()?);
            tokio::spawn(dchat_bench::serve_bare(listener, server.shutdown.clone()));
        } else {
            let lines = server.spawn(&["bench", "bare-server"]).await?;
            server.url = http_url(&lines)?;
        }
        Ok(server)
    }

    async fn start_in_process(&mut self) -> anyhow::Result<()> {
        let mut config = Config::with_data_dir(self.dir.path());
        config.grpc_bind = "127.0.0.1:0".parse()?;
        config.http_bind = "127.0.0.1:0".parse()?;
        config.gateway.rate_limit = false;
        // `bench feeds` holds one user on as many rooms as it is asked to.
        config.gateway.ws_max_subscriptions_per_user = usize::MAX;
        let app = App::build(config, Role::All).await?;
        self.url = format!("http://{}", app.http_addr().context("an HTTP listener")?);
        tokio::spawn(app.run_until_stopped(self.shutdown.clone()));
        Ok(())
    }

    /// Room first (auth and message call it), then the others, then the gateway in front.
    async fn start_split(&mut self) -> anyhow::Result<()> {
        let room = grpc_addr(&self.spawn(&["room", "--bind", "127.0.0.1:0"]).await?)?;
        let mut role = async |name: &str| {
            let lines = self.spawn(&[name, "--bind", "127.0.0.1:0", "--room-addr", &room]).await?;
            grpc_addr(&lines)
        };
        let auth = role("auth").await?;
        let message = role("message").await?;
        let presence = role("presence").await?;
        let gateway = self
            .spawn(&[
                "gateway",
                "--bind",
                "127.0.0.1:0",
                "--auth-addr",
                &auth,
                "--room-addr",
                &room,
                "--message-addr",
                &message,
                "--presence-addr",
                &presence,
            ])
            .await?;
        self.url = http_url(&gateway)?;
        Ok(())
    }

    /// Starts this binary with `args` as one of this server's processes (the last one
    /// started is the one whose pid is reported) and returns the lines it printed.
    async fn spawn(&mut self, args: &[&str]) -> anyhow::Result<Vec<String>> {
        let (child, lines) = spawn(self.dir.path(), args).await?;
        self.pid = child.id();
        self.children.push(child);
        Ok(lines)
    }
}

/// Starts this binary with `args` and returns once it printed its addresses (its ports are
/// bound by then). Its log goes to a file in the data folder.
async fn spawn(data_dir: &Path, args: &[&str]) -> anyhow::Result<(Child, Vec<String>)> {
    let exe = std::env::current_exe().context("find this binary")?;
    let log_path = data_dir.join(format!("{}.log", args[0]));
    let log = std::fs::File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
    let mut child = Command::new(exe)
        .args(args)
        .args(["--data-dir", &data_dir.display().to_string(), "--rate-limit", "off", "--log", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("start a server process")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let mut reader = BufReader::new(stdout).lines();
    let mut lines = Vec::new();
    // `serve` prints two lines (gRPC, then HTTP); a role prints one.
    let expected = if args[0] == "serve" { 2 } else { 1 };
    while lines.len() < expected {
        let line = reader.next_line().await?.with_context(|| {
            format!("`dchat {}` exited before listening; see {}", args.join(" "), log_path.display())
        })?;
        lines.push(line);
    }
    // Keep draining stdout, so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = reader.next_line().await {} });
    Ok((child, lines))
}

fn http_url(lines: &[String]) -> anyhow::Result<String> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix("dchat http on "))
        .map(str::to_owned)
        .with_context(|| format!("no HTTP address in {lines:?}"))
}

fn grpc_addr(lines: &[String]) -> anyhow::Result<String> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix("dchat listening on "))
        .map(str::to_owned)
        .with_context(|| format!("no gRPC address in {lines:?}"))
}

/// `dchat bench bare-server`: serves the baseline until SIGINT (the bench kills its child
/// processes when it is done with them).
pub(super) async fn serve_bare_here(bind: std::net::SocketAddr) -> anyhow::Result<()> {
    use std::io::Write;
    let listener = TcpListener::bind(bind).await.with_context(|| format!("bind {bind}"))?;
    writeln!(std::io::stdout(), "dchat http on http://{}", listener.local_addr()?)?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    dchat_bench::serve_bare(listener, shutdown).await.context("serve the baseline")
}
