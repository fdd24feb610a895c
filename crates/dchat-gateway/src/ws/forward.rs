//! One client's subscription to one room: the backlog after its `after` offset, then live
//! frames from the room's feed, each offset exactly once and in order.
//!
//! The same order of operations as the message service's subscriptions: join the feed
//! first, read history second, drop from the feed what history already delivered, and go
//! back to history whenever the feed shows a hole (lag or reconnection upstream).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use dchat_proto::{
    message::v1::{ListReq, RoomId as MessageRoomId},
    presence::v1::RoomId as PresenceRoomId,
};
use serde_json::Value;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::{
    state::GatewayState,
    ws::{
        feeds::{LiveMessage, RoomFeeds},
        protocol,
    },
};

/// History page size while catching up.
const PAGE: i32 = 500;

/// A connection's queue of outgoing frames. Pushing never waits: a client whose queue is
/// full is lagging, and the connection is closed (4008) rather than slowing anyone down.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    pub(crate) frames: mpsc::Sender<Utf8Bytes>,
    pub(crate) lagged: CancellationToken,
}

impl Outbox {
    /// Queues a frame; false when the connection is gone or lagging.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagged.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// What a subscription needs to know about its client.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub(crate) user_id: String,
    pub(crate) outbox: Outbox,
}

/// Why a subscription stopped on its own.
enum Stop {
    /// The connection is gone, lagging, or the subscription was cancelled.
    Quietly,
    /// Reading history failed; the client is told and may subscribe again.
    Failed(tonic::Status),
}

/// Feeds one room to one client until `cancel` or the connection ends. The caller has
/// checked membership.
pub(crate) async fn run(
    state: GatewayState,
    subscriber: Subscriber,
    room_id: String,
    after: Option<i64>,
    reference: Option<Value>,
    cancel: CancellationToken,
) {
    let outcome = tokio::select! {
        () = cancel.cancelled() => Stop::Quietly,
        outcome = forward(&state, &subscriber, &room_id, after, reference.as_ref()) => outcome,
    };
    if let Stop::Failed(status) = outcome {
        let code = if status.code() == Code::PermissionDenied { "forbidden" } else { "unavailable" };
        subscriber.outbox.push(protocol::error(reference.as_ref(), code, status.message(), Some(&room_id)));
    }
}

async fn forward(
    state: &GatewayState,
    subscriber: &Subscriber,
    room_id: &str,
    after: Option<i64>,
    reference: Option<&Value>,
) -> Stop {
    // This future lives as long as the subscription: the calls it makes once in a while are
    // boxed, so that their state does not take room in it while it waits for the feed.
    // Join the feeds first: everything committed after our history read is in them.
    let mut feed = RoomFeeds::join(state, room_id);
    let mut last_sent = match after {
        Some(after) => after.max(0),
        None => match Box::pin(
            state.messages().next_offset(MessageRoomId { room_id: room_id.to_owned(), ..Default::default() }),
        )
        .await
        {
            Ok(next) => next.into_inner().value - 1,
            Err(status) => return Stop::Failed(status),
        },
    };
    if let Err(stop) = Box::pin(catch_up(state, subscriber, room_id, &mut last_sent)).await {
        return stop;
    }
    if !subscriber.outbox.push(protocol::subscribed(room_id, last_sent, reference)) {
        return Stop::Quietly;
    }
    let mut presence = state.presence();
    if let Ok(roster) = Box::pin(presence.roster(PresenceRoomId { room_id: room_id.to_owned() })).await {
        for user in roster.into_inner().users {
            subscriber.outbox.push(protocol::presence(room_id, &user.user_id, &user.display_name, true));
        }
    }
    loop {
        tokio::select! {
            received = feed.messages.recv() => {
                let hole = match received {
                    Ok(message) => match deliver_live(subscriber, &message, &mut last_sent) {
                        Ok(in_order) => !in_order,
                        Err(stop) => return stop,
                    },
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return Stop::Quietly,
                };
                if hole && let Err(stop) = Box::pin(catch_up(state, subscriber, room_id, &mut last_sent)).await {
                    return stop;
                }
            }
            note = feed.presence.recv() => match note {
                Ok(note) if note.typing && note.user_id == subscriber.user_id => {}
                Ok(note) => {
                    if !subscriber.outbox.push(note.frame.clone()) {
                        return Stop::Quietly;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Stop::Quietly,
            },
        }
    }
}

/// Delivers a live frame if it is the next offset. `Ok(false)` means there is a hole
/// before it (history must fill it); `Err` that the connection is gone.
fn deliver_live(subscriber: &Subscriber, message: &Arc<LiveMessage>, last_sent: &mut i64) -> Result<bool, Stop> {
    if message.offset <= *last_sent {
        return Ok(true);
    }
    if message.offset > *last_sent + 1 {
        return Ok(false);
    }
    if !subscriber.outbox.push(message.frame.clone()) {
        return Err(Stop::Quietly);
    }
    *last_sent = message.offset;
    Ok(true)
}

/// Sends every stored message after `last_sent`, in pages, advancing `last_sent`.
async fn catch_up(
    state: &GatewayState,
    subscriber: &Subscriber,
    room_id: &str,
    last_sent: &mut i64,
) -> Result<(), Stop> {
    loop {
        let request = ListReq {
            room_id: room_id.to_owned(),
            from_offset: *last_sent + 1,
            limit: PAGE,
            before: 0,
            user_id: subscriber.user_id.clone(),
        };
        let mut page = state.messages().list(request).await.map_err(Stop::Failed)?.into_inner();
        let mut n_read = 0;
        while let Some(message) = page.message().await.map_err(Stop::Failed)? {
            n_read += 1;
            let display_name = state.inner.names.get(&message.user_id).await;
            if !subscriber.outbox.push(protocol::message(&message, &display_name)) {
                return Err(Stop::Quietly);
            }
            *last_sent = message.offset;
        }
        if n_read < PAGE {
            return Ok(());
        }
    }
}
