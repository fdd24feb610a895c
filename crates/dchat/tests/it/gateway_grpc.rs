//! `gateway.v1.GatewayService` on the HTTP port: authenticated by bearer metadata, with
//! identities taken from the token and never from a request field.

use dchat_proto::{
    auth::v1::{LoginRequest, RegisterRequest},
    gateway::v1::{ReplayReq, gateway_service_client::GatewayServiceClient},
    message::v1::{AppendReq, ListReq},
    room::v1::{CreateRoomReq, JoinLeaveReq},
};
use tonic::{Code, Request, transport::Channel};

use crate::support::{Topology, assert_code, in_both_topologies, spawn};

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn append(text: &str, user_id: &str) -> AppendReq {
    AppendReq { room_id: "general".into(), user_id: user_id.into(), text: text.into(), idempotency_key: String::new() }
}

async fn the_seed_gateway_service_works_with_a_token_and_trusts_only_the_token(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    // Through the ui in the split topology: it is used exactly like `dchat serve`'s port.
    let channel = Channel::from_shared(app.http.clone()).unwrap().connect().await.unwrap();
    let mut gateway = GatewayServiceClient::new(channel);
    let registered = gateway
        .register(RegisterRequest {
            client: None,
            email: "ada@example.com".into(),
            password: "correct horse".into(),
            display_name: "Ada".into(),
            username: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let token = registered.access_token;
    let ada_id = registered.user.unwrap().user_id;
    let login = gateway
        .login(LoginRequest {
            client: None,
            known_device: false,
            second_factor: String::new(),
            email: "ada@example.com".into(),
            password: "correct horse".into(),
            username: String::new(),
        })
        .await;
    assert!(login.is_ok());

    let first = gateway.append(authed(append("one", ""), &token)).await.unwrap().into_inner();
    assert_eq!((first.success, first.offset), (true, 1));
    let second = gateway.append(authed(append("two", &ada_id), &token)).await.unwrap().into_inner();
    assert_eq!(second.offset, 2, "naming oneself is fine");

    let bob = gateway
        .register(RegisterRequest {
            client: None,
            email: String::new(),
            password: "correct horse".into(),
            display_name: String::new(),
            username: "bob".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let bob_id = bob.user.unwrap().user_id;
    assert_code(
        gateway.append(authed(append("as bob", &bob_id), &token)).await,
        Code::PermissionDenied,
        "impersonation",
    );
    assert_code(gateway.append(Request::new(append("anonymous", ""))).await, Code::Unauthenticated, "no token");
    assert_code(gateway.append(authed(append("forged", ""), "forged")).await, Code::Unauthenticated, "forged token");
    let join_as_bob = JoinLeaveReq { room_id: "general".into(), user_id: bob_id.clone() };
    assert_code(
        gateway.join_room(authed(join_as_bob, &token)).await,
        Code::PermissionDenied,
        "joining for someone else",
    );

    let list = ListReq { room_id: "general".into(), from_offset: 1, limit: 10, before: 0, user_id: String::new() };
    let mut history = gateway.list(authed(list, &token)).await.unwrap().into_inner();
    let mut texts = Vec::new();
    while let Some(message) = history.message().await.unwrap() {
        texts.push(message.text);
    }
    assert_eq!(texts, ["one", "two"]);

    gateway
        .create_room(authed(
            CreateRoomReq { room_id: "g".into(), name: "G".into(), creator_user_id: String::new() },
            &token,
        ))
        .await
        .unwrap();
    let again = gateway
        .create_room(authed(
            CreateRoomReq { room_id: "g".into(), name: "G again".into(), creator_user_id: String::new() },
            &bob.access_token,
        ))
        .await
        .expect("the seed's clients create the room they join, every time")
        .into_inner();
    assert!(again.success && !again.created, "{again:?}");
    let mut live = gateway
        .replay_and_subscribe(authed(ReplayReq { room_id: "general".into(), last_seen_offset: 1 }, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(live.message().await.unwrap().unwrap().offset, 2, "replay after last_seen_offset");
    gateway.append(authed(append("three", ""), &token)).await.unwrap();
    let three = live.message().await.unwrap().unwrap();
    assert_eq!((three.offset, three.text.as_str()), (3, "three"), "then live");
    assert_code(
        gateway
            .replay_and_subscribe(authed(ReplayReq { room_id: "general".into(), last_seen_offset: i64::MAX }, &token))
            .await,
        Code::InvalidArgument,
        "an offset near 2^63",
    );
    assert_code(
        gateway
            .replay_and_subscribe(authed(ReplayReq { room_id: "g".into(), last_seen_offset: 0 }, &bob.access_token))
            .await,
        Code::PermissionDenied,
        "bob is not in g",
    );
    app.stop().await;
}

async fn register_over(gateway: &mut GatewayServiceClient<Channel>, name: &str) -> String {
    let request = RegisterRequest {
        client: None,
        email: String::new(),
        password: "correct horse".into(),
        display_name: String::new(),
        username: name.into(),
    };
    gateway.register(request).await.unwrap().into_inner().access_token
}

/// Waits (at most 10 s) for a stream to end with an error, skipping what it delivers first.
async fn ending<T>(stream: &mut tonic::Streaming<T>) -> tonic::Status {
    let ended = async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), ended).await.expect("the stream ends")
}

/// The probe found `ReplayAndSubscribe` and `SubscribePresence` delivering 50 s after their
/// token's logout; they must end as a WebSocket does.
async fn live_streams_end_with_unauthenticated_when_their_token_is_logged_out_on_any_gateway(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let mut here = GatewayServiceClient::new(Channel::from_shared(app.http.clone()).unwrap().connect_lazy());
    let other = app.spawn_gateway().await;
    let mut there = GatewayServiceClient::new(Channel::from_shared(other).unwrap().connect_lazy());
    for (logout_on, name) in [("the same gateway", "ada"), ("another gateway", "bea")] {
        let token = register_over(&mut here, name).await;
        let replay = ReplayReq { room_id: "general".into(), last_seen_offset: 0 };
        let mut messages = here.replay_and_subscribe(authed(replay, &token)).await.unwrap().into_inner();
        let room = dchat_proto::presence::v1::RoomId { room_id: "general".into() };
        let mut presence = here.subscribe_presence(authed(room, &token)).await.unwrap().into_inner();
        let logout = authed(dchat_proto::auth::v1::Token { access_token: token.clone() }, &token);
        if logout_on == "the same gateway" { here.logout(logout).await } else { there.logout(logout).await }.unwrap();
        for (stream, status) in [("messages", ending(&mut messages).await), ("presence", ending(&mut presence).await)] {
            assert_eq!(status.code(), Code::Unauthenticated, "{stream}, logged out on {logout_on}: {status:?}");
        }
    }
    app.stop().await;
}

in_both_topologies!(
    the_seed_gateway_service_works_with_a_token_and_trusts_only_the_token,
    live_streams_end_with_unauthenticated_when_their_token_is_logged_out_on_any_gateway,
);

#[tokio::test]
async fn a_live_stream_ends_with_unauthenticated_when_its_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(dir.path());
    config.auth.token_ttl_secs = Some(1);
    let app = crate::support::spawn_app_with(config).await;
    let mut gateway = GatewayServiceClient::new(Channel::from_shared(app.http.clone()).unwrap().connect_lazy());
    let token = register_over(&mut gateway, "ada").await;
    let replay = ReplayReq { room_id: "general".into(), last_seen_offset: 0 };
    let mut messages = gateway.replay_and_subscribe(authed(replay, &token)).await.unwrap().into_inner();
    let status = ending(&mut messages).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("expired"), "{status:?}");
    app.stop().await;
}
