//! The WebSocket protocol end to end: fan-out to many subscribers, gapless resume after a
//! dropped connection, idempotent sends, lagging clients cut off with 4008, logout and
//! leave taking effect on open connections, origin checks, and bad frames.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    http::{post, register},
    support::{TestApp, Topology, in_both_topologies, spawn, spawn_with, test_config},
    wsclient::{WsClient, offsets},
};

/// Registers `name` over HTTP; returns the browser client, user id and token.
async fn user(app: &TestApp, name: &str) -> (reqwest::Client, String, String) {
    let (client, body) = register(app, name).await;
    (client, body["user"]["user_id"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
}

async fn four_senders_and_ten_subscribers_each_get_every_offset_exactly_once_in_order(topology: Topology) {
    const SENDERS: usize = 4;
    const SUBSCRIBERS: usize = 10;
    const PER_SENDER: usize = 50;
    let (app, _dir) = spawn(topology).await;
    let mut tokens = Vec::new();
    for i in 0..SENDERS + SUBSCRIBERS {
        tokens.push(user(&app, &format!("user{i}")).await.2);
    }
    let mut subscribers = Vec::new();
    for token in &tokens[SENDERS..] {
        let mut client = WsClient::connect(&app, token).await;
        assert!(client.subscribe("general", Some(0)).await.is_empty());
        subscribers.push(client);
    }
    let senders: Vec<_> = tokens[..SENDERS]
        .iter()
        .enumerate()
        .map(|(s, token)| {
            let token = token.clone();
            let http = app.http.clone();
            tokio::spawn(async move {
                let mut client = WsClient::connect_url(&http, &token).await;
                let mut acked = Vec::new();
                for i in 0..PER_SENDER {
                    let client_id = format!("s{s}-{i}");
                    client.send(json!({"type": "send", "room_id": "general", "text": format!("hello {i}"), "client_id": client_id})).await;
                    let ack = client.next_of("ack").await;
                    assert_eq!(ack["client_id"], client_id.as_str());
                    acked.push(ack["offset"].as_i64().unwrap());
                }
                acked
            })
        })
        .collect();
    let mut all_acked = Vec::new();
    for sender in senders {
        all_acked.extend(sender.await.unwrap());
    }
    all_acked.sort_unstable();
    let expected: Vec<i64> = (1..=(SENDERS * PER_SENDER) as i64).collect();
    assert_eq!(all_acked, expected);
    for (i, mut subscriber) in subscribers.into_iter().enumerate() {
        let mut received = Vec::new();
        while received.len() < expected.len() {
            received.push(subscriber.next_of("message").await);
        }
        assert_eq!(offsets(&received), expected, "subscriber {i}");
        assert!(
            received.iter().all(|frame| frame["display_name"].as_str().is_some_and(|name| name.ends_with("display")))
        );
    }
    app.stop().await;
}

async fn a_subscriber_that_drops_its_connection_resumes_with_after_and_misses_nothing(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (writer, _, _) = user(&app, "writer").await;
    let (_, _, token) = user(&app, "reader").await;
    for i in 0..10 {
        post(&writer, &app, "/api/message/append", json!({"room_id": "general", "text": format!("before {i}")})).await;
    }
    let mut reader = WsClient::connect(&app, &token).await;
    let replayed = reader.subscribe("general", Some(5)).await;
    assert_eq!(offsets(&replayed), (6..=10).collect::<Vec<_>>());
    // Drop the TCP connection without a close frame, as a lost network does.
    drop(reader);
    for i in 0..100 {
        post(&writer, &app, "/api/message/append", json!({"room_id": "general", "text": format!("while away {i}")}))
            .await;
    }
    let mut reader = WsClient::connect(&app, &token).await;
    let replayed = reader.subscribe("general", Some(10)).await;
    assert_eq!(offsets(&replayed), (11..=110).collect::<Vec<_>>(), "no gap, no duplicate");
    post(&writer, &app, "/api/message/append", json!({"room_id": "general", "text": "live"})).await;
    let live = reader.next_of("message").await;
    assert_eq!((live["offset"].as_i64(), live["text"].as_str()), (Some(111), Some("live")));
    app.stop().await;
}

/// Counts of the gateway's catch-ups from history, summed over its `/metrics`.
async fn catch_ups(app: &TestApp) -> u64 {
    let metrics = reqwest::get(format!("{}/metrics", app.gateway_http)).await.unwrap().text().await.unwrap();
    metrics
        .lines()
        .filter(|line| line.starts_with("dchat_ws_catch_ups_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn subscribers_that_fall_behind_their_rooms_feed_fill_the_hole_from_history(topology: Topology) {
    const N: i64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // A feed that keeps two messages: a burst of hundreds outruns every subscriber of it.
    config.gateway.ws_feed_frames = 2;
    let app = spawn_with(topology, config).await;
    let (_, _, sender_token) = user(&app, "sender").await;
    let mut readers = Vec::new();
    for i in 0..3 {
        let (_, _, token) = user(&app, &format!("reader{i}")).await;
        let mut reader = WsClient::connect(&app, &token).await;
        assert!(reader.subscribe("general", None).await.is_empty());
        readers.push(reader);
    }
    let before = catch_ups(&app).await;
    // Sent in bursts without waiting for acks (fewer at a time than a connection may have
    // waiting): the gateway appends them in batches, and each batch reaches the room's feed
    // at once.
    let mut sender = WsClient::connect(&app, &sender_token).await;
    for burst in 0..N / 200 {
        for i in 0..200 {
            sender.send(json!({"type": "send", "room_id": "general", "text": format!("burst {burst} {i}")})).await;
        }
        for _ in 0..200 {
            sender.next_of("ack").await;
        }
    }
    for (i, reader) in readers.iter_mut().enumerate() {
        let mut received = Vec::new();
        while received.len() < N as usize {
            received.push(reader.next_of("message").await);
        }
        assert_eq!(offsets(&received), (1..=N).collect::<Vec<_>>(), "reader {i}: every offset once, in order");
    }
    assert!(catch_ups(&app).await > before, "the burst outran the feed, and history filled the holes");
    app.stop().await;
}

async fn a_duplicate_client_id_is_acked_with_the_original_offset(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (_, _, token) = user(&app, "ada").await;
    let mut client = WsClient::connect(&app, &token).await;
    let send = json!({"type": "send", "room_id": "general", "text": "once", "client_id": "c-1", "ref": "r1"});
    client.send(send.clone()).await;
    let first = client.next_of("ack").await;
    assert_eq!(
        (first["offset"].as_i64(), first["ref"].as_str(), first["room_id"].as_str()),
        (Some(1), Some("r1"), Some("general"))
    );
    assert!(first["ts_ms"].as_i64().unwrap() > 0);
    client.send(send).await;
    let second = client.next_of("ack").await;
    assert_eq!((second["offset"].clone(), second["ts_ms"].clone()), (first["offset"].clone(), first["ts_ms"].clone()));
    let replayed = client.subscribe("general", Some(0)).await;
    assert_eq!(replayed.len(), 1, "stored once");
    assert_eq!(replayed[0]["client_id"], "c-1");
    app.stop().await;
}

async fn a_client_that_never_reads_is_cut_with_4008_and_others_are_unaffected(topology: Topology) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.ws_queue_frames = 64;
    let app = spawn_with(topology, config).await;
    let (writer, _, _) = user(&app, "writer").await;
    let (_, _, slow_token) = user(&app, "slow").await;
    let (_, _, fast_token) = user(&app, "fast").await;
    // Straight to the gateway: a proxy in between would only add buffers to fill.
    let mut slow = WsClient::connect_url(&app.gateway_http, &slow_token).await;
    slow.subscribe("general", None).await;
    let mut fast = WsClient::connect(&app, &fast_token).await;
    fast.subscribe("general", None).await;
    const N: i64 = 1500;
    // The fast reader reads all along, as a healthy client does.
    let fast_reader = tokio::spawn(async move {
        let mut received = Vec::new();
        while received.len() < N as usize {
            received.push(fast.next_of("message").await);
        }
        received
    });
    // Large messages fill the socket buffers between the server and the slow reader, so
    // that its queue at the server overflows.
    let text = "x".repeat(3000);
    let sends: Vec<_> =
        (0..N)
            .map(|_| {
                let (writer, url, text) = (writer.clone(), format!("{}/api/message/append", app.http), text.clone());
                async move {
                    writer.post(url).json(&json!({"room_id": "general", "text": text})).send().await.unwrap().status()
                }
            })
            .collect();
    let statuses = futures::stream::iter(sends).buffer_unordered(16).collect::<Vec<_>>().await;
    assert!(statuses.iter().all(|status| *status == StatusCode::OK));
    let received = fast_reader.await.unwrap();
    assert_eq!(offsets(&received), (1..=N).collect::<Vec<_>>(), "the fast reader got everything");
    let close = slow.until_closed().await.expect("a close frame");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (4008, "lagged"));
    app.stop().await;
}

/// A room's feed starts small and grows when a subscriber falls behind it (a commit of
/// hundreds of messages at once outruns a 64-frame channel); the subscribers on the channel
/// it replaces move to the new one. Nobody misses or repeats an offset across the moves.
async fn a_burst_that_outgrows_the_rooms_feed_reaches_every_subscriber_once(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (_, writer_id, _) = user(&app, "writer").await;
    let mut readers = Vec::new();
    for n in 0..3 {
        let (_, _, token) = user(&app, &format!("reader{n}")).await;
        let mut reader = WsClient::connect(&app, &token).await;
        reader.subscribe("general", None).await;
        readers.push(reader);
    }
    const BURSTS: i64 = 3;
    const PER_BURST: i64 = 400;
    let mut messages = app.messages.clone();
    for burst in 0..BURSTS {
        let appends = (0..PER_BURST)
            .map(|i| dchat_proto::message::v1::AppendReq {
                room_id: "general".into(),
                user_id: writer_id.clone(),
                text: format!("burst {burst} message {i}"),
                idempotency_key: String::new(),
            })
            .collect();
        let request = dchat_proto::message::v1::AppendManyReq { appends };
        let results = messages.append_many(request).await.unwrap().into_inner().results;
        assert!(results.iter().all(|result| result.success));
    }
    for (n, reader) in readers.iter_mut().enumerate() {
        let mut received = Vec::new();
        while received.len() < (BURSTS * PER_BURST) as usize {
            received.push(reader.next_of("message").await);
        }
        assert_eq!(offsets(&received), (1..=BURSTS * PER_BURST).collect::<Vec<_>>(), "reader {n}");
    }
    // (`dchat_ws_feed_growths_total` counted one growth in each topology when this was
    // written; whether a burst outruns the channel depends on scheduling, so it is not
    // asserted.)
    app.stop().await;
}

async fn logout_closes_the_tokens_open_connections_within_a_second(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (browser, _, token) = user(&app, "ada").await;
    let mut client = WsClient::connect(&app, &token).await;
    client.subscribe("general", None).await;
    let (status, _) = post(&browser, &app, "/api/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let close = tokio::time::timeout(Duration::from_secs(1), client.until_closed()).await.expect("closed within 1 s");
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(4001));
    assert!(WsClient::try_connect(&app, &token, None).await.is_err(), "the token no longer opens a connection");
    app.stop().await;
}

async fn logout_on_one_gateway_closes_the_tokens_connections_on_another(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (browser, _, token) = user(&app, "ada").await;
    let other_gateway = app.spawn_gateway().await;
    let mut client = WsClient::connect_url(&other_gateway, &token).await;
    client.subscribe("general", None).await;
    let (status, _) = post(&browser, &app, "/api/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let close = tokio::time::timeout(Duration::from_secs(1), client.until_closed()).await.expect("closed within 1 s");
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(4001));
    app.stop().await;
}

/// The probe subscribed one socket to 4,000 rooms; a connection holds a bounded number.
#[tokio::test]
async fn a_connection_subscribes_to_at_most_so_many_rooms_and_one_more_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(dir.path());
    config.gateway.ws_max_subscriptions = 2;
    let app = crate::support::spawn_app_with(config).await;
    let (owner, _, token) = user(&app, "owner").await;
    for room_id in ["a", "b"] {
        post(&owner, &app, "/api/room/create", json!({"room_id": room_id, "name": room_id})).await;
    }
    let mut client = WsClient::connect(&app, &token).await;
    client.subscribe("general", Some(0)).await;
    client.subscribe("a", Some(0)).await;
    client.send(json!({"type": "subscribe", "room_id": "b", "after": 0, "ref": 3})).await;
    let refused = client.next_of("error").await;
    assert_eq!((refused["code"].as_str(), refused["ref"].as_i64()), (Some("too_many_subscriptions"), Some(3)));
    client.subscribe("a", Some(0)).await;
    client.send(json!({"type": "unsubscribe", "room_id": "a"})).await;
    assert!(client.subscribe("b", Some(0)).await.is_empty(), "room is made by unsubscribing");
    app.stop().await;
}

/// A user's live subscriptions on a gateway are counted over all their connections and
/// `gateway.v1` streams; a closed connection gives its places back.
#[tokio::test]
async fn a_user_holds_at_most_so_many_live_subscriptions_over_all_connections_and_streams() {
    use dchat_proto::gateway::v1::{ReplayReq, gateway_service_client::GatewayServiceClient};
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(dir.path());
    config.gateway.ws_max_subscriptions = 2;
    config.gateway.ws_max_subscriptions_per_user = 3;
    let app = crate::support::spawn_app_with(config).await;
    let (owner, _, token) = user(&app, "owner").await;
    for room_id in ["a", "b"] {
        post(&owner, &app, "/api/room/create", json!({"room_id": room_id, "name": room_id})).await;
    }
    let mut first = WsClient::connect(&app, &token).await;
    first.subscribe("general", Some(0)).await;
    first.subscribe("a", Some(0)).await;
    let mut second = WsClient::connect(&app, &token).await;
    second.subscribe("b", Some(0)).await;
    second.send(json!({"type": "subscribe", "room_id": "general", "after": 0, "ref": 7})).await;
    let refused = second.next_of("error").await;
    assert_eq!((refused["code"].as_str(), refused["ref"].as_i64()), (Some("too_many_subscriptions"), Some(7)));
    assert!(refused["message"].as_str().unwrap().contains("per user"), "{refused}");
    // Subscribing again to a room one holds takes no new place.
    second.subscribe("b", Some(0)).await;

    let channel = tonic::transport::Channel::from_shared(app.http.clone()).unwrap().connect().await.unwrap();
    let mut gateway = GatewayServiceClient::new(channel);
    let mut replay = tonic::Request::new(ReplayReq { room_id: "general".into(), last_seen_offset: 0 });
    replay.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let status = gateway.replay_and_subscribe(replay).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    // Closing a connection gives its two places back (once the server has let go of it).
    first.stream.close(None).await.unwrap();
    first.until_closed().await;
    let mut given_back = false;
    for attempt in 0..100 {
        second.send(json!({"type": "subscribe", "room_id": "general", "after": 0, "ref": attempt})).await;
        let answer = loop {
            let frame = second.next().await;
            if frame["type"] == "subscribed" || frame["type"] == "error" {
                break frame;
            }
        };
        if answer["type"] == "subscribed" {
            given_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(given_back, "the closed connection's places are given back");
    app.stop().await;
}

async fn leaving_a_room_ends_its_subscription_and_strangers_cannot_subscribe(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (owner, _, _) = user(&app, "owner").await;
    let (member_browser, _, member_token) = user(&app, "member").await;
    let (_, _, stranger_token) = user(&app, "stranger").await;
    post(&owner, &app, "/api/room/create", json!({"room_id": "club", "name": "Club"})).await;
    post(&member_browser, &app, "/api/room/join", json!({"room_id": "club"})).await;

    let mut stranger = WsClient::connect(&app, &stranger_token).await;
    stranger.send(json!({"type": "subscribe", "room_id": "club", "after": 0, "ref": 7})).await;
    let refused = stranger.next_of("error").await;
    assert_eq!((refused["code"].as_str(), refused["ref"].as_i64()), (Some("forbidden"), Some(7)));
    stranger.send(json!({"type": "send", "room_id": "club", "text": "let me in", "client_id": "x"})).await;
    assert_eq!(stranger.next_of("error").await["code"], "forbidden");

    let mut member = WsClient::connect(&app, &member_token).await;
    member.subscribe("club", Some(0)).await;
    post(&member_browser, &app, "/api/room/leave", json!({"room_id": "club"})).await;
    let ended = member.next_of("error").await;
    assert_eq!((ended["code"].as_str(), ended["room_id"].as_str()), (Some("forbidden"), Some("club")));
    post(&owner, &app, "/api/message/append", json!({"room_id": "club", "text": "after the leave"})).await;
    member.send(json!({"type": "typing", "room_id": "general"})).await;
    // The next frame answers the typing frame; no message of the club arrives before it.
    let next = member.next().await;
    assert_eq!(next["type"], "error", "{next}");
    assert_ne!(next["type"], "message");
    app.stop().await;
}

async fn a_foreign_origin_is_refused_and_the_servers_own_is_accepted(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (_, _, token) = user(&app, "ada").await;
    let refused = WsClient::try_connect(&app, &token, Some("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let own = app.http.clone();
    assert!(WsClient::try_connect(&app, &token, Some(&own)).await.is_ok());
    let anonymous = reqwest::Client::new()
        .get(format!("{}/api/ws", app.http))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn bad_frames_get_an_error_and_the_connection_stays_open(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (_, _, token) = user(&app, "ada").await;
    let mut client = WsClient::connect(&app, &token).await;
    for bad in [
        "not json",
        "{}",
        r#"{"type":"fly"}"#,
        r#"{"type":"send","room_id":5}"#,
        r#"{"type":"subscribe","room_id":"general","after":-1,"ref":"neg"}"#,
        r#"{"type":"subscribe","room_id":"general","after":9223372036854775807,"ref":"huge"}"#,
    ] {
        client.send_raw(bad).await;
        let error = client.next_of("error").await;
        assert!(error["message"].as_str().is_some_and(|message| !message.is_empty()), "{bad}: {error}");
    }
    client.send(json!({"type": "send", "room_id": "general", "text": "", "client_id": "e", "ref": "empty"})).await;
    let error = client.next_of("error").await;
    assert_eq!((error["code"].as_str(), error["ref"].as_str()), (Some("invalid_argument"), Some("empty")));
    client.send(json!({"type": "send", "room_id": "general", "text": "still here", "client_id": "ok"})).await;
    assert_eq!(client.next_of("ack").await["offset"], 1);
    app.stop().await;
}

async fn subscribers_see_who_is_online_and_who_is_typing(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (_, ada_id, ada_token) = user(&app, "ada").await;
    let (_, bob_id, bob_token) = user(&app, "bob").await;
    let mut ada = WsClient::connect(&app, &ada_token).await;
    ada.subscribe("general", None).await;
    let online = ada.next_of("presence").await;
    assert_eq!((online["user_id"].as_str(), online["status"].as_str()), (Some(ada_id.as_str()), Some("online")));

    let mut bob = WsClient::connect(&app, &bob_token).await;
    bob.subscribe("general", None).await;
    let bob_online = next_presence_of(&mut ada, &bob_id).await;
    assert_eq!(
        (bob_online["status"].as_str(), bob_online["display_name"].as_str()),
        (Some("online"), Some("bob display"))
    );

    bob.send(json!({"type": "typing", "room_id": "general"})).await;
    let typing = ada.next_of("typing").await;
    assert_eq!((typing["user_id"].as_str(), typing["room_id"].as_str()), (Some(bob_id.as_str()), Some("general")));

    drop(bob);
    let bob_offline = next_presence_of(&mut ada, &bob_id).await;
    assert_eq!(bob_offline["status"], "offline", "closing the last connection takes the user offline");
    app.stop().await;
}

/// A user's open connections keep them online past the presence TTL, however long they
/// stay quiet, and the user goes offline with their last connection, not their first.
async fn connected_users_stay_online_past_the_ttl_until_their_last_connection_closes(topology: Topology) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.presence.ttl_secs = 2;
    let app = spawn_with(topology, config).await;
    let (_, _, ada_token) = user(&app, "ada").await;
    let (_, bob_id, bob_token) = user(&app, "bob").await;
    let mut ada = WsClient::connect(&app, &ada_token).await;
    ada.subscribe("general", None).await;
    let mut bob_phone = WsClient::connect(&app, &bob_token).await;
    bob_phone.subscribe("general", None).await;
    let mut bob_laptop = WsClient::connect(&app, &bob_token).await;
    bob_laptop.subscribe("general", None).await;
    assert_eq!(next_presence_of(&mut ada, &bob_id).await["status"], "online");

    // Two and a half TTLs without a word from bob: only heartbeats keep him online.
    let quiet = tokio::time::timeout(Duration::from_secs(5), next_presence_of(&mut ada, &bob_id)).await;
    assert!(quiet.is_err(), "bob's presence changed while he was connected: {quiet:?}");
    drop(bob_phone);
    let one_left = tokio::time::timeout(Duration::from_secs(2), next_presence_of(&mut ada, &bob_id)).await;
    assert!(one_left.is_err(), "closing one of two connections took bob offline: {one_left:?}");
    drop(bob_laptop);
    assert_eq!(next_presence_of(&mut ada, &bob_id).await["status"], "offline", "the last connection closed");
    app.stop().await;
}

/// A stopping server says so to its WebSocket clients (1012, "service restart"), so that
/// they reconnect and resume rather than wait on a dead socket.
async fn stopping_the_server_closes_open_connections_with_1012(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (_, _, token) = user(&app, "stopper").await;
    let mut client = WsClient::connect(&app, &token).await;
    client.subscribe("general", None).await;
    let stopping = tokio::spawn(app.stop());
    let close = client.until_closed().await.expect("a close frame");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (1012, "server stopping"));
    stopping.await.unwrap();
}

async fn next_presence_of(client: &mut WsClient, user_id: &str) -> Value {
    loop {
        let frame = client.next_of("presence").await;
        if frame["user_id"] == user_id {
            return frame;
        }
    }
}

/// Clients that cannot set headers on the upgrade put the token in `access_token`.
async fn a_token_in_the_query_authenticates_the_upgrade_and_a_wrong_one_is_refused(topology: Topology) {
    use tokio_tungstenite::tungstenite::{Error, Message};
    let (app, _dir) = spawn(topology).await;
    let (_, _, token) = user(&app, "querytoken").await;
    let base = format!("{}/api/ws", app.http.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{base}?access_token={token}")).await.unwrap();
    socket.send(Message::text(json!({"type": "subscribe", "room_id": "general"}).to_string())).await.unwrap();
    let frame: Value = loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else { panic!("the connection ended") };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        if frame["type"] != "presence" {
            break frame;
        }
    };
    assert_eq!(frame["type"], "subscribed", "{frame}");

    let refused = tokio_tungstenite::connect_async(format!("{base}?access_token={}", "0".repeat(64))).await;
    match refused {
        Err(Error::Http(response)) => assert_eq!(response.status(), StatusCode::UNAUTHORIZED),
        other => panic!("a wrong token must be refused with 401, got {other:?}"),
    }
    app.stop().await;
}

async fn pings_are_answered_closes_are_echoed_and_oversized_messages_close_with_1009(topology: Topology) {
    use tokio_tungstenite::tungstenite::{
        Message,
        protocol::{CloseFrame, frame::coding::CloseCode},
    };
    let (app, _dir) = spawn(topology).await;
    let (_, _, token) = user(&app, "ada").await;

    let mut client = WsClient::connect(&app, &token).await;
    client.stream.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    let pong = loop {
        match client.stream.next().await {
            Some(Ok(Message::Pong(payload))) => break payload,
            Some(Ok(_)) => {}
            other => panic!("a pong, not {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");
    client.stream.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    let error = client.next_of("error").await;
    assert_eq!(error["message"], "binary frames are not supported");
    let bye = CloseFrame { code: CloseCode::Away, reason: "bye".into() };
    client.stream.send(Message::Close(Some(bye))).await.unwrap();
    let answer = client.until_closed().await.expect("the close is answered");
    assert_eq!(u16::from(answer.code), 1001, "the answer carries the client's status");

    let mut client = WsClient::connect(&app, &token).await;
    client.send_raw(&"x".repeat(64 * 1024 + 1)).await;
    let close = client.until_closed().await.expect("a close frame");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (1009, "message too big"));

    // The server goes on as before for everyone else.
    let mut client = WsClient::connect(&app, &token).await;
    client.send_raw(&format!(r#"{{"type":"send","room_id":"general","text":"{}"}}"#, "y".repeat(1000))).await;
    assert_eq!(client.next_of("ack").await["offset"], 1);
    app.stop().await;
}

async fn a_client_that_stops_answering_pings_is_closed_with_4002_and_one_that_answers_stays(topology: Topology) {
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.ws_ping_secs = 1;
    let app = spawn_with(topology, config).await;
    let (_, _, token) = user(&app, "ada").await;
    let mut answering = WsClient::connect(&app, &token).await;
    let mut silent = WsClient::connect(&app, &token).await;
    // The answering client reads, and its library answers each ping as it reads it.
    let mut pings = 0;
    while pings < 3 {
        match tokio::time::timeout(Duration::from_secs(15), answering.stream.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Close(frame)))) => panic!("an answering client was closed: {frame:?}"),
            Ok(Some(Ok(_))) => {}
            other => panic!("a ping, not {other:?}"),
        }
    }
    assert!(answering.subscribe("general", None).await.is_empty());
    // The silent one read nothing all that time, so it answered none of its pings.
    let close = silent.until_closed().await.expect("a close frame");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (4002, "ping timeout"));
    app.stop().await;
}

in_both_topologies!(
    a_client_that_stops_answering_pings_is_closed_with_4002_and_one_that_answers_stays,
    pings_are_answered_closes_are_echoed_and_oversized_messages_close_with_1009,
    a_token_in_the_query_authenticates_the_upgrade_and_a_wrong_one_is_refused,
    four_senders_and_ten_subscribers_each_get_every_offset_exactly_once_in_order,
    a_subscriber_that_drops_its_connection_resumes_with_after_and_misses_nothing,
    subscribers_that_fall_behind_their_rooms_feed_fill_the_hole_from_history,
    a_duplicate_client_id_is_acked_with_the_original_offset,
    a_client_that_never_reads_is_cut_with_4008_and_others_are_unaffected,
    a_burst_that_outgrows_the_rooms_feed_reaches_every_subscriber_once,
    logout_closes_the_tokens_open_connections_within_a_second,
    logout_on_one_gateway_closes_the_tokens_connections_on_another,
    leaving_a_room_ends_its_subscription_and_strangers_cannot_subscribe,
    a_foreign_origin_is_refused_and_the_servers_own_is_accepted,
    bad_frames_get_an_error_and_the_connection_stays_open,
    subscribers_see_who_is_online_and_who_is_typing,
    connected_users_stay_online_past_the_ttl_until_their_last_connection_closes,
    stopping_the_server_closes_open_connections_with_1012,
);
