//! The membership change feed: the store's numbered log of joins and leaves, followed by
//! this process ([`Follower`]: hints on the bus, holes filled from the log), carried to the
//! watchers that cache membership (the message services and the gateways connected to this
//! replica), with their acknowledgements.
//!
//! A join or leave commits its change, publishes the hint and then waits until every
//! watcher connected here has acknowledged it, so that when it returns no cache fed by
//! this replica still holds the old answer. Watchers of other replicas apply it as soon as
//! their replica hears the hint, or at its next poll of the log (a quarter second) if the
//! hint was lost: within a second either way. A watcher that does not acknowledge within
//! [`ACK_TIMEOUT`] only delays the call; a watcher that disconnects is forgotten (and drops
//! its whole cache); a watcher that missed changes is cut off and starts over with an empty
//! cache, which is always safe.
//!
//! Architecture Invariant: the database's log is the truth about the order of membership
//! changes; the bus only makes them arrive sooner.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use dchat_bus::{Bus, ChangeLog, Followed, Follower, LogError, Topic};
use futures::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{MembershipChange, store::RoomStore};

/// The bus the hints of membership changes travel on, each with its number in the log.
pub type MembershipBus = Arc<dyn Bus<(u64, MembershipChange)>>;

/// Longest a join or leave waits for watchers to apply it.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Changes a watcher's channel holds before a watcher that does not read them is reset.
const WATCHER_CHANNEL: usize = 16_384;

/// A registered watcher: the changes after `baseline`, delivered through `changes`.
pub(crate) struct Watcher {
    pub(crate) id: u64,
    pub(crate) baseline: u64,
    pub(crate) changes: Pin<Box<dyn Stream<Item = Followed<MembershipChange>> + Send>>,
}

/// The store's log, as a follower reads it.
#[derive(Debug)]
struct StoreLog(Arc<dyn RoomStore>);

#[dchat_bus::async_trait]
impl ChangeLog<MembershipChange> for StoreLog {
    async fn last_seq(&self) -> Result<u64, LogError> {
        Ok(self.0.last_change().await?)
    }

    async fn changes_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, MembershipChange)>, LogError> {
        Ok(self.0.changes_after(seq, limit).await?)
    }

    async fn forget_through(&self, seq: u64) -> Result<(), LogError> {
        Ok(self.0.delete_changes_through(seq).await?)
    }
}

#[derive(Debug, Default)]
struct AckState {
    next_watcher_id: u64,
    /// Watcher id -> highest seq it acknowledged.
    acked: HashMap<u64, u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct ChangeFeed {
    follower: Follower<MembershipChange>,
    state: Arc<Mutex<AckState>>,
    /// Pinged whenever an acknowledgement arrives or a watcher goes away.
    ack_progress: watch::Sender<()>,
}

impl ChangeFeed {
    /// Follows the log of `store` from its newest change, hearing hints on `bus`.
    pub(crate) async fn start(store: Arc<dyn RoomStore>, bus: MembershipBus) -> Result<Self, LogError> {
        let follower = Follower::start(Arc::new(StoreLog(store)), bus, Topic::Memberships, WATCHER_CHANNEL).await?;
        Ok(Self { follower, state: Arc::default(), ack_progress: watch::Sender::new(()) })
    }

    /// Follows the log until `stopping`.
    pub(crate) async fn run_until_stopped(self, stopping: CancellationToken) {
        self.follower.run_until_stopped(stopping).await;
    }

    // A std mutex: held for a few map operations, never across an await.
    fn lock(&self) -> MutexGuard<'_, AckState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces change `seq`, just committed, then waits (bounded) until every watcher of
    /// this replica applied it.
    pub(crate) async fn publish_and_wait(&self, seq: u64, change: MembershipChange) {
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        let mut progress = self.ack_progress.subscribe();
        self.follower.committed(seq, change);
        if !self.follower.applied_through(seq, ACK_TIMEOUT).await {
            tracing::warn!(seq, "a membership change was not followed in time");
            return;
        }
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
        let watch = self.follower.watch();
        let mut state = self.lock();
        let id = state.next_watcher_id;
        state.next_watcher_id += 1;
        state.acked.insert(id, watch.baseline);
        Watcher { id, baseline: watch.baseline, changes: watch.changes }
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
    use dchat_bus::LocalBus;
    use dchat_core::{RoomId, RoomName, UserId};
    use futures::StreamExt;

    use super::*;
    use crate::{SqliteRoomStore, store::MemberInsert};

    async fn store(dir: &tempfile::TempDir) -> Arc<dyn RoomStore> {
        let path = dir.path().join("room.db");
        let pool = dchat_storage::open_sqlite(&path, dchat_storage::Durability::Normal, 2).await.unwrap();
        Arc::new(SqliteRoomStore::migrate(pool, &path).await.unwrap())
    }

    /// Two replicas over one store and one bus: a change committed through either reaches
    /// the watchers of both, numbered and in order, and a join waits for its own replica's
    /// watchers.
    #[tokio::test]
    async fn watchers_of_every_replica_get_every_change_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let bus: MembershipBus = Arc::new(LocalBus::new(16, 16));
        let stopping = CancellationToken::new();
        let mut replicas = Vec::new();
        for _ in 0..2 {
            let feed = ChangeFeed::start(store.clone(), bus.clone()).await.unwrap();
            tokio::spawn(feed.clone().run_until_stopped(stopping.clone()));
            replicas.push(feed);
        }
        let mut watchers: Vec<Watcher> = replicas.iter().map(ChangeFeed::register).collect();
        let general = RoomId::general();
        store.insert_room(&RoomId::parse("club").unwrap(), &RoomName::parse("Club").unwrap(), None, 1).await.unwrap();
        let mut expected = Vec::new();
        for (n, feed) in [&replicas[0], &replicas[1], &replicas[0]].into_iter().enumerate() {
            let user_id = UserId::generate();
            let MemberInsert::Joined(seq) = store.insert_member(&general, user_id, 1).await.unwrap() else {
                panic!("a new member joins");
            };
            let change = MembershipChange { room_id: general.clone(), user_id, member: true };
            expected.push(Followed::Change(seq, change.clone()));
            // Nobody acknowledges here, so the wait ends at its bound; that is not the point.
            let _ =
                tokio::time::timeout(Duration::from_millis(10 * (n as u64 + 1)), feed.publish_and_wait(seq, change))
                    .await;
        }
        for watcher in &mut watchers {
            let seen: Vec<_> = (&mut watcher.changes).take(3).collect().await;
            assert_eq!(seen, expected);
        }
        stopping.cancel();
    }
}
