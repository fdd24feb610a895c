//! Room service: creates rooms and manages who is in them.
//!
//! [`RoomService`] holds the rules, [`RoomGrpc`] exposes them as `room.v1.RoomService`,
//! and a [`RoomStore`] keeps them: [`SqliteRoomStore`] in the service's own SQLite file, or
//! [`PgRoomStore`] in its schema of a PostgreSQL database every replica shares.
//! The binary opens the database and hands the service its store and its bus. Membership
//! changes are published on the bus ([`MembershipBus`]) to the watchers (`WatchMembership`),
//! which is how the message service and the gateways keep their membership caches correct
//! without asking on every message.
//!
//! Nothing here knows whether it runs alone (`dchat room`) or inside `dchat serve`.

mod error;
mod feed;
mod grpc;
mod service;
mod store;

pub use crate::{
    error::RoomError,
    feed::MembershipBus,
    grpc::RoomGrpc,
    service::{MembershipChange, Room, RoomService},
    store::{PgRoomStore, RoomStore, SCHEMA, SqliteRoomStore},
};
