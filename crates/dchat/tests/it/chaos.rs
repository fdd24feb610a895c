//! The replicated shape as processes of the built binary, under faults: two gateways, three
//! message replicas, two auth and two room replicas and a presence service, on one
//! PostgreSQL database with a nats-server of the test's own between them. Senders append
//! through both gateways with keys, retrying every failure (on the other gateway) until it
//! is acknowledged; WebSocket subscribers on both gateways resume from the last offset
//! they saw whenever their connection ends. Meanwhile message replicas are killed
//! (SIGKILL, back after 1-3 s) five times and paused (SIGSTOP) for 6 s twice, a gateway is
//! killed once and nats-server restarted once. The history checker then finds nothing
//! lost, duplicated or unexpected, offsets 1..n in every room, and every subscriber saw
//! every offset once and in order.
//!
//! Runs when `DCHAT_TEST_DATABASE_URL` and `DCHAT_TEST_NATS_URL` are set (CI sets both; the
//! test starts its own nats-server, which it restarts). `DCHAT_CHAOS_LONG=1` runs the
//! longer version: the same faults three times over, with more senders.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::{
    history::History,
    processes::{NatsProcess, RoleProcess, gateway_args},
    support::{nats_url, postgres_configured},
};

const ROOMS: usize = 4;

/// Every replica of the deployment.
struct Deployment {
    nats: NatsProcess,
    messages: Vec<RoleProcess>,
    gateways: Vec<RoleProcess>,
    _others: Vec<RoleProcess>,
}

impl Deployment {
    async fn start(dir: &std::path::Path, database_url: &str, nats: NatsProcess) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let common = [
            "--database-url".to_owned(),
            database_url.to_owned(),
            "--nats-url".to_owned(),
            nats.url(),
            "--nats-prefix".to_owned(),
            format!("chaos-{nanos}"),
        ];
        let list = |replicas: &[RoleProcess]| replicas.iter().map(|r| r.addr.to_string()).collect::<Vec<_>>().join(",");
        let mut others = Vec::new();
        let mut rooms = Vec::new();
        for n in 0..2 {
            rooms.push(RoleProcess::start_named(&format!("room-{n}"), "room", dir, &common).await);
        }
        let with_rooms = [&common[..], &["--room-addr".to_owned(), list(&rooms)]].concat();
        let mut auths = Vec::new();
        for n in 0..2 {
            auths.push(RoleProcess::start_named(&format!("auth-{n}"), "auth", dir, &with_rooms).await);
        }
        let mut messages = Vec::new();
        for n in 0..3 {
            messages.push(RoleProcess::start_named(&format!("message-{n}"), "message", dir, &with_rooms).await);
        }
        let presence = RoleProcess::start("presence", dir, &common).await;
        let gateway_args =
            [&common[..], &gateway_args(&list(&rooms), &list(&auths), &list(&messages), &presence.addr.to_string())]
                .concat();
        let mut gateways = Vec::new();
        for n in 0..2 {
            gateways.push(RoleProcess::start_named(&format!("gateway-{n}"), "gateway", dir, &gateway_args).await);
        }
        others.extend(rooms);
        others.extend(auths);
        others.push(presence);
        Self { nats, messages, gateways, _others: others }
    }

    fn base(&self, gateway: usize) -> String {
        format!("http://{}", self.gateways[gateway % 2].addr)
    }
}

/// A JSON POST with a bearer token; `None` when no answer came within 2 s or the status is
/// not 200.
async fn post(client: &reqwest::Client, base: &str, token: Option<&str>, path: &str, body: &Value) -> Option<Value> {
    let mut request = client.post(format!("{base}{path}")).json(body).timeout(Duration::from_secs(2));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json().await.ok()
}

