//! Logging (`tracing` to stderr, filtered by `--log` or `RUST_LOG`, default `info`) and
//! metrics (a Prometheus recorder, rendered by the gateway at `/metrics`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

pub fn init(filter: Option<&str>) {
    let filter = filter
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // Logs go to stderr so that stdout stays free for the lines that announce the ports.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The process's metrics recorder, installed on first use. A process has one global
/// recorder, so every app built in it (tests build many) shares it.
pub fn metrics() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::warn!(error = %err, "metrics are disabled: another recorder is installed");
                None
            }
        })
        .clone()
}
