//! One client's subscription to one room until it is live: the backlog after its `after`
//! offset, read from history, then a hand-over of the room's feed to the connection's
//! writer, which sends the live frames itself (see `writer`).
//!
//! The same order of operations as the message service's subscriptions: join the feed
//! first, read history second, drop from the feed what history already delivered, and go
//! back to history whenever the feed shows a hole (lag or reconnection upstream). Going
//! back is `resume`: the writer hands the subscription back here, and takes it again once
//! the hole is filled.

use dchat_proto::{
    message::v1::{ListReq, RoomId as MessageRoomId},
    presence::v1::RoomId as PresenceRoomId,
};
use serde_json::Value;
use tonic::Code;

use dchat_websocket::Frame;

use crate::{
    live::{
        cancel::Cancel,
        feeds::RoomFeeds,
        protocol::{self, Someone},
        writer::{Live, Subscriber},
    },
    state::GatewayState,
};

/// History page size while catching up.
const PAGE: i32 = 500;

/// Longest a subscription waits for its room's feed to reach the message service.
const FEED_START: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a subscription stopped on its own.
enum Stop {
    /// The connection is gone, lagging, or the subscription was cancelled.
    Quietly,
    /// Reading history failed; the client is told and may subscribe again.
    Failed(tonic::Status),
}

/// Starts a subscription of one client to one room: sends the backlog, `subscribed` and
/// the room's roster, and hands the live feed to the connection's writer. The caller has
/// checked membership.
pub(crate) async fn subscribe(
    state: GatewayState,
    subscriber: Subscriber,
    room_id: String,
    after: Option<i64>,
    reference: Option<Value>,
    cancel: Cancel,
) {
    let outcome = tokio::select! {
        () = cancel.cancelled() => Ok(()),
        outcome = start(&state, &subscriber, &room_id, after, reference.as_ref(), cancel.clone()) => outcome,
    };
    if let Err(Stop::Failed(status)) = outcome {
        subscriber.outbox.push(failure(reference.as_ref(), &status, &room_id));
    }
}

/// Fills the hole a live subscription found in its feed from history, then hands it back
/// to the writer.
pub(crate) async fn resume(state: GatewayState, subscriber: Subscriber, mut live: Live) {
    // Onto the room's current channel first: whatever is sent after the history read
    // below reaches it. A feed that ended has nothing more to give.
    if !live.feed.refresh() {
        return;
    }
    let cancel = live.cancel.clone();
    let outcome = tokio::select! {
        () = cancel.cancelled() => return,
        outcome = catch_up(&state, &subscriber, &live.feed.room_id, &mut live.last_sent) => outcome,
    };
    match outcome {
        Ok(()) => {
            subscriber.outbox.hand_over(live);
        }
        Err(Stop::Failed(status)) => {
            subscriber.outbox.push(failure(None, &status, &live.feed.room_id));
        }
        Err(Stop::Quietly) => {}
    }
}

fn failure(reference: Option<&Value>, status: &tonic::Status, room_id: &str) -> Frame {
    let code = if status.code() == Code::PermissionDenied { "forbidden" } else { "unavailable" };
    protocol::error(reference, code, status.message(), Some(room_id))
}

async fn start(
    state: &GatewayState,
    subscriber: &Subscriber,
    room_id: &str,
    after: Option<i64>,
    reference: Option<&Value>,
    cancel: Cancel,
) -> Result<(), Stop> {
    // Join the feed first, and wait until it is live: everything committed after our
    // history read is in it.
    let mut feed = RoomFeeds::join(state, room_id);
    match tokio::time::timeout(FEED_START, feed.until_live()).await {
        Ok(true) => {}
        Ok(false) => return Err(Stop::Quietly),
        Err(_) => return Err(Stop::Failed(tonic::Status::unavailable("the room's live feed did not start; retry"))),
    }
    let mut last_sent = match after {
        Some(after) => after.max(0),
        None => {
            match state
                .messages()
                .next_offset(MessageRoomId { room_id: room_id.to_owned(), ..Default::default() })
                .await
            {
                Ok(next) => next.into_inner().value - 1,
                Err(status) => return Err(Stop::Failed(status)),
            }
        }
    };
    catch_up(state, subscriber, room_id, &mut last_sent).await?;
    // Who is online, framed before anything is pushed: `subscribed` and the roster go out
    // together, with no wait between them in which the subscription could end.
    let mut roster_frames = Vec::new();
    if let Ok(roster) = state.presence().roster(PresenceRoomId { room_id: room_id.to_owned() }).await {
        for user in roster.into_inner().users {
            let profile = state.profile(&user.user_id).await;
            let who = Someone { user_id: &user.user_id, display_name: &user.display_name, username: &profile.username };
            roster_frames.push(protocol::presence(room_id, &who, true));
        }
    }
    if !subscriber.outbox.push(protocol::subscribed(room_id, last_sent, reference)) {
        return Err(Stop::Quietly);
    }
    for frame in roster_frames {
        subscriber.outbox.push(frame);
    }
    subscriber.outbox.hand_over(Live { feed, last_sent, cancel });
    Ok(())
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
            let sender = state.profile(&message.user_id).await;
            if !subscriber.outbox.push(protocol::message(&message, &sender)) {
                return Err(Stop::Quietly);
            }
            *last_sent = message.offset;
        }
        if n_read < PAGE {
            return Ok(());
        }
    }
}
