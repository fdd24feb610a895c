//! The public edge of dchat: the seed-compatible HTTP/JSON API and the WebSocket push
//! protocol, and the seed's `gateway.v1` gRPC service on the same port.
//!
//! The gateway is stateless apart from caches: it turns tokens into identities through the
//! auth service and forwards every operation to the owning service over gRPC.
//!
//! Architecture Invariant: this is the only crate that knows JSON and HTTP, and it never
//! touches a database.

mod admission;
mod auth;
mod connections;
mod device;
mod dto;
mod error;
mod grpc;
mod limits;
mod mailbox;
mod members;
mod names;
mod ops;
mod origin;
mod presence;
mod proxy;
mod received;
mod rest;
mod router;
mod serve;
mod state;
mod verified;
mod watched;
mod watches;
mod web;
mod ws;

/// The WebSocket protocol as the gateway speaks it: the upgrade, whole server frames made
/// once, checked client frames, and the header coding both directions share. Public for
/// servers built like the gateway (the bench's bare baseline), so that they write frames
/// the same way, and for the bench's own client.
pub mod websocket {
    pub use crate::ws::{
        FIN, Frame, Inbound, InboundError, MASKED, MAX_HEADER, MAX_INBOUND_BYTES, OP_BINARY, OP_CLOSE, OP_CONTINUATION,
        OP_PING, OP_PONG, OP_TEXT, Reader, Socket, SocketRead, SocketWrite, Under, UpgradeRequest, decode_length,
        encode_header,
    };
}

pub use crate::{
    admission::ConnectionLimits,
    device::DeviceKey,
    limits::{Rate, RateLimits},
    proxy::ui_router,
    router::router,
    serve::{BODY_TIMEOUT, ServeConfig, serve},
    state::{GatewayConfig, GatewayState, Upstreams},
    web::web_router,
};
