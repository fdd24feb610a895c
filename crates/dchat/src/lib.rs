//! dchat as a library: configuration, the command line, and [`App`], which runs any set of
//! services in this process. This crate is the only one that knows which services run in
//! which process; the service crates are identical in every topology.

pub mod cli;
pub mod config;
pub mod telemetry;

mod app;
mod channels;
mod stores;

pub use crate::{
    app::{App, Role},
    config::Config,
};
