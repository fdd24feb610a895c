//! Incoming webhooks: the room's creator makes a URL whose POSTs appear in the room, live,
//! as a named bot's messages; nobody else manages them, the secret opens nothing else, a
//! deleted one stops working, and each has its own rate limit.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    http::{get, post, register},
    support::{Topology, in_both_topologies, spawn, spawn_with, test_config},
    wsclient::WsClient,
};

async fn hook_post(app: &crate::support::TestApp, url: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new().post(format!("{}{url}", app.http)).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_webhook_posts_into_its_room_live_as_its_bot(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let (owner, owner_body) = register(&app, "owner").await;
    let (member, _) = register(&app, "member").await;
    let (stranger, _) = register(&app, "stranger").await;
    post(&owner, &app, "/api/room/create", json!({"room_id": "ops", "name": "Ops"})).await;
    post(&member, &app, "/api/room/join", json!({"room_id": "ops"})).await;

    // Only the room's creator makes, lists and deletes webhooks; to anyone outside the
    // room, the room might as well not exist.
    let make = json!({"room_id": "ops", "name": "CI Alerts"});
    assert_eq!(post(&member, &app, "/api/room/webhooks", make.clone()).await.0, StatusCode::FORBIDDEN);
    let (status, outside) = post(&stranger, &app, "/api/room/webhooks", make.clone()).await;
    let (_, missing) = post(&stranger, &app, "/api/room/webhooks", json!({"room_id": "nope", "name": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(outside["error"]["message"].as_str().unwrap().replace("ops", "nope"), missing["error"]["message"]);
    let (status, made) = post(&owner, &app, "/api/room/webhooks", make).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let url = made["url"].as_str().unwrap().to_owned();
    let secret = made["token"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/api/hooks/{secret}"));
    assert_eq!(
        (made["webhook"]["name"].as_str(), made["webhook"]["username"].as_str()),
        (Some("CI Alerts"), Some("ci.alerts-bot"))
    );
    let (_, listed) = get(&owner, &app, "/api/room/webhooks?room_id=ops").await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret), "the secret is shown once: {listed}");
    assert_eq!(get(&member, &app, "/api/room/webhooks?room_id=ops").await.0, StatusCode::FORBIDDEN);

    // A post shows in the room live, as the bot, with its badge.
    let token = owner_body["token"].as_str().unwrap();
    let mut ws = WsClient::connect(&app, token).await;
    ws.subscribe("ops", None).await;
    let (status, posted) = hook_post(&app, &url, json!({"text": "build 42 passed", "client_id": "b42"})).await;
    assert_eq!(status, StatusCode::OK, "{posted}");
    let live = ws.next_of("message").await;
    assert_eq!(
        (live["text"].as_str(), live["display_name"].as_str(), live["username"].as_str(), live["bot"].as_bool()),
        (Some("build 42 passed"), Some("CI Alerts"), Some("ci.alerts-bot"), Some(true))
    );
    assert_eq!(live["offset"], posted["offset"]);
    let (_, again) = hook_post(&app, &url, json!({"text": "build 42 passed", "client_id": "b42"})).await;
    assert_eq!((again["offset"].clone(), again["duplicate"].as_bool()), (posted["offset"].clone(), Some(true)));
    let (_, members) = get(&member, &app, "/api/room/members?room_id=ops").await;
    let bot = members["members"].as_array().unwrap().iter().find(|m| m["bot"] == true).cloned();
    assert_eq!(bot.map(|m| m["username"].clone()), Some(json!("ci.alerts-bot")));

    // Bad input is a 4xx; the secret opens nothing but its own route.
    assert_eq!(hook_post(&app, &url, json!({"text": ""})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(hook_post(&app, &url, json!({"message": "x"})).await.0, StatusCode::BAD_REQUEST);
    let as_bearer =
        reqwest::Client::new().get(format!("{}/api/me", app.http)).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(as_bearer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(hook_post(&app, "/api/hooks/0123", json!({"text": "x"})).await.0, StatusCode::UNAUTHORIZED);

    // Deleted: the URL stops working, the bot leaves, its messages stay.
    let webhook_id = made["webhook"]["webhook_id"].as_str().unwrap();
    let delete = json!({"room_id": "ops", "webhook_id": webhook_id});
    assert_eq!(post(&member, &app, "/api/room/webhooks/delete", delete.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(post(&owner, &app, "/api/room/webhooks/delete", delete.clone()).await.0, StatusCode::OK);
    assert_eq!(post(&owner, &app, "/api/room/webhooks/delete", delete).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hook_post(&app, &url, json!({"text": "too late"})).await.0, StatusCode::UNAUTHORIZED);
    let (_, members) = get(&member, &app, "/api/room/members?room_id=ops").await;
    assert!(members["members"].as_array().unwrap().iter().all(|m| m["bot"] == false), "{members}");
    let (_, history) = get(&member, &app, "/api/message/list?room_id=ops").await;
    assert_eq!(history["messages"][0]["username"], "ci.alerts-bot");
    app.stop().await;
}

in_both_topologies!(a_webhook_posts_into_its_room_live_as_its_bot);

async fn each_webhook_has_its_own_rate_limit(topology: Topology) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.gateway.rate_limit = true;
    let app = spawn_with(topology, config).await;
    let (owner, _) = register(&app, "owner").await;
    post(&owner, &app, "/api/room/create", json!({"room_id": "ops", "name": "Ops"})).await;
    let (_, first) = post(&owner, &app, "/api/room/webhooks", json!({"room_id": "ops", "name": "Noisy"})).await;
    let (_, second) = post(&owner, &app, "/api/room/webhooks", json!({"room_id": "ops", "name": "Quiet"})).await;
    let (noisy, quiet) = (first["url"].as_str().unwrap(), second["url"].as_str().unwrap());
    let mut statuses = Vec::new();
    for n in 0..12 {
        statuses.push(hook_post(&app, noisy, json!({"text": format!("spam {n}")})).await.0);
    }
    assert!(statuses[..10].iter().all(|status| *status == StatusCode::OK), "the burst: {statuses:?}");
    assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert_eq!(hook_post(&app, quiet, json!({"text": "hello"})).await.0, StatusCode::OK, "another hook is not held");
    let (status, _) = post(&owner, &app, "/api/message/append", json!({"room_id": "ops", "text": "me too"})).await;
    assert_eq!(status, StatusCode::OK, "nor is the room's creator");
    app.stop().await;
}

in_both_topologies!(each_webhook_has_its_own_rate_limit);
