//! The follower's promises, over a log in memory: every change once and in order, lost
//! hints filled from the log, and watchers that fell behind told to start over.

use std::sync::Mutex;

use super::*;

/// A log in memory, numbered from 1, whose hints the test publishes (or loses) by hand.
#[derive(Debug, Default)]
struct MemoryLog {
    changes: Mutex<Vec<(u64, &'static str)>>,
    last: Mutex<u64>,
}

impl MemoryLog {
    fn commit(&self, change: &'static str) -> u64 {
        let mut last = self.last.lock().unwrap();
        *last += 1;
        self.changes.lock().unwrap().push((*last, change));
        *last
    }
}

#[async_trait::async_trait]
impl ChangeLog<&'static str> for MemoryLog {
    async fn last_seq(&self) -> Result<u64, LogError> {
        Ok(*self.last.lock().unwrap())
    }

    async fn changes_after(&self, seq: u64, limit: u32) -> Result<Vec<(u64, &'static str)>, LogError> {
        let changes = self.changes.lock().unwrap();
        Ok(changes.iter().filter(|(s, _)| *s > seq).take(limit as usize).cloned().collect())
    }

    async fn forget_through(&self, seq: u64) -> Result<(), LogError> {
        self.changes.lock().unwrap().retain(|(s, _)| *s > seq);
        Ok(())
    }
}

async fn started(log: &Arc<MemoryLog>) -> (Follower<&'static str>, LocalBus<(u64, &'static str)>, CancellationToken) {
    let hints = LocalBus::new(16, 16);
    let follower = Follower::start(log.clone(), Arc::new(hints.clone()), Topic::Memberships, 64).await.unwrap();
    let stopping = CancellationToken::new();
    tokio::spawn(follower.clone().run_until_stopped(stopping.clone()));
    // Let the follower subscribe to the hints before the test publishes any.
    tokio::task::yield_now().await;
    (follower, hints, stopping)
}

async fn next(watch: &mut Watch<&'static str>) -> Followed<&'static str> {
    tokio::time::timeout(Duration::from_secs(5), watch.changes.next()).await.unwrap().unwrap()
}

/// Hints that arrive in order are handed on as they are; a hint ahead of lost ones makes
/// the follower read the lost ones from the log first, so the watcher sees a, b, c, d.
#[tokio::test(start_paused = true)]
async fn a_watcher_sees_every_change_in_order_even_when_hints_are_lost() {
    let log = Arc::new(MemoryLog::default());
    log.commit("before");
    let (follower, hints, _stopping) = started(&log).await;
    let mut watch = follower.watch();
    assert_eq!(watch.baseline, 1, "changes committed before the start are not replayed");

    let seq = log.commit("a");
    hints.publish(&Topic::Memberships, (seq, "a"));
    log.commit("b"); // Its hint is lost.
    log.commit("c"); // So is this one.
    let seq = log.commit("d");
    hints.publish(&Topic::Memberships, (seq, "d"));
    for expected in [(2, "a"), (3, "b"), (4, "c"), (5, "d")] {
        assert_eq!(next(&mut watch).await, Followed::Change(expected.0, expected.1));
    }
    assert!(follower.applied_through(5, Duration::from_secs(1)).await);
}

/// With no hint at all, the poll finds the change within [`POLL_EVERY`]; the follower's own
/// process does not even wait for the poll ([`Follower::committed`]).
#[tokio::test(start_paused = true)]
async fn a_change_whose_hint_never_came_arrives_by_the_poll() {
    let log = Arc::new(MemoryLog::default());
    let (follower, _hints, _stopping) = started(&log).await;
    let mut watch = follower.watch();
    let start = tokio::time::Instant::now();
    log.commit("silent");
    assert_eq!(next(&mut watch).await, Followed::Change(1, "silent"));
    assert!(start.elapsed() <= POLL_EVERY, "took {:?}", start.elapsed());

    let seq = log.commit("mine");
    follower.committed(seq, "mine");
    assert!(follower.applied_through(seq, Duration::from_millis(1)).await);
    assert_eq!(next(&mut watch).await, Followed::Change(2, "mine"));
}

/// A follower whose next change the log already forgot tells its watchers to start over,
/// then goes on from what the log still has.
#[tokio::test(start_paused = true)]
async fn changes_the_log_forgot_reset_the_watchers() {
    let log = Arc::new(MemoryLog::default());
    let (follower, _hints, stopping) = started(&log).await;
    stopping.cancel(); // Stopped, so it misses what follows until the test catches it up.
    tokio::task::yield_now().await;
    let mut watch = follower.watch();
    for change in ["x", "y", "z"] {
        log.commit(change);
    }
    log.forget_through(2).await.unwrap();
    follower.catch_up().await;
    assert_eq!(next(&mut watch).await, Followed::Reset);
    assert_eq!(next(&mut watch).await, Followed::Change(3, "z"));
}

/// A watcher that reads nothing while more changes pass than its channel holds is reset,
/// never left with a silent hole.
#[tokio::test(start_paused = true)]
async fn a_watcher_that_falls_behind_is_reset() {
    let log = Arc::new(MemoryLog::default());
    let (follower, _hints, _stopping) = started(&log).await;
    let mut watch = follower.watch();
    for _ in 0..100 {
        let seq = log.commit("many");
        follower.committed(seq, "many");
    }
    assert!(follower.applied_through(100, Duration::from_secs(1)).await);
    assert_eq!(next(&mut watch).await, Followed::Reset);
}
