//! Presence state, its rules, and the sweeper that expires silent sessions.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use dchat_bus::{Bus, BusEvent, BusStream, LocalBus, Topic};
use dchat_core::{DisplayName, RoomId, UserId, now_ms};
use futures::StreamExt;
use tokio::time::Instant;
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

/// How presence events reach subscribers: `Topic::RoomPresence`. Presence is not stored,
/// so a subscriber the bus gives a gap starts over from a fresh snapshot.
pub type PresenceBus = Arc<dyn Bus<PresenceEvent>>;

/// What a presence replica received from a gateway, for the other replicas to apply too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerInput {
    Heartbeat { room_id: RoomId, user_id: UserId, display_name: Option<DisplayName>, session_id: String },
    Typing { room_id: RoomId, user_id: UserId, display_name: Option<DisplayName> },
    Disconnect { room_id: RoomId, user_id: UserId, session_id: String },
}

/// How presence replicas pass on what they received (`Topic::PresencePeers`), each input
/// with the id of the replica that received it.
pub type PeerBus = Arc<dyn Bus<(u64, PeerInput)>>;

/// This replica's place among its peers.
#[derive(Debug, Clone)]
struct Peers {
    bus: PeerBus,
    /// This replica's id: random, so that it can tell its own inputs from the others'.
    origin: u64,
}

#[derive(Debug)]
struct UserPresence {
    display_name: String,
    last_seen_ms: i64,
    /// Session id -> when it expires.
    sessions: HashMap<String, Instant>,
}

#[derive(Debug, Default)]
struct RoomPresence {
    users: HashMap<UserId, UserPresence>,
}

/// Presence state and rules. Alone, it knows the sessions whose heartbeats it receives.
/// With peers ([`PresenceService::with_peers`]), every replica applies what every other
/// received, so each holds every session and any of them answers for every room: a gateway
/// may heartbeat to one and subscribe through another, and when a replica dies, its
/// gateways' next heartbeats go to one that already knows their sessions.
#[derive(Debug, Clone)]
pub struct PresenceService {
    rooms: Arc<Mutex<HashMap<RoomId, RoomPresence>>>,
    bus: PresenceBus,
    ttl: Duration,
    peers: Option<Peers>,
}

impl PresenceService {
    pub fn new(config: &PresenceConfig, bus: PresenceBus) -> Self {
        Self { rooms: Arc::default(), bus, ttl: config.ttl, peers: None }
    }

