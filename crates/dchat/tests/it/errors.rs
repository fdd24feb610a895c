//! Bad input on every method gets the right status, never INTERNAL or UNKNOWN.

use dchat_proto::{
    auth::v1::{LoginRequest, RegisterRequest, SetDisplayNameRequest, Token, UserId},
    message::v1::{self as msg, AppendReq, ListReq},
    presence::v1::{self as presence, DisconnectReq, HeartbeatReq},
    room::v1::{CreateRoomReq, JoinLeaveReq, RoomId, UserRef},
};
use tonic::Code::{self, InvalidArgument, NotFound, PermissionDenied, Unauthenticated};

use crate::support::spawn_app;

fn check<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>, expected: Code, failures: &mut Vec<String>) {
    match result {
        Ok(value) => failures.push(format!("{what}: expected {expected:?}, got Ok({value:?})")),
        Err(status) if status.code() != expected => {
            failures.push(format!("{what}: expected {expected:?}, got {:?} {:?}", status.code(), status.message()));
        }
        Err(status) => assert!(!status.message().is_empty(), "{what}: the status explains itself"),
    }
}

#[tokio::test]
async fn bad_input_on_every_method_is_answered_with_the_right_status() {
    let (app, _dir) = spawn_app().await;
    let user = app.register("alice").await;
    let uid = user.user_id.clone();
    let ghost = dchat_core::UserId::generate().to_string();
    let (mut auth, mut rooms, mut messages, mut presence) =
        (app.auth.clone(), app.rooms.clone(), app.messages.clone(), app.presence.clone());
    let mut failures = Vec::new();
    let f = &mut failures;
    let register = |email: &str, password: &str, display_name: &str, username: &str| RegisterRequest {
        client: None,
        email: email.into(),
        password: password.into(),
        display_name: display_name.into(),
        username: username.into(),
    };

    // auth.v1
    check(
        "register without email or username",
        auth.register(register("", "long enough", "X", "")).await,
        InvalidArgument,
        f,
    );
    check(
        "register with a malformed email",
        auth.register(register("not-an-email", "long enough", "X", "")).await,
        InvalidArgument,
        f,
    );
    check(
        "register with a bad username",
        auth.register(register("", "long enough", "X", "a/b")).await,
        InvalidArgument,
        f,
    );
    check(
        "register with an empty password",
        auth.register(register("b@example.com", "", "X", "")).await,
        InvalidArgument,
        f,
    );
    check(
        "register with a huge password",
        auth.register(register("b@example.com", &"p".repeat(2000), "X", "")).await,
        InvalidArgument,
        f,
    );
    check(
        "register with a huge display name",
        auth.register(register("b@example.com", "long enough", &"n".repeat(65), "")).await,
        InvalidArgument,
        f,
    );
    check(
        "register with a control character",
        auth.register(register("b@example.com", "long enough", "a\u{7}b", "")).await,
        InvalidArgument,
        f,
    );
    check("login with nothing", auth.login(LoginRequest::default()).await, InvalidArgument, f);
    check(
        "login with a huge password",
        auth.login(LoginRequest {
            client: None,
            known_device: false,
            second_factor: String::new(),
            email: "alice@example.com".into(),
            password: "p".repeat(5000),
            username: String::new(),
        })
        .await,
        Unauthenticated,
        f,
    );
    check("verify an empty token", auth.verify(Token::default()).await, Unauthenticated, f);
    check("logout an empty token", auth.logout(Token::default()).await, Unauthenticated, f);
    check("get a malformed user id", auth.get_user(UserId { user_id: "x".into() }).await, InvalidArgument, f);
    check("get an unknown user", auth.get_user(UserId { user_id: ghost.clone() }).await, NotFound, f);
    check(
        "rename to nothing",
        auth.set_display_name(SetDisplayNameRequest { user_id: uid.clone(), display_name: " ".into() }).await,
        InvalidArgument,
        f,
    );
    check(
        "rename an unknown user",
        auth.set_display_name(SetDisplayNameRequest { user_id: ghost.clone(), display_name: "X".into() }).await,
        NotFound,
        f,
    );

    // room.v1
    let create = |room_id: &str, name: &str, creator: &str| CreateRoomReq {
        room_id: room_id.into(),
        name: name.into(),
        creator_user_id: creator.into(),
    };
    let jl = |room_id: &str, user_id: &str| JoinLeaveReq { room_id: room_id.into(), user_id: user_id.into() };
    let room = |room_id: &str| RoomId { room_id: room_id.into() };
    check("create with an empty id", rooms.create_room(create("", "Name", "")).await, InvalidArgument, f);
    check("create with an empty name", rooms.create_room(create("ok", "", "")).await, InvalidArgument, f);
    check("create with a spaced id", rooms.create_room(create("a b", "Name", "")).await, InvalidArgument, f);
    check("create with a huge id", rooms.create_room(create(&"r".repeat(65), "Name", "")).await, InvalidArgument, f);
    check("create with a huge name", rooms.create_room(create("ok", &"n".repeat(101), "")).await, InvalidArgument, f);
    check("create with a malformed creator", rooms.create_room(create("ok", "Name", "bob")).await, InvalidArgument, f);
    check("join with a malformed user", rooms.join_room(jl("general", "bob")).await, InvalidArgument, f);
    check("join a missing room", rooms.join_room(jl("missing", &uid)).await, NotFound, f);
    check("leave with a malformed room", rooms.leave_room(jl("", &uid)).await, InvalidArgument, f);
    check("members of a malformed room", rooms.list_members(room("../etc")).await, InvalidArgument, f);
    check("exists of a malformed room", rooms.room_exists(room("")).await, InvalidArgument, f);
    check("rooms of a malformed user", rooms.list_user_rooms(UserRef { user_id: "".into() }).await, InvalidArgument, f);
    check("is-member with a malformed user", rooms.is_member(jl("general", "x")).await, InvalidArgument, f);
    check("get a missing room", rooms.get_room(room("missing")).await, NotFound, f);

    // message.v1
    let append = |room_id: &str, user_id: &str, text: &str, key: &str| AppendReq {
        room_id: room_id.into(),
        user_id: user_id.into(),
        text: text.into(),
        idempotency_key: key.into(),
    };
    let list = |room_id: &str, user_id: &str, from_offset: i64, limit: i32, before: i64| ListReq {
        room_id: room_id.into(),
        from_offset,
        limit,
        before,
        user_id: user_id.into(),
    };
    check("append to a malformed room", messages.append(append("", &uid, "hi", "")).await, InvalidArgument, f);
    check("append as a malformed user", messages.append(append("general", "", "hi", "")).await, InvalidArgument, f);
    check("append empty text", messages.append(append("general", &uid, "", "")).await, InvalidArgument, f);
    check(
        "append with a huge key",
        messages.append(append("general", &uid, "hi", &"k".repeat(129))).await,
        InvalidArgument,
        f,
    );
    check("append as a stranger", messages.append(append("general", &ghost, "hi", "")).await, PermissionDenied, f);
    check("list with a negative limit", messages.list(list("general", &uid, 0, -1, 0)).await, InvalidArgument, f);
    check("list from a negative offset", messages.list(list("general", &uid, -5, 10, 0)).await, InvalidArgument, f);
    check("list before a negative offset", messages.list(list("general", &uid, 0, 10, -1)).await, InvalidArgument, f);
    // Near 2^63 the history arithmetic would overflow: one bound for every offset.
    let huge = dchat_core::MAX_OFFSET + 1;
    check("list from a huge offset", messages.list(list("general", &uid, i64::MAX, 10, 0)).await, InvalidArgument, f);
    check("list before a huge offset", messages.list(list("general", &uid, 0, 10, huge)).await, InvalidArgument, f);
    let largest = list("general", &uid, dchat_core::MAX_OFFSET, 10, 0);
    assert!(messages.list(largest).await.is_ok(), "the largest offset is a valid one");
    check("list as a malformed reader", messages.list(list("general", "x", 0, 10, 0)).await, InvalidArgument, f);
    check("list as a stranger", messages.list(list("general", &ghost, 0, 10, 0)).await, PermissionDenied, f);
    let sub = |room_id: &str, user_id: &str, after: Option<i64>| msg::RoomId {
        room_id: room_id.into(),
        user_id: user_id.into(),
        after,
    };
    check("subscribe to a malformed room", messages.subscribe(sub("a b", &uid, None)).await, InvalidArgument, f);
    check(
        "subscribe after a negative offset",
        messages.subscribe(sub("general", &uid, Some(-1))).await,
        InvalidArgument,
        f,
    );
    check(
        "subscribe after a huge offset",
        messages.subscribe(sub("general", &uid, Some(i64::MAX - 1))).await,
        InvalidArgument,
        f,
    );
    check("subscribe as a stranger", messages.subscribe(sub("general", &ghost, None)).await, PermissionDenied, f);
    check("next offset of a malformed room", messages.next_offset(sub("", "", None)).await, InvalidArgument, f);

    // presence.v1
    let hb = |room_id: &str, user_id: &str, name: &str, session: &str| HeartbeatReq {
        room_id: room_id.into(),
        user_id: user_id.into(),
        display_name: name.into(),
        session_id: session.into(),
    };
    check("heartbeat in a malformed room", presence.heartbeat(hb("", &uid, "A", "")).await, InvalidArgument, f);
    check("heartbeat as a malformed user", presence.heartbeat(hb("general", "x", "A", "")).await, InvalidArgument, f);
    check(
        "heartbeat with a huge name",
        presence.heartbeat(hb("general", &uid, &"n".repeat(65), "")).await,
        InvalidArgument,
        f,
    );
    check(
        "heartbeat with a huge session",
        presence.heartbeat(hb("general", &uid, "A", &"s".repeat(129))).await,
        InvalidArgument,
        f,
    );
    check(
        "roster of a malformed room",
        presence.roster(presence::RoomId { room_id: "#".into() }).await,
        InvalidArgument,
        f,
    );
    check(
        "subscribe to a malformed room",
        presence.subscribe_presence(presence::RoomId { room_id: "".into() }).await,
        InvalidArgument,
        f,
    );
    check(
        "disconnect a malformed user",
        presence
            .disconnect(DisconnectReq { room_id: "general".into(), user_id: "".into(), session_id: String::new() })
            .await,
        InvalidArgument,
        f,
    );

    assert!(failures.is_empty(), "wrong statuses:\n{}", failures.join("\n"));
    app.stop().await;
}
