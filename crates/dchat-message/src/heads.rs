//! [`CommittedHeads`]: the highest committed offset of each room, known without a query.
//!
//! The writer raises a room's head after each commit and before it answers or publishes
//! anything, so every message a client can have heard of is at or below the head shown
//! here. Readers use it to answer "what comes next" and "is there anything after K"
//! from memory: those are the questions every new subscription asks.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use dchat_core::RoomId;

#[derive(Debug, Clone, Default)]
pub(crate) struct CommittedHeads {
    // A std mutex: held for one map operation, never across an await.
    rooms: Arc<Mutex<HashMap<RoomId, i64>>>,
}

impl CommittedHeads {
    /// The room's head, if this process has learnt it (from a commit or a query).
    pub(crate) fn get(&self, room_id: &RoomId) -> Option<i64> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner).get(room_id).copied()
    }

    /// Records that offsets up to `head` are committed. Heads only grow, so a reader's
    /// older answer arriving after the writer's newer one changes nothing.
    pub(crate) fn raise(&self, room_id: &RoomId, head: i64) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        match rooms.get_mut(room_id) {
            Some(known) => *known = (*known).max(head),
            None => {
                rooms.insert(room_id.clone(), head);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_only_grow() {
        let heads = CommittedHeads::default();
        let room = RoomId::parse("general").unwrap();
        assert_eq!(heads.get(&room), None);
        heads.raise(&room, 7);
        heads.raise(&room, 5);
        assert_eq!(heads.get(&room), Some(7));
        heads.raise(&room, 9);
        assert_eq!(heads.get(&room), Some(9));
    }
}
