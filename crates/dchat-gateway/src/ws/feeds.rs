//! One upstream subscription per room per gateway process, shared by every local client.
//!
//! The first client that subscribes to a room starts the room's feed: a `Tail` of its
//! messages and a `SubscribePresence` of its presence events, from the owning services,
//! merged into one channel (one receiver per subscriber, not two: each costs memory in every
//! idle connection and a look in every delivery). Each message is turned into a frame once
//! and the same bytes are broadcast to every local subscriber. The feed ends when the last
//! local subscriber leaves. Feeds carry no guarantee of completeness on their own: a
//! subscriber that sees a hole fills it from history (see `forward`), so a feed that
//! reconnects or a subscriber that lags loses nothing.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use dchat_proto::{
    message::v1::TailReq,
    presence::v1::{RoomId as PresenceRoomId, presence_event::Type},
};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use crate::{state::GatewayState, ws::protocol};

/// A committed message as the feed broadcasts it: its offset and its frame. Cloned for
/// every subscriber, which costs one reference count on the frame's shared bytes.
#[derive(Debug, Clone)]
pub(crate) struct LiveMessage {
    pub(crate) offset: i64,
    pub(crate) frame: Utf8Bytes,
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
    pub(crate) frame: Utf8Bytes,
}

#[derive(Debug)]
struct RoomFeed {
    events: broadcast::Sender<RoomEvent>,
    subscribers: usize,
    stop: CancellationToken,
}

#[derive(Debug, Default)]
pub(crate) struct RoomFeeds {
    rooms: Mutex<HashMap<String, RoomFeed>>,
}

/// A local subscriber's hold on a room feed: its place in the room's messages and
/// presence events, from the moment it joined. Dropping it may end the feed.
#[derive(Debug)]
pub(crate) struct FeedHandle {
    pub(crate) events: BroadcastStream<RoomEvent>,
    pub(crate) room_id: String,
    state: GatewayState,
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        let mut rooms = self.state.inner.feeds.lock();
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
        let mut rooms = state.inner.feeds.lock();
        let feed = rooms.entry(room_id.to_owned()).or_insert_with(|| {
            // How far a local subscriber may fall behind before it must catch up from history.
            let (events, _) = broadcast::channel(state.inner.config.ws_feed_frames.max(1));
            let stop = state.inner.stopping.child_token();
            tokio::spawn(follow_messages(state.clone(), room_id.to_owned(), events.clone(), stop.clone()));
            tokio::spawn(follow_presence(state.clone(), room_id.to_owned(), events.clone(), stop.clone()));
            RoomFeed { events, subscribers: 0, stop }
        });
        feed.subscribers += 1;
        FeedHandle {
            events: BroadcastStream::new(feed.events.subscribe()),
            room_id: room_id.to_owned(),
            state: state.clone(),
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

/// Tails the room's messages, resuming after the last one seen whenever the stream breaks.
async fn follow_messages(
    state: GatewayState,
    room_id: String,
    events: broadcast::Sender<RoomEvent>,
    stop: CancellationToken,
) {
    let mut last_seen: Option<i64> = None;
    let mut delay = Duration::from_millis(50);
    loop {
        let request = TailReq { room_id: room_id.clone(), after: last_seen };
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = async {
                let mut stream = state.messages().tail(request).await?.into_inner();
                while let Some(message) = stream.message().await? {
                    let display_name = state.inner.names.get(&message.user_id).await;
                    let frame = protocol::message(&message, &display_name);
                    last_seen = Some(message.offset);
                    // Nobody listening right now is fine: the feed is about to stop.
                    let _ = events.send(RoomEvent::Message(LiveMessage { offset: message.offset, frame }));
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
async fn follow_presence(
    state: GatewayState,
    room_id: String,
    events: broadcast::Sender<RoomEvent>,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_millis(50);
    loop {
        let request = PresenceRoomId { room_id: room_id.clone() };
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = async {
                let mut stream = state.presence().subscribe_presence(request).await?.into_inner();
                while let Some(event) = stream.message().await? {
                    let kind = event.r#type();
                    let frame = match kind {
                        Type::Join => protocol::presence(&event.room_id, &event.user_id, &event.display_name, true),
                        Type::Leave => protocol::presence(&event.room_id, &event.user_id, &event.display_name, false),
                        Type::Typing => protocol::typing(&event.room_id, &event.user_id, &event.display_name),
                    };
                    let note = PresenceNote { user_id: event.user_id, typing: kind == Type::Typing, frame };
                    let _ = events.send(RoomEvent::Presence(Arc::new(note)));
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
