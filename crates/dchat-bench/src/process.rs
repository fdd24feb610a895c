//! What a server process uses, read from `/proc` (Linux): resident memory and CPU time.
//! Elsewhere every reading is `None` and reports simply leave these figures out.

use std::time::Instant;

use serde::Serialize;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSample {
    at: Instant,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
    pub rss_bytes: u64,
}

/// A process's use between two samples.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ProcessUsage {
    /// CPU time over wall time; 100 is one core busy.
    pub cpu_percent: f64,
    /// Resident memory at the second sample.
    pub rss_mb: f64,
}

/// `/proc` reports CPU times in USER_HZ, which Linux fixes at 100 for user space.
const TICKS_PER_SEC: f64 = 100.0;

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `None` if the process is gone or
/// this is not Linux.
pub fn sample(pid: u32) -> Option<ProcessSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields are counted after its last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), so utime (14) and stime (15) sit at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(ProcessSample { at: Instant::now(), cpu_ticks: utime + stime, rss_bytes: rss_kb * 1024 })
}

/// Use between `before` and `after`.
pub fn usage(before: &ProcessSample, after: &ProcessSample) -> ProcessUsage {
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
    let cpu = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / TICKS_PER_SEC;
    ProcessUsage { cpu_percent: 100.0 * cpu / wall, rss_mb: after.rss_bytes as f64 / 1_048_576.0 }
}

/// Samples `pid` (if any) now; pair with [`finish`] around a measured window.
pub(crate) fn start(pid: Option<u32>) -> Option<ProcessSample> {
    pid.and_then(sample)
}

pub(crate) fn finish(pid: Option<u32>, before: Option<ProcessSample>) -> Option<ProcessUsage> {
    let after = pid.and_then(sample)?;
    Some(usage(&before?, &after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_sampled_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let first = sample(std::process::id()).expect("a sample of this process");
        let busy_until = Instant::now() + std::time::Duration::from_millis(50);
        while Instant::now() < busy_until {
            std::hint::spin_loop();
        }
        let second = sample(std::process::id()).expect("a second sample");
        let used = usage(&first, &second);
        assert!(second.rss_bytes > 0);
        assert!(used.cpu_percent >= 0.0 && used.rss_mb > 0.0);
    }
}
