//! Rooms and memberships: `general` from the first start, create, join, leave, listings.

use dchat_proto::room::v1::{CreateRoomReq, Empty, JoinLeaveReq, Member, Room, RoomId, UserRef};
use tonic::{Code, Streaming};

use crate::support::{assert_code, spawn_app};

async fn collect<T>(stream: Result<tonic::Response<Streaming<T>>, tonic::Status>) -> Vec<T> {
    let mut stream = stream.expect("open stream").into_inner();
    let mut items = Vec::new();
    while let Some(item) = stream.message().await.expect("stream item") {
        items.push(item);
    }
    items
}

fn ids(rooms: &[Room]) -> Vec<&str> {
    rooms.iter().map(|room| room.room_id.as_str()).collect()
}

fn member_ids(members: &[Member]) -> Vec<&str> {
    members.iter().map(|member| member.user_id.as_str()).collect()
}

fn room(room_id: &str) -> RoomId {
    RoomId { room_id: room_id.to_owned() }
}

fn join_leave(room_id: &str, user_id: &str) -> JoinLeaveReq {
    JoinLeaveReq { room_id: room_id.to_owned(), user_id: user_id.to_owned() }
}

#[tokio::test]
async fn general_exists_from_the_first_start_and_every_new_user_is_in_it() {
    let (app, _dir) = spawn_app().await;
    let mut rooms = app.rooms.clone();
    let general = rooms.get_room(room("general")).await.unwrap().into_inner();
    assert_eq!(general.name, "General Chat");
    assert!(rooms.room_exists(room("general")).await.unwrap().into_inner().success);

    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let members = collect(rooms.list_members(room("general")).await).await;
    assert_eq!(member_ids(&members), [alice.user_id.as_str(), bob.user_id.as_str()]);
    let alices_rooms = collect(rooms.list_user_rooms(UserRef { user_id: alice.user_id.clone() }).await).await;
    assert_eq!(ids(&alices_rooms), ["general"]);
    app.stop().await;
}

#[tokio::test]
async fn the_creator_of_a_room_is_its_first_member_and_others_join_and_leave() {
    let (app, _dir) = spawn_app().await;
    let mut rooms = app.rooms.clone();
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_room("001", &alice).await;

    let created = rooms.get_room(room("001")).await.unwrap().into_inner();
    assert_eq!((created.name.as_str(), created.member_count), ("Room 001", 1));
    assert!(rooms.is_member(join_leave("001", &alice.user_id)).await.unwrap().into_inner().success);
    assert!(!rooms.is_member(join_leave("001", &bob.user_id)).await.unwrap().into_inner().success);

    rooms.join_room(join_leave("001", &bob.user_id)).await.unwrap();
    rooms.join_room(join_leave("001", &bob.user_id)).await.expect("joining twice is fine");
    let members = collect(rooms.list_members(room("001")).await).await;
    assert_eq!(member_ids(&members), [alice.user_id.as_str(), bob.user_id.as_str()]);

    rooms.leave_room(join_leave("001", &alice.user_id)).await.unwrap();
    rooms.leave_room(join_leave("001", &alice.user_id)).await.expect("leaving twice is fine");
    let members = collect(rooms.list_members(room("001")).await).await;
    assert_eq!(member_ids(&members), [bob.user_id.as_str()]);
    let bobs_rooms = collect(rooms.list_user_rooms(UserRef { user_id: bob.user_id.clone() }).await).await;
    assert_eq!(ids(&bobs_rooms), ["001", "general"]);
    let all = collect(rooms.list_rooms(Empty {}).await).await;
    assert_eq!(ids(&all), ["001", "general"]);
    app.stop().await;
}

#[tokio::test]
async fn creating_a_taken_room_id_succeeds_and_changes_nothing_and_rooms_must_exist_to_be_joined() {
    let (app, _dir) = spawn_app().await;
    let mut rooms = app.rooms.clone();
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = rooms
        .create_room(CreateRoomReq {
            room_id: "team".into(),
            name: "Team".into(),
            creator_user_id: alice.user_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(first.success && first.created);
    // The seed's clients (its Locust file, its gateway) create the room they join every
    // time and count anything but success as a failure.
    let again = rooms
        .create_room(CreateRoomReq {
            room_id: "team".into(),
            name: "Another".into(),
            creator_user_id: bob.user_id.clone(),
        })
        .await
        .expect("a taken id is not an error")
        .into_inner();
    assert!(again.success && !again.created, "{again:?}");
    let seed_shaped = rooms
        .create_room(CreateRoomReq { room_id: "team".into(), name: "Third".into(), creator_user_id: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert!(seed_shaped.success && !seed_shaped.created);
    assert_eq!(rooms.get_room(room("team")).await.unwrap().into_inner().name, "Team", "not renamed");
    assert!(!rooms.is_member(join_leave("team", &bob.user_id)).await.unwrap().into_inner().success, "not granted");
    assert_code(rooms.join_room(join_leave("nope", &alice.user_id)).await, Code::NotFound, "join a missing room");
    assert_code(rooms.list_members(room("nope")).await, Code::NotFound, "members of a missing room");
    assert_code(rooms.get_room(room("nope")).await, Code::NotFound, "get a missing room");
    assert!(!rooms.room_exists(room("nope")).await.unwrap().into_inner().success);
    app.stop().await;
}

#[tokio::test]
async fn rooms_and_memberships_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::support::spawn_app_with(crate::support::test_config(dir.path())).await;
    let alice = app.register("alice").await;
    app.create_room("kept", &alice).await;
    app.stop().await;
    let app = crate::support::spawn_app_with(crate::support::test_config(dir.path())).await;
    let mut rooms = app.rooms.clone();
    assert!(rooms.is_member(join_leave("kept", &alice.user_id)).await.unwrap().into_inner().success);
    assert_eq!(rooms.get_room(room("general")).await.unwrap().into_inner().member_count, 1, "general is not recreated");
    app.stop().await;
}
