//! Replicas on one PostgreSQL database with NATS between them (`--database-url` and
//! `--nats-url`). Message replicas: appends through either take the room's next offsets, a
//! live subscriber on one gets every message of the room exactly once and in order
//! whichever replica committed it, and a message whose bus hint never came (stored behind
//! the replicas' backs) still reaches it, within the reconciliation period. Two of every
//! role behind two gateways: accounts, joins, leaves and logouts made through one side
//! hold on the other. Runs when `DCHAT_TEST_DATABASE_URL` and `DCHAT_TEST_NATS_URL` are set.

use std::time::Duration;

use dchat::{App, Role};
use dchat_message::{MessageAppender, PgMessageStore, StoredMessage};
use dchat_proto::{
    message::v1::{AppendReq, RoomId as MsgRoomId, message_service_client::MessageServiceClient},
    room::v1::{CreateRoomReq, room_service_client::RoomServiceClient},
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::{
    support::{connect, nats_url, postgres_configured, test_config},
    wsclient::{WsClient, offsets},
};

/// Starts a role and connects to it; answers the channel and the address.
async fn start(config: &dchat::config::Config, role: Role, stop: &CancellationToken) -> (Channel, String) {
    let app = App::build(config.clone(), role).await.expect("build a role");
    let addr = app.grpc_addr().expect("a gRPC listener");
    tokio::spawn(app.run_until_stopped(stop.clone()));
    (connect(addr).await, addr.to_string())
}

/// Services on the test's database, with NATS between them on subjects of the run's own
/// (other runs may share the NATS server).
fn shared_config(
    dir: &std::path::Path,
    database: &dchat_storage::testing::TestDatabase,
    nats: String,
) -> dchat::config::Config {
    let mut config = test_config(dir);
    config.database_url = Some(database.url.clone());
    config.nats_url = Some(nats);
    config.nats_prefix = format!("dchat-test-{}", unique());
    config
}

/// A name no other run of this test uses.
fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos();
    format!("{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_message_replicas_share_a_room_with_no_gap_and_deliver_each_others_messages() {
    if !postgres_configured("two_message_replicas_share_a_room") {
        return;
    }
    let Some(nats) = nats_url("two_message_replicas_share_a_room") else { return };
    let database = dchat_storage::testing::TestDatabase::create("message replicas").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.database_url = Some(database.url.clone());
    config.nats_url = Some(nats);
    // This run's own subjects: other runs may share the NATS server.
    config.nats_prefix = format!("dchat-test-{}", unique());
    let any = "127.0.0.1:0".parse().unwrap();
    config.room.bind = any;
    config.message.bind = any;
    let stop = CancellationToken::new();

    let (room_channel, room_addr) = start(&config, Role::Room, &stop).await;
    // Both replicas find the room service at its address.
    config.room.addr = room_addr;
    // A room of this run's own name: other runs may share the NATS server.
    let room_id = format!("replicas-{}", unique());
    let sender = dchat_core::UserId::generate().to_string();
    let created = CreateRoomReq { room_id: room_id.clone(), name: "Replicas".into(), creator_user_id: sender.clone() };
    RoomServiceClient::new(room_channel).create_room(created).await.unwrap();
    let ((replica_a, _), (replica_b, _)) =
        (start(&config, Role::Message, &stop).await, start(&config, Role::Message, &stop).await);
    let (mut a, mut b) = (MessageServiceClient::new(replica_a), MessageServiceClient::new(replica_b));

    // A live subscriber on A, as the gateway's tail of the room would be.
    let mut live = a
        .subscribe(MsgRoomId { room_id: room_id.clone(), user_id: String::new(), after: Some(0) })
        .await
        .unwrap()
        .into_inner();
    for n in 1..=20i64 {
        let client = if n % 2 == 0 { &mut a } else { &mut b };
        let append = AppendReq {
            room_id: room_id.clone(),
            user_id: sender.clone(),
            text: format!("m{n}"),
            idempotency_key: format!("k{n}"),
        };
        let answer = client.append(append).await.unwrap().into_inner();
        assert_eq!(answer.offset, n, "the room's next offset, whichever replica appends");
    }
    for n in 1..=20i64 {
        let message = tokio::time::timeout(Duration::from_secs(5), live.message()).await.expect("within 5 s");
        let message = message.unwrap().expect("the stream goes on");
        assert_eq!((message.offset, message.text.as_str()), (n, format!("m{n}").as_str()), "exactly once, in order");
    }
    // A retry through the other replica answers the original offset.
    let retry = AppendReq {
        room_id: room_id.clone(),
        user_id: sender.clone(),
        text: "m3".into(),
        idempotency_key: "k3".into(),
    };
    let answer = a.append(retry).await.unwrap().into_inner();
    assert_eq!((answer.offset, answer.duplicate), (3, true));
    let next = b.next_offset(MsgRoomId { room_id: room_id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(next.value, 21, "each replica knows the head the other committed");

    // A message stored behind both replicas' backs (its hint never came) still reaches
    // the live subscriber, by the periodic check of the head.
    let mut appender = PgMessageStore::open(&database.url).await.unwrap().appender();
    let stored = appender
        .append_batch(vec![StoredMessage {
            room_id: dchat_core::RoomId::parse(&room_id).unwrap(),
            offset: 0,
            user_id: dchat_core::UserId::parse(&sender).unwrap(),
            text: "no hint".into(),
            ts_ms: 1,
            idempotency_key: None,
        }])
        .await
        .unwrap();
    assert_eq!(stored[0].offset, 21);
    let reconciled = dchat_message::RECONCILE_EVERY + Duration::from_secs(3);
    let message = tokio::time::timeout(reconciled, live.message()).await.expect("within the check's period");
    assert_eq!(message.unwrap().map(|m| (m.offset, m.text)), Some((21, "no hint".to_owned())));
    stop.cancel();
}

/// Two of every stateful role on one database with NATS between them, each side with its
/// own gateway: gateway A on auth, room and message replicas A; gateway B on replicas B;
/// one presence service. Answers the two gateways' base URLs.
async fn two_of_everything(config: &dchat::config::Config, stop: &CancellationToken) -> [String; 2] {
    let mut config = config.clone();
    let any = "127.0.0.1:0".parse().unwrap();
    for bind in [
        &mut config.room.bind,
        &mut config.auth.bind,
        &mut config.message.bind,
        &mut config.presence.bind,
        &mut config.gateway.bind,
    ] {
        *bind = any;
    }
    let (_, presence) = start(&config, Role::Presence, stop).await;
    config.presence.addr = presence;
    let mut gateways = Vec::new();
    for _side in ["A", "B"] {
        let mut side = config.clone();
        (_, side.room.addr) = start(&side, Role::Room, stop).await;
        (_, side.auth.addr) = start(&side, Role::Auth, stop).await;
        (_, side.message.addr) = start(&side, Role::Message, stop).await;
        let gateway = App::build(side, Role::Gateway).await.expect("build a gateway");
        gateways.push(format!("http://{}", gateway.http_addr().expect("an HTTP listener")));
        tokio::spawn(gateway.run_until_stopped(stop.clone()));
    }
    [gateways[0].clone(), gateways[1].clone()]
}

/// A JSON call with a bearer token (or none); answers the status and the body.
async fn call(base: &str, token: Option<&str>, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// Calls until the answer's status is `status`, for at most `within`; answers whether it
/// came.
async fn until_status(within: Duration, status: u16, mut call: impl AsyncFnMut() -> u16) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if call().await == status {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What two replicas of every role owe a user: an account made through one side signs in
/// through the other; a join through one side lets the user send and subscribe through the
/// other at once; a leave through one side ends the subscription and refuses sends on the
/// other within a second; a logout through one side closes the token's sockets on the
/// other within a second. And when a change's NATS hint never comes (a leave and a
/// revocation made in the database behind the replicas' backs), the replicas' poll of
/// the change logs still carries it to every gateway within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_of_every_role_act_as_one_service() {
    if !postgres_configured("two_replicas_of_every_role_act_as_one_service") {
        return;
    }
    let Some(nats) = nats_url("two_replicas_of_every_role_act_as_one_service") else { return };
    let (database, dir) = (
        dchat_storage::testing::TestDatabase::create("replicas of every role").await.unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let config = shared_config(dir.path(), &database, nats);
    let stop = CancellationToken::new();
    let [a, b] = two_of_everything(&config, &stop).await;
    let second = Duration::from_secs(1);

    // One account store: registered through A, signed in through B.
    let password = "correct horse battery";
    let (status, ada) =
        call(&a, None, "/api/register", serde_json::json!({"email": "ada@example.com", "password": password})).await;
    assert_eq!(status, 200, "{ada}");
    let ada_a = ada["token"].as_str().unwrap().to_owned();
    let (status, signed_in) =
        call(&b, None, "/api/login", serde_json::json!({"email": "ada@example.com", "password": password})).await;
    assert_eq!(status, 200, "{signed_in}");
    let ada_b = signed_in["token"].as_str().unwrap().to_owned();
    let (_, bob) =
        call(&b, None, "/api/register", serde_json::json!({"email": "bob@example.com", "password": password})).await;
    let bob_token = bob["token"].as_str().unwrap().to_owned();
    let bob_id = dchat_core::UserId::parse(bob["user"]["user_id"].as_str().unwrap()).unwrap();

    // A join through A holds on B at once: bob sends and subscribes there.
    let room = format!("club-{}", unique());
    let (status, _) =
        call(&a, Some(&ada_a), "/api/room/create", serde_json::json!({"room_id": room, "name": "Club"})).await;
    assert_eq!(status, 200);
    let send = |token: &str, text: &str| {
        let (b, token, body) = (b.clone(), token.to_owned(), serde_json::json!({"room_id": room, "text": text}));
        async move { call(&b, Some(&token), "/api/message/append", body).await.0 }
    };
    assert_eq!(send(&bob_token, "too early").await, 403, "not a member yet");
    let (status, _) = call(&a, Some(&bob_token), "/api/room/join", serde_json::json!({"room_id": room})).await;
    assert_eq!(status, 200);
    assert_eq!(send(&bob_token, "hello from B").await, 200, "the join holds on the other side at once");
    let mut bob_socket = WsClient::connect_url(&b, &bob_token).await;
    assert_eq!(offsets(&bob_socket.subscribe(&room, Some(0)).await), [1]);
    // Ada's message through A reaches bob's socket on B.
    let (status, _) =
        call(&a, Some(&ada_a), "/api/message/append", serde_json::json!({"room_id": room, "text": "hi bob"})).await;
    assert_eq!(status, 200);
    let live = bob_socket.next_of("message").await;
    assert_eq!((live["offset"].as_i64(), live["text"].as_str()), (Some(2), Some("hi bob")));

    // A leave through A: bob's subscription on B ends and B refuses his sends, within 1 s.
    let (status, _) = call(&a, Some(&bob_token), "/api/room/leave", serde_json::json!({"room_id": room})).await;
    assert_eq!(status, 200);
    let ended = tokio::time::timeout(second, bob_socket.next_of("error")).await.expect("ended within 1 s");
    assert_eq!((ended["code"].as_str(), ended["room_id"].as_str()), (Some("forbidden"), Some(room.as_str())));
    assert!(until_status(second, 403, async || send(&bob_token, "still here?").await).await, "refused within 1 s");

    // A logout through A closes ada's socket on B within a second.
    let mut ada_socket = WsClient::connect_url(&b, &ada_a).await;
    ada_socket.subscribe(&room, Some(2)).await;
    let (status, _) = call(&a, Some(&ada_a), "/api/logout", serde_json::json!({})).await;
    assert_eq!(status, 200);
    let close = tokio::time::timeout(second, ada_socket.until_closed()).await.expect("closed within 1 s");
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(4001));

    // Changes whose hints never came: made in the database behind the replicas' backs,
    // they reach both gateways by the replicas' poll of the change logs.
    let (status, _) = call(&b, Some(&bob_token), "/api/room/join", serde_json::json!({"room_id": room})).await;
    assert_eq!(status, 200);
    let mut on_a = WsClient::connect_url(&a, &bob_token).await;
    on_a.subscribe(&room, Some(2)).await;
    let mut ada_on_a = WsClient::connect_url(&a, &ada_b).await;
    ada_on_a.subscribe(&room, Some(2)).await;
    let rooms = dchat_room::PgRoomStore::open(&database.url).await.unwrap();
    use dchat_room::RoomStore as _;
    let room_id = dchat_core::RoomId::parse(&room).unwrap();
    assert!(rooms.delete_member(&room_id, bob_id, dchat_core::now_ms()).await.unwrap().is_some());
    let ended = tokio::time::timeout(second, on_a.next_of("error")).await.expect("ended within 1 s");
    assert_eq!(ended["code"].as_str(), Some("forbidden"));
    let tokens = dchat_auth::PgAuthStore::open(&database.url).await.unwrap();
    use dchat_auth::TokenStore as _;
    let ada_id = dchat_core::UserId::parse(ada["user"]["user_id"].as_str().unwrap()).unwrap();
    let revoked =
        tokens.revoke_tokens(ada_id, dchat_auth::TokenKind::Session, &dchat_auth::Revoke::All, dchat_core::now_ms());
    assert_eq!(revoked.await.unwrap().len(), 1, "ada's session through B");
    let close = tokio::time::timeout(second, ada_on_a.until_closed()).await.expect("closed within 1 s");
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(4001));
    stop.cancel();
}

/// Two presence replicas with NATS between them know the same sessions: a user made
/// online through one is in the other's roster and its subscribers hear of it; typing and
/// a disconnect through either reach the other's subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_presence_replicas_know_every_session() {
    use dchat_proto::presence::v1::{
        DisconnectReq, HeartbeatReq, RoomId as PresenceRoom, presence_event::Type,
        presence_service_client::PresenceServiceClient,
    };
    let Some(nats) = nats_url("two_presence_replicas_know_every_session") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.nats_url = Some(nats);
    config.nats_prefix = format!("dchat-test-{}", unique());
    config.presence.bind = "127.0.0.1:0".parse().unwrap();
    let stop = CancellationToken::new();
    let (one, _) = start(&config, Role::Presence, &stop).await;
    let (two, _) = start(&config, Role::Presence, &stop).await;
    let (mut one, mut two) = (PresenceServiceClient::new(one), PresenceServiceClient::new(two));
    let room = || PresenceRoom { room_id: "general".into() };
    let mut heard_on_two = two.subscribe_presence(room()).await.unwrap().into_inner();
    let mut heard_on_one = one.subscribe_presence(room()).await.unwrap().into_inner();
    let ada = dchat_core::UserId::generate().to_string();
    let beat = HeartbeatReq {
        room_id: "general".into(),
        user_id: ada.clone(),
        display_name: "Ada".into(),
        session_id: "tab".into(),
    };
    // The subscriptions are live once the replicas' peers are: retry the first heartbeat
    // until the other replica has it (each is idempotent).
    let joined = loop {
        one.heartbeat(beat.clone()).await.unwrap();
        if let Ok(event) = tokio::time::timeout(Duration::from_millis(200), heard_on_two.message()).await {
            break event.unwrap().expect("the stream goes on");
        }
    };
    assert_eq!((joined.r#type(), joined.user_id.as_str()), (Type::Join, ada.as_str()));
    let roster = two.roster(room()).await.unwrap().into_inner();
    assert_eq!(roster.users.iter().map(|user| user.display_name.as_str()).collect::<Vec<_>>(), ["Ada"]);

    two.typing(beat.clone()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), heard_on_one.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.r#type(), Type::Join, "one's own heartbeat");
    let typing = tokio::time::timeout(Duration::from_secs(5), heard_on_one.message()).await.unwrap().unwrap().unwrap();
    assert_eq!((typing.r#type(), typing.user_id.as_str()), (Type::Typing, ada.as_str()), "typing through two");

    let own = tokio::time::timeout(Duration::from_secs(5), heard_on_two.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(own.r#type(), Type::Typing, "two's subscribers hear its own typing too");
    let ended = DisconnectReq { room_id: "general".into(), user_id: ada.clone(), session_id: "tab".into() };
    one.disconnect(ended).await.unwrap();
    let left = tokio::time::timeout(Duration::from_secs(5), heard_on_two.message()).await.unwrap().unwrap().unwrap();
    assert_eq!((left.r#type(), left.user_id.as_str()), (Type::Leave, ada.as_str()));
    assert!(two.roster(room()).await.unwrap().into_inner().users.is_empty());
    stop.cancel();
}

/// Starts `role` on `addr` (port 0 for any) with its own stop token; answers its address
/// and the token that stops it alone.
async fn start_alone(
    config: &dchat::config::Config,
    role: Role,
    addr: &str,
    stop: &CancellationToken,
) -> (String, CancellationToken) {
    let mut config = config.clone();
    *config.bind_mut(role) = addr.parse().expect("an address");
    let app = App::build(config, role).await.expect("build a role");
    let bound = app.grpc_addr().expect("a gRPC listener").to_string();
    let own = stop.child_token();
    tokio::spawn(app.run_until_stopped(own.clone()));
    (bound, own)
}

/// One gateway over two replicas of each service (`AUTH_ADDR`, `ROOM_ADDR`, `MESSAGE_ADDR`
/// as lists): when one replica of each stops, every call still succeeds (sent again to the
/// other), the live subscription goes on with every offset once and in order, and a
/// replica that comes back carries the load when the other stops in turn. Appends without
/// a client id get a key of the gateway's own, which no client sees and none may imitate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_over_replica_lists_rides_out_the_loss_of_either_replica() {
    if !postgres_configured("a_gateway_over_replica_lists_rides_out_the_loss_of_either_replica") {
        return;
    }
    let Some(nats) = nats_url("a_gateway_over_replica_lists_rides_out_the_loss_of_either_replica") else { return };
    let (database, dir) =
        (dchat_storage::testing::TestDatabase::create("replica lists").await.unwrap(), tempfile::tempdir().unwrap());
    let mut config = shared_config(dir.path(), &database, nats);
    let stop = CancellationToken::new();
    let any = "127.0.0.1:0";
    let ((room_a, room_a_stop), (room_b, _)) =
        (start_alone(&config, Role::Room, any, &stop).await, start_alone(&config, Role::Room, any, &stop).await);
    config.room.addr = format!("{room_a},{room_b}");
    let ((auth_a, auth_a_stop), (auth_b, auth_b_stop)) =
        (start_alone(&config, Role::Auth, any, &stop).await, start_alone(&config, Role::Auth, any, &stop).await);
    let ((message_a, message_a_stop), (message_b, message_b_stop)) =
        (start_alone(&config, Role::Message, any, &stop).await, start_alone(&config, Role::Message, any, &stop).await);
    (config.presence.addr, _) = start_alone(&config, Role::Presence, any, &stop).await;
    config.auth.addr = format!("{auth_a},{auth_b}");
    config.message.addr = format!("{message_a},{message_b}");
    config.gateway.bind = any.parse().unwrap();
    let gateway = App::build(config.clone(), Role::Gateway).await.unwrap();
    let base = format!("http://{}", gateway.http_addr().unwrap());
    tokio::spawn(gateway.run_until_stopped(stop.clone()));

    let password = "correct horse battery";
    let (status, ada) =
        call(&base, None, "/api/register", serde_json::json!({"email": "ada@example.com", "password": password})).await;
    assert_eq!(status, 200, "{ada}");
    let token = ada["token"].as_str().unwrap().to_owned();
    let room = format!("lists-{}", unique());
    let (status, _) =
        call(&base, Some(&token), "/api/room/create", serde_json::json!({"room_id": room, "name": "L"})).await;
    assert_eq!(status, 200);
    let mut socket = WsClient::connect_url(&base, &token).await;
    socket.subscribe(&room, Some(0)).await;
    let send = |n: usize| {
        let (base, token, room) = (base.clone(), token.clone(), room.clone());
        async move {
            let body = serde_json::json!({"room_id": room, "text": format!("m{n}")});
            let (status, answer) = call(&base, Some(&token), "/api/message/append", body).await;
            assert_eq!(status, 200, "send {n}: {answer}");
        }
    };
    for n in 1..=10 {
        send(n).await;
    }
    // Replica A of every service stops: every call still succeeds.
    room_a_stop.cancel();
    auth_a_stop.cancel();
    message_a_stop.cancel();
    for n in 11..=20 {
        send(n).await;
    }
    let (status, _) =
        call(&base, None, "/api/login", serde_json::json!({"email": "ada@example.com", "password": password})).await;
    assert_eq!(status, 200, "signing in through the auth replica left");
    let (status, _) = call(&base, Some(&token), "/api/room/join", serde_json::json!({"room_id": "general"})).await;
    assert_eq!(status, 200, "joining through the room replica left");
    // The auth and message replicas A come back on their addresses; then B stops, and A
    // carries the load.
    let (_, _auth_a) = start_alone(&config, Role::Auth, &auth_a, &stop).await;
    let (_, _message_a) = start_alone(&config, Role::Message, &message_a, &stop).await;
    auth_b_stop.cancel();
    message_b_stop.cancel();
    for n in 21..=30 {
        send(n).await;
    }
    let mut seen = Vec::new();
    while seen.len() < 30 {
        let frame =
            tokio::time::timeout(Duration::from_secs(10), socket.next_of("message")).await.expect("every message");
        seen.push(frame["offset"].as_i64().unwrap());
    }
    assert_eq!(seen, (1..=30).collect::<Vec<_>>(), "every offset once and in order through the failovers");

    // The gateway's own keys: never shown, never imitated.
    let list = reqwest::Client::new()
        .get(format!("{base}/api/message/list?room_id={room}&from_offset=1&limit=5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let page: serde_json::Value = list.json().await.unwrap();
    assert!(page["messages"].as_array().unwrap().iter().all(|message| message.get("client_id").is_none()), "{page}");
    let imitation = serde_json::json!({"room_id": room, "text": "x", "client_id": "gw:0123"});
    assert_eq!(call(&base, Some(&token), "/api/message/append", imitation).await.0, 400);
    stop.cancel();
}

/// The ui role over two gateways (`GATEWAY_ADDR` as a list), one of which refuses
/// connections: requests without a body always reach the live one, and after one refusal
/// the dead one is passed over, so every request of a sign-in that follows succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_passes_over_a_gateway_that_refuses_connections() {
    let (app, _dir) = crate::support::spawn_app().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut config = app.services.clone();
    config.gateway.addr = format!("{dead},{}", app.gateway_http.trim_start_matches("http://"));
    config.ui.bind = "127.0.0.1:0".parse().unwrap();
    let ui = App::build(config, Role::Ui).await.unwrap();
    let base = format!("http://{}", ui.http_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(ui.run_until_stopped(stop.clone()));
    for _ in 0..4 {
        let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200, "a request without a body goes on to the live gateway");
    }
    for n in 0..4 {
        let body = serde_json::json!({"email": format!("u{n}@example.com"), "password": "correct horse battery"});
        assert_eq!(call(&base, None, "/api/register", body).await.0, 200, "the refusing gateway is passed over");
    }
    stop.cancel();
    app.stop().await;
}
