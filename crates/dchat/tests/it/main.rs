//! End-to-end tests of the dchat services: real servers on port 0, real gRPC clients.
//!
//! One test binary for the crate (see ARCHITECTURE.md); each module covers one area.

mod auth;
mod errors;
mod messages;
mod presence;
mod rooms;
mod split;
mod support;
