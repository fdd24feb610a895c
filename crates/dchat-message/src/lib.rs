//! Message service: durable messages with per-room offsets, history and live subscriptions.
//!
//! The guarantees, and where each one lives:
//! - Offsets in a room are exactly 1, 2, 3, ...: one writer task ([`writer`]) assigns them
//!   and the `(room_id, msg_offset)` primary key refuses repeats.
//! - An append is acknowledged only after its transaction committed with the configured
//!   durability; concurrent appends share one transaction (group commit), so durability
//!   does not cap throughput at the disk's fsync rate.
//! - The same `(room, user, idempotency key)` always answers the original offset: the key
//!   is stored with the message and has a unique index, so this survives restarts.
//! - A subscriber that starts after offset K gets K+1, K+2, ... then live messages, with
//!   no gap and no duplicate ([`subscription`]). Live messages come through the bus
//!   ([`MessageBus`], topic `RoomMessages`), a fast path only: any gap is read from the
//!   database.
//! - History that is final (whole blocks of consecutive offsets) is served from memory
//!   ([`pages`]); the growing tail of a room always comes from the database.
//! - Only members append, read or subscribe ([`membership`] caches the room service's
//!   answers and drops them on every membership change it is told about).

mod error;
mod grpc;
mod head_checks;
mod heads;
mod membership;
mod pages;
mod reader;
mod service;
mod store;
mod subscription;
mod wire;
mod writer;

pub use crate::{
    error::MessageError,
    grpc::MessageGrpc,
    service::MessageBus,
    service::{Appended, MessageConfig, MessageService, Reader, StoredMessage},
    store::{
        MessageAppender, MessageLog, PgMessageAppender, PgMessageStore, SCHEMA, SqliteMessageAppender,
        SqliteMessageStore,
    },
    subscription::RECONCILE_EVERY,
    wire::MessageCodec,
};
