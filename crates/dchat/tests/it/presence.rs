//! Presence over gRPC: JOIN and LEAVE are delivered, several sessions count as one user,
//! and a silent session expires after its TTL. (The TTL arithmetic itself is tested with a
//! paused clock in the presence crate; here a 1 s TTL runs on the real clock.)

use std::time::Duration;

use dchat_proto::presence::v1::{DisconnectReq, HeartbeatReq, PresenceEvent, RoomId, presence_event::Type};
use tonic::Streaming;

use crate::support::{TestApp, TestUser, spawn_app, spawn_app_with, test_config};

fn heartbeat(user: &TestUser, name: &str, session: &str) -> HeartbeatReq {
    HeartbeatReq {
        room_id: "general".into(),
        user_id: user.user_id.clone(),
        display_name: name.into(),
        session_id: session.into(),
    }
}

async fn next_event(events: &mut Streaming<PresenceEvent>) -> PresenceEvent {
    tokio::time::timeout(Duration::from_secs(10), events.message())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("the stream stays open")
}

async fn subscribe(app: &TestApp) -> Streaming<PresenceEvent> {
    app.presence.clone().subscribe_presence(RoomId { room_id: "general".into() }).await.unwrap().into_inner()
}

#[tokio::test]
async fn join_and_leave_are_delivered_and_a_user_stays_online_until_their_last_session_ends() {
    let (app, _dir) = spawn_app().await;
    let mut presence = app.presence.clone();
    let alice = app.register("alice").await;
    let mut events = subscribe(&app).await;

    presence.heartbeat(heartbeat(&alice, "Alice", "tab-1")).await.unwrap();
    let join = next_event(&mut events).await;
    assert_eq!(
        (join.r#type(), join.user_id.as_str(), join.display_name.as_str()),
        (Type::Join, alice.user_id.as_str(), "Alice")
    );

    presence.heartbeat(heartbeat(&alice, "Alice", "tab-2")).await.unwrap();
    let roster = presence.roster(RoomId { room_id: "general".into() }).await.unwrap().into_inner();
    assert_eq!(roster.users.len(), 1, "two sessions, one user");

    let disconnect = |session: &str| DisconnectReq {
        room_id: "general".into(),
        user_id: alice.user_id.clone(),
        session_id: session.into(),
    };
    presence.disconnect(disconnect("tab-1")).await.unwrap();
    let roster = presence.roster(RoomId { room_id: "general".into() }).await.unwrap().into_inner();
    assert_eq!(roster.users.len(), 1, "still online through tab-2");
    presence.disconnect(disconnect("tab-2")).await.unwrap();
    let leave = next_event(&mut events).await;
    assert_eq!((leave.r#type(), leave.user_id.as_str()), (Type::Leave, alice.user_id.as_str()));
    assert!(presence.roster(RoomId { room_id: "general".into() }).await.unwrap().into_inner().users.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_new_subscriber_first_learns_who_is_online() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    app.presence.clone().heartbeat(heartbeat(&alice, "Alice", "")).await.unwrap();
    let mut events = subscribe(&app).await;
    let join = next_event(&mut events).await;
    assert_eq!((join.r#type(), join.user_id.as_str()), (Type::Join, alice.user_id.as_str()));
    app.stop().await;
}

#[tokio::test]
async fn a_silent_user_leaves_when_the_ttl_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.presence.ttl_secs = 1;
    let app = spawn_app_with(config).await;
    let alice = app.register("alice").await;
    let mut events = subscribe(&app).await;
    app.presence.clone().heartbeat(heartbeat(&alice, "Alice", "")).await.unwrap();
    assert_eq!(next_event(&mut events).await.r#type(), Type::Join);
    let leave = next_event(&mut events).await;
    assert_eq!((leave.r#type(), leave.user_id.as_str()), (Type::Leave, alice.user_id.as_str()));
    app.stop().await;
}

/// The seed's own gateway calls the presence stream `Subscribe`.
#[tokio::test]
async fn the_presence_stream_answers_under_the_name_the_seeds_gateway_uses_too() {
    let (app, _dir) = spawn_app().await;
    let alice = app.register("alice").await;
    app.presence.clone().heartbeat(heartbeat(&alice, "Alice", "")).await.unwrap();
    let mut events = app.presence.clone().subscribe(RoomId { room_id: "general".into() }).await.unwrap().into_inner();
    let join = next_event(&mut events).await;
    assert_eq!((join.r#type(), join.user_id.as_str()), (Type::Join, alice.user_id.as_str()), "who is online now");
    app.stop().await;
}
