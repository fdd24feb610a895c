//! Live fan-out inside the message service: one broadcast channel per room with listeners.
//!
//! A room's channel starts small and grows fourfold, up to [`ROOM_BUFFER`], each time a
//! listener falls behind it (tokio's broadcast ring is allocated whole when made, and most
//! rooms are quiet). Growing replaces the channel: the lagging listener moves to the new
//! one at once, the others find the old one closed once they have read it, and each fills
//! what it may have missed from the database, as after any lag (see `subscription`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use dchat_core::RoomId;
use tokio::sync::broadcast;

use crate::service::StoredMessage;

/// Messages a live subscriber may fall behind by, at most, before it has to catch up from
/// the database (which it does without loss; see `subscription`).
const ROOM_BUFFER: usize = 1024;

/// What a room's channel holds when its first listener comes.
const FIRST_ROOM_BUFFER: usize = 64;

/// A room's channel and what it holds.
#[derive(Debug)]
struct Room {
    sender: broadcast::Sender<Arc<StoredMessage>>,
    capacity: usize,
}

type Listener = broadcast::Receiver<Arc<StoredMessage>>;

/// Room -> broadcast sender. Rooms nobody listens to have no entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveHub {
    // A std mutex: it is held only to look up or insert a sender, never across an await.
    rooms: Arc<Mutex<HashMap<RoomId, Room>>>,
}

impl LiveHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Room>> {
        self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Receives every message of `room_id` committed from now on.
    pub(crate) fn subscribe(&self, room_id: &RoomId) -> Listener {
        let mut rooms = self.lock();
        match rooms.get(room_id) {
            Some(room) => room.sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(FIRST_ROOM_BUFFER);
                rooms.insert(room_id.clone(), Room { sender, capacity: FIRST_ROOM_BUFFER });
                receiver
            }
        }
    }

    /// `listener` fell behind its room's channel: makes the channel larger (unless it is as
    /// large as allowed) and moves `listener` onto the room's current one. Whatever it
    /// missed is for the database to fill. (Two listeners that lag at once may grow it two
    /// steps; there are only two.)
    pub(crate) fn lagged(&self, room_id: &RoomId, listener: &mut Listener) {
        let mut rooms = self.lock();
        let room = rooms
            .entry(room_id.clone())
            .or_insert_with(|| Room { sender: broadcast::channel(FIRST_ROOM_BUFFER).0, capacity: FIRST_ROOM_BUFFER });
        if room.capacity < ROOM_BUFFER {
            room.capacity = (room.capacity * 4).min(ROOM_BUFFER);
            room.sender = broadcast::channel(room.capacity).0;
        }
        *listener = room.sender.subscribe();
    }

    /// Hands a committed message to the room's listeners, if it has any.
    pub(crate) fn publish(&self, message: Arc<StoredMessage>) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get(&message.room_id) else {
            return;
        };
        if room.sender.send(message.clone()).is_err() {
            // The last listener left: forget the room until someone subscribes again.
            rooms.remove(&message.room_id);
        }
    }
}