    /// The same service, passing what it receives to its peers on `bus` and applying what
    /// they received once [`PresenceService::run_peers`] runs.
    pub fn with_peers(self, bus: PeerBus) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // A random number without a dependency: each `RandomState` is seeded afresh.
        let origin = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Self { peers: Some(Peers { bus, origin }), ..self }
    }

    /// Applies what the other replicas receive, until `stopping`. A gap (inputs lost on
    /// the way) heals by itself: a missed heartbeat comes again within one period, and a
    /// missed disconnect ends the session one TTL after its last heartbeat.
    pub async fn run_peers(self, stopping: CancellationToken) {
        let Some(peers) = self.peers.clone() else { return };
        let mut inputs = peers.bus.subscribe(&Topic::PresencePeers);
        loop {
            let input = tokio::select! {
                () = stopping.cancelled() => return,
                input = inputs.next() => input,
            };
            match input {
                Some(BusEvent::Payload((origin, input))) if origin != peers.origin => self.apply(input),
                Some(BusEvent::Payload(_)) => {}
                Some(BusEvent::Gap) => tracing::debug!("presence inputs of peers may have been missed"),
                None => inputs = peers.bus.subscribe(&Topic::PresencePeers),
            }
        }
    }

    fn apply(&self, input: PeerInput) {
        match input {
            PeerInput::Heartbeat { room_id, user_id, display_name, session_id } => {
                // A peer accepted it; past our own bound, the session is simply not kept.
                let _ = self.keep_alive(room_id, user_id, display_name, &session_id);
            }
            PeerInput::Typing { room_id, user_id, display_name } => self.signal_typing(room_id, user_id, display_name),
            PeerInput::Disconnect { room_id, user_id, session_id } => self.end_session(&room_id, user_id, &session_id),
        }
    }

    fn tell_peers(&self, input: impl FnOnce() -> PeerInput) {
        if let Some(peers) = &self.peers {
            peers.bus.publish(&Topic::PresencePeers, (peers.origin, input()));
        }
    }

    /// The bus of one process for presence events: a room's channel holds 16 events at
    /// first and grows fourfold, to 256, for a subscriber that falls behind it.
    pub fn local_bus() -> LocalBus<PresenceEvent> {
        LocalBus::new(16, 256)
    }

    /// Tells the room's subscribers. Called under the lock, so that events keep the order
    /// of the changes and none falls between a snapshot and its subscription.
    fn emit(&self, event: PresenceEvent) {
        self.bus.publish(&Topic::RoomPresence(event.room_id.clone()), event);
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
        self.keep_alive(room_id.clone(), user_id, display_name.clone(), session_id)?;
        self.tell_peers(|| PeerInput::Heartbeat { room_id, user_id, display_name, session_id: session_id.to_owned() });
        Ok(())
    }

    fn keep_alive(
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
            self.emit(PresenceEvent { kind: PresenceKind::Join, room_id, user_id, display_name, ts_ms: now });
        }
        Ok(())
    }

    /// Tells the room's subscribers that `user_id` is typing. Nothing is remembered.
    pub fn typing(&self, room_id: RoomId, user_id: UserId, display_name: Option<DisplayName>) {
        self.signal_typing(room_id.clone(), user_id, display_name.clone());
        self.tell_peers(|| PeerInput::Typing { room_id, user_id, display_name });
    }

    fn signal_typing(&self, room_id: RoomId, user_id: UserId, display_name: Option<DisplayName>) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(&room_id) else { return };
        let display_name = display_name
            .map(|name| name.to_string())
            .or_else(|| room.users.get(&user_id).map(|user| user.display_name.clone()))
            .unwrap_or_default();
        self.emit(PresenceEvent { kind: PresenceKind::Typing, room_id, user_id, display_name, ts_ms: now_ms() });
    }

    /// Ends one session now. The user goes offline if it was their last.
    pub fn disconnect(&self, room_id: &RoomId, user_id: UserId, session_id: &str) {
        self.end_session(room_id, user_id, session_id);
        self.tell_peers(|| PeerInput::Disconnect {
            room_id: room_id.clone(),
            user_id,
            session_id: session_id.to_owned(),
        });
    }

    fn end_session(&self, room_id: &RoomId, user_id: UserId, session_id: &str) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(room_id) else {
            return;
        };
        let Some(user) = room.users.get_mut(&user_id) else {
            return;
        };
        user.sessions.remove(session_id);
        if user.sessions.is_empty() {
            self.leave(room, room_id, user_id);
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

    /// A JOIN for everyone online now, and every event from then on. Taken under one lock,
    /// so no event falls between the snapshot and the subscription.
    pub fn subscribe(&self, room_id: &RoomId) -> (Vec<PresenceEvent>, BusStream<PresenceEvent>) {
        let rooms = self.lock();
        let events = self.bus.subscribe(&Topic::RoomPresence(room_id.clone()));
        let snapshot = rooms
            .get(room_id)
            .map(|room| {
                room.users
                    .iter()
                    .map(|(user_id, user)| PresenceEvent {
                        kind: PresenceKind::Join,
                        room_id: room_id.clone(),
                        user_id: *user_id,
                        display_name: user.display_name.clone(),
                        ts_ms: user.last_seen_ms,
                    })
                    .collect()
            })
            .unwrap_or_default();
        (snapshot, events)
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
                self.leave(room, &room_id, user_id);
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

    fn leave(&self, room: &mut RoomPresence, room_id: &RoomId, user_id: UserId) {
        let Some(user) = room.users.remove(&user_id) else {
            return;
        };
        self.emit(PresenceEvent {
            kind: PresenceKind::Leave,
            room_id: room_id.clone(),
            user_id,
            display_name: user.display_name,
            ts_ms: now_ms(),
        });
    }

    fn forget_if_empty(rooms: &mut HashMap<RoomId, RoomPresence>, room_id: &RoomId) {
        if rooms.get(room_id).is_some_and(|room| room.users.is_empty()) {
            rooms.remove(room_id);
        }
    }
}

#[cfg(test)]
mod tests;
