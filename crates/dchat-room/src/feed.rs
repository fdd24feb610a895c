//! The membership change feed: numbered changes, published on the bus
//! ([`Topic::Memberships`]), and the acknowledgements of the watchers that cache
//! membership (the message service and the gateways).
//!
//! Join and leave publish their change and then wait until every connected watcher has
//! acknowledged it, so that when a join or leave returns, no cache anywhere still holds
//! the old answer. A watcher that does not acknowledge within [`ACK_TIMEOUT`] only delays
//! the call; a watcher that disconnects is forgotten (and drops its whole cache). A
//! watcher that missed changes (a [`BusEvent::Gap`]) is cut off and starts over with an
//! empty cache, which is always safe.
//!
//! Architecture Invariant: the numbering and the acknowledgements are this process's: a
//! change waits only for the watchers connected to the replica that made it. Several room
//! replicas need one sequence and acknowledgements that cross processes (the scale-out
//! work replaces this part); the fan-out itself already goes through the bus.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use dchat_bus::{Bus, BusStream, Topic};
use tokio::sync::watch;

use crate::MembershipChange;

/// The bus membership changes travel on, each with its sequence number.
pub type MembershipBus = Arc<dyn Bus<(u64, MembershipChange)>>;

/// Longest a join or leave waits for watchers to apply it.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// A registered watcher: the changes after `baseline`, delivered through `changes`.
pub(crate) struct Watcher {
    pub(crate) id: u64,
    pub(crate) baseline: u64,
    pub(crate) changes: BusStream<(u64, MembershipChange)>,
}

#[derive(Debug, Default)]
struct FeedState {
    last_seq: u64,
    next_watcher_id: u64,
    /// Watcher id -> highest seq it acknowledged.
    acked: HashMap<u64, u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct ChangeFeed {
    state: Arc<Mutex<FeedState>>,
    bus: MembershipBus,
    /// Pinged whenever an acknowledgement arrives or a watcher goes away.
    ack_progress: watch::Sender<()>,
}

impl ChangeFeed {
    pub(crate) fn new(bus: MembershipBus) -> Self {
        Self { state: Arc::default(), bus, ack_progress: watch::Sender::new(()) }
    }

    // A std mutex: held for a few map operations, never across an await.
    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers and sends a change, then waits (bounded) until every watcher applied it.
    pub(crate) async fn publish_and_wait(&self, change: MembershipChange) {
        let seq = {
            // Numbering and publishing under one lock keeps the stream in seq order.
            let mut state = self.lock();
            state.last_seq += 1;
            self.bus.publish(&Topic::Memberships, (state.last_seq, change));
            state.last_seq
        };
        let mut progress = self.ack_progress.subscribe();
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        loop {
            let lagging = self.lock().acked.values().filter(|&&acked| acked < seq).count();
            if lagging == 0 {
                return;
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    tracing::warn!(seq, lagging, "membership watchers did not acknowledge a change in time");
                    return;
                }
            }
        }
    }

    /// Registers a watcher that has applied everything up to now.
    pub(crate) fn register(&self) -> Watcher {
        let mut state = self.lock();
        let id = state.next_watcher_id;
        state.next_watcher_id += 1;
        let baseline = state.last_seq;
        state.acked.insert(id, baseline);
        // Subscribed under the lock that numbers changes: none falls between the baseline
        // and the subscription.
        Watcher { id, baseline, changes: self.bus.subscribe(&Topic::Memberships) }
    }

    pub(crate) fn ack(&self, watcher_id: u64, seq: u64) {
        if let Some(acked) = self.lock().acked.get_mut(&watcher_id) {
            *acked = (*acked).max(seq);
        }
        self.ack_progress.send_replace(());
    }

    pub(crate) fn deregister(&self, watcher_id: u64) {
        self.lock().acked.remove(&watcher_id);
        self.ack_progress.send_replace(());
    }
}

#[cfg(test)]
mod tests {
    use dchat_bus::{BusEvent, LocalBus};
    use dchat_core::{RoomId, UserId};
    use futures::StreamExt;

    use super::*;

    fn change(member: bool) -> MembershipChange {
        MembershipChange { room_id: RoomId::parse("general").unwrap(), user_id: UserId::generate(), member }
    }

    /// Changes reach a watcher numbered and in order, and a change waits for the watchers'
    /// acknowledgements (at most a second each here: time is paused, so the test does not).
    #[tokio::test(start_paused = true)]
    async fn a_watcher_gets_every_change_in_order_or_a_gap_never_a_silent_hole() {
        let feed = ChangeFeed::new(Arc::new(LocalBus::new(2, 2)));
        let mut keeping_up = feed.register();
        feed.publish_and_wait(change(true)).await;
        feed.publish_and_wait(change(false)).await;
        let seqs: Vec<u64> = (&mut keeping_up.changes)
            .take(2)
            .map(|event| match event {
                BusEvent::Payload((seq, _)) => seq,
                BusEvent::Gap => panic!("no gap for a watcher that keeps up"),
            })
            .collect()
            .await;
        assert_eq!(seqs, [keeping_up.baseline + 1, keeping_up.baseline + 2]);

        // A watcher that reads nothing while five changes pass a bus that holds two is told
        // it missed some, before anything after the hole.
        let mut behind = feed.register();
        for _ in 0..5 {
            feed.publish_and_wait(change(true)).await;
        }
        assert_eq!(behind.changes.next().await, Some(BusEvent::Gap));
    }
}
