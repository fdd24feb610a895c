//! One upstream subscription per room per gateway process, shared by every local client.
//!
//! The first client that subscribes to a room starts the room's feed: a `Tail` of its
//! messages and a `SubscribePresence` of its presence events, from the owning services,
//! merged into one channel (one receiver per subscriber, not two: each costs memory in every
//! idle connection and a look in every delivery). Each message is turned into a frame once
//! and the same bytes are broadcast to every local subscriber. The feed ends when the last
//! local subscriber leaves. Feeds carry no guarantee of completeness on their own: a
//! subscriber that sees a hole fills it from history (see `forward`), so a feed that
//! reconnects or a subscriber that lags loses nothing. A new feed reads the room's head
//! and tails from it, and says when its tail is established ([`FeedHandle::until_live`]):
//! a subscriber waits for that before it reads history, so every message is either in what
//! it reads or after the point the feed started from, never between the two.
//!
//! A feed's channel starts small and grows when a subscriber falls behind it, up to
//! `ws_feed_frames`: a quiet room costs a few kilobytes, not the ring a busy one needs
//! (tokio's broadcast ring is allocated whole when made). Growing replaces the channel;
//! subscribers on the old one find it closed once they have read what it held, and take
//! the new one (`FeedHandle::refresh`) before filling the hole from history, as after a lag.
//!
//! Subscribers are woken through the feed's doorbells, not through the channel: each
//! connection's writer registers its waker once, and reads the channel with `try_recv`.
//! Waiting on the channel instead would enlist the writer in the channel's waiter list
//! anew after every delivery, which cost about a tenth of the server's own work per
//! delivered message.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard},
    task::Waker,
    time::Duration,
};

use dchat_proto::{
    message::v1::{RoomId as MessageRoomId, TailReq},
    presence::v1::{RoomId as PresenceRoomId, presence_event::Type},
};
use tokio::sync::{
    broadcast::{self, error::TryRecvError},
    watch,
};
use tokio_util::sync::CancellationToken;

use dchat_websocket::Frame;

use crate::{
    live::protocol::{self, Someone},
    state::GatewayState,
};

/// A committed message as the feed broadcasts it: its offset and its frame. Cloned for
/// every subscriber, which costs one reference count on the frame's shared bytes.
#[derive(Debug, Clone)]
pub(crate) struct LiveMessage {
    pub(crate) offset: i64,
    pub(crate) frame: Frame,
}

/// What a room's feed carries, in the order the room's two upstreams delivered it.
#[derive(Debug, Clone)]
pub(crate) enum RoomEvent {
    Message(LiveMessage),
    Presence(Arc<PresenceNote>),
}

/// A presence or typing event as the feed broadcasts it.
#[derive(Debug)]
pub(crate) struct PresenceNote {
    /// Who it is about; typing is not echoed to the typist.
    pub(crate) user_id: String,
    pub(crate) typing: bool,
    pub(crate) frame: Frame,
}

/// Frames a new feed's channel holds; it grows fourfold each time a subscriber falls
/// behind it, up to `ws_feed_frames`.
const FIRST_FEED_FRAMES: usize = 64;

#[derive(Debug)]
struct RoomFeed {
    feed: Feed,
    subscribers: usize,
    stop: CancellationToken,
    /// What the current channel holds.
    capacity: usize,
    /// Counts the channel's replacements, so that a handle knows whether it is on the latest.
    generation: u64,
}

/// A room's channel and its subscribers' doorbells: what the upstream followers send into.
#[derive(Debug, Clone)]
struct Feed {
    /// The current channel; replaced, under the feeds' lock, when it grows.
    events: Arc<RwLock<broadcast::Sender<RoomEvent>>>,
    doorbells: Arc<Doorbells>,
    /// True once the upstream tail is established: every message after the head the feed
    /// read before starting it will come through the channel.
    live: Arc<watch::Sender<bool>>,
}

impl Feed {
    fn new(capacity: usize) -> Self {
        let (events, _) = broadcast::channel(capacity.max(1));
        let live = Arc::new(watch::Sender::new(false));
        Self { events: Arc::new(RwLock::new(events)), doorbells: Arc::new(Doorbells::default()), live }
    }

    fn sender(&self) -> RwLockReadGuard<'_, broadcast::Sender<RoomEvent>> {
        self.events.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends an event to every subscriber and wakes them.
    fn send(&self, event: RoomEvent) {
        // Nobody listening right now is fine: the feed is about to stop.
        let sent = self.sender().send(event).is_ok();
        if sent {
            self.doorbells.ring();
        }
    }
}

/// The wakers of a feed's subscribers, rung after every event the feed sends.
#[derive(Debug, Default)]
struct Doorbells {
    bells: Mutex<Bells>,
}

#[derive(Debug, Default)]
struct Bells {
    wakers: Vec<(u64, Waker)>,
    next_id: u64,
}

