//! Presence rules on tokio's paused clock: TTLs expire exactly when they should.

use std::time::Duration;

use dchat_core::{DisplayName, RoomId, UserId};
use tokio::{
    sync::broadcast,
    time::{Instant, advance},
};
use tokio_util::sync::CancellationToken;

use super::*;

fn service() -> PresenceService {
    PresenceService::new(&PresenceConfig { ttl: Duration::from_secs(20) })
}

fn general() -> RoomId {
    RoomId::general()
}

fn name(s: &str) -> Option<DisplayName> {
    Some(DisplayName::parse(s).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_keeps_a_user_online_for_exactly_one_ttl() {
    let presence = service();
    let alice = UserId::generate();
    let (_, mut events) = presence.subscribe(&general());
    presence.heartbeat(general(), alice, name("Alice"), "tab").unwrap();
    let join = events.recv().await.unwrap();
    assert_eq!((join.kind, join.user_id, join.display_name.as_str()), (PresenceKind::Join, alice, "Alice"));

    advance(Duration::from_millis(19_999)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 0, "still inside the TTL");
    assert_eq!(presence.roster(&general()).len(), 1);

    advance(Duration::from_millis(1)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 1);
    let leave = events.recv().await.unwrap();
    assert_eq!((leave.kind, leave.user_id), (PresenceKind::Leave, alice));
    assert!(presence.roster(&general()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn each_heartbeat_extends_the_ttl() {
    let presence = service();
    let alice = UserId::generate();
    presence.heartbeat(general(), alice, None, "tab").unwrap();
    for _ in 0..5 {
        advance(Duration::from_secs(15)).await;
        presence.heartbeat(general(), alice, None, "tab").unwrap();
        assert_eq!(presence.sweep_once(Instant::now()), 0);
    }
    advance(Duration::from_secs(21)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 1);
}

#[tokio::test(start_paused = true)]
async fn a_user_with_two_sessions_leaves_only_when_the_last_one_expires() {
    let presence = service();
    let alice = UserId::generate();
    let (_, mut events) = presence.subscribe(&general());
    presence.heartbeat(general(), alice, name("Alice"), "phone").unwrap();
    advance(Duration::from_secs(10)).await;
    presence.heartbeat(general(), alice, name("Alice"), "laptop").unwrap();
    assert_eq!(events.recv().await.unwrap().kind, PresenceKind::Join);

    advance(Duration::from_secs(11)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 0, "the phone expired, the laptop is alive");
    assert!(events.try_recv().is_err(), "no LEAVE while a session lives");
    advance(Duration::from_secs(10)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 1);
    assert_eq!(events.recv().await.unwrap().kind, PresenceKind::Leave);
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_delivers_leave_on_its_own() {
    let presence = service();
    let shutdown = CancellationToken::new();
    let sweeper = tokio::spawn(presence.clone().run_sweeper(shutdown.clone()));
    let alice = UserId::generate();
    let (_, mut events) = presence.subscribe(&general());
    presence.heartbeat(general(), alice, None, "").unwrap();
    assert_eq!(events.recv().await.unwrap().kind, PresenceKind::Join);
    let started = Instant::now();
    // The paused clock jumps straight to the sweeper's next tick while we wait.
    let leave = events.recv().await.unwrap();
    assert_eq!(leave.kind, PresenceKind::Leave);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(20) && waited <= Duration::from_secs(26), "left after {waited:?}");
    shutdown.cancel();
    sweeper.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn rooms_are_independent_and_a_snapshot_lists_who_is_online() {
    let presence = service();
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let other = RoomId::parse("other").unwrap();
    presence.heartbeat(general(), alice, name("Alice"), "").unwrap();
    presence.heartbeat(other.clone(), bob, name("Bob"), "").unwrap();
    let (snapshot, _) = presence.subscribe(&general());
    assert_eq!(snapshot.len(), 1);
    assert_eq!((snapshot[0].user_id, snapshot[0].kind), (alice, PresenceKind::Join));
    presence.disconnect(&general(), alice, "");
    assert!(presence.roster(&general()).is_empty());
    assert_eq!(presence.roster(&other).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn one_user_cannot_open_unbounded_sessions() {
    let presence = service();
    let alice = UserId::generate();
    for i in 0..MAX_SESSIONS {
        presence.heartbeat(general(), alice, None, &format!("s{i}")).unwrap();
    }
    assert!(matches!(presence.heartbeat(general(), alice, None, "one more"), Err(PresenceError::TooManySessions)));
    presence.heartbeat(general(), alice, None, "s0").expect("an existing session may keep beating");
}

/// Sends `n` typing events to `general`.
fn typing_burst(presence: &PresenceService, user: UserId, n: usize) {
    for _ in 0..n {
        presence.typing(general(), user, name("Alice"));
    }
}

/// Reads what is waiting: how many events, or how many were missed.
fn read_all(events: &mut broadcast::Receiver<PresenceEvent>) -> Result<usize, u64> {
    let mut read = 0;
    loop {
        match events.try_recv() {
            Ok(_) => read += 1,
            Err(broadcast::error::TryRecvError::Lagged(n)) => return Err(n),
            Err(_) => return Ok(read),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_rooms_event_channel_starts_small_and_grows_for_those_who_fall_behind_without_moving_the_others() {
    let presence = service();
    let alice = UserId::generate();
    presence.heartbeat(general(), alice, name("Alice"), "tab").unwrap();
    let (_, mut slow) = presence.subscribe(&general());
    let (_, mut keeping_up) = presence.subscribe(&general());

    typing_burst(&presence, alice, FIRST_EVENT_BUFFER);
    assert_eq!(read_all(&mut keeping_up), Ok(FIRST_EVENT_BUFFER), "a burst the size of the first channel fits");
    typing_burst(&presence, alice, FIRST_EVENT_BUFFER);
    assert_eq!(read_all(&mut keeping_up), Ok(FIRST_EVENT_BUFFER));
    assert_eq!(read_all(&mut slow), Err(FIRST_EVENT_BUFFER as u64), "one that read nothing of two bursts lags");
    presence.lagged(&general());

    // The one that fell behind starts over on a channel four times as large, while the one
    // that kept up holds its place on the first and misses nothing.
    let (_, mut resubscribed) = presence.subscribe(&general());
    typing_burst(&presence, alice, FIRST_EVENT_BUFFER);
    assert_eq!(read_all(&mut keeping_up), Ok(FIRST_EVENT_BUFFER));
    assert_eq!(read_all(&mut resubscribed), Ok(FIRST_EVENT_BUFFER));
    typing_burst(&presence, alice, 4 * FIRST_EVENT_BUFFER);
    assert_eq!(read_all(&mut resubscribed), Ok(4 * FIRST_EVENT_BUFFER));

    // Growing stops at the largest channel.
    for _ in 0..4 {
        presence.lagged(&general());
    }
    let (_, mut largest) = presence.subscribe(&general());
    typing_burst(&presence, alice, EVENT_BUFFER + 1);
    assert_eq!(read_all(&mut largest), Err(1));
}
