//! A corpus of bad input, generated the way a schema fuzzer would: every field of every JSON
//! body, query and form, and of every WebSocket frame, replaced in turn by values of the
//! wrong type, the wrong size and the wrong characters, and whole bodies that are not what
//! the route takes. Whatever the answer, it is never a 5xx: a refusal is a 4xx with an error
//! body that says what is wrong, a WebSocket answers with an error frame and stays open, a
//! `gateway.v1` call fails as the client's error, and the server goes on serving. Rate limits are off, so each input reaches the validation
//! it is meant for.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    http::register,
    support::{TestApp, Topology, in_both_topologies, spawn_with, test_config},
    wsclient::WsClient,
};

/// Values that stand in for one JSON field.
fn bad_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1e308),
        json!(9_223_372_036_854_775_807_i64),
        json!(18_446_744_073_709_551_615_u64),
        json!([]),
        json!(["general"]),
        json!({}),
        json!({"room_id": "general"}),
        json!(""),
        json!(" "),
        json!("\u{0}"),
        json!("a\u{202e}b"),
        json!("\u{200b}"),
        json!("../../etc/passwd"),
        json!("general/../x"),
        json!("%00"),
        json!("GENERAL"),
        json!("<script>alert(1)</script>"),
        json!("'; DROP TABLE rooms; --"),
        json!("🎉".repeat(2000)),
        json!("x".repeat(10_000)),
        json!("é\u{301}"),
        json!("\u{fffd}\u{fffe}"),
    ]
}

/// Values that stand in for one query or form parameter.
fn bad_params() -> Vec<String> {
    let mut params: Vec<String> = [
        "",
        " ",
        "-1",
        "0",
        "1e99",
        "NaN",
        "Infinity",
        "9223372036854775808",
        "-9223372036854775809",
        "9007199254740992",
        "%00",
        "%ff%fe",
        "%E2%80%AE",
        "../x",
        "general%2F..",
        "true",
        "[]",
        "{}",
        "0x10",
    ]
    .iter()
    .map(|param| (*param).to_owned())
    .collect();
    params.push("y".repeat(5_000));
    params
}

/// Whole bodies that are not what any route takes, sent as JSON.
fn bad_bodies() -> Vec<String> {
    let mut bodies: Vec<String> =
        ["", "null", "[]", "1", "\"general\"", "{", "}", "{\"a\":}", "{\"room_id\":\"general\",}", "\u{feff}{}"]
            .iter()
            .map(|body| (*body).to_owned())
            .collect();
    bodies.push(format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)));
    bodies.push(format!("{{{}}}", (0..2_000).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",")));
    bodies
}

/// Every JSON route with a body, and a body it accepts.
fn json_routes() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/api/register",
            json!({"email": "new@example.com", "username": "newcomer", "password": "correct horse", "display_name": "New"}),
        ),
        ("/api/login", json!({"email": "ada@example.com", "username": "", "password": "correct horse"})),
        ("/api/profile/setname", json!({"display_name": "Ada"})),
        ("/api/room/create", json!({"room_id": "made", "name": "Made"})),
        ("/api/room/join", json!({"room_id": "general"})),
        ("/api/room/leave", json!({"room_id": "nowhere"})),
        ("/api/message/append", json!({"room_id": "general", "text": "hi", "client_id": "c1"})),
        ("/api/presence/heartbeat", json!({"room_id": "general", "display_name": "Ada"})),
    ]
}

/// Every route that takes a query, and the parameters it reads.
fn query_routes() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("/api/user/lookup", &["user_id"]),
        ("/api/room/public", &["after", "limit"]),
        ("/api/room/members", &["room_id"]),
        ("/api/message/list", &["room_id", "from_offset", "before", "limit"]),
        ("/api/presence/roster", &["room_id"]),
        ("/history", &["room_id"]),
    ]
}

/// The seed's form routes and the fields they read.
fn form_routes() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("/register", &["username", "password"]),
        ("/login", &["username", "password"]),
        ("/send", &["room_id", "username", "text", "message"]),
    ]
}

/// A wrong answer, or `None`: any status but a 5xx, and a 4xx carries `{"error": {...}}`
/// (the form routes answer the seed's way and are held to the status only).
async fn judge(what: String, request: reqwest::RequestBuilder, json_errors: bool) -> Option<String> {
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return Some(format!("{what}: no answer: {err}")),
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_server_error() {
        return Some(format!("{what}: {status} {text}"));
    }
    let error_body =
        serde_json::from_str::<Value>(&text).ok().and_then(|body| body["error"]["code"].as_str().map(str::to_owned));
    if json_errors && status.is_client_error() && status != StatusCode::UNAUTHORIZED && error_body.is_none() {
        return Some(format!("{what}: {status} without an error body: {text:.200}"));
    }
    None
}