impl Doorbells {
    fn lock(&self) -> MutexGuard<'_, Bells> {
        self.bells.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, waker: Waker) -> u64 {
        let mut bells = self.lock();
        let id = bells.next_id;
        bells.next_id += 1;
        bells.wakers.push((id, waker));
        id
    }

    fn remove(&self, id: u64) {
        let mut bells = self.lock();
        if let Some(index) = bells.wakers.iter().position(|(bell, _)| *bell == id) {
            bells.wakers.swap_remove(index);
        }
    }

    /// Wakes every subscriber. Called after the event is in the channel, so a subscriber
    /// woken now finds it; one that looked before the event and found nothing is woken.
    fn ring(&self) {
        for (_, waker) in &self.lock().wakers {
            waker.wake_by_ref();
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RoomFeeds {
    rooms: Mutex<HashMap<String, RoomFeed>>,
}

/// A local subscriber's hold on a room feed: its place in the room's messages and
/// presence events, from the moment it joined. Dropping it may end the feed.
#[derive(Debug)]
pub(crate) struct FeedHandle {
    events: broadcast::Receiver<RoomEvent>,
    doorbells: Arc<Doorbells>,
    /// This handle's doorbell, while it has one.
    bell: Option<u64>,
    /// The generation of the channel `events` belongs to.
    generation: u64,
    pub(crate) room_id: String,
    state: GatewayState,
    live: watch::Receiver<bool>,
}

impl FeedHandle {
    /// Waits until the feed's upstream tail is established (at once, for a feed that was):
    /// history read after this and the feed's messages together miss nothing. False when
    /// the feed ended first.
    pub(crate) async fn until_live(&mut self) -> bool {
        self.live.wait_for(|&live| live).await.is_ok()
    }

    /// Makes every event sent from now on wake `waker`, until `quiet` or the handle is
    /// dropped. A handle that rings a waker already keeps it.
    pub(crate) fn ring(&mut self, waker: &Waker) {
        if self.bell.is_none() {
            self.bell = Some(self.doorbells.add(waker.clone()));
        }
    }

    /// Stops waking the waker given to `ring`.
    pub(crate) fn quiet(&mut self) {
        if let Some(bell) = self.bell.take() {
            self.doorbells.remove(bell);
        }
    }

    /// The next event, if one is waiting. `Lagged` when the subscriber fell so far behind
    /// that events it had not read were overwritten; `Closed` when the channel was replaced
    /// by a larger one (or the feed ended): `refresh` then.
    pub(crate) fn try_next(&mut self) -> Result<RoomEvent, TryRecvError> {
        self.events.try_recv()
    }

    /// This subscriber fell behind the channel: makes the room's channel larger, unless it
    /// is as large as allowed or another subscriber's lag already grew it.
    pub(crate) fn lagged(&self) {
        let max = self.state.config().ws_feed_frames.max(1);
        let mut rooms = self.state.live().feeds.lock();
        let Some(room) = rooms.get_mut(&self.room_id) else { return };
        if room.generation != self.generation || room.capacity >= max {
            return;
        }
        room.capacity = (room.capacity * 4).min(max);
        room.generation += 1;
        let (events, _) = broadcast::channel(room.capacity);
        *room.feed.events.write().unwrap_or_else(PoisonError::into_inner) = events;
        metrics::counter!("dchat_ws_feed_growths_total").increment(1);
    }

    /// Moves onto the room's current channel if it was replaced; everything sent from now
    /// on reaches this handle. False when the feed has ended.
    pub(crate) fn refresh(&mut self) -> bool {
        let rooms = self.state.live().feeds.lock();
        let Some(room) = rooms.get(&self.room_id) else { return false };
        if room.generation != self.generation {
            self.events = room.feed.sender().subscribe();
            self.generation = room.generation;
        }
        true
    }
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        self.quiet();
        let mut rooms = self.state.live().feeds.lock();
        if let Some(feed) = rooms.get_mut(&self.room_id) {
            feed.subscribers -= 1;
            if feed.subscribers == 0 {
                feed.stop.cancel();
                rooms.remove(&self.room_id);
            }
        }
    }
}

impl RoomFeeds {
    // A std mutex: held for a map lookup or insert, never across an await.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, RoomFeed>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the feed of `room_id`, starting it if this is its first local subscriber.
    /// The caller has checked that its client may read the room.
    pub(crate) fn join(state: &GatewayState, room_id: &str) -> FeedHandle {
        let mut rooms = state.live().feeds.lock();
        let feed = rooms.entry(room_id.to_owned()).or_insert_with(|| {
            // How far a local subscriber may fall behind before it must catch up from
            // history: little at first, more once one has (see `FeedHandle::lagged`).
            let capacity = FIRST_FEED_FRAMES.min(state.config().ws_feed_frames.max(1));
            let stop = state.stopping().child_token();
            let feed = Feed::new(capacity);
            tokio::spawn(follow_messages(state.clone(), room_id.to_owned(), feed.clone(), stop.clone()));
            tokio::spawn(follow_presence(state.clone(), room_id.to_owned(), feed.clone(), stop.clone()));
            RoomFeed { feed, subscribers: 0, stop, capacity, generation: 0 }
        });
        feed.subscribers += 1;
        FeedHandle {
            events: feed.feed.sender().subscribe(),
            doorbells: feed.feed.doorbells.clone(),
            bell: None,
            generation: feed.generation,
            room_id: room_id.to_owned(),
            state: state.clone(),
            live: feed.feed.live.subscribe(),
        }
    }
}

/// Waits before reconnecting an upstream stream; false when the feed was stopped meanwhile.
async fn backoff(stop: &CancellationToken, delay: &mut Duration) -> bool {
    let wait = *delay;
    *delay = (*delay * 2).min(Duration::from_secs(2));
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// Tails the room's messages from its head when the feed starts, resuming after the last
/// one seen whenever the stream breaks.
async fn follow_messages(state: GatewayState, room_id: String, feed: Feed, stop: CancellationToken) {
    let mut last_seen: Option<i64> = None;
    let mut delay = Duration::from_millis(50);
    loop {
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = async {
                let after = match last_seen {
                    Some(seen) => seen,
                    None => {
                        let head = MessageRoomId { room_id: room_id.clone(), ..Default::default() };
                        state.messages().next_offset(head).await?.into_inner().value - 1
                    }
                };
                last_seen = Some(after);
                let request = TailReq { room_id: room_id.clone(), after: Some(after) };
                let mut stream = state.messages().tail(request).await?.into_inner();
                feed.live.send_replace(true);
                while let Some(message) = stream.message().await? {
                    let sender = state.profile(&message.user_id).await;
                    let frame = protocol::message(&message, &sender);
                    last_seen = Some(message.offset);
                    feed.send(RoomEvent::Message(LiveMessage { offset: message.offset, frame }));
                }
                Ok::<(), tonic::Status>(())
            } => outcome,
        };
        if let Err(status) = outcome {
            tracing::warn!(%status, room_id, "room message feed broke; reconnecting");
        }
        if !backoff(&stop, &mut delay).await {
            return;
        }
    }
}

/// Follows the room's presence events (JOIN, LEAVE, TYPING).
async fn follow_presence(state: GatewayState, room_id: String, feed: Feed, stop: CancellationToken) {
    let mut delay = Duration::from_millis(50);
    loop {
        let request = PresenceRoomId { room_id: room_id.clone() };
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = async {
                let mut stream = state.presence().subscribe_presence(request).await?.into_inner();
                while let Some(event) = stream.message().await? {
                    let kind = event.r#type();
                    let profile = state.profile(&event.user_id).await;
                    let who = Someone {
                        user_id: &event.user_id,
                        display_name: &event.display_name,
                        username: &profile.username,
                    };
                    let frame = match kind {
                        Type::Join => protocol::presence(&event.room_id, &who, true),
                        Type::Leave => protocol::presence(&event.room_id, &who, false),
                        Type::Typing => protocol::typing(&event.room_id, &who),
                    };
                    let note = PresenceNote { user_id: event.user_id, typing: kind == Type::Typing, frame };
                    feed.send(RoomEvent::Presence(Arc::new(note)));
                }
                Ok::<(), tonic::Status>(())
            } => outcome,
        };
        if let Err(status) = outcome {
            tracing::warn!(%status, room_id, "room presence feed broke; reconnecting");
        }
        if !backoff(&stop, &mut delay).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        task::Wake,
    };

    use super::*;
    use crate::live::test_waker::counting;

    fn feed() -> (Feed, broadcast::Receiver<RoomEvent>) {
        let feed = Feed::new(4);
        let receiver = feed.sender().subscribe();
        (feed, receiver)
    }

    fn event(offset: i64) -> RoomEvent {
        RoomEvent::Message(LiveMessage { offset, frame: Frame::json(&()) })
    }

    #[test]
    fn every_event_wakes_each_subscriber_until_it_leaves() {
        let (feed, _receiver) = feed();
        let ((first, first_waker), (second, second_waker)) = (counting(), counting());
        let first_bell = feed.doorbells.add(first_waker);
        feed.doorbells.add(second_waker);
        feed.send(event(1));
        feed.send(event(2));
        assert_eq!((first.get(), second.get()), (2, 2));
        feed.doorbells.remove(first_bell);
        feed.send(event(3));
        assert_eq!((first.get(), second.get()), (2, 3));
    }

    #[test]
    fn an_event_is_in_the_channel_before_its_ring() {
        // A waker that reads the channel when woken, as a writer does: it must find the event.
        struct Reader {
            receiver: Mutex<broadcast::Receiver<RoomEvent>>,
            found: AtomicUsize,
        }
        impl Wake for Reader {
            fn wake(self: Arc<Self>) {
                self.wake_by_ref();
            }
            fn wake_by_ref(self: &Arc<Self>) {
                let mut receiver = self.receiver.lock().unwrap_or_else(PoisonError::into_inner);
                while receiver.try_recv().is_ok() {
                    self.found.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let (feed, receiver) = feed();
        let reader = Arc::new(Reader { receiver: Mutex::new(receiver), found: AtomicUsize::new(0) });
        feed.doorbells.add(Waker::from(reader.clone()));
        for offset in 1..=3 {
            feed.send(event(offset));
            assert_eq!(reader.found.load(Ordering::SeqCst), usize::try_from(offset).expect("small"));
        }
    }
}
