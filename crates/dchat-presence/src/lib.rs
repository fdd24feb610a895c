//! Presence service: who is online in which room, and JOIN/LEAVE events as it changes.
//!
//! A user is online in a room while any of their sessions there is alive. A session is
//! kept alive by heartbeats and lasts one TTL (default 20 s) past the last one; it ends
//! early on `Disconnect` (a closed connection). When a user's first session starts,
//! subscribers of the room get JOIN; when the last one ends (TTL expiry included) they get
//! LEAVE. Presence is deliberately kept in memory only: it describes the last few seconds,
//! and after a restart every live client re-announces itself within one heartbeat.

mod error;
mod grpc;
mod service;

pub use crate::{
    error::PresenceError,
    grpc::PresenceGrpc,
    service::{Online, PresenceBus, PresenceConfig, PresenceEvent, PresenceKind, PresenceService},
};
