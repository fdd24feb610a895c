//! Presence rules on tokio's paused clock: TTLs expire exactly when they should.

use std::time::Duration;

use dchat_core::{DisplayName, RoomId, UserId};
use tokio::time::{Instant, advance};
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
