//! Presence service: who is online in which room, and JOIN/LEAVE events as it changes.
//!
//! A user is online in a room while any of their sessions there is alive. A session is
//! kept alive by heartbeats and lasts one TTL (default 20 s) past the last one; it ends
//! early on `Disconnect` (a closed connection). When a user's first session starts,
//! subscribers of the room get JOIN; when the last one ends (TTL expiry included) they get
//! LEAVE. Presence is deliberately kept in memory only: it describes the last few seconds,
//! and after a restart every live client re-announces itself within one heartbeat.
//! Replicas pass what they receive to each other over the bus ([`PeerBus`], NATS between
//! processes), so each knows every session.

mod error;
mod grpc;
mod service;
mod wire;

pub use crate::{
    error::PresenceError,
    grpc::PresenceGrpc,
    service::{Online, PeerBus, PeerInput, PresenceBus, PresenceConfig, PresenceEvent, PresenceKind, PresenceService},
    wire::PeerCodec,
};
