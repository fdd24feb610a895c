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

fn main() -> anyhow::Result<()> {
    no_transparent_huge_pages();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// Opts this process out of transparent huge pages, before the runtime's threads allocate.
///
/// Where the kernel backs every aligned anonymous region with 2 MiB pages ("always", a
/// common default), each thread's allocator region becomes resident in 2 MiB steps:
/// `dchat serve` measured 43 MB with ten idle WebSockets instead of 23 MB, for no gain in
/// a heap of small objects (Redis and others advise the same).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes a flag of this
    // process; it touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    dchat::telemetry::init(cli.log.as_deref());
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
