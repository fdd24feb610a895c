//! Live fan-out inside the message service: one broadcast channel per room with listeners.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use dchat_core::RoomId;
use tokio::sync::broadcast;

use crate::service::StoredMessage;

/// Messages a live subscriber may fall behind by before it has to catch up from the
/// database (which it does without loss; see `subscription`).
const ROOM_BUFFER: usize = 1024;

/// Room -> broadcast sender. Rooms nobody listens to have no entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveHub {
    // A std mutex: it is held only to look up or insert a sender, never across an await.
    rooms: Arc<Mutex<HashMap<RoomId, broadcast::Sender<Arc<StoredMessage>>>>>,
}

impl LiveHub {
    /// Receives every message of `room_id` committed from now on.
    pub(crate) fn subscribe(&self, room_id: &RoomId) -> broadcast::Receiver<Arc<StoredMessage>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match rooms.get(room_id) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(ROOM_BUFFER);
                rooms.insert(room_id.clone(), sender);
                receiver
            }
        }
    }

    /// Hands a committed message to the room's listeners, if it has any.
    pub(crate) fn publish(&self, message: Arc<StoredMessage>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(sender) = rooms.get(&message.room_id) else {
            return;
        };
        if sender.send(message.clone()).is_err() {
            // The last listener left: forget the room until someone subscribes again.
            rooms.remove(&message.room_id);
        }
    }
}
