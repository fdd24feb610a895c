//! What a scenario measured, as a table for people and JSON for tools.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub(crate) fn from_micros(histogram: &Histogram<u64>) -> Self {
        let ms = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
        Self {
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: histogram.max() as f64 / 1000.0,
            samples: histogram.len(),
        }
    }
}

/// One route's share of a mixed workload (the seed scenario).
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    pub route: String,
    pub requests: u64,
    pub rate_per_sec: f64,
    pub errors: u64,
    pub latency: Latency,
}

/// One scenario's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    /// The parameters, as given.
    pub parameters: serde_json::Value,
    /// Operations per second: deliveries for fan-out, acknowledged appends for ingest.
    pub rate_per_sec: f64,
    pub operations: u64,
    pub duration_secs: f64,
    pub latency: Latency,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub errors: u64,
    /// What the server process used during the measured window, when its pid is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::ProcessUsage>,
    /// Per-route figures, for scenarios that mix several requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteReport>,
}

impl Report {
    /// Whether every delivery was accounted for: nothing lost, doubled or reordered.
    pub fn is_correct(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0 && self.errors == 0
    }

    /// The server's CPU time per operation, in microseconds, when its usage is known. CPU
    /// percentages at different rates do not say whether each operation got cheaper or
    /// dearer; this does (one core busy for a second is 1,000,000 µs).
    pub fn server_cpu_us_per_op(&self) -> Option<f64> {
        let server = self.server?;
        (self.rate_per_sec > 0.0).then(|| server.cpu_percent / 100.0 * 1_000_000.0 / self.rate_per_sec)
    }

    /// A few aligned lines for the terminal.
    pub fn table(&self) -> String {
        let mut table = self.summary_line();
        if let Some(server) = &self.server {
            table.push_str(&format!("\n{:<14} server CPU {:.0}% RSS {:.1} MB", "", server.cpu_percent, server.rss_mb));
            if let Some(per_op) = self.server_cpu_us_per_op() {
                table.push_str(&format!(", {per_op:.1} µs of CPU per operation"));
            }
        }
        for route in &self.routes {
            let l = &route.latency;
            table.push_str(&format!(
                "\n  {:<28} {:>9.0}/s  n {:>8}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  err {}",
                route.route, route.rate_per_sec, route.requests, l.p50_ms, l.p99_ms, l.max_ms, route.errors
            ));
        }
        table
    }

    fn summary_line(&self) -> String {
        let l = &self.latency;
        format!(
            "{:<10} {:>12.0}/s  ops {:>9}  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>8.2} ms  lost {} dup {} ooo {} err {}",
            self.scenario,
            self.rate_per_sec,
            self.operations,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            self.lost,
            self.duplicated,
            self.out_of_order,
            self.errors
        )
    }
}

/// A histogram for latencies from 1 µs to 60 s at 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// The median of several runs of one scenario: each figure is the median of that figure
/// (so p99 is the median p99, not the p99 of all samples); counters of loss, duplication,
/// reordering and errors are summed, since any one of them in any run matters.
pub fn median(runs: &[Report]) -> Option<Report> {
    let first = runs.first()?;
    let server = runs.iter().map(|run| run.server).collect::<Option<Vec<_>>>().map(|servers| crate::ProcessUsage {
        cpu_percent: middle(servers.iter().map(|server| server.cpu_percent)),
        rss_mb: middle(servers.iter().map(|server| server.rss_mb)),
    });
    let routes = first
        .routes
        .iter()
        .enumerate()
        .map(|(i, route)| {
            // Runs of one scenario list the same routes in the same (sorted) order.
            let same: Vec<&RouteReport> = runs.iter().filter_map(|run| run.routes.get(i)).collect();
            RouteReport {
                route: route.route.clone(),
                requests: middle(same.iter().map(|route| route.requests as f64)) as u64,
                rate_per_sec: middle(same.iter().map(|route| route.rate_per_sec)),
                errors: same.iter().map(|route| route.errors).sum(),
                latency: Latency::median(same.iter().map(|route| &route.latency)),
            }
        })
        .collect();
    Some(Report {
        scenario: format!("{} (median of {})", first.scenario, runs.len()),
        parameters: first.parameters.clone(),
        rate_per_sec: middle(runs.iter().map(|run| run.rate_per_sec)),
        operations: middle(runs.iter().map(|run| run.operations as f64)) as u64,
        duration_secs: middle(runs.iter().map(|run| run.duration_secs)),
        latency: Latency::median(runs.iter().map(|run| &run.latency)),
        lost: runs.iter().map(|run| run.lost).sum(),
        duplicated: runs.iter().map(|run| run.duplicated).sum(),
        out_of_order: runs.iter().map(|run| run.out_of_order).sum(),
        errors: runs.iter().map(|run| run.errors).sum(),
        server,
        routes,
    })
}

impl Latency {
    /// Each percentile the median of that percentile.
    fn median<'a>(latencies: impl Iterator<Item = &'a Latency> + Clone) -> Self {
        Self {
            p50_ms: middle(latencies.clone().map(|l| l.p50_ms)),
            p90_ms: middle(latencies.clone().map(|l| l.p90_ms)),
            p99_ms: middle(latencies.clone().map(|l| l.p99_ms)),
            p999_ms: middle(latencies.clone().map(|l| l.p999_ms)),
            max_ms: middle(latencies.clone().map(|l| l.max_ms)),
            samples: middle(latencies.map(|l| l.samples as f64)) as u64,
        }
    }
}

/// The middle value (the upper one of an even count); 0 for none.
fn middle(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessUsage;

    #[test]
    fn cpu_per_operation_is_the_server_s_busy_time_shared_out_over_the_operations() {
        // Half a core for 100,000 operations a second: 5 µs each.
        let report = Report {
            rate_per_sec: 100_000.0,
            server: Some(ProcessUsage { cpu_percent: 50.0, rss_mb: 10.0 }),
            ..Report::default()
        };
        assert_eq!(report.server_cpu_us_per_op(), Some(5.0));
        assert!(report.table().contains("5.0 µs of CPU per operation"), "{}", report.table());
        let idle = Report { rate_per_sec: 0.0, ..report.clone() };
        assert_eq!(idle.server_cpu_us_per_op(), None);
        let unknown = Report { server: None, ..report };
        assert_eq!(unknown.server_cpu_us_per_op(), None);
    }
}
