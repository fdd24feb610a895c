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

    /// A few aligned lines for the terminal.
    pub fn table(&self) -> String {
        let mut table = self.summary_line();
        if let Some(server) = &self.server {
            table.push_str(&format!("\n{:<14} server CPU {:.0}% RSS {:.1} MB", "", server.cpu_percent, server.rss_mb));
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
    let mid = |figure: &dyn Fn(&Report) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let server = runs.iter().all(|run| run.server.is_some()).then(|| crate::ProcessUsage {
        cpu_percent: mid(&|run| run.server.map_or(0.0, |server| server.cpu_percent)),
        rss_mb: mid(&|run| run.server.map_or(0.0, |server| server.rss_mb)),
    });
    let routes = first
        .routes
        .iter()
        .enumerate()
        .map(|(i, route)| {
            let of = |run: &Report| run.routes.get(i).cloned().unwrap_or_else(|| route.clone());
            RouteReport {
                route: route.route.clone(),
                requests: mid(&|run| of(run).requests as f64) as u64,
                rate_per_sec: mid(&|run| of(run).rate_per_sec),
                errors: runs.iter().map(|run| of(run).errors).sum(),
                latency: Latency {
                    p50_ms: mid(&|run| of(run).latency.p50_ms),
                    p90_ms: mid(&|run| of(run).latency.p90_ms),
                    p99_ms: mid(&|run| of(run).latency.p99_ms),
                    p999_ms: mid(&|run| of(run).latency.p999_ms),
                    max_ms: mid(&|run| of(run).latency.max_ms),
                    samples: mid(&|run| of(run).latency.samples as f64) as u64,
                },
            }
        })
        .collect();
    Some(Report {
        scenario: format!("{} (median of {})", first.scenario, runs.len()),
        parameters: first.parameters.clone(),
        rate_per_sec: mid(&|run| run.rate_per_sec),
        operations: mid(&|run| run.operations as f64) as u64,
        duration_secs: mid(&|run| run.duration_secs),
        latency: Latency {
            p50_ms: mid(&|run| run.latency.p50_ms),
            p90_ms: mid(&|run| run.latency.p90_ms),
            p99_ms: mid(&|run| run.latency.p99_ms),
            p999_ms: mid(&|run| run.latency.p999_ms),
            max_ms: mid(&|run| run.latency.max_ms),
            samples: mid(&|run| run.latency.samples as f64) as u64,
        },
        lost: runs.iter().map(|run| run.lost).sum(),
        duplicated: runs.iter().map(|run| run.duplicated).sum(),
        out_of_order: runs.iter().map(|run| run.out_of_order).sum(),
        errors: runs.iter().map(|run| run.errors).sum(),
        server,
        routes,
    })
}