async fn http_corpus(app: &TestApp, client: &Client, token: &str) -> (usize, Vec<String>) {
    let url = |path: &str| format!("{}{path}", app.http);
    let mut requests = Vec::new();
    for (path, valid) in json_routes() {
        let fields: Vec<String> = valid.as_object().unwrap().keys().cloned().collect();
        for field in &fields {
            for value in bad_values() {
                let mut body = valid.clone();
                body[field] = value.clone();
                requests.push((format!("{path} {field}={value:.60}"), client.post(url(path)).json(&body), true));
            }
            let mut missing = valid.clone();
            missing.as_object_mut().unwrap().remove(field);
            requests.push((format!("{path} without {field}"), client.post(url(path)).json(&missing), true));
        }
        let mut extra = valid.clone();
        extra["unexpected"] = json!({"deep": [1, 2, 3]});
        requests.push((format!("{path} with an unknown field"), client.post(url(path)).json(&extra), true));
        for body in bad_bodies() {
            let request = client.post(url(path)).header("content-type", "application/json").body(body.clone());
            requests.push((format!("{path} body {body:.40}"), request, true));
        }
    }
    for (path, params) in query_routes() {
        for param in params {
            for value in bad_params() {
                // As typed: percent-escapes in the corpus reach the server undecoded.
                let room = if *param == "room_id" { String::new() } else { "room_id=general&".to_owned() };
                let target = url(&format!("{path}?{room}{param}={value}"));
                requests.push((
                    format!("GET {path}?{param}={value:.40}"),
                    client.get(target),
                    path.starts_with("/api"),
                ));
            }
        }
    }
    for (path, fields) in form_routes() {
        for field in fields {
            for value in bad_params() {
                let form =
                    [("username", "ada"), ("password", "correct horse"), ("text", "hi"), (*field, value.as_str())];
                requests.push((format!("POST {path} {field}={value:.40}"), client.post(url(path)).form(&form), false));
            }
        }
    }
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        requests.push((
            format!("{method} /api/message/append"),
            client.request(method.clone(), url("/api/message/append")),
            true,
        ));
    }
    let count = requests.len();
    let mut wrong = Vec::new();
    for (what, request, json_errors) in requests {
        if let Some(problem) = judge(what, request.bearer_auth(token), json_errors).await {
            wrong.push(problem);
        }
    }
    (count, wrong)
}

/// Every client frame with each field replaced, and text that is no frame at all. Each is
/// answered with an error frame or taken, and the connection stays open.
async fn ws_corpus(app: &TestApp, token: &str) -> (usize, Vec<String>) {
    let frames = [
        json!({"type": "subscribe", "room_id": "general", "after": 0}),
        json!({"type": "unsubscribe", "room_id": "general"}),
        json!({"type": "send", "room_id": "general", "text": "hi", "client_id": "c"}),
        json!({"type": "typing", "room_id": "general"}),
    ];
    let mut inputs = Vec::new();
    for frame in &frames {
        for field in frame.as_object().unwrap().keys() {
            for value in bad_values() {
                let mut bad = frame.clone();
                bad[field] = value;
                inputs.push(bad.to_string());
            }
        }
    }
    inputs.extend(bad_bodies());
    inputs.extend(["{\"type\":\"nonsense\"}", "{\"type\":null}", "{\"ref\":{\"nested\":[1,2]}}"].map(str::to_owned));
    let mut client = WsClient::connect(app, token).await;
    let mut wrong = Vec::new();
    for input in &inputs {
        client.send_raw(input).await;
        // A fence: answered at once, after whatever the input caused.
        client.send(json!({"type": "subscribe", "room_id": "general", "after": -1, "ref": "fence"})).await;
        loop {
            let frame = client.next().await;
            if frame["ref"] == "fence" {
                break;
            }
            if frame["type"] == "error" && (frame["code"] == "internal" || frame["code"] == "unavailable") {
                wrong.push(format!("ws {input:.60}: {frame}"));
            }
        }
    }
    (inputs.len(), wrong)
}

