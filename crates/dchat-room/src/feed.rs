//! The membership change feed: numbered changes, and the acknowledgements of the watchers
//! that cache membership (the message service).
//!
//! Join and leave publish their change and then wait until every connected watcher has
//! acknowledged it, so that when a join or leave returns, no cache anywhere still holds
//! the old answer. A watcher that does not acknowledge within [`ACK_TIMEOUT`] only delays
//! the call; a watcher that disconnects is forgotten (and drops its whole cache).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::sync::{broadcast, watch};

use crate::MembershipChange;

/// Longest a join or leave waits for watchers to apply it.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);
/// How many changes a slow watcher may fall behind before it is cut off (and must
/// reconnect and drop its cache, which is always safe).
const WATCH_BUFFER: usize = 4096;

/// A registered watcher: the changes after `baseline`, delivered through `changes`.
#[derive(Debug)]
pub(crate) struct Watcher {
    pub(crate) id: u64,
    pub(crate) baseline: u64,
    pub(crate) changes: broadcast::Receiver<(u64, MembershipChange)>,
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
    changes: broadcast::Sender<(u64, MembershipChange)>,
    /// Pinged whenever an acknowledgement arrives or a watcher goes away.
    ack_progress: watch::Sender<()>,
}

impl ChangeFeed {
    pub(crate) fn new() -> Self {
        let (changes, _) = broadcast::channel(WATCH_BUFFER);
        Self { state: Arc::default(), changes, ack_progress: watch::Sender::new(()) }
    }

    // A std mutex: held for a few map operations, never across an await.
    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers and sends a change, then waits (bounded) until every watcher applied it.
    pub(crate) async fn publish_and_wait(&self, change: MembershipChange) {
        let seq = {
            // Numbering and sending under one lock keeps the stream in seq order.
            let mut state = self.lock();
            state.last_seq += 1;
            let _ = self.changes.send((state.last_seq, change));
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
        Watcher { id, baseline, changes: self.changes.subscribe() }
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
