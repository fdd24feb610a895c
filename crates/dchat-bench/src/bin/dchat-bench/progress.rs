//! Live progress on stderr: one line per second with the rate of the last second, so a
//! long run shows at once whether it is healthy.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use dchat_bench::Progress;
use tokio::task::JoinHandle;

/// Runs `scenario`, printing what it counts into `progress` every second meanwhile.
pub(super) async fn during<T>(
    label: &'static str,
    unit: &'static str,
    progress: &Progress,
    scenario: impl Future<Output = T>,
) -> T {
    let ticker = start(label, unit, progress.clone());
    let outcome = scenario.await;
    ticker.abort();
    outcome
}

/// Prints `progress` every second until the returned task is aborted.
fn start(label: &'static str, unit: &'static str, progress: Progress) -> JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.tick().await;
        let mut last = 0;
        loop {
            ticks.tick().await;
            let (done, errors) = progress.read();
            print(&format!(
                "  {label} {:>4.0}s  {:>9} {unit}/s  {:>11} {unit} in all  {errors} errors",
                started.elapsed().as_secs_f64(),
                done - last,
                done
            ));
            last = done;
        }
    })
}

/// One line on stderr (the report itself goes to stdout).
pub(super) fn print(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
