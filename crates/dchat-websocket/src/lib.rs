//! dchat's own WebSocket (RFC 6455) and the HTTP server it runs under: the opening
//! handshake, server frames made whole once, client frames read and checked, and one
//! listener serving HTTP/1.1 (with upgrades) and HTTP/2 with admission control and
//! deadlines.
//!
//! **API Boundary.** Nothing here knows dchat: no chat types, no JSON API, no services.
//! The gateway and the bench are both clients of this crate, and neither shapes its API.
//!
//! Why our own rather than tungstenite or fastwebsockets: a connection gets its TCP socket
//! itself (`handshake`), a frame is built once and its bytes shared by every subscriber
//! (`frame`), and the reader keeps all its state in its own buffer, so a read cancelled by
//! `select!` loses nothing (`inbound`). The price is conformance evidence of our own: the
//! tests of `inbound` walk the Autobahn suite's case groups 1 to 7.

mod admission;
mod frame;
mod handshake;
mod inbound;
mod received;
mod serve;

pub use crate::{
    admission::{ConnectionLimits, Upgraded},
    frame::{
        FIN, Frame, MASKED, MAX_HEADER, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, decode_length,
        encode_header,
    },
    handshake::{Socket, SocketWrite, Under, UpgradeRejection, UpgradeRequest},
    inbound::{Inbound, InboundError, Reader, SocketRead, Violation},
    received::ClientBodyError,
    serve::{BODY_TIMEOUT, IDLE_POOL_TIMEOUT, ServeConfig, serve},
};

/// Client messages (and frames) larger than this close the connection with 1009, unless
/// a reader is made with another limit.
pub const MAX_INBOUND_BYTES: usize = 64 * 1024;
