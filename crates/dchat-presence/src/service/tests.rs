//! Presence rules on tokio's paused clock: TTLs expire exactly when they should.

use std::time::Duration;

use dchat_bus::BusEvent;
use dchat_core::{DisplayName, RoomId, UserId};
use futures::{FutureExt, StreamExt};
use tokio::time::{Instant, advance};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use dchat_bus::BusStream;

use super::*;

fn service() -> PresenceService {
    PresenceService::new(&PresenceConfig { ttl: Duration::from_secs(20) }, Arc::new(PresenceService::local_bus()))
}

/// The next event, which must be one (not a gap).
async fn next(events: &mut BusStream<PresenceEvent>) -> PresenceEvent {
    match events.next().await {
        Some(BusEvent::Payload(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
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
    let join = next(&mut events).await;
    assert_eq!((join.kind, join.user_id, join.display_name.as_str()), (PresenceKind::Join, alice, "Alice"));

    advance(Duration::from_millis(19_999)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 0, "still inside the TTL");
    assert_eq!(presence.roster(&general()).len(), 1);

    advance(Duration::from_millis(1)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 1);
    let leave = next(&mut events).await;
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
    assert_eq!(next(&mut events).await.kind, PresenceKind::Join);

    advance(Duration::from_secs(11)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 0, "the phone expired, the laptop is alive");
    assert!(events.next().now_or_never().is_none(), "no LEAVE while a session lives");
    advance(Duration::from_secs(10)).await;
    assert_eq!(presence.sweep_once(Instant::now()), 1);
    assert_eq!(next(&mut events).await.kind, PresenceKind::Leave);
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_delivers_leave_on_its_own() {
    let presence = service();
    let shutdown = CancellationToken::new();
    let sweeper = tokio::spawn(presence.clone().run_sweeper(shutdown.clone()));
    let alice = UserId::generate();
    let (_, mut events) = presence.subscribe(&general());
    presence.heartbeat(general(), alice, None, "").unwrap();
    assert_eq!(next(&mut events).await.kind, PresenceKind::Join);
    let started = Instant::now();
    // The paused clock jumps straight to the sweeper's next tick while we wait.
    let leave = next(&mut events).await;
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

/// How many events are waiting, or a gap.
fn read_all(events: &mut BusStream<PresenceEvent>) -> Result<usize, ()> {
    let mut read = 0;
    // Unconstrained: tokio's cooperative budget would otherwise answer "not yet" with events waiting.
    while let Some(Some(event)) = tokio::task::unconstrained(events.next()).now_or_never() {
        match event {
            BusEvent::Payload(_) => read += 1,
            BusEvent::Gap => return Err(()),
        }
    }
    Ok(read)
}

#[tokio::test(start_paused = true)]
async fn one_that_falls_behind_is_told_and_starting_over_finds_a_larger_channel() {
    let presence = service();
    let alice = UserId::generate();
    presence.heartbeat(general(), alice, name("Alice"), "tab").unwrap();
    let (_, mut slow) = presence.subscribe(&general());
    let (_, mut keeping_up) = presence.subscribe(&general());

    typing_burst(&presence, alice, 16);
    assert_eq!(read_all(&mut keeping_up), Ok(16), "a burst the size of the first channel fits");
    typing_burst(&presence, alice, 16);
    assert_eq!(read_all(&mut keeping_up), Ok(16));
    assert_eq!(read_all(&mut slow), Err(()), "one that read nothing of two bursts is told it fell behind");
    drop(slow);

    // Starting over (as the gRPC stream makes it), it finds a channel four times as large,
    // while the one that kept up misses nothing.
    let (snapshot, mut resubscribed) = presence.subscribe(&general());
    assert_eq!(snapshot.len(), 1, "with a fresh snapshot");
    typing_burst(&presence, alice, 16);
    assert_eq!(read_all(&mut keeping_up), Ok(16));
    assert_eq!(read_all(&mut resubscribed), Ok(16));
    typing_burst(&presence, alice, 64);
    assert_eq!(read_all(&mut resubscribed), Ok(64));
}
