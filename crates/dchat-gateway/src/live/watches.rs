//! What the gateway follows from the services to keep open WebSockets honest:
//! - membership changes, so that a user who leaves a room stops receiving it at once (each
//!   change is acknowledged only after it is passed on, so a leave returns only once its
//!   subscriptions are ending);
//! - revocations, so that a logout on any gateway closes the token's connections here.

use std::time::Duration;

use dchat_proto::{auth::v1::WatchRevocationsRequest, room::v1::MembershipAck};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::state::GatewayState;

/// Runs both watches until `stopping`.
pub(crate) async fn follow(state: GatewayState, stopping: CancellationToken) {
    tokio::join!(
        keep_following("membership", || follow_memberships(&state), &stopping),
        keep_following("revocation", || follow_revocations(&state), &stopping),
    );
}

/// Runs `watch` until `stopping`, reconnecting with backoff whenever it breaks.
async fn keep_following<F, Fut>(what: &str, watch: F, stopping: &CancellationToken)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            () = stopping.cancelled() => return,
            outcome = watch() => outcome,
        };
        if let Err(status) = outcome {
            tracing::warn!(%status, retry_in = ?delay, "gateway {what} watch failed; reconnecting");
        }
        tokio::select! {
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn follow_revocations(state: &GatewayState) -> Result<(), tonic::Status> {
    let followed = async {
        let mut revocations = state.auth().watch_revocations(WatchRevocationsRequest {}).await?.into_inner();
        while let Some(revocation) = revocations.message().await? {
            if revocation.token_sha256.is_empty() {
                // The watch is (re)connected: catch what may have been revoked meanwhile,
                // and from now on verified tokens may be remembered.
                state.caches().verified.set_following(true);
                state.live().connections.reverify_all();
            } else {
                state.caches().verified.forget_digest(&revocation.token_sha256);
                state.live().connections.close_revoked(&revocation.token_sha256);
            }
        }
        Ok(())
    }
    .await;
    // Revocations may now go unheard: nothing verified may be taken on trust any more.
    state.caches().verified.set_following(false);
    followed
}

async fn follow_memberships(state: &GatewayState) -> Result<(), tonic::Status> {
    let followed = async {
        let (acks, ack_stream) = mpsc::channel(1024);
        let mut changes = state.rooms().watch_membership(ReceiverStream::new(ack_stream)).await?.into_inner();
        while let Some(event) = changes.message().await? {
            if event.room_id.is_empty() {
                // The marker: every change from now on is in this stream.
                state.caches().members.set_following(true);
            } else if !event.member {
                // Forgotten before the acknowledgement, which the leave waits for.
                state.caches().members.forget(&event.room_id, &event.user_id);
                state.live().connections.left(&event.room_id, &event.user_id);
            }
            if acks.send(MembershipAck { seq: event.seq }).await.is_err() {
                break;
            }
        }
        Ok(())
    }
    .await;
    state.caches().members.set_following(false);
    followed
}
