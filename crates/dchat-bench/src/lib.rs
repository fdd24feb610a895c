//! The scenarios behind `dchat-bench`: load against a running dchat, measured from the client side.
//!
//! Each scenario drives real HTTP and WebSocket clients against a server given by URL,
//! checks correctness while it measures (every delivery is counted per subscriber: lost,
//! duplicated and out-of-order messages must all be zero), and returns a [`Report`].
//! Baselines measured in the same invocation give the figures a scale: for ingest, raw
//! batched inserts into SQLite with the same durability.

mod bare;
mod baseline;
mod chart;
mod client;
mod connections;
mod fanout;
mod feeds;
mod http1;
mod ingest;
mod member;
mod process;
mod progress;
mod report;
mod seed;
mod webapp;

pub use crate::{
    bare::serve_bare,
    baseline::sqlite_insert_baseline,
    chart::latency_chart,
    connections::{IdleConnections, IdleSetup, open_idle, prepare_idle},
    fanout::{FanoutOptions, fanout, fanout_bare},
    feeds::{FeedsSetup, HeldFeeds, open_room_feeds, prepare_room_feeds},
    ingest::{IngestOptions, Transport, ingest},
    process::{ProcessSample, ProcessUsage, sample as sample_process, usage as process_usage},
    progress::Progress,
    report::{Latency, Report, RouteReport, median},
    seed::{SeedOptions, seed},
    webapp::{ChromeDriver, WebappOptions, webapp},
};

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("HTTP request to the server failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP connection to the server failed: {0}")]
    Connection(#[from] hyper::Error),
    #[error("the server answered {status} to {what}: {body}")]
    Refused { what: String, status: u16, body: String },
    #[error("WebSocket failed: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("socket failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("baseline database failed: {0}")]
    Database(String),
    #[error("{0}")]
    Protocol(String),
}
