//! The `dchat` binary: parses the command line, sets up logging, runs the chosen role
//! until SIGINT or SIGTERM. Everything else lives in the library, where tests reach it.

use std::io::Write;

use clap::Parser;
use dchat::{App, cli::Cli};
use tokio_util::sync::CancellationToken;

// glibc's allocator spent a sixth of the server's CPU under load (perf), and kept the
// memory of argon2's 19 MiB blocks in per-thread arenas; mimalloc does neither.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    dchat::telemetry::init(cli.log.as_deref());
    if let dchat::cli::Command::Bench(command) = cli.command {
        return dchat::bench::run(command).await;
    }
    let (config, role) = cli.into_config()?;
    let app = App::build(config, role).await?;
    // One line on stdout, so that scripts and tests that asked for port 0 learn the real one.
    if let Some(addr) = app.grpc_addr() {
        writeln!(std::io::stdout(), "dchat listening on {addr}")?;
    }
    if let Some(addr) = app.http_addr() {
        writeln!(std::io::stdout(), "dchat http on http://{addr}")?;
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await
}

/// Cancels `shutdown` on the first SIGINT (Ctrl-C) or SIGTERM (docker stop).
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops dchat");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received; stopping"),
        () = terminate => tracing::info!("SIGTERM received; stopping"),
    }
    shutdown.cancel();
}
