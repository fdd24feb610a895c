//! Room service: creates rooms and manages who is in them.
//!
//! [`RoomService`] holds the rules, [`RoomGrpc`] exposes them as `room.v1.RoomService`,
//! and a [`RoomStore`] keeps them: [`SqliteRoomStore`] in the service's own SQLite file, or
//! [`PgRoomStore`] in its schema of a PostgreSQL database every replica shares.
//! The binary opens the database and hands the service its store and its bus. Membership
//! changes are numbered in the store's log, followed by every replica (hints on the bus,
//! [`MembershipBus`], holes filled from the log) and carried to the watchers
//! (`WatchMembership`), which is how the message services and the gateways keep their
//! membership caches correct without asking on every message.
//!
//! Nothing here knows whether it runs alone (`dchat room`) or inside `dchat serve`.

mod error;
mod feed;
mod grpc;
mod service;
mod store;
mod wire;

pub use crate::{
    error::RoomError,
    feed::MembershipBus,
    grpc::RoomGrpc,
    service::{MembershipChange, Room, RoomService},
    store::{MemberInsert, PgRoomStore, RoomInsert, RoomStore, SCHEMA, SqliteRoomStore},
    wire::MembershipCodec,
};
