//! Follows the room service's membership changes so that a user who leaves a room stops
//! receiving it over every open WebSocket at once. The gateway acknowledges each change
//! only after passing it on, so a leave returns only once its subscriptions are ending.

use std::time::Duration;

use dchat_proto::room::v1::MembershipAck;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::state::GatewayState;

/// Runs until `stopping`, reconnecting with backoff whenever the watch breaks.
pub(crate) async fn follow(state: GatewayState, stopping: CancellationToken) {
    let mut delay = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            () = stopping.cancelled() => return,
            outcome = follow_once(&state) => outcome,
        };
        if let Err(status) = outcome {
            tracing::warn!(%status, retry_in = ?delay, "gateway membership watch failed; reconnecting");
        }
        tokio::select! {
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn follow_once(state: &GatewayState) -> Result<(), tonic::Status> {
    let (acks, ack_stream) = mpsc::channel(1024);
    let mut changes = state.rooms().watch_membership(ReceiverStream::new(ack_stream)).await?.into_inner();
    while let Some(event) = changes.message().await? {
        if !event.room_id.is_empty() && !event.member {
            state.inner.connections.left(&event.room_id, &event.user_id);
        }
        if acks.send(MembershipAck { seq: event.seq }).await.is_err() {
            break;
        }
    }
    Ok(())
}
