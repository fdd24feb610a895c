//! [`Follower`]: a numbered log of changes kept in the database (the truth), followed by
//! each process through the bus (the fast path), with every hole filled from the log.
//!
//! Services whose changes must reach every process (membership changes, revocations) write
//! each change in the same transaction as its effect, numbered by the log: numbers are
//! consecutive and commit in order (a counter row locked to the commit on PostgreSQL; the
//! single writer on SQLite), so a reader that has seen change `k` can read every change
//! before it. After the commit the writer publishes `(seq, change)` on the bus as a hint.
//!
//! One follower per process applies changes strictly in order and hands them on to its
//! watchers ([`Follower::watch`]). A hint (or a change this process committed) that is the
//! next change is applied as it is; any other (one ahead of a hole), a [`BusEvent::Gap`]
//! and a poll every [`POLL_EVERY`] read the changes after the last one applied from the log.
//! So a lost hint delays a change by at most the poll, and a watcher sees every change
//! once, in order, or is told to start over ([`Followed::Reset`]: it fell behind its
//! channel, or the log forgot changes it had not read).

use std::{
    fmt,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusEvent, LocalBus, Topic};

/// How often a follower reads the log for changes whose hints never came.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// Changes read from the log in one query.
const READ_BATCH: u32 = 1_000;

/// Changes the log keeps behind the newest; a follower further behind starts over.
pub const KEEP_CHANGES: u64 = 100_000;

/// Why the log could not be read; the follower retries at its next poll.
pub type LogError = Box<dyn std::error::Error + Send + Sync>;

/// The database's numbered log of one kind of change.
#[async_trait::async_trait]
pub trait ChangeLog<T>: Send + Sync + fmt::Debug + 'static {
    /// The number of the newest committed change (0 when there is none).
    async fn last_seq(&self) -> Result<u64, LogError>;

    /// Up to `limit` committed changes numbered after `seq`, in order.
    async fn changes_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, T)>, LogError>;

    /// Forgets the changes numbered `seq` and below.
    async fn forget_through(&self, seq: u64) -> Result<(), LogError>;
}

/// What a watcher receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed<T> {
    /// The next change, with its number.
    Change(u64, T),
    /// Changes were missed: drop whatever was built on them and start over.
    Reset,
}

/// A watcher: every change after `baseline`, in order, from `changes`.
pub struct Watch<T> {
    pub baseline: u64,
    pub changes: Pin<Box<dyn Stream<Item = Followed<T>> + Send>>,
}

impl<T> fmt::Debug for Watch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("baseline", &self.baseline).finish_non_exhaustive()
    }
}

struct Inner<T> {
    log: Arc<dyn ChangeLog<T>>,
    hints: Arc<dyn Bus<(u64, T)>>,
    topic: Topic,
    /// The number of the last change handed to watchers. The lock also orders hand-overs
    /// against [`Follower::watch`], so no change falls between a baseline and its stream.
    applied: Mutex<u64>,
    /// `applied`, for those waiting for a change to arrive.
    progress: watch::Sender<u64>,
    watchers: LocalBus<Followed<T>>,
    nudge: Notify,
}

/// One process's follower of one change log.
pub struct Follower<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Follower<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<T> fmt::Debug for Follower<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follower").field("topic", &self.inner.topic).field("log", &self.inner.log).finish()
    }
}

