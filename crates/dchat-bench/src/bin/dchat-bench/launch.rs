//! The server a benchmark measures when no `--url` is given: child processes of the
//! `dchat` binary (all-in-one, or one process per role), each on port 0 with a fresh data
//! folder and abuse limits off; and the bare broadcast baseline, a child process of this one.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
};
use tokio_util::sync::CancellationToken;

/// Where the benchmark's server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ServerKind {
    /// `dchat serve` as a child process.
    All,
    /// `dchat room`, `auth`, `message`, `presence` and `gateway`, one child process each.
    Split,
}

/// A server started for the benchmark; stopped when dropped.
#[derive(Debug)]
pub(super) struct LocalServer {
    pub(super) url: String,
    /// The process holding the WebSocket connections (the gateway's).
    pub(super) pid: Option<u32>,
    children: Vec<Child>,
    /// The servers' data and logs, deleted with the server.
    dir: tempfile::TempDir,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        for child in &mut self.children {
            // kill_on_drop would also do it; starting it here stops them all at once.
            let _ = child.start_kill();
        }
    }
}

impl LocalServer {
    fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("create a data folder")?;
        Ok(Self { url: String::new(), pid: None, children: Vec::new(), dir })
    }

    /// dchat, run from `dchat_bin` (or the `dchat` next to this binary) as `kind` says.
    pub(super) async fn start(kind: ServerKind, dchat_bin: Option<&Path>) -> anyhow::Result<Self> {
        let dchat = match dchat_bin {
            Some(path) => path.to_owned(),
            None => sibling_dchat()?,
        };
        let mut server = Self::new()?;
        match kind {
            ServerKind::All => {
                let lines = server
                    .spawn(&dchat, &["serve", "--grpc-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0"])
                    .await?;
                server.url = http_url(&lines)?;
            }
            ServerKind::Split => server.start_split(&dchat).await?,
        }
        tracing::info!(url = %server.url, ?kind, dchat = %dchat.display(), "started a server for the benchmark");
        Ok(server)
    }

    /// The bare broadcast baseline, as a child process of this binary, so that it runs
    /// apart from the load generator as the server does.
    pub(super) async fn start_bare() -> anyhow::Result<Self> {
        let mut server = Self::new()?;
        let this = std::env::current_exe().context("find this binary")?;
        let lines = server.spawn(&this, &["bare-server"]).await?;
        server.url = http_url(&lines)?;
        Ok(server)
    }

    /// Room first (auth and message call it), then the others, then the gateway in front.
    async fn start_split(&mut self, dchat: &Path) -> anyhow::Result<()> {
        let room = grpc_addr(&self.spawn(dchat, &["room", "--bind", "127.0.0.1:0"]).await?)?;
        let mut role = async |name: &str| {
            let lines = self.spawn(dchat, &[name, "--bind", "127.0.0.1:0", "--room-addr", &room]).await?;
            grpc_addr(&lines)
        };
        let auth = role("auth").await?;
        let message = role("message").await?;
        let presence = role("presence").await?;
        let gateway = self
            .spawn(
                dchat,
                &[
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
                ],
            )
            .await?;
        self.url = http_url(&gateway)?;
        Ok(())
    }

    /// Starts `program` with `args` as one of this server's processes (the last one
    /// started is the one whose pid is reported) and returns the lines it printed.
    async fn spawn(&mut self, program: &Path, args: &[&str]) -> anyhow::Result<Vec<String>> {
        let (child, lines) = spawn(program, self.dir.path(), args).await?;
        self.pid = child.id();
        self.children.push(child);
        Ok(lines)
    }
}

/// The `dchat` in this binary's folder: `cargo build --release` puts both there.
fn sibling_dchat() -> anyhow::Result<PathBuf> {
    let this = std::env::current_exe().context("find this binary")?;
    let dchat = this.with_file_name(format!("dchat{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        dchat.is_file(),
        "no dchat binary at {} to start a server from: build it (`cargo build --release` builds both), \
         or pass --dchat-bin, or measure a running server with --url",
        dchat.display()
    );
    Ok(dchat)
}

/// Starts `program` with `args` and returns once it printed its addresses (its ports are
/// bound by then). Its log goes to a file in the data folder. A `dchat` gets the data
/// folder and has its abuse limits off; the bare baseline takes neither option.
async fn spawn(program: &Path, data_dir: &Path, args: &[&str]) -> anyhow::Result<(Child, Vec<String>)> {
    let log_path = data_dir.join(format!("{}.log", args[0]));
    let log = std::fs::File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
    let mut command = Command::new(program);
    command.args(args).args(["--log", "warn"]);
    if args[0] != "bare-server" {
        // `dchat-bench feeds` holds one user on as many rooms as it is asked to.
        let config = data_dir.join("bench.toml");
        std::fs::write(&config, "[gateway]\nws_max_subscriptions_per_user = 1000000000\n")
            .with_context(|| format!("write {}", config.display()))?;
        command.args(["--data-dir", &data_dir.display().to_string(), "--rate-limit", "off"]);
        command.arg("--config").arg(&config);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", program.display()))?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let mut reader = BufReader::new(stdout).lines();
    let mut lines = Vec::new();
    // `serve` prints two lines (gRPC, then HTTP); a role prints one.
    let expected = if args[0] == "serve" { 2 } else { 1 };
    while lines.len() < expected {
        let line = reader.next_line().await?.with_context(|| {
            format!("`{} {}` exited before listening; see {}", program.display(), args.join(" "), log_path.display())
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

/// `dchat-bench bare-server`: serves the baseline until SIGINT (the bench kills its child
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
