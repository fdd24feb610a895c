//! [`HeadChecks`]: with a shared log, the periodic check that closes holes left by lost bus
//! hints, made once per process rather than once per subscription.
//!
//! Every [`RECONCILE_EVERY`] one query asks the database for the heads of every room this
//! process has live subscriptions on, raises the heads it remembers, and wakes the
//! subscriptions, each of which compares its room's head with what it has sent and reads
//! the database when it is behind. A thousand subscribed rooms cost one query a second,
//! not a thousand.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use dchat_core::RoomId;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{reader::MessageReader, subscription::RECONCILE_EVERY};

#[derive(Debug)]
struct Inner {
    /// Rooms with live subscriptions here, and how many.
    interest: Mutex<HashMap<RoomId, usize>>,
    /// Bumped after each check: the remembered heads are fresh.
    checked: watch::Sender<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct HeadChecks {
    inner: Arc<Inner>,
}

impl Default for HeadChecks {
    fn default() -> Self {
        Self { inner: Arc::new(Inner { interest: Mutex::default(), checked: watch::Sender::new(0) }) }
    }
}

/// A subscription's place in the checks: its room is checked while it is held.
#[derive(Debug)]
pub(crate) struct Interest {
    checks: HeadChecks,
    room_id: RoomId,
    /// Changes after each check.
    pub(crate) checked: watch::Receiver<u64>,
}

impl Drop for Interest {
    fn drop(&mut self) {
        let mut interest = self.checks.lock();
        if let Some(count) = interest.get_mut(&self.room_id) {
            *count -= 1;
            if *count == 0 {
                interest.remove(&self.room_id);
            }
        }
    }
}

impl HeadChecks {
    // A std mutex: held for one map operation, never across an await.
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomId, usize>> {
        self.inner.interest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Has `room_id` checked while the returned interest is held.
    pub(crate) fn interest(&self, room_id: &RoomId) -> Interest {
        *self.lock().entry(room_id.clone()).or_insert(0) += 1;
        Interest { checks: self.clone(), room_id: room_id.clone(), checked: self.inner.checked.subscribe() }
    }

    /// Checks the heads of the subscribed rooms every [`RECONCILE_EVERY`] until `stopping`.
    pub(crate) async fn run_until_stopped(self, reader: MessageReader, stopping: CancellationToken) {
        let mut ticks = tokio::time::interval(RECONCILE_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let rooms: Vec<RoomId> = self.lock().keys().cloned().collect();
            if rooms.is_empty() {
                continue;
            }
            match reader.refresh_heads(&rooms).await {
                Ok(()) => {
                    self.inner.checked.send_modify(|n| *n += 1);
                }
                Err(error) => tracing::warn!(%error, rooms = rooms.len(), "could not check the rooms' heads"),
            }
        }
    }
}