/// Posts until one gateway or the other answers 200 (setup before the faults).
async fn post_until_ok(
    client: &reqwest::Client,
    bases: &[String; 2],
    token: Option<&str>,
    path: &str,
    body: Value,
) -> Value {
    for attempt in 0..200 {
        if let Some(answer) = post(client, &bases[attempt % 2], token, path, &body).await {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never succeeded");
}

/// One sender: appends to the rooms in turn until `stop`, each message retried with its
/// key (on the other gateway each time) until it is acknowledged.
async fn send_until(
    sender: usize,
    token: String,
    rooms: Vec<String>,
    bases: [String; 2],
    history: Arc<Mutex<History>>,
    stop: Arc<AtomicBool>,
) -> usize {
    let client = reqwest::Client::new();
    let mut acked = 0;
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let room = &rooms[n % rooms.len()];
        let key = format!("s{sender}-{n}");
        let body = json!({"room_id": room, "text": format!("{key} says hello"), "client_id": key});
        for attempt in 0.. {
            let base = &bases[(sender + attempt) % 2];
            match post(&client, base, Some(&token), "/api/message/append", &body).await {
                Some(answer) => {
                    let offset = answer["offset"].as_i64().expect("an offset");
                    history.lock().unwrap().sent(room, &key, Some(offset));
                    acked += 1;
                    break;
                }
                None => {
                    history.lock().unwrap().sent(room, &key, None);
                    assert!(attempt < 600, "sender {sender} could not get {key} acknowledged");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    acked
}

/// One WebSocket subscriber on gateway `home` (the other while that one is down): every
/// room from the offset after the last it saw, again after every disconnection, until it
/// has seen `until` in every room.
async fn subscribe_until(
    subscriber: usize,
    token: String,
    rooms: Vec<String>,
    bases: [String; 2],
    history: Arc<Mutex<History>>,
    until: tokio::sync::watch::Receiver<Option<HashMap<String, i64>>>,
) -> usize {
    let mut last: HashMap<String, i64> = rooms.iter().map(|room| (room.clone(), 0)).collect();
    let mut reconnections = 0;
    for attempt in 0.. {
        let done = |last: &HashMap<String, i64>| {
            until.borrow().as_ref().is_some_and(|heads| heads.iter().all(|(room, head)| last[room] >= *head))
        };
        if done(&last) {
            return reconnections;
        }
        let base = &bases[(subscriber + attempt) % 2];
        let mut request = format!("{}/api/ws", base.replacen("http://", "ws://", 1)).into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        let Ok(Ok((mut socket, _))) =
            tokio::time::timeout(Duration::from_secs(2), tokio_tungstenite::connect_async(request)).await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        reconnections += 1;
        for room in &rooms {
            let frame = json!({"type": "subscribe", "room_id": room, "after": last[room]});
            if socket.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
        }
        // Reads until the connection ends (or everything is seen); a refused subscription
        // (a dependency was down) is asked again.
        loop {
            if done(&last) {
                return reconnections;
            }
            let frame = match tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(&text).expect("a JSON frame"),
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
                Ok(Some(Ok(_))) => continue,
            };
            match frame["type"].as_str() {
                Some("message") => {
                    let room = frame["room_id"].as_str().unwrap().to_owned();
                    let offset = frame["offset"].as_i64().unwrap();
                    history.lock().unwrap().delivered(subscriber, &room, offset);
                    last.insert(room, offset);
                }
                Some("error") => {
                    let Some(room) = frame["room_id"].as_str().map(str::to_owned) else { continue };
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let again = json!({"type": "subscribe", "room_id": room, "after": last[&room]});
                    if socket.send(Message::text(again.to_string())).await.is_err() {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    reconnections
}

/// The faults, one after another; `rounds` times over.
async fn inflict(deployment: &mut Deployment, rounds: usize) -> (usize, usize) {
    let (mut kills, mut pauses) = (0, 0);
    let rest = || tokio::time::sleep(Duration::from_millis(800));
    for _ in 0..rounds {
        for (victim, down_ms) in [(0, 1500), (2, 2500), (1, 1000)] {
            deployment.messages[victim].kill().await;
            kills += 1;
            tokio::time::sleep(Duration::from_millis(down_ms)).await;
            deployment.messages[victim].restart().await;
            rest().await;
        }
        deployment.messages[1].pause(true);
        tokio::time::sleep(Duration::from_secs(6)).await;
        deployment.messages[1].pause(false);
        pauses += 1;
        rest().await;
        deployment.gateways[1].kill().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        deployment.gateways[1].restart().await;
        rest().await;
        deployment.nats.kill();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(deployment.nats.restart().await);
        rest().await;
        for (victim, down_ms) in [(2, 3000), (0, 1200)] {
            deployment.messages[victim].kill().await;
            kills += 1;
            tokio::time::sleep(Duration::from_millis(down_ms)).await;
            deployment.messages[victim].restart().await;
            rest().await;
        }
        deployment.messages[2].pause(true);
        tokio::time::sleep(Duration::from_secs(6)).await;
        deployment.messages[2].pause(false);
        pauses += 1;
        rest().await;
    }
    (kills, pauses)
}

/// Every stored message of `room`, read page by page through either gateway.
async fn stored(client: &reqwest::Client, bases: &[String; 2], token: &str, room: &str) -> Vec<(i64, Option<String>)> {
    let mut messages = Vec::new();
    'pages: loop {
        let from = messages.len() + 1;
        for attempt in 0..100 {
            let url = format!("{}/api/message/list?room_id={room}&from_offset={from}&limit=500", bases[attempt % 2]);
            let Ok(response) = client.get(url).bearer_auth(token).send().await else { continue };
            let Ok(page) = response.json::<Value>().await else { continue };
            let Some(page) = page["messages"].as_array() else { continue };
            if page.is_empty() {
                break 'pages;
            }
            for message in page {
                let offset = message["offset"].as_i64().unwrap();
                messages.push((offset, message["client_id"].as_str().map(str::to_owned)));
            }
            continue 'pages;
        }
        panic!("the history of {room} could not be read");
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replicated_shape_loses_nothing_under_kills_pauses_and_a_nats_restart() {
    let test = "the_replicated_shape_loses_nothing_under_kills_pauses_and_a_nats_restart";
    if !postgres_configured(test) || nats_url(test).is_none() {
        return;
    }
    let Some(nats) = NatsProcess::start().await else {
        panic!("DCHAT_TEST_NATS_URL is set but no nats-server binary is installed to start one of the test's own");
    };
    let long = std::env::var_os("DCHAT_CHAOS_LONG").is_some();
    let (senders, rounds) = if long { (8, 3) } else { (4, 1) };
    let database = dchat_storage::testing::TestDatabase::create("chaos").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut deployment = Deployment::start(dir.path(), &database.url, nats).await;
    let bases = [deployment.base(0), deployment.base(1)];
    let client = reqwest::Client::new();

    let mut tokens = Vec::new();
    for n in 0..senders {
        let body = json!({"email": format!("chaos{n}@example.com"), "password": "correct horse battery"});
        let registered = post_until_ok(&client, &bases, None, "/api/register", body).await;
        tokens.push(registered["token"].as_str().unwrap().to_owned());
    }
    let rooms: Vec<String> = (0..ROOMS).map(|n| format!("chaos-{n}")).collect();
    for room in &rooms {
        post_until_ok(&client, &bases, Some(&tokens[0]), "/api/room/create", json!({"room_id": room, "name": room}))
            .await;
        for token in &tokens[1..] {
            post_until_ok(&client, &bases, Some(token), "/api/room/join", json!({"room_id": room})).await;
        }
    }

    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (heads, until) = tokio::sync::watch::channel(None);
    let subscribers: Vec<_> = (0..2)
        .map(|n| {
            let (token, rooms, bases, history, until) =
                (tokens[n].clone(), rooms.clone(), bases.clone(), history.clone(), until.clone());
            tokio::spawn(subscribe_until(n, token, rooms, bases, history, until))
        })
        .collect();
    let sending: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| {
            let (token, rooms, bases, history, stop) =
                (token.clone(), rooms.clone(), bases.clone(), history.clone(), stop.clone());
            tokio::spawn(send_until(n, token, rooms, bases, history, stop))
        })
        .collect();

    let (kills, pauses) = inflict(&mut deployment, rounds).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = 0;
    for sender in sending {
        acked += sender.await.expect("a sender");
    }

    // What the server holds, then every subscriber must reach every room's head.
    let mut final_heads = HashMap::new();
    for room in &rooms {
        let messages = stored(&client, &bases, &tokens[0], room).await;
        final_heads.insert(room.clone(), messages.len() as i64);
        let mut history = history.lock().unwrap();
        for (offset, key) in messages {
            history.stored(room, offset, key.as_deref());
        }
    }
    heads.send_replace(Some(final_heads));
    let mut reconnections = Vec::new();
    for subscriber in subscribers {
        let finished = tokio::time::timeout(Duration::from_secs(60), subscriber).await;
        reconnections.push(finished.expect("every subscriber reaches every head within 60 s").expect("a subscriber"));
    }

    let history = history.lock().unwrap();
    let report = history.check();
    if !report.is_clean() {
        let path = std::env::temp_dir().join(format!("dchat-chaos-{}.jsonl", std::process::id()));
        std::fs::write(&path, history.to_jsonl()).unwrap();
        panic!("anomalies: {report:?}; history in {}", path.display());
    }
    assert!(kills >= 5 && pauses >= 2, "the faults happened");
    assert!(acked >= 200, "only {acked} messages were acknowledged");
    tracing::info!(acked, kills, pauses, ?reconnections, recovered = report.recovered, "chaos run clean");
}
