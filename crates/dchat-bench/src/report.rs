//! What a scenario measured, as a table for people and JSON for tools.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
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

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
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
}

impl Report {
    /// Whether every delivery was accounted for: nothing lost, doubled or reordered.
    pub fn is_correct(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0 && self.errors == 0
    }

    /// A few aligned lines for the terminal.
    pub fn table(&self) -> String {
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
