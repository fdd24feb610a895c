//! The latency-versus-load chart of a fan-out sweep, as SVG: one line per percentile
//! (p50, p90, p99, p99.9) against the delivery rate reached at each step, on a log scale,
//! with the bare broadcast baseline's p99 beside it when the sweep measured one.

use std::path::Path;

use plotters::prelude::*;

use crate::{BenchError, Report};

/// A line of the chart: its name, the figure it plots, its colour.
type Series = (&'static str, fn(&Report) -> f64, RGBColor);

/// Writes the chart of `points` (dchat) and `baseline` (may be empty) to `path`.
pub fn latency_chart(points: &[Report], baseline: &[Report], title: &str, path: &Path) -> Result<(), BenchError> {
    let chart_error = |err: &dyn std::fmt::Display| BenchError::Protocol(format!("chart: {err}"));
    let all = points.iter().chain(baseline);
    let max_rate = all.clone().map(|report| report.rate_per_sec).fold(1.0, f64::max) * 1.05;
    let max_ms = all.clone().map(|report| report.latency.p999_ms).fold(1.0, f64::max) * 1.5;
    let min_ms = all.map(|report| report.latency.p50_ms).fold(f64::INFINITY, f64::min).clamp(0.01, 1.0) / 1.5;

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|err| chart_error(&err))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_rate, (min_ms..max_ms).log_scale())
        .map_err(|err| chart_error(&err))?;
    chart
        .configure_mesh()
        .x_desc("deliveries per second (reached)")
        .y_desc("send-to-receive latency, ms (log)")
        .x_label_formatter(&|rate| format!("{:.0}k", rate / 1000.0))
        .draw()
        .map_err(|err| chart_error(&err))?;

    let series: [Series; 4] = [
        ("p50", |r| r.latency.p50_ms, RGBColor(31, 119, 180)),
        ("p90", |r| r.latency.p90_ms, RGBColor(44, 160, 44)),
        ("p99", |r| r.latency.p99_ms, RGBColor(255, 127, 14)),
        ("p99.9", |r| r.latency.p999_ms, RGBColor(214, 39, 40)),
    ];
    for (name, value, color) in series {
        let line: Vec<(f64, f64)> =
            points.iter().map(|report| (report.rate_per_sec, value(report).max(min_ms))).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(|err| chart_error(&err))?
            .label(format!("dchat {name}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(line.into_iter().map(|point| Circle::new(point, 3, color.filled())))
            .map_err(|err| chart_error(&err))?;
    }
    if !baseline.is_empty() {
        let grey = RGBColor(120, 120, 120);
        let line: Vec<(f64, f64)> =
            baseline.iter().map(|report| (report.rate_per_sec, report.latency.p99_ms.max(min_ms))).collect();
        chart
            .draw_series(LineSeries::new(line, grey.stroke_width(2)))
            .map_err(|err| chart_error(&err))?
            .label("bare broadcast p99")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|err| chart_error(&err))?;
    root.present().map_err(|err| chart_error(&err))?;
    Ok(())
}
