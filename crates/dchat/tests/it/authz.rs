//! The authorization matrix: every JSON route, every seed form route, every WebSocket frame
//! and every `gateway.v1` method, asked by every kind of caller (nobody, a forged token, a
//! logged-out token, a stranger, a former member, a member asking about a room that does
//! not exist, a member, the member's personal access token, the owner, a webhook's secret).
//! Each cell's answer must be the one its requirement allows, and afterwards the room must
//! hold only what its members put there.
//!
//! A new route, frame or method joins the lists below with what it requires.

use std::time::Duration;

use dchat_proto::{
    auth::v1 as auth,
    gateway::v1::{ReplayReq, gateway_service_client::GatewayServiceClient},
    message::v1 as message,
    presence::v1 as presence,
    room::v1 as room,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::{Code, Request, transport::Channel};

use crate::{
    http::{call, post, register},
    support::{TestApp, Topology, in_both_topologies, spawn},
    wsclient::WsClient,
};

/// What a cell requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A valid token.
    Token,
    /// A signed-in session's token: managing the account (sessions, password, personal
    /// tokens, second factor) is refused to a personal access token.
    Session,
    /// A valid token of a member of the room asked about.
    Membership,
    /// A valid token of the room's admin (its creator).
    Admin,
    /// A webhook's secret, in the URL: nothing else opens `/api/hooks/`.
    Hook,
}

/// How a cell was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Unauthenticated,
    Forbidden,
    Allowed,
}

/// One row of the matrix: a caller and the room it asks about.
struct Caller {
    who: &'static str,
    token: Option<String>,
    /// Holds a token that opens an account.
    signed_in: bool,
    /// ... and it is a session's, not a personal access token.
    session: bool,
    member: bool,
    admin: bool,
    /// Holds a webhook's secret.
    hook: bool,
    room: &'static str,
}

impl Caller {
    fn expected(&self, need: Need) -> Outcome {
        match need {
            Need::Hook if self.hook => Outcome::Allowed,
            Need::Hook => Outcome::Unauthenticated,
            _ if !self.signed_in => Outcome::Unauthenticated,
            Need::Session if !self.session => Outcome::Forbidden,
            Need::Membership if !self.member => Outcome::Forbidden,
            Need::Admin if !self.admin => Outcome::Forbidden,
            _ => Outcome::Allowed,
        }
    }
}

/// 400, 404 and 409 come after authentication and authorization passed: the request was
/// allowed and then refused on its merits (a taken username, a token id that is not
/// theirs, a wrong second-factor code), which is what those cells send on purpose.
fn from_status(status: StatusCode) -> Result<Outcome, String> {
    match status {
        StatusCode::UNAUTHORIZED => Ok(Outcome::Unauthenticated),
        StatusCode::FORBIDDEN => Ok(Outcome::Forbidden),
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::CONFLICT => Ok(Outcome::Allowed),
        status if status.is_success() || status.is_redirection() => Ok(Outcome::Allowed),
        status => Err(format!("HTTP {status}")),
    }
}

