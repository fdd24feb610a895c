//! The bus seam: every fan-out that will cross processes goes through [`Bus`], publish and
//! subscribe by [`Topic`].
//!
//! A bus is a fast path, never the truth. A subscriber that fell behind, or whose
//! connection to the bus was lost and made again, gets [`BusEvent::Gap`] and repairs what
//! it missed from the database (messages by offset) or starts over from a fresh snapshot
//! (presence). So a bus may drop events, but it never reorders the events of one topic and
//! never hides that it dropped some.
//!
//! [`LocalBus`] is the bus of one process: a broadcast channel per topic with subscribers.
//! [`NatsBus`] is the bus between processes, on core NATS, with the same trait.

pub mod follow;
mod local;
mod nats;

use std::{fmt, pin::Pin};

use dchat_core::RoomId;
use futures::Stream;

pub use crate::{
    follow::{ChangeLog, Followed, Follower, LogError},
    local::LocalBus,
    nats::{Codec, NatsBus, NatsConnection, NatsError},
};
/// The macro [`ChangeLog`] implementations use.
pub use async_trait::async_trait;

/// What a publication is about: who subscribes to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A room's newly committed messages.
    RoomMessages(RoomId),
    /// Who comes online, goes offline or types in a room.
    RoomPresence(RoomId),
    /// Tokens revoked anywhere.
    Revocations,
    /// Joins and leaves of every room, numbered, for the caches of membership.
    Memberships,
    /// What each presence replica received (heartbeats, typing, disconnects), for the others.
    PresencePeers,
}

impl fmt::Display for Topic {
    /// The topic as a subject name: `room.<id>.messages`, `room.<id>.presence`,
    /// `revocations`, `memberships`, `presence.peers` (room ids are safe in subjects; see
    /// `RoomId`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RoomMessages(room_id) => write!(f, "room.{room_id}.messages"),
            Self::RoomPresence(room_id) => write!(f, "room.{room_id}.presence"),
            Self::Revocations => f.write_str("revocations"),
            Self::Memberships => f.write_str("memberships"),
            Self::PresencePeers => f.write_str("presence.peers"),
        }
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent<T> {
    /// One publication, in the order it was published on its topic.
    Payload(T),
    /// Publications may have been missed here: repair from the truth before going on.
    Gap,
}

/// A subscription: events of one topic from the moment `subscribe` returned, until it is
/// dropped (or the bus goes away).
pub type BusStream<T> = Pin<Box<dyn Stream<Item = BusEvent<T>> + Send>>;

/// Publish and subscribe by topic.
pub trait Bus<T>: Send + Sync + fmt::Debug + 'static {
    /// Hands `payload` to the topic's subscribers, if it has any. Never waits.
    fn publish(&self, topic: &Topic, payload: T);

    /// Receives what is published on `topic` from now on: everything published after this
    /// returns is delivered, or a [`BusEvent::Gap`] says it was not.
    fn subscribe(&self, topic: &Topic) -> BusStream<T>;
}
