//! Presence state, its rules, and the sweeper that expires silent sessions.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use dchat_core::{DisplayName, RoomId, UserId, now_ms};
use tokio::{sync::broadcast, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::PresenceError;

/// The presence service's section of the configuration.
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// How long a session stays online after its last heartbeat (`PRESENCE_TTL_SECS`, 20 s).
    pub ttl: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceKind {
    Join,
    Leave,
    /// Not a change of state: a passing signal for the room's subscribers.
    Typing,
}

/// A user came online in, or left, a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEvent {
    pub kind: PresenceKind,
    pub room_id: RoomId,
    pub user_id: UserId,
    pub display_name: String,
    pub ts_ms: i64,
}

/// A user online in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Online {
    pub user_id: UserId,
    pub display_name: String,
    pub last_seen_ms: i64,
}

/// Sessions one user may hold in one room; a bound on what a client can make us remember.
const MAX_SESSIONS: usize = 64;
/// Events a subscriber may fall behind by, at most, before its stream is ended (it
/// resubscribes and gets a fresh snapshot).
const EVENT_BUFFER: usize = 256;
/// What a room's event channel holds when its first subscriber comes: most rooms are quiet,
/// and tokio's broadcast ring is allocated whole when it is made.
const FIRST_EVENT_BUFFER: usize = 16;

#[derive(Debug)]
struct UserPresence {
    display_name: String,
    last_seen_ms: i64,
    /// Session id -> when it expires.
    sessions: HashMap<String, Instant>,
}

/// One of a room's event channels and how many events it holds.
#[derive(Debug)]
struct Channel {
    sender: broadcast::Sender<PresenceEvent>,
    capacity: usize,
}

impl Channel {
    fn new(capacity: usize) -> Self {
        Self { sender: broadcast::channel(capacity).0, capacity }
    }
}

#[derive(Debug, Default)]
struct RoomPresence {
    users: HashMap<UserId, UserPresence>,
    /// The room's event channels, oldest first, each four times larger than the one before;
    /// new subscribers take the last. A channel is made larger by adding one after it when
    /// a subscriber falls behind, rather than by replacing it, so that no other subscriber
    /// loses its place; an old one goes once its last subscriber has.
    channels: Vec<Channel>,
}

impl RoomPresence {
    fn emit(&mut self, event: PresenceEvent) {
        self.prune();
        if let Some((newest, older)) = self.channels.split_last() {
            for channel in older {
                let _ = channel.sender.send(event.clone());
            }
            let _ = newest.sender.send(event);
        }
    }

    /// Lets go of older channels nobody listens to any more. The newest stays even then: it
    /// may have just been made larger for a subscriber on its way back.
    fn prune(&mut self) {
        let newest = self.channels.len().saturating_sub(1);
        let mut index = 0;
        self.channels.retain(|channel| {
            index += 1;
            index > newest || channel.sender.receiver_count() > 0
        });
    }

    fn subscribe(&mut self) -> broadcast::Receiver<PresenceEvent> {
        self.prune();
        match self.channels.last() {
            Some(channel) => channel.sender.subscribe(),
            None => {
                let channel = Channel::new(FIRST_EVENT_BUFFER);
                let receiver = channel.sender.subscribe();
                self.channels.push(channel);
                receiver
            }
        }
    }

    /// A subscriber fell behind: the next to subscribe gets a channel four times as large,
    /// unless the newest is as large as allowed.
    fn grow(&mut self) {
        let capacity = self.channels.last().map_or(FIRST_EVENT_BUFFER, |channel| channel.capacity);
        if capacity < EVENT_BUFFER {
            self.channels.push(Channel::new((capacity * 4).min(EVENT_BUFFER)));
        }
    }

    fn is_forgettable(&self) -> bool {
        self.users.is_empty() && self.channels.iter().all(|channel| channel.sender.receiver_count() == 0)
    }
}

#[derive(Debug, Clone)]
pub struct PresenceService {
    rooms: Arc<Mutex<HashMap<RoomId, RoomPresence>>>,
    ttl: Duration,
}

impl PresenceService {
    pub fn new(config: &PresenceConfig) -> Self {
        Self { rooms: Arc::default(), ttl: config.ttl }
    }

    // A std mutex: every critical section is a few map operations, never an await.
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomId, RoomPresence>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `session_id` of `user_id` online in `room_id` for one more TTL.
    pub fn heartbeat(
        &self,
        room_id: RoomId,
        user_id: UserId,
        display_name: Option<DisplayName>,
        session_id: &str,
    ) -> Result<(), PresenceError> {
        let expires = Instant::now() + self.ttl;
        let now = now_ms();
        let mut rooms = self.lock();
        let room = rooms.entry(room_id.clone()).or_default();
        let joined = !room.users.contains_key(&user_id);
        let user = room.users.entry(user_id).or_insert_with(|| UserPresence {
            display_name: String::new(),
            last_seen_ms: now,
            sessions: HashMap::new(),
        });
        if !user.sessions.contains_key(session_id) && user.sessions.len() >= MAX_SESSIONS {
            return Err(PresenceError::TooManySessions);
        }
        user.sessions.insert(session_id.to_owned(), expires);
        user.last_seen_ms = now;
        if let Some(name) = display_name {
            user.display_name = name.to_string();
        }
        if joined {
            let display_name = user.display_name.clone();
            room.emit(PresenceEvent { kind: PresenceKind::Join, room_id, user_id, display_name, ts_ms: now });
        }
        Ok(())
    }