impl<T: Clone + Send + Sync + 'static> Follower<T> {
    /// A follower of `log` that hears hints on `topic` of `hints`, starting after the
    /// newest change committed now. Watchers' channels hold `capacity` changes before a
    /// slow one is reset. It follows once [`Follower::run_until_stopped`] runs.
    pub async fn start(
        log: Arc<dyn ChangeLog<T>>,
        hints: Arc<dyn Bus<(u64, T)>>,
        topic: Topic,
        capacity: usize,
    ) -> Result<Self, LogError> {
        let last = log.last_seq().await?;
        let inner = Inner {
            log,
            hints,
            topic,
            applied: Mutex::new(last),
            progress: watch::Sender::new(last),
            watchers: LocalBus::new(capacity, capacity),
            nudge: Notify::new(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    fn applied(&self) -> MutexGuard<'_, u64> {
        self.inner.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every change applied from now on, after the returned baseline.
    pub fn watch(&self) -> Watch<T> {
        let applied = self.applied();
        let changes = self.inner.watchers.subscribe(&self.inner.topic).map(|event| match event {
            BusEvent::Payload(followed) => followed,
            // A watcher that fell behind its channel missed changes.
            BusEvent::Gap => Followed::Reset,
        });
        Watch { baseline: *applied, changes: Box::pin(changes) }
    }

    /// Publishes the hint of a change this process committed, and applies it here at once
    /// when it is the next change (otherwise the follower reads the log for what lies
    /// before it), without waiting for the bus or reading back what it was just given.
    pub fn committed(&self, seq: u64, change: T) {
        self.inner.hints.publish(&self.inner.topic, (seq, change.clone()));
        if !self.apply_next(seq, change) {
            self.inner.nudge.notify_one();
        }
    }

    /// Waits until change `seq` has been handed to the watchers, at most `timeout`.
    /// Returns whether it was.
    pub async fn applied_through(&self, seq: u64, timeout: Duration) -> bool {
        let mut progress = self.inner.progress.subscribe();
        tokio::time::timeout(timeout, progress.wait_for(|&applied| applied >= seq)).await.is_ok_and(|seen| seen.is_ok())
    }

    /// Follows hints and the log until `stopping`, and now and then has the log forget
    /// changes far behind.
    pub async fn run_until_stopped(self, stopping: CancellationToken) {
        let mut hints = self.inner.hints.subscribe(&self.inner.topic);
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut polls: u64 = 0;
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                hint = hints.next() => match hint {
                    Some(BusEvent::Payload((seq, change))) => {
                        if !self.apply_next(seq, change) {
                            self.catch_up().await;
                        }
                    }
                    Some(BusEvent::Gap) => self.catch_up().await,
                    None => {
                        // The bus went away; the poll carries on meanwhile.
                        tokio::time::sleep(POLL_EVERY).await;
                        hints = self.inner.hints.subscribe(&self.inner.topic);
                    }
                },
                () = self.inner.nudge.notified() => self.catch_up().await,
                _ = poll.tick() => {
                    self.catch_up().await;
                    polls += 1;
                    // About once a minute, the log forgets what no live follower needs.
                    if polls.is_multiple_of(240) {
                        self.forget_old().await;
                    }
                }
            }
        }
    }

    /// Hands on a hinted change if it is the next one. Returns false when it is ahead of a
    /// hole (the log has what lies between); a change already applied is ignored.
    fn apply_next(&self, seq: u64, change: T) -> bool {
        let mut applied = self.applied();
        if seq <= *applied {
            return true;
        }
        if seq != *applied + 1 {
            return false;
        }
        self.hand_on(&mut applied, seq, change);
        true
    }

    fn hand_on(&self, applied: &mut u64, seq: u64, change: T) {
        self.inner.watchers.publish(&self.inner.topic, Followed::Change(seq, change));
        *applied = seq;
        self.inner.progress.send_replace(seq);
    }

    /// Reads and hands on every change after the last applied one.
    async fn catch_up(&self) {
        loop {
            let after = *self.applied();
            let changes = match self.inner.log.changes_after(after, READ_BATCH).await {
                Ok(changes) => changes,
                Err(error) => {
                    tracing::warn!(topic = %self.inner.topic, %error, "could not read the change log; retrying at the next poll");
                    return;
                }
            };
            let full = changes.len() == READ_BATCH as usize;
            let mut applied = self.applied();
            for (seq, change) in changes {
                if seq <= *applied {
                    continue; // A hint applied it while the log was read.
                }
                if seq != *applied + 1 {
                    // The log forgot changes this process had not read: its watchers
                    // cannot know what they missed, so they start over.
                    tracing::warn!(topic = %self.inner.topic, applied = *applied, seq, "the change log forgot changes not yet followed; watchers start over");
                    self.inner.watchers.publish(&self.inner.topic, Followed::Reset);
                }
                self.hand_on(&mut applied, seq, change);
            }
            if !full {
                return;
            }
        }
    }

    async fn forget_old(&self) {
        let applied = *self.applied();
        if let Some(through) = applied.checked_sub(KEEP_CHANGES)
            && let Err(error) = self.inner.log.forget_through(through).await
        {
            tracing::warn!(topic = %self.inner.topic, %error, "could not trim the change log");
        }
    }
}

#[cfg(test)]
mod tests;
