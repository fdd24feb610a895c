//! The `dchat-bench` command line end to end: servers started from the `dchat` binary as
//! child processes, the median table on stdout, progress and server figures on stderr.
//!
//! `cargo test` at the workspace root builds the `dchat` binary next to this one (its own
//! integration tests need it); a test run of this crate alone may find none, and says so.

use std::path::PathBuf;

use tokio::process::Command;

/// The `dchat` binary next to `dchat-bench`, if one has been built; says so loudly if not.
// A skipped test must be visible in the test output, which is what stderr is for here.
#[allow(clippy::print_stderr)]
fn dchat_binary() -> Option<PathBuf> {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_dchat-bench"));
    let dchat = bench.with_file_name(format!("dchat{}", std::env::consts::EXE_SUFFIX));
    if dchat.is_file() {
        return Some(dchat);
    }
    // CI runs `cargo test` at the root, which always builds it: a miss there is a failure.
    assert!(std::env::var_os("CI").is_none(), "CI must find the dchat binary at {}", dchat.display());
    eprintln!("SKIPPED: no dchat binary at {}; run `cargo test` at the workspace root to build it", dchat.display());
    None
}

async fn bench(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dchat-bench"))
        .args(["--log", "warn"])
        .args(args)
        .env_remove("DCHAT_DATA_DIR")
        .env_remove("DCHAT_BIN")
        .output()
        .await
        .expect("dchat-bench starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stdout, stderr)
}

/// Connections spread over two worker processes and three source addresses, against
/// `dchat serve` started by the bench.
#[tokio::test]
async fn the_bench_spreads_connections_over_worker_processes() {
    if dchat_binary().is_none() {
        return;
    }
    let (ok, stdout, stderr) = bench(&[
        "connections",
        "--count",
        "60",
        "--processes",
        "2",
        "--sources",
        "3",
        "--users",
        "2",
        "--server",
        "all",
    ])
    .await;
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("connections (median of 1)") && stdout.contains("ops        60"), "{stdout}");
    assert!(stderr.contains("60 idle connections: server RSS"), "{stderr}");
}

/// Fan-out against the split topology (one `dchat` process per role) and the bare
/// baseline (a child process of the bench), with the ratio between them.
#[tokio::test]
async fn the_bench_measures_the_split_topology_against_the_bare_baseline() {
    if dchat_binary().is_none() {
        return;
    }
    let (ok, stdout, stderr) = bench(&[
        "fanout",
        "--server",
        "split",
        "--rooms",
        "2",
        "--members",
        "3",
        "--senders",
        "2",
        "--rate",
        "200",
        "--duration-secs",
        "1",
        "--warmup-secs",
        "0.2",
        "--baseline",
    ])
    .await;
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("ratio to the bare broadcast"), "{stderr}");
    assert!(stdout.contains("== medians =="), "{stdout}");
}

/// A bench told to start a server from a binary that is not there says what to do.
#[tokio::test]
async fn a_missing_dchat_binary_is_named_with_the_way_out() {
    let (ok, _, stderr) = bench(&["seed", "--dchat-bin", "/nonexistent/dchat", "--duration-secs", "1"]).await;
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/dchat"), "{stderr}");
}