fn from_grpc<T>(result: Result<T, tonic::Status>) -> Result<Outcome, String> {
    match result {
        Ok(_) => Ok(Outcome::Allowed),
        Err(status) if status.code() == Code::Unauthenticated => Ok(Outcome::Unauthenticated),
        Err(status) if status.code() == Code::PermissionDenied => Ok(Outcome::Forbidden),
        Err(status) => Err(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// The JSON and form routes, as (need, method, path, body). Every logged-in user may make,
/// join and leave public rooms; everything about one room needs its membership.
fn http_cells(caller: &Caller, owner_id: &str, serial: usize) -> Vec<(Need, Method, String, Option<Value>)> {
    let room = caller.room;
    let created = format!("made-{serial}");
    vec![
        (Need::Token, Method::GET, "/api/me".into(), None),
        (Need::Token, Method::POST, "/api/profile/setname".into(), Some(json!({"display_name": "Renamed"}))),
        (Need::Token, Method::GET, format!("/api/user/lookup?user_id={owner_id}"), None),
        (Need::Session, Method::GET, "/api/sessions".into(), None),
        // The same password again: allowed, and it ends no session these callers use.
        (
            Need::Session,
            Method::POST,
            "/api/password".into(),
            Some(json!({"current_password": "correct horse", "new_password": "correct horse"})),
        ),
        // The owner's username: taken (409) for everyone but the owner, whose derived one
        // it already is.
        (Need::Token, Method::POST, "/api/profile/username".into(), Some(json!({"username": "owner"}))),
        (Need::Token, Method::POST, "/api/profile/bot".into(), Some(json!({"bot": false}))),
        (Need::Session, Method::GET, "/api/tokens".into(), None),
        (Need::Session, Method::POST, "/api/tokens".into(), Some(json!({"name": format!("matrix {serial}")}))),
        (Need::Session, Method::POST, "/api/tokens/revoke".into(), Some(json!({"token_id": "not-theirs"}))),
        (Need::Session, Method::GET, "/api/2fa".into(), None),
        (Need::Session, Method::POST, "/api/2fa/setup".into(), None),
        (Need::Session, Method::POST, "/api/2fa/enable".into(), Some(json!({"code": "000000"}))),
        (Need::Session, Method::POST, "/api/2fa/disable".into(), Some(json!({"password": "correct horse"}))),
        (Need::Admin, Method::GET, format!("/api/room/webhooks?room_id={room}"), None),
        (Need::Admin, Method::POST, "/api/room/webhooks".into(), Some(json!({"room_id": room, "name": "Matrix"}))),
        (
            Need::Admin,
            Method::POST,
            "/api/room/webhooks/delete".into(),
            Some(json!({"room_id": room, "webhook_id": "not-there"})),
        ),
        (
            Need::Hook,
            Method::POST,
            format!("/api/hooks/{}", caller.token.as_deref().unwrap_or("none")),
            Some(json!({"text": "by hook"})),
        ),
        (Need::Token, Method::POST, "/api/room/create".into(), Some(json!({"room_id": created, "name": "Made"}))),
        (Need::Token, Method::POST, "/api/room/join".into(), Some(json!({"room_id": "lobby"}))),
        (Need::Token, Method::POST, "/api/room/leave".into(), Some(json!({"room_id": "lobby"}))),
        (Need::Token, Method::GET, "/api/room/list".into(), None),
        (Need::Token, Method::GET, "/api/room/public".into(), None),
        (Need::Membership, Method::GET, format!("/api/room/members?room_id={room}"), None),
        (Need::Membership, Method::POST, "/api/message/append".into(), Some(json!({"room_id": room, "text": "hi"}))),
        (Need::Membership, Method::GET, format!("/api/message/list?room_id={room}"), None),
        (Need::Membership, Method::POST, "/api/presence/heartbeat".into(), Some(json!({"room_id": room}))),
        (Need::Membership, Method::GET, format!("/api/presence/roster?room_id={room}"), None),
        // The seed's form routes: `/send` to a room that is not the sender's goes to
        // `general` (checked by the room's history below), `/history` reads `general`.
        (Need::Token, Method::GET, "/history".into(), None),
    ]
}

async fn http_cell(
    app: &TestApp,
    caller: &Caller,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Outcome, String> {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", app.http));
    if let Some(token) = &caller.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|err| err.to_string())?;
    from_status(response.status())
}

async fn form_send(app: &TestApp, caller: &Caller) -> Result<Outcome, String> {
    let mut request = reqwest::Client::new().post(format!("{}/send", app.http));
    if let Some(token) = &caller.token {
        request = request.bearer_auth(token);
    }
    let response = request.form(&[("room_id", caller.room), ("text", "by form")]).send().await;
    from_status(response.map_err(|err| err.to_string())?.status())
}

/// Sends `frame` with a `ref` and returns the frame that answers it.
async fn ws_answer(client: &mut WsClient, mut frame: Value) -> Vec<Value> {
    frame["ref"] = json!("cell");
    client.send(frame).await;
    loop {
        let frame = client.next().await;
        if frame["ref"] == "cell" {
            return vec![frame];
        }
    }
}

/// Sends `frame`, which is answered only when refused, then one that is answered at once
/// with an error (`after` of -1): frames are handled in order, so a refusal of `frame`
/// comes before that answer. Returns the refusal, if there was one.
async fn ws_fenced(client: &mut WsClient, mut frame: Value) -> Vec<Value> {
    frame["ref"] = json!("cell");
    client.send(frame).await;
    client.send(json!({"type": "subscribe", "room_id": "general", "after": -1, "ref": "fence"})).await;
    let mut seen = Vec::new();
    loop {
        let frame = client.next().await;
        if frame["ref"] == "fence" {
            return seen;
        }
        if frame["ref"] == "cell" {
            seen.push(frame);
        }
    }
}

fn from_frames(frames: &[Value], success: &str) -> Result<Outcome, String> {
    if let Some(error) = frames.iter().find(|frame| frame["type"] == "error") {
        return match error["code"].as_str() {
            Some("forbidden") => Ok(Outcome::Forbidden),
            _ => Err(format!("error frame {error}")),
        };
    }
    if success.is_empty() || frames.iter().any(|frame| frame["type"] == success) {
        Ok(Outcome::Allowed)
    } else {
        Err(format!("neither {success} nor an error: {frames:?}"))
    }
}

/// The WebSocket: the upgrade, then subscribe, send and typing (typing is answered only
/// when refused).
async fn ws_cells(app: &TestApp, caller: &Caller) -> Vec<(&'static str, Need, Result<Outcome, String>)> {
    let token = caller.token.clone().unwrap_or_default();
    let mut client = match WsClient::try_connect(app, &token, None).await {
        Ok(client) => client,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            return vec![(
                "ws upgrade",
                Need::Token,
                from_status(StatusCode::from_u16(response.status().as_u16()).unwrap()),
            )];
        }
        Err(err) => return vec![("ws upgrade", Need::Token, Err(err.to_string()))],
    };
    let room = caller.room;
    let subscribe = ws_answer(&mut client, json!({"type": "subscribe", "room_id": room, "after": 0})).await;
    let send =
        ws_answer(&mut client, json!({"type": "send", "room_id": room, "text": "by socket", "client_id": "c1"})).await;
    let typing = ws_fenced(&mut client, json!({"type": "typing", "room_id": room})).await;
    vec![
        ("ws upgrade", Need::Token, Ok(Outcome::Allowed)),
        ("ws subscribe", Need::Membership, from_frames(&subscribe, "subscribed")),
        ("ws send", Need::Membership, from_frames(&send, "ack")),
        ("ws typing", Need::Membership, from_frames(&typing, "")),
    ]
}

fn authed<T>(message: T, caller: &Caller) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = &caller.token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

/// Every `gateway.v1` method but Register and Login (which need nothing) and Logout (the
/// last cell of each row).
async fn grpc_cells(
    gateway: &mut GatewayServiceClient<Channel>,
    caller: &Caller,
    owner_id: &str,
    serial: usize,
) -> Vec<(&'static str, Need, Result<Outcome, String>)> {
    let room = caller.room.to_owned();
    let pick = |room_id: &str| room::RoomId { room_id: room_id.to_owned() };
    let join_leave = |room_id: &str| room::JoinLeaveReq { room_id: room_id.to_owned(), user_id: String::new() };
    let presence_room = presence::RoomId { room_id: room.clone() };
    let beat = presence::HeartbeatReq { room_id: room.clone(), ..Default::default() };
    let create = room::CreateRoomReq { room_id: format!("grpc-{serial}"), name: "Made".into(), ..Default::default() };
    let append = message::AppendReq { room_id: room.clone(), text: "by grpc".into(), ..Default::default() };
    let list = message::ListReq { room_id: room.clone(), from_offset: 1, limit: 10, ..Default::default() };
    let replay = ReplayReq { room_id: room.clone(), last_seen_offset: 0 };
    let user = auth::UserId { user_id: owner_id.to_owned() };
    vec![
        ("GetUser", Need::Token, from_grpc(gateway.get_user(authed(user, caller)).await)),
        ("CreateRoom", Need::Token, from_grpc(gateway.create_room(authed(create, caller)).await)),
        ("JoinRoom", Need::Token, from_grpc(gateway.join_room(authed(join_leave("lobby"), caller)).await)),
        ("LeaveRoom", Need::Token, from_grpc(gateway.leave_room(authed(join_leave("lobby"), caller)).await)),
        ("ListRooms", Need::Token, from_grpc(gateway.list_rooms(authed(room::Empty {}, caller)).await)),
        ("ListMembers", Need::Membership, from_grpc(gateway.list_members(authed(pick(&room), caller)).await)),
        ("Heartbeat", Need::Membership, from_grpc(gateway.heartbeat(authed(beat, caller)).await)),
        (
            "SubscribePresence",
            Need::Membership,
            from_grpc(gateway.subscribe_presence(authed(presence_room.clone(), caller)).await),
        ),
        ("Roster", Need::Membership, from_grpc(gateway.roster(authed(presence_room, caller)).await)),
        ("Append", Need::Membership, from_grpc(gateway.append(authed(append, caller)).await)),
        ("List", Need::Membership, from_grpc(gateway.list(authed(list, caller)).await)),
        ("ReplayAndSubscribe", Need::Membership, from_grpc(gateway.replay_and_subscribe(authed(replay, caller)).await)),
    ]
}

async fn every_route_frame_and_method_answers_each_caller_as_its_requirement_allows(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let token_of = |body: &Value| body["token"].as_str().unwrap().to_owned();
    let (owner, owner_body) = register(&app, "owner").await;
    let owner_id = owner_body["user"]["user_id"].as_str().unwrap().to_owned();
    let (member, member_body) = register(&app, "member").await;
    let (_, stranger_body) = register(&app, "stranger").await;
    let (leaver, leaver_body) = register(&app, "leaver").await;
    let (gone, gone_body) = register(&app, "gone").await;
    post(&owner, &app, "/api/room/create", json!({"room_id": "club", "name": "Club"})).await;
    post(&owner, &app, "/api/room/create", json!({"room_id": "lobby", "name": "Lobby"})).await;
    for client in [&member, &leaver, &gone] {
        assert_eq!(post(client, &app, "/api/room/join", json!({"room_id": "club"})).await.0, StatusCode::OK);
    }
    assert_eq!(post(&leaver, &app, "/api/room/leave", json!({"room_id": "club"})).await.0, StatusCode::OK);
    assert_eq!(post(&gone, &app, "/api/logout", json!({})).await.0, StatusCode::OK);
    let (_, personal) = post(&member, &app, "/api/tokens", json!({"name": "the member's script"})).await;
    let (_, hook) = post(&owner, &app, "/api/room/webhooks", json!({"room_id": "club", "name": "Alerts"})).await;

    let caller = |who, token: Option<String>, signed_in, member, room| Caller {
        who,
        token,
        signed_in,
        session: signed_in,
        member,
        admin: false,
        hook: false,
        room,
    };
    let rows = [
        caller("anonymous", None, false, false, "club"),
        caller("forged token", Some("f".repeat(64)), false, false, "club"),
        caller("logged out", Some(token_of(&gone_body)), false, false, "club"),
        caller("stranger", Some(token_of(&stranger_body)), true, false, "club"),
        caller("after leave", Some(token_of(&leaver_body)), true, false, "club"),
        caller("member, missing room", Some(token_of(&member_body)), true, false, "ghost"),
        caller("member", Some(token_of(&member_body)), true, true, "club"),
        Caller { session: false, ..caller("member's personal token", Some(token_of(&personal)), true, true, "club") },
        Caller { admin: true, ..caller("owner", Some(token_of(&owner_body)), true, true, "club") },
        Caller { hook: true, ..caller("webhook secret", Some(token_of(&hook)), false, false, "club") },
    ];
    let mut gateway = GatewayServiceClient::new(Channel::from_shared(app.http.clone()).unwrap().connect_lazy());
    let (mut cells, mut unexpected) = (0, Vec::new());
    let mut check = |caller: &Caller, what: &str, need: Need, outcome: Result<Outcome, String>| {
        cells += 1;
        let expected = caller.expected(need);
        if outcome.as_ref() != Ok(&expected) {
            unexpected.push(format!("{} / {what}: {outcome:?}, expected {expected:?}", caller.who));
        }
    };
    for (serial, caller) in rows.iter().enumerate() {
        for (need, method, path, body) in http_cells(caller, &owner_id, serial) {
            let what = format!("{method} {path}");
            check(caller, &what, need, http_cell(&app, caller, method, &path, body).await);
        }
        check(caller, "POST /send", Need::Token, form_send(&app, caller).await);
        for (what, need, outcome) in ws_cells(&app, caller).await {
            check(caller, what, need, outcome);
        }
        for (what, need, outcome) in grpc_cells(&mut gateway, caller, &owner_id, serial).await {
            check(caller, what, need, outcome);
        }
    }

    // What the refused callers tried left no trace: the room holds its members' messages
    // and its members only.
    let (_, members) = call(&owner, &app, Method::GET, "/api/room/members?room_id=club", None).await;
    let members = members["members"].as_array().unwrap();
    let mut member_ids: Vec<&str> =
        members.iter().filter(|m| m["bot"] == false).map(|m| m["user_id"].as_str().unwrap()).collect();
    let hook_bot = hook["webhook"]["bot_user_id"].as_str().unwrap();
    let allowed = [owner_id.as_str(), member_body["user"]["user_id"].as_str().unwrap(), hook_bot];
    let mut expected_members = vec![allowed[0], allowed[1], gone_body["user"]["user_id"].as_str().unwrap()];
    member_ids.sort_unstable();
    expected_members.sort_unstable();
    assert_eq!(member_ids, expected_members, "the owner, the member and the one who logged out");
    let bots = members.iter().filter(|m| m["bot"] == true).count();
    assert_eq!(bots, 2, "the webhook made before the rows and the owner's one in them: {members:?}");
    let (_, history) = call(&owner, &app, Method::GET, "/api/message/list?room_id=club&limit=500", None).await;
    let authors: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["user_id"].as_str().unwrap()).collect();
    // Four ways to send for the owner, the member and the member's token, whose socket
    // send repeats the member's client id and so stores nothing new; one hook post.
    assert_eq!(authors.len(), 3 * 4 - 1 + 1, "{history}");
    assert!(authors.iter().all(|author| allowed.contains(author)), "{history}");
    // Logging out is each caller's last act (the member's token serves two rows), over
    // JSON, by ending all their sessions, or over gRPC, by turns.
    for (serial, caller) in rows.iter().filter(|caller| caller.who != "member, missing room").enumerate() {
        if serial % 3 == 0 {
            let outcome = http_cell(&app, caller, Method::POST, "/api/logout", Some(json!({}))).await;
            check(caller, "POST /api/logout", Need::Token, outcome);
        } else if serial % 3 == 2 {
            let everywhere = Some(json!({"everywhere": true}));
            let outcome = http_cell(&app, caller, Method::POST, "/api/sessions/revoke", everywhere).await;
            check(caller, "POST /api/sessions/revoke", Need::Session, outcome);
        } else {
            let logout = auth::Token { access_token: caller.token.clone().unwrap_or_default() };
            check(caller, "Logout", Need::Token, from_grpc(gateway.logout(authed(logout, caller)).await));
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} of {cells} cells answered unexpectedly:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    // Ten rows of 42 JSON, form and gRPC cells; the WebSocket's 4 cells for the six
    // signed-in rows and its refused upgrade for the other four; nine logouts. A cell
    // that joins the lists changes this count.
    assert_eq!(cells, 10 * 42 + 6 * 4 + 4 + 9);
    tokio::time::timeout(Duration::from_secs(30), app.stop()).await.expect("the app stops");
}

in_both_topologies!(every_route_frame_and_method_answers_each_caller_as_its_requirement_allows);
