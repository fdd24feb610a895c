//! The public edge of dchat: the seed-compatible HTTP/JSON API and the WebSocket push
//! protocol, and the seed's `gateway.v1` gRPC service on the same port.
//!
//! The gateway is stateless apart from caches: it turns tokens into identities through the
//! auth service and forwards every operation to the owning service over gRPC.
//!
//! Architecture Invariant: this is the only crate that knows JSON and HTTP, and it never
//! touches a database.

mod auth;
mod cache;
mod device;
mod dto;
mod error;
mod grpc;
mod keys;
mod limits;
mod live;
mod openapi;
mod ops;
mod origin;
mod proxy;
mod rest;
mod router;
mod state;
mod web;

pub use crate::{
    device::DeviceKey,
    limits::{Rate, RateLimits},
    proxy::ui_router,
    router::router,
    state::{GatewayConfig, GatewayState, Upstreams},
};
