//! Live subscriptions that never skip or repeat an offset.
//!
//! The order of operations is what makes the switch from history to live messages safe:
//! we start listening to the live channel *before* reading history, so any message
//! committed after our read is waiting in the channel, and we drop from the channel what
//! history already gave us (offset <= last sent). If the channel ever shows a hole (we
//! fell behind and it dropped messages, or a message overtook another), we go back to the
//! database from the last offset we sent. The database is the truth; the channel is only a
//! fast path. When other processes append to the same log (replicas), their messages come
//! over the bus between processes, which may lose one without a gap to show for it, so a
//! live subscription also compares the room's head in the database with what it has sent,
//! every [`RECONCILE_EVERY`] (the heads of every subscribed room are read in one query by
//! [`HeadChecks`], which wakes the subscriptions).

use std::sync::Arc;

use dchat_bus::{BusEvent, Topic};
use dchat_core::{RoomId, UserId};
use futures::StreamExt;
use tokio::sync::{broadcast::error::RecvError, mpsc};

use crate::{
    MessageError,
    head_checks::HeadChecks,
    membership::{Membership, MembershipNews},
    reader::MessageReader,
    service::{MessageBus, StoredMessage},
};

/// Messages read from the database per query while catching up.
const CATCH_UP_PAGE: i64 = 500;

/// With a shared log, how often a live subscription compares the room's head in the
/// database with what it has sent: a message whose bus hint was lost is delivered within
/// this time.
pub const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) type Delivery = Result<Arc<StoredMessage>, MessageError>;

#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) room_id: RoomId,
    /// The reader whose membership is followed; `None` for a gateway's tail, whose
    /// clients the gateway authorizes itself.
    pub(crate) user_id: Option<UserId>,
    /// Replay every message after this offset first; `None` means live messages only.
    pub(crate) after: Option<i64>,
}

/// Feeds `out` until the receiver goes away, the reader leaves the room, or storage fails.
/// The caller has already checked membership.
pub(crate) async fn run(
    subscription: Subscription,
    reader: MessageReader,
    bus: MessageBus,
    membership: Membership,
    head_checks: HeadChecks,
    out: mpsc::Sender<Delivery>,
) {
    if let Err(err) = deliver(&subscription, &reader, &bus, &membership, &head_checks, &out).await {
        let _ = out.send(Err(err)).await;
    }
}

async fn deliver(
    subscription: &Subscription,
    reader: &MessageReader,
    bus: &MessageBus,
    membership: &Membership,
    head_checks: &HeadChecks,
    out: &mpsc::Sender<Delivery>,
) -> Result<(), MessageError> {
    let Subscription { room_id, user_id, after } = subscription;
    // Listen first, read second: see the module comment.
    let mut live = bus.subscribe(&Topic::RoomMessages(room_id.clone()));
    let mut checked = head_checks.interest(room_id);
    let mut news = membership.news();
    let mut last_sent = match after {
        Some(after) => (*after).max(0),
        None => reader.head(room_id).await?,
    };
    loop {
        // Catch up from the database.
        loop {
            let page = reader.starting_at(room_id, last_sent + 1, CATCH_UP_PAGE).await?;
            let page_len = page.len();
            for message in page {
                last_sent = message.offset;
                if out.send(Ok(Arc::new(message))).await.is_err() {
                    return Ok(());
                }
            }
            if i64::try_from(page_len).unwrap_or(i64::MAX) < CATCH_UP_PAGE {
                break;
            }
        }
        // Follow the live channel until it shows a hole, or (shared log) the database
        // holds more than it has told.
        loop {
            tokio::select! {
                () = out.closed() => return Ok(()),
                Ok(()) = checked.checked.changed(), if reader.shared() => {
                    if reader.remembered_head(room_id) > last_sent {
                        break;
                    }
                }
                received = live.next() => match received {
                    Some(BusEvent::Payload(message)) if message.offset <= last_sent => {}
                    Some(BusEvent::Payload(message)) if message.offset == last_sent + 1 => {
                        last_sent = message.offset;
                        if out.send(Ok(message)).await.is_err() {
                            return Ok(());
                        }
                    }
                    // A hole, or the bus says it dropped something: the database fills it
                    // (the subscription goes on where the bus put it).
                    Some(BusEvent::Payload(_) | BusEvent::Gap) => break,
                    None => return Err(MessageError::Unavailable("the live feed ended; resubscribe".to_owned())),
                },
                news_item = news.recv() => {
                    let Some(user_id) = user_id else { continue };
                    let recheck = match news_item {
                        Ok(MembershipNews::Left { room_id: left_room, user_id: left_user }) => {
                            if &left_room == room_id && &left_user == user_id {
                                return Err(MessageError::NotMember(room_id.clone()));
                            }
                            false
                        }
                        Ok(MembershipNews::Reset) | Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => false,
                    };
                    if recheck && !membership.is_member(room_id, *user_id).await? {
                        return Err(MessageError::NotMember(room_id.clone()));
                    }
                }
            }
        }
    }
}