/// `gateway.v1` methods with each string and number field replaced: every refusal is a
/// client's error (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...), never INTERNAL,
/// UNKNOWN or UNAVAILABLE.
async fn grpc_corpus(app: &TestApp, token: &str) -> (usize, Vec<String>) {
    use dchat_proto::{
        auth::v1 as auth,
        gateway::v1::{ReplayReq, gateway_service_client::GatewayServiceClient},
        message::v1 as message,
        room::v1 as room,
    };
    let channel = tonic::transport::Channel::from_shared(app.http.clone()).unwrap().connect().await.unwrap();
    let mut gateway = GatewayServiceClient::new(channel);
    fn with<T>(message: T, token: &str) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }
    let strings: Vec<String> = bad_values().iter().filter_map(|value| value.as_str().map(str::to_owned)).collect();
    let numbers = [i64::MIN, -1, 0, 9_007_199_254_740_992, i64::MAX];
    let mut answers: Vec<(String, Result<(), tonic::Status>)> = Vec::new();
    for bad in &strings {
        let text = |field: &str| format!("{field}={bad:.30}");
        let append = message::AppendReq { room_id: "general".into(), text: bad.clone(), ..Default::default() };
        answers.push((text("Append.text"), gateway.append(with(append, token)).await.map(drop)));
        let append = message::AppendReq { room_id: bad.clone(), text: "hi".into(), ..Default::default() };
        answers.push((text("Append.room_id"), gateway.append(with(append, token)).await.map(drop)));
        let append = message::AppendReq {
            room_id: "general".into(),
            text: "hi".into(),
            idempotency_key: bad.clone(),
            ..Default::default()
        };
        answers.push((text("Append.idempotency_key"), gateway.append(with(append, token)).await.map(drop)));
        let create = room::CreateRoomReq { room_id: bad.clone(), name: bad.clone(), ..Default::default() };
        answers.push((text("CreateRoom"), gateway.create_room(with(create, token)).await.map(drop)));
        let join = room::JoinLeaveReq { room_id: bad.clone(), user_id: String::new() };
        answers.push((text("JoinRoom.room_id"), gateway.join_room(with(join, token)).await.map(drop)));
        let members = room::RoomId { room_id: bad.clone() };
        answers.push((text("ListMembers.room_id"), gateway.list_members(with(members, token)).await.map(drop)));
        let user = auth::UserId { user_id: bad.clone() };
        answers.push((text("GetUser.user_id"), gateway.get_user(with(user, token)).await.map(drop)));
    }
    for number in numbers {
        let list = message::ListReq {
            room_id: "general".into(),
            from_offset: number,
            limit: number as i32,
            before: number,
            ..Default::default()
        };
        answers.push((format!("List numbers={number}"), gateway.list(with(list, token)).await.map(drop)));
        let replay = ReplayReq { room_id: "general".into(), last_seen_offset: number };
        answers.push((
            format!("ReplayAndSubscribe.last_seen_offset={number}"),
            gateway.replay_and_subscribe(with(replay, token)).await.map(drop),
        ));
    }
    let wrong = answers
        .iter()
        .filter_map(|(what, answer)| match answer {
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::Unavailable | tonic::Code::DataLoss
                ) =>
            {
                Some(format!("gRPC {what}: {status:?}"))
            }
            _ => None,
        })
        .collect();
    (answers.len(), wrong)
}

async fn no_bad_input_gets_a_5xx_and_every_refusal_says_what_is_wrong(topology: Topology) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.rate_limit = false;
    let app = spawn_with(topology, config).await;
    let (client, body) = register(&app, "ada").await;
    let token = body["token"].as_str().unwrap().to_owned();
    let (http_count, mut wrong) = http_corpus(&app, &client, &token).await;
    let (ws_count, ws_wrong) = ws_corpus(&app, &token).await;
    let (grpc_count, grpc_wrong) = grpc_corpus(&app, &token).await;
    wrong.extend(ws_wrong);
    wrong.extend(grpc_wrong);
    let count = http_count + ws_count + grpc_count;
    assert!(wrong.is_empty(), "{} of {count} inputs answered wrongly:\n{}", wrong.len(), wrong.join("\n"));
    assert!(
        http_count > 900 && ws_count > 300 && grpc_count > 100,
        "{http_count} HTTP, {ws_count} WebSocket, {grpc_count} gRPC"
    );
    // A method a route does not take says which it does.
    let response = client.put(format!("{}/api/message/append", app.http)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").and_then(|allow| allow.to_str().ok()), Some("POST"));
    // And the server is as it was: the user still signs in, the room still works.
    let response = client.get(format!("{}/api/message/list?room_id=general", app.http)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

in_both_topologies!(no_bad_input_gets_a_5xx_and_every_refusal_says_what_is_wrong);
