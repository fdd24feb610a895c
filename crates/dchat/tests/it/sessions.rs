//! Sessions that last while used and end on time: after a stretch without use (an open
//! WebSocket's frames count as use) or at their hard end, whichever comes first, on every
//! path, with open WebSockets closed (4001) at that moment and nothing they send afterwards
//! stored. Short session times stand in for the defaults' days; the waits are the sessions'
//! own times, which the test is about. And the user's view of their sessions: listed, ended
//! one by one or everywhere, and ended by a new password, each end closing its sockets.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    http::{get, register},
    support::{Topology, in_both_topologies, spawn_with, test_config},
    wsclient::WsClient,
};

/// Sessions of `idle` seconds without use and at most `max` seconds in all.
async fn app_with_sessions(topology: Topology, idle: u64, max: u64) -> (crate::support::TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.auth.session_idle_secs = idle;
    config.auth.session_max_secs = max;
    (spawn_with(topology, config).await, dir)
}

async fn an_idle_session_ends_and_use_keeps_it_on(topology: Topology) {
    let (app, _dir) = app_with_sessions(topology, 2, 600).await;
    let (client, _) = register(&app, "ada").await;
    // Used every 300 ms for twice the idle time: on all along.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let (status, body) = get(&client, &app, "/api/me").await;
        assert_eq!(status, StatusCode::OK, "used {:?} after sign-in: {body}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Unused for longer than the idle time: over, on every path.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let (status, body) = get(&client, &app, "/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = get(&client, &app, "/api/room/list").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

in_both_topologies!(an_idle_session_ends_and_use_keeps_it_on);

async fn a_websocket_in_use_keeps_its_session_and_closes_when_it_ends_unused(topology: Topology) {
    let (app, _dir) = app_with_sessions(topology, 2, 600).await;
    let (_, body) = register(&app, "bo").await;
    let token = body["token"].as_str().unwrap().to_owned();
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe("general", None).await;
    // Frames every 300 ms for twice the idle time, and nothing else uses the session.
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(4) {
        sent += 1;
        ws.send(json!({"type": "send", "room_id": "general", "text": format!("still here {sent}"), "client_id": format!("k{sent}")}))
            .await;
        let ack = ws.next_of("ack").await;
        assert_eq!(ack["client_id"], format!("k{sent}"), "{ack}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Silent from now on: closed with 4001 once the idle time has passed, not long after.
    let silent = Instant::now();
    let close = ws.until_closed().await.expect("a close frame");
    assert_eq!((u16::from(close.code), close.reason.as_str()), (4001, "session ended"));
    let waited = silent.elapsed();
    assert!(waited >= Duration::from_millis(1_000) && waited < Duration::from_secs(4), "closed after {waited:?}");
    app.stop().await;
}

in_both_topologies!(a_websocket_in_use_keeps_its_session_and_closes_when_it_ends_unused);

async fn a_session_ends_at_its_hard_end_however_used_and_stores_nothing_after(topology: Topology) {
    let (app, _dir) = app_with_sessions(topology, 600, 2).await;
    let (_, body) = register(&app, "cy").await;
    let token = body["token"].as_str().unwrap().to_owned();
    let signed_in = Instant::now();
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe("general", None).await;
    // Sends without pause until the server closes the socket.
    let mut acked = Vec::new();
    let close = 'sending: loop {
        assert!(signed_in.elapsed() < Duration::from_secs(10), "the socket outlived its session");
        let text = format!("busy {}", acked.len());
        ws.send(json!({"type": "send", "room_id": "general", "text": text, "client_id": text})).await;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next_frame_or_close()).await.expect("an answer") {
                Ok(frame) if frame["type"] == "ack" => {
                    assert_eq!(frame["client_id"], text.as_str(), "{frame}");
                    acked.push(text);
                    break;
                }
                Ok(frame) if frame["type"] == "error" => panic!("refused: {frame}"),
                // Its own messages, presence: not what this test is about.
                Ok(_) => {}
                Err(close) => break 'sending close,
            }
        }
    };
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(4001));
    let ended = signed_in.elapsed();
    assert!(ended >= Duration::from_millis(1_900) && ended < Duration::from_secs(4), "ended after {ended:?}");
    assert!(acked.len() > 3, "the session was in use: {acked:?}");
    // What was acknowledged is stored, and nothing sent after the end: the one send that
    // was in flight when the socket closed may be stored unacknowledged (its outcome is
    // unknown to the client, which sends it again with its client id after signing in).
    let observer = app.register("observer").await;
    let stored: Vec<String> = app
        .all_messages("general", &observer)
        .await
        .into_iter()
        .map(|message| message.text)
        .filter(|text| text.starts_with("busy "))
        .collect();
    let in_flight = format!("busy {}", acked.len());
    assert!(
        stored == acked
            || (!stored.is_empty() && stored[..stored.len() - 1] == acked[..] && stored.last() == Some(&in_flight)),
        "stored {} messages, acknowledged {}: {:?}",
        stored.len(),
        acked.len(),
        stored.iter().rev().take(3).collect::<Vec<_>>()
    );
    // And the token is refused everywhere now.
    let status =
        reqwest::Client::new().get(format!("{}/api/me", app.http)).bearer_auth(&token).send().await.unwrap().status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

in_both_topologies!(a_session_ends_at_its_hard_end_however_used_and_stores_nothing_after);

/// A browser-like client that names itself `agent`, signed in to ada's account.
async fn sign_in_as_ada(app: &crate::support::TestApp, agent: &str, password: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder().user_agent(agent).cookie_store(true).build().unwrap();
    let (status, body) =
        crate::http::post(&client, app, "/api/login", json!({"email": "ada@example.com", "password": password})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (client, body["token"].as_str().unwrap().to_owned())
}

async fn sessions_are_listed_ended_one_by_one_or_everywhere_and_a_new_password_ends_the_others(topology: Topology) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(topology, test_config(dir.path())).await;
    register(&app, "ada").await;
    let (laptop, laptop_token) = sign_in_as_ada(&app, "Laptop browser", "correct horse").await;
    let (_, phone_token) = sign_in_as_ada(&app, "Phone app", "correct horse").await;

    // The list: every live session, the asker's own marked, where each came from, and no
    // token or digest of one.
    let (status, listed) = get(&laptop, &app, "/api/sessions").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "registration, laptop, phone: {listed}");
    let find = |agent: &str| sessions.iter().find(|session| session["user_agent"] == agent).cloned().unwrap();
    let (laptop_session, phone_session) = (find("Laptop browser"), find("Phone app"));
    assert_eq!((laptop_session["current"].clone(), phone_session["current"].clone()), (json!(true), json!(false)));
    assert_eq!(phone_session["address"], "127.0.0.1");
    let text = listed.to_string();
    assert!(!text.contains(&laptop_token) && !text.contains(&phone_token), "no token in the list");

    // Ending the phone's session from the laptop closes the phone's socket at once.
    let mut phone_socket = WsClient::connect(&app, &phone_token).await;
    let (status, _) =
        crate::http::post(&laptop, &app, "/api/sessions/revoke", json!({"session_id": phone_session["session_id"]}))
            .await;
    assert_eq!(status, StatusCode::OK);
    let close = tokio::time::timeout(Duration::from_secs(1), phone_socket.until_closed()).await.expect("closed in 1 s");
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(4001));
    let status = bearer_status(&app, &phone_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the phone's token is over");
    assert_eq!(get(&laptop, &app, "/api/me").await.0, StatusCode::OK, "the laptop stays");
    let (status, body) =
        crate::http::post(&laptop, &app, "/api/sessions/revoke", json!({"session_id": phone_session["session_id"]}))
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "ended already: {body}");

    // A new password needs the current one, and ends every other session.
    let (_, tablet_token) = sign_in_as_ada(&app, "Tablet", "correct horse").await;
    let mut tablet_socket = WsClient::connect(&app, &tablet_token).await;
    let change = |current: &str| json!({"current_password": current, "new_password": "battery staple horse"});
    let (status, body) = crate::http::post(&laptop, &app, "/api/password", change("wrong horse")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(bearer_status(&app, &tablet_token).await, StatusCode::OK, "a refused change ends nothing");
    let (status, body) = crate::http::post(&laptop, &app, "/api/password", change("correct horse")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let close =
        tokio::time::timeout(Duration::from_secs(1), tablet_socket.until_closed()).await.expect("closed in 1 s");
    assert_eq!(close.map(|frame| u16::from(frame.code)), Some(4001));
    assert_eq!(bearer_status(&app, &tablet_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&laptop, &app, "/api/me").await.0, StatusCode::OK, "the one changing it stays signed in");
    let old = reqwest::Client::new()
        .post(format!("{}/api/login", app.http))
        .json(&json!({"email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "the old password is over");
    let (_, desk_token) = sign_in_as_ada(&app, "Desk", "battery staple horse").await;

    // Everywhere: every session, the asker's own included, and its cookie goes.
    let response = laptop
        .post(format!("{}/api/sessions/revoke", app.http))
        .json(&json!({"everywhere": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(bearer_status(&app, &laptop_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(bearer_status(&app, &desk_token).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

in_both_topologies!(sessions_are_listed_ended_one_by_one_or_everywhere_and_a_new_password_ends_the_others);

/// `GET /api/me` with a bearer token: its status.
async fn bearer_status(app: &crate::support::TestApp, token: &str) -> StatusCode {
    reqwest::Client::new().get(format!("{}/api/me", app.http)).bearer_auth(token).send().await.unwrap().status()
}