    /// Tells the room's subscribers that `user_id` is typing. Nothing is remembered.
    pub fn typing(&self, room_id: RoomId, user_id: UserId, display_name: Option<DisplayName>) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(&room_id) else { return };
        let display_name = display_name
            .map(|name| name.to_string())
            .or_else(|| room.users.get(&user_id).map(|user| user.display_name.clone()))
            .unwrap_or_default();
        room.emit(PresenceEvent { kind: PresenceKind::Typing, room_id, user_id, display_name, ts_ms: now_ms() });
    }

    /// Ends one session now. The user goes offline if it was their last.
    pub fn disconnect(&self, room_id: &RoomId, user_id: UserId, session_id: &str) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(room_id) else {
            return;
        };
        let Some(user) = room.users.get_mut(&user_id) else {
            return;
        };
        user.sessions.remove(session_id);
        if user.sessions.is_empty() {
            Self::leave(room, room_id, user_id);
        }
        Self::forget_if_empty(&mut rooms, room_id);
    }

    /// The users online in `room_id`, by display name.
    pub fn roster(&self, room_id: &RoomId) -> Vec<Online> {
        let rooms = self.lock();
        let mut online: Vec<Online> = rooms
            .get(room_id)
            .map(|room| {
                room.users
                    .iter()
                    .map(|(user_id, user)| Online {
                        user_id: *user_id,
                        display_name: user.display_name.clone(),
                        last_seen_ms: user.last_seen_ms,
                    })
                    .collect()
            })
            .unwrap_or_default();
        online.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.user_id.cmp(&b.user_id)));
        online
    }

    /// A JOIN for everyone online now, and a receiver of every event from then on. Taken
    /// under one lock, so no event falls between the snapshot and the subscription.
    pub fn subscribe(&self, room_id: &RoomId) -> (Vec<PresenceEvent>, broadcast::Receiver<PresenceEvent>) {
        let mut rooms = self.lock();
        let room = rooms.entry(room_id.clone()).or_default();
        let snapshot = room
            .users
            .iter()
            .map(|(user_id, user)| PresenceEvent {
                kind: PresenceKind::Join,
                room_id: room_id.clone(),
                user_id: *user_id,
                display_name: user.display_name.clone(),
                ts_ms: user.last_seen_ms,
            })
            .collect();
        (snapshot, room.subscribe())
    }

    /// A subscriber of `room_id` fell behind its events and is starting over: gives the
    /// room's next subscribers more room (up to 256 events).
    pub fn lagged(&self, room_id: &RoomId) {
        if let Some(room) = self.lock().get_mut(room_id) {
            room.grow();
        }
    }

    /// Ends every session that expired by `now`; returns how many users went offline.
    pub fn sweep_once(&self, now: Instant) -> usize {
        let mut rooms = self.lock();
        let mut n_left = 0;
        let room_ids: Vec<RoomId> = rooms.keys().cloned().collect();
        for room_id in room_ids {
            let Some(room) = rooms.get_mut(&room_id) else {
                continue;
            };
            let mut gone = Vec::new();
            for (user_id, user) in &mut room.users {
                user.sessions.retain(|_, expires| *expires > now);
                if user.sessions.is_empty() {
                    gone.push(*user_id);
                }
            }
            n_left += gone.len();
            for user_id in gone {
                Self::leave(room, &room_id, user_id);
            }
            Self::forget_if_empty(&mut rooms, &room_id);
        }
        n_left
    }

    /// Sweeps expired sessions four times per TTL until `shutdown`.
    pub async fn run_sweeper(self, shutdown: CancellationToken) {
        let period = (self.ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    let n_left = self.sweep_once(Instant::now());
                    if n_left > 0 {
                        tracing::debug!(users = n_left, "presence expired");
                    }
                }
            }
        }
    }

    fn leave(room: &mut RoomPresence, room_id: &RoomId, user_id: UserId) {
        let Some(user) = room.users.remove(&user_id) else {
            return;
        };
        room.emit(PresenceEvent {
            kind: PresenceKind::Leave,
            room_id: room_id.clone(),
            user_id,
            display_name: user.display_name,
            ts_ms: now_ms(),
        });
    }

    fn forget_if_empty(rooms: &mut HashMap<RoomId, RoomPresence>, room_id: &RoomId) {
        if rooms.get(room_id).is_some_and(RoomPresence::is_forgettable) {
            rooms.remove(room_id);
        }
    }
}

#[cfg(test)]
mod tests;
